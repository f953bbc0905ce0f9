"""A user's own data set as `model.data.load_npz` reads it: five of the digits' classes,
images without a channel axis, so that both the shape rule and a class count other than
ten reach the network, the bundle and the hardware."""

from pathlib import Path

import numpy as np

from model.data import load_dataset

CLASSES = 5


def write_own_npz(path: Path, train: int = 500, test: int = 100) -> Path:
    """Digits 0…4 as ``train_x`` (N×8×8 uint8), ``train_y``, ``test_x``, ``test_y``."""
    d = load_dataset("digits")
    keep = d.train_y < CLASSES
    tkeep = d.test_y < CLASSES
    np.savez(path, train_x=d.train_x[keep][:train, :, :, 0], train_y=d.train_y[keep][:train],
             test_x=d.test_x[tkeep][:test, :, :, 0], test_y=d.test_y[tkeep][:test])
    return path
