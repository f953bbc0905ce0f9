"""Learned per-layer bit widths under a budget (energy or weight memory), then fixed.

After Schaefer et al. ("Edge inference with fully differentiable quantized mixed
precision neural networks", 2023) and Uhlich et al. ("Mixed precision DNNs: all you need
is a good parametrization", ICLR 2020): every weighted layer gets a trainable width
``b`` (`model.quant.LearnedBits`, shared by its weight and activation quantizers, so the
``with_widths`` convention holds while it learns). The quantizers use ``⌊b + 1/2⌉``
levels; the straight-through rounding lets the task loss reach ``b`` through the
clipping range ``Qp(b)`` (clipping hurts → ``b`` grows) and a budget term pulls the other
way:

    loss = cross-entropy + weight · max(0, C(b) / target − 1)

``C`` is any cost of the integer widths: the energy per inference of the design the
search would build (the caller passes `search.mixed.energy_cost`, which evaluates the
cycle and energy models: `model` itself knows no hardware) or the weight memory
(`weight_kb_cost`, shapes only). ``C`` is not differentiable; `LinearisedCost` gives it
a gradient by finite differences around the current integer widths (exact for the
weight memory, which is linear). After the learning phase the widths are rounded, then
lowered greedily until ``C ≤ target`` (`fit_budget`), and the caller fine-tunes the
network at those fixed widths with the ordinary recipe (`model.train.train`).

    budget = BitBudget("weight_kb", 4.0, weight_kb_cost("vgg", 1.0, "mnist5k"), "weights")
    learned = learn_bits(TrainConfig(arch="vgg", s=1.0), budget)
    result = train(dataclasses.replace(cfg, bits=learned.bits))
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from model.data import Dataset, dataset_shape, load_dataset

COST_KINDS = ("energy_uj", "weight_kb")


@dataclass(frozen=True)
class BitBudget:
    """What the widths must fit: ``cost(bits) ≤ target``."""

    kind: str  # "energy_uj" (µJ per inference) or "weight_kb" (KiB of weights)
    target: float  # the budget, in the kind's unit
    cost: Callable[[tuple[int, ...]], float] = field(compare=False, repr=False)
    source: str = ""  # what computes ``cost`` (part of the cache key), e.g. the board


@dataclass(frozen=True)
class LearnConfig:
    """The learning phase (the fine-tune afterwards is an ordinary `train` run)."""

    epochs: int = 6  # epochs with trainable widths
    init: int = 8  # every width starts here (the most accurate end)
    lo: int = 1  # narrowest learned width (at 1 bit weights are signs, see model.quant)
    hi: int = 8  # widest learned width
    bits_lr: float = 0.05  # peak SGD rate of the widths (momentum 0.9)
    weight: float = 3.0  # of the budget term against the cross-entropy


@dataclass
class LearnedWidths:
    """The learning phase's outcome."""

    bits: tuple[int, ...]  # fixed widths that meet the budget (what the fine-tune trains)
    rounded: tuple[int, ...]  # the learned widths rounded, before `fit_budget`
    values: tuple[float, ...]  # the learned real widths
    cost: float  # C(bits)
    met: bool  # C(bits) ≤ target (False: even the narrowest widths cost more)
    history: list[dict]  # per epoch: widths and their cost
    seconds: float  # training time of the learning phase
    cached: bool = False

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("cached")
        return d


def weight_bits(layers) -> int:
    """Bits of weight memory of ``layers`` (specs with widths, or a bundle's layers): Σ
    weights · w_bits, each layer at its own width (what the bundle stores)."""
    from intnet.contract import WEIGHTED_KINDS, weight_shape

    return sum(math.prod(weight_shape(layer)) * layer.w_bits for layer in layers
               if layer.kind in WEIGHTED_KINDS)


def weight_kb_cost(arch: str, s: float, dataset: str) -> Callable[[tuple[int, ...]], float]:
    """``bits`` → KiB of weights at those widths (`weight_bits` / 8192), shapes only."""
    from intnet.arch import network_specs, with_widths

    specs = network_specs(arch, s, *dataset_shape(dataset))

    def cost(bits: tuple[int, ...]) -> float:
        return weight_bits(with_widths(specs, tuple(bits))) / 8192

    return cost


class LinearisedCost:
    """``C(b) ≈ C(b₀) + Σ gᵢ (bᵢ − b₀ᵢ)`` around the current integer widths ``b₀``.

    ``gᵢ`` is the cost of one bit of layer i: its own difference ``dᵢ`` plus an equal share
    of what lowering all layers at its width together saves beyond the sum of their own
    differences. For an additive cost that share is 0; for a cost set by the widest layer
    (an array whose lanes are as wide as the widest layer) the own differences of tied
    layers are 0 and the group's saving is shared among them. A difference is the
    steepest secant to a narrower width (the saving of k bits over k, largest k-wise), so
    a plateau of a stepped cost (the energy model steps where the multipliers move from
    LUTs to DSPs) still pulls towards the step; at the narrowest width, one bit wider.
    """

    def __init__(self, cost: Callable[[tuple[int, ...]], float], lo: int, hi: int):
        self._cost, self.lo, self.hi = cost, lo, hi
        self._memo: dict[tuple[int, ...], float] = {}
        self.center: tuple[int, ...] | None = None
        self.base = 0.0
        self.slopes: list[float] = []

    def value(self, bits: Sequence[int]) -> float:
        bits = tuple(int(b) for b in bits)
        if bits not in self._memo:
            self._memo[bits] = float(self._cost(bits))
        return self._memo[bits]

    def _moved(self, bits: tuple[int, ...], layers: list[int], delta: int) -> tuple[int, ...]:
        return tuple(b + delta if i in layers else b for i, b in enumerate(bits))

    def _step(self, bits: tuple[int, ...], layers: list[int]) -> float:
        """Cost per bit of ``layers`` (all of one width): the steepest secant down."""
        width = bits[layers[0]]
        if width <= self.lo:
            return self.value(self._moved(bits, layers, 1)) - self.value(bits)
        return max((self.value(bits) - self.value(self._moved(bits, layers, -k))) / k
                   for k in range(1, width - self.lo + 1))

    def _slopes(self, bits: tuple[int, ...]) -> list[float]:
        own = [self._step(bits, [i]) for i in range(len(bits))]
        slopes = []
        for i, width in enumerate(bits):
            group = [j for j, w in enumerate(bits) if w == width]
            shared = self._step(bits, group) - sum(own[j] for j in group)
            slopes.append(own[i] + shared / len(group))
        return slopes

    def __call__(self, widths: torch.Tensor) -> torch.Tensor:
        """The linearised cost of ``widths`` (integer-valued forward, with gradients)."""
        center = tuple(int(v) for v in widths.detach().round().tolist())
        if center != self.center:
            self.center, self.base, self.slopes = center, self.value(center), self._slopes(center)
        g = torch.tensor(self.slopes, dtype=widths.dtype)
        b0 = torch.tensor(center, dtype=widths.dtype)
        return self.base + (g * (widths - b0)).sum()


def fit_budget(bits: Sequence[int], values: Sequence[float], budget: BitBudget,
               lo: int, cost: LinearisedCost | None = None) -> tuple[tuple[int, ...], bool]:
    """Lower widths one bit at a time until ``C(bits) ≤ target``: ``(bits, met)``.

    Each move lowers one layer, or every layer at the widest width together (for a cost
    the widest layer sets), whichever saves the most cost per layer moved; ties go to the
    layer whose learned value is nearest to rounding down.
    """
    cost = cost or LinearisedCost(budget.cost, lo, 8)
    bits = [int(b) for b in bits]
    while cost.value(bits) > budget.target:
        now = cost.value(bits)
        moves = [[i] for i, b in enumerate(bits) if b > lo]
        widest = max(bits)
        if widest > lo:
            moves.append([i for i, b in enumerate(bits) if b == widest])
        best, best_key = None, None
        for layers in moves:
            moved = [b - (i in layers) for i, b in enumerate(bits)]
            saved = (now - cost.value(moved)) / len(layers)
            margin = min(values[i] - (bits[i] - 0.5) for i in layers)
            key = (saved, -margin)
            if saved > 0 and (best_key is None or key > best_key):
                best, best_key = moved, key
        if best is None:
            return tuple(bits), False
        bits = best
    return tuple(bits), True


class BitPenalty:
    """The budget term of the loss over a network's `LearnedBits` (`model.train.Penalty`)."""

    def __init__(self, learned: list, budget: BitBudget, learn: LearnConfig):
        self.learned, self.budget, self.weight = learned, budget, learn.weight
        self.cost = LinearisedCost(budget.cost, learn.lo, learn.hi)
        self.params = [b.value for b in learned]
        self.lr = learn.bits_lr
        self.history: list[dict] = []

    def loss(self) -> torch.Tensor:
        widths = torch.stack([b() for b in self.learned])
        return self.weight * torch.relu(self.cost(widths) / self.budget.target - 1)

    def after_epoch(self) -> str:
        bits = tuple(b.integer() for b in self.learned)
        self.history.append({"bits": list(bits),
                             "values": [round(float(b.value.detach()), 3) for b in self.learned],
                             self.budget.kind: self.cost.value(bits)})
        return ",".join(map(str, bits))


def _key(cfg, budget: BitBudget, learn: LearnConfig) -> str:
    from model.train import CACHE_VERSION, config_dict

    d = {"config": config_dict(dataclasses.replace(cfg, q=learn.init, bits=None)),
         "budget": [budget.kind, budget.target, budget.source],
         "learn": dataclasses.asdict(learn), "version": CACHE_VERSION}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:24]


def check_budget(budget: BitBudget, n_layers: int, learn: LearnConfig) -> None:
    """`common.cli.UserError` when not even the narrowest widths meet the budget."""
    from common.cli import UserError

    if budget.kind not in COST_KINDS:
        raise UserError(f"budget kind must be one of {', '.join(COST_KINDS)}, not "
                        f"{budget.kind!r}")
    floor = budget.cost((learn.lo,) * n_layers)
    if not (math.isfinite(budget.target) and budget.target > 0) or floor > budget.target:
        raise UserError(f"the {budget.kind} target {budget.target:g} is below what the "
                        f"narrowest widths ({learn.lo} bits everywhere) cost: {floor:.4g}")


def learn_bits(cfg, budget: BitBudget, learn: LearnConfig = LearnConfig(), *,
               data: Dataset | None = None, progress: bool = True,
               use_cache: bool = True) -> LearnedWidths:
    """Learn widths for ``cfg`` (its arch, s, data and recipe; its q and bits are not used)
    under ``budget``; cached in the run cache by config, budget and ``learn``. With
    ``cfg.val`` the widths are learned without the held-out training images (and the
    float network they start from is the one pre-trained without them)."""
    from model.data import hold_out
    from model.train import (
        _write_entry,
        cache_root,
        calibration_pixels,
        check_config,
        default_device,
        fit,
        pretrain,
        resolve,
        weighted_layer_names,
    )

    cfg = dataclasses.replace(cfg, q=learn.init, bits=None)
    check_config(cfg)
    check_budget(budget, len(weighted_layer_names(cfg.arch, cfg.s, cfg.dataset)), learn)
    data = data if data is not None else load_dataset(cfg.dataset, cfg.data_dir)
    hold_out(data, cfg.val)  # 0 ≤ val < N; `fit` learns on the first N − val images only
    cfg = resolve(cfg)
    entry = cache_root() / f"bits-{_key(cfg, budget, learn)}"
    if use_cache:
        try:
            d = json.loads((entry / "result.json").read_text())
            return LearnedWidths(**{k: tuple(v) if k in ("bits", "rounded", "values") else v
                                  for k, v in d.items()}, cached=True)
        except Exception:  # noqa: BLE001 - any unreadable entry is simply learned again
            pass
    model = pretrain(cfg, data, default_device(), progress=progress, use_cache=use_cache).model
    t0 = time.perf_counter()
    model.calibrate(calibration_pixels(data, cfg).to(next(model.parameters()).device))
    learned = model.learn_bits(lo=learn.lo, hi=learn.hi)
    penalty = BitPenalty(learned, budget, learn)
    fit(model, data, cfg, mode="quant", epochs=learn.epochs, lr=cfg.qat_lr,
        gen=torch.Generator().manual_seed(cfg.seed + 2), progress=progress,
        desc=f"learn bits {cfg.arch} s={cfg.s}", penalty=penalty)
    rounded = model.learned_bits()
    values = tuple(round(float(b.value.detach()), 4) for b in learned)
    bits, met = fit_budget(rounded, values, budget, learn.lo, penalty.cost)
    out = LearnedWidths(bits, rounded, values, penalty.cost.value(bits), met, penalty.history,
                      round(time.perf_counter() - t0, 2))
    if use_cache:
        _write_entry(entry, {"result.json": out.as_dict()})
    return out
