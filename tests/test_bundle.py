"""IntegerNetwork bundle: round trip, determinism, and one clear error per bad field."""

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest

from intnet import golden
from intnet.bundle import ARRAYS, MANIFEST, BundleError, load_bundle, save_bundle
from intnet.synthetic import family_network


@pytest.fixture(scope="module")
def net():
    return family_network("mobilenet", 2, 0.5)


@pytest.fixture
def bundle_dir(tmp_path, net):
    return save_bundle(net, tmp_path / "bundle")


def test_round_trip_is_exact(bundle_dir, net):
    loaded = load_bundle(bundle_dir)
    assert (loaded.arch, loaded.q, loaded.s, loaded.input_shape) == (
        net.arch, net.q, net.s, net.input_shape)
    for a, b in zip(net.layers, loaded.layers, strict=True):
        assert a.manifest() == b.manifest()
        for key in ("w", "b", "m", "n"):
            va, vb = getattr(a, key), getattr(b, key)
            assert (va is None) == (vb is None)
            if va is not None:
                assert va.dtype == vb.dtype
                np.testing.assert_array_equal(va, vb)
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1))
    np.testing.assert_array_equal(golden.run(net, images), golden.run(loaded, images))


def test_manifest_follows_the_fixed_format(bundle_dir):
    m = json.loads((bundle_dir / MANIFEST).read_text())
    assert m["format"] == "qsnas.intnet" and m["version"] == 1
    assert m["input"] == {"shape": [28, 28, 1], "bits": 8}
    assert m["arrays_sha256"] == hashlib.sha256((bundle_dir / ARRAYS).read_bytes()).hexdigest()
    kinds = {layer["kind"]: layer for layer in m["layers"]}
    assert set(kinds["conv"]) >= {"name", "in_shape", "out_shape", "k", "stride", "w_bits",
                                  "in_bits", "out_bits"}
    assert set(kinds["avgpool"]) >= {"out_bits"} and kinds["avgpool"]["out_shape"][:2] == [1, 1]
    assert m["layers"][-1]["kind"] == "dense" and m["layers"][-1]["out_bits"] == 32
    with np.load(bundle_dir / ARRAYS, allow_pickle=False) as npz:
        assert npz["conv1.w"].dtype == np.int8 and npz["conv1.w"].ndim == 4
        assert npz["dw1.w"].ndim == 3 and npz["gap.m"].dtype == np.int32
        assert "fc.m" not in npz.files and npz["fc.b"].dtype == np.int32


def test_save_is_deterministic(tmp_path, net):
    a = save_bundle(net, tmp_path / "a")
    b = save_bundle(net, tmp_path / "b")
    for name in (MANIFEST, ARRAYS):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_save_replaces_atomically_and_can_refuse(tmp_path, net):
    path = save_bundle(net, tmp_path / "x")
    save_bundle(net, path)  # replaces in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]
    with pytest.raises(BundleError, match="exists"):
        save_bundle(net, path, overwrite=False)


# ---------------------------------------------------------------- corrupted bundles


def rewrite(bundle_dir, edit_manifest=None, edit_arrays=None, fix_checksum=True):
    """Edit a bundle in place, keeping the checksum consistent unless told otherwise."""
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    if edit_arrays:
        with np.load(bundle_dir / ARRAYS, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        edit_arrays(arrays)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        (bundle_dir / ARRAYS).write_bytes(buf.getvalue())
    if fix_checksum:
        manifest["arrays_sha256"] = hashlib.sha256((bundle_dir / ARRAYS).read_bytes()).hexdigest()
    if edit_manifest:
        edit_manifest(manifest)
    (bundle_dir / MANIFEST).write_text(json.dumps(manifest))


def set_item(d, key, value):
    d[key] = value


def flip_a_byte(bundle_dir):
    blob = bytearray((bundle_dir / ARRAYS).read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (bundle_dir / ARRAYS).write_bytes(bytes(blob))


def truncate_arrays(bundle_dir):
    (bundle_dir / ARRAYS).write_bytes((bundle_dir / ARRAYS).read_bytes()[:100])
    rewrite(bundle_dir)  # a consistent checksum: the reader itself must notice


CASES = {
    "bad checksum": (flip_a_byte,
        r"arrays_sha256: .* checksum"),
    "out-of-range weight": (
        lambda b: rewrite(b, edit_arrays=lambda a: a["conv1.w"].flat.__setitem__(0, 2)),
        r"conv1\.w: value 2 is outside \[-1, 1\]"),
    "zero 1-bit weight": None,  # filled below for q = 1 only
    "wrong weight shape": (
        lambda b: rewrite(b, edit_arrays=lambda a: set_item(a, "fc.w", a["fc.w"][:, :-1])),
        r"fc\.w: shape must be"),
    "wrong dtype": (
        lambda b: rewrite(b, edit_arrays=lambda a: set_item(a, "fc.b", a["fc.b"].astype(np.int64))),
        r"fc\.b: dtype must be int32, got int64"),
    "unknown version": (
        lambda b: rewrite(b, edit_manifest=lambda m: set_item(m, "version", 2)),
        r"manifest\.version: unsupported version 2"),
    "wrong format": (
        lambda b: rewrite(b, edit_manifest=lambda m: set_item(m, "format", "onnx")),
        r"manifest\.format"),
    "missing field": (
        lambda b: rewrite(b, edit_manifest=lambda m: m["layers"][0].pop("stride")),
        r"layers\[0\] \(conv1\): missing field 'stride'"),
    "unknown kind": (
        lambda b: rewrite(b, edit_manifest=lambda m: set_item(m["layers"][1], "kind", "lstm")),
        r"layers\[1\] \(dw1\)\.kind: unknown kind 'lstm'"),
    "layers do not chain": (
        lambda b: rewrite(b, edit_manifest=lambda m: set_item(m["layers"][2], "in_shape",
                                                              [14, 14, 3])),
        r"layers\[2\] \(pw1\)\.in_shape: .* does not chain"),
    "huge declared shape": (
        lambda b: rewrite(b, edit_manifest=lambda m: set_item(m["input"], "shape",
                                                              [100000, 100000, 3])),
        r"manifest\.input\.shape: .* larger than"),
    "m too wide": (
        lambda b: rewrite(b, edit_arrays=lambda a: a["pw1.m"].__setitem__(0, 1 << 16)),
        r"pw1\.m: value 65536 is outside \[0, 65535\]"),
    "n zero": (
        lambda b: rewrite(b, edit_arrays=lambda a: a["pw1.n"].__setitem__(0, 0)),
        r"pw1\.n: value 0 is outside \[1, 62\]"),
    "missing array": (
        lambda b: rewrite(b, edit_arrays=lambda a: a.pop("dw2.b")),
        r"dw2\.b: missing array"),
    "stray array": (
        lambda b: rewrite(b, edit_arrays=lambda a: set_item(a, "ghost.w", np.zeros(1, np.int8))),
        r"arrays for no layer: ghost\.w"),
    "truncated arrays": (truncate_arrays, r"unreadable arrays"),
    "manifest not json": (
        lambda b: (b / MANIFEST).write_text("{not json"),
        r"manifest\.json: not valid JSON"),
    "missing manifest": (lambda b: (b / MANIFEST).unlink(), r"missing manifest\.json"),
    "wrong in_bits": (
        lambda b: rewrite(b, edit_manifest=lambda m: set_item(m["layers"][0], "in_bits", 2)),
        r"conv1\)\.in_bits: 2, but the incoming activations have 8 bits"),
    "s not a scale": (
        lambda b: rewrite(b, edit_manifest=lambda m: set_item(m, "s", [0.5, "x", 1])),
        r"manifest\.s: a width scale is a number in \(0, 16\], not 'x'"),
    "logits not last": (
        lambda b: rewrite(b, edit_manifest=lambda m: set_item(m["layers"][0], "out_bits", 32)),
        r"only the last layer"),
}
CASES.pop("zero 1-bit weight")


@pytest.mark.parametrize("case", sorted(CASES))
def test_corrupted_bundle_is_refused_with_a_named_field(tmp_path, case):
    net = family_network("mobilenet", 1, 0.5)  # q = 1 so weights are ±1
    path = save_bundle(net, tmp_path / "b")
    corrupt, message = CASES[case]
    corrupt(path)
    with pytest.raises(BundleError, match=message):
        load_bundle(path)


def test_pickled_arrays_are_refused(tmp_path, net):
    path = save_bundle(net, tmp_path / "b")

    def add_object_array(arrays):
        arrays["conv1.w"] = np.array([object()], dtype=object)

    with pytest.raises(BundleError, match=r"unreadable arrays|dtype"):
        rewrite(path, edit_arrays=add_object_array)
        load_bundle(path)


def test_zero_weight_is_refused_at_one_bit(tmp_path):
    path = save_bundle(family_network("vgg", 1, 0.25), tmp_path / "b")
    rewrite(path, edit_arrays=lambda a: a["conv2.w"].flat.__setitem__(3, 0))
    with pytest.raises(BundleError, match=r"conv2\.w: 1-bit weights must be -1 or \+1"):
        load_bundle(path)


def test_not_a_directory(tmp_path):
    with pytest.raises(BundleError, match="not a bundle directory"):
        load_bundle(tmp_path / "nope")


def test_npz_written_by_numpy_is_accepted(tmp_path, net):
    # The format is readable without this project's code, and writable by plain numpy.
    path = save_bundle(net, tmp_path / "b")
    rewrite(path, edit_arrays=lambda a: None)
    assert zipfile.is_zipfile(path / ARRAYS)
    load_bundle(path)


def test_a_scale_per_stage_is_a_list_in_the_manifest(tmp_path):
    net = family_network("vgg", 2, (1, 0.5, 0.625))
    path = save_bundle(net, tmp_path / "b")
    assert json.loads((path / MANIFEST).read_text())["s"] == [1.0, 0.5, 0.625]
    loaded = load_bundle(path)
    assert loaded.s == (1.0, 0.5, 0.625) and loaded.specs() == net.specs()
