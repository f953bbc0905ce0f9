"""``python -m model train|import|export …``: train a network of the family and write its
bundle; import a QONNX model into a bundle; export a bundle to ONNX (docs/interchange.md)."""

from __future__ import annotations

import argparse

from common.cli import UserError, command_parser, run_cli


def build_parser() -> argparse.ArgumentParser:
    from intnet.arch import ARCHS
    from model.data import DATASETS
    from model.defaults import DEFAULT_EPOCHS, DEFAULT_FLOAT_EPOCHS, per_arch

    parser, sub = command_parser("model", "Datasets and quantized networks of QS-NAS.")
    t = sub.add_parser(
        "train", help="QAT-train a network and write its IntegerNetwork bundle",
        description="Train (or reuse a cached identical run of) a quantized network at "
        "bit width Q and width scale S, write its IntegerNetwork bundle to --out, and print "
        "the float, fake-quant and integer (golden) test accuracy. Runs are cached in "
        "$QSNAS_CACHE (default ~/.cache/qsnas/runs).")
    t.add_argument("--arch", default="vgg", choices=ARCHS, help="network family (default vgg)")
    t.add_argument("--q", type=int, required=True,
                   help="bit width of weights and hidden activations, 1..8 bits (required)")
    t.add_argument("--s", type=float, required=True,
                   help="width scale: every hidden layer's channels × S, e.g. 1 or 1.5 (required)")
    t.add_argument("--dataset", default="mnist5k", choices=DATASETS,
                   help="data set (default mnist5k; cifar10/svhn need --data-dir)")
    t.add_argument("--data-dir", default=None,
                   help="folder with the cifar10 or svhn files (default: none)")
    t.add_argument("--epochs", type=int, default=None,
                   help=f"QAT fine-tune epochs (default {per_arch(DEFAULT_EPOCHS)})")
    t.add_argument("--float-epochs", type=int, default=None,
                   help=f"float pre-train epochs (default {per_arch(DEFAULT_FLOAT_EPOCHS)})")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    t.add_argument("--no-cache", action="store_true", help="train even if a cached run exists")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--out", required=True, help="bundle directory to write (required)")
    t.add_argument("--force", action="store_true", help="replace an existing --out directory")
    _add_interchange_commands(sub)
    return parser


def _add_interchange_commands(sub) -> None:
    from model.data import DATASETS

    i = sub.add_parser(
        "import", help="read a QONNX model (Brevitas export_qonnx) into a bundle",
        description="Read a QONNX model as brevitas.export.export_qonnx writes it (input "
        "x/255, channels first; weights in MODEL.onnx.data beside it if there) and write its "
        "IntegerNetwork bundle with the model's own per-layer bit widths. A node the "
        "accelerator cannot run is named in one line and nothing is written. With --dataset, "
        "print the bundle's integer (golden) accuracy on its test split.")
    i.add_argument("model", metavar="MODEL.onnx", help="the QONNX file")
    i.add_argument("--out", required=True, help="bundle directory to write (required)")
    i.add_argument("--dataset", default=None, choices=DATASETS,
                   help="data set the model was trained on (default: none, recorded as "
                   "'custom'; its input shape must match)")
    i.add_argument("--data-dir", default=None,
                   help="folder with the cifar10 or svhn files (default: none; mnist5k "
                   "and digits ship with their packages)")
    i.add_argument("--force", action="store_true", help="replace an existing --out directory")
    e = sub.add_parser(
        "export", help="write a bundle as an ONNX graph (exact integer, or QONNX)",
        description="Write the bundle as ONNX. --flavor plain (default): integer operators "
        "only; any ONNX runtime executes it to exactly the golden model's logits (input uint8 "
        "pixels [N, H, W, C], output int64 logits). --flavor qonnx: a QONNX graph with Quant "
        "nodes for qonnx/FINN/hls4ml (input x/255 float32 [1, C, H, W], float32 logits; "
        "rounds half to even, so not bit-exact).")
    e.add_argument("--bundle", required=True, help="bundle directory (required)")
    e.add_argument("--onnx", required=True, metavar="FILE", help="ONNX file to write (required)")
    e.add_argument("--flavor", default="plain", choices=("plain", "qonnx"),
                   help="plain (default, exact integer ops) or qonnx (Quant nodes)")
    e.add_argument("--force", action="store_true", help="replace an existing FILE")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return _train(args)
    if args.command == "import":
        return _import(args)
    if args.command == "export":
        return _export(args)
    raise UserError(f"unknown command {args.command!r}")


def _train(args) -> int:
    from common.cli import check_q, check_s
    from common.files import check_output
    from model.data import check_data_files

    check_q(args.q)
    check_s(args.s)
    for name in ("epochs", "float_epochs"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise UserError(f"--{name.replace('_', '-')} must be a non-negative integer, "
                            f"not {value}")
    out = check_output(args.out, args.force)
    check_data_files(args.dataset, args.data_dir)
    from intnet.bundle import save_bundle
    from model.train import train_and_export  # imports torch: after the cheap checks

    net, m = train_and_export(args.arch, args.q, args.s, args.dataset, args.epochs, args.seed,
                              None, data_dir=args.data_dir, float_epochs=args.float_epochs,
                              progress=not args.quiet, use_cache=not args.no_cache)
    try:
        save_bundle(net, out)
    except OSError as e:
        raise UserError(f"cannot write to {out}: {e.strerror}") from None
    n = m["test_images"]
    src = "cached run " if m["cached"] else ""
    print(f"{args.arch} q={args.q} s={args.s} on {args.dataset} ({src}{m['cache_dir']})")
    print(f"float accuracy       {100 * m['float_acc']:6.2f}%")
    print(f"fake-quant accuracy  {100 * m['fake_quant_acc']:6.2f}%")
    print(f"integer accuracy     {100 * m['integer_acc']:6.2f}%  (golden model, {n} test images)")
    print(f"class agreement      {100 * m['agreement']:6.2f}%  (fake-quant vs integer)")
    print(f"bundle written to {out}")
    return 0


def _import(args) -> int:
    from common.files import check_output
    from intnet.bundle import save_bundle
    from model.data import check_data_files, dataset_shape
    from model.interchange.importer import import_qonnx

    out = check_output(args.out, args.force)
    if args.dataset:
        check_data_files(args.dataset, args.data_dir)
    net = import_qonnx(args.model, args.dataset or "custom")
    if args.dataset and tuple(net.input_shape) != dataset_shape(args.dataset)[0]:
        raise UserError(f"{args.model}: input {list(net.input_shape)} (H, W, C), but "
                        f"{args.dataset} images are {list(dataset_shape(args.dataset)[0])}")
    print(f"{args.model}: {len(net.layers)} layers from {net.meta['producer']}")
    for layer in net.layers:
        widths = f"w{layer.w_bits} a{layer.in_bits}→{layer.out_bits}" if layer.w_bits else \
            (f"→{layer.out_bits}" if layer.out_bits else "")
        print(f"  {layer.name:<16} {layer.kind:<8} {str(list(layer.in_shape)):<14} → "
              f"{str(list(layer.out_shape)):<14} {widths}")
    if args.dataset:
        from intnet import golden
        from model.data import load_dataset

        data = load_dataset(args.dataset, args.data_dir)
        acc = golden.accuracy(net, data.test_x, data.test_y)
        net.meta["metrics"] = {"integer_acc": acc, "test_images": len(data.test_x)}
        print(f"integer accuracy {100 * acc:6.2f}%  (golden model, {len(data.test_x)} "
              f"{args.dataset} test images)")
    try:
        save_bundle(net, out)
    except OSError as e:
        raise UserError(f"cannot write to {out}: {e.strerror}") from None
    print(f"bundle written to {out}")
    return 0


def _export(args) -> int:
    from common.files import check_output
    from intnet.bundle import load_bundle
    from model.interchange.onnx_export import write_model
    from model.interchange.qonnx_graph import require_interchange

    out = check_output(args.onnx, args.force, directory=False)
    net = load_bundle(args.bundle)
    require_interchange()
    if args.flavor == "plain":
        from model.interchange.onnx_export import to_onnx as convert
    else:
        from model.interchange.qonnx_export import to_qonnx as convert
    try:
        write_model(convert(net), out)
    except OSError as e:
        raise UserError(f"cannot write to {out}: {e.strerror}") from None
    print(f"{args.flavor} ONNX written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, prog="model"))
