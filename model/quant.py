"""LSQ-style quantizers with learned step sizes and straight-through gradients.

After lsq-net (Esser et al., "Learned Step Size Quantization", ICLR 2020): the step is a
parameter, the rounding passes its gradient straight through, and the step's gradient is
scaled by ``1/sqrt(N·Qp)`` so that it learns at the pace of the values it quantizes.

Two quantizers, as the arithmetic contract of ARCHITECTURE.md needs them:

- `WeightQuantizer`: signed, narrow range ``[−(2^(q−1)−1), 2^(q−1)−1]``, one step per
  output channel (or one per tensor); q = 1 is ``{−1, +1}`` (the sign, learned scale).
- `ActQuantizer`: unsigned ``[0, 2^q−1]``, one step per layer; the clamp at 0 is the ReLU.

Both round half up (``floor(v + 1/2)``) like the integer requantizer, so the fake-quant
model and the golden model break ties the same way.

For learned precision (`model.bits`, after Uhlich et al. 2020 and Schaefer et al. 2023)
both also take a trainable width: `LearnedBits` holds a real ``b``, the quantizers use
``⌊b + 1/2⌉`` levels and the straight-through rounding lets the loss reach ``b`` through
the clipping range ``Qp(b)`` (``2^(b−1)−1`` for weights, ``2^b−1`` for activations).
"""

from __future__ import annotations

import torch
from torch import nn

from intnet.contract import weight_range


def round_pass(x: torch.Tensor) -> torch.Tensor:
    """``floor(x + 1/2)`` forward, identity gradient (straight-through estimator)."""
    return (torch.floor(x + 0.5) - x).detach() + x


def sign_pass(x: torch.Tensor) -> torch.Tensor:
    """``+1`` where ``x ≥ 0`` else ``−1`` forward, identity gradient."""
    return (torch.where(x >= 0, 1.0, -1.0).to(x.dtype) - x).detach() + x


def grad_scale(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` forward, gradient multiplied by ``scale``."""
    return (x - x * scale).detach() + x * scale


def weight_levels(bits: int) -> tuple[int, int]:
    """``(Qn, Qp)``: the weight integers are ``[−Qn, Qp]`` (q = 1: ``{−1, +1}``)."""
    lo, hi = weight_range(bits)
    return -lo, hi


def act_levels(bits: int) -> int:
    """``Qp``: the activation integers are ``[0, Qp]``."""
    return (1 << bits) - 1


# Steps never go below this (an optimizer step could otherwise make them ≤ 0).
MIN_STEP = 1e-8
# Candidate clipping ratios (of the largest magnitude) searched by `mse_step`.
_RATIOS = torch.linspace(0.05, 1.0, 64)


def weight_integers(w: torch.Tensor, step: torch.Tensor, bits: int) -> torch.Tensor:
    """Integer weights ``clamp(⌊w/step + 1/2⌉, −Qn, Qp)`` (q = 1: sign) with STE gradient.

    ``step`` broadcasts against ``w`` (``[Cout, 1, …]`` or a scalar).
    """
    v = w / step
    if bits == 1:
        return sign_pass(torch.clamp(v, -1.0, 1.0))
    qn, qp = weight_levels(bits)
    return round_pass(torch.clamp(v, -qn, qp))


def mse_step(x: torch.Tensor, levels_fn, dims: tuple[int, ...] | None) -> torch.Tensor:
    """The step from a grid of clipping ratios that minimises the quantization MSE.

    ``levels_fn(x, step)`` returns the quantized integers; ``dims`` are the axes reduced
    for one step (None: all, one scalar step).
    """
    x = x.detach().float()
    if dims is None:
        top = x.abs().amax()
    else:
        top = x.abs().amax(dim=dims, keepdim=True)
    top = torch.clamp(top, min=MIN_STEP)
    best_err, best_step = None, None
    for ratio in _RATIOS:
        step = top * ratio
        err = (levels_fn(x, step) * step - x).pow(2)
        err = err.mean() if dims is None else err.mean(dim=dims, keepdim=True)
        if best_err is None:
            best_err, best_step = err, step
        else:
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best_step = torch.where(better, step, best_step)
    return best_step


def learned_weight_integers(w: torch.Tensor, step: torch.Tensor,
                            bits: torch.Tensor) -> torch.Tensor:
    """`weight_integers` at a trainable width ``bits`` (a scalar tensor, integer-valued
    forward): the clipping range ``±(2^(bits−1)−1)`` carries a gradient to ``bits``. At one
    bit the weights are signs, which have no range: ``bits`` then learns from the
    activations alone."""
    v = w / step
    if int(bits.detach()) == 1:
        return sign_pass(torch.clamp(v, -1.0, 1.0))
    qp = torch.pow(2.0, bits - 1) - 1
    return round_pass(torch.minimum(torch.maximum(v, -qp), qp))


def learned_act_integers(x: torch.Tensor, step: torch.Tensor,
                         bits: torch.Tensor) -> torch.Tensor:
    """Activation integers ``clamp(⌊x/step + 1/2⌉, 0, 2^bits − 1)`` at a trainable width;
    the top of the range carries a gradient to ``bits``."""
    qp = torch.pow(2.0, bits) - 1
    return round_pass(torch.minimum(torch.relu(x / step), qp))


class LearnedBits(nn.Module):
    """A trainable bit width: the real ``value``, used as ``⌊clamp(value, lo, hi) + 1/2⌉``
    (straight-through gradient, so ``value`` moves by fractions while the quantizers see
    integers).

    At one bit the weights are signs (`learned_weight_integers`).
    """

    def __init__(self, init: float, lo: int = 1, hi: int = 8):
        super().__init__()
        if not 1 <= lo <= init <= hi <= 8:
            raise ValueError(f"learned bits need 1 ≤ lo ≤ init ≤ hi ≤ 8, not {lo}, {init}, "
                             f"{hi}")
        self.lo, self.hi = lo, hi
        self.value = nn.Parameter(torch.tensor(float(init)))

    def forward(self) -> torch.Tensor:
        return round_pass(torch.clamp(self.value, self.lo, self.hi))

    def integer(self) -> int:
        """The width the quantizers use now."""
        return int(self().detach())

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep ``value`` within half a bit of ``[lo, hi]`` (in place): beyond, the clamp
        stops its gradient and it could drift for good."""
        self.value.clamp_(self.lo - 0.49, self.hi + 0.49)

    def extra_repr(self) -> str:
        return f"lo={self.lo}, hi={self.hi}"


def _check_bits(bits: int) -> int:
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be in 1..8, not {bits!r}")
    return bits


class WeightQuantizer(nn.Module):
    """Signed narrow-range weight quantizer with a learned step per output channel.

    ``ŵ = clamp(⌊w/s_c + 1/2⌉, −(2^(q−1)−1), 2^(q−1)−1) · s_c`` for q ≥ 2 and
    ``ŵ = sign(w) · s_c`` (``sign(0) = +1``) for q = 1, with ``s_c`` the step of output
    channel ``c`` (axis 0 of the weight). Gradients: straight through the rounding
    inside the clipping range (lsq-net), step gradient scaled by ``1/sqrt(N·Qp)`` with
    ``N`` the number of weights sharing the step.

    Parameters
    ----------
    bits : int
        Weight bit width q in 1..8.
    channels : int
        Output channels (axis 0 of the weight tensor).
    per_channel : bool
        One step per output channel (True) or one for the whole tensor (False; the logit
        layer uses this so that the integer logits keep the float logits' argmax).
    """

    def __init__(self, bits: int, channels: int, per_channel: bool = True):
        super().__init__()
        self.bits = _check_bits(bits)
        self.per_channel = per_channel
        self.step = nn.Parameter(torch.ones(channels if per_channel else 1))

    def _view(self, w: torch.Tensor) -> torch.Tensor:
        """The step shaped to broadcast against ``w`` [Cout, …]."""
        if self.per_channel:
            return self.step.view(-1, *([1] * (w.dim() - 1)))
        return self.step.view(*([1] * w.dim()))

    @torch.no_grad()
    def init_from(self, w: torch.Tensor) -> None:
        """Set the step(s) to the MSE-optimal clipping of ``w`` (in place)."""
        dims = tuple(range(1, w.dim())) if self.per_channel else None
        step = mse_step(w, lambda x, s: weight_integers(x, s, self.bits), dims)
        self.step.copy_(step.reshape(self.step.shape))

    def integers(self, w: torch.Tensor) -> torch.Tensor:
        """The integer weights (as floats) that the bundle stores."""
        return weight_integers(w, self._view(w), self.bits)

    def scale(self, w: torch.Tensor) -> torch.Tensor:
        """The step broadcast against ``w``."""
        return self._view(w)

    def forward(self, w: torch.Tensor, bits: torch.Tensor | None = None) -> torch.Tensor:
        """Fake-quantized ``w``; ``bits``: a trainable width (`LearnedBits`) instead of
        ``self.bits``."""
        width = self.bits if bits is None else int(bits.detach())
        _, qp = weight_levels(width)
        g = 1.0 / (w[0].numel() * qp if self.per_channel else w.numel() * qp) ** 0.5
        step = grad_scale(self._view(w), g)
        if bits is None:
            return weight_integers(w, step, self.bits) * step
        return learned_weight_integers(w, step, bits) * step

    def extra_repr(self) -> str:
        return f"bits={self.bits}, per_channel={self.per_channel}"


class ActQuantizer(nn.Module):
    """Unsigned activation quantizer with one learned step per layer (ReLU included).

    ``â = clamp(⌊x/s + 1/2⌉, 0, 2^q − 1) · s``: the clamp at 0 is the ReLU, the clamp at
    the top saturates. Gradients as in lsq-net, step gradient scaled by
    ``1/sqrt(N·Qp)`` with ``N`` the features of one sample.
    """

    def __init__(self, bits: int):
        super().__init__()
        self.bits = _check_bits(bits)
        self.step = nn.Parameter(torch.ones(()))

    @torch.no_grad()
    def init_from(self, x: torch.Tensor) -> None:
        """Set the step to the MSE-optimal clipping of the (post-ReLU) values ``x``."""
        x = torch.relu(x.detach().float()).flatten()
        if x.numel() > 32_768:  # a deterministic subsample keeps calibration fast
            x = x[:: x.numel() // 32_768 + 1]
        self.step.copy_(mse_step(x, self._integers, None).reshape(()))

    def _integers(self, x: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        return round_pass(torch.clamp(x / step, 0, act_levels(self.bits)))

    def integers(self, x: torch.Tensor) -> torch.Tensor:
        """The integer activations (as floats)."""
        return self._integers(x, self.step)

    def forward(self, x: torch.Tensor, bits: torch.Tensor | None = None) -> torch.Tensor:
        """Fake-quantized ``x``; ``bits``: a trainable width (`LearnedBits`) instead of
        ``self.bits``."""
        qp = act_levels(self.bits if bits is None else int(bits.detach()))
        g = 1.0 / (x[0].numel() * qp) ** 0.5
        step = grad_scale(self.step, g)
        if bits is None:
            return self._integers(x, step) * step
        return learned_act_integers(x, step, bits) * step

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


@torch.no_grad()
def clamp_steps_(module: nn.Module) -> None:
    """Keep every quantizer step of ``module`` at least `MIN_STEP`, and every learned
    width near its range (in place)."""
    for sub in module.modules():
        if isinstance(sub, WeightQuantizer | ActQuantizer):
            sub.step.clamp_(min=MIN_STEP)
        elif isinstance(sub, LearnedBits):
            sub.clamp_()
