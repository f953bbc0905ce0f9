"""Quantization-aware training of the network family, with a run cache.

A run is a float pre-train (shared by every ``q`` of the same ``arch, s, dataset, seed``)
followed by a QAT fine-tune at ``q`` (or at per-layer widths ``bits``) starting from
MSE-calibrated LSQ steps; then export
to the IntegerNetwork bundle and three test accuracies: float, fake-quant (the folded
torch model) and integer (the golden model of ``intnet.golden``). With ``val`` the last
``val`` training images are held out of both stages and the golden accuracy on them is
reported too (``val_acc``): a split to choose networks on without looking at the test one.

Both stages are cached under ``$QSNAS_CACHE`` (default ``~/.cache/qsnas/runs``), keyed by
the SHA-256 of their configuration; an entry that fails to load or validate is trained
again, never trusted.

Python API for the other packages::

    from model.train import TrainConfig, train, train_and_export
    net, metrics = train_and_export("vgg", q=4, s=1.0, out="build/bundle")
    result = train(TrainConfig(arch="vgg", q=4, s=1.0))   # TrainResult

and the steps of `train`, for benchmarks that run the same recipe on another network
(`bench.brevitas_compare`, `bench.train_epoch`): `setup_torch`, `pretrain` (the cached
float stage), `fit` (the SGD schedule of both stages) and `float_cache_entry`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from common.files import atomic_directory
from intnet.arch import format_widths, normal_scale, normal_widths, widest_width, width_pair
from intnet.bundle import IntegerNetwork, load_bundle, save_bundle
from model.data import Dataset, dataset_id, dataset_shape, hold_out, load_dataset
from model.defaults import DEFAULT_EPOCHS, DEFAULT_FLOAT_EPOCHS  # torch-free, for --help
from model.export import export_network
from model.nets import QNet
from model.quant import clamp_steps_

# Bump when training, export or evaluation changes in a way that invalidates cached runs
# (FLOAT_CACHE_VERSION: only the float pre-train).
CACHE_VERSION = 5
# Bump when only export or evaluation changes: cached runs are re-exported, not retrained.
EXPORT_VERSION = 2
FLOAT_CACHE_VERSION = 1
# Default peak QAT learning rate per architecture (mobilenet q=4 measured 95.7% at 0.01,
# 97.1% at 0.03).
DEFAULT_QAT_LR = {"vgg": 0.01, "mobilenet": 0.03}
# The QAT stage calibrates its LSQ steps on this many first training images.
CALIBRATION_IMAGES = 512


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (and so its cache key)."""

    arch: str = "vgg"  # network family: "vgg" or "mobilenet" (intnet.arch.ARCHS)
    q: int = 4  # bit width of weights and hidden activations, 1..8 (with bits: the widest)
    # width scale: every hidden channel count is round(base·s), at least 1; or one scale
    # per stage (`intnet.arch.stage_scales`)
    s: float | tuple[float, ...] = 1.0
    dataset: str = "mnist5k"  # one of model.data.DATASETS, or the path of a user's .npz
    data_dir: str | None = None  # folder with the cifar10/svhn files (unused for embedded)
    epochs: int | None = None  # QAT epochs at q (0: export the calibrated net); None: default
    float_epochs: int | None = None  # float pre-train epochs (shared by every q); None: default
    seed: int = 0  # seeds weights, batch order and augmentation
    batch_size: int = 64  # images per SGD step
    lr: float = 0.05  # peak SGD learning rate of the float pre-train (cosine decay)
    qat_lr: float | None = None  # peak SGD lr of the QAT fine-tune; None: DEFAULT_QAT_LR
    momentum: float = 0.9  # SGD (Nesterov) momentum
    weight_decay: float = 5e-4  # on conv/dense weights only (not BN, biases, steps)
    shift: int | None = None  # max random shift in pixels (augmentation); None: H // 14
    # One entry per weighted layer (conv, dwconv, dense) as `intnet.arch.with_widths` takes
    # it: an int (the layer's weights and the activations it writes) or a (weights,
    # activations) pair; None: every layer at q.
    bits: tuple | None = None
    # The last ``val`` training images are held out (`model.data.hold_out`): nothing is
    # fitted on them, and the run reports its golden accuracy on them as ``val_acc``.
    val: int = 0

    def key(self, stage: str = "qat") -> str:
        """Cache key of ``stage`` ("qat": the whole run, or "float": its pre-train).

        SHA-256 of the resolved config (defaults filled in), so equal runs share a key:
        usable as the job key of an executor. A uniform run has the key it had before
        per-layer widths existed (`config_dict` leaves ``bits`` out), and per-layer widths
        that are all equal resolve to that uniform run. Likewise ``val = 0`` is left out; a
        held-out ``val`` changes both keys (the float pre-train fits on fewer images too).
        """
        d = config_dict(resolve(self))
        d["dataset"] = dataset_id(d["dataset"])  # a user's file: its contents, not its path
        if stage == "float":  # the float pre-train does not depend on q or the QAT stage
            for name in ("q", "epochs", "qat_lr", "bits"):
                d.pop(name, None)
        d.update(stage=stage, version=FLOAT_CACHE_VERSION if stage == "float" else CACHE_VERSION)
        blob = json.dumps(d, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:24]

    @property
    def aug_shift(self) -> int:
        return self.shift or 0  # None is resolved by `resolve` before training


def config_dict(cfg: TrainConfig) -> dict:
    """``cfg`` as the JSON the cache stores: ``bits`` a list, left out when None (so a
    uniform run's key and stored config are those of the runs cached before it existed;
    an entry whose weights and activations agree is an int, so widths without pairs keep
    the keys they had before pairs existed); ``val`` left out when 0, for the same reason."""
    d = dataclasses.asdict(cfg)
    if d["val"] == 0:
        del d["val"]
    if d["bits"] is None:
        del d["bits"]
    else:
        d["bits"] = [b if isinstance(b, int) else list(b) for b in normal_widths(d["bits"])]
    return d


@dataclass
class TrainResult:
    """A finished (or cached) run: the integer network, its metrics and where it lives."""

    config: TrainConfig
    network: IntegerNetwork  # validated, as the bundle stores it
    metrics: dict  # float_acc, fake_quant_acc, integer_acc, agreement, … (see `train`)
    cache_dir: Path  # the run's cache entry (bundle/, state.pt, result.json)
    cached: bool  # True when the run was loaded from the cache
    _model: QNet | None = field(default=None, repr=False)

    def model(self) -> QNet:
        """The trained torch model, in ``"folded"`` evaluation mode."""
        if self._model is None:
            self._model = _build(self.config, _data_shape(self.network))
            state = torch.load(self.cache_dir / "state.pt", weights_only=True)
            self._model.load_state_dict(state)
        return self._model.eval().set_mode("folded")


def cache_root() -> Path:
    """``$QSNAS_CACHE`` or ``~/.cache/qsnas/runs``."""
    env = os.environ.get("QSNAS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "qsnas" / "runs"


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _data_shape(net: IntegerNetwork) -> tuple[tuple[int, int, int], int]:
    return tuple(net.input_shape), net.num_classes


def _build(cfg: TrainConfig, shape) -> QNet:
    input_shape, classes = shape
    return QNet(cfg.arch, cfg.q, cfg.s, input_shape, classes, bits=cfg.bits)


def to_nchw(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, C] → float pixel values [N, C, H, W]."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float()


def random_shift(x: torch.Tensor, shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each image of ``x`` [N, C, H, W] by up to ``shift`` pixels, zero fill."""
    if shift <= 0:
        return x
    n, _, h, w = x.shape
    xp = F.pad(x, (shift, shift, shift, shift))
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)).to(x.device)  # [N, H]
    cols = (dx[:, None] + torch.arange(w)).to(x.device)  # [N, W]
    idx = torch.arange(n, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]]  # [N, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def predict(model: QNet, pixels: torch.Tensor, mode: str, batch: int = 500) -> np.ndarray:
    """Predicted classes of ``pixels`` [N, C, H, W] in ``mode`` (evaluation)."""
    model.eval().set_mode(mode)
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(pixels), batch):
        out.append(model(pixels[i : i + batch].to(device)).argmax(dim=1).cpu())
    return torch.cat(out).numpy()


def _param_groups(model: QNet, weight_decay: float, exclude=frozenset()) -> list[dict]:
    decay, other = [], []
    for name, p in model.named_parameters():
        if id(p) in exclude:
            continue
        (decay if name.endswith(".weight") and p.dim() > 1 else other).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": other, "weight_decay": 0.0}]


class Penalty(Protocol):
    """A term added to the loss with parameters of its own (`model.bits.BitPenalty`)."""

    params: list  # own SGD (momentum 0.9, peak ``lr``, same schedule), no weight decay
    lr: float

    def loss(self) -> torch.Tensor: ...

    def after_epoch(self) -> str: ...  # progress text


def fit(model: nn.Module, data: Dataset, cfg: TrainConfig, *, mode: str, epochs: int,
        lr: float, gen: torch.Generator, progress: bool, desc: str,
        penalty: Penalty | None = None) -> list[float]:
    """Train ``model`` on ``data``'s training split in ``mode``; the loss per epoch.

    Only the first N − ``cfg.val`` training images are used: the last ``cfg.val`` are the
    held-out validation images (`model.data.hold_out`), whatever the caller passes.

    The recipe of both stages of `train`: SGD (Nesterov, ``cfg.momentum``) at peak ``lr``
    with a short linear warm-up and cosine decay, weight decay on conv/dense weights only,
    batches of ``cfg.batch_size`` in an order drawn from ``gen``, random shifts of up to
    ``cfg.shift`` pixels, and the quantizer steps clamped after every step. ``model`` is
    any module with ``set_mode(mode)`` that takes float pixels [N, C, H, W] (0..255).
    ``penalty`` (learned bit widths) adds its loss; its parameters follow their own SGD
    (momentum 0.9, no decay) at the penalty's peak rate on the same schedule: plain
    gradients, so a layer moves in proportion to what its width costs and earns.
    """
    device = next(model.parameters()).device
    data = hold_out(data, cfg.val)[0]
    x_all, y_all = to_nchw(data.train_x), torch.from_numpy(data.train_y)
    n = len(x_all)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = max(1, epochs * steps_per_epoch)
    warmup = min(total // 10, 2 * steps_per_epoch)
    own = list(penalty.params) if penalty is not None else []
    opt = torch.optim.SGD(_param_groups(model, cfg.weight_decay, {id(p) for p in own}), lr=lr,
                          momentum=cfg.momentum, nesterov=True)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    optimizers = [opt] + ([torch.optim.SGD(own, lr=penalty.lr, momentum=0.9)] if own else [])
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, lr_at) for o in optimizers]
    model.set_mode(mode)
    losses = []
    bar = tqdm(range(epochs), desc=desc, disable=not progress, file=sys.stderr, leave=False)
    for _ in bar:
        model.train()
        perm = torch.randperm(n, generator=gen)
        total_loss = 0.0
        for i in range(0, n, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            if len(idx) < 2:  # batch norm needs two values per channel to train
                continue
            x = random_shift(x_all[idx], cfg.aug_shift, gen).to(device)
            y = y_all[idx].to(device)
            loss = F.cross_entropy(model(x), y)
            if penalty is not None:
                loss = loss + penalty.loss()
            for o in optimizers:
                o.zero_grad(set_to_none=True)
            loss.backward()
            for o, sched in zip(optimizers, scheds, strict=True):
                o.step()
                sched.step()
            clamp_steps_(model)
            total_loss += float(loss.detach()) * len(idx)
        losses.append(total_loss / n)
        shown = {"loss": f"{losses[-1]:.4f}"}
        if penalty is not None:
            shown["bits"] = penalty.after_epoch()
        bar.set_postfix(shown)
    return losses


# ---------------------------------------------------------------------------- cache


def _write_entry(entry: Path, files: dict[str, object]) -> None:
    """Write a cache entry atomically (`common.files.atomic_directory`)."""
    with atomic_directory(entry) as tmp:
        for name, value in files.items():
            if name == "state.pt":
                torch.save(value, tmp / name)
            elif name == "bundle":
                save_bundle(value, tmp / name)
            else:
                (tmp / name).write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")


def _read_json(path: Path, cfg: TrainConfig) -> dict:
    d = json.loads(path.read_text())
    if d.get("config") != config_dict(cfg):
        raise ValueError("config mismatch")
    return d


def _load_float(entry: Path, cfg: TrainConfig, model: QNet) -> dict | None:
    try:
        result = _read_json(entry / "result.json", cfg)
        model.load_state_dict(torch.load(entry / "state.pt", weights_only=True))
        return result
    except Exception:  # noqa: BLE001 - any unreadable entry is simply retrained
        return None


def _load_run(entry: Path, cfg: TrainConfig, data: Dataset) -> TrainResult | None:
    """The cached run, or None when the entry is missing, unreadable or for another
    config. A run exported by an older `EXPORT_VERSION` is exported and evaluated again
    from its trained state (no retraining); an error in that export propagates."""
    try:
        result = _read_json(entry / "result.json", cfg)
        state = torch.load(entry / "state.pt", weights_only=True)
        model = _build(cfg, (data.input_shape, data.num_classes))
        model.load_state_dict(state)
        if result.get("export_version") == EXPORT_VERSION:
            net = load_bundle(entry / "bundle")
            return TrainResult(cfg, net, result["metrics"], entry, True, model)
        metrics = dict(result["metrics"])
    except Exception:  # noqa: BLE001 - any unreadable entry is simply retrained
        return None
    net, evaluated = _export_and_evaluate(model, data, cfg, metrics)
    metrics.update(evaluated)
    _write_entry(entry, {"result.json": _result_json(cfg, metrics), "state.pt": state,
                         "bundle": net})
    return TrainResult(cfg, net, metrics, entry, True, model)


def _result_json(cfg: TrainConfig, metrics: dict) -> dict:
    return {"config": config_dict(cfg), "metrics": metrics, "export_version": EXPORT_VERSION}


def _golden_classes(net: IntegerNetwork, images: np.ndarray) -> np.ndarray:
    """The golden model's classes of uint8 ``images`` [N, H, W, C], 250 at a time."""
    from intnet.golden import classify, run

    return np.concatenate([classify(run(net, images[i : i + 250]))
                           for i in range(0, len(images), 250)])


def _export_and_evaluate(model: QNet, data: Dataset, cfg: TrainConfig,
                         metrics: dict) -> tuple[IntegerNetwork, dict]:
    """Export ``model`` and measure it on the test split, and with ``cfg.val`` the golden
    accuracy on the held-out training images too: ``(network, metrics)``."""
    test_pixels = to_nchw(data.test_x)
    fq_classes = predict(model, test_pixels, "folded")
    qat_classes = predict(model, test_pixels, "quant")
    net = export_network(model, data.name)
    int_classes = _golden_classes(net, data.test_x)
    evaluated = {
        "fake_quant_acc": float((fq_classes == data.test_y).mean()),
        "integer_acc": float((int_classes == data.test_y).mean()),
        "agreement": float((fq_classes == int_classes).mean()),
        "qat_acc": float((qat_classes == data.test_y).mean()),
        "qat_agreement": float((qat_classes == int_classes).mean()),
        "test_images": int(len(data.test_y)),
    }
    if cfg.val:  # measured like integer_acc, on images the run never trained on
        _, val_x, val_y = hold_out(data, cfg.val)
        evaluated["val_acc"] = float((_golden_classes(net, val_x) == val_y).mean())
        evaluated["val_images"] = int(len(val_y))
    shown = dict(metrics, **evaluated)
    net.meta = {"config": config_dict(cfg), "metrics": {
        k: shown[k] for k in ("float_acc", "fake_quant_acc", "integer_acc", "agreement",
                              "test_images", "val_acc", "val_images") if k in shown}}
    return net, evaluated


# ---------------------------------------------------------------------------- training


def cpu_threads() -> int:
    """Torch CPU threads: ``$QSNAS_THREADS``, default 1.

    On the project's shared 2-core machines two OpenMP threads competing with other jobs
    measured 10× slower than one (spin-waiting); set ``QSNAS_THREADS=2`` on an idle machine.
    """
    env = os.environ.get("QSNAS_THREADS", "1")
    try:
        return max(1, min(int(env), os.cpu_count() or 1))
    except ValueError:
        return 1


def setup_torch(cfg: TrainConfig) -> None:
    """Seed torch with ``cfg.seed`` and set its CPU threads (`cpu_threads`), as every
    training run does before building its network."""
    torch.manual_seed(cfg.seed)
    if not torch.cuda.is_available():
        torch.set_num_threads(cpu_threads())


def float_cache_entry(cfg: TrainConfig) -> Path:
    """The run-cache directory of ``cfg``'s float pre-train (shared by every ``q``)."""
    return cache_root() / f"float-{cfg.key('float')}"


class FloatRun(NamedTuple):
    """The float pre-train of a run (`pretrain`)."""

    model: QNet  # trained in "float" mode, on the training device
    float_acc: float  # test accuracy in "float" mode
    seconds: float  # training time (of the run that trained it, when cached)
    cached: bool  # True when loaded from the run cache


def pretrain(cfg: TrainConfig, data: Dataset, device: torch.device, *, progress: bool = True,
             use_cache: bool = True) -> FloatRun:
    """The float pre-train of the resolved config ``cfg`` (`resolve`) on ``data``.

    Seeds torch (`setup_torch`), builds the network and loads it from
    `float_cache_entry`, or trains ``cfg.float_epochs`` epochs with `fit` (writing the
    entry when ``use_cache``).
    """
    entry = float_cache_entry(cfg)
    setup_torch(cfg)
    model = _build(cfg, (data.input_shape, data.num_classes)).to(device)
    if use_cache and (hit := _load_float(entry, cfg_float(cfg), model)) is not None:
        return FloatRun(model, hit["float_acc"], hit["seconds"], True)
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(cfg.seed)
    fit(model, data, cfg, mode="float", epochs=cfg.float_epochs, lr=cfg.lr, gen=gen,
        progress=progress, desc=f"float {cfg.arch} s={cfg.s}")
    seconds = time.perf_counter() - t0
    acc = float((predict(model, to_nchw(data.test_x), "float") == data.test_y).mean())
    if use_cache:
        state = {k: v.cpu() for k, v in model.state_dict().items()}
        _write_entry(entry, {"result.json": {"config": config_dict(cfg_float(cfg)),
                                             "float_acc": acc, "seconds": seconds},
                             "state.pt": state})
    return FloatRun(model, acc, seconds, False)


def calibration_pixels(data: Dataset, cfg: TrainConfig) -> torch.Tensor:
    """The first `CALIBRATION_IMAGES` training images (never held-out ones) as float
    pixels [N, C, H, W], on which the QAT stages calibrate their LSQ steps."""
    train_x = hold_out(data, cfg.val)[0].train_x
    return to_nchw(train_x[: min(CALIBRATION_IMAGES, len(train_x))])


def cfg_float(cfg: TrainConfig) -> TrainConfig:
    """The float-stage view of ``cfg`` (q-independent fields only matter)."""
    return dataclasses.replace(cfg, q=1, epochs=0, qat_lr=0.0, bits=None)


def resolve(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` normalised: ``s`` a float or per-stage tuple (`intnet.arch.normal_scale`),
    default epochs and augmentation shift filled in,
    ``bits`` a tuple with ``q`` its widest (None when every layer has the same width)."""
    cfg = dataclasses.replace(cfg, s=normal_scale(cfg.s))
    if cfg.bits is not None:
        bits = normal_widths(cfg.bits)
        cfg = dataclasses.replace(cfg, q=widest_width(bits),
                                  bits=None if len(set(bits)) == 1 and isinstance(bits[0], int)
                                  else bits)
    if cfg.epochs is None:
        cfg = dataclasses.replace(cfg, epochs=DEFAULT_EPOCHS[cfg.arch])
    if cfg.float_epochs is None:
        cfg = dataclasses.replace(cfg, float_epochs=DEFAULT_FLOAT_EPOCHS[cfg.arch])
    if cfg.qat_lr is None:
        cfg = dataclasses.replace(cfg, qat_lr=DEFAULT_QAT_LR[cfg.arch])
    if cfg.shift is None:
        height = dataset_shape(cfg.dataset)[0][0]
        cfg = dataclasses.replace(cfg, shift=max(1, height // 14))
    return cfg


def check_config(cfg: TrainConfig) -> None:
    """Raise `common.cli.UserError` for a bad configuration, naming the field."""
    from common.cli import UserError, check_choice, check_q, check_s
    from intnet.arch import ARCHS
    from model.data import check_data_files, check_dataset_name, is_npz

    check_choice(cfg.arch, ARCHS, "arch")
    check_q(cfg.q)
    check_s(cfg.s, cfg.arch)
    check_dataset_name(cfg.dataset)
    if is_npz(cfg.dataset):  # its shape decides the network's
        check_data_files(cfg.dataset)
    if cfg.bits is not None:
        check_bits(cfg.arch, cfg.s, cfg.dataset, cfg.bits)
    for name in ("epochs", "float_epochs"):
        value = getattr(cfg, name)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise UserError(f"{name} must be a non-negative integer, not {value!r}")
    if cfg.float_epochs == 0 and cfg.epochs == 0:
        raise UserError("epochs and float_epochs cannot both be 0 (nothing would be trained)")
    if isinstance(cfg.val, bool) or not isinstance(cfg.val, int) or cfg.val < 0:
        # its upper bound, the training images, is checked when the data is loaded
        raise UserError(f"val must be a non-negative integer, not {cfg.val!r}")


def weighted_layer_names(arch: str, s: float, dataset: str) -> list[str]:
    """The layers of ``arch`` at ``s`` on ``dataset`` that take one width each of ``bits``."""
    from intnet.arch import network_specs
    from intnet.contract import WEIGHTED_KINDS

    return [spec.name for spec in network_specs(arch, s, *dataset_shape(dataset))
            if spec.kind in WEIGHTED_KINDS]


def check_bits(arch: str, s: float, dataset: str, bits) -> tuple[int, ...]:
    """``bits`` as a tuple, or `common.cli.UserError` naming what is wrong with it."""
    from common.cli import UserError
    from intnet.arch import network_specs, with_widths

    names = weighted_layer_names(arch, s, dataset)
    bits = tuple(bits)
    if len(bits) != len(names):
        raise UserError(f"bits needs one width per weighted layer of {arch} on {dataset}: "
                        f"{len(names)} ({', '.join(names)}), not {len(bits)}")
    try:
        pairs = [width_pair(b) for b in bits]
    except ValueError as e:
        raise UserError(f"bits: {e}") from None
    bad = [b for pair in pairs for b in pair if not 1 <= b <= 8]
    if bad:
        raise UserError(f"bits must be integer widths in 1..8, not {bad[0]!r}")
    try:  # what else the contract refuses (a W:A pair on the logits layer)
        with_widths(network_specs(arch, s, *dataset_shape(dataset)), bits)
    except ValueError as e:
        raise UserError(str(e)) from None
    return normal_widths(bits)


def train(cfg: TrainConfig, *, progress: bool = True, use_cache: bool = True,
          data: Dataset | None = None) -> TrainResult:
    """Train (or load the cached) run ``cfg``; return its `TrainResult`.

    ``metrics`` holds ``float_acc`` (the float pre-train), ``fake_quant_acc`` (the
    folded fake-quant torch model), ``integer_acc`` (golden model), ``agreement`` (share
    of test images where fake-quant and golden classes agree), ``qat_acc`` and
    ``qat_agreement`` (the same for the QAT training graph evaluated with BN running
    statistics and real scales, i.e. before folding), ``test_images``,
    ``float_seconds``, ``qat_seconds``, ``seconds_per_epoch`` and ``losses``. With
    ``cfg.val`` also ``val_acc`` (golden model on the held-out training images, which
    neither stage trains on) and ``val_images``.
    """
    check_config(cfg)
    data = data if data is not None else load_dataset(cfg.dataset, cfg.data_dir)
    if data.name != cfg.dataset:
        raise ValueError(f"data is {data.name!r} but the config says {cfg.dataset!r}")
    hold_out(data, cfg.val)  # 0 ≤ val < N, before anything is trained
    cfg = resolve(cfg)
    entry = cache_root() / f"run-{cfg.key('qat')}"
    if use_cache and (hit := _load_run(entry, cfg, data)) is not None:
        return hit
    device = default_device()
    model, float_acc, float_seconds, float_cached = pretrain(
        cfg, data, device, progress=progress, use_cache=use_cache)
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    model.calibrate(calibration_pixels(data, cfg).to(device))
    losses = fit(model, data, cfg, mode="quant", epochs=cfg.epochs, lr=cfg.qat_lr, gen=gen,
                 progress=progress, desc=f"QAT {cfg.arch} {width_label(cfg)} s={cfg.s}")
    qat_seconds = time.perf_counter() - t0
    metrics = {
        "float_acc": float_acc,
        "float_seconds": round(float_seconds, 2),
        "float_cached": float_cached,
        "qat_seconds": round(qat_seconds, 2),
        "seconds_per_epoch": round(qat_seconds / max(1, cfg.epochs), 3),
        "losses": [round(v, 5) for v in losses],
    }
    net, evaluated = _export_and_evaluate(model, data, cfg, metrics)
    metrics.update(evaluated)
    if use_cache:
        state = {k: v.cpu() for k, v in model.state_dict().items()}
        _write_entry(entry, {"result.json": _result_json(cfg, metrics), "state.pt": state,
                             "bundle": net})
    return TrainResult(cfg, net, metrics, entry, False, model)


def width_label(cfg: TrainConfig) -> str:
    """``q=4`` or ``bits=8,4,2,4``: a run's widths for people."""
    return f"q={cfg.q}" if cfg.bits is None else "bits=" + format_widths(cfg.bits)


def train_and_export(arch: str, q: int, s: float, dataset: str = "mnist5k",
                     epochs: int | None = None, seed: int = 0, out=None, *,
                     data_dir: str | None = None, float_epochs: int | None = None,
                     progress: bool = True, use_cache: bool = True,
                     bits: tuple | None = None, val: int = 0) -> tuple[IntegerNetwork, dict]:
    """Train (or reuse) ``arch`` at ``(q, s)`` and write its bundle to ``out`` (if given).

    ``bits`` (one width, or (weights, activations) pair, per weighted layer) trains a
    mixed-precision network instead of the uniform ``q`` (``q`` is then ignored: the
    widest width takes its place). ``val`` holds the last ``val`` training images out
    (`TrainConfig.val`).
    Returns the validated `IntegerNetwork` and the metrics dict of `train`, plus
    ``cached`` and ``cache_dir``. ``epochs``/``float_epochs`` default to
    `DEFAULT_EPOCHS`/`DEFAULT_FLOAT_EPOCHS` of ``arch``.
    """
    if bits is not None:
        q = widest_width(bits)
    cfg = TrainConfig(arch=arch, q=q, s=normal_scale(s), dataset=dataset, data_dir=data_dir,
                      epochs=epochs, float_epochs=float_epochs, seed=seed,
                      bits=None if bits is None else tuple(bits), val=val)
    result = train(cfg, progress=progress, use_cache=use_cache)
    if out is not None:
        save_bundle(result.network, out)
    metrics = dict(result.metrics, cached=result.cached, cache_dir=str(result.cache_dir))
    return result.network, metrics
