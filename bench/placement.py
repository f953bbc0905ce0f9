"""How much of an open-flow fmax is the placer's luck: nextpnr again on the same netlist.

nextpnr's placement is seeded; a different ``--seed`` gives another placement of the very
same netlist and so another post-route fmax. `seed_spread` reruns the nextpnr command of a
finished build (from Amaranth's generated build script, at the PLL constraint the build
passed) once per seed, in that build's folder, and collects the fmax of each. The build's
own figure is the placement its timing search kept (on the iCE40 the fastest of nextpnr's
default seed and seeds 1, 2: `codegen.openflow.SEEDS`).
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
from pathlib import Path


def nextpnr_command(build_dir: Path, name: str, family: str,
                    env: dict[str, str]) -> list[str]:
    """The nextpnr command line of ``build_<name>.sh``, its ``"$TOOL"`` resolved as the
    script resolves it: the variable in ``env``, else the tool the family's open flow
    names for that variable (`codegen.openflow.flow`)."""
    from codegen.openflow import flow

    script = (Path(build_dir) / f"build_{name}.sh").read_text()
    line = next(x for x in script.splitlines() if x.startswith('"$NEXTPNR'))
    argv = shlex.split(line)
    var = argv[0].lstrip("$")
    tool = next(t for t, (v, _) in flow(family).tools.items() if v == var)
    return [env.get(var) or tool, *argv[1:]]


def _with_outputs(argv: list[str], tag: str) -> list[str]:
    """``argv`` writing its log and its placed design to ``<tag>.*`` files, not the build's,
    without the build's own ``--seed`` (the caller gives one)."""
    out = list(argv)
    for i, arg in enumerate(argv[:-1]):
        if arg == "--log":
            out[i + 1] = f"{tag}.tim"
        elif arg in ("--asc", "--textcfg"):
            out[i + 1] = f"{tag}.placed"
    while "--seed" in out[:-1]:
        i = out.index("--seed")
        del out[i:i + 2]
    return out


def seed_spread(build_dir: Path, name: str, family: str, seeds: tuple[int, ...],
                env: dict[str, str] | None = None) -> dict:
    """fmax (MHz) of the build's netlist placed and routed once per seed of ``seeds``."""
    from codegen.openflow import parse_nextpnr_log

    env = {**os.environ, **(env or {})}
    argv = nextpnr_command(build_dir, name, family, env)
    fmax = []
    for seed in seeds:
        tag = f"seed{seed}"
        cmd = [*_with_outputs(argv, tag), "--seed", str(seed)]
        subprocess.run(cmd, cwd=build_dir, env=env, check=True, capture_output=True)
        log = (Path(build_dir) / f"{tag}.tim").read_text()
        fmax.append(parse_nextpnr_log(log, family)["fmax_mhz"])
    return {"seeds": list(seeds), "fmax_mhz": fmax, "min": min(fmax),
            "median": statistics.median(fmax), "max": max(fmax)}
