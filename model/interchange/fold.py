"""Folding a quantized layer's float arithmetic into the contract's integers ``w, b, m, n``.

Between a weighted layer's integer accumulator ``acc[c] = Σ w·a`` and the next
activation quantizer, a QONNX graph applies only per-channel affine maps (the input and
weight scales, the bias, batch norm, scale ``Mul``\\ s, ReLU, max pool). The importer keeps
them as one affine map per channel, ``v[c] = α[c]·acc[c] + β[c]`` (float64), and closes it
at the quantizer of step ``S`` and ``B`` unsigned bits:

    a[c] = clamp(round(v[c] / S), 0, 2^B − 1)
         = clamp(round(|α[c]|/S · (±acc[c] + b[c])), 0, 2^B − 1)

with the weights (and bias) of a channel with ``α[c] < 0`` negated (symmetric weights
make that exact) and the integers ``m[c], n[c], b[c]`` chosen in `thresholds`: exact on
every reachable accumulator where such a triple exists, else the nearest on calibration
images, else ``m/2^n`` within 2^−14 of ``|α|/S`` and the best integer bias. A last layer
has no quantizer: its logits are ``acc + b`` with one ``α`` for every class (a positive
common factor does not move the argmax); per-class factors are refused. Weights times
2^e (`widen`, up to ``--max-bits``) give a bias ``e`` fractional bits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from common.cli import UserError
from intnet import golden
from intnet.bundle import Layer
from intnet.contract import LOGIT_BITS, scale_to_mn
from model.interchange.thresholds import (
    changed,
    fit_requantizer,
    flippable_pairs,
    float_thresholds,
    nearest_requantizer,
    requant_thresholds,
    threshold_bias,
)

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
# Per-class logit factors closer than this are the same factor (float64 products of the
# same per-tensor scales are equal exactly; the margin only absorbs a last-ulp difference).
SAME_FACTOR_RTOL = 1e-9


@dataclass
class Pending:
    """A weighted layer whose accumulator is known and whose output is not yet quantized."""

    layer: Layer  # kind, shapes, k/stride, w (int8), w_bits, in_bits filled in
    alpha: np.ndarray  # float64 [C]
    beta: np.ndarray  # float64 [C]
    nonnegative: bool = False  # a ReLU was applied
    pool_node: object = None  # a MaxPool moved behind the quantizer (exact while α > 0 stays)
    node: object = None  # the Conv/Gemm/MatMul node that opened the layer

    def add(self, value, node) -> None:
        """An ``Add`` of the constant ``value`` (ONNX broadcasting) on the data path."""
        self.beta = self.beta + self._per_channel(value, node)

    def scale(self, value, node) -> None:
        """A ``Mul`` by the constant ``value`` (ONNX broadcasting) on the data path."""
        self._multiply(self._per_channel(value, node), node)

    def batch_norm(self, gamma, beta, mean, var, eps: float, node) -> None:
        if self.nonnegative:
            raise UserError(f"node {node.name} (BatchNormalization): batch norm after a ReLU "
                            f"is not a requantizer; put it before the ReLU")
        k = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + eps)
        self.beta = self.beta - np.asarray(mean, np.float64)
        self._multiply(k, node)
        self.beta = self.beta + np.asarray(beta, np.float64)

    def _multiply(self, factor: np.ndarray, node) -> None:
        if self.pool_node is not None and np.any(factor <= 0):
            raise UserError(f"node {node.name} ({node.op_type}): a non-positive scale after "
                            f"the max pool {self.pool_node.name}; max pool commutes only with "
                            f"increasing maps: pool after the activation quantizer")
        if self.nonnegative and np.any(factor < 0):
            raise UserError(f"node {node.name} ({node.op_type}): a negative scale after a ReLU")
        self.alpha, self.beta = self.alpha * factor, self.beta * factor

    def _per_channel(self, value, node) -> np.ndarray:
        """A broadcast constant as one value per output channel: a scalar, ``[C, 1, 1]`` or
        ``[1, C, 1, 1]`` on a map (NCHW), ``[C]`` or ``[1, C]`` on a dense output."""
        c = len(self.alpha)
        v = np.asarray(value, np.float64)
        if v.size == 1:
            return np.full(c, float(v.reshape(())))
        axis = v.ndim - 3 if self.layer.kind != "dense" else v.ndim - 1
        if axis < 0 or v.size != c or v.shape[axis] != c:
            raise UserError(f"node {node.name} ({node.op_type}): a constant of shape "
                            f"{list(v.shape)} is not per-tensor or per-channel ({c} channels)")
        return v.reshape(-1).copy()


def _bias(values: np.ndarray, where: str) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise UserError(f"{where}: the folded bias is not finite")
    b = np.floor(values + 0.5)
    if b.min(initial=0) < INT32_MIN or b.max(initial=0) > INT32_MAX:
        raise UserError(f"{where}: the folded bias does not fit int32 accumulator units")
    return b.astype(np.int32)


def _negate_where(layer: Layer, negative: np.ndarray) -> None:
    """Negate the weights of the channels where ``negative`` (symmetric weights: exact)."""
    w = layer.w.astype(np.int64)
    sign = np.where(negative, -1, 1).reshape((-1,) + (1,) * (w.ndim - 1))
    layer.w = (w * sign).astype(np.int8)


def close_hidden(p: Pending, step: float, out_bits: int, node,
                 inputs: np.ndarray | None = None, max_bits: int = 0) -> tuple[Layer, int]:
    """``p`` requantized onto activations of step ``step`` and ``out_bits`` unsigned bits,
    and how many of its channels have no exact integer requantizer.

    ``inputs`` (the layer's input on calibration images) choose the integers where none
    are exact (`thresholds`). Up to ``max_bits``, the weights may widen by ``e`` bits
    (times 2^e) so the bias gains ``e`` fractional bits; the least ``e`` with the fewest
    inexact channels (then the fewest changed calibration accumulators) wins: a bit of
    width must pay, so ``e`` replaces a narrower choice only where it at least halves the
    inexact channels, or keeps them no more and at least halves the calibration
    accumulators that change level (`_pays`).
    """
    layer = p.layer
    alpha, beta = p.alpha, p.beta
    zero = alpha == 0
    if np.any(zero):
        const = np.clip(np.floor(beta[zero] / step + 0.5), 0, (1 << out_bits) - 1)
        if np.any(const != 0):
            raise UserError(f"node {node.name}: layer {layer.name} has channels with zero "
                            f"scale and a non-zero constant output")
    safe = np.abs(np.where(zero, 1.0, alpha))
    _negate_where(layer, alpha < 0)
    offset = np.where(zero, 0.0, beta / safe)  # the bias in accumulator units, real
    _bias(offset, f"layer {layer.name}")  # range check
    # Weights times 2^e scale every accumulator by 2^e: range and calibration sums once.
    lo, hi = accumulator_range(layer)
    calib = sums(layer, inputs)
    best = None
    for e in range(widening(layer.w_bits, max_bits) + 1):
        wide, f = widen(layer, e), 1 << e
        cost, mnb = _requantizers(step / safe * f, offset * f, out_bits, zero, lo * f, hi * f,
                                  None if calib is None else calib * f)
        if best is None or _pays(cost, best[0]):
            best = cost, wide, mnb
        if cost == (0, 0):
            break
    (inexact, _), layer, (layer.m, layer.n, b) = best
    layer.b = _bias(b.astype(np.float64), f"layer {layer.name}")
    layer.out_bits = out_bits
    return layer, inexact


def _pays(cost: tuple[int, int], best: tuple[int, int]) -> bool:
    """Whether a wider layer's ``cost`` (inexact channels, changed calibration accumulators)
    pays for its width against the narrower ``best``: the inexact channels at least halve,
    or they do not grow and the changed accumulators at least halve. (Widening scales the
    thresholds' grid, so the inexact count is not monotone in e, while the calibration
    count says what the data sees: a 3-bit depthwise layer of 5 inexact channels moved 403
    accumulators at its own width and none one bit wider.)"""
    (inexact, moved), (best_inexact, best_moved) = cost, best
    return inexact <= best_inexact // 2 or (inexact <= best_inexact and moved < best_moved
                                            and moved <= best_moved // 2)


def widening(w_bits: int, max_bits: int) -> int:
    """The most bits ``e`` a layer's ``w_bits`` weights may widen by within ``max_bits``."""
    e = 0
    while widened_bits(w_bits, e + 1) <= max_bits:
        e += 1
    return e


def widened_bits(w_bits: int, e: int) -> int:
    """The width of weights times 2^e (±1 binary weights: ±2^e needs e + 2 bits)."""
    if e == 0:
        return w_bits
    return w_bits + e if w_bits > 1 else e + 2


def widen(layer: Layer, e: int) -> Layer:
    """``layer`` with its weights times 2^e (exact: symmetric weights keep their range)."""
    if e == 0:
        return layer
    return replace(layer, w=(layer.w.astype(np.int16) << e).astype(np.int8),
                   w_bits=widened_bits(layer.w_bits, e))


def _requantizers(u: np.ndarray, offset: np.ndarray, out_bits: int, zero: np.ndarray,
                  lo: np.ndarray, hi: np.ndarray,
                  calib: np.ndarray | None) -> tuple[tuple[int, int], tuple]:
    """Every channel's ``(m, n, b)`` (`thresholds`) for accumulators in ``[lo, hi]``
    (``calib``: their values on calibration images, [samples, channels], or None) and the
    cost: the channels without an exact requantizer, then the calibration accumulators
    that change level in them."""
    c_all = len(u)
    m, n, b = np.zeros(c_all, np.int32), np.ones(c_all, np.int32), np.zeros(c_all, np.int64)
    inexact = moved = 0
    for c in np.flatnonzero(~zero):
        fit = fit_requantizer(u[c], offset[c], out_bits, int(lo[c]), int(hi[c]))
        if fit is None:
            samples = None if calib is None else np.sort(calib[:, c])
            if samples is not None:
                fit = nearest_requantizer(u[c], offset[c], out_bits, samples)
            if fit is None:  # the contract's scale, the bias that places most thresholds
                mc, nc = scale_to_mn(1 / u[c])
                fit = mc, nc, threshold_bias(mc, nc, u[c], offset[c], out_bits)
            inexact += 1
            if samples is not None:
                moved += int(changed(requant_thresholds(*fit, out_bits),
                                     float_thresholds(u[c], offset[c], out_bits), samples))
        m[c], n[c], b[c] = fit
    return (inexact, moved), (m, n, b)


def accumulator_range(layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """The least and greatest ``Σ w·a`` of each output channel over every input the layer
    can read (``a`` in [0, 2^in_bits − 1]; zero padding is an input of 0)."""
    w = layer.w.astype(np.int64).reshape(layer.w.shape[0], -1)
    top = (1 << layer.in_bits) - 1
    return np.minimum(w, 0).sum(1) * top, np.maximum(w, 0).sum(1) * top


def sums(layer: Layer, inputs: np.ndarray | None) -> np.ndarray | None:
    """``Σ w·a`` of every output channel on the calibration ``inputs`` (no bias), as
    [samples, channels], or None without calibration data."""
    if inputs is None:
        return None
    acc = golden.accumulate(replace(layer, b=np.zeros(layer.out_channels, np.int64)), inputs)
    return acc.reshape(-1, layer.out_channels)


def close_logits(p: Pending, max_bits: int = 0) -> tuple[Layer, int]:
    """``p`` as the last layer: int32 logits ``acc + b`` (one common positive factor), and
    how many class pairs an input could still put in the other order than the float model.

    Up to ``max_bits`` the weights may widen by ``e`` bits so the biases gain ``e``
    fractional bits: the least ``e`` with the fewest class pairs whose order an input
    could flip (`thresholds.flippable_pairs`).
    """
    layer = p.layer
    node_name = f"{p.node.name} ({p.node.op_type})" if p.node is not None else layer.name
    if layer.kind != "dense":
        raise UserError(f"node {node_name}: the network ends in a {layer.kind} layer; the "
                        f"last layer must be dense (Gemm/MatMul) and give the logits")
    alpha = p.alpha
    ref = alpha[np.argmax(np.abs(alpha))]
    if ref == 0 or np.any(np.abs(alpha - ref) > SAME_FACTOR_RTOL * abs(ref)):
        raise UserError(
            f"node {node_name}: the logits of layer {layer.name} carry a different scale per "
            f"class (per-channel weight scales, batch norm or a per-class Mul after the last "
            f"layer); the bundle's logits are the raw accumulators, so that would change the "
            f"argmax: give the last QuantLinear a per-tensor weight quantizer "
            f"(weight_quant=Int8WeightPerTensorFloat)")
    if ref < 0:
        _negate_where(layer, np.ones(len(alpha), bool))
    real, best = p.beta / abs(ref), None
    for e in range(widening(layer.w_bits, max_bits) + 1):
        b = np.floor(real * 2 ** e + 0.5)
        flips = flippable_pairs(b, real * 2 ** e, e)
        if best is None or flips < best[0]:
            best = flips, e, b
        if flips == 0:
            break
    flips, e, b = best
    layer = widen(layer, e)
    layer.b = _bias(b, f"layer {layer.name}")
    layer.out_bits = LOGIT_BITS
    return layer, flips
