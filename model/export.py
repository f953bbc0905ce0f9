"""Export a trained `QNet` to the IntegerNetwork bundle (the arithmetic contract).

Batch norm folds into the requantizer: its per-channel scale ``γ/σ`` joins ``m[c]`` (a
channel whose scale is negative gets its weights and bias negated; symmetric weights make
that exact), its shift becomes the int32 bias in accumulator units. ``m, n`` come from
`intnet.contract.scale_to_mn`; the global average pool's ``1/(H·W)`` folds into them.
The last dense layer gives raw int32 logits. Every layer is written at its own widths
(``QNet.specs``, `intnet.arch.with_widths`); the manifest's ``q`` is the widest.

The integer parameters (weights, bias, ``m, n``) are those of `model.nets` ``fold``, the
same that its ``"folded"`` evaluation mode uses, so the fake-quant model and the golden
model compute the same integers.
"""

from __future__ import annotations

import numpy as np
import torch

from intnet.arch import normal_scale
from intnet.bundle import IntegerNetwork, Layer, validate
from intnet.contract import LOGIT_BITS
from model.nets import AvgPoolBlock, ConvBlock, DenseBlock, QNet


def _int_array(t: torch.Tensor, dtype) -> np.ndarray:
    arr = t.detach().cpu().double().numpy()
    if not np.all(arr == np.round(arr)):
        raise ValueError("internal error: folded parameters are not integers")
    return arr.astype(np.int64).astype(dtype)


@torch.no_grad()
def export_network(net: QNet, dataset: str, meta: dict | None = None) -> IntegerNetwork:
    """The `IntegerNetwork` of ``net`` (each layer at its own widths), validated."""
    net = net.eval()
    layers: list[Layer] = []
    step = net.input_step()
    last = len(net.specs) - 1
    for i, (spec, block) in enumerate(zip(net.specs, net.blocks, strict=True)):
        layer = Layer(spec.name, spec.kind, tuple(spec.in_shape), tuple(spec.out_shape))
        if spec.kind in ("conv", "dwconv"):
            assert isinstance(block, ConvBlock)
            f = block.fold(step)
            layer.k, layer.stride = spec.k, spec.stride
            layer.w_bits, layer.in_bits, layer.out_bits = spec.w_bits, spec.in_bits, spec.out_bits
            w = f.w.permute(0, 2, 3, 1)  # [Cout, Cin/g, K, K] → [Cout, K, K, Cin/g]
            if spec.kind == "dwconv":
                w = w[..., 0]  # [C, K, K]
            layer.w = _int_array(w, np.int8)
            layer.b = _int_array(f.b, np.int32)
            layer.m, layer.n = _int_array(f.m, np.int32), _int_array(f.n, np.int32)
            step = block.aq.step.detach()
        elif spec.kind == "avgpool":
            assert isinstance(block, AvgPoolBlock)
            layer.out_bits = spec.out_bits
            m, n, _ = block.requant(step)
            layer.m, layer.n = _int_array(m, np.int32), _int_array(n, np.int32)
            step = block.aq.step.detach()
        elif spec.kind == "dense":
            assert isinstance(block, DenseBlock) and i == last
            f = block.fold(step)
            layer.w_bits, layer.in_bits, layer.out_bits = spec.w_bits, spec.in_bits, LOGIT_BITS
            layer.w = _int_array(f.w, np.int8)
            layer.b = _int_array(f.b, np.int32)
        layers.append(layer)
    out = IntegerNetwork(net.arch, net.q, normal_scale(net.s), dataset, net.input_shape, layers,
                         meta=dict(meta or {}))
    validate(out)
    return out
