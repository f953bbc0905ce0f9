"""Polynomial regressors over (q, s) with the degree chosen by leave-one-out error.

QS-NAS fits accuracy(q, s) and energy(q, s) with polynomials. Here the feature basis is
a choice too: besides raw ``(q, s)``, ``(1/q, log s)`` often fits accuracy better (it
saturates in both), and energy is fitted in log space (it spans decades). Leave-one-out
residuals of least squares come in closed form from the hat matrix,
``e_i / (1 − h_ii)``, so choosing among many models costs one fit each.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

# Feature transforms of (q, s) the selection may pick from.
TRANSFORMS = {
    "q,s": lambda q, s: (q, s),
    "q,log s": lambda q, s: (q, np.log(s)),
    "1/q,log s": lambda q, s: (1.0 / q, np.log(s)),
    "log q,log s": lambda q, s: (np.log(q), np.log(s)),
}


def poly_features(x1: np.ndarray, x2: np.ndarray, degree: int) -> np.ndarray:
    """All monomials ``x1^i · x2^j`` with ``i + j ≤ degree`` (constant first)."""
    cols = [x1**i * x2**j for i, j in itertools.product(range(degree + 1), repeat=2)
            if i + j <= degree]
    return np.stack(cols, axis=-1)


@dataclass
class PolyFit:
    """A fitted polynomial in transformed features; ``log_target`` fits log(y)."""

    transform: str
    degree: int
    coef: np.ndarray
    log_target: bool
    loo_residuals: np.ndarray  # on the original scale of y
    mean: np.ndarray
    std: np.ndarray

    def _x(self, q, s) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        s = np.asarray(s, dtype=float)
        x1, x2 = TRANSFORMS[self.transform](q, s)
        x1 = (x1 - self.mean[0]) / self.std[0]
        x2 = (x2 - self.mean[1]) / self.std[1]
        return poly_features(x1, x2, self.degree)

    def predict(self, q, s) -> np.ndarray:
        y = self._x(q, s) @ self.coef
        return np.exp(y) if self.log_target else y

    @property
    def loo_rmse(self) -> float:
        return float(np.sqrt(np.mean(self.loo_residuals**2)))

    def loo_mape(self, y: np.ndarray) -> float:
        return float(np.mean(np.abs(self.loo_residuals) / np.abs(y)))

    def describe(self) -> dict:
        return {"degree": self.degree, "features": self.transform,
                "log_target": self.log_target, "loo_rmse": self.loo_rmse}


def fit_poly(q, s, y, degree: int, transform: str = "q,s", log_target: bool = False,
             ridge: float = 1e-9) -> PolyFit:
    """Least-squares fit of ``y`` over monomials of the transformed ``(q, s)``."""
    q, s, y = (np.asarray(v, dtype=float) for v in (q, s, y))
    x1, x2 = TRANSFORMS[transform](q, s)
    mean = np.array([x1.mean(), x2.mean()])
    std = np.array([x1.std() or 1.0, x2.std() or 1.0])
    x = poly_features((x1 - mean[0]) / std[0], (x2 - mean[1]) / std[1], degree)
    t = np.log(y) if log_target else y
    gram = x.T @ x + ridge * np.eye(x.shape[1])
    coef = np.linalg.solve(gram, x.T @ t)
    hat = np.einsum("ij,jk,ik->i", x, np.linalg.inv(gram), x)
    loo_t = t - (t - x @ coef) / np.clip(1 - hat, 1e-9, None)  # LOO prediction of each point
    loo_y = np.exp(loo_t) if log_target else loo_t
    return PolyFit(transform, degree, coef, log_target, y - loo_y, mean, std)


def select_poly(q, s, y, *, degrees=(1, 2, 3, 4), transforms=tuple(TRANSFORMS),
                log_target: bool = False, metric: str = "rmse") -> PolyFit:
    """The (transform, degree) with the least leave-one-out error.

    Models with as many coefficients as points are skipped (they interpolate and their
    LOO error is undefined).
    """
    y = np.asarray(y, dtype=float)
    best, best_err = None, np.inf
    for transform in transforms:
        for degree in degrees:
            n_coef = (degree + 1) * (degree + 2) // 2
            if n_coef >= len(y):
                continue
            fit = fit_poly(q, s, y, degree, transform, log_target)
            err = fit.loo_rmse if metric == "rmse" else fit.loo_mape(y)
            if np.isfinite(err) and err < best_err:
                best, best_err = fit, err
    if best is None:
        raise ValueError(f"{len(y)} samples are too few for any polynomial of degree "
                         f"{min(degrees)} in two variables")
    return best
