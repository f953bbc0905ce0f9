"""Address generation of the image loader (first-layer im2col, one 8-bit pixel per lane)
against a numpy reference, and its cycle count against `hw.plan.load_cycles`."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.loader import ImageLoader
from hw.plan import lane_tap, load_cycles, plan_network
from intnet.arch import LayerSpec as L


def expected_words(plan, image):
    """{(word, lane): byte} that the loader must write for ``image`` [H, W, C]."""
    H, W, C = plan.input_shape
    F = plan.image_lanes  # the first pass's own lanes
    first = plan.passes[0]
    out = {}
    for oy in range(plan.load_h):
        for ox in range(plan.load_w):
            for v in range(first.cin):
                ky, kx, c = lane_tap(plan, v)
                y = oy * plan.load_stride + ky - plan.load_pad
                x = ox * plan.load_stride + kx - plan.load_pad
                if 0 <= y < H and 0 <= x < W:
                    word = (oy * plan.load_w + ox) * first.cg_in + v // F
                    out[(word, v % F)] = int(image[y, x, c])
    return out


@pytest.mark.parametrize("shape,k,stride,q,mult", [
    ((5, 4, 1), 3, 1, 1, 3), ((6, 5, 2), 5, 2, 3, 5), ((4, 4, 3), 1, 1, 8, 2),
    ((7, 6, 1), 3, 2, 2, 8), ((3, 3, 2), 3, 1, 4, 1), ((4, 5, 3), 3, 1, 1, 4),
])
def test_loader_writes_the_unrolled_image(shape, k, stride, q, mult):
    h, w, c = shape
    ho, wo = (h + 2 * (k // 2) - k) // stride + 1, (w + 2 * (k // 2) - k) // stride + 1
    specs = [L("c1", "conv", shape, (ho, wo, 2), k, stride), L("fc", "dense", (ho * wo * 2,), (3,))]
    plan = plan_network(specs, q, 2, mult)
    image = np.random.default_rng(k * q).integers(0, 256, size=shape)
    dut = ImageLoader(plan, 16)
    written = {}
    cycles = []

    async def bench(ctx):
        ctx.set(dut.enable, 1)
        n = 0
        for byte in image.reshape(-1):
            ctx.set(dut.image.payload, int(byte))
            ctx.set(dut.image.valid, 1)
            while True:
                ready = ctx.get(dut.image.ready)
                en = ctx.get(dut.wr_en)
                for lane in range(plan.image_lanes):
                    if en >> lane & 1:
                        key = (ctx.get(dut.wr_addr), lane)
                        assert key not in written, f"lane written twice: {key}"
                        written[key] = ctx.get(dut.wr_data[lane])
                await ctx.tick()
                n += 1
                if ready:
                    break
        ctx.set(dut.image.valid, 0)
        while ctx.get(dut.busy):
            en = ctx.get(dut.wr_en)
            for lane in range(plan.image_lanes):
                if en >> lane & 1:
                    written[(ctx.get(dut.wr_addr), lane)] = ctx.get(dut.wr_data[lane])
            await ctx.tick()
            n += 1
        cycles.append(n)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert written == expected_words(plan, image)
    assert cycles[0] == load_cycles(plan)
