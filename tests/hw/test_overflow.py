"""Accumulator width at the corners: every q, every weight at its extreme, wide fan-ins.

All-255 images, every weight at +max or −max, biases at ±2^20 and m = 2^16 − 1 drive
every accumulator to its largest magnitude (hidden activations saturate at 2^q − 1):
the conv has a 5×5×64 = 1,600-term fan-in, the dense layer 1,024 terms, the depthwise
layer 9 terms per channel and the average pool 16 pixels. An accumulator bit short of
the worst case would wrap and show as a wrong logit.
"""

import numpy as np
import pytest

from intnet import golden
from intnet.arch import LayerSpec as L
from intnet.synthetic import random_network
from sim.cycles import cycle_model
from tests.hw.amaranth_sim import run_amaranth

WIDE_CONV = [
    L("c1", "conv", (3, 3, 1), (3, 3, 64), 3, 1),
    L("c2", "conv", (3, 3, 64), (2, 2, 2), 5, 2),  # the centre taps see all 25 inputs
    L("fc", "dense", (8,), (2,)),
]
WIDE_DENSE = [
    L("c1", "conv", (4, 4, 1), (4, 4, 64), 1, 1),
    L("fc", "dense", (1024,), (2,)),
]
POOLED = [
    L("c1", "conv", (4, 4, 1), (4, 4, 8), 3, 1),
    L("dw", "dwconv", (4, 4, 8), (4, 4, 8), 3, 1),
    L("gap", "avgpool", (4, 4, 8), (1, 1, 8)),
    L("fc", "dense", (8,), (2,)),
]


def extreme_network(specs, q, sign):
    """The first layer saturates every activation at 2^q − 1; the later layers have every
    weight and bias at +max (``sign`` = +1) or −max (−1), so their accumulators reach the
    largest positive or the most negative value the shapes allow."""
    net = random_network(specs, q, mode="max")
    for layer in net.layers[1:]:
        if layer.w is not None:
            layer.w = (sign * layer.w).astype(np.int8)
            layer.b = (sign * layer.b).astype(np.int32)
    return net


@pytest.mark.parametrize("sign", [1, -1], ids=["max", "min"])
@pytest.mark.parametrize("q", range(1, 9))
def test_extremes_at_every_q(q, sign):
    for specs, pe, mult in ((WIDE_CONV, 2, 8), (WIDE_DENSE, 2, 8), (POOLED, 8, 3)):
        net = extreme_network(specs, q, sign)
        images = np.full((1, *specs[0].in_shape), 255)
        got = run_amaranth(net, pe, mult, images)
        want = golden.run(net, images)
        assert np.array_equal(np.asarray(got["logits"]), want), (q, sign, specs[1].name)
        assert got["cycles"] == [cycle_model(specs, q, pe, mult)["cycles"]]
