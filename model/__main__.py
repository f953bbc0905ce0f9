"""``python -m model train …``: QAT-train a network of the family and write its bundle."""

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return _train(args)
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


if __name__ == "__main__":
    raise SystemExit(run_cli(main, prog="model"))
