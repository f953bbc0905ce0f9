"""The open flows' timing: nextpnr's per-domain report and the PLL timing search."""

from pathlib import Path

import pytest

import codegen.openflow as openflow
from boards import get_board
from codegen.openflow import clock_domains, parse_nextpnr_log

# nextpnr-ice40 0.x after routing: the design clock's name padded with spaces, a constant
# net promoted to a global buffer reported as a clock of its own (issue 15's bug: the
# old regex took the second line's 307.03 MHz for the design's fmax)
ICE40_LOG = """\
Info: Max frequency for clock             'clocking.pll_clk_$glb_clk': 38.02 MHz (FAIL at 60.00 MHz)
Info: Max frequency for clock '$PACKER_GND_NET_$glb_clk': 307.03 MHz (PASS at 12.00 MHz)
Info: \t         ICESTORM_LC:  3101/ 5280    58%
Info: Max frequency for clock             'clocking.pll_clk_$glb_clk': 40.13 MHz (FAIL at 60.00 MHz)
Info: Max frequency for clock '$PACKER_GND_NET_$glb_clk': 307.03 MHz (PASS at 12.00 MHz)
"""


def test_the_design_clock_is_read_never_a_constant_net():
    domains = clock_domains(ICE40_LOG)
    assert domains == {"clocking.pll_clk_$glb_clk": {"fmax_mhz": 40.13, "passed": False,
                                                     "constraint_mhz": 60.0}}
    r = parse_nextpnr_log(ICE40_LOG)
    assert (r["fmax_mhz"], r["passed"], r["clock_net"]) == (40.13, False,
                                                             "clocking.pll_clk_$glb_clk")
    assert r["utilization"]["lc"] == {"used": 3101, "available": 5280}


def test_a_log_without_a_clock_is_an_error():
    with pytest.raises(RuntimeError, match="no maximum frequency"):
        parse_nextpnr_log("Info: Max frequency for clock '$PACKER_VCC_NET': 500 MHz\n")


@pytest.mark.parametrize("board,fmaxes,clocks", [
    # misses at the start clock at each of its three seeds, then passes just below the
    # best fmax they measured (the second seed's), placed with that seed
    ("icebreaker", [39.9, 43.3, 40.7, 43.2], [60.0, 60.0, 60.0, 42.0]),
    ("ulx3s_85f", [108.26, 107.9], [150.0, 105.0]),
    # the best fmax (15.8 MHz) lies below the iCE40 PLL's 16 MHz: the oscillator, 12 MHz
    ("icebreaker", [15.8, 15.15, 15.22, 13.0], [60.0, 60.0, 60.0, 12.0]),
    # passes at once: one run
    ("ulx3s_85f", [160.0], [150.0]),
])
def test_timing_search_steps_the_pll_down_until_timing_passes(monkeypatch, tmp_path, board,
                                                               fmaxes, clocks):
    seen = []

    def fake_place_and_route(net, pe, mult, b, out, image, label, plan, env, impl,
                             seed=None):
        seen.append(plan.f_out_mhz if plan else board_clock)
        Path(out).mkdir(parents=True, exist_ok=True)
        return {"fmax_mhz": fmaxes[len(seen) - 1], "utilization": {}, "clock_net": "clk"}

    board_clock = get_board(board).clock_mhz
    monkeypatch.setattr(openflow, "tool_commands", lambda family: ({}, []))
    monkeypatch.setattr(openflow, "_place_and_route", fake_place_and_route)
    r = openflow.build_bitstream(None, 1, 2, get_board(board), tmp_path, None, 0)
    assert seen == pytest.approx(clocks, abs=0.01)
    assert r["clock_mhz"] == pytest.approx(clocks[-1], abs=0.01)
    assert r["clock_mhz"] <= r["fmax_mhz"]
    assert [a["passed"] for a in r["attempts"]] == [False] * (len(clocks) - 1) + [True]
    misses = r["attempts"][:-1]
    if misses:  # just below the best fmax of the last clock that missed
        assert clocks[-1] <= openflow.CLOCK_MARGIN * max(a["fmax_mhz"] for a in misses)
    seeds = [a["seed"] for a in r["attempts"]]
    assert (r["pll"] is None) == (clocks[-1] == board_clock)
    if board == "icebreaker":  # three seeds at the first clock, then the fastest one's
        fastest = [None, 1, 2][max(range(3), key=lambda i: fmaxes[i])]
        assert seeds == [None, 1, 2, fastest] and r["seed"] == fastest
    else:  # one placement per clock, nextpnr's own seed
        assert set(seeds) == {None} and r["seed"] is None


def test_timing_search_gives_up_with_the_numbers(monkeypatch, tmp_path):
    from common.cli import UserError

    monkeypatch.setattr(openflow, "tool_commands", lambda family: ({}, []))
    monkeypatch.setattr(openflow, "_place_and_route",
                        lambda *a: {"fmax_mhz": 0.5 * a[7].f_out_mhz, "utilization": {},
                                    "clock_net": "clk"})
    with pytest.raises(UserError, match=r"did not meet timing at 4 clocks \(last: "):
        openflow.build_bitstream(None, 1, 2, get_board("ulx3s_85f"), tmp_path, None, 0)


def test_a_design_slower_than_the_oscillator_is_refused(monkeypatch, tmp_path):
    from common.cli import UserError

    monkeypatch.setattr(openflow, "tool_commands", lambda family: ({}, []))
    monkeypatch.setattr(openflow, "_place_and_route",
                        lambda *a, **k: {"fmax_mhz": 11.0, "utilization": {},
                                         "clock_net": "clk"})
    with pytest.raises(UserError, match=r"cannot run on icebreaker: .* below the 12 MHz "
                                        r"oscillator; it routed at 11.00 MHz"):
        openflow.build_bitstream(None, 1, 2, get_board("icebreaker"), tmp_path, None, 0)


def test_design_clock_is_the_pll_or_the_oscillator():
    from common.cli import UserError

    board = get_board("icebreaker")
    assert openflow.design_clock(board, 30.0, []).f_out_mhz <= 30.0
    assert openflow.design_clock(board, 14.0, []) is None  # the PLL starts at 16 MHz
    with pytest.raises(UserError, match="below the 12 MHz oscillator"):
        openflow.design_clock(board, 11.9, [])
