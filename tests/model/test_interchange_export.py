"""``python -m model export``: onnxruntime runs the plain graph to exactly the golden logits;
qonnx's executor runs the QONNX graph to the golden model's classes."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("qonnx")

from intnet import golden  # noqa: E402
from intnet.bundle import save_bundle  # noqa: E402
from intnet.synthetic import EVERY_KIND_SPECS, family_network, random_network  # noqa: E402
from model.interchange.onnx_export import to_onnx  # noqa: E402
from model.interchange.qonnx_export import exact_under_float32, to_qonnx  # noqa: E402
from tests.model.mixed_nets import mixed_network  # noqa: E402

MIXED = {"vgg": [8, 2, 4, 3], "mobilenet": [8, 2, 4, 1, 6, 3, 5, 4, 8, 2]}


def ort_logits(net, images):
    import onnxruntime as ort

    session = ort.InferenceSession(to_onnx(net).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"pixels": np.asarray(images, np.uint8)})
    return logits


def qonnx_logits(net, images):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.change_batchsize import ChangeBatchSize
    from qonnx.transformation.infer_shapes import InferShapes

    model = ModelWrapper(to_qonnx(net)).transform(ChangeBatchSize(len(images)))
    model = model.transform(InferShapes())
    x = (np.asarray(images).transpose(0, 3, 1, 2) / 255.0).astype(np.float32)
    return execute_onnx(model, {"global_in": x})["global_out"]


def check_qonnx(net, images, reference=None):
    """qonnx's executor: the golden logits exactly within the float32 bound, else (the
    issue's acceptance) the golden class on ≥ 99.9 % of the images."""
    reference = golden.run(net, images) if reference is None else reference
    logits = qonnx_logits(net, images)
    if exact_under_float32(net):
        assert np.array_equal(logits, reference)
    else:
        assert (logits.argmax(axis=1) == golden.classify(reference)).mean() >= 0.999


def pixels(n, shape=(28, 28, 1), seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape)).astype(np.uint8)


@pytest.mark.parametrize("arch", ["vgg", "mobilenet"])
@pytest.mark.parametrize("q", [1, 2, 4, 8])
def test_plain_onnx_is_exact_on_the_family(arch, q):
    net = family_network(arch, q, 1.0, seed=q)
    images = pixels(64, seed=q)
    logits = ort_logits(net, images)
    assert logits.dtype == np.int64
    assert np.array_equal(logits, golden.run(net, images))


@pytest.mark.parametrize("mode", ["max", "min"])
@pytest.mark.parametrize("q", [1, 8])
def test_plain_onnx_is_exact_at_the_accumulator_extremes(mode, q):
    """Every weight at its extreme, biases ±2^20, m = 2^16 − 1, n = 1: the largest sums
    and products the int32/int64 stages see (white and black images)."""
    net = random_network(EVERY_KIND_SPECS, q, mode=mode)
    images = np.concatenate([np.full((1, 9, 9, 1), 255, np.uint8), pixels(7, (9, 9, 1)),
                             np.zeros((1, 9, 9, 1), np.uint8)])
    assert np.array_equal(ort_logits(net, images), golden.run(net, images))


def test_plain_onnx_is_exact_on_every_layer_kind_and_odd_sizes():
    for q in range(1, 9):
        net = random_network(EVERY_KIND_SPECS, q, seed=q)
        images = pixels(32, (9, 9, 1), seed=q)
        assert np.array_equal(ort_logits(net, images), golden.run(net, images)), q


@pytest.mark.parametrize("arch", ["vgg", "mobilenet"])
def test_plain_onnx_is_exact_on_mixed_precision(arch):
    net = mixed_network(arch, MIXED[arch])
    assert len({layer.w_bits for layer in net.layers if layer.w_bits}) > 2
    images = pixels(64, seed=5)
    assert np.array_equal(ort_logits(net, images), golden.run(net, images))


@pytest.fixture(scope="module")
def trained():
    """Small trained bundles (digits, one epoch each; cached like every training)."""
    from model.train import train_and_export

    return {(arch, q): train_and_export(arch, q, 0.5, "digits", epochs=1, float_epochs=1,
                                        progress=False)[0]
            for arch in ("vgg", "mobilenet") for q in (1, 2, 4, 8)}


@pytest.fixture(scope="module")
def digits():
    from model.data import load_digits

    return load_digits()


def test_plain_onnx_is_exact_on_trained_bundles(trained, digits):
    for key, net in trained.items():
        logits = ort_logits(net, digits.test_x)
        assert np.array_equal(logits, golden.run(net, digits.test_x)), key


def test_qonnx_executor_computes_the_golden_logits(trained, digits):
    """Within the float32 bound (every |Σ w·a| and |acc + b| below 2^24) the QONNX graph
    is exact under qonnx's executor: the logits, not only the classes."""
    for key, net in trained.items():
        assert exact_under_float32(net), key
        check_qonnx(net, digits.test_x)


@pytest.mark.parametrize("arch", ["vgg", "mobilenet"])
def test_qonnx_executor_is_exact_on_the_family_and_mixed(arch):
    images = pixels(48, seed=2)
    for net in [family_network(arch, q, 1.0, seed=q) for q in (1, 2, 4, 8)] + \
            [mixed_network(arch, MIXED[arch])]:
        check_qonnx(net, images)


def test_qonnx_exactness_bound_is_known():
    """vgg's dense layer at 8 bits sums 576 products of up to 127·255: past 2^24, where
    float32 sums may round; at 4 bits it stays below."""
    assert not exact_under_float32(family_network("vgg", 8, 1.0))
    assert exact_under_float32(family_network("vgg", 4, 1.0))


def test_qonnx_export_imports_back_to_the_same_golden_logits(tmp_path):
    from model.interchange.importer import import_qonnx
    from model.interchange.onnx_export import write_model

    for net in (family_network("mobilenet", 3, 0.5), mixed_network("vgg", MIXED["vgg"])):
        write_model(to_qonnx(net), tmp_path / "m.onnx")
        back = import_qonnx(tmp_path / "m.onnx")
        assert [(a.kind, a.w_bits, a.out_bits) for a in back.layers] == \
            [(a.kind, a.w_bits, a.out_bits) for a in net.layers]
        images = pixels(32, seed=1)
        assert np.array_equal(golden.run(back, images), golden.run(net, images))


def cli(*args):
    return subprocess.run([sys.executable, "-m", "model", *args], capture_output=True,
                          text=True, timeout=600)


def test_export_command_writes_both_flavors_and_refuses_in_one_line(tmp_path):
    net = family_network("vgg", 2, 0.5)
    save_bundle(net, tmp_path / "b")
    done = cli("export", "--bundle", str(tmp_path / "b"), "--onnx", str(tmp_path / "n.onnx"))
    assert done.returncode == 0, done.stderr
    import onnx

    assert onnx.load(str(tmp_path / "n.onnx")).graph.output[0].name == "logits"
    done = cli("export", "--bundle", str(tmp_path / "b"), "--onnx", str(tmp_path / "q.onnx"),
               "--flavor", "qonnx")
    assert done.returncode == 0, done.stderr
    assert any(n.op_type == "Quant" for n in onnx.load(str(tmp_path / "q.onnx")).graph.node)
    again = cli("export", "--bundle", str(tmp_path / "b"), "--onnx", str(tmp_path / "n.onnx"))
    assert again.returncode == 2 and "--force" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    missing = cli("export", "--bundle", str(tmp_path / "nope"), "--onnx", str(tmp_path / "x"))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------ acceptance (slow)

@pytest.fixture(scope="module")
def mnist5k():
    from model.data import load_mnist5k

    return load_mnist5k()


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["vgg", "mobilenet"])
@pytest.mark.parametrize("q", [1, 2, 4, 8])
def test_export_is_exact_on_all_mnist5k_test_images(arch, q, mnist5k):
    """The issue's acceptance: trained bundles (default training, s = 1), 1,000 images:
    onnxruntime's logits equal the golden ones; qonnx's executor's too within the float32
    bound, else its classes on ≥ 99.9 % of the images."""
    from model.train import train_and_export

    net, _ = train_and_export(arch, q, 1.0, "mnist5k", progress=False)
    assert len(mnist5k.test_x) == 1000
    reference = golden.run(net, mnist5k.test_x)
    assert np.array_equal(ort_logits(net, mnist5k.test_x), reference)
    check_qonnx(net, mnist5k.test_x, reference)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["vgg", "mobilenet"])
def test_export_is_exact_on_all_mnist5k_test_images_mixed(arch, mnist5k):
    net = mixed_network(arch, MIXED[arch], calib_images=mnist5k.train_x[:64])
    reference = golden.run(net, mnist5k.test_x)
    assert np.array_equal(ort_logits(net, mnist5k.test_x), reference)
    assert exact_under_float32(net)
    check_qonnx(net, mnist5k.test_x, reference)
