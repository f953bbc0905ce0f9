"""Hand-made integer networks for tests: random, extreme, or calibrated (numpy only).

`random_network` builds a valid `IntegerNetwork` from a list of `LayerSpec` without any
training, with requantize scales calibrated on random images so that hidden activations
use their whole range (a network whose activations are all 0 tests nothing).
"""

from __future__ import annotations

import numpy as np

from intnet.arch import LayerSpec, network_specs
from intnet.bundle import IntegerNetwork, Layer, validate
from intnet.contract import LOGIT_BITS, M_BITS, scale_to_mn, weight_range, weight_shape
from intnet.golden import accumulate, run_layer

# A small network with every layer kind, strides 2, kernels 1/3/5, odd sizes and a hidden
# dense layer: the shapes hand-made-bundle tests use to cover the whole contract.
EVERY_KIND_SPECS = [
    LayerSpec("conv1", "conv", (9, 9, 1), (5, 5, 6), 5, 2),
    LayerSpec("dw1", "dwconv", (5, 5, 6), (3, 3, 6), 3, 2),
    LayerSpec("pw1", "conv", (3, 3, 6), (3, 3, 5), 1, 1),
    LayerSpec("pool1", "maxpool", (3, 3, 5), (1, 1, 5)),
    LayerSpec("gap", "avgpool", (1, 1, 5), (1, 1, 5)),
    LayerSpec("fc1", "dense", (5,), (7,)),
    LayerSpec("fc2", "dense", (7,), (3,)),
]


def _weights(rng, shape, w_bits, mode):
    lo, hi = weight_range(w_bits)
    if mode == "max":
        return np.full(shape, hi, np.int8)
    if mode == "min":
        return np.full(shape, lo, np.int8)
    if w_bits == 1:
        return rng.choice(np.array([-1, 1], np.int8), size=shape)
    return rng.integers(lo, hi + 1, size=shape, dtype=np.int64).astype(np.int8)


def random_network(
    specs: list[LayerSpec],
    q: int,
    *,
    seed: int = 0,
    mode: str = "random",
    calib_images: np.ndarray | None = None,
    arch: str = "custom",
    s: float = 1.0,
    dataset: str = "synthetic",
) -> IntegerNetwork:
    """A valid integer network with the shapes of ``specs`` at ``q`` bits (a spec that
    carries its own ``w_bits``/``out_bits``, `intnet.arch.with_widths`, keeps them).

    ``mode`` is ``"random"`` (uniform weights and biases, scales calibrated so that hidden
    activations span their range), ``"max"`` or ``"min"`` (every weight at its extreme,
    biases at ±2^20, ``m`` = 2^16 − 1 and ``n`` = 1: the accumulator extremes the
    overflow tests need).
    """
    if mode not in ("random", "max", "min"):
        raise ValueError(f"mode must be random, max or min, not {mode!r}")
    rng = np.random.default_rng(seed)
    input_shape = tuple(specs[0].in_shape)
    if calib_images is None:
        calib_images = rng.integers(0, 256, size=(16, *input_shape))
    x = np.asarray(calib_images, dtype=np.int64)
    layers: list[Layer] = []
    bits = 8
    for i, spec in enumerate(specs):
        last = i == len(specs) - 1
        layer = Layer(spec.name, spec.kind, tuple(spec.in_shape), tuple(spec.out_shape),
                      k=spec.k or None, stride=spec.stride if spec.kind in ("conv", "dwconv")
                      else None)
        if spec.kind in ("conv", "dwconv", "dense"):
            w_bits = spec.w_bits or q
            layer.w_bits, layer.in_bits = w_bits, bits
            layer.out_bits = LOGIT_BITS if last else (spec.out_bits or q)
            wshape = weight_shape(spec)
            layer.w = _weights(rng, wshape, w_bits, mode)
            cout = spec.out_shape[-1]
            if mode == "random":
                fan_in = int(np.prod(wshape[1:]))
                spread = int((1 << bits) * max(1, weight_range(w_bits)[1]) * np.sqrt(fan_in))
                layer.b = rng.integers(-spread, spread + 1, size=cout).astype(np.int32)
            else:
                layer.b = np.full(cout, (1 << 20) * (1 if mode == "max" else -1), np.int32)
        elif spec.kind == "avgpool":
            layer.out_bits = spec.out_bits or q
        if layer.requantizes:
            layer.m = np.zeros(layer.out_channels, np.int32)
            layer.n = np.ones(layer.out_channels, np.int32)
            if mode != "random":
                layer.m[:] = (1 << M_BITS) - 1
            else:
                acc = _preactivation(layer, x)
                top = np.percentile(acc.reshape(-1, layer.out_channels), 95, axis=0)
                for c in range(layer.out_channels):
                    t = float(top[c]) if top[c] > 0 else 1.0
                    scale = ((1 << layer.out_bits) - 1) / t * rng.uniform(0.6, 1.4)
                    layer.m[c], layer.n[c] = scale_to_mn(scale)
        layers.append(layer)
        x = run_layer(layer, x)
        if layer.has_weights or layer.kind == "avgpool":
            bits = layer.out_bits
    widest = max([b for layer in layers for b in (layer.w_bits, layer.out_bits)
                  if b and b != LOGIT_BITS] or [q])
    net = IntegerNetwork(arch, widest, s, dataset, input_shape, layers)
    validate(net)
    return net


def _preactivation(layer: Layer, x: np.ndarray) -> np.ndarray:
    if layer.kind == "avgpool":
        return x.sum(axis=(1, 2))
    return accumulate(layer, x)


def family_network(arch: str, q: int, s: float, input_shape=(28, 28, 1), num_classes=10,
                   seed: int = 0, mode: str = "random") -> IntegerNetwork:
    """A random-weight network with the exact shapes of ``arch`` at ``(q, s)``."""
    specs = network_specs(arch, s, input_shape, num_classes)
    return random_network(specs, q, seed=seed, mode=mode, arch=arch, s=s)
