"""``python -m codegen build``: train, pick (P, M), generate, verify and report an FPGA build."""

from __future__ import annotations

import argparse
from pathlib import Path

from common.cli import UserError, command_parser, run_cli, scale_arg


def build_parser() -> argparse.ArgumentParser:
    from boards import DEFAULT_BOARD, board_names
    from intnet.arch import ARCHS
    from model.data import DATASET_METAVAR, dataset_arg
    from model.defaults import DEFAULT_EPOCHS, per_arch
    from sim.cli_options import add_weight_reuse

    parser, sub = command_parser("python -m codegen", __doc__)
    b = sub.add_parser(
        "build", help="emit a complete, verified FPGA build directory for one (q, s)",
        description="Train (or reuse) the network at bit width Q and width scale S, or take "
        "the given --bundle (trained, imported or hand-made) without training; pick the "
        "most energy-efficient (P, M) that fits the board (within the report_failfast "
        "utilisation guidelines: LUT 70 %, FF 50 %, DSP and BRAM 80 %) unless --pe/--mult "
        "are given, and "
        "write bundle/, rtl/, mem/, vivado/, hls/, report.json and report.md. The RTL is "
        "simulated in Verilator on --images test images and must match the golden model on "
        "every logit.")
    b.add_argument("--q", type=int, default=None,
                   help="bit width of weights and hidden activations, 1..8 bits (required "
                   "without --bundle)")
    b.add_argument("--s", type=scale_arg, default=None,
                   help="width scale: every hidden layer's channels × S, e.g. 1.5, or one per "
                   "stage, e.g. 1.5,1,0.75 (required without --bundle)")
    b.add_argument("--bundle", default=None, help="build this bundle directory instead of "
                   "training (default: none; q, s and arch come from its manifest)")
    b.add_argument("--arch", default=None, choices=ARCHS, help="network family (default vgg)")
    b.add_argument("--dataset", default=None, type=dataset_arg, metavar=DATASET_METAVAR,
                   help="data set: a built-in one or your own .npz file (train_x, train_y, "
                   "test_x, test_y; docs/model.md) (default mnist5k; with --bundle, the "
                   "bundle's own, whose test images the RTL runs on when it can be read here)")
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
    b.add_argument("--seed", type=int, default=None, help="training seed (default 0)")
    b.add_argument("--out", default=None,
                   help="build directory (default build/<arch>-<dataset>-q<Q>-s<S>)")
    b.add_argument("--force", action="store_true", help="replace an existing build directory")
    b.add_argument("--no-synth", action="store_true",
                   help="skip the Yosys resource estimate (use the analytical one)")
    b.add_argument("--clock-mhz", type=float, default=None,
                   help="design clock in MHz: Xilinx boards get an MMCM at this frequency "
                   "(default: the board's oscillator); iCE40/ECP5 builds start their PLL "
                   "timing search there (default: the family's start); the array is chosen for "
                   "this clock (default: the oscillator on Xilinx, on iCE40/ECP5 the PLL clock "
                   "their designs were measured to close at)")
    b.add_argument("--netlist-sim", action="store_true",
                   help="also synthesize the accelerator for the board (icebreaker, ulx3s_85f) "
                   "with Yosys and simulate that netlist against the golden model")
    b.add_argument("--netlist-images", type=int, default=5,
                   help="test images run through the netlist (default 5)")
    b.add_argument("--lane-bits", type=int, default=None,
                   help="lane width in bits, from the network's widest layer up to 8; wider "
                   "lanes split into 2 or 4 sub-lanes where a layer's widths fit, so narrow "
                   "layers run faster (default: q, the network's widest layer)")
    add_weight_reuse(b, "the energy model's choice (the least energy that fits)")
    b.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from codegen.build import BuildConfig, build
    from sim.cli_options import weight_reuse_option

    common = dict(data_dir=args.data_dir, board=args.board, pe=args.pe, mult=args.mult,
                  images=args.images, out=Path(args.out) if args.out else None,
                  force=args.force, synth=not args.no_synth, progress=not args.quiet,
                  clock_mhz=args.clock_mhz, netlist_sim=args.netlist_sim,
                  netlist_images=args.netlist_images, lane_bits=args.lane_bits,
                  weight_reuse=weight_reuse_option(args.weight_reuse))
    if args.bundle is not None:
        cfg = _bundle_config(args, common)
    else:
        for name in ("q", "s"):
            if getattr(args, name) is None:
                raise UserError(f"--{name} is required (or give --bundle DIR)")
        cfg = BuildConfig(q=args.q, s=args.s, arch=args.arch or "vgg",
                          dataset=args.dataset or "mnist5k", epochs=args.epochs,
                          seed=0 if args.seed is None else args.seed, **common)
    report = build(cfg)
    print(f"wrote {report['out_dir']}: {report['hw_matches_golden']['mismatches']} mismatching "
          f"logits over {report['hw_matches_golden']['images']} images, "
          f"{report['energy']['per_inference_uj']:.3f} uJ/inference, fits={report['fits']}")
    return 0


def _bundle_config(args, common: dict):
    """The build of ``--bundle``: its q, s and arch; training options refused in one line."""
    from codegen.build import BuildConfig
    from codegen.bundle_build import read_bundle

    given = [f"--{n}" for n in ("q", "s", "arch", "epochs", "seed")
             if getattr(args, n) is not None]
    if given:
        raise UserError(f"{', '.join(given)}: --bundle builds the bundle as it is (its q, s "
                        f"and arch come from its manifest; nothing is trained)")
    if args.dataset is not None:  # given, so it must be there (the manifest's may not be)
        from model.data import check_data_files

        check_data_files(args.dataset, args.data_dir)
    net = read_bundle(args.bundle)
    return BuildConfig(q=net.q, s=net.s, arch=net.arch, dataset=args.dataset or net.dataset,
                       bundle=Path(args.bundle), **common)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, prog="codegen"))
