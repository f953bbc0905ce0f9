"""Unit benches of the PE, adder tree and requantizer against numpy (Amaranth simulator)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.pe import PE, AdderTree
from hw.requant import Requantizer
from intnet.golden import requantize


def _run(dut, bench, clock=True):
    sim = Simulator(dut)
    if clock:
        sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("width,count", [(4, 1), (5, 3), (9, 8), (17, 7)])
def test_adder_tree_random_and_extremes(width, count):
    dut = AdderTree(width, count)
    rng = np.random.default_rng(width * count)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    cases = [np.full(count, lo), np.full(count, hi)]
    cases += [rng.integers(lo, hi + 1, size=count) for _ in range(40)]

    async def bench(ctx):
        for vec in cases:
            for i, v in enumerate(vec):
                ctx.set(dut.inputs[i], int(v))
            assert ctx.get(dut.sum) == int(vec.sum())

    _run(dut, bench, clock=False)


def _encode(w, q):
    return (1 if w > 0 else 0) if q == 1 else int(w) & ((1 << q) - 1)


@pytest.mark.parametrize("q,mults,act_bits", [(1, 1, 1), (1, 8, 8), (2, 5, 8), (3, 3, 8),
                                              (2, 3, 2), (4, 4, 8), (5, 3, 6), (8, 2, 8),
                                              (8, 7, 8)])
def test_pe_matches_numpy(q, mults, act_bits):
    acc_bits = 40
    dut = PE(q, mults, acc_bits, act_bits)
    rng = np.random.default_rng(q * 100 + mults)
    wlo, whi = (-1, 1) if q == 1 else (-((1 << (q - 1)) - 1), (1 << (q - 1)) - 1)
    pixels = []
    for mode in ("max", "min", "random", "random", "random"):
        steps = int(rng.integers(1, 5))
        rows = []
        for _ in range(steps):
            if mode == "random":
                w = rng.choice([-1, 1], mults) if q == 1 else rng.integers(wlo, whi + 1, mults)
                a = rng.integers(0, 1 << act_bits, mults)
                en = rng.integers(0, 2, mults)
            else:
                w = np.full(mults, whi if mode == "max" else wlo)
                a = np.full(mults, (1 << act_bits) - 1)
                en = np.ones(mults, int)
            rows.append((w, a, en))
        bias = int(rng.integers(-(1 << 31), 1 << 31)) if mode == "random" else (
            (1 << 31) - 1 if mode == "max" else -(1 << 31))
        pixels.append((rows, bias))

    # one step per cycle; the accumulator shows step i's sum 1 + T cycles later; the bias
    # of its pixel is presented the cycle before (a pixel's bias stays until its last
    # step is in the accumulator)
    steps, want, expect = [], [], 0
    for rows, bias in pixels:
        for i, (w, a, en) in enumerate(rows):
            expect = (bias if i == 0 else expect) + int(
                sum(int(w[k]) * int(a[k]) * en[k] for k in range(mults)))
            steps.append((w, a, en, i == 0, bias))
            want.append(expect)
    lag = 1 + dut.tree_stages

    async def bench(ctx):
        got = []
        for t in range(len(steps) + lag):
            if t < len(steps):
                w, a, en, first, _ = steps[t]
                ctx.set(dut.act, sum(int(x) << (act_bits * k) for k, x in enumerate(a)))
                ctx.set(dut.weight, sum(_encode(x, q) << (q * k) for k, x in enumerate(w)))
                ctx.set(dut.lane_en, sum(int(x) << k for k, x in enumerate(en)))
                ctx.set(dut.first, int(first))
            ctx.set(dut.valid, int(t < len(steps)))
            if lag - 1 <= t < len(steps) + lag - 1:
                ctx.set(dut.bias, steps[t - lag + 1][4])
            if t >= lag:
                assert ctx.get(dut.acc_valid) == 1
                got.append(ctx.get(dut.acc))
            await ctx.tick()
        assert got == want

    _run(dut, bench)


@pytest.mark.parametrize("q", [1, 2, 4, 8])
def test_requantizer_matches_golden(q):
    acc_bits = 36
    dut = Requantizer(acc_bits, q)
    rng = np.random.default_rng(q)
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    accs = [lo, hi, 0, -1, 1] + [int(x) for x in rng.integers(lo, hi, 60)]
    ms = [65535, 0, 1] + [int(x) for x in rng.integers(0, 1 << 16, 60)]
    ns = [1, 62, 31] + [int(x) for x in rng.integers(1, 63, 60)]
    cases = [(a, m, n) for a in accs[:5] for m in ms[:3] for n in ns[:3]]
    cases += list(zip(accs[5:], ms[3:], ns[3:], strict=True))

    async def bench(ctx):
        assert await requantize_all(ctx, dut, cases) == golden_requantize(cases, q)

    _run(dut, bench)


async def requantize_all(ctx, dut, cases) -> list[int]:
    """The `Requantizer`'s outputs for ``(acc, m, n)`` ``cases`` fed one a cycle, in order,
    after its pipeline drains."""
    results = []
    for i in range(len(cases) + dut.latency):
        if i < len(cases):
            a, m_, n_ = cases[i]
            ctx.set(dut.acc, a)
            ctx.set(dut.m, m_)
            ctx.set(dut.n, n_)
        ctx.set(dut.valid, int(i < len(cases)))
        await ctx.tick()
        if ctx.get(dut.y_valid):
            results.append(ctx.get(dut.y))
    return results


def golden_requantize(cases, out_bits: int) -> list[int]:
    return [int(requantize(np.array([a]), np.array([m_]), np.array([n_]), out_bits)[0])
            for a, m_, n_ in cases]
