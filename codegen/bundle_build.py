"""``codegen build --bundle DIR``: the build of a given bundle (trained, imported or
hand-made), with no training.

The network's ``q``, ``s`` and ``arch`` come from its manifest, the array size from its
shapes (`search.design`, as for a trained build). Test images come from the bundle's data
set when it can be read here (`model.data.has_data`: a built-in one, or a user's ``.npz``
file at the path the manifest records; ``--dataset`` overrides it); otherwise the
RTL and the HLS C++ are checked against the golden model on seeded random pixels and no
accuracy is claimed. Mixed-precision bundles run with every layer at its own widths.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from common.cli import UserError
from intnet import golden
from intnet.bundle import ARRAYS, MANIFEST, IntegerNetwork, load_bundle

RANDOM_IMAGES_SEED = 0  # pixels for bundles of no known data set


def read_bundle(path) -> IntegerNetwork:
    """The bundle at ``path`` (one-line errors). Every layer runs at its own widths on
    lanes of the bundle's ``q`` (its widest width; `hw.plan.network_q`)."""
    return load_bundle(path)


def check_dataset(net: IntegerNetwork, dataset: str) -> None:
    from model.data import dataset_shape, has_data

    if has_data(dataset) and tuple(net.input_shape) != dataset_shape(dataset)[0]:
        raise UserError(f"the bundle's input is {list(net.input_shape)} (H, W, C), but "
                        f"{dataset} images are {list(dataset_shape(dataset)[0])}")


def load_for_build(cfg, dest: Path) -> tuple[IntegerNetwork, dict]:
    """Copy the bundle to ``dest`` and give ``(network, metrics)``: the accuracies the bundle
    records (float, fake-quant: known only from its training) and the golden model's on
    the data set's test split when there is one."""
    from model.data import has_data, load_dataset

    net = read_bundle(cfg.bundle)
    dest.mkdir(parents=True)
    for name in (MANIFEST, ARRAYS):
        shutil.copyfile(Path(cfg.bundle) / name, dest / name)
    recorded = net.meta.get("metrics", {}) if isinstance(net.meta.get("metrics"), dict) else {}
    metrics = {k: recorded.get(k) for k in ("float_acc", "fake_quant_acc")}
    if has_data(cfg.dataset):
        data = load_dataset(cfg.dataset, cfg.data_dir)
        metrics["integer_acc"] = golden.accuracy(net, data.test_x, data.test_y)
        metrics["test_images"] = len(data.test_x)
    else:
        metrics["labels"] = "golden"
    return net, metrics


def test_images(net: IntegerNetwork, cfg) -> tuple[np.ndarray, np.ndarray]:
    """``cfg.images`` test images and labels, or seeded random pixels labelled with the
    golden model's classes when the bundle's data set is not known."""
    from model.data import has_data, load_dataset

    if has_data(cfg.dataset):
        data = load_dataset(cfg.dataset, cfg.data_dir)
        n = min(cfg.images, len(data.test_x))
        return data.test_x[:n], data.test_y[:n]
    rng = np.random.default_rng(RANDOM_IMAGES_SEED)
    images = rng.integers(0, 256, size=(cfg.images, *net.input_shape)).astype(np.uint8)
    return images, golden.classify(golden.run(net, images))
