"""Run the accelerator in Amaranth's own simulator (fast for small networks)."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from hw.top import Accelerator


def _signed32(v: int) -> int:
    return v - (1 << 32) if v >= 1 << 31 else v


def run_amaranth(net, pe_count: int, mults_per_pe: int, images,
                 lane_bits: int | None = None, weight_reuse: bool = False) -> dict:
    """Stream each image in, start, wait for done; logits, classes and cycles per image
    (on lanes of ``lane_bits``, default the network's widest width)."""
    dut = Accelerator(net, pe_count, mults_per_pe, lane_bits=lane_bits,
                      weight_reuse=weight_reuse)
    images = np.asarray(images)
    out = {"logits": [], "classes": [], "cycles": []}
    n = dut.plan.num_classes

    async def bench(ctx):
        for image in images:
            for byte in image.reshape(-1):
                ctx.set(dut.image.payload, int(byte))
                ctx.set(dut.image.valid, 1)
                while True:
                    ready = ctx.get(dut.image.ready)
                    await ctx.tick()
                    if ready:
                        break
            ctx.set(dut.image.valid, 0)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            await ctx.tick().until(dut.done)
            flat = ctx.get(dut.logits)
            out["logits"].append([_signed32((flat >> (32 * c)) & 0xFFFFFFFF) for c in range(n)])
            out["classes"].append(ctx.get(dut.class_out))
            out["cycles"].append(ctx.get(dut.cycles))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out
