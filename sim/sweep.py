"""``python -m sim sweep``: the ⟨q, s, P, M⟩ design space from network shapes alone.

Every combination is priced by `search.design.evaluate` (the cycle model, the resource
estimate with its fit check, the energy model). The row with the least energy among
those that fit is flagged ``best`` for each ⟨q, s⟩ with `search.design.rank`, the
order `search.design.best_design` uses when ``codegen`` or the search choose an array.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time

from boards import DEFAULT_BOARD, Board, board_names, get_board
from search.design import ARRAY_SIZES, rank
from sim.cli_options import add_clock_mhz, check_clock_mhz
from sim.energy import BREAKDOWN_KEYS

__all__ = ["COLUMNS", "sweep", "mark_best", "write_csv", "plot_best", "register"]

# The fixed columns of ARCHITECTURE.md first, then the extras.
COLUMNS = (
    ["q", "s", "pe", "mult", "cycles", "physical_bound", "energy_uj", "bram36", "dsp", "fits",
     "best", "lut", "ff", "mac_ops", "bound_ratio", "latency_us", "clock_mhz",
     "compute_lb_uj", "overhead_ratio", "pj_per_mac", "mult_impl",
     "weight_reuse"]
    + [f"e_{k}_uj" for k in BREAKDOWN_KEYS]
    + ["arch", "dataset", "board", "bits"]
)

def mark_best(rows: list[dict]) -> list[dict]:
    """Set ``best`` on the least-energy fitting row of each ⟨q, s⟩ (others False)."""
    groups: dict[tuple, dict] = {}
    for row in rows:
        row["best"] = False
        if row["fits"]:
            key = (row["q"], row["s"])
            if key not in groups or rank(row) < rank(groups[key]):
                groups[key] = row
    for row in groups.values():
        row["best"] = True
    return rows


def sweep(arch: str, dataset: str, q_list, s_list, pe_list=ARRAY_SIZES,
          mult_list=ARRAY_SIZES, board: Board | str = DEFAULT_BOARD,
          clock_mhz: float | None = None, progress: bool = True,
          bits: list[int] | None = None) -> list[dict]:
    """Evaluate every ⟨q, s, P, M⟩ for ``arch`` on ``dataset``'s input shape.

    ``bits``: one width per weighted layer (`intnet.arch.with_widths`), run on lanes of
    each ``q`` (every q at least the widest); None: every layer at q.
    Returns the rows (keys `COLUMNS`) with ``best`` marked per ⟨q, s⟩.
    """
    from tqdm import tqdm

    from intnet.arch import format_widths, network_specs, with_widths
    from model.data import dataset_shape
    from search.design import evaluate

    board = get_board(board)
    input_shape, num_classes = dataset_shape(dataset)
    rows = []
    total = len(q_list) * len(s_list) * len(pe_list) * len(mult_list)
    with tqdm(total=total, desc="sweep", unit="pt", disable=not progress,
              file=sys.stderr) as bar:
        for s in s_list:
            layers = tuple(network_specs(arch, s, input_shape, num_classes))
            if bits is not None:
                layers = tuple(with_widths(layers, bits))
            for q in q_list:
                for p in pe_list:
                    for m in mult_list:
                        row = evaluate(layers, q, p, m, board, clock_mhz)
                        row.update(s=s, arch=arch, dataset=dataset,
                                   bits=format_widths(bits, "/") if bits else str(q))
                        rows.append(row)
                        bar.update()
    rows.sort(key=lambda r: (r["q"], r["s"], r["pe"], r["mult"]))
    return mark_best(rows)


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.6g}"
    return str(value)


def write_csv(rows: list[dict], path: str) -> None:
    """Write ``rows`` with the `COLUMNS` header (booleans as true/false), atomically."""
    import io

    from common.files import write_text_atomic

    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_fmt(row[c]) for c in COLUMNS])
    write_text_atomic(path, text.getvalue())


def plot_best(rows: list[dict], path: str, title: str = "") -> int:
    """PNG of energy per inference vs s, one line per q, at each ⟨q, s⟩'s best (P, M).

    Returns the number of points drawn.
    """
    import io

    import matplotlib

    from common.files import write_bytes_atomic
    from common.plots import place_labels

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = [r for r in rows if r.get("best")]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for q in sorted({r["q"] for r in best}):
        pts = sorted((r["s"], r["energy_uj"], r["pe"], r["mult"]) for r in best if r["q"] == q)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"q={q}")
    ax.set_xlabel("width scale s")
    ax.set_ylabel("energy per inference (µJ)")
    ax.set_yscale("log")
    ax.set_title(title or "energy at the best fitting P x M per (q, s)")
    ax.grid(True, which="both", alpha=0.3)
    legend = [ax.legend(fontsize=8)] if best else []
    fig.tight_layout()
    points = [((r["s"], r["energy_uj"]), f"{r['pe']}x{r['mult']}")
              for r in sorted(best, key=lambda r: (r["q"], r["s"]))]
    place_labels(fig, ax, points, [(xy, 3.5) for xy, _ in points], legend, keep_all=True)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120)
    plt.close(fig)
    write_bytes_atomic(path, png.getvalue())
    return len(best)


def register(subparsers) -> None:
    """Add the ``sweep`` subcommand to ``python -m sim``."""
    from intnet.arch import ARCHS
    from model.data import DATASET_METAVAR, dataset_arg

    p = subparsers.add_parser(
        "sweep", help="evaluate every ⟨q,s,P,M⟩ with the cycle, resource and energy models",
        description="Evaluate every combination of q, s, P and M for a network family's "
        "shapes (no training) with the cycle, resource and energy models. Writes one CSV "
        "row per combination; column 'best' marks the least-energy (P,M) per (q,s) that "
        "fits the board.")
    p.add_argument("--arch", choices=ARCHS, default="vgg", help="network family (default vgg)")
    p.add_argument("--dataset", type=dataset_arg, metavar=DATASET_METAVAR, default="mnist5k",
                   help="data set whose input shape and classes are used (default mnist5k)")
    p.add_argument("--q", default=None, metavar="LIST",
                   help="bit widths in bits, e.g. 1,2,4,8 (required without --bits; with "
                        "--bits: the lane widths, default the widest of --bits)")
    p.add_argument("--bits", default=None, metavar="WIDTHS",
                   help="one width per weighted layer (conv, dwconv, dense), e.g. 8,2,2,8, "
                        "or W:A where its weights and activations differ (8,2:4,2:4,8): "
                        "every row runs the layers at them on lanes of its q bits (default: "
                        "none, every layer at q)")
    p.add_argument("--s", required=True, metavar="LIST",
                   help="width scales, e.g. 0.5,1,2 (required)")
    # the candidates codegen build and the search choose among, so that the sweep's
    # "best" is the array they pick
    sizes = ",".join(map(str, ARRAY_SIZES))
    p.add_argument("--pe", default=sizes, metavar="LIST",
                   help=f"processing engines P (default {sizes}: search.design.ARRAY_SIZES)")
    p.add_argument("--mult", default=sizes, metavar="LIST",
                   help=f"multiplier lanes per PE M (default {sizes})")
    p.add_argument("--board", default=DEFAULT_BOARD,
                   help=f"target board: {', '.join(board_names())} (default {DEFAULT_BOARD})")
    add_clock_mhz(p)
    p.add_argument("--out", required=True, metavar="FILE.csv", help="CSV to write (required)")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.add_argument("--plot", action="store_true",
                   help="also save FILE.png: energy vs (q,s) at the best (P,M)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    """Body of ``python -m sim sweep``; bad input raises `UserError`."""
    from common.cli import (
        UserError,
        check_choice,
        check_positive,
        check_q,
        check_s,
        parse_float_list,
        parse_int_list,
    )
    from common.files import check_output
    from intnet.arch import parse_widths, widest_width, width_pair

    bits = None
    if args.bits is not None:
        try:
            bits = parse_widths(args.bits)
        except ValueError as e:
            raise UserError(f"--bits: {e}") from None
        for pair in map(width_pair, bits):
            for b in pair:
                check_q(b)
    if args.q is None and bits is None:
        raise UserError("--q is required (or --bits)")
    q_list = ([check_q(q) for q in parse_int_list(args.q, "--q")] if args.q is not None
              else [widest_width(bits)])
    if bits is not None and min(q_list) < widest_width(bits):
        raise UserError(f"--q {min(q_list)} is narrower than the widest of --bits "
                        f"({widest_width(bits)}): lanes must hold every layer")
    s_list = [check_s(s) for s in parse_float_list(args.s, "--s")]
    pe_list = [check_positive(v, "--pe") for v in parse_int_list(args.pe, "--pe")]
    mult_list = [check_positive(v, "--mult") for v in parse_int_list(args.mult, "--mult")]
    for name, values in (("--q", q_list), ("--s", s_list), ("--pe", pe_list),
                         ("--mult", mult_list)):
        if not values:
            raise UserError(f"{name} must list at least one value")
    board = get_board(check_choice(args.board, board_names(), "board"))
    check_clock_mhz(args.clock_mhz)
    check_output(args.out, args.force, directory=False)
    png = os.path.splitext(args.out)[0] + ".png"
    if args.plot:
        check_output(png, args.force, directory=False)

    start = time.perf_counter()
    try:
        rows = sweep(args.arch, args.dataset, q_list, s_list, pe_list, mult_list, board,
                     args.clock_mhz, progress=not args.quiet, bits=bits)
    except ValueError as e:  # e.g. --bits with the wrong number of widths
        raise UserError(str(e)) from None
    write_csv(rows, args.out)
    elapsed = time.perf_counter() - start
    best = [r for r in rows if r["best"]]
    n_points = len(q_list) * len(s_list)
    print(f"sweep: {len(rows)} rows -> {args.out} in {elapsed:.1f} s; best (P,M) for "
          f"{len(best)} of {n_points} (q,s) points on {board.name}")
    if len(best) < n_points:
        print(f"sweep: {n_points - len(best)} (q,s) points have no (P,M) that fits "
              f"{board.name}", file=sys.stderr)
    if args.plot:
        plot_best(rows, png, f"{args.arch} / {args.dataset} on {board.name}")
        print(f"sweep: plot -> {png}")
    return 0
