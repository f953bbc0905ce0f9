"""Whole networks on the accelerator in Amaranth's simulator: every layer kind, odd P and
M, every q, extreme weights; every logit equals golden and the cycle count equals the
cycle model."""

import numpy as np
import pytest

from hw.plan import MODE_DWP, plan_network
from intnet import golden
from intnet.arch import LayerSpec as L
from intnet.arch import network_specs, with_widths
from intnet.synthetic import random_network
from sim.cycles import cycle_model
from tests.hw.amaranth_sim import run_amaranth

# every layer kind: conv k1/k3/k5 stride 1/2, dwconv stride 1/2, maxpool on odd sizes
# (the last row/column dropped), global avgpool, dense
ALL_KINDS = [
    L("c1", "conv", (7, 6, 2), (4, 3, 5), 5, 2),
    L("dw1", "dwconv", (4, 3, 5), (4, 3, 5), 3, 1),
    L("p1", "maxpool", (4, 3, 5), (2, 1, 5)),
    L("pw1", "conv", (2, 1, 5), (2, 1, 7), 1, 1),
    L("c2", "conv", (2, 1, 7), (2, 1, 4), 3, 1),
    L("dw2", "dwconv", (2, 1, 4), (1, 1, 4), 3, 2),
    L("gap", "avgpool", (1, 1, 4), (1, 1, 4)),
    L("fc", "dense", (4,), (3,)),
]
VGG_LIKE = [
    L("c1", "conv", (7, 5, 1), (7, 5, 4), 3, 1),
    L("p1", "maxpool", (7, 5, 4), (3, 2, 4)),
    L("c2", "conv", (3, 2, 4), (2, 1, 6), 3, 2),
    L("fc", "dense", (12,), (5,)),
]
# depthwise stride 1 and 2 on widths that are not multiples of P (pixel-parallel mode
# whenever P ≥ M, lane-per-PE mode otherwise)
DEPTHWISE = [
    L("c1", "conv", (7, 6, 1), (7, 6, 5), 3, 1),
    L("dw1", "dwconv", (7, 6, 5), (7, 6, 5), 3, 1),
    L("dw2", "dwconv", (7, 6, 5), (4, 3, 5), 3, 2),
    L("pw", "conv", (4, 3, 5), (4, 3, 3), 1, 1),
    L("fc", "dense", (36,), (3,)),
]

# global average pool over a map (summing pixel-parallel mode when P ≥ M)
AVGPOOL = [
    L("c1", "conv", (6, 5, 1), (6, 5, 7), 3, 1),
    L("gap", "avgpool", (6, 5, 7), (1, 1, 7)),
    L("fc", "dense", (7,), (4,)),
]

# a dense first layer: the image flattened (H, W, C order), 8-bit lanes, no im2col
DENSE_FIRST = [
    L("fc0", "dense", (12,), (5,)),
    L("fc", "dense", (5,), (3,)),
]


def check(specs, q, pe, mult, *, mode="random", images=2, seed=0):
    net = random_network(specs, q, seed=seed, mode=mode)
    rng = np.random.default_rng(seed + 1)
    imgs = rng.integers(0, 256, size=(images, *specs[0].in_shape))
    if mode != "random":
        imgs[0] = 255
    got = run_amaranth(net, pe, mult, imgs)
    want = golden.run(net, imgs)
    assert np.array_equal(np.asarray(got["logits"]), want)
    assert got["classes"] == golden.classify(want).tolist()
    assert got["cycles"] == [cycle_model(specs, q, pe, mult)["cycles"]] * images


@pytest.mark.parametrize("q,pe,mult", [(2, 1, 1), (2, 3, 5), (3, 2, 4), (4, 4, 3),
                                        (8, 5, 2), (5, 1, 7)])
def test_all_layer_kinds(q, pe, mult):
    check(ALL_KINDS, q, pe, mult)


@pytest.mark.parametrize("q,pe,mult", [(1, 3, 5), (2, 2, 2), (8, 1, 3)])
def test_vgg_like_with_pooling(q, pe, mult):
    check(VGG_LIKE, q, pe, mult, seed=3)


@pytest.mark.parametrize("q,pe,mult", [(2, 5, 3), (1, 3, 1), (3, 7, 7), (2, 16, 4),
                                        (4, 8, 8), (4, 2, 3), (2, 2, 2)])
def test_depthwise(q, pe, mult):
    check(DEPTHWISE, q, pe, mult, seed=5)


@pytest.mark.parametrize("q,pe,mult", [(4, 4, 4), (2, 8, 2), (1, 16, 4), (8, 3, 1), (3, 2, 3)])
def test_global_avgpool(q, pe, mult):
    check(AVGPOOL, q, pe, mult, seed=6)


@pytest.mark.parametrize("mode", ["max", "min"])
@pytest.mark.parametrize("q", [1, 8])
def test_extreme_values(mode, q):
    check(ALL_KINDS, q, 3, 2, mode=mode, images=1)
    check(DEPTHWISE, q, 4, 4, mode=mode, images=1)
    check(AVGPOOL, q, 8, 4, mode=mode, images=1)


@pytest.mark.parametrize("q,pe,mult,mode", [(1, 2, 3, "random"), (5, 3, 8, "random"),
                                             (8, 1, 1, "random"), (2, 2, 5, "max"),
                                             (3, 4, 4, "min")])
def test_dense_first_layer(q, pe, mult, mode):
    check(DENSE_FIRST, q, pe, mult, mode=mode, seed=7)


@pytest.mark.parametrize("q", [1, 2])
def test_pixel_parallel_on_a_single_pe(q):
    # P = M = 1 runs the depthwise layers pixel-parallel with one read port: the operand
    # must still take the chunk pixel's own padding, not the pooled grid's
    specs = network_specs("mobilenet", 0.25, (9, 9, 1), 4)
    check(specs, q, 1, 1, seed=q)


def check_mixed(specs, bits, lane_bits, pe, mult, *, mode="random", seed=0):
    """``specs`` with weighted layer i at ``bits[i]`` on lanes of ``lane_bits``."""
    specs = with_widths(specs, bits)
    net = random_network(specs, lane_bits, seed=seed, mode=mode)
    imgs = np.random.default_rng(seed + 1).integers(0, 256, size=(2, *specs[0].in_shape))
    if mode != "random":
        imgs[0] = 255
    got = run_amaranth(net, pe, mult, imgs, lane_bits=lane_bits)
    want = golden.run(net, imgs)
    assert np.array_equal(np.asarray(got["logits"]), want)
    assert got["cycles"] == [cycle_model(specs, lane_bits, pe, mult)["cycles"]] * 2
    return plan_network(specs, lane_bits, pe, mult)


@pytest.mark.parametrize("specs,bits,lane_bits,pe,mult,mode", [
    (VGG_LIKE, [8, 2, 4], 8, 2, 2, "random"),  # fc reads 2-bit values, 2 per lane
    (VGG_LIKE, [8, 2, 2], 8, 3, 5, "max"),  # 4 per lane
    (VGG_LIKE, [3, 2, 2], 5, 1, 3, "min"),  # 5-bit lanes split 2 ways
    (ALL_KINDS, [8, 3, 2, 4, 5, 6], 8, 2, 3, "random"),
    (ALL_KINDS, [2, 1, 1, 2, 4, 8], 8, 3, 2, "max"),  # 1-bit weights on 2-bit sub-lanes
    (DEPTHWISE, [8, 2, 3, 4, 2], 8, 4, 4, "random"),
    (AVGPOOL, [3, 8], 8, 8, 4, "min"),
    (DENSE_FIRST, [7, 2], 8, 2, 3, "random"),
    (DEPTHWISE, [8, 2, 2, 2, 2], 8, 3, 5, "max"),  # lane-select dw writes 4 values a lane
    (AVGPOOL, [2, 2], 8, 8, 2, "random"),  # the summing avgpool writes split words
])
def test_mixed_widths(specs, bits, lane_bits, pe, mult, mode):
    check_mixed(specs, bits, lane_bits, pe, mult, mode=mode, seed=sum(bits))


def test_narrow_layers_split_their_lanes():
    plan = check_mixed(VGG_LIKE, [8, 2, 2], 8, 2, 2)
    assert [(p.k_in, p.k_out) for p in plan.passes] == [(1, 1), (1, 4), (4, 1)]
    # groups of 2 channels start at 2-bit values 0, 2, 4, 6 of a lane: 4-bit enables
    assert plan.splits == (1, 4) and plan.write_granularity == 4


def test_pixel_parallel_depthwise_reads_and_writes_split_words():
    """mobilenet at 2-bit middle layers: dw1 reads conv1's 8-bit map on whole lanes and
    writes 4 values a lane; dw2 … dw4 read 4 values a lane too (4 sub-lane sums per lane,
    4 requantizers per PE), so a group holds 4·M channels."""
    specs = network_specs("mobilenet", 0.25, (9, 9, 1), 4)
    plan = check_mixed(specs, [8, 2, 2, 2, 2, 2, 2, 2, 2, 8], 8, 4, 2, seed=11)
    modes = {p.name: (p.mode, p.k_in, p.k_out) for p in plan.passes}
    assert modes["dw1"] == (MODE_DWP, 1, 4) and modes["pw1"] == (0, 4, 4)
    assert modes["dw2"] == (MODE_DWP, 4, 4) and modes["gap"] == (MODE_DWP, 1, 1)
    assert plan.dwp_split == 4 and plan.params_per_word == 4


@pytest.mark.parametrize("scale,bits,pe,mult,mode", [
    (0.25, [8, 4, 4, 4, 4, 4, 4, 4, 4, 8], 3, 3, "random"),  # k = 2, odd M
    (0.25, [8, 2, 4, 2, 2, 4, 4, 2, 2, 8], 5, 3, "max"),  # dw2 reads k = 2, writes k = 4
    (0.25, [8, 3, 2, 4, 2, 2, 3, 3, 2, 8], 3, 2, "min"),  # k = 2 and 4 in one design
    (0.25, [2, 2, 2, 2, 2, 2, 2, 2, 2, 2], 2, 2, "random"),  # every map split 4 ways
])
def test_split_pixel_parallel_depthwise(scale, bits, pe, mult, mode):
    """Pixel-parallel depthwise passes reading 2 or 4 values a lane (`hw.plan._map_splits`):
    every logit equals golden, the cycles equal the model's, and some depthwise pass
    really reads split words."""
    specs = network_specs("mobilenet", scale, (9, 9, 1), 4)
    plan = check_mixed(specs, bits, 8, pe, mult, mode=mode, seed=sum(bits))
    assert plan.dwp_split > 1
    assert any(p.kind == "dwconv" and p.mode == MODE_DWP and p.k_in > 1 for p in plan.passes)
