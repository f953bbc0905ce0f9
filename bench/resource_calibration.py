"""The analytical LUT/FF/DSP estimate against Yosys ``synth_xilinx`` on a sample of designs.

For every design of the sample (a synthetic network with random weights,
`intnet.synthetic.random_network`, of the given arch, width scale and bit widths, on a
P × M array with the given lane multipliers and weight reuse) it prices the design with
`search.design.evaluate` (the estimate the sweep, the searches and codegen's choice of
(P, M) use), writes its Verilog as ``codegen build`` does (`codegen.rtl.emit_rtl`) and
runs Yosys ``synth_xilinx -flatten`` on it as ``codegen build`` does
(`codegen.synth.synth_xilinx`, the Arty A7-35's xc7 family), one design at a time,
smallest first. It prints a markdown table of estimate against Yosys.

    python bench/resource_calibration.py [--quick] [--json out.json]
    python bench/resource_calibration.py --estimate-only out.json   # re-price, no Yosys

``--estimate-only FILE`` takes the Yosys counts of an earlier ``--json FILE`` and prices
the same designs with the estimate as it is now (to see a re-fit's effect without
running Yosys again); the table says which run measured them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOARD = "arty_a7_35"
INPUT_SHAPE = (28, 28, 1)  # mnist5k
NUM_CLASSES = 10
MOBILENET_MIXED = (8, 2, 2, 2, 2, 2, 2, 2, 2, 8)  # docs/hardware.md: depthwise lane split
MOBILENET_DW8 = (8, 8, 2, 8, 2, 8, 2, 8, 2, 8)  # depthwise at 8 bits


@dataclass(frozen=True)
class Design:
    """One point of the sample: the network and how the generator builds it."""

    arch: str
    s: float
    bits: int | tuple  # a uniform q, or one width per weighted layer
    pe: int
    mult: int
    mult_impl: str = "lut"
    weight_reuse: bool = False

    @property
    def label(self) -> str:
        from intnet.arch import format_widths

        bits = f"q{self.bits}" if isinstance(self.bits, int) else format_widths(self.bits, "/")
        extra = (" dsp" if self.mult_impl == "dsp" else "") + (" reuse" if self.weight_reuse
                                                              else "")
        return f"{self.arch} {bits} s{self.s:g} {self.pe}x{self.mult}{extra}"


def _d(arch, s, bits, pe, mult, impl="lut", reuse=False) -> Design:
    return Design(arch, s, bits if isinstance(bits, int) else tuple(bits), pe, mult, impl,
                  reuse)


# Smallest first: each group varies one factor against its neighbours (q; P; M; the lane
# multipliers; weight reuse; mixed widths; the depthwise lane split).
QUICK_SAMPLE = (
    _d("vgg", 0.25, 2, 4, 4),
    _d("vgg", 0.25, 8, 4, 4, "dsp"),
)
SAMPLE = (
    _d("vgg", 0.25, 1, 4, 4), _d("vgg", 0.25, 2, 4, 4), _d("vgg", 0.25, 4, 4, 4),
    _d("vgg", 0.25, 8, 4, 4), _d("vgg", 0.25, 8, 4, 4, "dsp"),
    _d("vgg", 0.5, 2, 8, 4), _d("vgg", 0.5, 2, 4, 8), _d("vgg", 0.5, 2, 8, 8),
    _d("vgg", 0.5, 2, 8, 8, reuse=True), _d("vgg", 0.5, 2, 16, 8),
    _d("vgg", 0.5, 4, 8, 8), _d("vgg", 0.5, 4, 8, 8, "dsp"),
    _d("vgg", 0.5, (8, 4, 2, 4), 8, 8), _d("vgg", 1, (4, 3, 1, 2), 8, 8),
    _d("vgg", 1, 1, 8, 8), _d("vgg", 1, 2, 16, 8, reuse=True), _d("vgg", 1, 8, 8, 8, "dsp"),
    _d("mobilenet", 0.5, 2, 4, 4), _d("mobilenet", 0.5, 4, 4, 8), _d("mobilenet", 0.5, 4, 8, 4),
    _d("mobilenet", 0.5, 4, 8, 8),
    _d("mobilenet", 0.5, 8, 8, 8, "dsp"), _d("mobilenet", 0.5, MOBILENET_DW8, 8, 8),
    _d("mobilenet", 0.5, MOBILENET_MIXED, 8, 8),
    _d("vgg", 1.5, 2, 16, 24, reuse=True),  # the README design
    _d("vgg", 1.5, 2, 24, 16, reuse=True), _d("vgg", 1.5, 2, 24, 24, reuse=True),
    _d("mobilenet", 1, 2, 8, 8),
)


def _specs(design: Design):
    from intnet.arch import network_specs, widest_width, with_widths

    specs = with_widths(network_specs(design.arch, design.s, INPUT_SHAPE, NUM_CLASSES),
                        design.bits)
    q = design.bits if isinstance(design.bits, int) else widest_width(design.bits)
    return specs, q


def estimate(design: Design) -> dict:
    """The estimate of ``design`` as `search.design.evaluate` gives it (its options fixed)."""
    from search.design import evaluate

    specs, q = _specs(design)
    row = evaluate(specs, q, design.pe, design.mult, BOARD, mult_impl=design.mult_impl,
                   weight_reuse=design.weight_reuse)
    if row["weight_reuse"] != design.weight_reuse:
        raise ValueError(f"{design.label}: no pass of this network can reuse weights")
    return {k: row[k] for k in ("lut", "ff", "dsp", "bram36", "fits")}


def synthesize(design: Design, timeout: float) -> dict:
    """Yosys ``synth_xilinx`` counts of ``design``'s generated Verilog (as codegen builds it)."""
    from codegen.rtl import emit_rtl
    from codegen.synth import synth_xilinx
    from common.tools import tool_identity, yosys_command
    from hw.generate import TOP_NAME
    from intnet.synthetic import random_network

    specs, q = _specs(design)
    net = random_network(specs, q, seed=0, arch=design.arch, s=design.s)
    impl = {"mult_impl": design.mult_impl, "weight_reuse": design.weight_reuse}
    with tempfile.TemporaryDirectory(prefix="qsnas-rescal-") as tmp:
        root = Path(tmp)
        out = emit_rtl(net, design.pe, design.mult, root / "rtl", root / "mem", impl=impl)
        t0 = time.monotonic()
        res = synth_xilinx(out["verilog"], TOP_NAME, root, timeout=timeout)
    return {**res.as_dict(), "cells": res.cells, "yosys_s": round(time.monotonic() - t0, 1),
            "yosys": tool_identity(yosys_command())}


def ratio(est: float, got: float) -> str:
    return f"{est / got:.2f}" if got else "–"


def table(rows: list[dict]) -> str:
    """The markdown table of ``rows`` (``design``, ``estimate``, ``yosys`` each)."""
    lines = ["| design | est LUT | est FF | est DSP | Yosys LUT (as memory) | Yosys FF "
             "| Yosys DSP | LUT est/Yosys | FF est/Yosys | Yosys s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        e, y = r["estimate"], r["yosys"]
        lines.append(f"| {r['label']} | {e['lut']:,} | {e['ff']:,} | {e['dsp']} "
                     f"| {y['lut']:,} ({y['lutram']:,}) | {y['ff']:,} | {y['dsp']} "
                     f"| {ratio(e['lut'], y['lut'])} "
                     f"| {ratio(e['ff'], y['ff'])} | {y['yosys_s']:g} |")
    return "\n".join(lines)


def _write(path: str | None, rows: list[dict], started: str) -> None:
    if path:
        Path(path).write_text(json.dumps({"board": BOARD, "started": started, "rows": rows},
                                         indent=1) + "\n")


def measure(sample, json_path: str | None, timeout: float, resume: bool = False) -> list[dict]:
    """Estimate and synthesize every design of ``sample``, writing ``json_path`` after each;
    with ``resume``, the rows already in ``json_path`` are kept and their designs skipped."""
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = []
    if resume and json_path and Path(json_path).exists():
        data = json.loads(Path(json_path).read_text())
        started, rows = f"{data['started']}, resumed {started}", data["rows"]
    done = {r["label"] for r in rows}
    for i, design in enumerate(sample, 1):
        if design.label in done:
            continue
        print(f"[{i}/{len(sample)}] {design.label}: estimating, generating, Yosys ...",
              flush=True)
        est = estimate(design)
        try:
            got = synthesize(design, timeout)
        except Exception as e:  # noqa: BLE001 - a failed or slow design is reported, not fatal
            print(f"    skipped: {str(e).splitlines()[0]}", flush=True)
            continue
        rows.append({"label": design.label, "design": asdict(design), "estimate": est,
                     "yosys": got})
        print(f"    estimate {est['lut']:,} LUT {est['ff']:,} FF {est['dsp']} DSP; Yosys "
              f"{got['lut']:,} LUT ({got['lutram']:,} as memory) {got['ff']:,} FF {got['dsp']} "
              f"DSP ({got['yosys_s']:g} s); "
              f"LUT {ratio(est['lut'], got['lut'])}x FF {ratio(est['ff'], got['ff'])}x",
              flush=True)
        _write(json_path, rows, started)
    return rows


def reprice(path: str) -> list[dict]:
    """The rows of an earlier ``--json`` run with the estimate recomputed as it is now."""
    data = json.loads(Path(path).read_text())
    rows = []
    for r in data["rows"]:
        d = r["design"]
        design = _d(d["arch"], d["s"], d["bits"], d["pe"], d["mult"], d["mult_impl"],
                    d["weight_reuse"])
        rows.append({**r, "estimate_then": r["estimate"], "estimate": estimate(design)})
    print(f"Yosys counts of the run started {data['started']}; estimates as of now")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"only the {len(QUICK_SAMPLE)} smallest designs (a smoke run)")
    parser.add_argument("--json", default=None,
                        help="also write every row to this file, after each design")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows of an existing --json file, measure the rest")
    parser.add_argument("--estimate-only", metavar="FILE", default=None,
                        help="no Yosys: re-price the designs of an earlier --json FILE")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds one Yosys run may take before the design is skipped")
    args = parser.parse_args(argv)
    if args.estimate_only:
        rows = reprice(args.estimate_only)
        if args.json:
            _write(args.json, rows, "re-priced")
    else:
        rows = measure(QUICK_SAMPLE if args.quick else SAMPLE, args.json, args.timeout,
                       args.resume)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
