"""Property tests of the LSQ quantizers (model.quant)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from intnet.contract import scale_to_mn
from intnet.golden import requantize
from model.quant import (
    ActQuantizer,
    WeightQuantizer,
    act_levels,
    grad_scale,
    round_pass,
    weight_integers,
    weight_levels,
)

bits_st = st.integers(1, 8)
# Subnormal weights are excluded: w/step underflows to −0.0 there, whose sign is +1.
floats = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False, width=32)
steps = st.floats(1e-3, 10.0, allow_nan=False)
vectors = arrays(np.float32, st.integers(1, 64), elements=floats)


@settings(max_examples=200, deadline=None)
@given(bits=bits_st, w=vectors, step=steps)
def test_weight_integers_are_in_the_narrow_signed_range(bits, w, step):
    ints = weight_integers(torch.from_numpy(w), torch.tensor(step), bits)
    qn, qp = weight_levels(bits)
    assert torch.equal(ints, torch.round(ints))
    assert ints.min() >= -qn and ints.max() <= qp
    if bits >= 2:
        assert qn == qp == 2 ** (bits - 1) - 1  # symmetric, narrow: −2^(q−1) never occurs
    else:
        assert set(ints.unique().tolist()) <= {-1.0, 1.0}  # q = 1: ±1, never 0


@settings(max_examples=200, deadline=None)
@given(bits=st.integers(2, 8), w=vectors, step=steps)
def test_weight_error_is_at_most_half_a_step_inside_the_range(bits, w, step):
    wt = torch.from_numpy(w).double()
    q = WeightQuantizer(bits, 1, per_channel=False).double()
    with torch.no_grad():
        q.step.fill_(step)
    out = q(wt)
    qp = weight_levels(bits)[1]
    inside = wt.abs() <= qp * step
    err = (out - wt).abs()
    assert torch.all(err[inside] <= step / 2 + 1e-9)
    assert torch.all(out.abs() <= qp * step + 1e-9)


@settings(max_examples=100, deadline=None)
@given(bits=bits_st, w=vectors, step=steps)
def test_one_bit_weights_are_the_sign_times_the_step(bits, w, step):
    wt = torch.from_numpy(w)
    ints = weight_integers(wt, torch.tensor(step), 1)
    assert torch.equal(ints, torch.where(wt >= 0, 1.0, -1.0))


@settings(max_examples=200, deadline=None)
@given(bits=bits_st, x=vectors, step=steps)
def test_activations_are_unsigned_q_bit_and_monotonic(bits, x, step):
    q = ActQuantizer(bits)
    with torch.no_grad():
        q.step.fill_(step)
    xs = torch.sort(torch.from_numpy(x)).values
    ints = q.integers(xs)
    assert ints.min() >= 0 and ints.max() <= act_levels(bits)
    assert torch.all(ints[1:] >= ints[:-1])  # monotonic: max pool commutes with it
    assert torch.all(ints[xs <= 0] == 0)  # the clamp at 0 is the ReLU
    assert torch.allclose(q(xs), ints * step)


@settings(max_examples=100, deadline=None)
@given(bits=bits_st, k=st.integers(0, 254), e=st.integers(-6, 3))
def test_activation_ties_round_up_like_the_integer_requantizer(bits, k, e):
    step = 2.0**e  # exact binary fractions: (k + 1/2)·step is a true tie
    q = ActQuantizer(bits)
    with torch.no_grad():
        q.step.fill_(step)
    got = int(q.integers(torch.tensor([(k + 0.5) * step], dtype=torch.float64)))
    # golden: acc = 2k + 1 half-steps, m/2^n = 1/2 → (acc·m + 2^(n−1)) >> n
    m, n = scale_to_mn(0.5)
    want = int(requantize(np.array([2 * k + 1]), np.array([m]), np.array([n]), bits)[0])
    assert got == want == min(k + 1, act_levels(bits))


@settings(max_examples=50, deadline=None)
@given(bits=bits_st, x=vectors, step=steps)
def test_activation_gradient_is_straight_through_inside_the_range(bits, x, step):
    xt = torch.from_numpy(x).double().requires_grad_(True)
    q = ActQuantizer(bits).double()
    with torch.no_grad():
        q.step.fill_(step)
    q(xt).sum().backward()
    qp = act_levels(bits)
    v = xt.detach() / step
    inside = (v > 0) & (v < qp)
    outside = (v < 0) | (v > qp)
    assert torch.all(xt.grad[inside] == 1) and torch.all(xt.grad[outside] == 0)
    assert q.step.grad is not None and torch.isfinite(q.step.grad).all()


@settings(max_examples=50, deadline=None)
@given(x=vectors, scale=st.floats(1e-3, 1e3))
def test_helpers_are_identity_forward_with_the_stated_gradient(x, scale):
    xt = torch.from_numpy(x).double().requires_grad_(True)
    y = grad_scale(xt, scale)
    assert torch.equal(y, xt.detach())
    y.sum().backward()
    assert torch.allclose(xt.grad, torch.full_like(xt, scale))
    xt.grad = None
    r = round_pass(xt)
    assert torch.equal(r, torch.floor(xt.detach() + 0.5))
    r.sum().backward()
    assert torch.equal(xt.grad, torch.ones_like(xt))


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_quantizers_are_idempotent_and_calibrate_to_positive_steps(bits):
    gen = torch.Generator().manual_seed(bits)
    w = torch.randn(8, 3, 3, 3, generator=gen)
    wq = WeightQuantizer(bits, 8)
    wq.init_from(w)
    assert wq.step.shape == (8,) and torch.all(wq.step > 0)
    once = wq(w).detach()
    assert torch.allclose(wq(once), once)
    aq = ActQuantizer(bits)
    aq.init_from(torch.randn(4096, generator=gen))
    assert aq.step > 0
    a = aq(torch.rand(100, generator=gen) * 3).detach()
    assert torch.allclose(aq(a), a)


def test_bad_bit_widths_are_refused():
    with pytest.raises(ValueError, match="bits must be in 1..8"):
        WeightQuantizer(0, 4)
    with pytest.raises(ValueError, match="bits must be in 1..8"):
        ActQuantizer(9)
