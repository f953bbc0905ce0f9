"""The contract's formulas: one definition each, and every consumer uses it."""

import math

import numpy as np
import pytest

from intnet.arch import LayerSpec as L
from intnet.arch import format_widths, network_specs, parse_widths, widest_width, with_widths
from intnet.contract import (
    accumulator_bits,
    accumulator_bound,
    conv_out,
    layer_widths,
    macs,
    scale_to_mn,
    weight_range,
)
from intnet.synthetic import random_network


def _bits_for(worst: int) -> int:
    return max(32, ((1 << 31) + worst).bit_length() + 1)


# One network per layer kind, each with that kind's accumulator the widest (q = 8: weights
# up to 127, hidden activations up to 255, pixels up to 255).
DOMINATED_BY = {
    # conv1 1×1 on one channel: 1 term; the 3×3 conv over 40 channels: 360 terms
    "conv": ([L("c1", "conv", (4, 4, 1), (4, 4, 40), 1, 1),
              L("c2", "conv", (4, 4, 40), (4, 4, 2), 3, 1),
              L("fc", "dense", (32,), (3,))], 360),
    # a depthwise 3×3: 9 terms against conv1's 1 and the dense's 8
    "dwconv": ([L("c1", "conv", (3, 3, 1), (3, 3, 2), 1, 1),
                L("dw", "dwconv", (3, 3, 2), (2, 2, 2), 3, 2),
                L("fc", "dense", (8,), (3,))], 9),
    # a global average pool over 16×16 = 256 pixels (weight +1) against the dense's 2·127
    "avgpool": ([L("c1", "conv", (16, 16, 1), (16, 16, 2), 1, 1),
                 L("gap", "avgpool", (16, 16, 2), (1, 1, 2)),
                 L("fc", "dense", (2,), (3,))], None),
    # a first dense layer over 70,000 pixels: wider than 2^31 allows
    "dense": ([L("fc", "dense", (70_000,), (2,))], 70_000),
}


@pytest.mark.parametrize("kind", sorted(DOMINATED_BY))
def test_accumulator_width_is_one_rule_for_hw_and_models(kind):
    from hw.top import Accelerator
    from search.design import evaluate

    specs, terms = DOMINATED_BY[kind]
    widths = layer_widths(specs, 8)
    bounds = [accumulator_bound(layer, w) for layer, w in zip(specs, widths, strict=True)]
    widest = specs[bounds.index(max(bounds))]
    assert widest.kind == kind
    if kind == "avgpool":
        assert max(bounds) == 256 * 255  # H·W terms of +1 × the widest activation
    else:
        assert max(bounds) == terms * 127 * 255
    expect = _bits_for(max(bounds))
    assert accumulator_bits(specs, 8) == expect
    net = random_network(specs, 8, seed=1)
    assert accumulator_bits(net.layers) == expect  # widths read from the bundle layers
    hardware = Accelerator(net, 1, 4)
    hardware._MustUse__silence = True  # built for its accumulator width, never elaborated
    assert hardware.acc_bits == expect  # the hardware's accumulators
    row = evaluate(specs, 8, 1, 4, "arty_a7_35")  # resource and energy models
    assert row["acc_bits"] == expect


def test_a_dense_over_70k_pixels_needs_more_than_33_bits():
    specs, _ = DOMINATED_BY["dense"]
    assert accumulator_bits(specs, 8) == _bits_for(70_000 * 127 * 255) > 33


def test_layer_widths_chain_the_activations():
    specs, _ = DOMINATED_BY["avgpool"]
    w = layer_widths(specs, 3)
    assert [(x.w_bits, x.in_bits, x.out_bits) for x in w] == [(3, 8, 3), (0, 3, 3), (3, 3, 32)]


def test_macs_per_kind():
    assert macs(L("c", "conv", (5, 5, 3), (3, 3, 4), 3, 2)) == 3 * 3 * 4 * 9 * 3
    assert macs(L("d", "dwconv", (5, 5, 3), (3, 3, 3), 3, 2)) == 3 * 3 * 3 * 9
    assert macs(L("f", "dense", (7,), (2,))) == 14
    assert macs(L("p", "maxpool", (4, 4, 2), (2, 2, 2))) == 0
    assert conv_out(5, 3, 2) == 3 and conv_out(28, 5, 1) == 28


@pytest.mark.parametrize("bits,expect",
                         [(1, (-1, 1)), (2, (-1, 1)), (4, (-7, 7)), (8, (-127, 127))])
def test_weight_range(bits, expect):
    assert weight_range(bits) == expect


@pytest.mark.parametrize("scale", [1e-9, 3.1e-5, 0.0173, 0.5, 1.0, 2.75, 4097.0])
def test_scale_to_mn_within_2_to_minus_14(scale):
    m, n = scale_to_mn(scale)
    assert 0 < m < 1 << 16 and 1 <= n <= 62
    assert math.isclose(m / 2**n, scale, rel_tol=2**-14)


def test_with_widths_uniform_and_per_layer():
    specs = network_specs("mobilenet", 0.5, (12, 12, 1), 4)
    uniform = with_widths(specs, 3)
    assert [(s.w_bits, s.in_bits, s.out_bits) for s in uniform][:2] == [(3, 8, 3), (3, 3, 3)]
    assert uniform[-1].out_bits == 32 and uniform[-2].kind == "avgpool"
    mixed = with_widths(specs, [8, 4, 2, 2, 4, 2, 4, 2, 4, 8])
    fc, gap = mixed[-1], mixed[-2]
    assert (fc.w_bits, fc.in_bits, fc.out_bits) == (8, 4, 32)
    assert (gap.in_bits, gap.out_bits) == (4, 4)  # keeps the width it reads
    assert [s.in_bits for s in mixed[1:4]] == [8, 4, 2]
    with pytest.raises(ValueError, match="one bit width per weighted layer: 10 layers"):
        with_widths(specs, [2, 2])
    with pytest.raises(ValueError, match="bit widths must be in 1..8, not 9"):
        with_widths(specs, [9] * 10)


def test_with_widths_takes_weight_and_activation_pairs():
    specs = network_specs("vgg", 0.5, (28, 28, 1), 10)
    mixed = with_widths(specs, [4, (2, 4), (2, 3), 1])
    assert [(s.name, s.w_bits, s.in_bits, s.out_bits) for s in mixed if s.w_bits] == [
        ("conv1", 4, 8, 4), ("conv2", 2, 4, 4), ("conv3", 2, 4, 3), ("fc", 1, 3, 32)]
    assert mixed[1].in_bits == mixed[1].out_bits == 4  # the pool keeps conv1's 4 bits
    # equal pairs are the plain width; numpy integers count as integers
    assert with_widths(specs, [np.int64(4), (2, 2), 3, 1]) == with_widths(specs, [4, 2, 3, 1])
    with pytest.raises(ValueError, match="writes int32 logits: give it one width, not 1:3"):
        with_widths(specs, [4, 2, 2, (1, 3)])
    with pytest.raises(ValueError, match="bit widths must be in 1..8, not 0"):
        with_widths(specs, [4, (2, 0), 2, 1])
    with pytest.raises(ValueError, match="an integer or a .weights, activations. pair"):
        with_widths(specs, [4, 2.0, 2, 1])


def test_widths_text_round_trips():
    assert parse_widths("8, 2:4,1:4,2") == (8, (2, 4), (1, 4), 2)
    assert parse_widths("3:3,2") == (3, 2)  # an equal pair is the plain width
    assert format_widths([8, (2, 4), [1, 4], 2]) == "8,2:4,1:4,2"
    assert widest_width([2, (1, 6), 3]) == 6
    for bad in ("2:x", "1:2:3", "", "4,,2"):
        with pytest.raises(ValueError, match="a width is B or W:A"):
            parse_widths(bad)


def test_bundle_specs_carry_the_bundles_widths():
    specs = with_widths(network_specs("vgg", 0.25, (8, 8, 1), 3), 2)
    assert random_network(specs, 2).specs() == specs
