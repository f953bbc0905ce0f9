"""Brevitas side by side with our quantizer: same network, data, schedule, seed, threads.

    python -m bench.brevitas_compare [--arch vgg] [--s 1] [--q 2,4,8] [--dataset mnist5k]
                                     [--epochs E] [--float-epochs F] [--threads 1]

For each ``q`` both quantizers fine-tune **the same float-pretrained network** (our cached
float pre-train of ⟨arch, s, dataset, seed⟩, which both would otherwise repeat
identically) with the same QAT recipe: `model.train.fit` itself (SGD Nesterov 0.9,
linear warm-up + cosine, our per-architecture QAT learning rate, weight decay on
conv/dense weights only, batch 64, the same random shifts and the same batch order from
seed + 1), calibrated on the same first 512 training images. So the only difference is
the quantizer.

The Brevitas network (`BrevitasNet`) mirrors `model.nets.QNet` layer by layer:
``QuantConv2d`` (no bias, weights ``Int8WeightPerChannelFloatMSE`` at ``q`` bits: signed,
narrow range, one learned scale per output channel initialised by an MSE search) →
``BatchNorm2d`` → ``QuantReLU`` (``Uint8ActPerTensorFloatMSE`` at ``q`` bits: unsigned
``[0, 2^q−1]``, one learned scale per layer initialised by MSE); ``MaxPool2d(2)``; the
global average pool followed by a ``QuantIdentity`` with the same unsigned quantizer;
the logit layer a ``QuantLinear`` with ``Int8WeightPerTensorFloatMSE`` weights (one scale
for the tensor, as ours) and a float bias, on the H-W-C flattened input. The input is
``x/255`` of uint8 pixels, already exactly an 8-bit unsigned tensor, so neither network
quantizes it again (the first layer sees all 8 input bits in both).

Differences that remain (they are the quantizers' own): Brevitas rounds half to even,
ours half up; its scale gradient is the plain straight-through one, ours is LSQ's scaled
one (``1/√(N·Qp)``); Brevitas's activation scales are initialised from averaged per-batch
MSE statistics, ours from one MSE search over the 512 images; Brevitas keeps batch norm
unfolded (its accuracy is that of the fake-quant training graph, comparable with our
``qat_acc``), while our headline number is the integer (golden) model after BN folding.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Brevitas's QAT learning rate, epochs and batch order are ours (`model.train`).
CALIBRATION_BATCH = 64  # images per Brevitas calibration forward pass


# Brevitas quantizer classes per variant: (conv weights, logit-layer weights, activations).
#  "mse":   learned scales initialised by an MSE search, the closest to ours (LSQ steps
#           initialised by MSE clipping); the headline comparison.
#  "stock": Brevitas's default 8-bit quantizers at q bits: weight scales are the running
#           max |w| (statistics, not learned), activation scales learned from a percentile.
VARIANTS = {
    "mse": ("Int8WeightPerChannelFloatMSE", "Int8WeightPerTensorFloatMSE",
            "Uint8ActPerTensorFloatMSE"),
    "stock": ("Int8WeightPerChannelFloat", "Int8WeightPerTensorFloat",
              "Uint8ActPerTensorFloat"),
}


def _brevitas(variant: str = "mse"):
    """``(brevitas.nn, conv weight quant, logit weight quant, act quant)`` of ``variant``.

    Brevitas is an optional `[bench]` dependency: a one-line error if it is absent.
    """
    import warnings

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    # Brevitas warns on import about an optional CUDA kernel package (irrelevant on CPU).
    warnings.filterwarnings("ignore", message="fast_hadamard_transform package not found")
    try:
        import brevitas.nn as qnn
        import brevitas.quant as bq
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError("brevitas is not installed: pip install -e '.[bench]'") from e
    return (qnn, *(getattr(bq, name) for name in VARIANTS[variant]))


def brevitas_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("brevitas")
    except Exception:  # noqa: BLE001 - not installed
        return None


def build_brevitas_net(arch: str, q: int, s: float, input_shape, num_classes: int,
                       variant: str = "mse"):
    """A `BrevitasNet` with the layers of `intnet.arch.network_specs` at ``(q, s)``, its
    quantizers those of `VARIANTS` ``[variant]``."""
    import torch
    from torch import nn

    from intnet.arch import network_specs
    from model.nets import flatten_hwc

    qnn, WPerChannel, WPerTensor, UAct = _brevitas(variant)

    class BrevitasNet(nn.Module):
        """``QNet``'s topology in brevitas.nn; input pixel values 0..255 [N, C, H, W]."""

        def __init__(self):
            super().__init__()
            self.arch, self.q, self.s = arch, q, float(s)
            self.specs = network_specs(arch, float(s), tuple(input_shape), num_classes)
            layers = []
            for spec in self.specs:
                if spec.kind in ("conv", "dwconv"):
                    cin, cout = spec.in_shape[2], spec.out_shape[2]
                    groups = cin if spec.kind == "dwconv" else 1
                    layers.append(nn.Sequential(
                        qnn.QuantConv2d(cin, cout, spec.k, stride=spec.stride,
                                        padding=spec.k // 2, groups=groups, bias=False,
                                        weight_quant=WPerChannel, weight_bit_width=q),
                        nn.BatchNorm2d(cout),
                        qnn.QuantReLU(act_quant=UAct, bit_width=q)))
                elif spec.kind == "maxpool":
                    layers.append(nn.MaxPool2d(2))
                elif spec.kind == "avgpool":
                    layers.append(nn.Sequential(
                        nn.AdaptiveAvgPool2d(1),
                        qnn.QuantIdentity(act_quant=UAct, bit_width=q)))
                else:
                    layers.append(qnn.QuantLinear(spec.in_shape[0], spec.out_shape[0],
                                                  bias=True, weight_quant=WPerTensor,
                                                  weight_bit_width=q))
            self.layers = nn.ModuleList(layers)

        def set_mode(self, mode: str):
            """Accepts `model.train.fit`'s and `predict`'s mode calls; always fake-quant."""
            return self

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            x = pixels / 255.0  # exactly the 8-bit input grid; no further input quantizer
            for layer, spec in zip(self.layers, self.specs, strict=True):
                if spec.kind == "dense":
                    x = flatten_hwc(x)  # H, W, C order like ours
                x = layer(x)
            return x

    return BrevitasNet()


def load_float_weights(bnet, qnet) -> None:
    """Copy the float weights, biases and BN state of a `model.nets.QNet` into ``bnet``.

    Call it before ``bnet``'s first forward pass: Brevitas initialises each learned weight
    scale (MSE) from the weights it sees on first use and keeps it afterwards.
    """
    import torch

    with torch.no_grad():
        for layer, block, spec in zip(bnet.layers, qnet.blocks, bnet.specs, strict=True):
            if spec.kind in ("conv", "dwconv"):
                layer[0].weight.copy_(block.weight)
                layer[1].load_state_dict(block.bn.state_dict())
            elif spec.kind == "dense":
                layer.weight.copy_(block.weight)
                layer.bias.copy_(block.bias)


def calibrate(bnet, pixels) -> None:
    """Initialise Brevitas's activation scales on ``pixels`` (batches of 64), BN untouched.

    ``calibration_mode`` runs the network in training mode (it would move batch-norm
    running statistics), so they are saved and restored around it.
    """
    import torch
    from brevitas.graph.calibrate import calibration_mode
    from torch import nn

    saved = {name: {k: v.clone() for k, v in m.state_dict().items()}
             for name, m in bnet.named_modules() if isinstance(m, nn.BatchNorm2d)}
    with torch.no_grad(), calibration_mode(bnet):
        for i in range(0, len(pixels), CALIBRATION_BATCH):
            bnet(pixels[i : i + CALIBRATION_BATCH])
    modules = dict(bnet.named_modules())
    for name, state in saved.items():
        modules[name].load_state_dict(state)
    bnet.eval()
    with torch.no_grad():  # materialise the weight scales (initialised on first use)
        bnet(pixels[:2])


def accuracy(model, data) -> float:
    """Test accuracy of ``model`` (evaluation mode) on ``data``'s test split."""
    from model.train import predict, to_nchw

    return float((predict(model, to_nchw(data.test_x), "quant") == data.test_y).mean())


def train_brevitas(cfg, data, float_model, *, variant: str = "mse",
                   progress: bool = False) -> dict:
    """Brevitas QAT of ``cfg`` (a resolved `model.train.TrainConfig`) from ``float_model``.

    Returns ``fake_quant_acc``, ``qat_seconds`` (calibration + fine-tune) and ``losses``.
    """
    import torch

    from model.train import CALIBRATION_IMAGES, default_device, fit, setup_torch, to_nchw

    setup_torch(cfg)  # the same seed and thread count as ours
    device = default_device()
    bnet = build_brevitas_net(cfg.arch, cfg.q, cfg.s, data.input_shape, data.num_classes,
                              variant)
    load_float_weights(bnet, float_model)
    bnet = bnet.to(device)
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    calibrate(bnet, to_nchw(data.train_x[: min(CALIBRATION_IMAGES, len(data.train_x))])
              .to(device))
    losses = fit(bnet, data, cfg, mode="quant", epochs=cfg.epochs, lr=cfg.qat_lr, gen=gen,
                 progress=progress,
                 desc=f"Brevitas ({variant}) QAT {cfg.arch} q={cfg.q} s={cfg.s}")
    seconds = time.perf_counter() - t0
    return {"fake_quant_acc": accuracy(bnet, data), "qat_seconds": round(seconds, 2),
            "losses": [round(v, 5) for v in losses]}


def compare(arch: str = "vgg", s: float = 1.0, qs=(2, 4, 8), dataset: str = "mnist5k",
            epochs: int | None = None, float_epochs: int | None = None, seed: int = 0,
            threads: int = 1, data_dir: str | None = None, progress: bool = False,
            log=None, variants=("mse", "stock")) -> dict:
    """Ours vs Brevitas (each of ``variants``) at every ``q`` of ``qs``: accuracies and
    training seconds. Row keys: ``ours_*``, ``brevitas_*`` (the "mse" variant),
    ``brevitas_stock_*``.

    The float pre-train comes from (or goes into) the training cache; our QAT runs
    live in a scratch cache that holds only that float entry, so both QAT times are
    measured in this call, one after the other, with ``threads`` torch threads.
    """
    import torch

    from common.files import temporary_environ
    from model.data import load_dataset
    from model.train import (
        TrainConfig,
        default_device,
        float_cache_entry,
        pretrain,
        resolve,
        train_and_export,
    )

    os.environ["QSNAS_THREADS"] = str(threads)
    log = log or (lambda msg: print(msg, file=sys.stderr))
    data = load_dataset(dataset, data_dir)
    base = resolve(TrainConfig(arch=arch, q=qs[0], s=float(s), dataset=dataset,
                               data_dir=data_dir, epochs=epochs, float_epochs=float_epochs,
                               seed=seed))
    t0 = time.perf_counter()
    float_model, float_acc, float_seconds, float_cached = pretrain(
        base, data, default_device(), progress=progress, use_cache=True)
    log(f"float pre-train: acc {float_acc:.4f} ({'cached' if float_cached else 'trained'}, "
        f"{float_seconds:.1f} s when trained)")
    float_state = {k: v.clone() for k, v in float_model.state_dict().items()}
    entry = float_cache_entry(base)
    rows = []
    with tempfile.TemporaryDirectory(prefix="qsnas-bench-cache-") as scratch:
        shutil.copytree(entry, Path(scratch) / entry.name)
        for q in qs:
            with temporary_environ(QSNAS_CACHE=scratch):  # our QAT runs live, float entry reused
                _, ours = train_and_export(arch, q, s, dataset, epochs, seed, None,
                                           data_dir=data_dir, float_epochs=float_epochs,
                                           progress=progress, use_cache=True)
            row = {"q": q, "ours_integer_acc": ours["integer_acc"],
                   "ours_fake_quant_acc": ours["fake_quant_acc"],
                   "ours_qat_graph_acc": ours["qat_acc"],
                   "ours_qat_seconds": ours["qat_seconds"],
                   "ours_cached": ours["cached"],
                   "ours_final_loss": ours["losses"][-1] if ours["losses"] else None}
            for variant in variants:
                float_model.load_state_dict(float_state)
                brev = train_brevitas(dataclasses.replace(base, q=q), data, float_model,
                                      variant=variant, progress=progress)
                tag = "brevitas" if variant == "mse" else f"brevitas_{variant}"
                row.update({f"{tag}_fake_quant_acc": brev["fake_quant_acc"],
                            f"{tag}_qat_seconds": brev["qat_seconds"],
                            f"{tag}_final_loss": brev["losses"][-1] if brev["losses"]
                            else None})
            rows.append(row)
            shown = ", ".join(f"{key[:-len('_fake_quant_acc')]} {value:.4f}"
                              for key, value in row.items() if key.endswith("_fake_quant_acc"))
            log(f"q={q}: ours integer {row['ours_integer_acc']:.4f}; fake-quant: {shown}")
    return {"arch": arch, "s": float(s), "dataset": dataset, "seed": seed,
            "epochs": base.epochs, "float_epochs": base.float_epochs, "qat_lr": base.qat_lr,
            "batch_size": base.batch_size, "threads": threads, "variants": list(variants),
            "torch_threads": torch.get_num_threads(),
            "float_acc": float_acc, "float_seconds": float_seconds,
            "float_cached": float_cached, "test_images": int(len(data.test_y)),
            "wall_seconds": round(time.perf_counter() - t0, 1), "rows": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vgg", choices=["vgg", "mobilenet"])
    parser.add_argument("--s", type=float, default=1.0)
    parser.add_argument("--q", default="2,4,8", help="comma-separated bit widths")
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--epochs", type=int, default=None, help="QAT epochs (default: ours)")
    parser.add_argument("--float-epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", default="mse,stock",
                        help=f"Brevitas quantizer sets, of {', '.join(VARIANTS)}")
    args = parser.parse_args(argv)
    qs = tuple(int(v) for v in args.q.split(","))
    out = compare(args.arch, args.s, qs, args.dataset, args.epochs, args.float_epochs,
                  args.seed, args.threads, progress=True,
                  variants=tuple(args.variants.split(",")))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
