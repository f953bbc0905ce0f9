"""The contract's integers nearest an imported float quantizer: ``(m, n, b)`` of a hidden
channel and the integer biases of the logits.

A float channel after batch norm outputs ``clamp(round((acc + offset)/u), 0, 2^B − 1)``
(``u`` accumulator units per output step, ``offset`` real): it reaches level ``k`` from
the integer accumulator ``θ_k = ⌈(k − ½)·u − offset⌉`` on. The requantizer
``clamp((acc + b)·m + 2^(n−1)) >> n)`` reaches it from ``⌈(k − ½)·2^n/m⌉ − b`` on, with an
integer ``b``. The three steps, best first:

1. `fit_requantizer`: exact over every accumulator the layer can produce. The step
   ``2^n/m`` may leave ``u`` to take up the fraction of ``offset`` an integer bias cannot
   hold (only thresholds inside the reachable range must agree).
2. `nearest_requantizer`: where no exact triple exists, the one under which the fewest
   calibration accumulators (the channel's sums on training images) change level.
3. `threshold_bias`: without calibration data, ``m/2^n`` within 2^−14 of ``1/u`` and the
   bias that places the most thresholds exactly.

Logits are ``acc + b``: a real bias moves the argmax wherever two classes' accumulators
differ by less than the biases' rounding; `flippable_pairs` counts the class pairs where
that can happen (with weights times 2^e, the bias has e fractional bits).
"""

from __future__ import annotations

import math

import numpy as np

from intnet.contract import M_BITS, N_MAX, ceil_div, scale_to_mn

# How far the step 2^n/m may move from u in the calibrated search (relative), and the most
# step intervals it tries per bias (wide layers: the band narrows to stay within it).
STEP_BAND = 0.05
MAX_CELLS = 4096


def _levels(out_bits: int) -> np.ndarray:
    """``k − ½`` for the levels ``k = 1 … 2^B − 1``."""
    return np.arange(1, 1 << out_bits, dtype=np.float64) - 0.5


def float_thresholds(u: float, offset: float, out_bits: int) -> np.ndarray:
    """``θ_k``: the least integer accumulator at level ``k`` in the float model."""
    return np.ceil(_levels(out_bits) * u - offset)


def requant_thresholds(m: int, n: int, b: int, out_bits: int) -> np.ndarray:
    """The least integer accumulator at level ``k`` under the requantizer (exact)."""
    return np.array([ceil_div((2 * k - 1) << (n - 1), m) - b for k in range(1, 1 << out_bits)],
                    np.float64)


def _bias_window(offset: float, window: int) -> list[int]:
    return sorted(range(math.floor(offset) - window, math.ceil(offset) + window + 1),
                  key=lambda b: (abs(b - offset), b))


def fit_requantizer(u: float, offset: float, out_bits: int, lo: int, hi: int,
                    window: int = 8) -> tuple[int, int, int] | None:
    """``(m, n, b)`` giving the float level for every integer accumulator in ``[lo, hi]``,
    or None: for each bias near ``offset`` the thresholds bound ``2^n/m`` to an interval."""
    k = _levels(out_bits)
    theta = float_thresholds(u, offset, out_bits)
    inside, below, above = (theta > lo) & (theta <= hi), theta <= lo, theta > hi
    for b in _bias_window(offset, window):
        low = np.concatenate([(theta[inside] - 1 + b) / k[inside], (hi + b) / k[above], [0]])
        high = np.concatenate([(theta[inside] + b) / k[inside], (lo + b) / k[below], [np.inf]])
        mn = step_in(low.max(), high.min(), u)
        if mn is not None and _agree(requant_thresholds(*mn, b, out_bits), theta, lo, hi):
            return mn[0], mn[1], b
    return None


def step_in(low: float, high: float, u: float) -> tuple[int, int] | None:
    """``(m, n)`` with ``low < 2^n/m ≤ high`` and ``m < 2^16``, ``2^n/m`` nearest ``u``."""
    if not low < high:
        return None
    _, n0 = scale_to_mn(1 / u)
    for n in range(min(n0, N_MAX), max(0, n0 - 4), -1):
        m_lo = max(1, math.ceil(2.0 ** n / high))
        m_hi = min((1 << M_BITS) - 1, math.ceil(2.0 ** n / low) - 1 if low > 0 else 1 << 62)
        if m_lo <= m_hi:
            return min(max(round(2.0 ** n / u), m_lo), m_hi), n
    return None


def _agree(ours: np.ndarray, theta: np.ndarray, lo: int, hi: int) -> bool:
    """Every threshold inside ``(lo, hi]`` equal; one outside stays on its side."""
    inside = (theta > lo) & (theta <= hi)
    return bool(np.all(np.where(inside, ours == theta,
                                np.where(theta <= lo, ours <= lo, ours > hi))))


def changed(ours: np.ndarray, theta: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """How many of the sorted ``samples`` change level between two threshold sets (the
    last axis runs over the levels): those in ``[min, max)`` of a threshold pair."""
    lo = np.searchsorted(samples, np.minimum(ours, theta))
    hi = np.searchsorted(samples, np.maximum(ours, theta))
    return (hi - lo).sum(axis=-1)


def _steps(u: float, b: int, k: np.ndarray) -> np.ndarray:
    """The step values around ``u`` where some requantizer threshold moves (bias ``b``)."""
    band = min(STEP_BAND, MAX_CELLS / (2 * u * k.sum() + 1))
    t_lo, t_hi = u * (1 - band), u * (1 + band)
    edges = [np.arange(math.ceil(t_lo * kk - b), math.floor(t_hi * kk - b) + 1) / kk + b / kk
             for kk in k]
    return np.unique(np.concatenate(edges + [np.array([t_lo, t_hi])]))


def nearest_requantizer(u: float, offset: float, out_bits: int, samples: np.ndarray,
                        window: int = 8) -> tuple[int, int, int] | None:
    """``(m, n, b)`` under which the fewest of the sorted ``samples`` change level (ties:
    the step nearest ``u``, then the bias nearest ``offset``), or None."""
    k = _levels(out_bits)
    theta = float_thresholds(u, offset, out_bits)
    best = None
    for b in _bias_window(offset, window):
        edges = _steps(u, b, k)
        mids = (edges[:-1] + edges[1:]) / 2  # one step per interval of constant thresholds
        cost = changed(np.ceil(mids[:, None] * k - b), theta, samples)
        for i in np.lexsort((np.abs(mids - u), cost)):
            key = (int(cost[i]), abs(mids[i] - u) / u, abs(b - offset))
            if best is not None and key >= best[0]:
                break
            mn = step_in(edges[i], edges[i + 1], u)
            if mn is not None:  # the realised (m, n) has this interval's thresholds
                real = int(changed(requant_thresholds(*mn, b, out_bits), theta, samples))
                found = ((real,) + key[1:], (*mn, b))
                best = found if best is None or found < best else best
                break
    return None if best is None else best[1]


def threshold_bias(m: int, n: int, acc_per_step: float, offset: float, out_bits: int) -> int:
    """The integer bias that puts the most of a channel's thresholds exactly where the
    float model has them, ``m/2^n`` given (ties: the one nearest ``offset``)."""
    ours = requant_thresholds(m, n, 0, out_bits)
    theirs = float_thresholds(acc_per_step, offset, out_bits)
    values, counts = np.unique(ours - theirs, return_counts=True)
    best = counts == counts.max()
    return int(min(values[best], key=lambda b: (abs(b - offset), b)))


def flippable_pairs(b: np.ndarray, real: np.ndarray, e: int) -> int:
    """Class pairs whose order some input can flip: logits ``acc·2^e + b`` against the
    float ``acc·2^e + real``. For classes ``i < j`` (ties go to ``i``) and an integer
    difference ``D = acc_i − acc_j``, the integers prefer ``i`` from
    ``D ≥ ⌈(b_j − b_i)/2^e⌉`` on, the float from ``⌈(real_j − real_i)/2^e⌉``: a pair is
    safe exactly when the two agree."""
    i, j = np.triu_indices(len(b), 1)
    ours = np.ceil((b[j] - b[i]) / 2 ** e)
    theirs = np.ceil((real[j] - real[i]) / 2 ** e)
    return int(np.count_nonzero(ours != theirs))
