"""Unit benches of the accelerator's control and data-path components (Amaranth simulator).

The sequencer (loop nest + address generator + FSM) against a Python walk of the plan;
the operand select, the lane serializer and the logits/argmax scan with directed cases.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.address import control_layout
from hw.handover import LaneSerializer
from hw.logits import Logits
from hw.operands import OperandSelect
from hw.plan import MODE_DW, MODE_DWP, argmax_cycles, plan_network
from hw.sequencer import Sequencer
from hw.tables import bits, descriptor_table, group_table
from intnet.arch import LayerSpec as L
from intnet.arch import network_specs
from intnet.synthetic import EVERY_KIND_SPECS


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


# ------------------------------------------------------------------ the sequencer


def _pixels(p, pe_count):
    """A pass's output pixels in issue order: ``(oy, ox, px, py)``; in pixel-parallel
    passes each row's P-column segments (PE 0's pixel)."""
    if p.mode == MODE_DWP:
        for y in range(p.py_count):
            for x in range(p.px_count):
                yield y, x * pe_count, x, y
        return
    pool = 2 if p.pool else 1
    for py in range(p.py_count):
        for px in range(p.px_count):
            for dy in range(pool):
                for dx in range(pool):
                    yield py * pool + dy, px * pool + dx, px, py


def reference_steps(plan):
    """Every MAC step the sequencer issues, in order: the read address (None where the
    tap lies in the padding), the weight address, the output address, first and last."""
    steps = []
    for p in plan.passes:
        npix = p.px_count * p.py_count * (4 if p.pool else 1)
        for g in p.groups:
            for pi, (oy, ox, px, py) in enumerate(_pixels(p, plan.pe_count)):
                for w in range(g.steps):  # input word innermost, then kx, then ky
                    ky, kx = divmod(w // g.cg_cnt, p.kw)
                    cg = g.cg_lo + w % g.cg_cnt
                    iy, ix = oy * p.stride + ky - p.pad, ox * p.stride + kx - p.pad
                    addr = (iy * p.iw + ix) * p.cg_in + cg
                    if not (0 <= iy < p.ih and 0 <= ix < p.iw):
                        addr = None
                    first, last = w == 0, w == g.steps - 1
                    if p.mode != MODE_DWP:
                        out = (py * p.pw + px) * p.cg_out + g.wo_lo
                    elif p.gsum:  # one sum over the whole map
                        out, first, last = cg, first and pi == 0, last and pi == npix - 1
                    else:
                        out = (oy * p.ow + ox) * p.cg_out + cg
                    steps.append((addr, g.wbase + w, out, first, last))
    return steps


@pytest.mark.parametrize("specs,pe,mult", [
    (network_specs("vgg", 0.25, (8, 8, 1), 4), 2, 3),
    (network_specs("mobilenet", 0.25, (9, 9, 1), 3), 4, 2),  # pixel-parallel dw and gsum
    (network_specs("mobilenet", 0.25, (9, 9, 1), 3), 1, 4),  # lane-select dw and avgpool
    (network_specs("mobilenet", 0.25, (9, 9, 1), 3), 1, 1),  # pixel-parallel on one port
    (EVERY_KIND_SPECS, 3, 2),
])
def test_sequencer_issues_the_plans_walk(specs, pe, mult):
    plan = plan_network(specs, 2, pe, mult)
    addr_bits = bits(max(*plan.act_depth, plan.image_depth) - 1)
    dwp_design = any(p.mode == MODE_DWP for p in plan.passes)
    dut = Sequencer(plan, addr_bits, pe if dwp_design else 1)
    want = reference_steps(plan)
    got, seen = [], {"argmax": 0}

    async def bench(ctx):
        ctx.set(dut.argmax_done, 1)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(20 * len(want) + 1000):
            if ctx.get(dut.done):
                break
            seen["argmax"] += ctx.get(dut.argmax)
            ctl = ctx.get(dut.ctl)
            if ctl.valid:
                dwp = ctx.get(dut.desc).mode == MODE_DWP
                pad = ctl.pad_pe & 1 if dwp else ctl.pad
                got.append((None if pad else ctx.get(dut.act_addr), ctx.get(dut.weight_addr),
                            ctl.out_addr, bool(ctl.first), bool(ctl.last)))
            await ctx.tick()
        seen["done"] = ctx.get(dut.done)
        seen["cycles"] = ctx.get(dut.cycles)

    _run(dut, bench)
    assert got == want
    assert seen["argmax"] == 1 and seen["done"] == 1


# ------------------------------------------------------------------ operand select


def _operand_dut(q, pe, mult, nports):
    plan = plan_network([L("c1", "conv", (4, 4, 2), (4, 4, 5), 3, 1),
                         L("dw", "dwconv", (4, 4, 5), (4, 4, 5), 3, 1),
                         L("fc", "dense", (80,), (3,))], q, pe, mult)
    desc, groups = descriptor_table(plan), group_table(plan)
    return OperandSelect(q, pe, mult, nports, control_layout(plan, desc, groups, 8, nports),
                         desc.layout, pixel_parallel=nports > 1 or pe == mult,
                         image_lanes=plan.image_lanes), plan.image_lanes


def _lanes(values, width):
    return sum(int(v) << (width * i) for i, v in enumerate(values))


@pytest.mark.parametrize("q,pe,mult,nports", [(2, 3, 4, 1), (5, 4, 3, 4), (1, 2, 2, 2),
                                               (3, 1, 1, 1)])
def test_operand_select(q, pe, mult, nports):
    dut, lanes = _operand_dut(q, pe, mult, nports)
    rng = np.random.default_rng(q + pe)
    image = rng.integers(0, 256, lanes)
    image_weights = rng.integers(0, 1 << q, (pe, lanes))
    bufs = rng.integers(0, 1 << q, (2, nports, mult))
    weights = rng.integers(0, 1 << q, (pe, mult))

    async def bench(ctx):  # the outputs are registers: look one clock edge later
        async def out(signal):
            await ctx.tick()
            return ctx.get(signal)

        ctx.set(dut.image, _lanes(image, 8))
        for b in range(2):
            for j in range(nports):
                ctx.set(getattr(dut, f"act{b}")[j], _lanes(bufs[b, j], q))
        for j in range(pe):
            ctx.set(dut.weights[j], _lanes(weights[j], q))
            ctx.set(dut.image_weights[j], _lanes(image_weights[j], q))
        ctx.set(dut.desc.cin, mult * 9)
        # the first pass's F lanes: whole pixels and every PE's own first-pass weights
        assert await out(dut.pe_image) == _lanes(image, 8)
        for j in range(pe):
            assert ctx.get(dut.pe_image_weight[j]) == _lanes(image_weights[j], q)
        assert ctx.get(dut.pe_weight[pe - 1]) == _lanes(weights[pe - 1], q)
        ctx.set(dut.ctl.pad, 1)  # padding: a zero word, whatever the memory says
        assert await out(dut.pe_act[0]) == 0
        ctx.set(dut.ctl.pad, 0)
        for src in range(2):  # q-bit lanes of the buffer read, zero-extended
            ctx.set(dut.desc.src, src)
            assert await out(dut.pe_act[0]) == _lanes(bufs[src, 0], dut.act_bits)
        assert ctx.get(dut.lane_en[0]) == (1 << mult) - 1
        ctx.set(dut.desc.cin, mult - 1)  # the word's last lane holds no channel
        assert await out(dut.lane_en[0]) == (1 << (mult - 1)) - 1
        ctx.set(dut.desc.cin, mult * 9)
        ctx.set(dut.desc.mode, MODE_DW)  # PE j keeps only the lane of channel cbase + j
        ctx.set(dut.ctl.cbase, 1)
        ctx.set(dut.ctl.cg, 0)
        await ctx.tick()
        for j in range(pe):
            assert ctx.get(dut.lane_en[j]) == (1 << (1 + j) if 1 + j < mult else 0)
        if nports > 1 or pe == mult:  # pixel-parallel: every PE its own word and its own
            ctx.set(dut.desc.mode, MODE_DWP)  # padding, PE 0's weights for all
            ctx.set(dut.ctl.pad, 1)  # the pooled-grid flag means nothing here
            ctx.set(dut.ctl.pad_pe, 0b10)
            assert await out(dut.pe_act[0]) == _lanes(bufs[1, 0], dut.act_bits)
            if pe > 1:
                assert ctx.get(dut.pe_act[1]) == 0
            assert ctx.get(dut.pe_weight[pe - 1]) == _lanes(weights[0], q)

    _run(dut, bench)


# ------------------------------------------------------------------ lane serializer


@pytest.mark.parametrize("pe,mult,gsum", [(4, 3, False), (4, 4, True), (5, 1, True)])
def test_lane_serializer(pe, mult, gsum):
    plan = plan_network(network_specs("vgg", 0.25, (4, 4, 1), 3), 2, 1, 1)
    layout = control_layout(plan, descriptor_table(plan), group_table(plan), 8, 1)
    dut = LaneSerializer(40, pe, mult, layout, summing=True)
    rng = np.random.default_rng(pe * mult)
    sums = rng.integers(-(1 << 38), 1 << 38, (pe, mult))
    params = [(int(rng.integers(0, 1 << 16)), int(rng.integers(1, 63))) for _ in range(mult)]

    async def bench(ctx):
        for j in range(pe):
            for lane in range(mult):
                ctx.set(dut.lane_acc[j][lane], int(sums[j, lane]))
        for lane, (mm, n) in enumerate(params):
            ctx.set(dut.lane_prm[lane].m, mm)
            ctx.set(dut.lane_prm[lane].n, n)
        ctx.set(dut.gsum, gsum)
        ctx.set(dut.load, 1)
        await ctx.tick()
        ctx.set(dut.load, 0)
        for j in range(pe):  # latched: later inputs do not matter
            for lane in range(mult):
                ctx.set(dut.lane_acc[j][lane], 0)
        for lane in range(mult):
            assert ctx.get(dut.active) and ctx.get(dut.lane) == lane
            want0 = int(sums[:, lane].sum()) if gsum else int(sums[0, lane])
            assert ctx.get(dut.acc[0]) == want0
            assert [ctx.get(dut.acc[j]) for j in range(1, pe)] == list(sums[1:, lane])
            assert (ctx.get(dut.m), ctx.get(dut.n)) == params[lane]
            await ctx.tick()
        assert not ctx.get(dut.active)

    _run(dut, bench)


# ------------------------------------------------------------------ logits and argmax


@pytest.mark.parametrize("classes,pe,values", [
    (5, 2, [3, -7, 9, 9, -1]),  # a tie: the lowest index wins
    (3, 4, [-5, -5, -5]),
    (7, 3, [-(1 << 31), 1 << 30, -1, (1 << 31) - 1, 0, 12, (1 << 31) - 1]),
    (10, 4, [5, -2, 7, 0, 1, 6, 7, -9, 3, 8]),  # the maximum in the last class
    (1, 2, [-4]),
])
def test_logits_and_argmax(classes, pe, values):
    dut = Logits(classes, pe, 40)

    async def bench(ctx):
        ctx.set(dut.restart, 1)
        await ctx.tick()
        ctx.set(dut.restart, 0)
        for cbase in range(0, classes, pe):  # one group of P classes per hand-over, in order
            for j in range(pe):
                ctx.set(dut.acc[j], values[cbase + j] if cbase + j < classes else 12345)
            ctx.set(dut.capture, 1)
            await ctx.tick()
        ctx.set(dut.capture, 0)
        ctx.set(dut.scan_start, 1)
        await ctx.tick()
        ctx.set(dut.scan_start, 0)
        ctx.set(dut.scan, 1)
        cycles = 0
        while not ctx.get(dut.scan_done):
            await ctx.tick()
            cycles += 1
        await ctx.tick()
        assert cycles + 1 == argmax_cycles(classes)  # a read and a compare a class
        flat = ctx.get(dut.logits)
        got = [((flat >> (32 * c)) & 0xFFFFFFFF) for c in range(classes)]
        assert [v - (1 << 32) if v >= 1 << 31 else v for v in got] == values
        assert ctx.get(dut.class_out) == int(np.argmax(values))

    _run(dut, bench)
