"""Bring your own network: QONNX models in, exact ONNX out (docs/interchange.md).

- `model.interchange.qonnx_graph`: read a QONNX file as Brevitas's ``export_qonnx`` writes
  it, clean it up, and refuse what it is not (QCDQ, corrupt files) in one line;
- `model.interchange.importer`: walk the cleaned graph and fold it into an
  `intnet.bundle.IntegerNetwork` with the model's own per-layer bit widths;
- `model.interchange.onnx_export`: a plain-ONNX integer graph that any runtime executes
  to exactly the golden model's logits;
- `model.interchange.qonnx_export`: the same network as a QONNX graph with ``Quant`` nodes.

These need the ``[interchange]`` extra (onnx, onnxruntime, qonnx, brevitas).
"""
