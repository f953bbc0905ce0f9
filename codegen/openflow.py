"""Open-source flow to a real bitstream (iCE40: Yosys ``synth_ice40``, nextpnr, icepack).

The board's amaranth-boards platform renders and runs the flow for the self-test board
top (`hw.board_top.BoardTop`); nextpnr's placed-and-routed maximum frequency and
device utilisation are read back from its log, so latency and static energy can use a
real clock instead of an assumed one.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from codegen.board import NAME, prepare

TOOLS = ("yosys", "nextpnr-ice40", "icepack")

# nextpnr-ice40 cell names → report keys (BRAM as 4 Kbit EBRs, DSP as SB_MAC16).
CELLS = {"ICESTORM_LC": "lc", "ICESTORM_RAM": "ebr", "ICESTORM_DSP": "dsp",
         "ICESTORM_SPRAM": "spram", "SB_IO": "io"}


def tools_available() -> list[str]:
    """The flow's tools that are missing from PATH."""
    return [t for t in TOOLS if shutil.which(t) is None]


def parse_nextpnr_log(text: str) -> dict:
    """``fmax_mhz`` (the last, post-route figure for the design clock) and utilisation."""
    fmax = re.findall(r"Max frequency for clock '[^']*': ([\d.]+) MHz", text)
    if not fmax:
        raise RuntimeError("nextpnr reported no maximum frequency")
    used = {}
    for cell, key in CELLS.items():
        match = re.search(rf"{cell}:\s+(\d+)/\s*(\d+)", text)
        if match:
            used[key] = {"used": int(match[1]), "available": int(match[2])}
    return {"fmax_mhz": float(fmax[-1]), "utilization": used}


def build_bitstream(net, pe: int, mult: int, board, root: Path, image, label: int) -> dict:
    """Run the whole open flow into ``root/bitstream``; returns fmax, utilisation, files."""
    missing = tools_available()
    if missing:
        raise FileNotFoundError(f"the open flow needs {', '.join(missing)} on PATH "
                                "(Debian: apt-get install yosys nextpnr-ice40 fpga-icestorm)")
    platform, top, _ = prepare(net, pe, mult, board, image, label)
    out = Path(root) / "bitstream"
    platform.build(top, name=NAME, build_dir=str(out), do_program=False, emit_src=False)
    result = parse_nextpnr_log((out / f"{NAME}.tim").read_text())
    result["bitstream"] = out / f"{NAME}.bin"
    result["files"] = sorted(p for p in out.rglob("*") if p.is_file())
    return result
