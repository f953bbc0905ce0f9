"""Yosys synth_xilinx resource estimate: counts cells of a known small design."""

import numpy as np
import pytest

from codegen.synth import parse_stat, summarize, synth_xilinx, yosys_available

VERILOG = """
module top(input clk, input [7:0] a, input [7:0] b, input [9:0] addr,
           output reg [15:0] y, output reg [17:0] r);
  reg [17:0] mem [0:1023];
  initial $readmemh("w.mem", mem);
  always @(posedge clk) begin y <= a * b; r <= mem[addr]; end
endmodule
"""


@pytest.mark.skipif(not yosys_available(), reason="yosys not installed (.ci/run installs it)")
def test_synth_counts_dsp_bram_and_ffs(tmp_path):
    (tmp_path / "t.v").write_text(VERILOG)
    words = np.random.default_rng(0).integers(0, 1 << 18, 1024)
    (tmp_path / "w.mem").write_text("\n".join(f"{w:05x}" for w in words) + "\n")
    result = synth_xilinx([tmp_path / "t.v"], "top", tmp_path)
    assert result.dsp == 1  # the 8×8 multiply
    assert result.bram36 == 0.5  # 1024×18 bits = one RAMB18E1
    # the DSP48 and the BRAM absorb both output registers: no fabric left
    assert (result.ff, result.lut) == (0, 0)
    assert result.logic_depth is not None and result.logic_depth >= 1


def test_a_yosys_that_stops_early_with_status_0_is_an_error(tmp_path, monkeypatch):
    """YoWASP's Yosys can end inside ABC with exit status 0 (no -q, this machine): a log
    without "End of script" is refused, not read as a result."""
    from codegen.synth import SynthJob

    fake = tmp_path / "yosys"
    fake.write_text("#!/bin/sh\n"
                    "while [ $# -gt 0 ]; do [ \"$1\" = -l ] && log=$2; shift; done\n"
                    "printf '   Number of cells:   3\\n     LUT6   3\\n' > \"$log\"\n"
                    "exit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("YOSYS", str(fake))
    (tmp_path / "t.v").write_text(VERILOG)
    with pytest.raises(RuntimeError, match="stopped before the end of its script"):
        SynthJob([tmp_path / "t.v"], "top", tmp_path).result(timeout=60)


@pytest.mark.parametrize("ending, message", [
    # the kernel's out-of-memory killer sends SIGKILL, with nothing on stderr
    ("kill -9 $$", r"killed by SIGKILL \(out of memory\?.*\n.*ABC: starting"),
    ("echo 'ERROR: no such module' >&2; exit 1",
     r"failed \(exit status 1\).*\n.*ERROR: no such module"),
])
def test_a_yosys_that_fails_says_how(tmp_path, monkeypatch, ending, message):
    from codegen.synth import SynthJob

    fake = tmp_path / "yosys"
    fake.write_text("#!/bin/sh\n"
                    "while [ $# -gt 0 ]; do [ \"$1\" = -l ] && log=$2; shift; done\n"
                    "echo 'ABC: starting' > \"$log\"\n"
                    f"{ending}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("YOSYS", str(fake))
    (tmp_path / "t.v").write_text(VERILOG)
    with pytest.raises(RuntimeError, match=message) as info:
        SynthJob([tmp_path / "t.v"], "top", tmp_path).result(timeout=60)
    assert str(tmp_path / "yosys_synth.log") in str(info.value)


def test_parse_stat_reads_the_last_block():
    log = """
   Number of cells:                  3
     FDRE                            1
     LUT6                            2

   Number of cells:                 10
     DSP48E1                         2
     FDRE                            4
     LUT6                            3
     RAMB36E1                        1

End of script.
"""
    cells = parse_stat(log)
    assert cells == {"DSP48E1": 2, "FDRE": 4, "LUT6": 3, "RAMB36E1": 1}
    # the format of Yosys >= 0.5x (the YoWASP build of the toolchain from PyPI)
    new = """
       35 cells
        1   BUFG
        2   DSP48E1
        4   FDRE
        3   LUT6
        1   RAMB36E1
       17   IBUF

End of script.
"""
    assert parse_stat(new) == {"BUFG": 1, "DSP48E1": 2, "FDRE": 4, "LUT6": 3, "RAMB36E1": 1,
                               "IBUF": 17}
    s = summarize(cells)
    assert (s.lut, s.ff, s.dsp, s.bram36) == (3, 4, 2, 1.0)


def test_summarize_counts_lut_sites():
    """Distributed RAM counts the LUT sites it takes (a RAM64M four, a RAM32X1D two, a
    shift register one), as the estimate and Vivado's "LUT as Memory" do."""
    s = summarize({"LUT6": 10, "RAM64M": 3, "RAM32X1D": 2, "SRLC32E": 5, "FDRE": 7})
    assert (s.lutram, s.lut, s.ff) == (3 * 4 + 2 * 2 + 5, 10 + 21, 7)
    with pytest.raises(ValueError, match="RAM999X1S"):
        summarize({"RAM999X1S": 1})
