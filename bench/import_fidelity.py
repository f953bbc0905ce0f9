"""Import fidelity: Brevitas models (``tests/model/brevitas_nets.py``, trained on digits
with seed 0) exported to QONNX and imported three ways: at the model's own widths,
calibrated on 512 training images (``model import --dataset``), and widened
(``--max-bits 8``). Prints docs/interchange.md's table: Brevitas's accuracy, then golden
accuracy and class agreement on the 400 test images for each way.

    python -m bench.import_fidelity [--out DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from pathlib import Path

# kind, bits, batch norm, learning rate (as tests/model/test_interchange_import.py)
MODELS = [("vgg", 2, False, 0.003), ("vgg", 3, False, 0.003), ("vgg", 4, False, 0.003),
          ("binary", 1, False, 0.003), ("mobile", 4, False, 0.03), ("vgg", 2, True, 0.003),
          ("vgg", 3, True, 0.003), ("vgg", 4, True, 0.003), ("binary", 1, True, 0.003),
          ("mobile", 4, True, 0.03), ("mobile", 3, True, 0.03)]


def measure(out: Path) -> list[str]:
    import torch

    from intnet import golden
    from model.interchange.importer import CALIBRATION_IMAGES, import_qonnx
    from tests.model import brevitas_nets as bn

    torch.set_num_threads(1)
    data = bn.digits()
    calib = data.train_x[:CALIBRATION_IMAGES]
    rows = []
    for kind, bits, batch_norm, lr in MODELS:
        path = out / f"{kind}{bits}{'bn' if batch_norm else ''}.onnx"
        net = bn.train(bn.make_net(kind, bits, batch_norm), data, lr=lr)
        with contextlib.redirect_stdout(io.StringIO()):  # torch.onnx's progress lines
            bn.export(net, path)
        theirs = bn.predict(net, data.test_x)
        cells = [f"{100 * (theirs == data.test_y).mean():.2f} %"]
        for args in ((None, None), (calib, None), (calib, 8)):
            imported = import_qonnx(path, "digits", *args)
            ours = golden.classify(golden.run(imported, data.test_x))
            cells.append(f"{100 * (ours == data.test_y).mean():.2f} %, "
                         f"{100 * (ours == theirs).mean():.2f} %")
        wide = imported.meta["fidelity"]["widened_weights"]
        cells[-1] += " (" + (", ".join(f"{k} {a}→{b}" for k, (a, b) in wide.items())
                             or "none") + ")"
        bias = "batch norm" if batch_norm else "`Int32Bias`"
        rows.append(f"| {kind} | {bits} | {bias} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None,
                        help="folder for the QONNX files (default: a temporary folder)")
    args = parser.parse_args(argv)
    print("| model | bits | bias | Brevitas | own: golden, agree | calibrated: golden, agree "
          "| widened: golden, agree (layers widened) |\n|---|---|---|---|---|---|---|")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        measure(Path(args.out))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            measure(Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
