"""Resource estimate: memory mapping, DSP rule, LUT/FF trends and the fit check."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boards import get_board
from sim.energy import memory_access_pj
from sim.resources import (
    adder_tree,
    estimate_resources,
    map_memory,
    mult_in_dsp,
    plan_facts,
)


@pytest.mark.parametrize("width, depth, prim, port, tiles, rows", [
    (8, 1000, "RAMB18E1", 9, 0.5, 1),     # 2K x 9 holds 1000 bytes
    (16, 2048, "RAMB18E1", 18, 1.0, 2),   # two 1K x 18 halves, one enabled per access
    (64, 512, "RAMB36E1", 72, 1.0, 1),    # simple dual port 512 x 72
    (1, 32768, "RAMB18E1", 1, 1.0, 2),    # 2 x (16K x 1) rather than one 32K x 1
    (36, 1024, "RAMB18E1", 36, 1.0, 2),   # the RAMB18's 512 x 36 simple dual port
    (32, 4096, "RAMB18E1", 36, 4.0, 8),   # 8 x (512 x 36) cascaded
    (8, 8192, "RAMB18E1", 9, 2.0, 4),     # 4 x (2K x 9) rather than 2 x (8K x 4)
    (40, 512, "RAMB36E1", 72, 1.0, 1),    # 40 bits: the 512 x 72 shape (no mixed split)
    (18, 8192, "RAMB18E1", 18, 4.0, 8),   # 4 tiles either way; a 2 x 2 split enables 2
])
def test_xilinx_bram_mapping_enables_one_primitive(width, depth, prim, port, tiles, rows):
    # the power decomposition: one primitive per access, the smallest that can do it,
    # at no more tiles than the area-optimal split in these cases
    mp = map_memory(width, depth, "xc7")
    assert (mp.kind, mp.primitive, mp.port_width) == ("bram", prim, port)
    assert mp.bram36 == tiles and mp.active_per_access == 1 and mp.rows == rows
    assert mp.columns * mp.port_width >= width and mp.rows * mp.prim_depth >= depth


def test_power_mapping_may_spend_tiles_for_energy():
    # iCE40, 9 x 1281: five 2048 x 2 EBR side by side (all five enabled) are the fewest
    # blocks; six 256 x 16 in a cascade enable one, at a sixth of the access energy
    mp = map_memory(9, 1281, "ice40")
    assert (mp.port_width, mp.columns, mp.rows) == (16, 1, 6)
    assert memory_access_pj(9, 1281, "ice40") < 5 * memory_access_pj(2, 2048, "ice40") / 4


def test_shallow_memories_go_to_lutram():
    mp = map_memory(32, 64, "xc7")
    assert mp.kind == "lutram" and mp.bram36 == 0 and mp.luts == 4 * 11  # RAM64M: 3 bits
    mp = map_memory(32, 20, "xcup")
    assert mp.kind == "lutram" and mp.luts == 4 * 6  # RAM32M: 6 bits


def test_ice40_maps_to_ebr_in_bram36_equivalents():
    mp = map_memory(16, 600, "ice40")
    assert mp.primitive == "SB_RAM40_4K" and mp.rows == 3
    assert mp.bram36 == pytest.approx(3 * 4096 / 36864)
    assert map_memory(8, 8, "ice40").kind == "ff"


def test_ecp5_maps_to_dp16kd_halves_and_distributed_ram():
    mp = map_memory(36, 512, "ecp5")
    assert mp.primitive == "DP16KD" and mp.columns * mp.rows == 1 and mp.bram36 == 0.5
    mp = map_memory(16, 3000, "ecp5")  # 3 × 1K×18 deep, or 4 × 4K×4 wide: 3 wins
    assert (mp.columns, mp.rows, mp.bram36) == (1, 3, 1.5)
    small = map_memory(10, 16, "ecp5")
    assert small.kind == "lutram" and small.primitive == "TRELLIS_DPR16X4"
    assert small.luts == 4 * 3  # three 4-bit-wide distributed RAMs


def test_map_memory_validates():
    with pytest.raises(ValueError, match="family must be one of xc7, xcup, ice40, ecp5, "
                                         "not 'virtex4'"):
        map_memory(8, 1024, "virtex4")
    with pytest.raises(ValueError, match="positive width and depth"):
        map_memory(0, 1024, "xc7")


def test_dsp_rule_follows_yosys_product_width():
    # a `*` lane lands in a DSP when its product reaches the family's threshold:
    # synth_xilinx from 9 bits, synth_ice40 from 11; q = 1 is a negate, never a multiply
    assert [mult_in_dsp(q, "xc7") for q in range(1, 9)] == [False] + [True] * 7  # q × 8
    assert [mult_in_dsp(q, "ice40") for q in range(1, 9)] == [False] * 2 + [True] * 6
    assert [mult_in_dsp(q, "xc7", q) for q in range(1, 9)] == [False] * 4 + [True] * 4


def test_adder_tree():
    assert adder_tree(8, 1) == (0, 16, 0.0)  # signed 8 × unsigned 8: 16 bits
    assert adder_tree(1, 1) == (0, 9, 0.0)  # ±a, a < 256
    adders, out_bits, mean = adder_tree(8, 16)
    assert adders == 15 and out_bits == 16 + 4
    assert 17 <= mean <= 20
    assert adder_tree(2, 5)[0] == 4


MEMS = [
    {"name": "weights", "kind": "weight", "width_bits": 16, "depth": 2048, "instances": 4},
    {"name": "act", "kind": "act", "width_bits": 16, "depth": 4096, "instances": 2},
    {"name": "params", "kind": "param", "width_bits": 48, "depth": 40, "instances": 1},
]


def test_bram_and_dsp_counts():
    res = estimate_resources(MEMS, 8, 4, 2, "arty_a7_35", acc_bits=24, mult_impl="dsp")
    assert res.bram36 == 4 * 1.0 + 2 * 2.0  # 2K x 18 per weight memory, 2 per act buffer
    # one DSP per lane (M = F = 2 at q = 8) + two per requantizer (16-bit pieces of 24)
    assert res.dsp == 4 * (2 + 2) + 4 * 2
    assert res.lutram_luts == 48  # params: a 40-word ROM, one LUT6 a bit (`rom_luts`)
    small = estimate_resources(MEMS, 8, 4, 2, "arty_a7_35", acc_bits=24)  # shift-add lanes
    assert small.dsp == 4 * 2 and not small.mult_dsp  # only the requantizers


def test_luts_grow_with_array_and_bits():
    base = estimate_resources(MEMS, 2, 4, 4, "arty_a7_35", acc_bits=20)
    assert estimate_resources(MEMS, 2, 8, 4, "arty_a7_35", acc_bits=20).lut > base.lut
    assert estimate_resources(MEMS, 2, 4, 8, "arty_a7_35", acc_bits=20).lut > base.lut
    assert estimate_resources(MEMS, 3, 4, 4, "arty_a7_35", acc_bits=20).lut > base.lut
    assert estimate_resources(MEMS, 2, 8, 4, "arty_a7_35", acc_bits=20).ff > base.ff


def test_mult_impl_override():
    lut = estimate_resources(MEMS, 8, 4, 4, "arty_a7_35", acc_bits=24, mult_impl="lut")
    dsp = estimate_resources(MEMS, 8, 4, 4, "arty_a7_35", acc_bits=24, mult_impl="dsp")
    assert not lut.mult_dsp and lut.dsp == 4 * 2 and lut.lut > dsp.lut
    assert dsp.mult_dsp and dsp.dsp == 4 * (4 + 4) + 4 * 2
    # q = 2: the 4-bit q × q products stay in LUTs even as `*`; the 10-bit first-pass
    # ones go to DSPs
    two = estimate_resources(MEMS, 2, 4, 4, "arty_a7_35", acc_bits=24, mult_impl="dsp")
    assert two.dsp == 4 * 4 + 4 * 2 and two.lanes[1].dsp and not two.lanes[0].dsp
    with pytest.raises(ValueError, match="mult_impl must be one of auto, lut, dsp"):
        estimate_resources(MEMS, 2, 4, 4, "arty_a7_35", mult_impl="fabric")


def test_requantizer_dsps_follow_slice_width():
    # two 16-bit pieces of a 32-bit accumulator x the unsigned 16-bit m: a DSP48E1
    # (25 x 18, two's complement: m takes 17 bits) or an SB_MAC16 (16 x 16 with a
    # signedness flag per port: m takes 16) each; nextpnr placed 2 SB_MAC16 per PE
    # (docs/energy.md), the estimate said 4 before it knew the flag
    assert estimate_resources([], 2, 1, 1, "arty_a7_35", acc_bits=32).dsp == 2
    assert estimate_resources([], 2, 1, 1, "icebreaker", acc_bits=32).dsp == 2
    assert estimate_resources([], 2, 1, 1, "ulx3s_85f", acc_bits=48).dsp == 3


def test_fit_check_names_the_numbers():
    big = [{"name": "w", "kind": "weight", "width_bits": 36, "depth": 1024, "instances": 60}]
    res = estimate_resources(big, 8, 16, 8, "arty_a7_35", acc_bits=24, mult_impl="dsp")
    assert not res.fits("arty_a7_35")
    assert res.over("arty_a7_35") == ["dsp 288 > 90", "bram36 60 > 50"]
    assert res.fits("rfsoc_4x2")
    assert res.as_dict() == {"lut": res.lut, "ff": res.ff, "dsp": 288, "bram36": 60.0}


@settings(max_examples=300, deadline=None)
@given(width=st.integers(1, 300), depth=st.integers(1, 70_000),
       family=st.sampled_from(["xc7", "xcup", "ice40"]))
def test_mapping_always_holds_the_memory(width, depth, family):
    mp = map_memory(width, depth, family)
    assert mp.columns * mp.port_width >= width
    assert mp.rows * mp.prim_depth >= depth
    if mp.kind == "bram":
        ceil = lambda a, b: -(-a // b)  # noqa: E731
        # never fewer tiles than the bits need (36,864 bits per BRAM36-equivalent) ...
        assert mp.bram36 * 36864 >= width * depth - 1e-6
        # ... and no more columns or tiles than a cascade of the smallest primitive's
        # widest shape (RAMB18 512 x 36, EBR 256 x 16), which the energy rule would take
        # rather than anything costlier
        port, deep, tile = (16, 256, 4096 / 36864) if family == "ice40" else (36, 512, 0.5)
        assert mp.columns <= ceil(width, port)
        assert mp.bram36 <= ceil(width, port) * ceil(depth, deep) * tile + 1e-9
    else:
        assert mp.bram36 == 0
    # a wider word never costs less per access: the memory energy falls with q
    assert memory_access_pj(width, depth, family) <= memory_access_pj(width + 1, depth, family)


def test_lutram_depth_boundary():
    # hw/rom.py leaves ROMs up to this depth to LUT mapping: the estimate agrees
    from boards import XILINX_LUTRAM_MAX_DEPTH

    for family in ("xc7", "xcup"):
        assert map_memory(8, XILINX_LUTRAM_MAX_DEPTH, family).kind == "lutram"
        assert map_memory(8, XILINX_LUTRAM_MAX_DEPTH + 1, family).kind == "bram"


# ----------------------------------------------------------- pixel-parallel passes


def _design(arch: str, s: float, q: int, pe: int, mult: int):
    """The network's layers, its cycle model as `search.design` computes it for
    ``evaluate``, and the model's pixel-parallel facts."""
    from intnet.arch import network_specs
    from search.design import _cycle_model

    layers = tuple(network_specs(arch, s, (28, 28, 1), 10))
    cm = _cycle_model(layers, q, pe, mult, False)
    return layers, cm, (cm["pixel_parallel"], cm["dwp_summing"])


@pytest.mark.parametrize("q, pe, mult, yosys_lut, ff", [
    # Yosys 0.23 synth_xilinx LUT sites of these designs (docs/energy.md, "Measured against
    # Yosys"), and the estimate's flip-flops, which the LUT re-fit left as they were
    (2, 8, 8, 3_796, 4_904), (4, 8, 8, 5_690, 5_848), (2, 16, 8, 5_655, 8_616),
    (2, 8, 4, 3_394, 4_496), (2, 4, 8, 2_605, 3_048),
])
def test_vgg_estimate_against_yosys(q, pe, mult, yosys_lut, ff):
    # at or a little above the synthesized count: a design the estimate fits, fits
    from search.design import evaluate

    layers, _, (parallel, summing) = _design("vgg", 0.5, q, pe, mult)
    assert not parallel and not summing
    row = evaluate(layers, q, pe, mult, "arty_a7_35", mult_impl="lut", weight_reuse=False)
    assert yosys_lut <= row["lut"] <= 1.25 * yosys_lut and row["ff"] == ff


@pytest.mark.parametrize("arch, s", [("vgg", 0.25), ("vgg", 1), ("mobilenet", 0.5)])
@pytest.mark.parametrize("q", [1, 2, 8])
def test_no_pixel_parallel_term_without_such_passes(arch, s, q):
    # every vgg array, and mobilenet with P < M: the term is absent, the estimate is
    # what it is without the new arguments, and no flip-flop group is added
    from intnet.contract import accumulator_bits
    from search.design import _resources

    for pe in (1, 2, 4, 8, 16, 24):
        for mult in (1, 2, 4, 8, 16, 24):
            if arch == "mobilenet" and pe >= mult:
                continue
            layers, cm, dwp = _design(arch, s, q, pe, mult)
            assert dwp == (False, False)
            assert cm["events"]["dwp_pe_cycles"] == cm["events"]["dwp_requant_ops"] == 0
            res = _resources(layers, cm, q, pe, mult, get_board("arty_a7_35"), "lut")
            plain = estimate_resources(
                cm["memories"], q, pe, mult, "arty_a7_35", acc_bits=accumulator_bits(layers, q),
                mult_impl="lut", image_lanes=cm["image_lanes"],
                splits=tuple(cm["lane_splits"]), paired=cm["channel_pairs"],
                dwp_split=cm["dwp_lane_split"], reuse=cm["weight_reuse"],
                depthwise_lanes=cm["depthwise_lanes"])
            assert (res.lut, res.ff, res.ff_groups) == (plain.lut, plain.ff, plain.ff_groups)
            assert not {"dwp_lanes", "dwp_out"} & set(res.ff_groups)


def test_pixel_parallel_term_grows_with_array():
    def extra(pe, mult, summing=True):
        on = estimate_resources(MEMS, 2, pe, mult, "arty_a7_35", acc_bits=33,
                                pixel_parallel=True, summing=summing, addr_bits=12)
        off = estimate_resources(MEMS, 2, pe, mult, "arty_a7_35", acc_bits=33)
        assert on.ff == off.ff + on.ff_groups["dwp_lanes"] + on.ff_groups["dwp_out"]
        return on.lut - off.lut, on.ff - off.ff

    base = extra(4, 4)
    # at least the lane accumulators: P·M registers of the accumulator's width
    assert base[0] >= 4 * 4 * 33 and base[1] >= 2 * 4 * 4 * 33
    for bigger in (extra(8, 4), extra(4, 8), extra(16, 8)):
        assert bigger[0] > base[0] and bigger[1] > base[1]
    assert extra(16, 8)[0] > extra(8, 8)[0] > extra(8, 4)[0]
    # the summing average pool's sum over the P PEs is LUTs
    assert extra(8, 8, summing=False)[0] < extra(8, 8)[0]
    assert extra(8, 8, summing=False)[1] == extra(8, 8)[1]


def test_mobilenet_pixel_parallel_priced_above_same_array_without():
    from intnet.contract import accumulator_bits
    from search.design import _resources, evaluate

    board = get_board("arty_a7_35")
    layers, cm, dwp = _design("mobilenet", 0.5, 4, 8, 8)
    assert dwp[0] and dwp[1]  # depthwise passes and the global average pool
    res = _resources(layers, cm, 4, 8, 8, board, "lut")
    without = _resources(layers, cm | {"pixel_parallel": False, "dwp_summing": False}, 4, 8,
                         8, board, "lut")
    lanes = 8 * 8 * accumulator_bits(layers, 4)  # the P·M lane accumulators alone
    assert res.lut > without.lut + lanes and res.ff > without.ff + 2 * lanes
    # P < M: no pixel-parallel pass, priced like before
    assert not _design("mobilenet", 0.5, 4, 4, 8)[2][0]
    row = evaluate(layers, 4, 8, 8, board, mult_impl="lut", weight_reuse=False)
    assert (row["lut"], row["ff"]) == (res.lut, res.ff)


def test_rom_in_lut6_logic():
    from sim.resources import rom_luts

    assert rom_luts(18, 1) == 0  # one word: constants
    assert rom_luts(54, 9) == 27  # two bits a LUT6 site up to 32 words
    assert rom_luts(48, 40) == 48 and rom_luts(48, 64) == 48


def _first_rom(arch, s, P, M):
    from intnet.arch import network_specs, with_widths
    from sim.cycles import cycle_model

    specs = with_widths(network_specs(arch, s, (28, 28, 1), 10), 2)
    cm = cycle_model(specs, 2, P, M)
    return cm, next(m for m in cm["memories"] if m["kind"] == "first_weight")


@pytest.mark.parametrize("s, P, M, holding, one, two, more", [
    (0.5, 8, 8, 8, 72, 0, 0),  # 8 channels, 9 taps on 9 lanes: one weight a lane
    (0.5, 16, 8, 8, 72, 0, 0),  # PEs 8 … 15 hold no channel
    (0.5, 4, 8, 4, 0, 36, 0),  # two channels a PE: two weights a lane
    (0.25, 4, 4, 4, 28, 4, 0),  # 9 taps on 8 lanes: lane 0 carries taps 0 and 8
    (0.5, 2, 8, 2, 0, 0, 18),  # four channels a PE
])
def test_first_lane_weights(s, P, M, holding, one, two, more):
    _, rom = _first_rom("vgg", s, P, M)
    assert (rom["holding"], rom["const_lanes"], rom["pair_lanes"], rom["var_lanes"]) == \
        (holding, one, two, more)


def test_first_lanes_fold_on_lut6_only():
    # the same design with every first lane holding many weights costs more on the Arty
    # (6-input LUTs); the 4-input-LUT families keep their structural count either way
    cm, rom = _first_rom("vgg", 0.5, 8, 8)
    unfolded = [dict(m, const_lanes=0, var_lanes=m["const_lanes"]) if m is rom else m
                for m in cm["memories"]]
    kw = dict(acc_bits=33, image_lanes=cm["image_lanes"])
    for board, cheaper in (("arty_a7_35", True), ("icebreaker", False), ("ulx3s_85f", False)):
        folded = estimate_resources(cm["memories"], 2, 8, 8, board, **kw).lut
        plain = estimate_resources(unfolded, 2, 8, 8, board, **kw).lut
        assert (folded < plain) == cheaper and folded <= plain


@pytest.mark.parametrize("arch, pe, mult, merged", [
    ("vgg", 8, 8, True), ("vgg", 24, 24, True),  # no depthwise pass: one enable per lane
    ("mobilenet", 4, 8, False),                  # P < M: depthwise passes use own lanes
])
def test_lane_enables_merge_without_depthwise_lanes(arch, pe, mult, merged):
    # `hw.operands` gives PE j the enable of lane v as own_channel & (v < cin), where
    # own_channel is 1 outside MODE_DW passes: without one, the P copies are one signal
    # on LUT6 fabric (Yosys: 77 LUT at 24 × 24 against 1,231 with the mode free)
    from intnet.contract import accumulator_bits

    layers, cm, _ = _design(arch, 0.5, 2, pe, mult)
    assert cm["depthwise_lanes"] is not merged

    def lut(board, depthwise_lanes):
        return estimate_resources(
            cm["memories"], 2, pe, mult, board, acc_bits=accumulator_bits(layers, 2),
            mult_impl="lut", **(plan_facts(cm) | {"depthwise_lanes": depthwise_lanes})).lut

    assert lut("arty_a7_35", True) - lut("arty_a7_35", False) == pe * mult - mult
    # the 4-input-LUT families keep their structural count
    assert lut("ulx3s_85f", True) == lut("ulx3s_85f", False)


def test_dsp_lanes_keep_products_in_the_slice():
    # on DSP48 fabric a DSP lane's product and first pair sum are the slice's M and P
    # registers, not fabric flip-flops (Yosys, vgg q 8 s 0.25 4 × 4: 1,189 fewer FFs with
    # DSP lanes, these registers being 1,200); shift-add lanes keep them in fabric
    from hw.arith import product_bits

    def ff(board, impl):
        return estimate_resources(MEMS, 8, 4, 4, board, acc_bits=24, mult_impl=impl).ff

    prod = product_bits(8, 8)
    per_pe_hidden = 4 * prod + 2 * (prod + 2)
    assert ff("arty_a7_35", "lut") - ff("arty_a7_35", "dsp") >= 4 * per_pe_hidden
    # an ECP5's DSP lanes (4-input LUTs) are priced with their registers, as shift-add
    assert ff("ulx3s_85f", "lut") == ff("ulx3s_85f", "dsp")


def test_plan_facts_are_every_plan_argument_of_the_estimate():
    # a plan fact the estimate takes but plan_facts leaves out would silently keep its
    # default in search.design (a test calling by hand went stale that way once)
    import inspect

    from intnet.arch import network_specs, with_widths
    from sim.cycles import cycle_model

    cm = cycle_model(with_widths(network_specs("mobilenet", 0.5, (28, 28, 1), 10), 4), 4, 8, 8)
    given = set(plan_facts(cm))
    per_point = {"memories", "q", "pe_count", "mults_per_pe", "board", "acc_bits",
                 "requantizers", "mult_impl", "num_classes"}
    assert given == set(inspect.signature(estimate_resources).parameters) - per_point
