"""Output-channel pairing (`hw.plan.pairs_channels`): the PE's two half sums against numpy
(Amaranth simulator), the plan's rule, and whole networks whose narrow passes pair."""

import numpy as np
import pytest

from hw.packing import pack_network, sub_lane_offset
from hw.pe import PE
from hw.plan import pair_lanes, plan_network, split_factors
from intnet.arch import LayerSpec as L
from intnet.arch import with_widths
from intnet.synthetic import random_network
from tests.hw.test_network import check_mixed
from tests.hw.test_units import _run

LANE_BITS = 8

# c2: a 3×3 conv reading 4 channels of 2 (or 4) bits, k = 4 (2) values a lane, so they
# fill at most half the lanes of M ≥ 2 (M ≥ 4 at k = 2): the other half takes a second
# output channel, 2P channels a group
PAIRED = [
    L("c1", "conv", (7, 5, 1), (7, 5, 4), 3, 1),
    L("c2", "conv", (7, 5, 4), (7, 5, 6), 3, 1),
    L("p2", "maxpool", (7, 5, 6), (3, 2, 6)),
    L("c3", "conv", (3, 2, 6), (3, 2, 5), 1, 1),
    L("fc", "dense", (30,), (4,)),
]
# a hidden dense layer over a 3-channel map (its kernel: 25 taps of one split word)
DENSE_PAIRED = [
    L("c1", "conv", (5, 5, 1), (5, 5, 3), 3, 1),
    L("fc0", "dense", (75,), (7,)),
    L("fc", "dense", (7,), (3,)),
]
# pixel-parallel depthwise (P ≥ M) and a paired conv in one design
DW_PAIRED = [
    L("c1", "conv", (7, 6, 1), (7, 6, 4), 3, 1),
    L("dw1", "dwconv", (7, 6, 4), (7, 6, 4), 3, 1),
    L("c2", "conv", (7, 6, 4), (4, 3, 5), 3, 2),
    L("fc", "dense", (60,), (3,)),
]


def _paired(plan) -> list[str]:
    return [p.name for p in plan.passes if p.pair]


@pytest.mark.parametrize("specs,bits,pe,mult,mode", [
    (PAIRED, [2, 2, 2, 8], 2, 2, "random"),
    (PAIRED, [2, 2, 2, 8], 3, 5, "max"),  # odd M: lane 4 idles in the paired pass
    (PAIRED, [2, 2, 2, 8], 1, 2, "min"),  # one PE, two channels a pixel
    (PAIRED, [4, 4, 4, 4], 2, 4, "random"),  # k = 2: two 4-bit values a lane
    (PAIRED, [2, 2, 2, 2], 2, 5, "max"),  # the paired pass writes 4 values a lane
    (DENSE_PAIRED, [2, 2, 8], 3, 3, "random"),
    (DW_PAIRED, [2, 2, 2, 8], 4, 2, "random"),
])
def test_paired_networks_match_golden(specs, bits, pe, mult, mode):
    plan = check_mixed(specs, bits, LANE_BITS, pe, mult, mode=mode, seed=sum(bits) + pe)
    assert _paired(plan) == ["fc0" if specs is DENSE_PAIRED else "c2"]
    paired = next(p for p in plan.passes if p.pair)
    assert len(paired.groups) == -(-paired.cout // (2 * pe))


def test_pairing_needs_half_the_sub_lanes_and_fewer_groups():
    specs = with_widths(PAIRED, [2, 2, 2, 8])
    # M = 1 has no half; 4 channels at k = 4 fill one lane, so M = 2 is enough
    assert _paired(plan_network(specs, 8, 2, 1)) == []
    assert _paired(plan_network(specs, 8, 2, 2)) == ["c2"]
    # 6 output channels on 6 PEs are one group already: nothing to gain
    assert _paired(plan_network(specs, 8, 6, 2)) == []
    # at k = 2 the 4 channels fill two lanes: M = 3 has one lane a half, M = 4 two
    wide = with_widths(PAIRED, [4, 4, 4, 4])
    assert _paired(plan_network(wide, 8, 2, 3)) == []
    assert _paired(plan_network(wide, 8, 2, 4)) == ["c2"]
    # whole lanes (uniform widths) never pair: the uniform hardware stays as it is
    assert _paired(plan_network(PAIRED, 8, 2, 2)) == []


def test_a_one_by_one_conv_is_not_paired():
    """A 1×1 conv over one split word takes one step a pixel; paired it would need two
    (the requantizer takes the two sums one after the other), so it keeps P channels."""
    specs = with_widths(PAIRED, [2, 2, 2, 8])
    plan = plan_network(specs, 8, 2, 5)  # c3: 6 channels at k = 4 fit 2 of 5 lanes
    assert not next(p for p in plan.passes if p.name == "c3").pair


def test_paired_weight_words_hold_two_channels():
    """PE j's word: channel cbase + j on the low half's sub-lanes, cbase + P + j on the
    high half's, each at its input channel's value; the parameters side by side."""
    specs = with_widths(PAIRED, [2, 2, 2, 8])
    net = random_network(specs, LANE_BITS, seed=5)
    P, M = 2, 4
    packed = pack_network(net, P, M, LANE_BITS)
    p = next(p for p in packed.plan.passes if p.pair)
    k, half = p.k_in, p.k_in * pair_lanes(M)
    w = np.asarray(net.layers[1].w)
    assert [g.cbase for g in p.groups] == [0, 4]  # 6 channels: 4 a group, the last 2 + 2 none
    for g in p.groups:
        for j in range(P):
            word = packed.weights[j][g.wbase + 4]  # tap (1, 1)
            for c, at in ((g.cbase + j, 0), (g.cbase + P + j, half)):
                for v in range(p.cin):
                    raw = word >> sub_lane_offset(at + v, LANE_BITS, k) & 3
                    assert raw - 4 * (raw >> 1) == (w[c, 1, 1, v] if c < p.cout else 0)
    assert packed.plan.params_per_word == 2


@pytest.mark.parametrize("pair", [1, 0])
@pytest.mark.parametrize("mults,k", [(2, 4), (5, 4), (4, 2), (8, 4)])
def test_pe_halves_feed_two_accumulators(mults, k, pair):
    """With ``pair`` the low lanes sum into ``acc`` and the rest into ``acc2``, each with
    its own bias; without, ``acc`` is the whole sum, as in an unpaired PE."""
    q, half = LANE_BITS, pair_lanes(mults)
    dut = PE(q, mults, 40, splits=split_factors(q), pair_lanes=half)
    rng = np.random.default_rng(mults * k + pair)
    sw = q // k
    lo, hi = -(1 << (sw - 1)), (1 << (sw - 1)) - 1
    steps = []  # (act word, weight word, low half's Σ w·a, high half's)
    for t in range(24):
        extreme = t % 4 == 0
        w = np.full(k * mults, lo) if extreme else rng.integers(lo, hi + 1, k * mults)
        a = np.full(k * mults, (1 << sw) - 1) if extreme else rng.integers(0, 1 << sw, k * mults)
        act = sum(int(x) << sub_lane_offset(p, q, k) for p, x in enumerate(a))
        weight = sum((int(x) & ((1 << sw) - 1)) << sub_lane_offset(p, q, k)
                     for p, x in enumerate(w))
        prods = w * a
        steps.append((act, weight, int(prods[:k * half].sum()), int(prods[k * half:].sum())))
    lag = 1 + dut.tree_stages

    async def bench(ctx):
        got = []
        for name, value in (("lane_en", (1 << mults) - 1), ("split", k.bit_length() - 1),
                            ("first", 1), ("pair", pair), ("bias", 100), ("bias2", -7)):
            ctx.set(getattr(dut, name), value)
        for t in range(len(steps) + lag):
            if t < len(steps):
                ctx.set(dut.act, steps[t][0])
                ctx.set(dut.weight, steps[t][1])
            ctx.set(dut.valid, int(t < len(steps)))
            if t >= lag:
                got.append((ctx.get(dut.acc), ctx.get(dut.acc2)))
            await ctx.tick()
        assert got == [(100 + low + (0 if pair else high), -7 + high)
                       for _, _, low, high in steps]

    _run(dut, bench)


def test_pe_rejects_pair_lanes_beyond_half():
    with pytest.raises(ValueError, match="pair_lanes must be an integer in 0..M // 2 = 2"):
        PE(8, 5, 32, splits=(1, 2, 4), pair_lanes=3)
