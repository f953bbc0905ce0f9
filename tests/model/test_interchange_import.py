"""``python -m model import``: Brevitas models trained here with plain torch, exported with
``export_qonnx``, imported into bundles and compared with Brevitas's own predictions;
models the contract cannot hold are refused in one line that names the node."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("brevitas")
pytest.importorskip("qonnx")

from common.cli import UserError  # noqa: E402
from intnet import golden  # noqa: E402
from intnet.bundle import load_bundle  # noqa: E402
from model.interchange.importer import import_qonnx  # noqa: E402
from tests.model import brevitas_nets as bn  # noqa: E402

# kind, bits, batch norm (False: biases on the accumulator grid), learning rate
MODELS = [
    ("vgg", 2, False, 0.003),
    ("vgg", 3, False, 0.003),
    ("vgg", 4, False, 0.003),
    ("binary", 1, False, 0.003),
    ("mobile", 4, False, 0.03),
    ("vgg", 4, True, 0.003),
    ("vgg", 2, True, 0.003),
    ("mobile", 3, True, 0.03),
]
# Float batch norm at 2-3 bits: thresholds no integer bias can hold, so these import with
# calibration on training images and widened weights (``model import --max-bits 8``).
WIDENED = {("vgg", 2, True), ("mobile", 3, True)}


def imported(exported, data, kind, bits, batch_norm):
    path = exported[kind, bits, batch_norm][0]
    if (kind, bits, batch_norm) in WIDENED:
        return import_qonnx(path, "digits", data.train_x[:512], max_bits=8)
    return import_qonnx(path, "digits")


@pytest.fixture(scope="module")
def data():
    return bn.digits()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, data):
    """Each model trained (seconds), its Brevitas predictions, and its QONNX file."""
    import torch

    torch.set_num_threads(1)
    out = {}
    for kind, bits, batch_norm, lr in MODELS:
        net = bn.train(bn.make_net(kind, bits, batch_norm), data, lr=lr)
        path = tmp_path_factory.mktemp("onnx") / f"{kind}{bits}.onnx"
        bn.export(net, path)
        out[kind, bits, batch_norm] = (path, bn.predict(net, data.test_x))
    return out


@pytest.mark.parametrize("kind,bits,batch_norm,lr", MODELS)
def test_imported_bundle_classifies_as_brevitas_does(exported, data, kind, bits, batch_norm,
                                                     lr):
    brevitas_classes = exported[kind, bits, batch_norm][1]
    net = imported(exported, data, kind, bits, batch_norm)
    ours = golden.classify(golden.run(net, data.test_x))
    brevitas_acc = (brevitas_classes == data.test_y).mean()
    golden_acc = (ours == data.test_y).mean()
    assert abs(golden_acc - brevitas_acc) <= 0.005, (brevitas_acc, golden_acc)
    assert (ours == brevitas_classes).mean() >= 0.99
    assert brevitas_acc > 0.5  # a model that learned something


@pytest.mark.parametrize("kind,bits,batch_norm,lr",
                         [m for m in MODELS if m[:3] not in WIDENED])
def test_imported_bundle_keeps_the_models_own_widths(exported, kind, bits, batch_norm, lr):
    net = import_qonnx(exported[kind, bits, batch_norm][0])
    weighted = [layer for layer in net.layers if layer.w_bits]
    head_bits = 8 if kind == "binary" else bits
    assert [layer.w_bits for layer in weighted] == [bits] * (len(weighted) - 1) + [head_bits]
    assert all(layer.out_bits == bits for layer in weighted[:-1])
    assert net.q == max(bits, head_bits) and net.input_shape == (8, 8, 1)
    kinds = [layer.kind for layer in net.layers]
    if kind == "mobile":
        assert kinds == ["conv", "dwconv", "conv", "avgpool", "dense"]
        assert net.layers[3].out_bits == bits  # a signed 5-bit quantizer on a mean ≥ 0
    else:
        assert kinds == ["conv", "maxpool", "conv", "maxpool", "dense"]
    # per-channel weight scales (and batch norm) folded into one m per channel
    assert len(set(net.layers[0].m.tolist())) > 1
    if kind == "binary":
        assert set(np.unique(net.layers[0].w)) == {-1, 1}


def test_import_command_writes_the_bundle_and_prints_accuracy(exported, tmp_path, data):
    path, _ = exported["vgg", 4, True]
    done = run_import(path, tmp_path / "b", "--dataset", "digits")
    assert done.returncode == 0, done.stderr
    net = load_bundle(tmp_path / "b")
    acc = golden.accuracy(net, data.test_x, data.test_y)
    assert f"{100 * acc:6.2f}%" in done.stdout and net.meta["metrics"]["integer_acc"] == acc
    assert net.meta["source"] == path.name and net.dataset == "digits"
    again = run_import(path, tmp_path / "b")
    assert again.returncode == 2 and "--force" in again.stderr
    wrong = run_import(path, tmp_path / "c", "--dataset", "mnist5k")
    assert wrong.returncode == 2 and "[8, 8, 1]" in wrong.stderr
    assert not (tmp_path / "c").exists()


def test_widening_is_reported_and_limited_to_max_bits(exported, tmp_path):
    """At the model's own widths the 2-bit vgg's logits keep real biases between integers
    (reported, with the option that helps); --max-bits widens only as far as asked."""
    path, _ = exported["vgg", 2, True]
    done = run_import(path, tmp_path / "own", "--dataset", "digits")
    assert done.returncode == 0, done.stderr
    assert "class pairs whose logit order" in done.stdout and "--max-bits 8" in done.stdout
    own = load_bundle(tmp_path / "own")
    assert [lay.w_bits for lay in own.layers if lay.w_bits] == [2, 2, 2]
    assert own.meta["fidelity"]["flippable_class_pairs"] > 0
    done = run_import(path, tmp_path / "w4", "--dataset", "digits", "--max-bits", "4")
    assert done.returncode == 0, done.stderr
    wide = load_bundle(tmp_path / "w4")
    assert max(lay.w_bits for lay in wide.layers if lay.w_bits) <= 4
    head = wide.layers[-1]
    if head.w_bits > 2:  # weights times 2^e: multiples of 2^e, logits e bits finer
        assert np.all(head.w % (1 << (head.w_bits - 2)) == 0)
        assert "widened from 2 to" in done.stdout


def run_import(path, out, *args):
    return subprocess.run([sys.executable, "-m", "model", "import", str(path), "--out",
                           str(out), *args], capture_output=True, text=True, timeout=600)


# ------------------------------------------------------------------ refusals


def _refused(module_factory):
    """A small untrained Brevitas model exported with export_qonnx."""
    def make():
        import torch

        torch.manual_seed(0)
        return module_factory()
    return make


def _conv(cin=1, cout=4, k=3, padding=1, **kw):
    import brevitas.nn as qnn

    kw.setdefault("weight_bit_width", 4)
    return qnn.QuantConv2d(cin, cout, k, padding=padding, bias=False, **kw)


def _tail(channels=4, hw=8, **kw):
    import brevitas.nn as qnn
    from torch import nn

    return [qnn.QuantReLU(bit_width=4), nn.Flatten(),
            qnn.QuantLinear(channels * hw * hw, 10, bias=True, weight_bit_width=4, **kw)]


def per_channel_logits():
    from brevitas.quant import Int8WeightPerChannelFloat
    from torch import nn

    return nn.Sequential(_conv(), *_tail(weight_quant=Int8WeightPerChannelFloat))


def wide_range_weights():
    from brevitas.quant import Int8WeightPerChannelFloat
    from torch import nn

    return nn.Sequential(_conv(weight_quant=Int8WeightPerChannelFloat.let(narrow_range=False),
                               weight_bit_width=2), *_tail())


def learned_input_quantizer():
    import brevitas.nn as qnn
    from torch import nn

    return nn.Sequential(qnn.QuantIdentity(bit_width=8), _conv(), *_tail())


def sigmoid():
    from torch import nn

    return nn.Sequential(_conv(), nn.Sigmoid(), *_tail())


def unpadded_conv():
    from torch import nn

    return nn.Sequential(_conv(padding=0), *_tail(hw=6))


def residual():
    from torch import nn

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = _conv(1, 4), _conv(4, 4)
            self.tail = nn.Sequential(*_tail())

        def forward(self, x):
            y = self.a(x)
            return self.tail(y + self.b(y))

    return Residual()


REFUSALS = [  # model, words the one line must have
    (per_channel_logits, ["Gemm", "per-tensor weight quantizer"]),
    (learned_input_quantizer, ["Quant", "x/255"]),
    (wide_range_weights, ["reach -2", "narrow_range=True"]),
    (sigmoid, ["Sigmoid", "does not run"]),
    (unpadded_conv, ["Conv", "pads"]),
    (residual, ["feeds 2 nodes", "chain"]),
]


@pytest.mark.parametrize("factory,words", REFUSALS, ids=[f.__name__ for f, _ in REFUSALS])
def test_unsupported_models_get_one_line_naming_the_node(tmp_path, factory, words):
    path = tmp_path / "m.onnx"
    bn.export(_refused(factory)().eval(), path)
    done = run_import(path, tmp_path / "b")
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    for word in words:
        assert word in line, line
    assert not (tmp_path / "b").exists()


def test_qcdq_export_is_told_to_use_export_qonnx(tmp_path):
    import torch
    from brevitas.export import export_onnx_qcdq
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(_conv(), *_tail()).eval()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx_qcdq(net, torch.zeros(1, 1, 8, 8), export_path=str(tmp_path / "q.onnx"))
    with pytest.raises(UserError, match="export_qonnx instead"):
        import_qonnx(tmp_path / "q.onnx")


def test_external_data_is_read_and_its_absence_named(tmp_path, exported, data):
    import onnx

    path, brevitas_classes = exported["vgg", 2, False]
    model = onnx.load(str(path))
    onnx.save_model(model, str(tmp_path / "ext.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="ext.onnx.data", size_threshold=0)
    net = import_qonnx(tmp_path / "ext.onnx")
    assert np.array_equal(golden.run(net, data.test_x),
                          golden.run(import_qonnx(path), data.test_x))
    (tmp_path / "ext.onnx.data").unlink()
    done = run_import(tmp_path / "ext.onnx", tmp_path / "b")
    assert done.returncode == 2 and "'ext.onnx.data'" in done.stderr
    assert "missing" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_corrupt_files_get_one_line(tmp_path, exported):
    path, _ = exported["vgg", 2, False]
    blob = path.read_bytes()
    (tmp_path / "cut.onnx").write_bytes(blob[: len(blob) // 3])
    (tmp_path / "text.onnx").write_text("not a model\n")
    for name, words in (("cut.onnx", "not an ONNX model"), ("text.onnx", "not an ONNX model"),
                        ("absent.onnx", "no such file")):
        done = run_import(tmp_path / name, tmp_path / "b")
        assert done.returncode == 2 and words in done.stderr, (name, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "b").exists()
