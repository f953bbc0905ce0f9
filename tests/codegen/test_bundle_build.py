"""``codegen build --bundle``: an imported Brevitas model and a mixed-precision bundle to
verified hardware, no training; bad options are refused in one line before any step."""

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from intnet import golden
from intnet.bundle import save_bundle
from intnet.synthetic import family_network
from tests.model.mixed_nets import mixed_network

REPORT_KEYS = {"q", "s", "arch", "dataset", "board", "pe", "mult", "accuracy",
               "hw_matches_golden", "cycles", "clock_mhz", "latency_us", "energy",
               "resources", "capacity", "fits", "files"}


def codegen(*args):
    return subprocess.run([sys.executable, "-m", "codegen", "build", "--quiet", *args],
                          capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """A 3-bit Brevitas CNN (biases on the accumulator grid) trained on digits, exported
    with export_qonnx and imported with ``python -m model import``."""
    pytest.importorskip("brevitas")
    pytest.importorskip("qonnx")
    import torch

    from tests.model import brevitas_nets as bn

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("imported")
    net = bn.train(bn.make_net("vgg", 3, batch_norm=False), bn.digits())
    bn.export(net, root / "vgg3.onnx")
    done = subprocess.run([sys.executable, "-m", "model", "import", str(root / "vgg3.onnx"),
                           "--out", str(root / "bundle"), "--dataset", "digits"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return root / "bundle"


def test_imported_bundle_builds_with_zero_mismatches(imported, tmp_path):
    out = tmp_path / "build"
    done = codegen("--bundle", str(imported), "--images", "5", "--out", str(out), "--no-synth")
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads((out / "report.json").read_text())
    assert REPORT_KEYS <= set(r)
    assert r["hw_matches_golden"] == {"images": 5, "mismatches": 0}
    assert r["hls_matches_golden"]["mismatches"] == 0
    assert (r["q"], r["arch"], r["dataset"]) == (3, "qonnx", "digits")
    manifest = json.loads((imported / "manifest.json").read_text())
    assert r["accuracy"]["quant_sw"] == pytest.approx(manifest["meta"]["metrics"]["integer_acc"])
    assert r["accuracy"]["float"] is None  # not known for an imported model
    assert (out / "bundle" / "arrays.npz").read_bytes() == (imported / "arrays.npz").read_bytes()
    assert "n/a" in (out / "report.md").read_text()


def test_mixed_precision_bundle_builds_bit_exact_with_widths_per_layer(tmp_path):
    """8-bit first and last layers, 2-bit middle ones on 8-bit lanes: the RTL equals the
    golden model, the report shows each layer's widths and lane split, and the weights
    at their own widths take fewer BRAM36 than the 8-bit twin's."""
    from intnet.arch import with_widths
    from search.design import evaluate

    net = mixed_network("vgg", [8, 2, 2, 8], input_shape=(12, 12, 1))
    save_bundle(net, tmp_path / "mixed")
    out = tmp_path / "b"
    done = codegen("--bundle", str(tmp_path / "mixed"), "--pe", "4", "--mult", "8",
                   "--images", "3", "--out", str(out), "--no-synth")
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads((out / "report.json").read_text())
    assert r["hw_matches_golden"] == {"images": 3, "mismatches": 0}
    layers = {layer["name"]: layer for layer in r["cycles"]["layers"]}
    assert [layers[n]["w_bits"] for n in ("conv1", "conv2", "conv3", "fc")] == [8, 2, 2, 8]
    assert (layers["conv3"]["in_bits"], layers["conv3"]["lane_split"]) == (2, 4)
    assert "| conv3 | conv | 2/2/2 | 4 |" in (out / "report.md").read_text()
    twin = evaluate(with_widths(net.specs(), 8), 8, 4, 8, r["board"])
    assert r["resources"]["bram36"] < twin["bram36"]


def test_lane_bits_builds_a_uniform_network_on_wider_lanes_that_split(tmp_path):
    """--lane-bits 4 for a 2-bit network: the lanes split in two for every layer that reads
    2-bit activations, the RTL still equals the golden model, and the inference takes
    fewer cycles than on the network's own 2-bit lanes (the cycle model, equal to the
    RTL's count). Too narrow lanes are one line."""
    from sim.cycles import cycle_model

    net = mixed_network("vgg", [2, 2, 2, 2], input_shape=(12, 12, 1))
    save_bundle(net, tmp_path / "u2")
    out = tmp_path / "b"
    done = codegen("--bundle", str(tmp_path / "u2"), "--pe", "2", "--mult", "4",
                   "--lane-bits", "4", "--images", "3", "--out", str(out), "--no-synth")
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads((out / "report.json").read_text())
    assert r["hw_matches_golden"] == {"images": 3, "mismatches": 0}
    assert (r["q"], r["lane_bits"]) == (2, 4)
    assert "lanes of 4 bits" in (out / "report.md").read_text()
    splits = {layer["name"]: layer["lane_split"] for layer in r["cycles"]["layers"]}
    assert splits["conv1"] == 1 and splits["conv3"] == 2  # the 8-bit pixels never split
    own = cycle_model(net.specs(), 2, 2, 4)["cycles"]
    assert r["cycles"]["per_inference"] < own
    narrow = codegen("--bundle", str(tmp_path / "u2"), "--lane-bits", "1",
                     "--out", str(tmp_path / "n"))
    assert narrow.returncode == 2 and "--lane-bits 1" in narrow.stderr
    assert not (tmp_path / "n").exists()


def test_training_options_with_a_bundle_are_refused(tmp_path):
    save_bundle(family_network("vgg", 2, 0.5), tmp_path / "b2")
    done = codegen("--bundle", str(tmp_path / "b2"), "--q", "2", "--epochs", "1")
    assert done.returncode == 2 and "--q, --epochs" in done.stderr
    missing = codegen("--s", "1")
    assert missing.returncode == 2 and "--q is required" in missing.stderr
    wrong = codegen("--bundle", str(tmp_path / "b2"), "--dataset", "digits",
                    "--out", str(tmp_path / "o"))
    assert wrong.returncode == 2 and "[28, 28, 1]" in wrong.stderr


def test_bundle_of_no_known_dataset_runs_on_seeded_pixels_labelled_by_the_golden_model():
    from codegen.bundle_build import test_images

    net = family_network("vgg", 2, 0.5)
    cfg = SimpleNamespace(dataset="synthetic", images=4, data_dir=None)
    images, labels = test_images(net, cfg)
    again, _ = test_images(net, cfg)
    assert images.shape == (4, 28, 28, 1) and images.dtype == np.uint8
    assert np.array_equal(images, again)
    assert np.array_equal(labels, golden.classify(golden.run(net, images)))
