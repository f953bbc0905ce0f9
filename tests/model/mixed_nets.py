"""Hand-made mixed-precision bundles: one bit width per weighted layer, random weights,
requantizers calibrated so that every layer's activations span their own range.

(`intnet.synthetic.random_network` gives every layer the one ``q`` it is called with.)
"""

from __future__ import annotations

import numpy as np

from intnet.arch import network_specs, with_widths
from intnet.bundle import IntegerNetwork, Layer, validate
from intnet.contract import scale_to_mn, weight_range, weight_shape
from intnet.golden import accumulate, run_layer


def _weights(rng, shape, bits):
    if bits == 1:
        return rng.choice(np.array([-1, 1], np.int8), size=shape)
    lo, hi = weight_range(bits)
    return rng.integers(lo, hi + 1, size=shape).astype(np.int8)


def mixed_network(arch: str, widths: list[int], *, seed: int = 0, input_shape=(28, 28, 1),
                  calib_images: np.ndarray | None = None) -> IntegerNetwork:
    """``arch``'s shapes at s = 1 with weighted layer i at ``widths[i]`` bits."""
    rng = np.random.default_rng(seed)
    specs = with_widths(network_specs(arch, 1.0, input_shape, 10), widths)
    x = rng.integers(0, 256, size=(16, *input_shape)) if calib_images is None else calib_images
    x = np.asarray(x, np.int64)
    layers = []
    for spec in specs:
        layer = Layer(spec.name, spec.kind, spec.in_shape, spec.out_shape, k=spec.k or None,
                      stride=spec.stride if spec.kind in ("conv", "dwconv") else None,
                      w_bits=spec.w_bits, in_bits=spec.in_bits if spec.w_bits else None,
                      out_bits=spec.out_bits if spec.kind != "maxpool" else None)
        if spec.w_bits:
            layer.w = _weights(rng, weight_shape(spec), spec.w_bits)
            spread = (1 << spec.in_bits) * max(1, weight_range(spec.w_bits)[1]) * 4
            layer.b = rng.integers(-spread, spread + 1, size=spec.out_shape[-1]).astype(np.int32)
        if layer.requantizes:
            pre = x.sum(axis=(1, 2)) if spec.kind == "avgpool" else accumulate(layer, x)
            top = np.percentile(pre.reshape(-1, layer.out_channels), 95, axis=0)
            mn = [scale_to_mn(((1 << layer.out_bits) - 1) / (t if t > 0 else 1.0)) for t in top]
            layer.m = np.array([m for m, _ in mn], np.int32)
            layer.n = np.array([n for _, n in mn], np.int32)
        layers.append(layer)
        x = run_layer(layer, x)
    net = IntegerNetwork(arch, max(widths), 1.0, "synthetic", tuple(input_shape), layers)
    validate(net)
    return net
