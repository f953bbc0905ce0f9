"""``python -m search --target-acc A``: the least-energy ⟨q, s, P, M⟩ for a target accuracy."""

from __future__ import annotations

import argparse
import json

from common.cli import (
    OneLineParser,
    UserError,
    check_choice,
    check_positive,
    check_q,
    check_s,
    parse_float_list,
    parse_int_list,
    run_cli,
)
from common.files import check_output


def build_parser() -> argparse.ArgumentParser:
    from boards import DEFAULT_BOARD, board_names
    from intnet.arch import ARCHS
    from model.data import DATASET_HELP, DATASET_METAVAR, dataset_arg
    from model.defaults import DEFAULT_EPOCHS, per_arch
    from search.executors import EXECUTORS

    p = OneLineParser(prog="python -m search", description=__doc__)
    p.add_argument("--target-acc", type=float, required=True,
                   help="integer (golden-model) accuracy to reach, a fraction in (0, 1), "
                   "e.g. 0.97: on the test split, or with --val on the held-out training "
                   "images (required)")
    p.add_argument("--arch", default="vgg", choices=ARCHS, help="network family (default vgg)")
    p.add_argument("--dataset", default="mnist5k", type=dataset_arg, metavar=DATASET_METAVAR,
                   help=f"{DATASET_HELP} (default mnist5k)")
    p.add_argument("--data-dir", default=None,
                   help="folder with the cifar10 or svhn files (default: none)")
    p.add_argument("--board", default=DEFAULT_BOARD,
                   help=f"target board (default {DEFAULT_BOARD}; one of "
                   f"{', '.join(board_names())})")
    p.add_argument("--q-samples", default="1,2,4,8", metavar="LIST",
                   help="bit widths of the trained samples, in bits (default 1,2,4,8)")
    p.add_argument("--s-samples", default="0.5,1,2", metavar="LIST",
                   help="width scales of the trained samples (default 0.5,1,2)")
    p.add_argument("--s-min", type=float, default=0.25,
                   help="smallest s to choose (default 0.25)")
    p.add_argument("--s-max", type=float, default=2.0, help="largest s to choose (default 2)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"QAT fine-tune epochs (default {per_arch(DEFAULT_EPOCHS)})")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--val", type=int, default=0, metavar="N",
                   help="hold the last N training images out of every training and choose "
                   "(feasibility, regressors, the design) on the accuracy on them; the "
                   "report's measured accuracy stays the test split's (default 0: choose on "
                   "the test split; on mnist5k a multiple of 10 keeps the classes balanced)")
    p.add_argument("--jobs", type=int, default=1,
                   help="training jobs run at once, in processes (default 1)")
    p.add_argument("--executor", default="local", choices=EXECUTORS,
                   help="where training jobs run: local processes (--jobs) or Ray tasks "
                   "(default local)")
    p.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                   help="Ray head to submit to with --executor ray (default: start a local "
                   "Ray runtime)")
    p.add_argument("--strategy", default="poly", choices=("poly", "bo"),
                   help="poly: QS-NAS accuracy regressor, exact energy (default); bo: "
                   "Bayesian optimisation (Optuna TPE) over q and s, every trial trained")
    p.add_argument("--mixed", action="store_true",
                   help="search one bit width per layer (1..8) with s and (P, M): Optuna TPE "
                   "on energy and weight bits, each trial fine-tuned from the shared float "
                   "network, the uniform samples, lane-splitting and weight-lean widths as "
                   "warm start; chooses the least energy, reports the least weight too")
    p.add_argument("--act-widths", action="store_true",
                   help="with --mixed: search each hidden layer's activation width apart from "
                   "its weights' (W:A widths, as HAQ does; default: one width per layer for "
                   "both)")
    p.add_argument("--stage-scales", action="store_true",
                   help="with --mixed: search each stage's width scale apart (among the s the "
                   "uniform search trained; each new shape trains its own float network), as "
                   "BOMP-NAS searches the architecture with the bits (default: one s for all)")
    p.add_argument("--trials", type=int, default=None,
                   help="networks BO or --mixed may train (default 14 for bo, the polynomial "
                   "method's usual count; 24 for --mixed, beyond its warm start)")
    p.add_argument("--max-candidates", type=int, default=8,
                   help="poly: points trained beyond the samples before giving up "
                   "(default 8)")
    p.add_argument("--rtl-images", type=int, default=5,
                   help="test images the chosen design is simulated on in Verilator (default 5; "
                   "0: none)")
    p.add_argument("--out", default="search_out", help="output folder (default search_out)")
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")
    p.add_argument("--build", action="store_true",
                   help="then build the chosen bundle on the chosen (P, M) into OUT/build "
                   "(`codegen build --bundle OUT/bundle`, its RTL check on --rtl-images "
                   "images, at least 1)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from boards import board_names
    from common.files import atomic_directory
    from model.data import check_data_files
    from search.qsnas import SearchConfig, check_feasible, run_bo, run_search
    from search.report import write_search

    if not 0 < args.target_acc < 1:
        raise UserError(f"--target-acc must be in (0, 1), not {args.target_acc}")
    check_positive(args.jobs, "--jobs")
    if args.trials is None:
        args.trials = 24 if args.mixed else 14
    check_positive(args.trials, "--trials")
    check_positive(args.max_candidates, "--max-candidates")
    if args.mixed and args.strategy == "bo":
        raise UserError("--mixed runs its own TPE search: leave out --strategy bo")
    if args.act_widths and not args.mixed:
        raise UserError("--act-widths goes with --mixed")
    if args.stage_scales and not args.mixed:
        raise UserError("--stage-scales goes with --mixed")
    if args.rtl_images < 0:
        raise UserError(f"--rtl-images must be a non-negative integer, not {args.rtl_images}")
    if args.epochs is not None and args.epochs < 0:
        raise UserError(f"--epochs must be a non-negative integer, not {args.epochs}")
    _check_val(args)
    q_samples = [check_q(q) for q in parse_int_list(args.q_samples, "--q-samples")]
    s_samples = [check_s(s) for s in parse_float_list(args.s_samples, "--s-samples")]
    if (args.strategy == "poly" and not args.mixed
            and (len(set(q_samples)) < 2 or len(set(s_samples)) < 2)):
        raise UserError("--q-samples and --s-samples need two different values each to fit "
                        "the regressors")
    check_s(args.s_min)
    if not args.s_min <= args.s_max <= 16:
        raise UserError(f"--s-max must be in [--s-min, 16] = [{args.s_min:g}, 16], "
                        f"not {args.s_max}")
    check_choice(args.board, board_names(), "board")
    from search.executors import check_address

    check_address(args.ray_address)
    if args.ray_address and args.executor != "ray":
        raise UserError("--ray-address needs --executor ray")
    out = check_output(args.out, args.force)
    cfg = SearchConfig(
        target_acc=args.target_acc, arch=args.arch, dataset=args.dataset,
        data_dir=args.data_dir, board=args.board, q_samples=tuple(q_samples),
        s_samples=tuple(s_samples), s_min=args.s_min, s_max=args.s_max, epochs=args.epochs,
        seed=args.seed, jobs=args.jobs, executor=args.executor, ray_address=args.ray_address,
        max_candidates=args.max_candidates, act_widths=args.act_widths,
        stage_scales=args.stage_scales, val=args.val, progress=not args.quiet)
    try:
        check_feasible(cfg)
    except ValueError as e:
        raise UserError(str(e)) from None
    check_data_files(args.dataset, args.data_dir)
    _check_tools(args)
    lean = None  # the mixed search's least-weight network, when it is another
    try:
        if args.mixed:
            from search.mixed import run_mixed

            result, net, lean = run_mixed(cfg, args.trials, rtl_images=args.rtl_images)
        elif args.strategy == "bo":
            result, net = run_bo(cfg, args.trials, rtl_images=args.rtl_images)
        else:
            result, net = run_search(cfg, rtl_images=args.rtl_images)
    except ValueError as e:
        raise UserError(str(e)) from None
    try:
        with atomic_directory(out) as tmp:
            write_search(result, net, tmp, least_weight=lean)
    except OSError as e:
        raise UserError(f"cannot write to {out}: {e.strerror}") from None
    c, m = result["chosen"], result["measured"]
    print(json.dumps({"selected_on": result["selected_on"], "chosen": c,
                      "predicted": result["predicted"],
                      "measured": {"accuracy": m["accuracy"], "energy_uj": m["energy_uj"]}}))
    rtl = m["rtl"]
    if rtl["run"]:
        print(f"RTL: {rtl['mismatches']} mismatching logits on {rtl['images']} test images, "
              f"cycles {'equal' if rtl['cycles_match_model'] else 'DIFFER FROM'} the model")
    else:
        print(f"RTL check not run: {rtl['reason']}")
    print(f"wrote {out / 'search.json'}, {out / 'pareto.png'}, {out / 'search.md'}, "
          f"{out / 'bundle'}")
    if args.build:
        from codegen.build import BuildConfig, build

        # the bundle the search measured, not a network trained again: per-layer widths and
        # a --val run build as chosen
        build(BuildConfig(q=c["q"], s=c["s"], arch=args.arch, dataset=args.dataset,
                          data_dir=args.data_dir, board=args.board, pe=c["pe"], mult=c["mult"],
                          images=max(1, args.rtl_images), out=out / "build", force=True,
                          bundle=out / "bundle", progress=not args.quiet))
    return 0


def _check_val(args) -> None:
    """--val: a non-negative count below the data set's training images (embedded sets and
    a user's .npz checked here; cifar10/svhn when their files are read)."""
    if args.val < 0:
        raise UserError(f"--val must be a non-negative integer, not {args.val}")
    from model.data import TRAIN_IMAGES, is_npz, load_npz

    n = TRAIN_IMAGES.get(args.dataset)
    if is_npz(args.dataset):
        n = len(load_npz(args.dataset).train_x)
    if n is not None and args.val >= n:
        raise UserError(f"--val must be below the {n} {args.dataset} training images, "
                        f"not {args.val}")


def _check_tools(args) -> None:
    """Pre-flight: the chosen design's RTL simulation and ``--build``, before training."""
    from common.tools import require_simulation

    if args.build:
        from codegen.build import BuildConfig, check_tools

        check_tools(BuildConfig(q=1, s=1.0, board=args.board))
    elif args.rtl_images:
        require_simulation("search (--rtl-images)")


if __name__ == "__main__":
    raise SystemExit(run_cli(main, prog="search"))
