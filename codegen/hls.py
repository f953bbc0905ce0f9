"""Vitis-HLS-style C++ of an integer network, and its C test bench.

The layer kernels are C++ templates written once (`templates/hls/qsnas_layers.h.j2`);
this module only lays the network out: weight arrays, activation buffers, the calls.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codegen.render import render
from intnet import golden
from intnet.bundle import IntegerNetwork, unique_identifier

SOURCES = ("qsnas_layers.h", "network.h", "weights.h", "network.cpp", "tb.cpp")
# -Wno-unknown-pragmas: g++ does not know `#pragma HLS`, which must stay for Vitis HLS.
CXXFLAGS = ("-std=c++17", "-O2", "-Wall", "-Werror", "-Wno-unknown-pragmas")


def c_names(net: IntegerNetwork) -> dict[str, str]:
    """Each layer's C++ identifier stem: its name where that is one (``conv-1`` → ``conv_1``,
    ``1x1`` → ``l_1x1``), unique in the network (`intnet.bundle.unique_identifier`)."""
    names = {}
    for layer in net.layers:
        names[layer.name] = unique_identifier(layer.name, set(names.values()), "l_",
                                              letter_first=True)
    return names


def _layer_call(layer, name: str, src: str, dst: str) -> str:
    """The C++ call of one layer (identifier stem ``name``) reading buffer ``src`` and
    writing ``dst``."""
    if layer.kind == "conv":
        h, w, cin = layer.in_shape
        ho, wo, cout = layer.out_shape
        args = [h, w, cin, cout, layer.k, layer.stride, ho, wo, layer.out_bits]
        return (f"conv2d<{', '.join(map(str, args))}>({src}, {dst}, {name}_w, {name}_b, "
                f"{name}_m, {name}_n)")
    if layer.kind == "dwconv":
        h, w, c = layer.in_shape
        ho, wo, _ = layer.out_shape
        args = [h, w, c, layer.k, layer.stride, ho, wo, layer.out_bits]
        return (f"dwconv2d<{', '.join(map(str, args))}>({src}, {dst}, {name}_w, {name}_b, "
                f"{name}_m, {name}_n)")
    if layer.kind == "maxpool":
        return f"maxpool2x2<{', '.join(map(str, layer.in_shape))}>({src}, {dst})"
    if layer.kind == "avgpool":
        h, w, c = layer.in_shape
        return f"avgpool<{h}, {w}, {c}, {layer.out_bits}>({src}, {dst}, {name}_m, {name}_n)"
    nin, nout = layer.in_shape[0], layer.out_shape[0]
    if layer.requantizes:
        return (f"dense<{nin}, {nout}, {layer.out_bits}>({src}, {dst}, {name}_w, {name}_b, "
                f"{name}_m, {name}_n)")
    return f"dense_logits<{nin}, {nout}>({src}, {dst}, {name}_w, {name}_b)"


def _arrays(net: IntegerNetwork, names: dict[str, str]) -> list[dict]:
    arrays = []
    ctypes = {"w": "int8_t", "b": "int32_t", "m": "int32_t", "n": "int32_t"}
    what = {"w": "weights", "b": "bias", "m": "requantize multiplier", "n": "requantize shift"}
    for layer in net.layers:
        for key in ("w", "b", "m", "n"):
            value = getattr(layer, key)
            if value is None:
                continue
            shape = "x".join(map(str, value.shape))
            bits = f", {layer.w_bits}-bit" if key == "w" else ""
            arrays.append({
                "name": f"{names[layer.name]}_{key}",
                "ctype": ctypes[key],
                "size": value.size,
                "data": value.reshape(-1).tolist(),
                "comment": f"{layer.name} ({layer.kind}) {what[key]} [{shape}]{bits}",
            })
    return arrays


def emit_hls(net: IntegerNetwork, out_dir: str | Path) -> list[Path]:
    """Write the HLS C++ sources of ``net`` into ``out_dir``; return the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    buffers, calls = [], []
    names = c_names(net)
    src = "image"
    for i, layer in enumerate(net.layers):
        if i == len(net.layers) - 1:
            dst = "logits"
        else:
            dst = f"act_{names[layer.name]}"
            size = int(np.prod(layer.out_shape))
            buffers.append({"name": dst, "size": size,
                            "comment": f"{layer.name} output {list(layer.out_shape)}"})
        calls.append(_layer_call(layer, names[layer.name], src, dst))
        src = dst
    context = {
        "arch": net.arch, "q": net.q, "dataset": net.dataset,
        "s": net.s,
        "input_shape": list(net.input_shape), "num_classes": net.num_classes,
        "layers": net.layers, "arrays": _arrays(net, names), "buffers": buffers, "calls": calls,
    }
    written = []
    for name in SOURCES:
        path = out_dir / name
        path.write_text(render(f"hls/{name}.j2", **context))
        written.append(path)
    return written


def write_tb_data(net: IntegerNetwork, images: np.ndarray, labels: np.ndarray,
                  path: str | Path) -> None:
    """The C test bench's input: images with their labels and golden logits."""
    logits = golden.run(net, images)
    lines = [str(len(images))]
    for image, label, row in zip(images, labels, logits, strict=True):
        lines.append(" ".join([str(int(label)), *map(str, image.reshape(-1).tolist()),
                               *map(str, row.tolist())]))
    Path(path).write_text("\n".join(lines) + "\n")


@dataclass
class HlsResult:
    passed: int
    failed: int
    correct: int
    images: int
    output: str


def compile_and_run(hls_dir: str | Path, tb_data: str | Path, cxx: str = "g++") -> HlsResult:
    """Compile the HLS sources with ``g++ -Wall -Werror`` and run the C test bench."""
    if shutil.which(cxx) is None:
        raise FileNotFoundError(f"{cxx} not found on PATH: cannot compile the HLS C++")
    hls_dir = Path(hls_dir)
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "tb"
        cmd = [cxx, *CXXFLAGS, "-o", str(exe), str(hls_dir / "network.cpp"),
               str(hls_dir / "tb.cpp")]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"g++ failed on the HLS C++:\n{done.stderr}")
        run = subprocess.run([str(exe), str(tb_data)], capture_output=True, text=True)
    summary = re.search(r"^(\d+) passed, (\d+) failed$", run.stdout, re.M)
    accuracy = re.search(r"^accuracy (\d+)/(\d+)$", run.stdout, re.M)
    if run.returncode not in (0, 1) or not summary or not accuracy:
        raise RuntimeError(f"HLS test bench failed ({run.returncode}):\n{run.stdout}{run.stderr}")
    return HlsResult(int(summary[1]), int(summary[2]), int(accuracy[1]), int(accuracy[2]),
                     run.stdout)
