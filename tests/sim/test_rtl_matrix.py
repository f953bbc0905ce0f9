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
