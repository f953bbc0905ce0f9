"""Weight reuse (docs/hardware.md, "Weight reuse"): the PE's rotating accumulators
against numpy (Amaranth simulator)."""

from unittest import mock

import numpy as np
import pytest
from amaranth.lib import data

import hw.top
from hw.handover import PixelQueue
from hw.pe import PE
from hw.plan import plan_network
from intnet import golden
from intnet.arch import LayerSpec as L
from intnet.arch import network_specs, with_widths
from intnet.synthetic import random_network
from sim.cycles import cycle_model
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


# hidden convs with fused pools (they reuse weights), odd sizes, stride 2, k 1/3/5
POOLED = [
    L("c1", "conv", (8, 7, 1), (8, 7, 4), 3, 1),
    L("c2", "conv", (8, 7, 4), (8, 7, 6), 3, 1),
    L("p2", "maxpool", (8, 7, 6), (4, 3, 6)),
    L("c3", "conv", (4, 3, 6), (2, 2, 5), 5, 2),
    L("p3", "maxpool", (2, 2, 5), (1, 1, 5)),
    L("fc", "dense", (5,), (3,)),
]
# a pooled 1×1 conv on a map whose row is one pixel pair, and a hidden dense layer
NARROW = [
    L("c1", "conv", (5, 2, 2), (5, 2, 3), 1, 1),
    L("c2", "conv", (5, 2, 3), (5, 2, 9), 1, 1),
    L("p2", "maxpool", (5, 2, 9), (2, 1, 9)),
    L("fc0", "dense", (18,), (4,)),
    L("fc", "dense", (4,), (2,)),
]


def test_reuse_rule_takes_pooled_hidden_convs_only():
    """vgg: conv2 and conv3 (pooled, hidden, MAC-bound) reuse; conv1 (the first pass)
    and fc (the last) do not; mobilenet has no pooled pass; without weight reuse no
    pass reuses. The reusing passes' drains grow by their spacing minus one."""
    specs = network_specs("vgg", 1.5, (28, 28, 1), 10)
    plain, reuse = (plan_network(specs, 2, 16, 24, flag) for flag in (False, True))
    assert [p.reuse for p in reuse.passes] == [1, 2, 2, 1] and reuse.reuses
    assert not plain.reuses
    for a, b in zip(plain.passes, reuse.passes, strict=True):
        assert b.drain == a.drain + b.reuse_gap
        assert b.reuse_gap == (max(1, max(g.wo_cnt for g in a.groups)) - 1 if b.reuse > 1
                               else 0)
    mobile = network_specs("mobilenet", 1, (28, 28, 1), 10)
    assert not plan_network(mobile, 2, 8, 8, True).reuses


def test_reuse_halves_the_weight_reads_of_reusing_passes_only():
    specs = network_specs("vgg", 1.5, (28, 28, 1), 10)
    plain, reuse = (cycle_model(specs, 2, 16, 24, flag) for flag in (False, True))
    for a, b in zip(plain["layers"], reuse["layers"], strict=True):
        halved = b["weight_reuse"] == 2
        assert b["events"]["weight_reads"] * (2 if halved else 1) == a["events"]["weight_reads"]
        for key in ("mult_ops", "act_reads", "acc_updates", "requant_ops", "param_reads"):
            assert b["events"][key] == a["events"][key], key
    # a fused pool reports its conv's reuse, as it does its lane split
    assert [x["weight_reuse"] for x in reuse["layers"]] == [1, 1, 2, 2, 2, 2, 1]


def _run_counting_weight_reads(net, pe, mult, images, weight_reuse):
    """`tests.hw.amaranth_sim.run_amaranth`, also counting the cycles the weight ROMs
    (first pass and main) are enabled during each inference."""
    seqs = []

    class Counted(hw.top.Sequencer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seqs.append(self)

    with mock.patch.object(hw.top, "Sequencer", Counted):
        dut = hw.top.Accelerator(net, pe, mult, weight_reuse=weight_reuse)
        out = {"logits": [], "cycles": [], "reads": []}

        async def bench(ctx):
            seq = seqs[0]
            for image in images:
                for byte in image.reshape(-1):
                    ctx.set(dut.image.payload, int(byte))
                    ctx.set(dut.image.valid, 1)
                    while not ctx.get(dut.image.ready):
                        await ctx.tick()
                    await ctx.tick()
                ctx.set(dut.image.valid, 0)
                ctx.set(dut.start, 1)
                await ctx.tick()
                ctx.set(dut.start, 0)
                reads = {"first": 0, "main": 0}
                while not ctx.get(dut.done):
                    if ctx.get(seq.weight_en):
                        reads["first" if ctx.get(seq.desc.first) else "main"] += 1
                    await ctx.tick()
                flat, n = ctx.get(dut.logits), dut.plan.num_classes
                out["logits"].append([(flat >> (32 * c) & 0xFFFFFFFF) - (
                    (flat >> (32 * c + 31) & 1) << 32) for c in range(n)])
                out["cycles"].append(ctx.get(dut.cycles))
                out["reads"].append(reads)

        _run(dut, bench)
    return out


@pytest.mark.parametrize("specs,q,pe,mult,mode,bits,reusing", [
    (POOLED, 4, 2, 3, "random", None, ["c2", "c3"]),
    (POOLED, 8, 3, 5, "max", None, ["c2", "c3"]),
    (POOLED, 1, 1, 1, "min", None, ["c2", "c3"]),
    (POOLED, 3, 4, 2, "random", None, ["c2", "c3"]),
    (NARROW, 2, 2, 2, "random", None, ["c2"]),  # one step a pixel: r alternates every cycle
    (NARROW, 8, 5, 3, "max", None, []),  # c2 is bound by its output words: no reuse
    (POOLED, 8, 2, 4, "random", [8, 2, 2, 4], ["c2"]),  # c3 pairs output channels instead
    (NARROW, 8, 2, 4, "max", [2, 2, 2, 8], ["c2"]),  # c2 reads split words, 4 a lane
])
def test_reusing_networks_match_golden_cycles_and_reads(specs, q, pe, mult, mode, bits,
                                                        reusing):
    """Every logit equals golden; the cycles equal the cycle model built with weight
    reuse; the weight ROMs are enabled exactly the model's ``weight_reads / P`` (and
    ``first_weight_reads / P``) times per inference: half the steps of every pass that
    reuses."""
    if bits:
        specs = with_widths(specs, bits)
    plan = plan_network(specs, q, pe, mult, True)
    assert [p.name for p in plan.passes if p.reuse > 1] == reusing
    net = random_network(specs, q, seed=q * 7 + pe, mode=mode)
    images = np.random.default_rng(q + mult).integers(0, 256, size=(2, *specs[0].in_shape))
    if mode != "random":
        images[0] = 255 if mode == "max" else 0
    got = _run_counting_weight_reads(net, pe, mult, images, True)
    assert np.array_equal(np.asarray(got["logits"]), golden.run(net, images))
    model = cycle_model(specs, q, pe, mult, True)
    assert got["cycles"] == [model["cycles"]] * len(images)
    ev = model["events"]
    assert got["reads"] == [{"first": ev["first_weight_reads"] // pe,
                             "main": ev["weight_reads"] // pe}] * len(images)
    plain = cycle_model(specs, q, pe, mult)["events"]
    halved = sum(p.pixels * g.steps for p in plan.passes if p.reuse > 1 for g in p.groups)
    assert ev["weight_reads"] == plain["weight_reads"] - halved * pe // 2
