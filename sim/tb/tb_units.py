"""cocotb unit benches of the PE (both accumulate modes), the adder tree and the
requantizer against numpy / `intnet.golden.requantize`, random data plus extremes; the
split lanes for every (weight bits, activation bits) pair up to q, their two half sums
when a pass pairs output channels, and the requantizer's per-pass limit for every output
width up to q (per-layer widths).

Top level: `hw.unit_bench.UnitBench`; its parameters come through the environment
(``QSNAS_Q``, ``QSNAS_M``, ``QSNAS_ACC``, ``QSNAS_ACT_BITS``, ``QSNAS_TREE_W``,
``QSNAS_TREE_N``), set by `sim.rtl.run_unit_benches`.
"""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, Timer

from hw.packing import sub_lane_offset
from hw.plan import REQUANT_LATENCY, pair_lanes, split_factors, tree_stages
from intnet.contract import weight_range
from intnet.golden import requantize

Q = int(os.environ.get("QSNAS_Q", "3"))
M = int(os.environ.get("QSNAS_M", "5"))
ACC = int(os.environ.get("QSNAS_ACC", "40"))
ACT_BITS = int(os.environ.get("QSNAS_ACT_BITS", "8"))
TREE_W = int(os.environ.get("QSNAS_TREE_W", "9"))
TREE_N = int(os.environ.get("QSNAS_TREE_N", "7"))


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) & 1 else value


def _pack(values, bits: int) -> int:
    return sum((int(v) & ((1 << bits) - 1)) << (bits * i) for i, v in enumerate(values))


def _encode_weight(w: int) -> int:
    return (1 if w > 0 else 0) if Q == 1 else int(w) & ((1 << Q) - 1)


async def _reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.pe__valid.value = 0
    dut.rq__valid.value = 0
    dut.spe__valid.value = 0
    dut.crq__valid.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0


@cocotb.test()
async def adder_tree_matches_numpy(dut):
    rng = np.random.default_rng(1)
    lo, hi = -(1 << (TREE_W - 1)), (1 << (TREE_W - 1)) - 1
    cases = [np.full(TREE_N, lo), np.full(TREE_N, hi)]
    cases += [rng.integers(lo, hi + 1, TREE_N) for _ in range(50)]
    for vec in cases:
        dut.tree__inputs.value = _pack(vec, TREE_W)
        await Timer(1, unit="ns")
        width = TREE_W + (TREE_N - 1).bit_length()
        assert _signed(int(dut.tree__sum.value.to_unsigned()), width) == int(vec.sum())


@cocotb.test()
async def requantizer_matches_golden(dut):
    await _reset(dut)
    rng = np.random.default_rng(2)
    lo, hi = -(1 << (ACC - 1)), (1 << (ACC - 1)) - 1
    cases = [(a, mm, n) for a in (lo, hi, 0, -1, 1) for mm in (0, 1, 65535) for n in (1, 31, 62)]
    cases += [(int(a), int(mm), int(n)) for a, mm, n in zip(
        rng.integers(lo, hi, 100), rng.integers(0, 1 << 16, 100), rng.integers(1, 63, 100),
        strict=True)]
    assert await _requantize_all(dut, "rq", cases) == _golden_requantize(cases, Q)


async def _requantize_all(dut, port: str, cases) -> list[int]:
    """The outputs of the requantizer ``port`` (``rq``, ``crq``) for ``(acc, m, n)``
    ``cases`` fed one a cycle, in order, after its pipeline drains."""
    def sig(name):
        return getattr(dut, f"{port}__{name}")

    got = []
    for i in range(len(cases) + REQUANT_LATENCY):
        if i < len(cases):
            a, mm, n = cases[i]
            sig("acc").value = a & ((1 << ACC) - 1)
            sig("m").value = mm
            sig("n").value = n
        sig("valid").value = int(i < len(cases))
        await RisingEdge(dut.clk)
        await ReadOnly()
        if int(sig("y_valid").value):
            got.append(int(sig("y").value))
        await Timer(1, unit="ns")
    return got


def _golden_requantize(cases, out_bits: int) -> list[int]:
    return [int(requantize(np.array([a]), np.array([mm]), np.array([n]), out_bits)[0])
            for a, mm, n in cases]


def _pe_steps(rng, wmax):
    """Pixels of random and extreme steps: per step (w, a, en, first, bias)."""
    steps = []
    for mode in ("max", "min", "random", "random", "random", "random"):
        if mode == "random":
            bias = [int(b) for b in rng.integers(-(1 << 31), 1 << 31, M)]
        else:
            bias = [(1 << 31) - 1 if mode == "max" else -(1 << 31)] * M
        for s in range(int(rng.integers(1, 6))):
            if mode == "random":
                w = rng.choice([-1, 1], M) if Q == 1 else rng.integers(-wmax, wmax + 1, M)
                a = rng.integers(0, 1 << ACT_BITS, M)
                en = rng.integers(0, 2, M)
            else:
                w = np.full(M, wmax if mode == "max" else (-1 if Q == 1 else -wmax))
                a = np.full(M, (1 << ACT_BITS) - 1)
                en = np.ones(M, int)
            steps.append((w, a, en, s == 0, bias))
    return steps


@cocotb.test()
async def pe_matches_numpy(dut):
    """Adder-tree mode (one sum per pixel) and per-lane mode (depthwise), with lane
    enables, random and extreme operands, one step a cycle: the lane sums show one
    cycle after a step, the accumulator 1 + T cycles after (T tree registers)."""
    await _reset(dut)
    rng = np.random.default_rng(3)
    wmax = 1 if Q == 1 else (1 << (Q - 1)) - 1
    lag = 1 + tree_stages(M)
    for lane_mode in (0, 1):
        steps = _pe_steps(rng, wmax)
        want_acc, want_lanes, acc, lanes = [], [], 0, [0] * M
        for w, a, en, first, bias in steps:
            prods = [int(w[k]) * int(a[k]) * int(en[k]) for k in range(M)]
            acc = (bias[0] if first else acc) + sum(prods)
            lanes = [(bias[k] if first else lanes[k]) + prods[k] for k in range(M)]
            want_acc.append(acc)
            want_lanes.append(lanes)
        dut.pe__lane_mode.value = lane_mode
        for t in range(len(steps) + lag):
            if t < len(steps):
                w, a, en, first, _ = steps[t]
                dut.pe__act.value = _pack(a, ACT_BITS)
                dut.pe__weight.value = _pack([_encode_weight(x) for x in w], Q)
                dut.pe__lane_en.value = _pack(en, 1)
                dut.pe__first.value = int(first)
            dut.pe__valid.value = int(t < len(steps))
            if 1 <= t <= len(steps):  # the lane stage holds step t − 1, the accumulator t − lag
                dut.pe__lane_bias.value = _pack(steps[t - 1][4], 32)
            if lag - 1 <= t < len(steps) + lag - 1:  # the bias a cycle ahead of its step
                dut.pe__bias.value = steps[t - lag + 1][4][0] & 0xFFFFFFFF
            await ReadOnly()
            if lane_mode and 1 <= t <= len(steps):
                flat = int(dut.pe__lane_acc.value.to_unsigned())
                got = [_signed(flat >> (ACC * k) & ((1 << ACC) - 1), ACC) for k in range(M)]
                assert got == want_lanes[t - 1]
            if t >= lag:
                assert int(dut.pe__acc_valid.value)
                assert _signed(int(dut.pe__acc.value.to_unsigned()), ACC) == want_acc[t - lag]
            await RisingEdge(dut.clk)
            await Timer(1, unit="ns")
        dut.pe__valid.value = 0


def _split_steps(rng):
    """Per (w_bits, a_bits) pair up to Q, at the most sub-lanes holding both: extremes
    and random vectors as (split log2, act word, weight word, Σ w·a, Σ w·a over the
    values of the low half's lanes `hw.plan.pair_lanes`)."""
    steps = []
    for w_bits in range(1, Q + 1):
        for a_bits in range(1, Q + 1):
            k = max(k for k in split_factors(Q) if Q // k >= max(w_bits, a_bits))
            n, lo, hi, amax = k * M, *weight_range(w_bits), (1 << a_bits) - 1
            vectors = [(np.full(n, hi), np.full(n, amax)), (np.full(n, lo), np.full(n, amax))]
            for _ in range(3):
                w = rng.choice([-1, 1], n) if w_bits == 1 else rng.integers(lo, hi + 1, n)
                vectors.append((w, rng.integers(0, amax + 1, n)))
            for w, a in vectors:
                if Q == 1:  # one-bit lanes: bit 1 is +1, bit 0 is −1
                    weight = sum((1 if x > 0 else 0) << p for p, x in enumerate(w))
                else:
                    weight = sum((int(x) & ((1 << (Q // k)) - 1)) << sub_lane_offset(p, Q, k)
                                 for p, x in enumerate(w))
                act = sum(int(x) << sub_lane_offset(p, Q, k) for p, x in enumerate(a))
                low = k * pair_lanes(M)
                steps.append((k.bit_length() - 1, act, weight, int(np.dot(w, a)),
                              int(np.dot(w[:low], a[:low]))))
    return steps


async def _split_sums(dut, pair: int) -> tuple[list, list]:
    """The split steps through ``spe``, one a cycle, each its own pixel (biases 0, the
    pass paired or not): the steps and each step's ``(acc, acc2)`` 1 + T cycles later."""
    await _reset(dut)
    steps = _split_steps(np.random.default_rng(4 + pair))
    lag = 1 + tree_stages(M)
    dut.spe__lane_en.value = (1 << M) - 1
    dut.spe__bias.value = 0
    if pair_lanes(M):  # M = 1 has no halves: no pairing ports
        dut.spe__bias2.value = 0
        dut.spe__pair.value = pair
    dut.spe__first.value = 1
    got = []
    for t in range(len(steps) + lag):
        if t < len(steps):
            split, act, weight = steps[t][:3]
            dut.spe__split.value = split
            dut.spe__act.value = act
            dut.spe__weight.value = weight
        dut.spe__valid.value = int(t < len(steps))
        await ReadOnly()
        if t >= lag:
            acc2 = _signed(int(dut.spe__acc2.value.to_unsigned()), ACC) if pair else None
            got.append((_signed(int(dut.spe__acc.value.to_unsigned()), ACC), acc2))
        await RisingEdge(dut.clk)
        await Timer(1, unit="ns")
    dut.spe__valid.value = 0
    return steps, got


@cocotb.test()
async def split_lanes_match_numpy(dut):
    """The q × q lanes at every split the lane width allows: the accumulator shows Σ w·a."""
    steps, got = await _split_sums(dut, 0)
    assert [acc for acc, _ in got] == [s[3] for s in steps]


@cocotb.test(skip=not pair_lanes(M))
async def paired_halves_match_numpy(dut):
    """A paired pass (`hw.plan.pairs_channels`): the low half's lanes sum into the
    accumulator, the rest into the second one, at every split."""
    steps, got = await _split_sums(dut, 1)
    assert got == [(low, total - low) for _, _, _, total, low in steps]


@cocotb.test()
async def requantizer_clamps_at_the_pass_width(dut):
    await _reset(dut)
    rng = np.random.default_rng(5)
    for out_bits in range(1, Q + 1):
        cases = [(a, 65535, n) for a in (-(1 << (ACC - 1)), (1 << (ACC - 1)) - 1, 0, 1)
                 for n in (1, 9, 62)]
        cases += [(int(a), int(mm), int(n)) for a, mm, n in zip(
            rng.integers(-(1 << 20), 1 << 20, 40), rng.integers(0, 1 << 16, 40),
            rng.integers(1, 24, 40), strict=True)]
        dut.crq__top.value = (1 << out_bits) - 1
        got = await _requantize_all(dut, "crq", cases)
        assert got == _golden_requantize(cases, out_bits), out_bits
