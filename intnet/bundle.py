"""The IntegerNetwork bundle: the exact integer form of a trained network.

A bundle is a directory with ``manifest.json`` and ``arrays.npz`` (format fixed in
ARCHITECTURE.md). It is the seam of the project: everything right of ``model/`` reads
only bundles. This module imports no torch, so any package may load bundles.

Loading validates every field and raises `BundleError` naming the bad one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from intnet.arch import normal_scale, scale_json
from intnet.contract import (
    INPUT_BITS,
    LAYER_KINDS,
    LOGIT_BITS,
    M_BITS,
    N_MAX,
    conv_out,
    weight_range,
    weight_shape,
)

FORMAT = "qsnas.intnet"
VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = "arrays.npz"
# Refuse declared sizes beyond this before allocating anything (hostile manifests).
MAX_ELEMENTS = 1 << 26


class BundleError(ValueError):
    """A bundle is malformed; the message names the field."""


@dataclass
class Layer:
    """One layer of an `IntegerNetwork`; arrays are None where the kind has none."""

    name: str
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    k: int | None = None
    stride: int | None = None
    w_bits: int | None = None
    in_bits: int | None = None
    out_bits: int | None = None
    w: np.ndarray | None = None  # int8
    b: np.ndarray | None = None  # int32 [Cout], accumulator units
    m: np.ndarray | None = None  # int32 [Cout], requantize multiplier
    n: np.ndarray | None = None  # int32 [Cout], requantize shift

    @property
    def has_weights(self) -> bool:
        return self.kind in ("conv", "dwconv", "dense")

    @property
    def requantizes(self) -> bool:
        """True where the output is requantized with ``m, n`` (all but the logits)."""
        if self.kind == "avgpool":
            return True
        return self.has_weights and self.out_bits != LOGIT_BITS

    @property
    def out_channels(self) -> int:
        return self.out_shape[-1]

    def manifest(self) -> dict:
        d = {
            "name": self.name,
            "kind": self.kind,
            "in_shape": list(self.in_shape),
            "out_shape": list(self.out_shape),
        }
        if self.kind in ("conv", "dwconv"):
            d.update(k=self.k, stride=self.stride)
        if self.has_weights:
            d.update(w_bits=self.w_bits, in_bits=self.in_bits, out_bits=self.out_bits)
        if self.kind == "avgpool":
            d.update(out_bits=self.out_bits)
        return d

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for key in ("w", "b", "m", "n"):
            value = getattr(self, key)
            if value is not None:
                out[f"{self.name}.{key}"] = value
        return out


@dataclass
class IntegerNetwork:
    """A whole integer network: the contract the golden model and hardware implement."""

    arch: str
    q: int
    s: float | tuple[float, ...]  # width scale, or one per stage (intnet.arch.stage_scales)
    dataset: str
    input_shape: tuple[int, int, int]
    layers: list[Layer]
    meta: dict = field(default_factory=dict)  # free-form provenance (accuracies, config)

    @property
    def num_classes(self) -> int:
        return self.layers[-1].out_shape[0]

    def specs(self) -> list:
        """The layer shapes as hashable `intnet.arch.LayerSpec` (what shape-only tools take)."""
        from intnet.arch import LayerSpec
        from intnet.contract import layer_widths

        return [LayerSpec(layer.name, layer.kind, tuple(layer.in_shape), tuple(layer.out_shape),
                          layer.k or 0, layer.stride or 1, w.w_bits or None, w.in_bits,
                          w.out_bits)
                for layer, w in zip(self.layers, layer_widths(self.layers), strict=True)]

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)


# ---------------------------------------------------------------------------- writing


def unique_identifier(text: str, taken, prefix: str, letter_first: bool = False) -> str:
    """``text`` as an identifier (a layer name; C with ``letter_first``, where a leading
    underscore is reserved): every character outside ``[A-Za-z0-9_]`` an underscore,
    ``prefix`` before a leading digit (with ``letter_first``: before anything but a
    letter), then ``_2``, ``_3`` … until it is not in ``taken``."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", text)
    if base[:1].isdigit() or (letter_first and not base[:1].isalpha()):
        base = f"{prefix}{base}"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A deterministic .npz (sorted names, fixed zip timestamps, stored)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, arr.getvalue())
    return buf.getvalue()


def manifest_dict(net: IntegerNetwork, arrays_sha256: str) -> dict:
    d = {
        "format": FORMAT,
        "version": VERSION,
        "arch": net.arch,
        "q": net.q,
        "s": scale_json(net.s),
        "dataset": net.dataset,
        "input": {"shape": list(net.input_shape), "bits": INPUT_BITS},
        "layers": [layer.manifest() for layer in net.layers],
        "arrays_sha256": arrays_sha256,
    }
    if net.meta:
        d["meta"] = net.meta
    return d


def save_bundle(net: IntegerNetwork, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Validate ``net`` and write it as a bundle directory at ``path``, atomically.

    The bundle is written to a temporary sibling and renamed into place, so an
    interrupted save never leaves a half-written bundle.
    """
    validate(net)
    path = Path(path)
    if path.exists() and not overwrite:
        raise BundleError(f"{path} exists (pass overwrite=True to replace it)")
    arrays = {}
    for layer in net.layers:
        arrays.update(layer.arrays())
    blob = _npz_bytes(arrays)
    manifest = manifest_dict(net, hashlib.sha256(blob).hexdigest())
    from common.files import atomic_directory

    with atomic_directory(path) as tmp:
        (tmp / ARRAYS).write_bytes(blob)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return path


# ---------------------------------------------------------------------------- reading


def _field(d: dict, key: str, where: str, types):
    if not isinstance(d, dict) or key not in d:
        raise BundleError(f"{where}: missing field '{key}'")
    value = d[key]
    if not isinstance(value, types) or isinstance(value, bool) and bool not in _tuple(types):
        raise BundleError(f"{where}.{key}: expected {_type_name(types)}, got {value!r}")
    return value


def _tuple(types):
    return types if isinstance(types, tuple) else (types,)


def _type_name(types) -> str:
    return " or ".join(t.__name__ for t in _tuple(types))


def _int_field(d, key, where, lo=None, hi=None) -> int:
    value = _field(d, key, where, int)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise BundleError(f"{where}.{key}: {value} is outside [{lo}, {hi}]")
    return value


def _shape_field(d, key, where, rank: tuple[int, ...]) -> tuple[int, ...]:
    value = _field(d, key, where, list)
    if len(value) not in rank or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value
    ):
        raise BundleError(f"{where}.{key}: expected a shape of {rank} positive ints, got {value!r}")
    if int(np.prod(value, dtype=np.int64)) > MAX_ELEMENTS:
        raise BundleError(f"{where}.{key}: shape {value} is larger than {MAX_ELEMENTS} elements")
    return tuple(value)


def _parse_layer(d: dict, i: int) -> Layer:
    where = f"layers[{i}]"
    name = _field(d, "name", where, str)
    if not name or "/" in name or "." in name:
        raise BundleError(f"{where}.name: {name!r} is not a valid layer name")
    where = f"layers[{i}] ({name})"
    kind = _field(d, "kind", where, str)
    if kind not in LAYER_KINDS:
        raise BundleError(f"{where}.kind: unknown kind {kind!r} (expected {LAYER_KINDS})")
    rank = (1,) if kind == "dense" else (3,)
    layer = Layer(
        name=name,
        kind=kind,
        in_shape=_shape_field(d, "in_shape", where, rank),
        out_shape=_shape_field(d, "out_shape", where, rank),
    )
    if kind in ("conv", "dwconv"):
        layer.k = _int_field(d, "k", where, 1, 5)
        layer.stride = _int_field(d, "stride", where, 1, 2)
    if layer.has_weights:
        layer.w_bits = _int_field(d, "w_bits", where, 1, 8)
        layer.in_bits = _int_field(d, "in_bits", where, 1, 8)
        layer.out_bits = _int_field(d, "out_bits", where, 1, LOGIT_BITS)
    if kind == "avgpool":
        layer.out_bits = _int_field(d, "out_bits", where, 1, 8)
    return layer


def parse_manifest(manifest: dict) -> IntegerNetwork:
    """Build an (array-less) `IntegerNetwork` from a manifest dict, checking its fields."""
    where = "manifest"
    fmt = _field(manifest, "format", where, str)
    if fmt != FORMAT:
        raise BundleError(f"manifest.format: expected {FORMAT!r}, got {fmt!r}")
    version = _field(manifest, "version", where, int)
    if version != VERSION:
        raise BundleError(f"manifest.version: unsupported version {version} (this reads {VERSION})")
    inp = _field(manifest, "input", where, dict)
    input_shape = _shape_field(inp, "shape", "manifest.input", (3,))
    bits = _int_field(inp, "bits", "manifest.input", INPUT_BITS, INPUT_BITS)
    del bits
    layers_raw = _field(manifest, "layers", where, list)
    if not layers_raw:
        raise BundleError("manifest.layers: a network needs at least one layer")
    layers = [_parse_layer(d, i) for i, d in enumerate(layers_raw)]
    s = _field(manifest, "s", where, (int, float, list))
    try:
        s = normal_scale(s)
    except ValueError as e:
        raise BundleError(f"{where}.s: {e}") from None
    meta = manifest.get("meta", {})
    if not isinstance(meta, dict):
        raise BundleError(f"manifest.meta: expected an object, got {meta!r}")
    return IntegerNetwork(
        arch=_field(manifest, "arch", where, str),
        q=_int_field(manifest, "q", where, 1, 8),
        s=s,
        dataset=_field(manifest, "dataset", where, str),
        input_shape=input_shape,
        layers=layers,
        meta=meta,
    )


def load_bundle(path: str | os.PathLike) -> IntegerNetwork:
    """Load and fully validate the bundle directory at ``path``."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path}: not a bundle directory (expected {MANIFEST} and {ARRAYS})")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        raise BundleError(f"{path}: missing {MANIFEST}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{path / MANIFEST}: not valid JSON ({e})") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{path / MANIFEST}: expected a JSON object")
    net = parse_manifest(manifest)
    expected_sha = _field(manifest, "arrays_sha256", "manifest", str)
    try:
        blob = (path / ARRAYS).read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{path}: missing {ARRAYS}") from None
    actual_sha = hashlib.sha256(blob).hexdigest()
    if actual_sha != expected_sha:
        raise BundleError(
            f"manifest.arrays_sha256: {ARRAYS} has checksum {actual_sha[:16]}…, "
            f"the manifest says {expected_sha[:16]}… (corrupted or edited)"
        )
    arrays = _read_npz(blob, path / ARRAYS)
    for layer in net.layers:
        for key in ("w", "b", "m", "n"):
            setattr(layer, key, arrays.pop(f"{layer.name}.{key}", None))
    if arrays:
        raise BundleError(f"{ARRAYS}: arrays for no layer: {', '.join(sorted(arrays))}")
    validate(net)
    return net


def _read_npz(blob: bytes, where: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise BundleError(f"{where}: unreadable arrays ({e})") from None


# ---------------------------------------------------------------------------- validation


def _check_array(layer: Layer, key: str, dtype, shape: tuple[int, ...]) -> np.ndarray:
    arr = getattr(layer, key)
    where = f"{layer.name}.{key}"
    if arr is None:
        raise BundleError(f"{where}: missing array")
    if not isinstance(arr, np.ndarray) or arr.dtype != dtype:
        got = getattr(arr, "dtype", type(arr).__name__)
        raise BundleError(f"{where}: dtype must be {np.dtype(dtype).name}, got {got}")
    if arr.shape != shape:
        raise BundleError(f"{where}: shape must be {list(shape)}, got {list(arr.shape)}")
    return arr


def _check_range(arr: np.ndarray, where: str, lo: int, hi: int) -> None:
    if arr.size and (arr.min() < lo or arr.max() > hi):
        bad = arr[(arr < lo) | (arr > hi)].flat[0]
        raise BundleError(f"{where}: value {int(bad)} is outside [{lo}, {hi}]")


def validate(net: IntegerNetwork) -> None:
    """Check that ``net`` satisfies the contract; raise `BundleError` naming the field."""
    shape: tuple[int, ...] = tuple(net.input_shape)
    bits = INPUT_BITS
    names = set()
    last = len(net.layers) - 1
    for i, layer in enumerate(net.layers):
        where = f"layers[{i}] ({layer.name})"
        if layer.name in names:
            raise BundleError(f"{where}.name: duplicate layer name")
        names.add(layer.name)
        expect_in = (int(np.prod(shape)),) if layer.kind == "dense" else shape
        if tuple(layer.in_shape) != tuple(expect_in):
            raise BundleError(
                f"{where}.in_shape: {list(layer.in_shape)} does not chain from the previous "
                f"output {list(shape)}"
            )
        _check_out_shape(layer, where)
        if layer.has_weights:
            if layer.in_bits != bits:
                raise BundleError(
                    f"{where}.in_bits: {layer.in_bits}, but the incoming activations have "
                    f"{bits} bits"
                )
            is_last = i == last
            if is_last != (layer.out_bits == LOGIT_BITS):
                raise BundleError(
                    f"{where}.out_bits: {layer.out_bits}; only the last layer (dense) has "
                    f"{LOGIT_BITS}-bit logits, every other layer 1..8 bits"
                )
            if not 1 <= layer.out_bits <= 8 and not is_last:
                raise BundleError(f"{where}.out_bits: {layer.out_bits} is outside [1, 8]")
            _check_weights(layer)
        if layer.requantizes:
            c = layer.out_channels
            _check_range(_check_array(layer, "m", np.int32, (c,)), f"{layer.name}.m", 0,
                         (1 << M_BITS) - 1)
            _check_range(_check_array(layer, "n", np.int32, (c,)), f"{layer.name}.n", 1, N_MAX)
        else:
            for key in ("m", "n"):
                if getattr(layer, key) is not None:
                    raise BundleError(f"{layer.name}.{key}: a {layer.kind} layer has no {key}")
        if not layer.has_weights:
            for key in ("w", "b"):
                if getattr(layer, key) is not None:
                    raise BundleError(f"{layer.name}.{key}: a {layer.kind} layer has no {key}")
        if layer.kind == "avgpool":
            bits = layer.out_bits
        elif layer.has_weights:
            bits = layer.out_bits
        shape = tuple(layer.out_shape)
    if net.layers[last].kind != "dense":
        raise BundleError(f"layers[{last}].kind: the last layer must be dense (the logits)")


def _check_out_shape(layer: Layer, where: str) -> None:
    kind, ins = layer.kind, layer.in_shape
    if kind == "conv":
        if layer.k not in (1, 3, 5):
            raise BundleError(f"{where}.k: conv kernel must be 1, 3 or 5, not {layer.k}")
        expect = (conv_out(ins[0], layer.k, layer.stride), conv_out(ins[1], layer.k, layer.stride),
                  layer.out_shape[2])
    elif kind == "dwconv":
        if layer.k != 3:
            raise BundleError(f"{where}.k: dwconv kernel must be 3, not {layer.k}")
        expect = (conv_out(ins[0], 3, layer.stride), conv_out(ins[1], 3, layer.stride), ins[2])
    elif kind == "maxpool":
        expect = (ins[0] // 2, ins[1] // 2, ins[2])
    elif kind == "avgpool":
        expect = (1, 1, ins[2])
    else:
        expect = tuple(layer.out_shape)
    if tuple(layer.out_shape) != expect:
        raise BundleError(f"{where}.out_shape: {list(layer.out_shape)}, expected {list(expect)}")
    if 0 in expect:
        raise BundleError(f"{where}.out_shape: empty output {list(expect)}")


def _check_weights(layer: Layer) -> None:
    wshape = weight_shape(layer)
    if int(np.prod(wshape)) > MAX_ELEMENTS:
        raise BundleError(f"{layer.name}.w: {list(wshape)} is larger than {MAX_ELEMENTS} elements")
    w = _check_array(layer, "w", np.int8, wshape)
    lo, hi = weight_range(layer.w_bits)
    _check_range(w, f"{layer.name}.w", lo, hi)
    if layer.w_bits == 1 and np.any(w == 0):
        raise BundleError(f"{layer.name}.w: 1-bit weights must be -1 or +1, found 0")
    _check_array(layer, "b", np.int32, (layer.out_channels,))
