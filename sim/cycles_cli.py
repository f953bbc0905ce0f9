"""``python -m sim cycles``: the cycle model of a bundle on a P×M array, as a table.

Per layer: kind, bit widths (weights / input / output), the lane split (k values of
lane_bits/k bits per lane; "×2" where the layer pairs output channels), cycles, the
physical bound
⌈MACs/(P·M)⌉, their ratio and the energy per inference (the energy model on that layer's
own event counts, on ``--board`` at its clock). ``--json FILE`` writes the cycle model's
whole JSON (`sim.cycles.network_cycle_model`, the keys of ARCHITECTURE.md).
"""

from __future__ import annotations

import json

from boards import DEFAULT_BOARD, board_names
from sim.cli_options import (
    add_bundle_array,
    add_clock_mhz,
    add_weight_reuse,
    check_clock_mhz,
    chosen_impl,
)


def _widths(layer) -> str:
    bits = [getattr(layer, name, None) for name in ("w_bits", "in_bits", "out_bits")]
    return "/".join("-" if b is None else str(b) for b in bits)


def table(net, cycles: dict, energies: list[float]) -> str:
    """The per-layer table and a total line, as printed."""
    by_name = {layer.name: layer for layer in net.layers}
    head = ("layer", "kind", "w/in/out bits", "split", "cycles", "bound", "ratio", "energy µJ")
    rows = [head]
    for layer, energy in zip(cycles["layers"], energies, strict=True):
        ratio = "-" if layer["ratio"] is None else f"{layer['ratio']:.2f}"
        rows.append((layer["name"], layer["kind"], _widths(by_name[layer["name"]]),
                     # "×2": a second output channel on the idle half of the sub-lanes
                     f"{layer['lane_split']}" + (" ×2" if layer.get("channel_pairs") else ""),
                     f"{layer['cycles']:,}",
                     f"{layer['physical_bound']:,}", ratio, f"{energy:.5f}"))
    total_ratio = "-" if cycles["ratio"] is None else f"{cycles['ratio']:.2f}"
    rows.append(("total", "", "", "", f"{cycles['cycles']:,}", f"{cycles['physical_bound']:,}",
                 total_ratio, f"{sum(energies):.5f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    right = {3, 4, 5, 6, 7}  # numbers align right

    def line(row):
        return "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(rows[0]), rule, *map(line, rows[1:-1]), rule, line(rows[-1])])


def _run(args) -> int:
    from boards import get_board
    from common.cli import UserError, check_choice, check_positive
    from common.files import check_output, write_text_atomic
    from hw.plan import network_q
    from intnet.arch import format_scale
    from intnet.bundle import load_bundle
    from search.design import layer_energies
    from sim.cycles import cycle_model

    check_positive(args.pe, "--pe")
    check_positive(args.mult, "--mult")
    board = get_board(check_choice(args.board, board_names(), "board"))
    check_clock_mhz(args.clock_mhz)
    if args.json is not None:
        check_output(args.json, args.force, directory=False)
    net = load_bundle(args.bundle)
    clock = args.clock_mhz or board.design_clock_mhz
    specs = net.specs()
    try:
        lane_bits = network_q(net, args.lane_bits)
        # the hardware codegen would build: LUT or DSP multipliers and weight reuse as the
        # energy model chooses them (or as --weight-reuse says)
        impl = chosen_impl(specs, lane_bits, args.pe, args.mult, board, args.weight_reuse,
                           clock)
        result = cycle_model(net.layers, lane_bits, args.pe, args.mult, impl["weight_reuse"])
    except ValueError as e:
        raise UserError(str(e)) from None
    per_layer = layer_energies(specs, lane_bits, args.pe, args.mult, board, clock_mhz=clock,
                               **impl)
    energies = [per_layer[layer["name"]] for layer in result["layers"]]
    print(f"{net.arch} q={net.q} s={format_scale(net.s)} on {net.dataset}, "
          f"P={args.pe} M={args.mult} "
          f"lanes of {lane_bits} bits; energy on {board.name} at {clock:g} MHz, "
          f"multipliers in {impl['mult_impl'].upper()}s, weight reuse "
          f"{'on' if impl['weight_reuse'] else 'off'}")
    print(table(net, result, energies))
    if args.json is not None:
        write_text_atomic(args.json, json.dumps(result, indent=1) + "\n")
        print(f"cycle model JSON → {args.json}")
    return 0


def register(subparsers) -> None:
    """Add the ``cycles`` subcommand to ``python -m sim``."""
    parser = subparsers.add_parser(
        "cycles", help="per-layer cycles, physical bound and energy of the accelerator",
        description="Print the cycle model of a bundle on a P×M array as a table: per layer "
                    "its cycles (equal to the RTL's), the physical bound ceil(MACs/(P·M)), "
                    "their ratio and the energy per inference. --json FILE writes the whole "
                    "model (events, memories) as JSON.")
    add_bundle_array(parser)
    parser.add_argument("--lane-bits", type=int, default=None,
                        help="lane width in bits, at least every layer's widths (default: the "
                             "bundle's q, its widest layer)")
    parser.add_argument("--board", default=DEFAULT_BOARD,
                        help=f"board whose energy constants and clock price the layers (default "
                             f"{DEFAULT_BOARD}; one of {', '.join(board_names())})")
    add_clock_mhz(parser)
    add_weight_reuse(parser, "as codegen build chooses it (least energy on --board)")
    parser.add_argument("--json", default=None, metavar="FILE",
                        help="also write the cycle model's JSON to FILE (default: none)")
    parser.add_argument("--force", action="store_true", help="replace an existing --json file")
    parser.set_defaults(func=_run)
