"""Export's integer requantizer choice (model.nets.integer_requant) against the trained layer."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from intnet.contract import M_BITS, N_MAX
from intnet.golden import requantize
from model.nets import integer_requant

ACC = np.arange(-3000, 3000)


def _trained(acc, b_real, scale, qp):
    """The trained layer as a function of the integer accumulator."""
    return np.clip(np.floor((acc + b_real) * scale + 0.5), 0, qp)


@settings(max_examples=150, deadline=None)
@given(q=st.integers(1, 2), b_real=st.floats(-60, 60), log_scale=st.floats(-4, 0.7))
def test_one_and_two_bit_layers_are_reproduced_exactly(q, b_real, log_scale):
    scale = float(np.exp(log_scale))
    qp = 2**q - 1
    b, m, n, exact = integer_requant(torch.tensor([b_real], dtype=torch.float64),
                                     torch.tensor([scale], dtype=torch.float64), qp)
    got = requantize(ACC + int(b[0]), np.array([int(m[0])]), np.array([int(n[0])]), q)
    assert np.array_equal(got, _trained(ACC, b_real, scale, qp))
    assert 0 < int(m[0]) < 2**M_BITS and 1 <= int(n[0]) <= N_MAX
    assert float(exact[0]) == int(m[0]) / 2 ** int(n[0])


@settings(max_examples=100, deadline=None)
@given(q=st.integers(3, 8), b_real=st.floats(-60, 60), log_scale=st.floats(-6, 0))
def test_wider_layers_keep_a_valid_requantizer_near_the_trained_one(q, b_real, log_scale):
    scale = float(np.exp(log_scale))
    qp = 2**q - 1
    b, m, n, _ = integer_requant(torch.tensor([b_real], dtype=torch.float64),
                                 torch.tensor([scale], dtype=torch.float64), qp)
    assert abs(float(b[0]) - b_real) <= 2.5  # the bias stays next to the trained one
    assert 0 < int(m[0]) < 2**M_BITS and 1 <= int(n[0]) <= N_MAX
    got = requantize(ACC + int(b[0]), np.array([int(m[0])]), np.array([int(n[0])]), q)
    # every output is within one level of the trained layer's
    assert np.max(np.abs(got - _trained(ACC, b_real, scale, qp))) <= 1
