"""The board catalog: lookup, capacities, lazy amaranth-boards platforms."""

import subprocess
import sys

import pytest

from boards import BOARDS, DEFAULT_BOARD, Board, board_names, get_board


def test_default_is_arty_a7_35():
    board = get_board(DEFAULT_BOARD)
    assert board.name == "arty_a7_35"
    assert board.capacity.bram36 == 50 and board.capacity.dsp == 90
    assert board.clock_mhz == 100.0


def test_unknown_board_lists_the_known_names():
    with pytest.raises(ValueError) as info:
        get_board("zedboard")
    msg = str(info.value)
    assert msg.startswith("board must be one of ") and msg.endswith("not 'zedboard'")
    for name in board_names():
        assert name in msg


def test_board_instance_passes_through():
    board = get_board("arty_a7_100")
    assert get_board(board) is board


def test_required_boards_are_present():
    names = set(board_names())
    assert {"arty_a7_35", "arty_a7_100", "arty_z7_20", "icebreaker"} <= names
    assert get_board("arty_z7_20").device == "xc7z020"  # the QS-NAS ZedBoard part
    assert any(b.family == "xcup" for b in BOARDS.values())  # one UltraScale+ board


@pytest.mark.parametrize("name", list(BOARDS))
def test_platform_class_matches_device(name):
    board = get_board(name)
    platform = board.platform()
    assert platform.device == board.device
    assert isinstance(board, Board)
    cap = board.capacity
    assert cap.lut > 0 and cap.ff > 0 and cap.dsp > 0 and cap.bram36 > 0
    assert board.static_power_w > 0 and board.clock_mhz > 0
    # the default clock is the platform's default clock resource
    clk = platform.default_clk
    freq = [r for r in platform.resources if r.name == clk][0].clock.frequency
    assert freq / 1e6 == pytest.approx(board.clock_mhz)


def test_icebreaker_block_ram_is_ebr_in_bram36_equivalents():
    cap = get_board("icebreaker").capacity
    assert cap.bram36 == pytest.approx(30 * 4096 / 36864)


def test_importing_boards_does_not_import_amaranth_boards():
    code = "import sys, boards; boards.get_board('arty_a7_35'); " \
           "print('amaranth_boards' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_as_dict_is_json_ready():
    import json

    d = get_board("rfsoc_4x2").as_dict()
    assert json.loads(json.dumps(d))["capacity"]["bram36"] == 1080


def test_capacity_exceeded_is_the_one_fit_check():
    cap = get_board("arty_a7_35").capacity
    assert cap.exceeded({"lut": 100, "ff": 100, "dsp": 90, "bram36": 50}) == []
    assert cap.exceeded({"lut": 100, "ff": 100, "dsp": 144, "bram36": 62.5}) == [
        "dsp 144 > 90", "bram36 62.5 > 50"]
    # None or missing is unknown (e.g. nextpnr-ice40 reports no separate flip-flops);
    # keys that are not capacities are ignored
    assert cap.exceeded({"lut": 30_000, "ff": None, "source": "yosys"}) == ["lut 30000 > 20800"]
    ice = get_board("icebreaker").capacity
    assert ice.exceeded({"bram36": 4.0}) == ["bram36 4 > 3.33333"]


def test_every_board_has_its_family_facts():
    from boards import FAMILIES, XILINX_LUTRAM_MAX_DEPTH, get_family

    assert list(FAMILIES) == ["xc7", "xcup", "ice40", "ecp5"]
    for board in BOARDS.values():
        family = get_family(board.family)
        assert isinstance(board, family)
        assert board.dsp_primitive and board.dsp_a_bits and board.dsp_min_product_bits
        assert board.block_ram_shapes and board.node_nm > 0 and board.core_volts > 0
        assert max(w * d for _, w, d, _ in board.block_ram_shapes) == board.block_ram_bits
        assert (board.open_flow is None) == (board.family in ("xc7", "xcup"))
    assert get_family("xc7").lutram_shapes[-1][2] == XILINX_LUTRAM_MAX_DEPTH == 64
    with pytest.raises(ValueError, match="family must be one of xc7, xcup, ice40, ecp5, "
                                         "not 'virtex4'"):
        get_family("virtex4")


@pytest.mark.parametrize("name", board_names())
def test_design_clock_is_the_oscillator_or_the_measured_pll_clock(name):
    """Vivado boards are priced at the oscillator they run from; open-flow boards at the
    PLL clock their family's designs closed at, below where the timing search starts."""
    board = get_board(name)
    if board.open_flow is None:
        assert board.design_clock_mhz == board.clock_mhz
    else:
        assert board.design_clock_mhz == board.open_flow.design_mhz
        assert board.clock_mhz < board.design_clock_mhz < board.open_flow.pll_start_mhz
