"""The iCE40 design clock (`boards.OpenFlow.design_mhz`) measured on a sample of designs.

Each design of `DESIGNS` (digits, vgg, ⟨q, s⟩ and P × M spanning the arrays
`codegen build` chooses on the iCEBreaker) is built as a user builds it, one after the
other: ``python -m codegen build --q Q --s S --dataset digits --board icebreaker
--images 5 --pe P --mult M`` into a temporary directory, the build's own timing search
included. Its ``report.json`` gives the PLL clock that passed, the placements tried, the
logic cells and the RTL check; the markdown table adds the cells' ratio to the estimate's
LUT + FF (the fit check's packing, `search.design.LOGIC_CELL_PACKING`). The least PLL
clock over the sample is what ``design_mhz`` should be (docs/energy.md).

    python bench/design_clock.py [--json out.json] [--resume]
    python bench/design_clock.py --table out.json      # the table of an earlier run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (q, s, P, M): P 1 with M 2 … 16 and P 2 with M 1 … 8, at the widths where the device fits
DESIGNS = ((2, 0.25, 1, 2), (2, 0.25, 1, 4), (2, 0.25, 1, 8), (2, 0.25, 1, 16),
           (2, 0.25, 2, 2), (2, 0.25, 2, 4), (2, 0.25, 2, 8), (2, 0.5, 1, 16), (2, 0.5, 2, 4),
           (4, 0.25, 1, 4), (4, 0.25, 2, 2), (4, 0.5, 2, 2), (8, 0.25, 2, 1), (8, 0.5, 1, 2))


def build(q: int, s: float, pe: int, mult: int) -> dict:
    """One ``codegen build`` for the iCEBreaker (`bench.__main__._codegen_build`); its row
    (or ``error``: the build's last lines)."""
    from bench.__main__ import _codegen_build

    row = {"q": q, "s": s, "pe": pe, "mult": mult}
    args = ("--q", str(q), "--s", str(s), "--dataset", "digits", "--board", "icebreaker",
            "--images", "5", "--pe", str(pe), "--mult", str(mult))
    with tempfile.TemporaryDirectory(prefix="qsnas-clock-") as tmp:
        try:
            done = _codegen_build(args, Path(tmp) / "b")
        except RuntimeError as e:
            return row | {"wall_s": None, "error": str(e)}
    report = done["report"]
    return row | {"wall_s": done["wall_seconds"], "clock_mhz": report["clock_mhz"],
                  "fmax_mhz": report["fmax_mhz"], "clock": report["clock"],
                  "lc": report["resources"]["lut"],
                  "energy_uj": report["energy"]["per_inference_uj"],
                  "weight_reuse": report["weight_reuse"],
                  "mismatch": report["hw_matches_golden"]}


def table(rows: list[dict]) -> str:
    """Markdown: each design's cells (and ratio to the estimate), the fmax of the
    placements at the first clock tried, the one that passed and its PLL clock."""
    from intnet.arch import network_specs
    from model.data import dataset_shape
    from search.design import evaluate

    shape, classes = dataset_shape("digits")
    lines = ["| q | s | P × M | weight reuse | LC (ratio) | fmax at the first clock, seeds "
             "default / 1 / 2 | fmax (seed) passed | PLL clock | µJ | mismatches | build |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        head = f"| {r['q']} | {r['s']:g} | {r['pe']} × {r['mult']} |"
        if "error" in r:
            lines.append(f"{head} failed: {r['error'].strip().splitlines()[-1]} |")
            continue
        est = evaluate(network_specs("vgg", r["s"], shape, classes), r["q"], r["pe"],
                       r["mult"], "icebreaker", weight_reuse=r["weight_reuse"])
        tries = r["clock"]["timing_attempts"]
        first = " / ".join(f"{a['fmax_mhz']:.2f}" for a in tries
                           if a["clock_mhz"] == tries[0]["clock_mhz"])
        passed = [a for a in tries if a["passed"]][-1]
        minutes, secs = divmod(round(r["wall_s"]), 60)
        lines.append(
            f"{head} {'on' if r['weight_reuse'] else 'off'} | {r['lc']:,} "
            f"({r['lc'] / (est['lut'] + est['ff']):.2f}) | {first} | {passed['fmax_mhz']:.2f} "
            f"({passed['seed'] if passed['seed'] is not None else 'default'}) "
            f"| {r['clock_mhz']:g} MHz | {r['energy_uj']:.3f} | {r['mismatch']['mismatches']} "
            f"| {minutes}:{secs:02d} |")
    clocks = [r["clock_mhz"] for r in rows if "error" not in r]
    if clocks:
        lines.append(f"\nLeast PLL clock: {min(clocks):g} MHz ({len(clocks)} of {len(rows)} built)")
    return "\n".join(lines)


def measure(json_path: str | None, resume: bool) -> list[dict]:
    """Build every design (skipping those already in ``json_path`` with ``resume``),
    writing ``json_path`` after each."""
    rows = []
    if resume and json_path and Path(json_path).exists():
        rows = json.loads(Path(json_path).read_text())
    done = {(r["q"], r["s"], r["pe"], r["mult"]) for r in rows}
    for i, design in enumerate(DESIGNS, 1):
        if design in done:
            continue
        print(f"[{i}/{len(DESIGNS)}] q {design[0]} s {design[1]:g} {design[2]} x {design[3]}: "
              "codegen build ...", flush=True)
        rows.append(build(*design))
        if json_path:
            Path(json_path).write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--json", default=None, help="write every row to this file, after each")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows of an existing --json file, build the rest")
    parser.add_argument("--table", metavar="FILE", default=None,
                        help="no builds: the table of an earlier --json FILE")
    args = parser.parse_args(argv)
    rows = (json.loads(Path(args.table).read_text()) if args.table
            else measure(args.json, args.resume))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
