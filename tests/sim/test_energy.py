"""Energy model: constants anchored to their sources, and the expected trends."""

import math

import pytest

from sim.energy import (
    BREAKDOWN_KEYS,
    F_HARD,
    F_SOFT,
    add_pj,
    dsp_pj,
    energy_per_inference,
    memory_access_pj,
    mult_pj,
    sram_pj,
    tech_factor,
)
from sim.resources import estimate_resources

T7 = (28 / 45) * (1.0 / 0.9) ** 2


def test_tech_factor():
    assert tech_factor("xc7") == pytest.approx(T7)
    assert tech_factor("xcup") < tech_factor("xc7") < tech_factor("ice40")


def test_horowitz_anchors():
    # back at 45 nm / ASIC (divide out T and F) the cited figures come back exactly
    assert add_pj(8) / (T7 * F_SOFT) == pytest.approx(0.03)
    assert add_pj(32) / (T7 * F_SOFT) == pytest.approx(0.1)
    assert mult_pj(8) / (T7 * F_SOFT) == pytest.approx(0.2)
    assert mult_pj(32) / (T7 * F_SOFT) == pytest.approx(3.1)
    assert sram_pj(8192, 64) == pytest.approx(10.0)
    assert sram_pj(32768, 64) == pytest.approx(20.0)


def test_more_bits_cost_more_multiply_energy():
    lut = [mult_pj(q) for q in range(1, 9)]
    assert lut == sorted(lut) and lut[0] < lut[-1] / 30
    # a DSP slice costs the same for any narrow operand, more than a small LUT multiply
    assert mult_pj(4, in_dsp=True) == mult_pj(8, in_dsp=True)
    assert mult_pj(4, in_dsp=True) > mult_pj(3)
    assert mult_pj(4, in_dsp=True) == pytest.approx(0.8 * dsp_pj())
    assert dsp_pj() / (T7 * F_HARD) == pytest.approx(0.2 * (math.sqrt(25 * 18) / 8)
                                                      ** (math.log(15.5) / math.log(4)))


def test_memory_access_energy():
    # wider words and more enabled primitives cost more; depth alone (cascade) does not
    assert memory_access_pj(36, 1024) > memory_access_pj(9, 1024)
    assert memory_access_pj(18, 8192) == pytest.approx(memory_access_pj(18, 2048))
    assert memory_access_pj(144, 512) == pytest.approx(2 * memory_access_pj(72, 512))
    assert memory_access_pj(8, 32) < memory_access_pj(8, 1024) / 10  # LUT RAM


# ---- hand-written event counts of an ideal schedule (the cycle model's interface) ----

MACS = 200_000


def ideal(q, pe, mult, overhead=50):
    lanes = pe * mult
    cycles = -(-MACS // lanes) + overhead
    busy = -(-MACS // lanes)
    events = {
        "cycles": cycles, "mac_ops": MACS, "mult_ops": busy * lanes,
        "adder_ops": busy * pe * (mult - 1), "acc_updates": busy * pe,
        "requant_ops": 5000, "weight_reads": busy * pe, "weight_word_bits": mult * q,
        "act_reads": busy, "act_writes": 5000 // mult, "act_word_bits": mult * q,
        "param_reads": 100, "param_word_bits": 48, "active_pe_cycles": busy * pe,
    }
    memories = [
        {"name": "w", "kind": "weight", "width_bits": mult * q,
         "depth": max(-(-30_000 // (pe * mult)), 1), "instances": pe},
        {"name": "act", "kind": "act", "width_bits": mult * q,
         "depth": max(-(-12_544 // mult), 1), "instances": 2},
        {"name": "p", "kind": "param", "width_bits": 48, "depth": 112, "instances": 1},
    ]
    return events, memories


def run(q, pe, mult, board="arty_a7_35", **kw):
    events, memories = ideal(q, pe, mult)
    return energy_per_inference(events, memories, q, pe, mult, board, acc_bits=24, **kw)


def test_breakdown_sums_and_lower_bound():
    e = run(2, 4, 4)
    assert set(e["breakdown_uj"]) == set(BREAKDOWN_KEYS)
    assert sum(e["breakdown_uj"].values()) == pytest.approx(e["energy_uj"])
    assert e["dynamic_uj"] == pytest.approx(e["energy_uj"] - e["breakdown_uj"]["static"])
    assert 0 < e["compute_lb_uj"] <= e["breakdown_uj"]["mult"] < e["energy_uj"]
    assert e["overhead_ratio"] == pytest.approx(e["energy_uj"] / e["compute_lb_uj"])
    assert e["pj_per_mac"] == pytest.approx(e["energy_uj"] * 1e6 / MACS)
    assert all(v >= 0 for v in e["breakdown_uj"].values())


def test_static_energy_is_power_times_latency():
    e = run(2, 4, 4)
    cycles = ideal(2, 4, 4)[0]["cycles"]
    assert e["latency_us"] == pytest.approx(cycles / 100.0)
    assert e["breakdown_uj"]["static"] == pytest.approx(0.070 * cycles / 100e6 * 1e6)
    fast = run(2, 4, 4, clock_mhz=200)
    assert fast["breakdown_uj"]["static"] == pytest.approx(e["breakdown_uj"]["static"] / 2)
    assert fast["latency_us"] == pytest.approx(e["latency_us"] / 2)


def test_more_bits_more_energy_same_schedule():
    lut = [run(q, 4, 4) for q in (1, 2, 3)]
    assert [r["breakdown_uj"]["mult"] for r in lut] == sorted(r["breakdown_uj"]["mult"]
                                                             for r in lut)
    assert lut[0]["energy_uj"] < lut[1]["energy_uj"] < lut[2]["energy_uj"]
    dsp = [run(q, 4, 4, resources=estimate_resources(ideal(q, 4, 4)[1], q, 4, 4, "arty_a7_35",
                                                     acc_bits=24, mult_impl="dsp"))
           for q in (4, 8)]
    assert dsp[0]["mult_impl"] == dsp[1]["mult_impl"] == "dsp"
    # a DSP multiply costs the same at any q: the q × 8 first-pass lanes at q = 4 and 8;
    # the 8-bit q × q products at q = 4 stay in LUTs even as `*` (below mul2dsp's 9 bits)
    assert dsp[0]["mult_first_pj"] == pytest.approx(dsp[1]["mult_first_pj"])
    assert dsp[0]["mult_pj"] < dsp[1]["mult_pj"] == pytest.approx(dsp[1]["mult_first_pj"])
    assert dsp[0]["energy_uj"] < dsp[1]["energy_uj"]  # wider adds, memories


def test_more_pes_fewer_cycles_less_static_energy():
    one, many = run(2, 1, 4), run(2, 16, 4)
    assert ideal(2, 16, 4)[0]["cycles"] < ideal(2, 1, 4)[0]["cycles"]
    assert many["breakdown_uj"]["static"] < one["breakdown_uj"]["static"] / 10
    assert many["latency_us"] < one["latency_us"]
    # the multiplies themselves are the same work
    assert many["breakdown_uj"]["mult"] == pytest.approx(one["breakdown_uj"]["mult"])


def test_static_power_of_the_board_matters():
    arty, ice = run(2, 4, 4), run(2, 4, 4, board="icebreaker", clock_mhz=100)
    assert ice["breakdown_uj"]["static"] < arty["breakdown_uj"]["static"] / 100


def test_bad_clock():
    with pytest.raises(ValueError, match="clock_mhz must be a positive number, not 0.0"):
        run(2, 4, 4, clock_mhz=0)


def test_first_layer_multiplies_and_image_buffer_are_priced():
    events, memories = ideal(2, 4, 4)
    base = energy_per_inference(events, memories, 2, 4, 4, "arty_a7_35", acc_bits=24)
    events = dict(events, first_mult_ops=1000, first_mac_ops=900, image_reads=100,
                  image_writes=7056, image_word_bits=32)
    memories = memories + [{"name": "image", "kind": "image", "width_bits": 32,
                            "depth": 1568, "instances": 1}]
    e = energy_per_inference(events, memories, 2, 4, 4, "arty_a7_35", acc_bits=24)
    e_q8 = mult_pj(2, "xc7", act_bits=8)  # q-bit weight × 8-bit pixel, in LUTs
    assert mult_pj(2, "xc7") < e_q8 < mult_pj(8, "xc7")
    assert e["breakdown_uj"]["mult"] - base["breakdown_uj"]["mult"] == pytest.approx(
        1000 * e_q8 * 1e-6)
    assert e["compute_lb_uj"] == pytest.approx(
        ((MACS - 900) * mult_pj(2, "xc7") + 900 * e_q8) * 1e-6)
    # a loader write enables one byte lane: cheaper than a whole-word access
    byte = memory_access_pj(32, 1568, "xc7", bits_accessed=8)
    word = memory_access_pj(32, 1568, "xc7")
    assert 0 < byte < word
    assert e["breakdown_uj"]["act_bram"] - base["breakdown_uj"]["act_bram"] == pytest.approx(
        (100 * word + 7056 * byte) * 1e-6)


def test_registers_cost_energy_only_when_they_take_data():
    # control energy: every cycle for the control flip-flops, busy PE-cycles for a PE's
    # lane registers, first-pass busy cycles for its pixel lanes, one charge per
    # requantized output for the hand-over and requantizer stages
    events, memories = ideal(2, 4, 4)
    res = estimate_resources(memories, 2, 4, 4, "arty_a7_35", acc_bits=24, image_lanes=8)
    ffs = res.ff_groups
    assert sum(ffs.values()) == res.ff and min(ffs.values()) > 0

    def control(**changes):
        ev = dict(events, **changes)
        return energy_per_inference(ev, memories, 2, 4, 4, "arty_a7_35", acc_bits=24,
                                    resources=res)["breakdown_uj"]["control"]

    idle = control(active_pe_cycles=0, first_active_pe_cycles=0, requant_ops=0)
    bit = idle / (events["cycles"] * ffs["always"])  # µJ per flip-flop load
    assert bit * 1e6 == pytest.approx(0.03 / 8 * T7 * F_SOFT)  # one soft-logic bit (pJ)
    lanes = control(active_pe_cycles=400, first_active_pe_cycles=0, requant_ops=0)
    assert lanes - idle == pytest.approx(400 * ffs["lanes"] / 4 * bit)
    first = control(active_pe_cycles=400, first_active_pe_cycles=400, requant_ops=0)
    assert first - idle == pytest.approx(400 * ffs["first"] / 4 * bit)
    requant = control(active_pe_cycles=0, first_active_pe_cycles=0, requant_ops=30)
    assert requant - idle == pytest.approx(30 * ffs["requant"] / 4 * bit)


def test_weight_reuse_is_priced_by_its_events():
    """Weight reuse: the second accumulator's loads (``reuse_pe_steps``) and the waiting
    sums (``held_sums``) cost their flip-flops' bits; without reuse hardware the groups
    are absent and the events cost nothing."""
    events, memories = ideal(2, 4, 4)
    res = estimate_resources(memories, 2, 4, 4, "arty_a7_35", acc_bits=24, image_lanes=8,
                             reuse=True)
    plain = estimate_resources(memories, 2, 4, 4, "arty_a7_35", acc_bits=24, image_lanes=8)
    assert res.ff == plain.ff + res.ff_groups["reuse"] + res.ff_groups["held"]
    assert res.ff_groups["reuse"] == 4 * 24 and res.lut > plain.lut

    def control(resources, **changes):
        return energy_per_inference(dict(events, **changes), memories, 2, 4, 4, "arty_a7_35",
                                    acc_bits=24, resources=resources)["breakdown_uj"]["control"]

    idle = control(res)
    bit = (0.03 / 8 * T7 * F_SOFT) * 1e-6  # µJ per flip-flop load
    assert control(res, reuse_pe_steps=100) - idle == pytest.approx(100 * 24 * bit)
    held = res.ff_groups["held"] / 4
    assert control(res, held_sums=10) - idle == pytest.approx(10 * held * bit)
    assert control(plain, reuse_pe_steps=100, held_sums=10) == control(plain)
