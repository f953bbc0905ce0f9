"""``python -m codegen build``: train, pick (P, M), generate, verify and report an FPGA build."""

from __future__ import annotations

import argparse
from pathlib import Path

from common.cli import command_parser, run_cli


def build_parser() -> argparse.ArgumentParser:
    from boards import DEFAULT_BOARD, board_names
    from intnet.arch import ARCHS
    from model.data import DATASETS
    from model.defaults import DEFAULT_EPOCHS, per_arch

    parser, sub = command_parser("python -m codegen", __doc__)
    b = sub.add_parser(
        "build", help="emit a complete, verified FPGA build directory for one (q, s)",
        description="Train (or reuse) the network at bit width Q and width scale S, pick the "
        "most energy-efficient (P, M) that fits the board unless --pe/--mult are given, and "
        "write bundle/, rtl/, mem/, vivado/, hls/, report.json and report.md. The RTL is "
        "simulated in Verilator on --images test images and must match the golden model on "
        "every logit.")
    b.add_argument("--q", type=int, required=True,
                   help="bit width of weights and hidden activations, 1..8 bits (required)")
    b.add_argument("--s", type=float, required=True,
                   help="width scale: every hidden layer's channels × S, e.g. 1.5 (required)")
    b.add_argument("--arch", default="vgg", choices=ARCHS, help="network family (default vgg)")
    b.add_argument("--dataset", default="mnist5k", choices=DATASETS,
                   help="data set (default mnist5k)")
    b.add_argument("--data-dir", default=None,
                   help="folder with the cifar10/svhn files (default: none; mnist5k and digits "
                   "ship with their packages)")
    b.add_argument("--board", default=DEFAULT_BOARD,
                   help=f"target board (default {DEFAULT_BOARD}; one of "
                   f"{', '.join(board_names())})")
    b.add_argument("--pe", type=int, default=None,
                   help="processing engines P (default: the least-energy P that fits the board)")
    b.add_argument("--mult", type=int, default=None,
                   help="multiplier lanes per PE M (default: the least-energy M that fits)")
    b.add_argument("--images", type=int, default=20,
                   help="test images simulated in Verilator (default 20)")
    b.add_argument("--epochs", type=int, default=None,
                   help=f"QAT fine-tune epochs (default {per_arch(DEFAULT_EPOCHS)})")
    b.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    b.add_argument("--out", default=None,
                   help="build directory (default build/<arch>-<dataset>-q<Q>-s<S>)")
    b.add_argument("--force", action="store_true", help="replace an existing build directory")
    b.add_argument("--no-synth", action="store_true",
                   help="skip the Yosys resource estimate (use the analytical one)")
    b.add_argument("--netlist-sim", action="store_true",
                   help="also synthesize the accelerator for the board (icebreaker, ulx3s_85f) "
                   "with Yosys and simulate that netlist against the golden model")
    b.add_argument("--netlist-images", type=int, default=5,
                   help="test images run through the netlist (default 5)")
    b.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from codegen.build import BuildConfig, build

    cfg = BuildConfig(q=args.q, s=args.s, arch=args.arch, dataset=args.dataset,
                      data_dir=args.data_dir, board=args.board, pe=args.pe, mult=args.mult,
                      images=args.images, epochs=args.epochs, seed=args.seed,
                      out=Path(args.out) if args.out else None, force=args.force,
                      synth=not args.no_synth, netlist_sim=args.netlist_sim,
                      netlist_images=args.netlist_images, progress=not args.quiet)
    report = build(cfg)
    print(f"wrote {report['out_dir']}: {report['hw_matches_golden']['mismatches']} mismatching "
          f"logits over {report['hw_matches_golden']['images']} images, "
          f"{report['energy']['per_inference_uj']:.3f} uJ/inference, fits={report['fits']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, prog="codegen"))
