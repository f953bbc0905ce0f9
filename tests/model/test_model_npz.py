"""A user's own data set (``--dataset FILE.npz``): read and checked in one line, keyed by
its contents in the run cache, trained and exported with its own shape and classes."""

import shutil

import numpy as np
import pytest

from common.cli import UserError, run_cli
from model.data import dataset_id, dataset_label, dataset_shape, has_data, load_npz
from tests.model.own_data import CLASSES, write_own_npz


@pytest.fixture(scope="module", autouse=True)
def run_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QSNAS_CACHE", str(tmp_path_factory.mktemp("runs")))
        yield


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    return write_own_npz(tmp_path_factory.mktemp("data") / "five.npz")


def test_a_file_is_read_with_its_shape_and_classes(own):
    d = load_npz(own)
    assert d.train_x.shape == (500, 8, 8, 1) and d.test_x.shape == (100, 8, 8, 1)
    assert d.train_x.dtype == np.uint8 and d.train_y.dtype == np.int64
    assert d.num_classes == CLASSES and set(d.test_y) == set(range(CLASSES))
    assert dataset_shape(str(own)) == ((8, 8, 1), CLASSES)
    assert has_data(str(own)) and not has_data(str(own.with_name("none.npz")))
    assert dataset_label(str(own)) == "five" and dataset_label("digits") == "digits"


def _bad(path, **arrays):
    base = {"train_x": np.zeros((4, 8, 8), np.uint8), "train_y": np.array([0, 1, 0, 1]),
            "test_x": np.zeros((2, 8, 8), np.uint8), "test_y": np.array([0, 1])}
    np.savez(path, **{k: v for k, v in (base | arrays).items() if v is not None})
    return path


@pytest.mark.parametrize("arrays,message", [
    ({"test_y": None}, "needs the arrays train_x, train_y, test_x, test_y; it lacks test_y"),
    ({"train_x": np.zeros((4, 8), np.uint8)}, "train_x must be images N×H×W or N×H×W×C"),
    ({"train_x": np.zeros((4, 8, 8), np.float32)}, "train_x must hold 8-bit pixels"),
    ({"test_x": np.full((2, 8, 8), 300)}, "test_x must hold 8-bit pixels"),
    ({"test_x": np.zeros((2, 9, 8), np.uint8)}, "train_x images are [8, 8, 1] but test_x"),
    ({"train_y": np.array([0, 1, 0])}, "train_y must be 4 non-negative integer labels"),
    ({"test_y": np.array([0.0, 1.0])}, "test_y must be 2 non-negative integer labels"),
    ({"train_y": np.zeros(4, int), "test_y": np.zeros(2, int)}, "needs at least 2"),
])
def test_a_malformed_file_is_one_line(tmp_path, arrays, message):
    with pytest.raises(UserError) as e:
        load_npz(_bad(tmp_path / "bad.npz", **arrays))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_missing_or_unreadable_file_is_one_line(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_npz(tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a readable .npz file"):
        load_npz(tmp_path / "junk.npz")


def test_the_cache_key_follows_the_contents_not_the_path(own, tmp_path):
    from model.train import TrainConfig

    moved = shutil.copy(own, tmp_path / "moved.npz")
    key = TrainConfig(dataset=str(own), s=0.5).key()
    assert TrainConfig(dataset=str(moved), s=0.5).key() == key
    assert dataset_id(str(moved)) == dataset_id(str(own)) != "digits"
    write_own_npz(tmp_path / "moved.npz", train=400)  # edited in place: trains anew
    assert TrainConfig(dataset=str(moved), s=0.5).key() != key
    assert TrainConfig(dataset=str(moved), s=0.5).key("float") != TrainConfig(
        dataset=str(own), s=0.5).key("float")


def test_model_train_on_a_file_exports_its_classes(own, tmp_path, capsys):
    from intnet import golden
    from intnet.bundle import load_bundle
    from model.__main__ import main

    argv = ["train", "--q", "2", "--s", "0.5", "--dataset", str(own), "--epochs", "1",
            "--float-epochs", "2", "--out", str(tmp_path / "b")]
    assert run_cli(main, argv, prog="model") == 0, capsys.readouterr().err
    net = load_bundle(tmp_path / "b")
    data = load_npz(own)
    assert (net.num_classes, tuple(net.input_shape), net.dataset) == (CLASSES, (8, 8, 1),
                                                                       str(own))
    acc = golden.accuracy(net, data.test_x, data.test_y)
    assert acc == net.meta["metrics"]["integer_acc"] and acc > 1 / CLASSES


def test_a_dataset_that_is_no_name_nor_npz_is_refused(capsys):
    from model.__main__ import main

    assert run_cli(main, ["train", "--q", "2", "--s", "1", "--dataset", "data.csv", "--out",
                          "o"], prog="model") == 2
    assert "or a .npz file of your own, not 'data.csv'" in capsys.readouterr().err


def test_each_load_gives_the_caller_its_own_arrays(own):
    # the file is parsed once per contents; what a caller does to its arrays stays its own
    mine = load_npz(own)
    mine.train_x[:] = 0
    mine.test_y[:] = 0
    again = load_npz(own)
    assert again.train_x.any() and set(again.test_y) == set(range(CLASSES))

