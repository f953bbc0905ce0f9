"""The importer's integer requantizers and logit biases against brute force: an exact fit
is exact on every reachable accumulator, the calibrated fit never loses to the plain one,
the flippable class pairs are exactly those some accumulator difference flips, and
widened weights give logits 2^e times finer."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from intnet import golden
from intnet.bundle import Layer
from intnet.contract import scale_to_mn
from model.interchange.fold import widen, widened_bits
from model.interchange.thresholds import (
    changed,
    fit_requantizer,
    flippable_pairs,
    float_thresholds,
    nearest_requantizer,
    requant_thresholds,
    threshold_bias,
)


def float_levels(acc, u, offset, bits):
    return np.clip(np.floor((acc + offset) / u + 0.5), 0, (1 << bits) - 1)


def int_levels(acc, m, n, b, bits):
    return golden.requantize(acc + b, np.int64(m), np.int64(n), bits)


channel = st.tuples(st.floats(0.3, 300.0), st.floats(-400.0, 400.0), st.integers(1, 4),
                    st.integers(-600, 0), st.integers(0, 600))


@settings(max_examples=300, deadline=None)
@given(channel)
def test_an_exact_fit_matches_the_float_level_on_every_reachable_accumulator(case):
    u, offset, bits, lo, hi = case
    fit = fit_requantizer(u, offset, bits, lo, hi)
    acc = np.arange(lo, hi + 1)
    ref = float_levels(acc, u, offset, bits)
    off_tie = np.abs((acc + offset) / u - np.floor((acc + offset) / u) - 0.5) > 1e-9
    if fit is not None:
        assert np.array_equal(int_levels(acc, *fit, bits)[off_tie], ref[off_tie])
        assert 1 <= fit[0] < 1 << 16 and fit[1] >= 1
    if bits == 1:  # one threshold: an integer bias always places it
        assert fit is not None


def test_exact_fits_exist_where_a_fine_search_finds_one():
    rng = np.random.default_rng(0)
    for _ in range(60):
        u, offset = rng.uniform(2, 8), rng.uniform(-40, 40)
        lo, hi = -int(rng.integers(0, 120)), int(rng.integers(0, 120))
        k = np.arange(1, 8) - 0.5
        theta = np.ceil(k * u - offset)
        inside = (theta > lo) & (theta <= hi)
        found = False
        for b in range(math.floor(offset) - 8, math.ceil(offset) + 9):
            ours = np.ceil(k[:, None] * np.linspace(0.8 * u, 1.2 * u, 8001) - b)
            ok = np.where(inside[:, None], ours == theta[:, None],
                          np.where((theta <= lo)[:, None], ours <= lo, ours > hi))
            found = found or bool(ok.all(axis=0).any())
        assert (fit_requantizer(u, offset, 3, lo, hi) is not None) == found


@settings(max_examples=150, deadline=None)
@given(channel, st.integers(0, 2**31 - 1))
def test_the_calibrated_fit_moves_no_more_samples_than_the_plain_one(case, seed):
    u, offset, bits, lo, hi = case
    samples = np.sort(np.random.default_rng(seed).integers(lo, hi + 1, 300))
    theta = float_thresholds(u, offset, bits)
    m, n = scale_to_mn(1 / u)
    plain = changed(requant_thresholds(m, n, threshold_bias(m, n, u, offset, bits), bits),
                    theta, samples)
    fit = nearest_requantizer(u, offset, bits, samples)
    assert fit is not None
    moved = changed(requant_thresholds(*fit, bits), theta, samples)
    assert moved <= plain
    acc = samples
    assert (int_levels(acc, *fit, bits) != float_levels(acc, u, offset, bits)).sum() <= \
        moved + np.sum(np.isclose((acc + offset) / u % 1, 0.5))  # float ties aside


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-100, 100), min_size=2, max_size=5), st.integers(0, 4))
def test_flippable_pairs_are_the_pairs_some_accumulator_difference_flips(real, e):
    real = np.array(real) / 16 * 2 ** e  # dyadic: exact in float, integers included
    b = np.floor(real + 0.5)
    flips = 0
    for i in range(len(real)):
        for j in range(i + 1, len(real)):
            d = np.arange(-20, 21) * 2 ** e  # acc_i − acc_j, in units of the widened grid
            ours = d + b[i] >= b[j]  # ties go to the lower class
            theirs = d + real[i] >= real[j]
            flips += bool(np.any(ours != theirs))
    assert flippable_pairs(b, real, e) == flips


def test_widened_weights_scale_the_logits_exactly():
    rng = np.random.default_rng(1)
    w = rng.integers(-1, 2, (10, 48)).astype(np.int8)
    layer = Layer("fc", "dense", (1, 1, 48), (10,), w_bits=2, in_bits=2, out_bits=32, w=w,
                  b=np.zeros(10, np.int32))
    x = rng.integers(0, 4, (20, 1, 1, 48))
    for e in (1, 3, 6):
        wide = widen(layer, e)
        assert wide.w_bits == 2 + e and np.abs(wide.w).max() <= (1 << (wide.w_bits - 1)) - 1
        assert np.array_equal(golden.run_layer(wide, x), golden.run_layer(layer, x) << e)
    assert widened_bits(1, 3) == 5  # ±8 needs 5 bits
