"""QONNX ``Quant``/``BipolarQuant`` nodes as the contract's integers and step sizes.

A quantizer on a constant (weights, a quantized bias) is evaluated here with qonnx's own
functions; a quantizer on the data path (an activation) is read as its step size and
integer range. Whatever the contract cannot hold is refused in one line naming the node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.cli import UserError
from intnet.contract import WIDTH_MAX


def describe(node) -> str:
    return f"node {node.name} ({node.op_type})"


@dataclass
class WeightQuant:
    """Integer weights ``w`` and one step size per output channel: real = ``w · scale[c]``."""

    w: np.ndarray  # int64, the tensor's own layout
    scale: np.ndarray  # float64 [Cout]
    bits: int


@dataclass
class ActQuant:
    """An activation quantizer on the data path: real = ``a · scale``, ``a ∈ [0, 2^bits − 1]``
    once the sign is known (see `unsigned_bits`)."""

    node: object
    scale: float
    bits: int
    signed: bool
    narrow: bool
    bipolar: bool  # a BipolarQuant (Brevitas writes every 1-bit quantizer as one)

    def unsigned_bits(self, nonnegative: bool) -> int:
        """The unsigned width the requantizer clamps to: ``bits``, or ``bits − 1`` for a
        signed quantizer on a tensor known to be ≥ 0 (its top is 2^(bits−1) − 1)."""
        where = describe(self.node)
        if self.bipolar:
            if not nonnegative:
                raise UserError(
                    f"{where}: ±1 activations are not in the contract (hidden activations "
                    f"are unsigned, zero padding is 0); put a ReLU before a 1-bit quantizer "
                    f"(QuantReLU(bit_width=1)) or use 2 bits")
            return 1
        if self.signed:
            if not nonnegative:
                raise UserError(
                    f"{where}: a signed activation quantizer on a tensor that can be negative; "
                    f"hidden activations are unsigned: put a ReLU before it (QuantReLU)")
            if self.bits < 2:
                raise UserError(f"{where}: a 1-bit signed activation quantizer")
            bits = self.bits - 1
        else:
            if self.narrow:
                raise UserError(f"{where}: a narrow-range unsigned activation quantizer "
                                f"(top 2^b − 2); the requantizer clamps at 2^b − 1: "
                                f"use narrow_range=False")
            bits = self.bits
        if not 1 <= bits <= WIDTH_MAX:
            raise UserError(f"{where}: {bits}-bit activations; the contract holds 1..{WIDTH_MAX}")
        return bits


def _rounding_mode(attrs: dict) -> str:
    mode = attrs.get("rounding_mode", b"ROUND")
    return mode.decode() if isinstance(mode, bytes) else str(mode)


def _scalar_input(graph, node, index: int, what: str) -> float:
    value = graph.constant(node.input[index])
    if value is None:
        raise UserError(f"{describe(node)}: its {what} is computed at run time; "
                        f"the importer needs it constant")
    if np.asarray(value).size != 1:
        raise UserError(f"{describe(node)}: one {what} per tensor expected, "
                        f"got shape {list(np.shape(value))}")
    return float(np.asarray(value).reshape(()))


def _check_zero_point(graph, node) -> None:
    zero = graph.constant(node.input[2])
    if zero is None or np.any(np.asarray(zero) != 0):
        raise UserError(f"{describe(node)}: a non-zero zero point; the contract's zero points "
                        f"are 0 (use a symmetric quantizer)")


def _bits(graph, node, top: int = 16) -> int:
    bits = _scalar_input(graph, node, 3, "bit width")
    if bits != int(bits) or not 1 <= bits <= top:
        raise UserError(f"{describe(node)}: bit width {bits:g} is not an integer in 1..{top}")
    return int(bits)


def activation_quant(graph, node) -> ActQuant:
    """The step size and range of an activation ``Quant``/``BipolarQuant``."""
    attrs = graph.attrs(node)
    if node.op_type == "BipolarQuant":
        scale = _scalar_input(graph, node, 1, "scale")
        return ActQuant(node, scale, 1, True, False, True)
    scale = _scalar_input(graph, node, 1, "scale (per-channel activation scales are not in "
                                               "the contract: one step per layer)")
    _check_zero_point(graph, node)
    mode = _rounding_mode(attrs)
    if mode.upper() not in ("ROUND", "HALF_EVEN"):
        raise UserError(f"{describe(node)}: rounding_mode {mode}; the requantizer rounds to "
                        f"nearest (ROUND)")
    if scale <= 0:
        raise UserError(f"{describe(node)}: scale {scale:g} is not positive")
    return ActQuant(node, scale, _bits(graph, node), bool(attrs.get("signed", 1)),
                    bool(attrs.get("narrow", 0)), False)


def _per_channel(scale: np.ndarray, shape: tuple[int, ...], axis: int, node) -> np.ndarray:
    """``scale`` broadcast on a weight of ``shape`` as one value per output channel."""
    full = np.broadcast_to(np.asarray(scale, np.float64), shape)
    moved = np.moveaxis(full, axis, 0).reshape(shape[axis], -1)
    if np.any(moved != moved[:, :1]):
        raise UserError(f"{describe(node)}: weight scales vary within an output channel "
                        f"(per-group or per-input scales); the contract has one per channel")
    return moved[:, 0].copy()


def weight_quant(graph, node, out_axis: int) -> WeightQuant:
    """The integer weights of a weight quantizer (``out_axis``: the output-channel axis)."""
    from qonnx.custom_op.general.intquant import int_quant, min_int

    x = graph.constant(node.input[0])
    scale = graph.constant(node.input[1])
    if x is None or scale is None:
        raise UserError(f"{describe(node)}: weights or scale computed at run time; the "
                        f"importer needs them constant")
    x = np.asarray(x, np.float64)
    if node.op_type == "BipolarQuant":
        w = np.where(x >= 0, 1, -1).astype(np.int64)
        return WeightQuant(w, _positive(_per_channel(scale, x.shape, out_axis, node), node), 1)
    _check_zero_point(graph, node)
    attrs = graph.attrs(node)
    bits, signed = _bits(graph, node), bool(attrs.get("signed", 1))
    narrow, mode = bool(attrs.get("narrow", 0)), _rounding_mode(attrs)
    if not signed or bits < 2 or bits > WIDTH_MAX:
        raise UserError(f"{describe(node)}: {'signed' if signed else 'unsigned'} {bits}-bit "
                        f"weights; the contract takes signed 2..{WIDTH_MAX}-bit weights "
                        f"(and BipolarQuant for 1 bit)")
    per_channel = _positive(_per_channel(scale, x.shape, out_axis, node), node)
    shape = [1] * x.ndim
    shape[out_axis] = -1
    step = per_channel.reshape(shape)
    w = np.round(int_quant(x, step, 0.0, np.float64(bits), signed, narrow, mode) / step)
    w = w.astype(np.int64)
    if not narrow and np.any(w == min_int(True, False, bits)):
        raise UserError(f"{describe(node)}: weights reach {min_int(True, False, bits)}, outside "
                        f"the contract's symmetric {bits}-bit range; use a narrow-range weight "
                        f"quantizer (narrow_range=True, Brevitas's default)")
    return WeightQuant(w, per_channel, bits)


def _positive(scale: np.ndarray, node) -> np.ndarray:
    if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
        raise UserError(f"{describe(node)}: weight scales must be positive and finite")
    return scale


def constant_value(graph, node) -> np.ndarray:
    """A quantizer on a constant that is not a layer's weights (a quantized bias): its value."""
    w = graph.constant(node.input[0])
    if w is None:
        raise UserError(f"{describe(node)}: quantizes a tensor computed at run time")
    from qonnx.custom_op.general.bipolar_quant import binary_quant
    from qonnx.custom_op.general.intquant import int_quant

    scale = graph.constant(node.input[1])
    if node.op_type == "BipolarQuant":
        return binary_quant(np.asarray(w, np.float64), scale)
    attrs = graph.attrs(node)
    return int_quant(np.asarray(w, np.float64), np.asarray(scale, np.float64),
                     np.asarray(graph.constant(node.input[2]), np.float64),
                     np.float64(_bits(graph, node, 32)), bool(attrs.get("signed", 1)),
                     bool(attrs.get("narrow", 0)), _rounding_mode(attrs))
