"""``python -m model train|import|export …``: train a network of the family and write its
bundle; import a QONNX model into a bundle; export a bundle to ONNX (docs/interchange.md)."""

from __future__ import annotations

import argparse

from common.cli import UserError, command_parser, run_cli, scale_arg


def build_parser() -> argparse.ArgumentParser:
    from intnet.arch import ARCHS
    from model.data import DATASET_HELP, DATASET_METAVAR, dataset_arg
    from model.defaults import DEFAULT_EPOCHS, DEFAULT_FLOAT_EPOCHS, per_arch

    parser, sub = command_parser("model", "Datasets and quantized networks of QS-NAS.")
    t = sub.add_parser(
        "train", help="QAT-train a network and write its IntegerNetwork bundle",
        description="Train (or reuse a cached identical run of) a quantized network at "
        "bit width Q and width scale S, write its IntegerNetwork bundle to --out, and print "
        "the float, fake-quant and integer (golden) test accuracy. Runs are cached in "
        "$QSNAS_CACHE (default ~/.cache/qsnas/runs).")
    t.add_argument("--arch", default="vgg", choices=ARCHS, help="network family (default vgg)")
    t.add_argument("--q", type=int, default=None,
                   help="bit width of weights and hidden activations, 1..8 (required unless "
                   "--bits or --learn-bits)")
    t.add_argument("--bits", default=None, metavar="WIDTHS",
                   help="one width per weighted layer (conv, dwconv, dense), e.g. 8,4,2,4: "
                   "its weights and the activations it writes, or W:A where they differ "
                   "(8,2:4,1:4,2: weights 2 bits, activations 4); or a file holding them (a "
                   "JSON list, text like 8,4,2,4, or a search.json: its chosen widths; default: "
                   "none)")
    t.add_argument("--learn-bits", action="store_true",
                   help="learn the widths under --target-energy-uj or --target-weight-kb "
                   "(model.bits), then fine-tune at them; with --q Q, widths of at most Q "
                   "bits (default: up to 8)")
    t.add_argument("--target-energy-uj", type=float, default=None,
                   help="with --learn-bits: energy per inference (µJ) at the best (P, M) "
                   "on --board (default: none)")
    t.add_argument("--target-weight-kb", type=float, default=None,
                   help="with --learn-bits: weight memory in KiB (Σ weights·bits / 8192; "
                   "default: none)")
    t.add_argument("--board", default=None,
                   help="with --target-energy-uj: board whose energy model prices the widths "
                   "(default boards.DEFAULT_BOARD)")
    t.add_argument("--learn-epochs", type=int, default=None,
                   help="epochs with trainable widths (default model.bits.LearnConfig: 6)")
    t.add_argument("--s", type=scale_arg, required=True,
                   help="width scale: every hidden layer's channels × S, e.g. 1 or 1.5; or "
                        "one per stage, e.g. 1,0.5,0.75 (vgg: its 3 conv stages; mobilenet: "
                        "the stem and its 4 blocks) (required)")
    t.add_argument("--dataset", default="mnist5k", type=dataset_arg, metavar=DATASET_METAVAR,
                   help=f"{DATASET_HELP} (default mnist5k)")
    t.add_argument("--data-dir", default=None,
                   help="folder with the cifar10 or svhn files (default: none)")
    t.add_argument("--epochs", type=int, default=None,
                   help=f"QAT fine-tune epochs (default {per_arch(DEFAULT_EPOCHS)})")
    t.add_argument("--float-epochs", type=int, default=None,
                   help=f"float pre-train epochs (default {per_arch(DEFAULT_FLOAT_EPOCHS)})")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    t.add_argument("--val", type=int, default=0, metavar="N",
                   help="hold the last N training images out: nothing trains on them, and "
                   "the integer accuracy on them is printed as the validation accuracy "
                   "(default 0: train on all; on mnist5k a multiple of 10 keeps the classes "
                   "balanced)")
    t.add_argument("--no-cache", action="store_true", help="train even if a cached run exists")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--out", required=True, help="bundle directory to write (required)")
    t.add_argument("--force", action="store_true", help="replace an existing --out directory")
    _add_interchange_commands(sub)
    return parser


def _add_interchange_commands(sub) -> None:
    from model.data import DATASET_METAVAR, dataset_arg

    i = sub.add_parser(
        "import", help="read a QONNX model (Brevitas export_qonnx) into a bundle",
        description="Read a QONNX model as brevitas.export.export_qonnx writes it (input "
        "x/255, channels first; weights in MODEL.onnx.data beside it if there) and write its "
        "IntegerNetwork bundle with the model's own per-layer bit widths. A node the "
        "accelerator cannot run is named in one line and nothing is written. With --dataset, "
        "print the bundle's integer (golden) accuracy on its test split.")
    i.add_argument("model", metavar="MODEL.onnx", help="the QONNX file")
    i.add_argument("--out", required=True, help="bundle directory to write (required)")
    i.add_argument("--dataset", default=None, type=dataset_arg, metavar=DATASET_METAVAR,
                   help="data set the model was trained on (default: none, recorded as "
                   "'custom'; its input shape must match)")
    i.add_argument("--data-dir", default=None,
                   help="folder with the cifar10 or svhn files (default: none; mnist5k "
                   "and digits ship with their packages)")
    i.add_argument("--max-bits", type=int, default=None, choices=range(1, 9), metavar="B",
                   help="let a layer the contract cannot hold exactly (a float batch norm or "
                   "bias between integer thresholds) widen its weights up to B bits: weights "
                   "times 2^e give its bias e fractional bits, at the cost of wider lanes "
                   "(default: none, every layer keeps the model's own widths)")
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


def parse_bits(text: str) -> tuple:
    """``--bits``: ``8,4,2,4`` or ``8,2:4,1:4,2`` (weights:activations where they differ),
    or a file with a JSON list (an entry a width or a [weights, activations] pair), such
    text, or a search.json (its ``chosen.bits``)."""
    import json
    from pathlib import Path

    from intnet.arch import normal_widths

    path = Path(text)
    if not path.is_file():
        if not text.strip() or not set(text) <= set("0123456789,: "):
            raise UserError(f"--bits must be widths like 8,4,2,4 or 8,2:4,1:4,2 or a file, "
                            f"not {text!r} (no such file)")
        return _widths_text(text, "--bits")
    try:
        content = path.read_text()
    except OSError as e:
        raise UserError(f"cannot read --bits file {path}: {e.strerror}") from None
    try:
        data = json.loads(content)
    except ValueError:
        return _widths_text(content.strip(), f"--bits file {path}")
    if isinstance(data, dict):
        data = (data.get("chosen") or {}).get("bits", data.get("bits"))
    try:
        if isinstance(data, list) and data:
            return normal_widths(data)
    except ValueError:
        pass
    raise UserError(f"--bits file {path} holds no list of widths (a JSON list, or a "
                    "search.json with chosen.bits)")


def _widths_text(text: str, name: str) -> tuple:
    from intnet.arch import parse_widths

    try:
        return parse_widths(text)
    except ValueError as e:
        raise UserError(f"{name}: {e}") from None


def _check_widths(args) -> None:
    """Exactly one of --q, --bits, --learn-bits; the budget options only with the last."""
    from common.cli import check_q

    given = [name for name, v in (("--q", args.q), ("--bits", args.bits),
                                  ("--learn-bits", args.learn_bits or None)) if v is not None]
    if args.learn_bits and args.q is not None and args.bits is None:
        given.remove("--q")  # --q is the learning's starting width
    if len(given) != 1:
        raise UserError("give the widths one way: --q Q, --bits WIDTHS or --learn-bits"
                        + (f" (not {' and '.join(given)})" if given else ""))
    if args.q is not None:
        check_q(args.q)
    budgets = [v for v in (args.target_energy_uj, args.target_weight_kb) if v is not None]
    if args.learn_bits and len(budgets) != 1:
        raise UserError("--learn-bits needs one budget: --target-energy-uj E or "
                        "--target-weight-kb K")
    if not args.learn_bits and (budgets or args.board or args.learn_epochs is not None):
        raise UserError("--target-energy-uj, --target-weight-kb, --board and --learn-epochs "
                        "go with --learn-bits")
    if budgets and not budgets[0] > 0:
        raise UserError(f"the budget must be a positive number, not {budgets[0]}")
    if args.learn_epochs is not None and args.learn_epochs < 1:
        raise UserError(f"--learn-epochs must be a positive integer, not {args.learn_epochs}")


def _learn(args):
    """The --learn-bits phase: its `model.bits.LearnedWidths`."""
    import dataclasses

    from model.bits import BitBudget, LearnConfig, learn_bits, weight_kb_cost
    from model.train import TrainConfig

    learn = LearnConfig()
    if args.learn_epochs is not None:
        learn = dataclasses.replace(learn, epochs=args.learn_epochs)
    if args.q is not None:  # learn widths of at most Q bits, starting at Q
        learn = dataclasses.replace(learn, init=args.q, hi=args.q)
    if args.target_weight_kb is not None:
        budget = BitBudget("weight_kb", args.target_weight_kb,
                           weight_kb_cost(args.arch, args.s, args.dataset), "weights")
    else:
        from boards import DEFAULT_BOARD, board_names
        from common.cli import check_choice
        from search.design import ARRAY_SIZES
        from search.mixed import energy_cost

        board = args.board or DEFAULT_BOARD
        check_choice(board, board_names(), "board")
        budget = BitBudget("energy_uj", args.target_energy_uj,
                           energy_cost(args.arch, args.s, args.dataset, board, ARRAY_SIZES,
                                       ARRAY_SIZES), f"search.mixed.energy_cost {board}")
    cfg = TrainConfig(arch=args.arch, s=args.s, dataset=args.dataset, data_dir=args.data_dir,
                      epochs=args.epochs, float_epochs=args.float_epochs, seed=args.seed,
                      val=args.val)
    return learn_bits(cfg, budget, learn, progress=not args.quiet,
                      use_cache=not args.no_cache), budget


def _train(args) -> int:
    from common.cli import check_s
    from common.files import check_output
    from model.data import check_data_files

    _check_widths(args)
    check_s(args.s, args.arch)
    for name in ("epochs", "float_epochs", "val"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise UserError(f"--{name.replace('_', '-')} must be a non-negative integer, "
                            f"not {value}")
    bits = parse_bits(args.bits) if args.bits is not None else None
    if bits is not None:
        from model.train import check_bits

        bits = check_bits(args.arch, args.s, args.dataset, bits)
    out = check_output(args.out, args.force)
    check_data_files(args.dataset, args.data_dir)
    from intnet.arch import format_scale, format_widths, widths_of
    from intnet.bundle import save_bundle
    from model.train import train_and_export  # imports torch: after the cheap checks

    learned = None
    if args.learn_bits:
        learned, budget = _learn(args)
        bits = learned.bits
    net, m = train_and_export(args.arch, args.q or 8, args.s, args.dataset, args.epochs,
                              args.seed, None, data_dir=args.data_dir,
                              float_epochs=args.float_epochs, progress=not args.quiet,
                              use_cache=not args.no_cache, bits=bits, val=args.val)
    try:
        save_bundle(net, out)
    except OSError as e:
        raise UserError(f"cannot write to {out}: {e.strerror}") from None
    n = m["test_images"]
    src = "cached run " if m["cached"] else ""
    widths = f"q={args.q}" if bits is None else "bits=" + format_widths(bits)
    print(f"{args.arch} {widths} s={format_scale(args.s)} on {args.dataset} "
          f"({src}{m['cache_dir']})")
    if learned is not None:
        unit = {"energy_uj": "µJ", "weight_kb": "KiB"}[budget.kind]
        print(f"learned widths       {','.join(map(str, learned.rounded))} (real: "
              f"{', '.join(f'{v:.2f}' for v in learned.values)}), fixed at "
              f"{','.join(map(str, learned.bits))}: {learned.cost:.4g} {unit} "
              f"({'meets' if learned.met else 'MISSES'} the budget {budget.target:g} {unit})")
    names = [layer.name for layer in net.layers if layer.w_bits]
    print("layer widths         " + ", ".join(f"{name} {format_widths([entry])}" for name, entry
                                              in zip(names, widths_of(net.layers), strict=True)))
    print(f"float accuracy       {100 * m['float_acc']:6.2f}%")
    print(f"fake-quant accuracy  {100 * m['fake_quant_acc']:6.2f}%")
    print(f"integer accuracy     {100 * m['integer_acc']:6.2f}%  (golden model, {n} test images)")
    if "val_acc" in m:
        print(f"validation accuracy  {100 * m['val_acc']:6.2f}%  (golden model, the last "
              f"{m['val_images']} training images, held out)")
    print(f"class agreement      {100 * m['agreement']:6.2f}%  (fake-quant vs integer)")
    print(f"bundle written to {out}")
    return 0


def _print_fidelity(fid: dict, max_bits) -> None:
    """Where the bundle may differ from the float model, and what would help."""
    for name, (own, wide) in fid["widened_weights"].items():
        print(f"  {name}: weights widened from {own} to {wide} bits (times 2^e, e = {wide - own}) "
              f"for a bias e bits finer")
    inexact = sum(fid["inexact_channels"].values())
    if inexact or fid["flippable_class_pairs"]:
        where = ", ".join(f"{k} {v}" for k, v in fid["inexact_channels"].items())
        hint = "" if max_bits == 8 else " (--max-bits 8 lets layers widen their weights)"
        how = (f"calibrated on {fid['calibration_images']} training images"
               if fid["calibration_images"] else "not calibrated: no --dataset")
        print(f"note: where the bundle can differ from the float model ({how}):\n"
              f"  {inexact} channels without an exact integer requantizer"
              f"{f' ({where})' if where else ''}\n"
              f"  {fid['flippable_class_pairs']} class pairs whose logit order a real bias "
              f"can flip{hint}")


def _import(args) -> int:
    from common.files import check_output
    from intnet.bundle import save_bundle
    from model.data import check_data_files, load_dataset
    from model.interchange.importer import CALIBRATION_IMAGES, import_qonnx

    out = check_output(args.out, args.force)
    if args.dataset:
        check_data_files(args.dataset, args.data_dir)
    data = load_dataset(args.dataset, args.data_dir) if args.dataset else None
    calibration = None if data is None else data.train_x[:CALIBRATION_IMAGES]
    net = import_qonnx(args.model, args.dataset or "custom", calibration, args.max_bits)
    print(f"{args.model}: {len(net.layers)} layers from {net.meta['producer']}")
    for layer in net.layers:
        widths = f"w{layer.w_bits} a{layer.in_bits}→{layer.out_bits}" if layer.w_bits else \
            (f"→{layer.out_bits}" if layer.out_bits else "")
        print(f"  {layer.name:<16} {layer.kind:<8} {str(list(layer.in_shape)):<14} → "
              f"{str(list(layer.out_shape)):<14} {widths}")
    _print_fidelity(net.meta["fidelity"], args.max_bits)
    if data is not None:
        from intnet import golden

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
