"""Benchmark (not a test): wall time per training epoch of the default network.

    python bench/train_epoch.py [--arch vgg] [--q 4] [--s 1] [--dataset mnist5k]
                                [--epochs 2] [--threads 1]

Times float pre-train epochs and QAT epochs separately (no cache, nothing written) and
prints one line each plus a JSON summary. ``--threads`` sets torch's CPU threads (the
training default is ``$QSNAS_THREADS`` or 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vgg")
    parser.add_argument("--q", type=int, default=4)
    parser.add_argument("--s", type=float, default=1.0)
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed per stage")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads is not None:
        os.environ["QSNAS_THREADS"] = str(args.threads)

    import torch

    from model.data import load_dataset
    from model.nets import QNet
    from model.train import (
        CALIBRATION_IMAGES,
        TrainConfig,
        default_device,
        fit,
        resolve,
        setup_torch,
        to_nchw,
    )

    data = load_dataset(args.dataset, args.data_dir)
    cfg = resolve(TrainConfig(arch=args.arch, q=args.q, s=args.s, dataset=args.dataset))
    setup_torch(cfg)
    device = default_device()
    model = QNet(cfg.arch, cfg.q, cfg.s, data.input_shape, data.num_classes).to(device)
    gen = torch.Generator().manual_seed(0)
    result = {"arch": cfg.arch, "q": cfg.q, "s": cfg.s, "dataset": cfg.dataset,
              "train_images": int(len(data.train_x)), "batch_size": cfg.batch_size,
              "threads": torch.get_num_threads(), "device": str(device)}
    for stage, mode, lr in (("float", "float", cfg.lr), ("qat", "quant", cfg.qat_lr)):
        if mode == "quant":
            model.calibrate(to_nchw(data.train_x[:CALIBRATION_IMAGES]).to(device))
        t0 = time.perf_counter()
        fit(model, data, cfg, mode=mode, epochs=args.epochs, lr=lr, gen=gen, progress=True,
            desc=f"{stage} epochs")
        per_epoch = (time.perf_counter() - t0) / args.epochs
        result[f"{stage}_seconds_per_epoch"] = round(per_epoch, 3)
        print(f"{stage:5s} epoch: {per_epoch:7.2f} s  ({cfg.arch} q={cfg.q} s={cfg.s}, "
              f"{len(data.train_x)} images, {torch.get_num_threads()} thread(s), {device})")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
