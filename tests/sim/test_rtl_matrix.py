"""The acceptance matrix of issue 3 in Verilator: 0 mismatching logits on 10 images for
vgg q∈{1,2,4,8} and mobilenet q∈{1,2,4} at (P,M) ∈ {(1,1),(3,5),(8,8),(16,4)}, and
cycles equal to the cycle model. Slow: run with --runslow."""

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
