"""Short QAT trainings on `digits`: export → load → golden agrees with the fake-quant model;
the run cache (reuse, corrupt entries retrained); determinism; the acceptance matrix (slow)."""

import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from intnet.arch import network_specs
from intnet.bundle import load_bundle, save_bundle
from intnet.golden import accuracy, classify, run
from model.data import load_dataset
from model.train import (
    TrainConfig,
    config_dict,
    predict,
    resolve,
    to_nchw,
    train,
    train_and_export,
)


@pytest.fixture(scope="module", autouse=True)
def run_cache(tmp_path_factory):
    """A private run cache for this module (shared by its tests: float pre-trains reuse)."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("runs")
        mp.setenv("QSNAS_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def short(arch="vgg", q=4, s=1.0, **kw) -> TrainConfig:
    """A 2 + 2 epoch run on digits."""
    return TrainConfig(arch=arch, q=q, s=s, dataset="digits", epochs=2, float_epochs=2, **kw)


def _mark_export_stale(result):
    """Mark ``result``'s cache entry as exported by an older export version; its
    result.json."""
    result_json = result.cache_dir / "result.json"
    stale = json.loads(result_json.read_text())
    stale["export_version"] = -1
    result_json.write_text(json.dumps(stale))
    return result_json


def _arrays(net):
    out = {}
    for layer in net.layers:
        out.update(layer.arrays())
    return out


@pytest.mark.parametrize("arch,q", [("vgg", 1), ("vgg", 2), ("vgg", 4), ("vgg", 8),
                                    ("mobilenet", 1), ("mobilenet", 3), ("mobilenet", 8)])
def test_exported_bundle_agrees_with_the_fake_quant_model(arch, q, digits, tmp_path):
    result = train(short(arch, q), progress=False, data=digits)
    path = save_bundle(result.network, tmp_path / "bundle")
    net = load_bundle(path)
    specs = network_specs(arch, 1.0, (8, 8, 1), 10)
    assert [(lay.name, lay.kind, lay.in_shape, lay.out_shape) for lay in net.layers] == [
        (sp.name, sp.kind, sp.in_shape, sp.out_shape) for sp in specs]
    assert net.q == q and net.arch == arch and net.dataset == "digits"
    golden_logits = run(net, digits.test_x)
    golden = classify(golden_logits)
    fake = predict(result.model(), to_nchw(digits.test_x), "folded")
    agreement = float((golden == fake).mean())
    assert agreement >= 0.99, f"fake-quant vs golden class agreement {agreement:.3f}"
    # the folded mode computes the contract exactly: its logits are the integer ones
    # times the logit layer's real scale
    with torch.no_grad():
        real = result.model()(to_nchw(digits.test_x)).numpy()
    k = np.flatnonzero(golden_logits)[0]
    unit = real.flat[k] / golden_logits.flat[k]
    np.testing.assert_allclose(real, golden_logits * unit, rtol=1e-12, atol=1e-12 * unit)
    assert result.metrics["agreement"] == pytest.approx(agreement)
    assert result.metrics["integer_acc"] == pytest.approx(accuracy(net, digits.test_x,
                                                                   digits.test_y))
    if arch == "vgg" and q >= 2:
        assert result.metrics["integer_acc"] > 0.3  # it learned something in 2+2 epochs
    if q == 1:
        assert all(set(np.unique(lay.w)) <= {-1, 1} for lay in net.layers if lay.w is not None)


@pytest.mark.parametrize("arch,bits", [("vgg", (8, 2, 3, 4)),
                                       ("mobilenet", (8, 3, 2, 4, 1, 5, 2, 6, 3, 4))])
def test_a_mixed_precision_bundle_agrees_with_its_fake_quant_model(arch, bits, digits):
    result = train(short(arch, s=0.5, bits=bits), progress=False, data=digits)
    net = result.network
    assert tuple(lay.w_bits for lay in net.layers if lay.w_bits) == bits
    widths = [(lay.in_bits, lay.out_bits) for lay in net.layers if lay.w_bits]
    assert widths[0][0] == 8 and widths[-1][1] == 32
    for (_, out), (nxt, _) in zip(widths[:-1], widths[1:], strict=True):
        assert nxt == out  # every layer reads what the one before wrote
    assert net.q == max(bits)
    golden = classify(run(net, digits.test_x))
    fake = predict(result.model(), to_nchw(digits.test_x), "folded")
    assert (golden == fake).mean() >= 0.99
    assert result.metrics["integer_acc"] == pytest.approx(accuracy(net, digits.test_x,
                                                                   digits.test_y))


def test_uniform_runs_keep_their_cache_key():
    # the key of a uniform run is what it was before per-layer widths existed (pinned),
    # and per-layer widths that are all equal are that uniform run
    cfg = TrainConfig(arch="vgg", q=3, s=0.5, dataset="digits", epochs=2, float_epochs=2)
    assert cfg.key("qat") == "0abed053832d41cb9095b06c"
    assert cfg.key("float") == "0c33b224e84762940042d375"
    same = dataclasses.replace(cfg, q=8, bits=(3, 3, 3, 3))
    assert same.key("qat") == cfg.key("qat")
    mixed = dataclasses.replace(cfg, bits=(3, 3, 2, 3))
    assert mixed.key("qat") != cfg.key("qat") and mixed.key("float") == cfg.key("float")
    # a (weights, activations) pair whose widths agree is the plain width; one that
    # differs is another run, and q is the widest of either
    assert dataclasses.replace(cfg, bits=(3, (3, 3), 2, 3)).key("qat") == mixed.key("qat")
    pairs = dataclasses.replace(cfg, bits=(3, (2, 5), 2, 3))
    assert pairs.key("qat") not in (mixed.key("qat"), cfg.key("qat"))
    assert resolve(pairs).q == 5 and resolve(pairs).bits == (3, (2, 5), 2, 3)


def test_val_zero_keeps_the_keys_of_main_and_val_changes_both():
    # keys computed by the code on main before `val` existed (a uniform run on digits, a
    # default mnist5k mobilenet run, W:A pairs with another seed, a non-default qat_lr)
    main_keys = [
        (dict(arch="vgg", q=3, s=0.5, dataset="digits", epochs=2, float_epochs=2),
         "0abed053832d41cb9095b06c", "0c33b224e84762940042d375"),
        (dict(arch="mobilenet", q=4, s=1.0), "53a2a76cc1f36e6a1dc49639",
         "3bb256d477db4ee7b046c816"),
        (dict(arch="vgg", q=8, s=0.5, dataset="digits", bits=(3, (2, 5), 2, 3), seed=3),
         "6772b0adcbc44a6bcf72482c", "045c4e5bc60bf59cdd7578ab"),
        (dict(arch="vgg", q=2, s=1.5, dataset="mnist5k", qat_lr=0.02),
         "f736660277b748ab75de9ff5", "d09df53bb4ffa9282063d78f"),
    ]
    for fields, qat_key, float_key in main_keys:
        cfg = TrainConfig(**fields, val=0)
        assert (cfg.key("qat"), cfg.key("float")) == (qat_key, float_key), fields
        assert "val" not in config_dict(resolve(cfg))
        held = dataclasses.replace(cfg, val=10)
        assert held.key("qat") != qat_key and held.key("float") != float_key
        assert config_dict(resolve(held))["val"] == 10
        assert dataclasses.replace(cfg, val=20).key("qat") != held.key("qat")


@pytest.mark.parametrize("val", [-1, 1.5])
def test_a_bad_val_is_one_line(val):
    from common.cli import UserError

    with pytest.raises(UserError, match=re.escape(f"val must be a non-negative integer, not "
                                                  f"{val!r}")):
        train(short("vgg", s=0.5, val=val), progress=False)
    with pytest.raises(UserError, match=re.escape("val must be an integer in [0, 1397)")):
        train(short("vgg", s=0.5, val=1397), progress=False)


def _recording(monkeypatch):
    """``(batches, calibrations)``: the training images of every `fit` step and every
    calibration, in order, each as uint8 images [N, H, W, C]."""
    import model.nets
    import model.train

    batches, calibrations = [], []
    shift, calibrate = model.train.random_shift, model.nets.QNet.calibrate

    def recording_shift(x, *args):
        batches.append(x.permute(0, 2, 3, 1).numpy().astype(np.uint8))
        return shift(x, *args)

    def recording_calibrate(self, pixels):
        calibrations.append(pixels.cpu().permute(0, 2, 3, 1).numpy().astype(np.uint8))
        return calibrate(self, pixels)

    monkeypatch.setattr(model.train, "random_shift", recording_shift)
    monkeypatch.setattr(model.nets.QNet, "calibrate", recording_calibrate)
    return batches, calibrations


def _rows(images: np.ndarray) -> list[bytes]:
    return sorted(image.tobytes() for image in images)


def test_held_out_images_are_never_trained_on(digits, monkeypatch):
    val = 397  # digits: 1,397 training images, so every epoch is 1,000 (15 × 64 + 40)
    batches, calibrations = _recording(monkeypatch)
    cfg = dataclasses.replace(short("vgg", 2, s=0.5, val=val), epochs=1, float_epochs=1)
    result = train(cfg, progress=False, use_cache=False, data=digits)
    seen = np.concatenate(batches)
    n = len(digits.train_x) - val
    assert len(seen) == 2 * n  # the float pre-train's epoch, then the QAT epoch
    for epoch in (seen[:n], seen[n:]):  # each the first N − val images, once each
        assert _rows(epoch) == _rows(digits.train_x[:n])
    assert len(calibrations) == 1 and np.array_equal(calibrations[0], digits.train_x[:512])
    m = result.metrics
    assert m["val_images"] == val
    assert m["val_acc"] == pytest.approx(accuracy(result.network, digits.train_x[-val:],
                                                  digits.train_y[-val:]))
    assert m["integer_acc"] == pytest.approx(accuracy(result.network, digits.test_x,
                                                      digits.test_y))
    assert m["test_images"] == len(digits.test_x)
    assert result.network.meta["metrics"]["val_acc"] == m["val_acc"]


@pytest.mark.parametrize("bits, message", [
    ((4, 4, 4), "one width per weighted layer of vgg on digits: 4 (conv1, conv2, conv3, fc)"),
    ((4, 9, 4, 4), "bits must be integer widths in 1..8, not 9"),
])
def test_bad_widths_are_one_line(bits, message):
    from common.cli import UserError

    with pytest.raises(UserError, match=re.escape(message)):
        train(short("vgg", s=0.5, bits=bits), progress=False)


def test_the_quant_and_folded_evaluations_agree(digits):
    result = train(short("vgg", 4), progress=False, data=digits)
    model = result.model()
    x = to_nchw(digits.test_x)
    quant = predict(model, x, "quant")  # BN unfolded, running statistics
    folded = predict(model, x, "folded")
    assert (quant == folded).mean() >= 0.98


def test_cache_reuse_and_corrupt_entries_are_retrained(digits):
    cfg = short("vgg", 2, seed=5)
    first = train(cfg, progress=False, data=digits)
    assert not first.cached and not first.metrics["float_cached"]
    again = train(cfg, progress=False, data=digits)
    assert again.cached and again.cache_dir == first.cache_dir
    for k, v in _arrays(first.network).items():
        assert np.array_equal(v, _arrays(again.network)[k]), k
    assert again.metrics == first.metrics
    # a run exported by an older export version is re-exported from its state, not retrained
    result_json = _mark_export_stale(first)
    reexported = train(cfg, progress=False, data=digits)
    assert reexported.cached and reexported.metrics["losses"] == first.metrics["losses"]
    for k, v in _arrays(first.network).items():
        assert np.array_equal(v, _arrays(reexported.network)[k]), k
    assert json.loads(result_json.read_text())["export_version"] != -1
    # corrupt bundle arrays: the checksum fails, the run is trained again (float reused)
    npz = first.cache_dir / "bundle" / "arrays.npz"
    npz.write_bytes(npz.read_bytes()[:-40] + b"\0" * 40)
    rebuilt = train(cfg, progress=False, data=digits)
    assert not rebuilt.cached and rebuilt.metrics["float_cached"]
    assert train(cfg, progress=False, data=digits).cached
    # corrupt result and a corrupt float state: both retrained
    (first.cache_dir / "result.json").write_text("{not json")
    float_entries = list(first.cache_dir.parent.glob("float-*"))
    for entry in float_entries:
        (entry / "state.pt").write_bytes(b"garbage")
    rebuilt = train(cfg, progress=False, data=digits)
    assert not rebuilt.cached and not rebuilt.metrics["float_cached"]
    for k, v in _arrays(first.network).items():  # deterministic: the same network again
        assert np.array_equal(v, _arrays(rebuilt.network)[k]), k


def test_an_export_error_in_a_cached_run_propagates(digits, monkeypatch):
    # Re-exporting a run of an older export version: an unreadable entry is retrained,
    # but a bug in the export is a bug, not a stale cache entry.
    import model.train

    cfg = dataclasses.replace(short("vgg", 2, seed=6), epochs=1, float_epochs=1)
    result_json = _mark_export_stale(train(cfg, progress=False, data=digits))

    def broken_export(*args, **kwargs):
        raise TypeError("a bug in the export")

    monkeypatch.setattr(model.train, "_export_and_evaluate", broken_export)
    with pytest.raises(TypeError, match="a bug in the export"):
        train(cfg, progress=False, data=digits)
    assert json.loads(result_json.read_text())["export_version"] == -1  # left as it was


def test_training_is_deterministic_without_the_cache(digits):
    cfg = dataclasses.replace(short("mobilenet", 2, s=0.5), epochs=1, float_epochs=1)
    a = train(cfg, progress=False, use_cache=False, data=digits)
    b = train(cfg, progress=False, use_cache=False, data=digits)
    assert not a.cached and not b.cached
    for k, v in _arrays(a.network).items():
        assert np.array_equal(v, _arrays(b.network)[k]), k


def test_train_and_export_writes_the_bundle(tmp_path):
    net, metrics = train_and_export("vgg", 3, 0.5, "digits", epochs=1, seed=0,
                                    out=tmp_path / "b", float_epochs=1, progress=False)
    loaded = load_bundle(tmp_path / "b")
    assert loaded.q == 3 and loaded.s == 0.5
    assert loaded.meta["metrics"]["integer_acc"] == metrics["integer_acc"]
    for key in ("float_acc", "fake_quant_acc", "integer_acc", "agreement", "cached",
                "cache_dir", "seconds_per_epoch"):
        assert key in metrics
    for k, v in _arrays(net).items():
        assert np.array_equal(v, _arrays(loaded)[k])


# ------------------------------------------------------------------ acceptance (slow)

ACCEPTANCE = [  # arch, q, s, float ≥, integer ≥ (issue 2, mnist5k test split)
    ("vgg", 4, 1.0, 0.975, 0.97),
    ("vgg", 2, 1.5, None, 0.96),
    ("vgg", 1, 2.0, None, 0.92),
    ("mobilenet", 4, 1.0, None, 0.95),
] + [(arch, q, 1.0, None, None) for arch in ("vgg", "mobilenet") for q in (1, 2, 3, 5, 6, 7, 8)]


@pytest.mark.slow
@pytest.mark.parametrize("arch,q,s,float_min,int_min", ACCEPTANCE)
def test_acceptance_on_mnist5k(arch, q, s, float_min, int_min):
    _, m = train_and_export(arch, q, s, "mnist5k", progress=False)
    assert m["test_images"] == 1000
    assert m["agreement"] >= 0.99
    if float_min is not None:
        assert m["float_acc"] >= float_min
    if int_min is not None:
        assert m["integer_acc"] >= int_min
