"""Export's integer requantizer choice (model.nets.integer_requant) against the trained layer."""

import numpy as np
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from intnet.contract import M_BITS, N_MAX
from intnet.golden import requantize
from model.nets import integer_requant

ACC = np.arange(-3000, 3000)


def _trained(acc, b_real, scale, qp):
    """The trained layer as a function of the integer accumulator."""
    return np.clip(np.floor((acc + b_real) * scale + 0.5), 0, qp)


def _exported(q, b_real, scale):
    """``(b, m, n, exact scale, outputs over ACC)`` of the integer requantizer export
    chooses for one channel; checks that m and n are within the contract."""
    b, m, n, exact = integer_requant(torch.tensor([b_real], dtype=torch.float64),
                                     torch.tensor([scale], dtype=torch.float64), 2**q - 1)
    b, m, n = int(b[0]), int(m[0]), int(n[0])
    assert 0 < m < 2**M_BITS and 1 <= n <= N_MAX
    return b, m, n, float(exact[0]), requantize(ACC + b, np.array([m]), np.array([n]), q)


@settings(max_examples=150, deadline=None)
@given(q=st.integers(1, 2), b_real=st.floats(-60, 60), log_scale=st.floats(-4, 0.7))
@example(q=1, b_real=2.5, log_scale=-2.2e-16)  # a threshold float64 rounded onto -2
def test_one_and_two_bit_layers_are_reproduced_exactly(q, b_real, log_scale):
    scale = float(np.exp(log_scale))
    _, m, n, exact, got = _exported(q, b_real, scale)
    assert np.array_equal(got, _trained(ACC, b_real, scale, 2**q - 1))
    assert exact == m / 2**n


@settings(max_examples=100, deadline=None)
@given(q=st.integers(3, 8), b_real=st.floats(-60, 60), log_scale=st.floats(-6, 0))
def test_wider_layers_keep_a_valid_requantizer_near_the_trained_one(q, b_real, log_scale):
    scale = float(np.exp(log_scale))
    b, _, _, _, got = _exported(q, b_real, scale)
    assert abs(b - b_real) <= 2.5  # the bias stays next to the trained one
    # every output is within one level of the trained layer's
    assert np.max(np.abs(got - _trained(ACC, b_real, scale, 2**q - 1))) <= 1
