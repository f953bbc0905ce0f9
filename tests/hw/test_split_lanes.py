"""Unit benches of the scalable lane (`hw.pe.split_product`) and the per-pass requantizer
limit against numpy (Amaranth simulator): every (weight bits, activation bits) pair of
1..8 on an 8-bit lane, at the split `hw.plan.Pass` would give it, extremes included."""

import numpy as np
import pytest

from hw.packing import sub_lane_offset
from hw.pe import PE
from hw.plan import split_factors
from hw.requant import Requantizer
from intnet.contract import weight_range
from tests.hw.test_units import _run, golden_requantize, requantize_all

LANE_BITS = 8
PAIRS = [(w, a) for w in range(1, 9) for a in range(1, 9)]


def _split(w_bits: int, a_bits: int, q: int = LANE_BITS) -> int:
    """The most sub-lanes that hold both widths (`hw.plan._map_splits`)."""
    return max(k for k in split_factors(q) if q // k >= max(w_bits, a_bits))


def _cases(rng, w_bits, a_bits, values):
    """(weights, activations) vectors of ``values`` entries: extremes, then random."""
    lo, hi = weight_range(w_bits)
    amax = (1 << a_bits) - 1
    out = [(np.full(values, hi), np.full(values, amax)),
           (np.full(values, lo), np.full(values, amax)),
           (np.full(values, lo), np.zeros(values, int))]
    for _ in range(6):
        w = rng.choice([-1, 1], values) if w_bits == 1 else rng.integers(lo, hi + 1, values)
        out.append((w, rng.integers(0, amax + 1, values)))
    return out


@pytest.mark.parametrize("mults", [1, 3])
def test_split_lanes_match_numpy_for_every_width_pair(mults):
    q = LANE_BITS
    dut = PE(q, mults, 40, splits=split_factors(q))
    rng = np.random.default_rng(mults)
    steps = []  # (split log2, act word, weight word, Σ w·a)
    for w_bits, a_bits in PAIRS:
        k = _split(w_bits, a_bits)
        for w, a in _cases(rng, w_bits, a_bits, k * mults):
            act = sum(int(x) << sub_lane_offset(p, q, k) for p, x in enumerate(a))
            weight = sum((int(x) & ((1 << (q // k)) - 1)) << sub_lane_offset(p, q, k)
                         for p, x in enumerate(w))
            steps.append((k.bit_length() - 1, act, weight, int(np.dot(w, a))))
    lag = 1 + dut.tree_stages

    async def bench(ctx):
        got = []
        ctx.set(dut.lane_en, (1 << mults) - 1)
        ctx.set(dut.bias, 0)
        for t in range(len(steps) + lag):
            if t < len(steps):
                split, act, weight, _ = steps[t]
                ctx.set(dut.split, split)
                ctx.set(dut.act, act)
                ctx.set(dut.weight, weight)
                ctx.set(dut.first, 1)
            ctx.set(dut.valid, int(t < len(steps)))
            if t >= lag:
                got.append(ctx.get(dut.acc))
            await ctx.tick()
        assert got == [s[3] for s in steps]

    _run(dut, bench)
    assert {_split(w, a) for w, a in PAIRS} == {1, 2, 4}


def test_split_factors_keep_two_bit_sub_lanes():
    assert [split_factors(q) for q in range(1, 9)] == [
        (1,), (1,), (1,), (1, 2), (1, 2), (1, 2), (1, 2), (1, 2, 4)]


def test_pe_rejects_a_split_narrower_than_two_bits():
    with pytest.raises(ValueError, match="splits must be"):
        PE(4, 2, 32, splits=(1, 4))


@pytest.mark.parametrize("out_bits", range(1, 9))
def test_requantizer_clamps_at_the_pass_width(out_bits):
    acc_bits = 36
    dut = Requantizer(acc_bits, LANE_BITS, clamp=True)
    rng = np.random.default_rng(out_bits)
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    cases = [(a, 65535, n) for a in (lo, hi, 0, 1, -1) for n in (1, 9, 62)]
    cases += [(int(a), int(m), int(n)) for a, m, n in zip(
        rng.integers(-(1 << 20), 1 << 20, 80), rng.integers(0, 1 << 16, 80),
        rng.integers(1, 24, 80), strict=True)]

    async def bench(ctx):
        ctx.set(dut.top, (1 << out_bits) - 1)
        results = await requantize_all(ctx, dut, cases)
        assert results == golden_requantize(cases, out_bits)
        assert max(results) == (1 << out_bits) - 1  # the limit is reached, not just obeyed

    _run(dut, bench)


@pytest.mark.parametrize("mults", [1, 3])
def test_sub_lane_accumulators_keep_each_channel_apart(mults):
    """Pixel-parallel depthwise passes reading split words (`hw.plan.Plan.dwp_split`):
    with ``sub_lanes`` each lane keeps the sums of its k sub-lanes apart (sub-lane 0 in
    ``lane_acc``, the others in ``sub_acc``, each from its own bias), k = 2 and 4 on one
    PE built for both, extremes included; without it the lane sums its whole product."""
    q, taps, kd = LANE_BITS, 9, 4
    dut = PE(q, mults, 40, lane_accumulators=True, splits=(1, 2, 4), lane_splits=(2, 4))
    rng = np.random.default_rng(mults)
    pixels = []  # (split log2, sub_lanes, [(act, weight)] per tap, biases, want[lane][i])
    for k, a_bits, w_bits, sub in [(4, 2, 2, 1), (2, 4, 3, 1), (2, 4, 4, 1), (1, 8, 8, 0)]:
        for w_all, a_all in _cases(rng, w_bits, a_bits, taps * k * mults)[:5]:
            w = w_all.reshape(taps, mults * k)
            a = a_all.reshape(taps, mults * k)
            bias = rng.integers(-2**31, 2**31, (mults, kd))
            steps = [(sum(int(x) << sub_lane_offset(p, q, k) for p, x in enumerate(a[t])),
                      sum((int(x) & ((1 << (q // k)) - 1)) << sub_lane_offset(p, q, k)
                          for p, x in enumerate(w[t]))) for t in range(taps)]
            sums = (w * a).sum(axis=0).reshape(mults, k)  # value p = lane·k + i
            want = [[int(bias[lane, i] + sums[lane, i]) for i in range(k)] if sub else
                    [int(bias[lane, 0] + sums[lane].sum())] for lane in range(mults)]
            pixels.append((k.bit_length() - 1, sub, steps, bias, want))

    async def bench(ctx):
        ctx.set(dut.lane_en, (1 << mults) - 1)
        ctx.set(dut.lane_mode, 1)
        for split, sub, steps, bias, want in pixels:
            ctx.set(dut.split, split)
            ctx.set(dut.sub_lanes, sub)
            for lane in range(mults):
                ctx.set(dut.lane_bias[lane], int(bias[lane, 0]))
                for i in range(kd - 1):
                    ctx.set(dut.sub_bias[lane][i], int(bias[lane, i + 1]))
            for t, (act, weight) in enumerate(steps):
                ctx.set(dut.act, act)
                ctx.set(dut.weight, weight)
                ctx.set(dut.first, int(t == 0))
                ctx.set(dut.valid, 1)
                await ctx.tick()
            ctx.set(dut.valid, 0)  # the last step's sums show in the next cycle
            for lane in range(mults):
                got = [ctx.get(dut.lane_acc[lane])] + [
                    ctx.get(dut.sub_acc[lane][i]) for i in range(len(want[lane]) - 1)]
                assert got == want[lane], (split, sub, lane)
            await ctx.tick()

    _run(dut, bench)


def test_pe_rejects_sub_lanes_without_lane_accumulators():
    with pytest.raises(ValueError, match="lane_splits must be"):
        PE(8, 2, 32, splits=(1, 4), lane_splits=(4,))
    with pytest.raises(ValueError, match="lane_splits must be"):
        PE(8, 2, 32, lane_accumulators=True, splits=(1, 2), lane_splits=(4,))
