"""The PLL plans (divider search inside the data sheets' ranges) and the board tops that
instantiate them."""

import numpy as np
import pytest

from boards import get_board
from codegen.board import NAME, prepare
from hw.clocking import plan_clock
from intnet import golden
from intnet.synthetic import family_network


def _check_ice40(plan, f_in):
    p = plan.params
    pfd = f_in / (p["DIVR"] + 1)
    vco = pfd * (p["DIVF"] + 1)
    assert 10 <= pfd <= 133 and 533 <= vco <= 1066 and 1 <= p["DIVQ"] <= 6
    return vco / 2 ** p["DIVQ"]


def _check_ecp5(plan, f_in):
    p = plan.params
    out = f_in / p["CLKI_DIV"] * p["CLKFB_DIV"]
    assert f_in / p["CLKI_DIV"] >= 3.125 and 400 <= out * p["CLKOP_DIV"] <= 800
    assert 1 <= p["CLKFB_DIV"] <= 80 and 1 <= p["CLKOP_DIV"] <= 128
    return out


def _check_mmcm(plan, f_in, vco_range):
    p = plan.params
    pfd = f_in / p["DIVCLK_DIVIDE"]
    vco = pfd * p["CLKFBOUT_MULT_F"]
    assert 10 <= pfd <= 450 and vco_range[0] <= vco <= vco_range[1]
    return vco / p["CLKOUT0_DIVIDE_F"]


@pytest.mark.parametrize("family,f_in,target", [
    ("ice40", 12, 60), ("ice40", 12, 40), ("ice40", 12, 39.3), ("ice40", 12, 16.5),
    ("ecp5", 25, 150), ("ecp5", 25, 103.4), ("ecp5", 25, 75),
    ("xc7", 100, 100), ("xc7", 100, 142.7), ("xcup", 100, 300),
])
def test_plan_is_the_highest_clock_the_ranges_allow(family, f_in, target):
    plan = plan_clock(family, f_in, target)
    if family == "ice40":
        out = _check_ice40(plan, f_in)
    elif family == "ecp5":
        out = _check_ecp5(plan, f_in)
    else:
        out = _check_mmcm(plan, f_in, (600, 1200) if family == "xc7" else (800, 1600))
    assert out == pytest.approx(plan.f_out_mhz) and plan.f_out_mhz <= target
    assert plan.f_out_mhz >= 0.95 * target  # these PLLs reach within 5 % of any target
    if target == f_in * round(target / f_in):
        assert plan.f_out_mhz == target  # an integer multiple is hit exactly


@pytest.mark.parametrize("family,f_in,target,message", [
    ("ice40", 12, 10, "the ice40 PLL cannot make 10 MHz or less from 12 MHz"),
    ("virtex2", 100, 100, "no PLL plan for family 'virtex2'"),
])
def test_unreachable_plans_are_refused(family, f_in, target, message):
    with pytest.raises(ValueError, match=message):
        plan_clock(family, f_in, target)


@pytest.mark.parametrize("board,primitive,params", [
    ("icebreaker", "SB_PLL40_PAD", ("DIVF", "DIVQ")),
    ("ulx3s_85f", "EHXPLLL", ("CLKFB_DIV", "CLKOP_DIV")),
    ("arty_a7_35", "MMCME2_BASE", ("CLKFBOUT_MULT_F", "CLKOUT0_DIVIDE_F")),
])
def test_board_top_runs_from_the_pll(board, primitive, params):
    b = get_board(board)
    net = family_network("vgg", 2, 0.25, (8, 8, 1), num_classes=10)
    image = np.zeros((8, 8, 1), np.uint8)
    label = int(golden.classify(golden.run(net, image[None]))[0])
    plan = plan_clock(b.family, b.clock_mhz, {"ice40": 36, "ecp5": 90, "xc7": 125}[b.family])
    platform, top, _ = prepare(net, 1, 2, b, image, label, clock=plan)
    files = platform.build(top, name=NAME, do_build=False, emit_src=False).files
    # Vivado's plan holds the Verilog, the open flows' the RTLIL
    netlist = files.get(f"{NAME}.v") or files[f"{NAME}.il"]
    netlist = netlist if isinstance(netlist, str) else netlist.decode()
    assert primitive in netlist
    for name in params:  # the planned divider settings are the primitive's parameters
        assert f".{name}({plan.params[name]}" in netlist or \
            f"parameter \\{name} {plan.params[name]}" in netlist
    constraints = "".join(v if isinstance(v, str) else v.decode()
                          for k, v in files.items() if k.endswith((".pcf", ".lpf", ".xdc")))
    f = plan.f_out_mhz  # the design clock is constrained at the PLL's output
    assert {"ice40": f"set_frequency clocking.pll_clk {f!r}",
            "ecp5": f'FREQUENCY NET "clocking.pll_clk" {f * 1e6!r} HZ;',
            "xc7": f'create_clock -name pll_clk -period {1000 / f!r} [get_nets '
                   f'"clocking/pll_clk"]'}[b.family] in constraints
