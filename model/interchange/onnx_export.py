"""A bundle as a plain-ONNX graph that any runtime executes to exactly the golden logits.

Only integer operators, so exactness is a matter of ranges, not of rounding:

- input ``uint8 [N, H, W, C]`` pixels, transposed to NCHW;
- conv and dwconv: ``ConvInteger`` (uint8 activations, weights as uint8 ``w + 128`` with
  zero point 128, so ``Σ (a − 0)(w' − 128) = Σ a·w``; zero padding pads ``a = 0``),
  int32 sums; dense: ``MatMulInteger`` (uint8 × int8), its weight rows permuted from the
  bundle's H, W, C flatten order to the C, H, W order of the NCHW data;
- bias, requantizer and global sums in int64: ``acc + b``, ``acc·m + 2^(n−1)``, the
  arithmetic shift as an exact floor division ``(x − (x mod 2^n)) / 2^n`` (``Mod`` with
  the divisor's sign is in [0, 2^n), so the ``Div`` divides exactly), ``Clip`` to
  [0, 2^B − 1], ``Cast`` to uint8; max pool on uint8, global average pool a ``ReduceSum``;
- output ``int64 [N, classes]``, the logits as the golden model computes them (int64).

The ranges (docs/interchange.md): every ``Σ w·a`` is bounded by
`intnet.contract.accumulator_bound`, checked below 2^31 here (the int32 of
``ConvInteger``); ``|acc·m + 2^(n−1)|`` stays below 2^63 as in the golden model, whose
int64 arithmetic the bundle contract bounds the same way.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from common.cli import UserError
from intnet.bundle import IntegerNetwork, Layer
from intnet.contract import accumulator_bound, layer_widths

OPSET = 13
INPUT, OUTPUT = "pixels", "logits"


class _Builder:
    """Nodes and initializers of one graph, with fresh tensor names."""

    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def layers(self, x: str, net: IntegerNetwork, emit, output: str) -> None:
        """``emit(builder, x, layer, in_shape) -> tensor`` for every layer of ``net`` from
        tensor ``x`` on, the last result named ``output``."""
        from onnx import helper

        shape = tuple(net.input_shape)
        for layer in net.layers:
            x = emit(self, x, layer, shape)
            shape = layer.out_shape
        self.nodes.append(helper.make_node("Identity", [x], [output], name="output"))

    def op(self, op_type: str, inputs, prefix: str, **attrs) -> str:
        from onnx import helper

        self.count += 1
        out = f"{prefix}/{op_type}_{self.count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out


def _channel(values, dtype, spatial: bool) -> np.ndarray:
    """Per-channel values shaped to broadcast over NCHW (``[1, C, 1, 1]``) or ``[1, C]``."""
    v = np.asarray(values).astype(dtype)
    return v.reshape(1, -1, 1, 1) if spatial else v.reshape(1, -1)


def _requantize(g: _Builder, acc: str, layer: Layer, spatial: bool) -> str:
    """``clamp((acc·m + 2^(n−1)) >> n, 0, 2^B − 1)`` on int64, exact, then uint8."""
    p = layer.name
    m = g.const(f"{p}.m", _channel(layer.m, np.int64, spatial))
    n = np.asarray(layer.n, np.int64)
    half = g.const(f"{p}.half", _channel(np.int64(1) << (n - 1), np.int64, spatial))
    div = g.const(f"{p}.pow2n", _channel(np.int64(1) << n, np.int64, spatial))
    x = g.op("Add", [g.op("Mul", [acc, m], p), half], p)
    rem = g.op("Mod", [x, div], p, fmod=0)  # the divisor's sign: 0 ≤ rem < 2^n
    y = g.op("Div", [g.op("Sub", [x, rem], p), div], p)  # exact: floor(x / 2^n)
    lo = g.const(f"{p}.lo", np.array(0, np.int64))
    hi = g.const(f"{p}.hi", np.array((1 << layer.out_bits) - 1, np.int64))
    return g.op("Cast", [g.op("Clip", [y, lo, hi], p)], p, to=2)  # uint8


def _conv(g: _Builder, x: str, layer: Layer) -> str:
    p = layer.name
    if layer.kind == "conv":
        w = layer.w.astype(np.int64).transpose(0, 3, 1, 2)  # [Cout, Cin, K, K]
        group = 1
    else:
        w = layer.w.astype(np.int64)[:, None]  # [C, 1, K, K]
        group = layer.in_shape[2]
    wq = g.const(f"{p}.w", (w + 128).astype(np.uint8))
    zp = g.const(f"{p}.w_zero", np.array(128, np.uint8))
    xz = g.const(f"{p}.x_zero", np.array(0, np.uint8))
    pad = layer.k // 2
    acc = g.op("ConvInteger", [x, wq, xz, zp], p, kernel_shape=[layer.k, layer.k],
               strides=[layer.stride, layer.stride], pads=[pad] * 4, group=group)
    return g.op("Cast", [acc], p, to=7)  # int64


def chw_rows(layer: Layer, map_shape) -> np.ndarray:
    """A dense layer's weights ``[Nout, Nin]`` with the inputs in C, H, W order (the bundle
    flattens H, W, C; NCHW data flattens C, H, W)."""
    h, w, c = map_shape if len(map_shape) == 3 else (1, 1, map_shape[0])
    nout = layer.out_shape[0]
    return layer.w.reshape(nout, h, w, c).transpose(0, 3, 1, 2).reshape(nout, -1)


def _dense(g: _Builder, x: str, layer: Layer, map_shape) -> str:
    p = layer.name
    chw = chw_rows(layer, map_shape).astype(np.int8)
    flat = g.op("Flatten", [x], p, axis=1)
    wq = g.const(f"{p}.w", np.ascontiguousarray(chw.T))  # [Nin, Nout] int8
    acc = g.op("MatMulInteger", [flat, wq], p)
    return g.op("Cast", [acc], p, to=7)


def _layer(g: _Builder, x: str, layer: Layer, map_shape) -> str:
    p = layer.name
    if layer.kind == "maxpool":
        return g.op("MaxPool", [x], p, kernel_shape=[2, 2], strides=[2, 2])
    if layer.kind == "avgpool":
        axes = g.const(f"{p}.axes", np.array([2, 3], np.int64))
        acc = g.op("ReduceSum", [g.op("Cast", [x], p, to=7), axes], p, keepdims=1)
        return _requantize(g, acc, layer, True)
    spatial = layer.kind != "dense"
    acc = _conv(g, x, layer) if spatial else _dense(g, x, layer, map_shape)
    acc = g.op("Add", [acc, g.const(f"{p}.b", _channel(layer.b, np.int64, spatial))], p)
    return _requantize(g, acc, layer, spatial) if layer.requantizes else acc


def check_ranges(net: IntegerNetwork) -> None:
    """Refuse a network whose ``Σ w·a`` could leave ConvInteger's int32."""
    for layer, widths in zip(net.layers, layer_widths(net.layers), strict=True):
        if layer.has_weights and accumulator_bound(layer, widths) >= 1 << 31:
            raise UserError(f"layer {layer.name}: its products can sum past 2^31, beyond the "
                            f"int32 of ConvInteger/MatMulInteger")


def to_onnx(net: IntegerNetwork):
    """The plain-ONNX ``ModelProto`` of ``net`` (see the module docstring)."""
    from onnx import TensorProto, checker, helper

    check_ranges(net)
    g = _Builder()
    g.layers(g.op("Transpose", [INPUT], "input", perm=[0, 3, 1, 2]), net, _layer, OUTPUT)
    h, w, c = net.input_shape
    graph = helper.make_graph(
        g.nodes, f"qsnas_{net.arch}",
        [helper.make_tensor_value_info(INPUT, TensorProto.UINT8, ["N", h, w, c])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.INT64, ["N", net.num_classes])],
        g.inits)
    model = helper.make_model(graph, producer_name="qsnas",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.doc_string = ("Integer-exact network from a qsnas IntegerNetwork bundle: uint8 "
                        "pixels [N, H, W, C] in, the golden model's int64 logits out.")
    checker.check_model(model)
    return model


def write_model(model, path) -> None:
    """Serialize ``model`` to ``path`` through a temporary sibling and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(model.SerializeToString())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
