"""The arithmetic contract of ARCHITECTURE.md as constants and formulas, once.

Every package that needs a bit width, a weight range, a layer's MAC count, a conv's
output size or the accumulator width takes it from here: the bundle's validation, the
golden model, training and export, the hardware generator, and the cycle, resource and
energy models. numpy-free and torch-free on purpose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

INPUT_BITS = 8  # first-layer input pixels are uint8
LOGIT_BITS = 32  # the last layer writes int32 logits
BIAS_BITS = 32  # int32 bias in accumulator units
M_BITS = 16  # requantize multiplier m[c]: unsigned, at most 16 bits
N_MAX = 62  # requantize shift n[c] ∈ [1, 62]: (acc·m + 2^(n−1)) stays in int64
WIDTH_MIN, WIDTH_MAX = 1, 8  # every weight and hidden activation width

LAYER_KINDS = ("conv", "dwconv", "maxpool", "avgpool", "dense")
WEIGHTED_KINDS = ("conv", "dwconv", "dense")


def weight_range(w_bits: int) -> tuple[int, int]:
    """Inclusive integer weight range for ``w_bits`` (1 bit is ±1, stored as −1/+1)."""
    if w_bits == 1:
        return -1, 1
    top = (1 << (w_bits - 1)) - 1
    return -top, top


def weight_max(w_bits: int) -> int:
    """Largest weight magnitude at ``w_bits`` (1 for the ±1 of one bit)."""
    return weight_range(w_bits)[1]


def activation_max(bits: int) -> int:
    """Largest unsigned activation of ``bits`` bits."""
    return (1 << bits) - 1


def scale_to_mn(scale: float) -> tuple[int, int]:
    """``(m, n)`` with ``m < 2^16``, ``n ≥ 1`` and ``m / 2^n ≈ scale`` (relative error < 2^-14).

    Scales so small that ``n`` would pass `N_MAX` become ``m = 0`` (the channel outputs 0).
    """
    if scale <= 0:
        return 0, 1
    mant, exp = math.frexp(scale)  # scale = mant·2^exp, mant ∈ [0.5, 1)
    n = M_BITS - int(exp)
    m = int(round(mant * (1 << M_BITS)))
    if m == 1 << M_BITS:  # rounded up to the next power of two
        m >>= 1
        n -= 1
    while n < 1:  # scale ≥ 2^15: saturates anyway, keep n legal
        n += 1
        m = min((1 << M_BITS) - 1, m * 2)
    if n > N_MAX:
        return 0, 1
    return m, n


def ceil_div(a: int, b: int) -> int:
    """``⌈a/b⌉`` of integers, exactly (no float)."""
    return -(-a // b)


def conv_out(size: int, k: int, stride: int) -> int:
    """Output size of a zero 'same'-padded (pad k//2) convolution."""
    return (size + 2 * (k // 2) - k) // stride + 1


def weight_shape(layer) -> tuple[int, ...]:
    """The ``L.w`` shape of a conv, dwconv or dense layer (a bundle layer or a spec)."""
    if layer.kind == "conv":
        return (layer.out_shape[2], layer.k, layer.k, layer.in_shape[2])
    if layer.kind == "dwconv":
        return (layer.in_shape[2], layer.k, layer.k)
    return (layer.out_shape[0], layer.in_shape[0])


def macs(layer) -> int:
    """Multiply-accumulates of one inference of ``layer`` (0 for pools).

    conv ``Ho·Wo·Cout·K²·Cin``, dwconv ``Ho·Wo·C·K²``, dense ``Nout·Nin``.
    """
    if layer.kind == "conv":
        ho, wo, cout = layer.out_shape
        return ho * wo * cout * layer.k * layer.k * layer.in_shape[2]
    if layer.kind == "dwconv":
        ho, wo, c = layer.out_shape
        return ho * wo * c * layer.k * layer.k
    if layer.kind == "dense":
        return layer.out_shape[0] * layer.in_shape[0]
    return 0


@dataclass(frozen=True)
class Widths:
    """The bit widths one layer works at: weights, activations read, activations written.

    ``w_bits`` is 0 for layers without weights; ``out_bits`` is `LOGIT_BITS` for the logits.
    """

    w_bits: int
    in_bits: int
    out_bits: int


def layer_widths(layers, q: int | None = None) -> list[Widths]:
    """The widths of every layer of a chain, one `Widths` each.

    A layer that carries its own ``w_bits``/``out_bits`` (a bundle layer) keeps them; a
    shape-only one (`intnet.arch.LayerSpec`) takes the uniform width ``q``. Activations
    chain: the first layer reads the 8-bit input, every later layer what the one before
    wrote; the last layer writes `LOGIT_BITS`. This is the one place where a uniform
    ``q`` turns into per-layer widths.
    """
    layers = list(layers)
    bits = INPUT_BITS
    out = []
    for i, layer in enumerate(layers):
        last = i == len(layers) - 1
        if layer.kind in WEIGHTED_KINDS:
            w = getattr(layer, "w_bits", None) or q
            o = getattr(layer, "out_bits", None) or (LOGIT_BITS if last else q)
            if w is None or o is None:
                raise ValueError(f"layer {layer.name}: no bit widths and no uniform q given")
            out.append(Widths(int(w), bits, int(o)))
            bits = int(o)
        elif layer.kind == "avgpool":
            o = getattr(layer, "out_bits", None) or q
            if o is None:
                raise ValueError(f"layer {layer.name}: no bit widths and no uniform q given")
            out.append(Widths(0, bits, int(o)))
            bits = int(o)
        else:
            out.append(Widths(0, bits, bits))
    return out


def accumulator_terms(layer) -> int:
    """Products summed into one accumulator of ``layer`` (0 for a max pool).

    conv ``K²·Cin``, dwconv ``K²``, dense ``Nin``; a global average pool sums its
    ``H·W`` inputs (each times +1).
    """
    if layer.kind == "conv":
        return layer.k * layer.k * layer.in_shape[2]
    if layer.kind == "dwconv":
        return layer.k * layer.k
    if layer.kind == "dense":
        return layer.in_shape[0]
    if layer.kind == "avgpool":
        return layer.in_shape[0] * layer.in_shape[1]
    return 0


def accumulator_bound(layer, widths: Widths) -> int:
    """Largest ``|Σ w·a|`` of one accumulator of ``layer`` at ``widths`` (bias excluded)."""
    w_max = 1 if layer.kind == "avgpool" else weight_max(widths.w_bits) if widths.w_bits else 0
    return accumulator_terms(layer) * w_max * activation_max(widths.in_bits)


def accumulator_bits(layers, q: int | None = None) -> int:
    """Signed accumulator width that holds every layer's worst case exactly.

    ``|b| < 2^31`` plus the largest `accumulator_bound` of any layer, a sign bit, and at
    least the 32-bit logits. The hardware sizes its accumulators with it, the resource
    and energy models price them with it (``q`` as in `layer_widths`).
    """
    layers = list(layers)
    worst = max((accumulator_bound(layer, w)
                 for layer, w in zip(layers, layer_widths(layers, q), strict=True)), default=0)
    return max(LOGIT_BITS, ((1 << (BIAS_BITS - 1)) + worst).bit_length() + 1)
