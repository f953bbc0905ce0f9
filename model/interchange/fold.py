"""Folding a quantized layer's float arithmetic into the contract's integers ``w, b, m, n``.

Between a weighted layer's integer accumulator ``acc[c] = Σ w·a`` and the next
activation quantizer, a QONNX graph applies only per-channel affine maps (the input and
weight scales, the bias, batch norm, scale ``Mul``\\ s, ReLU, max pool). The importer keeps
them as one affine map per channel, ``v[c] = α[c]·acc[c] + β[c]`` (float64), and closes it
at the quantizer of step ``S`` and ``B`` unsigned bits:

    a[c] = clamp(round(v[c] / S), 0, 2^B − 1)
         = clamp(round(|α[c]|/S · (±acc[c] + b[c])), 0, 2^B − 1)

with ``b[c] = round(β[c]/α[c])`` in accumulator units and the weights (and bias) of a
channel with ``α[c] < 0`` negated (symmetric weights make that exact), and
``m[c]/2^n[c] = |α[c]|/S`` from `intnet.contract.scale_to_mn` (relative error < 2^−14).
A last layer has no quantizer: its logits are ``acc + b`` with one ``α`` for every class
(a positive common factor does not move the argmax); per-class factors are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from common.cli import UserError
from intnet.bundle import Layer
from intnet.contract import LOGIT_BITS, scale_to_mn

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


def close_hidden(p: Pending, step: float, out_bits: int, node) -> Layer:
    """``p`` requantized onto activations of step ``step`` and ``out_bits`` unsigned bits."""
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
    mn = [scale_to_mn(float(abs(a) / step)) if a else (0, 1) for a in alpha]
    layer.m = np.array([m for m, _ in mn], np.int32)
    layer.n = np.array([n for _, n in mn], np.int32)
    offset = np.where(zero, 0.0, beta / safe)  # the bias in accumulator units, real
    _bias(offset, f"layer {layer.name}")  # range check
    layer.b = np.array([threshold_bias(int(m), int(n), step / a, c, out_bits) if m else 0
                        for m, n, a, c in zip(layer.m, layer.n, safe, offset, strict=True)],
                       np.int64)
    layer.b = _bias(layer.b.astype(np.float64), f"layer {layer.name}")
    layer.out_bits = out_bits
    return layer


def threshold_bias(m: int, n: int, acc_per_step: float, offset: float, out_bits: int) -> int:
    """The integer bias that puts the most of a channel's quantizer thresholds exactly where
    the float model has them (ties: the one nearest ``offset``).

    The float channel outputs ``round(acc/u + offset/u)`` (``u`` = ``acc_per_step``
    accumulator units per output step): it reaches level ``k`` from the integer
    accumulator ``T_k = ⌈(k − ½)·u − offset⌉`` on. The requantizer reaches it from
    ``⌈(2k − 1)·2^(n−1)/m⌉ − b`` on, so bias ``b_k`` makes threshold ``k`` exact. Each
    ``b_k`` is ``⌊offset⌋`` or ``⌈offset⌉``; the one most of ``k = 1 … 2^B − 1`` ask for
    wins. With one threshold (1-bit outputs) the layer is exact; rounding ``offset`` to
    nearest would move every threshold where ``frac`` disagrees.
    """
    levels = range(1, 1 << out_bits)
    ours = [-(-(2 * k - 1) * (1 << (n - 1)) // m) for k in levels]  # ⌈(2k−1)·2^(n−1)/m⌉
    theirs = [math.ceil((k - 0.5) * acc_per_step - offset) for k in levels]
    values, counts = np.unique(np.subtract(ours, theirs, dtype=object).astype(np.float64),
                               return_counts=True)
    best = counts == counts.max()
    return int(min(values[best], key=lambda b: (abs(b - offset), b)))


def close_logits(p: Pending) -> Layer:
    """``p`` as the last layer: int32 logits ``acc + b`` (one common positive factor)."""
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
    layer.b = _bias(p.beta / abs(ref), f"layer {layer.name}")
    layer.out_bits = LOGIT_BITS
    return layer
