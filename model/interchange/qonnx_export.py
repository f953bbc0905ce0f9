"""A bundle as a QONNX graph with ``Quant`` nodes, for qonnx, FINN and hls4ml's frontends.

The graph reads what a Brevitas model reads, ``x/255`` as float32 NCHW, and keeps every
tensor on an integer grid of step 1, in float32, the way QONNX represents quantized
values: the input is scaled back to pixels and quantized to 8 unsigned bits; each weighted
layer has its integer weights behind a ``Quant`` (``BipolarQuant`` at one bit) of scale 1,
its bias added, its requantizer as a ``Mul`` by ``m/2^n`` then an unsigned ``Quant`` of
scale 1 and the layer's width; a global average pool is ``GlobalAveragePool`` then a
``Mul`` by ``H·W·m/2^n``. The output is the float32 logits.

Unlike `model.interchange.onnx_export`, this is not exact: ``Quant`` rounds half to even
where the requantizer rounds half up, and float32 products round. Measured class
agreement with the golden model: docs/interchange.md. Our importer reads the file back to
a bundle with the same golden logits (`model.interchange.importer`).
"""

from __future__ import annotations

import numpy as np

from intnet.bundle import IntegerNetwork, Layer
from model.interchange.onnx_export import OPSET, _Builder, _channel, chw_rows
from model.interchange.qonnx_graph import QONNX_DOMAIN

INPUT, OUTPUT = "global_in", "global_out"


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


def _activation(g: _Builder, x: str, layer: Layer, factor: np.ndarray, spatial: bool) -> str:
    """``Mul`` by the requantizer's real factor, then the unsigned ``Quant`` of the layer."""
    p = layer.name
    if np.all(factor == factor[0]):
        k = g.const(f"{p}.factor", np.array(factor[0], np.float32))
    else:
        k = g.const(f"{p}.factor", _channel(factor, np.float32, spatial))
    return _quant(g, g.op("Mul", [x, k], p), p, layer.out_bits, False)


def _factor(layer: Layer) -> np.ndarray:
    return layer.m.astype(np.float64) / np.exp2(layer.n.astype(np.float64))


def _layer(g: _Builder, x: str, layer: Layer, map_shape) -> str:
    p = layer.name
    if layer.kind == "maxpool":
        return g.op("MaxPool", [x], p, kernel_shape=[2, 2], strides=[2, 2])
    if layer.kind == "avgpool":
        h, w, _ = layer.in_shape
        return _activation(g, g.op("GlobalAveragePool", [x], p), layer,
                           _factor(layer) * (h * w), True)
    if layer.kind == "dense":
        chw = chw_rows(layer, map_shape)
        flat = g.op("Flatten", [x], p, axis=1)
        y = g.op("Gemm", [flat, _weights(g, layer, chw),
                          g.const(f"{p}.b", layer.b.astype(np.float32))], p, transB=1)
    else:
        w = layer.w.transpose(0, 3, 1, 2) if layer.kind == "conv" else layer.w[:, None]
        group = 1 if layer.kind == "conv" else layer.in_shape[2]
        pad = layer.k // 2
        y = g.op("Conv", [x, _weights(g, layer, w), g.const(f"{p}.b", layer.b.astype(
            np.float32))], p, kernel_shape=[layer.k, layer.k],
            strides=[layer.stride, layer.stride], pads=[pad] * 4, group=group)
    if not layer.requantizes:
        return y
    return _activation(g, y, layer, _factor(layer), layer.kind != "dense")


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
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [1, net.num_classes])],
        g.inits)
    model = helper.make_model(graph, producer_name="qsnas",
                              opset_imports=[helper.make_opsetid("", OPSET),
                                             helper.make_opsetid(QONNX_DOMAIN, 1)])
    model.doc_string = ("QONNX form of a qsnas IntegerNetwork bundle: x/255 float32 NCHW "
                        "in, logits out; integer grids of step 1 (docs/interchange.md).")
    return model
