"""The quantized network family in torch, built layer by layer from `intnet.arch.network_specs`.

One `QNet` runs in three modes:

- ``"float"``: plain float network (conv → BN → ReLU …), for the float pre-train;
- ``"quant"``: fake-quant QAT (LSQ weights per output channel, LSQ activations per
  layer, BN with batch statistics while training);
- ``"folded"``: the fake-quant model as exported, evaluation only: batch norm folded
  into integer weights, an integer bias in accumulator units and the requantize scale
  ``m/2^n`` (`intnet.contract.scale_to_mn`), activations carried as integers in float64.
  Every product and sum is exact in float64 (``|acc·m| < 2^53``), so this mode computes
  the contract's arithmetic and agrees with the golden model on every logit. (With the
  real scale instead of ``m/2^n``, its relative error of 2^−14 flipped enough low-bit
  activations to cost 4% class agreement on a 2-bit mobilenet.)

Tensors are NCHW inside; the blocks' ``fold`` (and the average pool's ``requant``)
return the exact integer parameters the bundle stores (`model.export` writes them).

Bit widths are per layer, as `intnet.arch.with_widths` fills them in: a uniform ``q`` or
one width per weighted layer (its weights and the activations it writes). For learned
precision (`model.bits`) `QNet.learn_bits` gives every weighted layer a trainable width
(`model.quant.LearnedBits`) that its weight and activation quantizers share in
``"quant"`` mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from intnet.arch import LayerSpec, network_specs, widest_width, with_widths
from intnet.contract import scale_to_mn
from model.quant import ActQuantizer, LearnedBits, WeightQuantizer, act_levels

MODES = ("float", "quant", "folded")
INT32_MAX = (1 << 31) - 1
# A folded channel scale below this is treated as this (the channel is ~constant).
MIN_SCALE = 1e-30


def flatten_hwc(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] → [N, H·W·C] in H, then W, then C order (the contract's flatten)."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def requant_real(y: torch.Tensor, qp: int) -> torch.Tensor:
    """``clamp(⌊y + 1/2⌋, 0, qp)``: the integer requantizer on the scaled accumulator.

    With ``y = acc · (m·2^−n)`` in float64 this equals ``(acc·m + 2^(n−1)) >> n``.
    """
    return torch.clamp(torch.floor(y + 0.5), 0, qp)


def requant_params(scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(m, n, m·2^−n)`` per channel for the real scales ``scale`` (float64)."""
    pairs = [scale_to_mn(float(v)) for v in scale.detach().cpu().double().flatten()]
    m = torch.tensor([p[0] for p in pairs], dtype=torch.int64)
    n = torch.tensor([p[1] for p in pairs], dtype=torch.int64)
    exact = m.double() * torch.pow(2.0, -n.double())
    return m, n, exact.to(scale.device)


def threshold_bias(b_real: torch.Tensor, real_scale: torch.Tensor, m: torch.Tensor,
                   n: torch.Tensor, qp: int) -> torch.Tensor:
    """Integer biases [C] that keep the trained layer's output thresholds on the accumulator.

    The accumulator ``acc`` is an integer, so the trained layer ``clamp(⌊(acc + b_real)·
    scale + 1/2⌋, 0, qp)`` reaches level ``j`` exactly when ``acc ≥ t_j = ⌈(j − 1/2)/scale
    − b_real⌉``, and the integer requantizer with bias ``b`` when ``acc ≥ v_j − b``,
    ``v_j = ⌈(j − 1/2)·2^n/m⌉``. ``b`` is the (lower) median of ``v_j − t_j``: for q = 1
    (one threshold) the integer layer is then exactly the trained one; with more levels
    a single integer bias cannot place every threshold (the fractional part of ``b_real``
    is lost), the median moves the fewest. Measured on mnist5k against plain rounding of
    ``b_real``: mobilenet q = 1/2/3/4 integer accuracy 27→59%, 73→89%, 93→94%, 97.1→97.5%;
    vgg q = 1 94.6→94.1%. (Emulating the rounded bias during QAT instead cost vgg
    0.2–1.7 points, so training does not.) Falls back to rounding where the median is
    more than one unit away from ``b_real`` (wide accumulators, where ``m/2^n`` moves the
    top thresholds) or ``m = 0``.
    """
    rounded = torch.floor(b_real + 0.5)
    j = torch.arange(1, qp + 1, dtype=torch.float64, device=b_real.device) - 0.5  # [Qp]
    t = torch.ceil(j[None, :] / real_scale[:, None] - b_real[:, None])  # [C, Qp]
    m = m.to(b_real.device).double()
    n = n.to(b_real.device).double()
    v = torch.ceil(j[None, :] * torch.pow(2.0, n)[:, None] / torch.clamp(m, min=1)[:, None])
    b = torch.median(v - t, dim=1).values  # lower median: an integer
    ok = (m > 0) & torch.isfinite(b) & ((b - rounded).abs() <= 1)
    b = torch.where(ok, b, rounded)
    return torch.clamp(b, -INT32_MAX, INT32_MAX)


# Levels up to which `integer_requant` searches m, n, b that reproduce every threshold.
EXACT_MATCH_MAX_LEVELS = 15


def _thresholds_ok(t: np.ndarray, b: int, m: int, n: int) -> bool:
    """Whether requantizing ``acc + b`` with ``m, n`` reaches level j exactly at acc ≥ t_j."""
    for j, tj in enumerate(t.tolist(), start=1):
        v = -(-((2 * j - 1) << (n - 1)) // m)  # ⌈(j − 1/2)·2^n / m⌉, exact integers
        if v - b != tj:
            return False
    return True


def integer_requant(b_real: torch.Tensor, real_scale: torch.Tensor, qp: int):
    """Integer bias ``b`` and requantizer ``m, n`` per channel for a trained layer.

    The trained layer maps the integer accumulator to ``clamp(⌊(acc + b_real)·scale +
    1/2⌋, 0, qp)``. Where ``qp ≤ 15`` this searches ``b`` near ``b_real`` and a scale
    ``m/2^n`` (near ``scale``) with which the integer requantizer reaches every level at
    the same accumulator value as the trained layer, i.e. computes the same function of
    the accumulator; otherwise (or when none exists) it keeps ``m/2^n ≈ scale`` and takes
    `threshold_bias`. Returns ``(b, m, n, m·2^−n)``, float64/int64 tensors [C].
    """
    m, n, scale = requant_params(real_scale)
    b = threshold_bias(b_real, real_scale, m, n, qp)
    if qp > EXACT_MATCH_MAX_LEVELS:
        return b, m, n, scale
    j = np.arange(1, qp + 1) - 0.5
    b, m, n = b.clone(), m.clone(), n.clone()
    for c, (br, sc) in enumerate(zip(b_real.tolist(), real_scale.tolist(), strict=True)):
        if not (math.isfinite(br) and math.isfinite(sc) and sc > 0):
            continue
        # level j's first accumulator value, ⌈(j − 1/2)/scale − b_real⌉, in exact rationals:
        # in float64 the difference can round onto an integer (scale 1 − 2^−52, b 2.5)
        t = np.array([math.ceil(Fraction(2 * k - 1, 2) / Fraction(sc) - Fraction(br))
                      for k in range(1, qp + 1)], dtype=np.float64)
        if m[c] > 0 and _thresholds_ok(t, int(b[c]), int(m[c]), int(n[c])):
            continue
        base = math.floor(br)
        for cand in sorted(range(base - 1, base + 3), key=lambda v: abs(v - br)):
            lo = float(np.max((t + cand - 1) / j))  # thresholds need lo < R ≤ hi,
            hi = float(np.min((t + cand) / j))  # R = 2^n/m: accumulator units per level
            if not lo < hi:
                continue
            r = 1.0 / sc if lo < 1.0 / sc <= hi else 0.5 * (lo + hi)
            mc, nc = scale_to_mn(1.0 / r)
            if mc > 0 and _thresholds_ok(t, cand, mc, nc):
                b[c], m[c], n[c] = float(cand), mc, nc
                break
    exact = m.double() * torch.pow(2.0, -n.double())
    return b, m, n, exact.to(real_scale.device)


@dataclass
class Folded:
    """Integer parameters of one layer, as the bundle stores them (torch float64).

    ``w`` integer weights with the sign of negative BN scales folded in, ``b`` integer
    bias in accumulator units, ``m, n`` the requantizer (int64; None for the logit layer)
    and ``scale`` the factor from accumulator to output units: exactly ``m·2^−n`` (which
    approximates ``Sin·Sw·|γ/σ|/Sout``), or for the logit layer ``Sin·Sw``, the logits'
    real scale.
    """

    w: torch.Tensor
    b: torch.Tensor
    scale: torch.Tensor
    m: torch.Tensor | None = None
    n: torch.Tensor | None = None


class ConvBlock(nn.Module):
    """conv (k×k, or depthwise) → BatchNorm → quantized ReLU, from a `LayerSpec` with its
    widths (``w_bits`` weights, ``out_bits`` activations written)."""

    def __init__(self, spec: LayerSpec):
        super().__init__()
        self.spec = spec
        cin, cout = spec.in_shape[2], spec.out_shape[2]
        self.depthwise = spec.kind == "dwconv"
        self.groups = cin if self.depthwise else 1
        self.weight = nn.Parameter(torch.empty(cout, cin // self.groups, spec.k, spec.k))
        nn.init.kaiming_normal_(self.weight, nonlinearity="relu")
        self.bn = nn.BatchNorm2d(cout)
        self.wq = WeightQuantizer(spec.w_bits, cout)
        self.aq = ActQuantizer(spec.out_bits)
        self.learned: LearnedBits | None = None  # set by QNet.learn_bits

    def _conv(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, w, stride=self.spec.stride, padding=self.spec.k // 2,
                        groups=self.groups)

    def preact(self, x: torch.Tensor) -> torch.Tensor:
        """The float BN output (before the ReLU), for calibration."""
        return self.bn(self._conv(x, self.weight))

    def forward(self, x: torch.Tensor, mode: str, in_step: torch.Tensor) -> torch.Tensor:
        if mode == "float":
            return torch.relu(self.preact(x))
        if mode == "quant":
            bits = self.learned() if self.learned is not None else None
            return self.aq(self.bn(self._conv(x, self.wq(self.weight, bits))), bits)
        f = self.fold(in_step)
        acc = self._conv(x, f.w) + f.b.view(1, -1, 1, 1)  # [N, Cout, Ho, Wo], exact ints
        return requant_real(acc * f.scale.view(1, -1, 1, 1), act_levels(self.aq.bits))

    @torch.no_grad()
    def fold(self, in_step: torch.Tensor) -> Folded:
        """Fold BN (running statistics) into integer weights, bias (`threshold_bias`) and m, n."""
        w_int = self.wq.integers(self.weight).double()  # [Cout, Cin/g, K, K]
        sw = self.wq.step.double()
        bn = self.bn
        gamma = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        shift = bn.bias.double() - gamma * bn.running_mean.double()
        eff = gamma * sw * in_step.double()  # real value of one accumulator unit
        sign = torch.where(eff < 0, -1.0, 1.0).double()
        mag = torch.clamp(eff.abs(), min=MIN_SCALE)
        real_scale = mag / self.aq.step.double()  # accumulator unit in output steps
        b, m, n, scale = integer_requant(shift / mag, real_scale, act_levels(self.aq.bits))
        return Folded(w_int * sign.view(-1, 1, 1, 1), b, scale, m, n)


class AvgPoolBlock(nn.Module):
    """Global average pool → quantized (unsigned) output at the width it reads."""

    def __init__(self, spec: LayerSpec):
        super().__init__()
        self.spec = spec
        self.aq = ActQuantizer(spec.out_bits)
        self.learned: LearnedBits | None = None  # the producing layer's, by QNet.learn_bits

    def preact(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=True)

    def forward(self, x: torch.Tensor, mode: str, in_step: torch.Tensor) -> torch.Tensor:
        if mode == "float":
            return self.preact(x)
        if mode == "quant":
            return self.aq(self.preact(x), self.learned() if self.learned is not None else None)
        acc = x.sum(dim=(2, 3), keepdim=True)  # [N, C, 1, 1]
        _, _, scale = self.requant(in_step)
        return requant_real(acc * scale.view(1, -1, 1, 1), act_levels(self.aq.bits))

    def requant(self, in_step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(m, n, m·2^−n)`` per channel for ``Sin / (H·W · Sout)`` (1/(H·W) folded in)."""
        h, w = self.spec.in_shape[:2]
        real = in_step.double() / (h * w * self.aq.step.double())
        return requant_params(real.reshape(1).expand(self.spec.in_shape[2]))


class DenseBlock(nn.Module):
    """The logit layer: quantized weights (one step for the tensor), float bias.

    One weight step for all classes keeps the integer logits proportional to the float
    ones, so their argmax (the class) is the same.
    """

    def __init__(self, spec: LayerSpec):
        super().__init__()
        self.spec = spec
        nin, nout = spec.in_shape[0], spec.out_shape[0]
        self.weight = nn.Parameter(torch.empty(nout, nin))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = nn.Parameter(torch.zeros(nout))
        self.wq = WeightQuantizer(spec.w_bits, nout, per_channel=False)
        self.learned: LearnedBits | None = None  # set by QNet.learn_bits

    def forward(self, x: torch.Tensor, mode: str, in_step: torch.Tensor) -> torch.Tensor:
        x = flatten_hwc(x)  # [N, H·W·C]
        if mode == "float":
            return F.linear(x, self.weight, self.bias)
        if mode == "quant":
            bits = self.learned() if self.learned is not None else None
            return F.linear(x, self.wq(self.weight, bits), self.bias)
        f = self.fold(in_step)
        return (x @ f.w.T + f.b) * f.scale  # real logits from exact integer accumulators

    @torch.no_grad()
    def fold(self, in_step: torch.Tensor) -> Folded:
        w_int = self.wq.integers(self.weight).double()
        unit = (self.wq.step.double() * in_step.double()).reshape(())
        b = torch.clamp(torch.floor(self.bias.double() / unit + 0.5), -INT32_MAX, INT32_MAX)
        return Folded(w_int, b, unit.expand(w_int.shape[0]))


class QNet(nn.Module):
    """A network of the family at width scale ``s``, bit width ``q`` or per-layer ``bits``.

    ``bits`` (one entry per weighted layer, `intnet.arch.with_widths`: a width, or a
    (weights, activations) pair) overrides the uniform ``q``; ``self.q`` is then the
    widest. ``self.specs`` carry every layer's widths.
    Input: pixel values 0..255 as a float tensor [N, C, H, W] (the net divides by 255).
    Output: logits [N, classes] (real units in every mode).
    """

    def __init__(self, arch: str, q: int, s: float, input_shape: tuple[int, int, int],
                 num_classes: int, bits: tuple | None = None):
        super().__init__()
        self.arch, self.s = arch, s
        self.input_shape = tuple(input_shape)
        self.specs = with_widths(network_specs(arch, s, self.input_shape, num_classes),
                                 q if bits is None else bits)
        self.bits = tuple(spec.w_bits for spec in self.specs if spec.w_bits)  # weights'
        self.q = q if bits is None else widest_width(bits)
        blocks: list[nn.Module] = []
        for spec in self.specs:
            if spec.kind in ("conv", "dwconv"):
                blocks.append(ConvBlock(spec))
            elif spec.kind == "maxpool":
                blocks.append(nn.MaxPool2d(2))  # floor mode: an odd last row/column drops
            elif spec.kind == "avgpool":
                blocks.append(AvgPoolBlock(spec))
            else:
                blocks.append(DenseBlock(spec))
        self.blocks = nn.ModuleList(blocks)
        self.mode = "float"

    def weighted_blocks(self) -> list[nn.Module]:
        """The conv, dwconv and dense blocks, in order (one width each)."""
        return [b for b in self.blocks if isinstance(b, ConvBlock | DenseBlock)]

    def learn_bits(self, init: tuple[int, ...] | None = None, lo: int = 1,
                   hi: int = 8) -> list[LearnedBits]:
        """Give every weighted layer a trainable width (``"quant"`` mode), starting at
        ``init`` (default: its own width clamped to ``[lo, hi]``); a global average pool
        shares the width of the layer before it. Returns the widths in layer order."""
        blocks = self.weighted_blocks()
        init = init or tuple(min(max(b, lo), hi) for b in self.bits)
        if len(init) != len(blocks):
            raise ValueError(f"one initial width per weighted layer: {len(blocks)}, "
                             f"got {len(init)}")
        learned, previous = [], None
        for block in self.blocks:
            if isinstance(block, ConvBlock | DenseBlock):
                block.learned = previous = LearnedBits(init[len(learned)], lo, hi)
                learned.append(previous)
            elif isinstance(block, AvgPoolBlock):
                block.learned = previous
        return learned

    def learned_bits(self) -> tuple[int, ...] | None:
        """The trainable widths' current integers (None without `learn_bits`)."""
        blocks = self.weighted_blocks()
        if any(b.learned is None for b in blocks):
            return None
        return tuple(b.learned.integer() for b in blocks)

    def set_mode(self, mode: str) -> QNet:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        return self

    def input_step(self) -> torch.Tensor:
        """Real value of one input unit: pixels are x/255."""
        return torch.tensor(1.0 / 255.0, dtype=torch.float64)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        mode = self.mode
        if mode == "folded":
            if self.training:
                raise RuntimeError("folded mode is for evaluation: call .eval() first")
            x = pixels.double()  # integer activations from here on
        else:
            x = pixels / 255.0
        step = self.input_step()
        for block in self.blocks:
            if isinstance(block, nn.MaxPool2d):
                x = block(x)
                continue
            x = block(x, mode, step)
            if hasattr(block, "aq"):
                step = block.aq.step.detach()
        return x if mode == "folded" else x.float()  # float64 keeps distinct logits apart

    @torch.no_grad()
    def calibrate(self, pixels: torch.Tensor) -> None:
        """Initialise every quantizer step from the float network on a batch (in place).

        Weight steps are MSE-optimal per channel; activation steps MSE-optimal for the
        float post-ReLU values of ``pixels`` [N, C, H, W].
        """
        was_training = self.training
        self.eval()
        x = pixels / 255.0
        for block in self.blocks:
            if isinstance(block, nn.MaxPool2d):
                x = block(x)
                continue
            if hasattr(block, "wq"):
                block.wq.init_from(block.weight)
            if hasattr(block, "aq"):
                block.aq.init_from(block.preact(x))
            x = block(x, "float", self.input_step())
        self.train(was_training)
