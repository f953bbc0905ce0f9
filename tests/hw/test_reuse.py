"""Weight reuse (docs/hardware.md, "Weight reuse"): the PE's rotating accumulators
against numpy (Amaranth simulator)."""

import numpy as np
import pytest
from amaranth.lib import data

from hw.handover import PixelQueue
from hw.pe import PE
from tests.hw.test_units import _run


def _interleaved(rng, q: int, mults: int, pixels: int, steps: int, groups: int):
    """Issued cycles of ``groups`` super-pixels of ``pixels`` interleaved pixels, each
    pixel ``steps`` steps (step s of pixel 0, of pixel 1, …), with idle cycles between
    super-pixels; and every pixel's expected sum (its bias + Σ w·a)."""
    lo, hi = -(1 << (q - 1)) + 1, (1 << (q - 1)) - 1
    cycles, sums = [], []
    for g in range(groups):
        extreme = g % 3 == 0
        w = (np.full((pixels, steps, mults), lo) if extreme
             else rng.integers(lo, hi + 1, (pixels, steps, mults)))
        a = (np.full((pixels, steps, mults), (1 << q) - 1) if extreme
             else rng.integers(0, 1 << q, (pixels, steps, mults)))
        bias = [int(b) for b in rng.integers(-1000, 1000, pixels)]
        for s in range(steps):
            for r in range(pixels):
                cycles.append(dict(
                    act=sum(int(x) << (q * lane) for lane, x in enumerate(a[r, s])),
                    weight=sum((int(x) & ((1 << q) - 1)) << (q * lane)
                               for lane, x in enumerate(w[r, s])),
                    first=int(s == 0), last=s == steps - 1, bias=bias[r]))
        sums += [bias[r] + int((w[r] * a[r]).sum()) for r in range(pixels)]
        cycles += [None] * (g % 2)  # a bubble now and then
    return cycles, sums


@pytest.mark.parametrize("mults,reuse,pixels,steps", [
    (3, 2, 2, 4), (8, 4, 4, 3), (4, 4, 2, 5), (5, 2, 1, 3), (1, 2, 2, 2), (2, 4, 3, 1)])
def test_rotating_accumulators_keep_interleaved_pixels_apart(mults, reuse, pixels, steps):
    """R = ``pixels`` interleaved pixels on a PE built for up to ``reuse``: each pixel's
    sum (with its own bias, loaded the cycle before its first step arrives) appears in
    ``acc`` at its last step, as if it had run alone."""
    q = 4
    dut = PE(q, mults, 40, reuse=reuse)
    cycles, sums = _interleaved(np.random.default_rng(mults * 31 + pixels), q, mults,
                                pixels, steps, 5)
    lag, T = 1 + dut.tree_stages, dut.tree_stages

    async def bench(ctx):
        ctx.set(dut.lane_en, (1 << mults) - 1)
        ctx.set(dut.pixels, pixels - 1)
        got = []
        for t in range(len(cycles) + lag):
            step = cycles[t] if t < len(cycles) else None
            ctx.set(dut.valid, int(step is not None))
            if step is not None:
                for name in ("act", "weight", "first"):
                    ctx.set(getattr(dut, name), step[name])
            ahead = cycles[t - T] if 0 <= t - T < len(cycles) else None
            if ahead is not None:  # the bias of the step one cycle before its adder
                ctx.set(dut.bias, ahead["bias"])
            behind = cycles[t - lag] if t >= lag else None
            if behind is not None and behind["last"]:
                assert ctx.get(dut.acc_valid)
                got.append(ctx.get(dut.acc))
            await ctx.tick()
        assert got == sums

    _run(dut, bench)


def test_pe_rejects_reuse_below_one():
    with pytest.raises(ValueError, match="reuse must be a positive integer, not 0"):
        PE(4, 2, 32, reuse=0)


@pytest.mark.parametrize("depth,burst,period,gap", [
    (1, 2, 6, 0), (1, 2, 6, 2), (3, 4, 12, 2), (3, 4, 8, 1), (3, 2, 4, 1), (1, 1, 3, 2)])
def test_pixel_queue_hands_over_in_order_and_spaced(depth, burst, period, gap):
    """Bursts of ``burst`` pixels on consecutive cycles every ``period`` cycles leave in
    order, each as early as the spacing allows: cycle max(its arrival, the previous one's
    departure + gap + 1), registered one cycle later."""
    layout = data.StructLayout({"x": 16})
    dut = PixelQueue(layout, depth, 3)
    arrivals = [t * period + i for t in range(6) for i in range(burst)]
    expected, free = [], 0
    for t in arrivals:
        leave = max(t, free)
        expected.append(leave + 1)
        free = leave + gap + 1

    async def bench(ctx):
        ctx.set(dut.gap, gap)
        got = []
        for t in range(arrivals[-1] + depth * (gap + 1) + 3):
            ctx.set(dut.i_valid, int(t in arrivals))
            ctx.set(dut.i_data.x, 100 + t)
            if ctx.get(dut.o_valid):
                got.append((t, ctx.get(dut.o_data.x)))
            await ctx.tick()
        assert got == [(when, 100 + t) for when, t in zip(expected, arrivals, strict=True)]

    _run(dut, bench)


def test_pixel_queue_rejects_depth_zero():
    with pytest.raises(ValueError, match="depth must be a positive integer, not 0"):
        PixelQueue(data.StructLayout({"x": 1}), 0, 1)
