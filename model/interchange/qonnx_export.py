"""A bundle as a QONNX graph with ``Quant`` nodes, for qonnx, FINN and hls4ml's frontends.

The graph reads what a Brevitas model reads, ``x/255`` as float32 NCHW, and keeps every
tensor on an integer grid of step 1, the way QONNX represents quantized values: the input
is scaled back to pixels and quantized to 8 unsigned bits; each weighted layer has its
integer weights behind a ``Quant`` (``BipolarQuant`` at one bit) of scale 1 and runs as a
float32 ``Conv``/``Gemm``; then, in float64, its bias is added and its requantizer is a
``Mul`` by ``m/2^n`` and an unsigned ``Quant`` of scale 1 and the layer's width, cast back
to float32. A global average pool is a ``ReduceSum`` and the same requantizer. The output
is the float64 logits.

It computes the golden logits exactly while every ``|Σ w·a|`` (`accumulator_bound`) and
every ``|acc + b|`` stay below 2^24 (docs/interchange.md): float32 sums of integers below
2^24 are exact in any order; ``(acc + b)·m/2^n`` is exact in float64 (< 2^40 · 2^−n); and
the factor is nudged up by a relative 2^−40, which lifts exact halves (``Quant`` rounds
half to even, the requantizer half up) without moving any other value across a rounding
boundary. Our importer reads the file back to a bundle with the same golden logits.
"""

from __future__ import annotations

import numpy as np

from intnet.bundle import IntegerNetwork, Layer
from model.interchange.onnx_export import OPSET, _Builder, _channel, chw_rows
from model.interchange.qonnx_graph import QONNX_DOMAIN

INPUT, OUTPUT = "global_in", "global_out"
FLOAT, DOUBLE = 1, 11  # ONNX TensorProto element types
# Relative nudge of the requantizer's factor: rounds exact halves up (see the docstring).
HALF_UP_NUDGE = 2.0 ** -40
EXACT_FLOAT32 = 1 << 24  # integers below this are exact in float32


def _quant(g: _Builder, x: str, prefix: str, bits: int, signed: bool) -> str:
    """``Quant(x, scale 1, zero point 0, bits)``, narrow when signed (symmetric weights)."""
    from onnx import helper

    g.count += 1
    out = f"{prefix}/Quant_{g.count}"
    inputs = [x, g.const(f"{out}.scale", np.array(1.0, np.float32)),
              g.const(f"{out}.zero", np.array(0.0, np.float32)),
              g.const(f"{out}.bits", np.array(float(bits), np.float32))]
    g.nodes.append(helper.make_node("Quant", inputs, [out], name=out, domain=QONNX_DOMAIN,
                                    signed=int(signed), narrow=int(signed),
                                    rounding_mode="ROUND"))
    return out


def _weights(g: _Builder, layer: Layer, w: np.ndarray) -> str:
    from onnx import helper

    p = layer.name
    raw = g.const(f"{p}.w", w.astype(np.float32))
    if layer.w_bits > 1:
        return _quant(g, raw, p, layer.w_bits, True)
    g.count += 1
    out = f"{p}/BipolarQuant_{g.count}"
    g.nodes.append(helper.make_node("BipolarQuant",
                                    [raw, g.const(f"{out}.scale", np.array(1.0, np.float32))],
                                    [out], name=out, domain=QONNX_DOMAIN))
    return out


def _requantize(g: _Builder, acc: str, layer: Layer, spatial: bool) -> str:
    """float64 ``Mul`` by ``m/2^n`` (nudged), unsigned ``Quant``, back to float32."""
    p = layer.name
    factor = layer.m.astype(np.float64) / np.exp2(layer.n.astype(np.float64))
    factor = factor * (1 + HALF_UP_NUDGE)
    if np.all(factor == factor[0]):
        k = g.const(f"{p}.factor", np.array(factor[0], np.float64))
    else:
        k = g.const(f"{p}.factor", _channel(factor, np.float64, spatial))
    y = _quant(g, g.op("Mul", [acc, k], p), p, layer.out_bits, False)
    return g.op("Cast", [y], p, to=FLOAT)


def _layer(g: _Builder, x: str, layer: Layer, map_shape) -> str:
    p = layer.name
    if layer.kind == "maxpool":
        return g.op("MaxPool", [x], p, kernel_shape=[2, 2], strides=[2, 2])
    if layer.kind == "avgpool":
        axes = g.const(f"{p}.axes", np.array([2, 3], np.int64))
        total = g.op("ReduceSum", [x, axes], p, keepdims=1)
        return _requantize(g, g.op("Cast", [total], p, to=DOUBLE), layer, True)
    spatial = layer.kind != "dense"
    if spatial:
        w = layer.w.transpose(0, 3, 1, 2) if layer.kind == "conv" else layer.w[:, None]
        group = 1 if layer.kind == "conv" else layer.in_shape[2]
        pad = layer.k // 2
        y = g.op("Conv", [x, _weights(g, layer, w)], p, kernel_shape=[layer.k, layer.k],
                 strides=[layer.stride, layer.stride], pads=[pad] * 4, group=group)
    else:
        flat = g.op("Flatten", [x], p, axis=1)
        y = g.op("Gemm", [flat, _weights(g, layer, chw_rows(layer, map_shape))], p, transB=1)
    bias = g.const(f"{p}.b", _channel(layer.b, np.float64, spatial))
    acc = g.op("Add", [g.op("Cast", [y], p, to=DOUBLE), bias], p)
    return _requantize(g, acc, layer, spatial) if layer.requantizes else acc


def exact_under_float32(net: IntegerNetwork) -> bool:
    """True where the module docstring's bound holds for every layer's products."""
    from intnet.contract import accumulator_bound, layer_widths

    return all(accumulator_bound(layer, w) +
               (int(np.abs(layer.b.astype(np.int64)).max()) if layer.has_weights else 0)
               < EXACT_FLOAT32
               for layer, w in zip(net.layers, layer_widths(net.layers), strict=True))


def to_qonnx(net: IntegerNetwork):
    """The QONNX ``ModelProto`` of ``net`` (see the module docstring)."""
    from onnx import TensorProto, helper

    g = _Builder()
    pixels = g.op("Mul", [INPUT, g.const("input.255", np.array(255.0, np.float32))], "input")
    g.layers(_quant(g, pixels, "input", 8, False), net, _layer, OUTPUT)
    h, w, c = net.input_shape
    graph = helper.make_graph(
        g.nodes, f"qsnas_{net.arch}_qonnx",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, c, h, w])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.DOUBLE, [1, net.num_classes])],
        g.inits)
    model = helper.make_model(graph, producer_name="qsnas",
                              opset_imports=[helper.make_opsetid("", OPSET),
                                             helper.make_opsetid(QONNX_DOMAIN, 1)])
    model.doc_string = ("QONNX form of a qsnas IntegerNetwork bundle: x/255 float32 NCHW "
                        "in, logits out; integer grids of step 1 (docs/interchange.md).")
    return model
