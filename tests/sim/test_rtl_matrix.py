"""The acceptance matrix of issue 3 in Verilator: 0 mismatching logits on 10 images for
vgg q∈{1,2,4,8} and mobilenet q∈{1,2,4} at (P,M) ∈ {(1,1),(3,5),(8,8),(16,4)}, and
cycles equal to the cycle model; and issue 14's mixed-width networks on (3,5), (8,8) and
(16,4). Slow: run with --runslow."""

import numpy as np
import pytest

from intnet.synthetic import family_network
from sim.cycles import network_cycle_model
from sim.rtl import run_rtl

CASES = [("vgg", q) for q in (1, 2, 4, 8)] + [("mobilenet", q) for q in (1, 2, 4)]
ARRAYS = [(1, 1), (3, 5), (8, 8), (16, 4)]


@pytest.mark.slow
@pytest.mark.parametrize("pe,mult", ARRAYS)
@pytest.mark.parametrize("arch,q", CASES)
def test_acceptance_matrix(arch, q, pe, mult):
    net = family_network(arch, q, 1.0, seed=q)
    images = np.random.default_rng(q).integers(0, 256, size=(10, 28, 28, 1)).astype(np.uint8)
    r = run_rtl(net, pe, mult, images)
    assert r["mismatches"] == 0
    assert r["cycles"] == [network_cycle_model(net, pe, mult)["cycles"]] * 10


# per-layer widths (issue 14): narrow middle layers split the 8-bit lanes 2 or 4 ways
MIXED = [("vgg", (8, 2, 2, 8)), ("vgg", (8, 4, 3, 8)),
         ("mobilenet", (8, 4, 2, 2, 4, 2, 4, 2, 2, 8)),
         ("mobilenet", (3, 2, 1, 2, 2, 5, 2, 2, 4, 6))]


@pytest.mark.slow
@pytest.mark.parametrize("pe,mult", [(3, 5), (8, 8), (16, 4)])
@pytest.mark.parametrize("arch,bits", MIXED)
def test_mixed_width_matrix(arch, bits, pe, mult):
    from intnet.arch import network_specs, with_widths
    from intnet.synthetic import random_network

    specs = with_widths(network_specs(arch, 1.0, (28, 28, 1), 10), list(bits))
    net = random_network(specs, max(bits), seed=sum(bits), arch=arch)
    images = np.random.default_rng(7).integers(0, 256, size=(10, 28, 28, 1)).astype(np.uint8)
    r = run_rtl(net, pe, mult, images)
    assert r["mismatches"] == 0
    assert r["cycles"] == [network_cycle_model(net, pe, mult)["cycles"]] * 10


# output-channel pairing (`hw.plan.pairs_channels`): 2- or 4-bit middle layers on 8-bit
# lanes whose input channels fill at most half the sub-lanes (the passes named pair)
PAIRED = [("vgg", 1.0, (2, 2, 2, 8), (8, 8), ["conv2"]),
          ("vgg", 0.5, (2, 2, 2, 8), (3, 5), ["conv2"]),
          ("vgg", 0.5, (2, 2, 2, 8), (8, 8), ["conv2", "conv3"]),
          ("vgg", 0.5, (4, 4, 4, 8), (8, 8), ["conv2"]),
          ("mobilenet", 0.5, (8, 2, 2, 2, 2, 2, 2, 2, 2, 8), (3, 5), ["pw1"])]


def check_design(arch, s, bits, pe, mult, images, facts, want):
    """Every logit of ``images`` equal to golden and the cycles to the model, on the design
    of ``arch`` at scale ``s`` and widths ``bits`` (8-bit lanes) whose plan gives
    ``facts(plan) == want``."""
    from hw.plan import plan_network
    from intnet.arch import network_specs, with_widths
    from intnet.synthetic import random_network

    specs = with_widths(network_specs(arch, s, (28, 28, 1), 10), list(bits))
    assert facts(plan_network(specs, 8, pe, mult)) == want
    net = random_network(specs, 8, seed=sum(bits) + pe, arch=arch)
    r = run_rtl(net, pe, mult, images)
    assert r["mismatches"] == 0
    assert r["cycles"] == [network_cycle_model(net, pe, mult)["cycles"]] * len(images)


def check_paired(arch, s, bits, pe, mult, paired, images):
    """`check_design` of a design whose ``paired`` passes pair output channels."""
    check_design(arch, s, bits, pe, mult, images,
                 lambda plan: [p.name for p in plan.passes if p.pair], paired)


@pytest.mark.slow
@pytest.mark.parametrize("arch,s,bits,array,paired", PAIRED)
def test_paired_matrix(arch, s, bits, array, paired):
    images = np.random.default_rng(9).integers(0, 256, size=(10, 28, 28, 1)).astype(np.uint8)
    check_paired(arch, s, bits, *array, paired, images)


# pixel-parallel depthwise passes reading split words (`hw.plan.Plan.dwp_split`): 2- or
# 4-bit middle layers on 8-bit lanes, P ≥ M (the depthwise passes named read k values a
# lane)
DW_SPLIT = [("mobilenet", 1.0, (8, 2, 2, 2, 2, 2, 2, 2, 2, 8), (8, 8),
             {"dw2": 4, "dw3": 4, "dw4": 4}),
            ("mobilenet", 0.5, (8, 4, 4, 4, 4, 2, 2, 2, 2, 8), (8, 8),
             {"dw2": 2, "dw3": 2, "dw4": 4}),
            ("mobilenet", 0.5, (8, 2, 4, 2, 2, 4, 4, 2, 2, 8), (5, 3),
             {"dw2": 2, "dw3": 2, "dw4": 2}),
            ("mobilenet", 1.0, (8, 2, 2, 2, 2, 2, 2, 2, 2, 8), (16, 4),
             {"dw2": 4, "dw3": 4, "dw4": 4})]


def check_dw_split(arch, s, bits, pe, mult, reads, images):
    """`check_design` of a design whose depthwise passes read split words as ``reads``
    says (pass: k)."""
    from hw.plan import MODE_DWP

    check_design(arch, s, bits, pe, mult, images,
                 lambda plan: {p.name: p.k_in for p in plan.passes
                               if p.mode == MODE_DWP and p.k_in > 1}, reads)


@pytest.mark.slow
@pytest.mark.parametrize("arch,s,bits,array,reads", DW_SPLIT)
def test_split_depthwise_matrix(arch, s, bits, array, reads):
    images = np.random.default_rng(5).integers(0, 256, size=(10, 28, 28, 1)).astype(np.uint8)
    check_dw_split(arch, s, bits, *array, reads, images)


# weight reuse (`hw.plan.reuses_weights`): the pooled hidden convs walk pixel pairs
REUSE = [("vgg", 1.0, 1, (8, 8)), ("vgg", 1.0, 4, (3, 5)), ("vgg", 1.0, 8, (16, 4)),
         ("vgg", 1.5, 2, (16, 24))]


def check_reuse(arch, s, q, pe, mult, images, reusing=("conv2", "conv3")):
    """Every logit equal to golden and the cycles to the model, on the family network
    built with weight reuse, whose ``reusing`` passes walk pixel pairs."""
    from hw.plan import plan_network
    from sim.cycles import cycle_model

    net = family_network(arch, q, s, seed=q)
    plan = plan_network(net.layers, net.q, pe, mult, weight_reuse=True)
    assert [p.name for p in plan.passes if p.reuse > 1] == list(reusing)
    r = run_rtl(net, pe, mult, images, weight_reuse=True)
    assert r["mismatches"] == 0
    cycles = cycle_model(net.layers, net.q, pe, mult, weight_reuse=True)["cycles"]
    assert r["cycles"] == [cycles] * len(images)


@pytest.mark.slow
@pytest.mark.parametrize("arch,s,q,array", REUSE)
def test_weight_reuse_matrix(arch, s, q, array):
    images = np.random.default_rng(q).integers(0, 256, size=(10, 28, 28, 1)).astype(np.uint8)
    check_reuse(arch, s, q, *array, images)
