"""codegen.netlist: the cell libraries it compiles, and our one cell model.

The end-to-end netlist simulations (the iCE40 CI design in CI, the ECP5 one with
--runslow) are in tests/codegen/test_build.py.
"""

import random
import subprocess

import pytest

from codegen import netlist
from codegen.rtl import verilator_bin

DATDIR = netlist.yosys_datdir(netlist.yosys_command()) if netlist.yosys_command() else None
needs_yosys = pytest.mark.skipif(DATDIR is None, reason="no Yosys share folder")


@needs_yosys
@pytest.mark.parametrize("family,cells", [("ice40", ("SB_LUT4", "SB_RAM40_4K", "SB_MAC16")),
                                          ("ecp5", ("LUT4", "DP16KD", "MULT18X18D"))])
def test_the_cell_library_is_whole(family, cells):
    text = netlist.cell_library(family, DATDIR)
    assert "`include" not in text, "include files are inlined"
    for cell in cells:
        assert f"module {cell}" in text, cell


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
