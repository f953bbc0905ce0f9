"""Read a QONNX file into a cleaned graph: constants evaluated, one dynamic chain to walk.

Brevitas's ``export_qonnx`` (0.13, torch 2.x) lists its initializers as graph inputs and
may keep the weights in ``MODEL.onnx.data`` beside the model; `load_qonnx` reads both,
then runs the parts of qonnx's own clean-up that change no meaning (shape inference,
constant folding that keeps ``Quant``/``BipolarQuant``, static graph inputs removed). Node
names stay those of the file, so every message names a node the user can find.

Anything that is not a QONNX model we can read is refused here in one line
(`common.cli.UserError`): an unreadable or truncated file, a missing external-data file,
a QCDQ export (``QuantizeLinear``/``DequantizeLinear``), a graph with several inputs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.cli import UserError

QUANT_OPS = ("Quant", "IntQuant", "BipolarQuant")
QCDQ_OPS = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv",
            "QLinearMatMul")
QONNX_DOMAIN = "qonnx.custom_op.general"


def require_interchange():
    """onnx and qonnx, or a one-line error naming the extra that brings them."""
    try:
        import onnx
        import qonnx  # noqa: F401
    except ImportError as e:
        raise UserError(f"{e.name} is not installed: pip install -e '.[interchange]'") from None
    return onnx


def _read_model(path: Path):
    onnx = require_interchange()
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises several kinds
        raise UserError(f"{path}: not an ONNX model ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else 'unreadable'})") from None
    if not model.graph.node:
        raise UserError(f"{path}: not an ONNX model (the graph has no nodes)")
    from onnx.external_data_helper import load_external_data_for_model, uses_external_data

    for tensor in model.graph.initializer:
        if uses_external_data(tensor):
            location = dict((e.key, e.value) for e in tensor.external_data).get("location", "")
            if not (path.parent / location).is_file():
                raise UserError(f"{path}: its weights are kept in {location!r} beside it, "
                                f"and that file is missing")
    try:
        load_external_data_for_model(model, str(path.parent))
    except Exception as e:  # noqa: BLE001 - truncated or foreign data files
        raise UserError(f"{path}: cannot read its external data ({e})") from None
    return model


def _refuse_foreign_formats(model, path: Path) -> None:
    for node in model.graph.node:
        if node.op_type in QCDQ_OPS:
            raise UserError(
                f"{path}: node {node.name or node.op_type} ({node.op_type}) is QCDQ/QDQ "
                f"quantization; this importer reads QONNX: export with "
                f"brevitas.export.export_qonnx instead of export_onnx_qcdq")
    if not any(node.op_type in QUANT_OPS for node in model.graph.node):
        raise UserError(f"{path}: no Quant or BipolarQuant node: not a quantized QONNX model "
                        f"(export it with brevitas.export.export_qonnx)")


def _clean(model, path: Path):
    """qonnx's meaning-preserving clean-up, keeping the file's node names."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import RemoveStaticGraphInputs, RemoveUnusedTensors
    from qonnx.transformation.infer_shapes import InferShapes

    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"
        if node.op_type in QUANT_OPS:
            node.domain = QONNX_DOMAIN
    wrapper = ModelWrapper(model)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for transform in (RemoveStaticGraphInputs(), InferShapes(),
                              FoldConstants(exclude_op_types=list(QUANT_OPS)),
                              RemoveUnusedTensors(), InferShapes()):
                wrapper = wrapper.transform(transform)
    except Exception as e:  # noqa: BLE001 - onnx shape inference and checker errors
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path}: qonnx cannot clean up this graph ({first})") from None
    return wrapper


@dataclass
class Graph:
    """A cleaned QONNX graph: its nodes in order, constants, consumers, tensor shapes."""

    path: Path
    wrapper: object  # qonnx ModelWrapper
    constants: dict  # tensor name -> np.ndarray (initializers)
    consumers: dict  # tensor name -> [node]
    producer: str  # producer name and version written in the file
    input_name: str
    output_name: str

    @property
    def nodes(self):
        return list(self.wrapper.graph.node)

    def shape(self, tensor: str) -> tuple[int, ...] | None:
        shape = self.wrapper.get_tensor_shape(tensor)
        return None if shape is None else tuple(int(d) if d else 0 for d in shape)

    def attrs(self, node) -> dict:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def constant(self, tensor: str) -> np.ndarray | None:
        return self.constants.get(tensor)


def load_qonnx(path) -> Graph:
    """The cleaned `Graph` of the QONNX file at ``path`` (one-line `UserError` otherwise)."""
    from onnx import numpy_helper

    path = Path(path)
    model = _read_model(path)
    _refuse_foreign_formats(model, path)
    wrapper = _clean(model, path)
    graph = wrapper.graph
    inputs = [t.name for t in graph.input]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise UserError(f"{path}: the graph has {len(inputs)} inputs and {len(graph.output)} "
                        f"outputs; a network for this tool has one image input and one "
                        f"logits output")
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    producer = " ".join(p for p in (model.producer_name, model.producer_version) if p)
    return Graph(path, wrapper, constants, consumers, producer or "unknown", inputs[0],
                 graph.output[0].name)


def module_name(node) -> str | None:
    """The torch module a Brevitas/torch.export node came from (``features.0``), if recorded.

    torch.onnx writes it in the node's ``namespace`` metadata as
    ``": Net/features.0: brevitas.nn.quant_conv.QuantConv2d/conv2d: aten.conv2d.default"``.
    """
    for prop in getattr(node, "metadata_props", ()):
        if prop.key == "namespace":
            parts = [p.split(":")[0].strip() for p in prop.value.split("/")[1:]]
            return parts[0] if parts and parts[0] else None
    return None
