"""A QONNX model (Brevitas ``export_qonnx``) as an `IntegerNetwork` bundle.

The walk follows the one data path from the image input to the logits, node by node.
Between layers the data is a quantized activation (`Act`: integers times one step size);
inside a weighted layer it is the accumulator under a per-channel affine map
(`model.interchange.fold.Pending`); after a global average pool it is a sum awaiting its
quantizer (`PoolSum`). Each activation quantizer closes the layer before it. Every node
the contract has no place for is refused in one line that names it, its op type and why,
and nothing is written. The op table and the arithmetic: docs/interchange.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from common.cli import UserError
from intnet import golden
from intnet.bundle import IntegerNetwork, Layer, unique_identifier
from intnet.contract import INPUT_BITS, conv_out
from model.interchange.fold import Pending, close_hidden, close_logits
from model.interchange.qonnx_graph import QUANT_OPS, Graph, load_qonnx, module_name
from model.interchange.quantizers import (
    ActQuant,
    activation_quant,
    constant_value,
    describe,
    weight_quant,
)

ARCH = "qonnx"  # the bundle's ``arch`` for imported networks
INPUT_STEP = 1.0 / 255  # the contract's input: x/255, 8-bit pixels
# Two steps this close are the same step (float32 storage of the same float64 value).
SAME_STEP_RTOL = 1e-6
FLOAT_TYPES = (1, 11)  # float, double: casts between them keep our integer values
# Training images that choose the integers where the contract cannot hold a layer exactly
# (`thresholds`); the first of the training split, so a test image never decides.
CALIBRATION_IMAGES = 512

SUPPORTED = ("Conv, Gemm/MatMul, BatchNormalization, Relu, MaxPool 2x2/2, GlobalAveragePool, "
             "Flatten/Reshape, Add/Sub/Mul/Div by constants, Quant, BipolarQuant")


@dataclass
class Act:
    """A quantized activation: real = ``step · a``, ``a ∈ [0, 2^bits − 1]``, shape (H, W, C)."""

    step: float
    bits: int
    shape: tuple[int, int, int]
    flat: bool = False  # flattened (C, H, W order, as torch flattens NCHW)
    is_input: bool = False


@dataclass
class PoolSum:
    """A global average pool: real = ``step[c] · Σ a`` before its quantizer (a per-channel
    ``Mul`` may come between; the bundle's average pool has one ``m, n`` per channel)."""

    step: np.ndarray  # float64 [C]
    shape: tuple[int, int, int]


class _Walker:
    def __init__(self, graph: Graph, calibration: np.ndarray | None = None,
                 max_bits: int = 0):
        self.graph = graph
        self.max_bits = max_bits
        self.widths = {}  # layer name → the model's own weight bits
        self.inexact = {}  # layer name → channels without an exact integer requantizer
        self.flips = 0  # class pairs the logits' integer biases could put in another order
        self.layers: list[Layer] = []
        self.calib = calibration  # the current activation on calibration images, or None
        self.state = None
        self.tensor = graph.input_name

    # ------------------------------------------------------------------ plumbing

    def refuse(self, node, why: str):
        raise UserError(f"{describe(node)}: {why}")

    def name(self, node, prefix: str) -> str:
        """The torch module's name (``features.0`` → ``features_0``), else ``prefix`` and a
        number; unique in the network."""
        text = module_name(node) or f"{prefix}{len(self.layers) + 1}"
        return unique_identifier(text, {layer.name for layer in self.layers}, prefix)

    def fidelity(self) -> dict:
        """Where the bundle can differ from the float model (empty entries and 0: nowhere)."""
        widened = {layer.name: [self.widths[layer.name], layer.w_bits] for layer in self.layers
                   if layer.name in self.widths and layer.w_bits != self.widths[layer.name]}
        return {"inexact_channels": {k: v for k, v in sorted(self.inexact.items()) if v},
                "flippable_class_pairs": self.flips, "widened_weights": widened,
                "calibration_images": 0 if self.calib is None else len(self.calib)}

    def append(self, layer: Layer) -> None:
        """``layer`` joins the network; the calibration images move past it."""
        self.layers.append(layer)
        if self.calib is not None:
            self.calib = golden.run_layer(layer, self.calib)

    def expect(self, node, *kinds) -> None:
        if not isinstance(self.state, kinds):
            what = {Act: "a quantized activation", Pending: "a layer's output before its "
                    "quantizer", PoolSum: "a global average pool"}
            have = what[type(self.state)]
            self.refuse(node, f"applied to {have}; expected "
                              f"{' or '.join(what[k] for k in kinds)}")

    def constant(self, name: str) -> np.ndarray | None:
        """An initializer, or a quantizer's value on one (a quantized bias); else None."""
        value = self.graph.constant(name)
        if value is not None:
            return np.asarray(value, np.float64)
        producer = self.graph.wrapper.find_producer(name)
        if producer is not None and producer.op_type in QUANT_OPS and \
                self.graph.constant(producer.input[0]) is not None:
            return np.asarray(constant_value(self.graph, producer), np.float64)
        return None

    def constant_operand(self, node) -> np.ndarray:
        """The constant input of a two-input node whose other input is the data path."""
        others = [t for t in node.input if t != self.tensor]
        if len(others) != 1:
            self.refuse(node, "combines the data path with itself")
        value = self.constant(others[0])
        if value is None:
            self.refuse(node, "combines two tensors computed at run time (a branch or "
                              "residual connection); the contract is a chain of layers")
        return value

    def weights(self, node, index: int, out_axis: int):
        producer = self.graph.wrapper.find_producer(node.input[index])
        if producer is None or producer.op_type not in QUANT_OPS:
            self.refuse(node, "its weights are not quantized (no Quant/BipolarQuant node on "
                              "them); use a brevitas.nn layer with a weight quantizer")
        return weight_quant(self.graph, producer, out_axis)

    def bias(self, node, index: int) -> np.ndarray | None:
        if len(node.input) <= index or not node.input[index]:
            return None
        value = self.constant(node.input[index])
        if value is None:
            self.refuse(node, "its bias is computed at run time")
        return value.reshape(-1)

    # ------------------------------------------------------------------ the walk

    def run(self) -> list[Layer]:
        shape = self.graph.shape(self.tensor)
        if shape is None or len(shape) != 4 or min(shape[1:]) < 1:
            raise UserError(f"{self.graph.path}: input {self.tensor!r} has shape {shape}; "
                            f"expected images [N, C, H, W] (channels first, as Brevitas "
                            f"exports them)")
        _, c, h, w = shape
        self.input_shape = (h, w, c)
        if self.calib is not None and self.calib.shape[1:] != self.input_shape:
            raise UserError(f"{self.graph.path}: input {list(self.input_shape)} (H, W, C), but "
                            f"the calibration images are {list(self.calib.shape[1:])}")
        self.state = Act(INPUT_STEP, INPUT_BITS, (h, w, c), is_input=True)
        seen = 0
        while self.tensor != self.graph.output_name:
            node = self.next_node()
            handler = HANDLERS.get(node.op_type)
            if handler is None:
                self.refuse(node, f"the accelerator does not run {node.op_type} (it runs "
                                  f"{SUPPORTED})")
            handler(self, node)
            self.tensor = node.output[0]
            seen += 1
            if seen > len(self.graph.nodes):
                raise UserError(f"{self.graph.path}: the graph has a cycle")
        self.finish()
        return self.layers

    def next_node(self):
        users = self.graph.consumers.get(self.tensor, [])
        if len(users) != 1:
            if not users:
                raise UserError(f"{self.graph.path}: tensor {self.tensor!r} leads nowhere; "
                                f"the output {self.graph.output_name!r} is not reached")
            names = ", ".join(f"{n.name} ({n.op_type})" for n in users)
            raise UserError(f"{self.graph.path}: tensor {self.tensor!r} feeds {len(users)} "
                            f"nodes ({names}); the contract is a chain of layers (no branches "
                            f"or residual connections yet)")
        return users[0]

    def finish(self) -> None:
        if isinstance(self.state, Pending):
            own = self.state.layer.w_bits
            layer, self.flips = close_logits(self.state, self.max_bits)
            self.widths[layer.name] = own
            self.append(layer)
            return
        if isinstance(self.state, Act) and self.layers:
            raise UserError(f"{self.graph.path}: the output is an activation quantizer's "
                            f"output; the logits are the last layer's raw accumulators: "
                            f"remove the output quantizer of the last layer")
        raise UserError(f"{self.graph.path}: the graph ends without a last dense layer")

    # ------------------------------------------------------------------ layers

    def conv(self, node) -> None:
        self.expect(node, Act)
        act = self.state
        if act.flat:
            self.refuse(node, "a convolution after a flatten")
        a = self.graph.attrs(node)
        wq = self.weights(node, 1, 0)
        cout, cin_g, kh, kw = wq.w.shape
        k, group = kh, int(a.get("group", 1))
        h, w, cin = act.shape
        stride = list(a.get("strides", [1, 1]))
        if kh != kw or k not in (1, 3, 5):
            self.refuse(node, f"kernel {kh}x{kw}; the accelerator runs square kernels 1, 3, 5")
        if list(a.get("pads", [0] * 4)) != [k // 2] * 4 or \
                a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            self.refuse(node, f"pads {list(a.get('pads', [0] * 4))}; the contract pads "
                              f"'same' with k//2 = {k // 2} zeros on every side")
        if stride[0] != stride[1] or stride[0] not in (1, 2) or \
                any(d != 1 for d in a.get("dilations", [1, 1])):
            self.refuse(node, f"strides {stride}, dilations {list(a.get('dilations', [1, 1]))};"
                              f" the contract has strides 1 or 2 and no dilation")
        out_hw = (conv_out(h, k, stride[0]), conv_out(w, k, stride[0]))
        if group == 1 and cin_g == cin:
            layer = Layer(self.name(node, "conv"), "conv", act.shape,
                          (*out_hw, cout), k=k, stride=stride[0],
                          w=wq.w.transpose(0, 2, 3, 1).astype(np.int8))
        elif group == cin == cout and cin_g == 1 and k == 3:
            layer = Layer(self.name(node, "dw"), "dwconv", act.shape,
                          (*out_hw, cout), k=3, stride=stride[0], w=wq.w[:, 0].astype(np.int8))
        else:
            self.refuse(node, f"group {group} with {cin} input and {cout} output channels, "
                              f"kernel {k}; the contract has full convolutions and 3x3 "
                              f"depthwise ones (group = channels)")
        self.open_layer(node, layer, wq, act, self.bias(node, 2))

    def open_layer(self, node, layer: Layer, wq, act: Act, bias) -> None:
        layer.w_bits, layer.in_bits = wq.bits, act.bits
        beta = np.zeros(layer.out_channels) if bias is None else bias
        if beta.shape != (layer.out_channels,):
            self.refuse(node, f"bias of shape {list(beta.shape)} for {layer.out_channels} "
                              f"channels")
        self.state = Pending(layer, act.step * wq.scale, beta.astype(np.float64), node=node)

    def dense(self, node, w_index: int, out_axis: int, gain: float, bias) -> None:
        self.expect(node, Act)
        act = self.state
        h, w, c = act.shape
        if not act.flat and (h, w) != (1, 1):
            self.refuse(node, "a dense layer on an unflattened map; flatten it first")
        wq = self.weights(node, w_index, out_axis)
        weights = wq.w if out_axis == 0 else wq.w.T
        if weights.ndim != 2 or weights.shape[1] != h * w * c:
            self.refuse(node, f"weights of shape {list(wq.w.shape)} for {h * w * c} inputs")
        nout = weights.shape[0]
        # torch flattens C, H, W; the contract flattens H, W, C (channel innermost)
        hwc = weights.reshape(nout, c, h, w).transpose(0, 2, 3, 1).reshape(nout, -1)
        layer = Layer(self.name(node, "fc"), "dense", (h * w * c,),
                      (nout,), w=hwc.astype(np.int8))
        self.open_layer(node, layer, replace(wq, scale=wq.scale * gain), act,
                        None if bias is None else bias)

    def gemm(self, node) -> None:
        a = self.graph.attrs(node)
        if a.get("transA", 0):
            self.refuse(node, "transA=1 (the data must be the left operand)")
        bias = self.bias(node, 2)
        if bias is not None:
            bias = bias * float(a.get("beta", 1.0))
        if float(a.get("alpha", 1.0)) <= 0:
            self.refuse(node, "a non-positive alpha")
        self.dense(node, 1, 0 if a.get("transB", 0) else 1, float(a.get("alpha", 1.0)), bias)

    def matmul(self, node) -> None:
        if node.input[0] != self.tensor:
            self.refuse(node, "the data must be the left operand")
        self.dense(node, 1, 1, 1.0, None)

    # ------------------------------------------------------------------ quantizers

    def quant(self, node) -> None:
        aq = activation_quant(self.graph, node)
        if isinstance(self.state, Act):
            self.identity_quant(node, aq)
        elif isinstance(self.state, Pending):
            p = self.state
            bits = aq.unsigned_bits(p.nonnegative)
            own = p.layer.w_bits
            layer, self.inexact[p.layer.name] = close_hidden(p, aq.scale, bits, node,
                                                             self.calib, self.max_bits)
            self.widths[layer.name] = own
            self.append(layer)
            shape = layer.out_shape if layer.kind != "dense" else (1, 1, layer.out_shape[0])
            if p.pool_node is not None:
                shape = self.add_maxpool(p.pool_node, shape)
            self.state = Act(aq.scale, bits, shape, flat=layer.kind == "dense")
        else:
            self.close_pool(node, aq)

    def identity_quant(self, node, aq: ActQuant) -> None:
        """A quantizer on an activation: allowed only where it changes nothing."""
        act = self.state
        same = abs(aq.scale - act.step) <= SAME_STEP_RTOL * act.step
        if same and not aq.bipolar and aq.unsigned_bits(True) >= act.bits:
            return
        if act.is_input:
            self.refuse(node, f"quantizes the model input with step {aq.scale:.6g}, "
                              f"{aq.bits} bits; the contract's input is x/255 at full 8 bits "
                              f"(step 1/255): remove the input quantizer")
        self.refuse(node, "re-quantizes an activation with no layer between (the contract "
                          "requantizes only a layer's accumulator)")

    def close_pool(self, node, aq: ActQuant) -> None:
        from intnet.contract import scale_to_mn

        pool = self.state
        bits = aq.unsigned_bits(True)
        h, w, c = pool.shape
        mn = [scale_to_mn(float(step) / (h * w) / aq.scale) for step in pool.step]
        layer = Layer(self.name(node, "gap"), "avgpool", pool.shape,
                      (1, 1, c), out_bits=bits, m=np.array([m for m, _ in mn], np.int32),
                      n=np.array([n for _, n in mn], np.int32))
        self.append(layer)
        self.state = Act(aq.scale, bits, (1, 1, c))

    # ------------------------------------------------------------------ everything else

    def add_maxpool(self, node, shape) -> tuple[int, int, int]:
        h, w, c = shape
        out = (h // 2, w // 2, c)
        if 0 in out:
            self.refuse(node, f"a 2x2 max pool on a {h}x{w} map")
        self.append(Layer(self.name(node, "pool"), "maxpool", tuple(shape), out))
        return out

    def maxpool(self, node) -> None:
        a = self.graph.attrs(node)
        if list(a.get("kernel_shape", [])) != [2, 2] or list(a.get("strides", [1, 1])) != [2, 2] \
                or any(a.get("pads", [0] * 4)) or a.get("ceil_mode", 0) or \
                any(d != 1 for d in a.get("dilations", [1, 1])):
            self.refuse(node, f"kernel {list(a.get('kernel_shape', []))}, strides "
                              f"{list(a.get('strides', [1, 1]))}, pads "
                              f"{list(a.get('pads', [0] * 4))}, ceil_mode "
                              f"{a.get('ceil_mode', 0)}; the contract's max pool is 2x2, "
                              f"stride 2, unpadded, floor mode")
        self.expect(node, Act, Pending)
        if isinstance(self.state, Act):
            if self.state.flat:
                self.refuse(node, "a max pool after a flatten")
            self.state = replace(self.state, shape=self.add_maxpool(node, self.state.shape))
        elif self.state.layer.kind == "dense" or self.state.pool_node is not None:
            self.refuse(node, "a max pool on a dense layer, or a second one before the "
                              "quantizer")
        else:  # quantizing is increasing, so pooling commutes with it (fold.Pending)
            self.state.pool_node = node

    def global_pool(self, node) -> None:
        self.expect(node, Act)
        h, w, c = self.state.shape
        if node.op_type in ("ReduceMean", "ReduceSum", "AveragePool"):
            a = self.graph.attrs(node)
            if node.op_type == "AveragePool":
                ok = list(a.get("kernel_shape", [])) == [h, w] and not any(a.get("pads", []))
            else:
                axes = a.get("axes")
                if axes is None and len(node.input) > 1:
                    axes = self.graph.constant(node.input[1])
                ok = axes is not None and sorted(int(x) % 4 for x in np.ravel(axes)) == [2, 3]
            if not ok:
                self.refuse(node, "not an average over the whole map; the contract's average "
                                  "pool is global")
        # a sum is H·W means: the same requantizer with H·W times the step
        gain = h * w if node.op_type == "ReduceSum" else 1
        self.state = PoolSum(np.full(c, self.state.step * gain), self.state.shape)

    def relu(self, node) -> None:
        if isinstance(self.state, Pending):
            self.state.nonnegative = True

    def flatten(self, node) -> None:
        self.expect(node, Act)
        h, w, c = self.state.shape
        if node.op_type == "Flatten":
            ok = int(self.graph.attrs(node).get("axis", 1)) == 1
        else:
            target = self.graph.constant(node.input[1])
            ok = target is not None and len(np.ravel(target)) == 2 and \
                int(np.ravel(target)[1]) in (h * w * c, -1)
        if not ok:
            self.refuse(node, "reshapes to something other than [N, C·H·W] (a flatten)")
        self.state = replace(self.state, flat=True)

    def affine(self, node) -> None:
        value = self.constant_operand(node)
        op = node.op_type
        if op == "Sub":
            value = -value if node.input[0] == self.tensor else None
        elif op == "Div":
            value = 1.0 / value if node.input[0] == self.tensor else None
        if value is None:
            self.refuse(node, "the data path must be the first operand")
        state = self.state
        if isinstance(state, Pending):
            if op in ("Add", "Sub"):
                if state.nonnegative:
                    self.refuse(node, "an offset after the ReLU; the ReLU must be the last "
                                      "step before the activation quantizer")
                state.add(value, node)
            else:
                state.scale(value, node)
            return
        if op in ("Mul", "Div") and value.size == 1 and float(value.reshape(())) > 0:
            state.step = state.step * float(value.reshape(()))  # a new step, same integers
            return
        channels = state.shape[2]
        if isinstance(state, PoolSum) and op in ("Mul", "Div") and value.size == channels \
                and value.ndim == 4 and value.shape[1] == channels and np.all(value > 0):
            state.step = state.step * value.reshape(-1)
            return
        self.refuse(node, "an offset or a non-positive/per-channel scale on an activation "
                          "(zero points and activation scales are one positive step per "
                          "tensor)")

    def batch_norm(self, node) -> None:
        self.expect(node, Pending)
        gamma, beta, mean, var = (self.graph.constant(t) for t in node.input[1:5])
        if any(v is None for v in (gamma, beta, mean, var)):
            self.refuse(node, "its parameters are computed at run time")
        eps = float(self.graph.attrs(node).get("epsilon", 1e-5))
        self.state.batch_norm(gamma, beta, mean, var, eps, node)

    def passthrough(self, node) -> None:
        if node.op_type in ("Softmax", "LogSoftmax") and \
                node.output[0] != self.graph.output_name:
            self.refuse(node, "a softmax before the end of the network")
        if node.op_type == "Cast" and self.graph.attrs(node).get("to") not in FLOAT_TYPES:
            self.refuse(node, "a cast to a non-float type on the data path")


HANDLERS = {
    "Conv": _Walker.conv, "Gemm": _Walker.gemm, "MatMul": _Walker.matmul,
    "Quant": _Walker.quant, "IntQuant": _Walker.quant, "BipolarQuant": _Walker.quant,
    "MaxPool": _Walker.maxpool, "GlobalAveragePool": _Walker.global_pool,
    "ReduceMean": _Walker.global_pool, "AveragePool": _Walker.global_pool,
    "Relu": _Walker.relu, "Flatten": _Walker.flatten, "Reshape": _Walker.flatten,
    "Add": _Walker.affine, "Sub": _Walker.affine, "Mul": _Walker.affine,
    "Div": _Walker.affine, "BatchNormalization": _Walker.batch_norm,
    "ReduceSum": _Walker.global_pool, "Cast": _Walker.passthrough,
    "Identity": _Walker.passthrough, "Dropout": _Walker.passthrough,
    "Softmax": _Walker.passthrough, "LogSoftmax": _Walker.passthrough,
}


def import_qonnx(path, dataset: str = "custom", calibration: np.ndarray | None = None,
                 max_bits: int | None = None) -> IntegerNetwork:
    """The `IntegerNetwork` of the QONNX model at ``path`` (validated, not written).

    ``calibration``: uint8 images [N, H, W, C] (training images) on which a layer the
    contract cannot hold exactly is made to change as few activations as it can, widening
    its weights up to ``max_bits`` where that helps (`fold.close_hidden`; default: every
    layer keeps the model's own widths).

    Raises `common.cli.UserError` with one line naming the first node the contract cannot
    hold.
    """
    from intnet.bundle import validate
    from intnet.contract import layer_widths

    graph = load_qonnx(path)
    calib = None if calibration is None else np.asarray(calibration, np.int64)
    walker = _Walker(graph, calib, max_bits or 0)
    layers = walker.run()
    widths = layer_widths(layers)
    q = max(max(w.w_bits for w in widths), max((w.out_bits for w in widths[:-1]), default=1))
    meta = {"source": graph.path.name, "producer": graph.producer,
            "importer": "model.interchange (QONNX)", "fidelity": walker.fidelity()}
    net = IntegerNetwork(ARCH, q, 1.0, dataset, walker.input_shape, layers, meta=meta)
    validate(net)
    return net
