"""Polynomial regressors: exact recovery, closed-form LOO = brute-force LOO, selection."""

import numpy as np
import pytest

from search.regress import fit_poly, select_poly


def grid():
    q, s = np.meshgrid([1, 2, 3, 4, 6, 8], [0.5, 0.75, 1, 1.5, 2])
    return q.ravel().astype(float), s.ravel()


def test_recovers_an_exact_quadratic():
    q, s = grid()
    y = 0.5 + 0.1 * q - 0.02 * q * s + 0.3 * s**2
    fit = fit_poly(q, s, y, 2)
    np.testing.assert_allclose(fit.predict(q, s), y, atol=1e-6)
    assert fit.loo_rmse < 1e-6


@pytest.mark.parametrize("log_target", [False, True])
def test_closed_form_loo_equals_brute_force(log_target):
    q, s = grid()
    rng = np.random.default_rng(0)
    y = np.exp(0.3 * q + s + rng.normal(0, 0.1, q.size))
    fit = fit_poly(q, s, y, 2, "q,log s", log_target)
    brute = []
    for i in range(q.size):
        keep = np.arange(q.size) != i
        # refit without point i (the feature normalisation of the full fit is kept, as LOO
        # over the hat matrix assumes a fixed design)
        sub = fit_poly(q[keep], s[keep], y[keep], 2, "q,log s", log_target)
        brute.append(y[i] - sub.predict(q[i], s[i]))
    np.testing.assert_allclose(fit.loo_residuals, brute, rtol=1e-4, atol=1e-6)


def test_selection_prefers_the_true_basis():
    q, s = grid()
    y = 0.99 - 0.2 / q - 0.05 / s  # saturating in q: 1/q is the right feature
    best = select_poly(q, s, y, degrees=(1, 2))
    assert best.transform.startswith("1/q")
    assert best.loo_rmse < 0.01


def test_too_few_points_is_a_clear_error():
    with pytest.raises(ValueError, match="too few"):
        select_poly([1, 2], [1, 1], [0.9, 0.95], degrees=(2,))
