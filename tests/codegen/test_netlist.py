"""codegen.netlist: the cell libraries it compiles, and our one cell model.

The end-to-end netlist simulations (the iCE40 CI design in CI, the ECP5 one with
--runslow) are in tests/codegen/test_build.py.
"""

import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from codegen import netlist
from codegen.rtl import verilator_bin

DATA = Path(__file__).parent / "data"
DATDIR = netlist.yosys_datdir(netlist.yosys_command()) if netlist.yosys_command() else None
needs_yosys = pytest.mark.skipif(DATDIR is None, reason="no Yosys share folder")


@needs_yosys
@pytest.mark.parametrize("family,cells", [("ice40", ("SB_LUT4", "SB_RAM40_4K", "SB_MAC16")),
                                          ("ecp5", ("LUT4", "DP16KD", "MULT18X18D"))])
def test_the_cell_library_is_whole(family, cells):
    text = netlist.cell_library(family, DATDIR)
    assert "`include" not in text, "include files are inlined"
    for cell in cells:
        assert len(re.findall(rf"^module\s+{cell}\b", text, flags=re.M)) == 1, cell
    # every cell the accelerator's netlists use has behaviour (Yosys's ECP5 DP16KD is a
    # declaration only: ours replaces it)
    uses = "".join(f"  {cell} #(\n  ) \\u{i} (\n  );\n" for i, cell in enumerate(cells))
    assert netlist.cells_without_behaviour(uses, text) == []


def test_a_cell_without_behaviour_is_refused():
    """A cell whose library module only declares its ports would read as constant 0 in
    simulation: the netlist simulation names it instead of running."""
    library = ("module DECL(input A, output Z);\n  parameter P = 0;\nendmodule\n"
               "module BUF(input A, output Z); assign Z = A; endmodule\n"
               "module WRAP(input A, output Z); (* keep *) BUF b (.A(A), .Z(Z)); endmodule\n")
    used = "  DECL #(\n    .P(1)\n  ) u0 (\n  );\n  BUF \\u1.x  (\n  );\n  WRAP u2 (\n  );\n"
    assert netlist.cells_without_behaviour(used, library) == ["DECL"]
    assert netlist.cells_without_behaviour("  BUF u1 (\n  );\n", library) == []


def _ports(name: str, width: int, value: int) -> str:
    return ", ".join(f".{name}{i}({value}[{i}])" for i in range(width))


def test_our_mult18x18d_model_multiplies_like_python(tmp_path):
    """The ECP5 DSP model against Python's products: extremes and random operands, each
    operand signed or unsigned."""
    rng = random.Random(4)
    extremes = [0, 1, 0x1FFFF, 0x20000, 0x3FFFF, 0x155AA]
    vectors = [(sa, sb, a, b) for sa in (0, 1) for sb in (0, 1) for a in extremes
               for b in extremes]
    vectors += [(rng.randint(0, 1), rng.randint(0, 1), rng.getrandbits(18),
                 rng.getrandbits(18)) for _ in range(200)]
    (tmp_path / "vectors.hex").write_text(
        "".join(f"{(sa << 37) | (sb << 36) | (a << 18) | b:010x}\n" for sa, sb, a, b in vectors))
    tb = f"""
module tb;
    reg [37:0] vec [0:{len(vectors) - 1}];
    reg sa, sb;
    reg [17:0] a, b;
    wire [35:0] p;
    MULT18X18D dut({_ports("A", 18, "a")}, {_ports("B", 18, "b")},
                   {_ports("P", 36, "p")}, .SIGNEDA(sa), .SIGNEDB(sb),
                   .SOURCEA(1'b0), .SOURCEB(1'b0));
    integer i;
    initial begin
        $readmemh("vectors.hex", vec);
        for (i = 0; i < {len(vectors)}; i = i + 1) begin
            {{sa, sb, a, b}} = vec[i];
            #1 $display("p=%h", p);
        end
        $finish;
    end
endmodule
"""
    (tmp_path / "tb.v").write_text(tb)
    model = netlist.CELLS_DIR / "ecp5_mult18x18d.v"
    build = subprocess.run([verilator_bin(), "--binary", "-Wno-fatal", "--top-module", "tb",
                            "-CFLAGS", "-std=c++20 -fcoroutines",
                            "-Mdir", "obj", "tb.v", str(model)], cwd=tmp_path,
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    run = subprocess.run(["obj/Vtb"], cwd=tmp_path, capture_output=True, text=True)
    got = [int(line[2:], 16) for line in run.stdout.split() if line.startswith("p=")]

    def product(signed, a, b):
        sa, sb = signed
        a = a - (1 << 18) if sa and a >> 17 else a
        b = b - (1 << 18) if sb and b >> 17 else b
        return (a * b) & ((1 << 36) - 1)

    want = [product((sa, sb), a, b) for sa, sb, a, b in vectors]
    assert got == want


def _verilate_and_run(tmp_path, top: str, sources: list) -> str:
    """Compile ``sources`` in Verilator with ``top`` as the top and run it; its stdout."""
    from sim.rtl import MAKE_VARS  # a split build needs the precompiled-header variable

    build = subprocess.run([verilator_bin(), "--binary", "-Wno-fatal", "-Wno-MULTITOP",
                            "--top-module", top, "-CFLAGS", "-std=c++20 -fcoroutines",
                            "-Mdir", "obj", *map(str, sources)], cwd=tmp_path,
                           capture_output=True, text=True,
                           env={**os.environ, "MAKEFLAGS": MAKE_VARS})
    assert build.returncode == 0, build.stderr[-2000:]
    return subprocess.run([f"obj/V{top}"], cwd=tmp_path, capture_output=True,
                          text=True).stdout


@needs_yosys
def test_ecp5_block_ram_netlist_reads_like_its_rtl(tmp_path):
    """synth_ecp5 maps every memory of data/ecp5_memories.v to a DP16KD (data widths 1, 2,
    4, 9, 18 and the 36-bit simple dual port, the three write modes); the netlist,
    simulated with the cell library netlist.py compiles, returns what the RTL returns on
    40,000 random cycles of reads and byte-enabled writes. (Yosys's own DP16KD is a
    declaration without behaviour: every read was 0 and every ECP5 logit differed.)"""
    rng = random.Random(1)
    for name, depth, width in [("m1", 16384, 1), ("m2", 8192, 2), ("m4", 4096, 4),
                               ("m9", 2048, 9), ("m18", 1000, 18), ("m36", 512, 36),
                               ("mw", 1024, 18), ("mt", 1024, 18), ("mn", 2048, 9)]:
        (tmp_path / f"{name}.mem").write_text(
            "".join(f"{rng.getrandbits(width):x}\n" for _ in range(depth)))
    shutil.copy(DATA / "ecp5_memories.v", tmp_path)
    netlist.synthesize([tmp_path / "ecp5_memories.v"], "memories", tmp_path, "ecp5", "",
                       tmp_path / "net.v", tmp_path / "yosys.log")
    text = (tmp_path / "net.v").read_text()
    widths = re.findall(r"DATA_WIDTH_A\(32'd(\d+)\)", text)
    assert sorted(map(int, widths)) == [1, 2, 4, 9, 9, 18, 18, 18, 36]  # all in block RAM
    for mode in ("NORMAL", "WRITETHROUGH", "READBEFOREWRITE"):
        assert f'WRITEMODE_A("{mode}")' in text, mode
    (tmp_path / "rtl.v").write_text((DATA / "ecp5_memories.v").read_text().replace(
        "module memories(", "module memories_rtl("))
    (tmp_path / "cells.v").write_text(netlist.cell_library("ecp5", DATDIR))
    out = _verilate_and_run(tmp_path, "tb", [DATA / "ecp5_memories_tb.v", "net.v", "rtl.v",
                                             "cells.v"])
    reads, bad = map(int, re.search(r"reads (\d+) mismatching (\d+)", out).groups())
    assert reads > 19000 and bad == 0, out[-1500:]
