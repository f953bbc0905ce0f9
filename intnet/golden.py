"""Golden integer inference: the arithmetic contract of ARCHITECTURE.md in numpy (int64).

This module is the contract in code. The hardware must agree with it on every logit,
and the fake-quant torch model on the predicted class.
"""

from __future__ import annotations

import numpy as np

from intnet.bundle import IntegerNetwork, Layer
from intnet.contract import INPUT_BITS


def requantize(acc: np.ndarray, m: np.ndarray, n: np.ndarray, out_bits: int) -> np.ndarray:
    """``clamp((acc·m + 2^(n−1)) >> n, 0, 2^out_bits − 1)``, per channel (last axis).

    ``>>`` is arithmetic (floor); the clamp at 0 is the ReLU.
    """
    acc = np.asarray(acc, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    y = (acc * m + (np.int64(1) << (n - 1))) >> n
    return np.clip(y, 0, (1 << out_bits) - 1)


def pad_same(x: np.ndarray, k: int) -> np.ndarray:
    """Zero 'same' padding of k//2 on H and W of ``x`` [N, H, W, C]."""
    p = k // 2
    return np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))


def windows(x: np.ndarray, k: int, stride: int, out_hw: tuple[int, int]) -> np.ndarray:
    """Sliding k×k windows of padded ``x`` [N, H, W, C] → [N, Ho, Wo, K, K, C]."""
    ho, wo = out_hw
    xp = pad_same(x, k)
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))
    # sliding_window_view puts the window axes last: [N, H', W', C, K, K]
    win = win[:, : (ho - 1) * stride + 1 : stride, : (wo - 1) * stride + 1 : stride]
    return win.transpose(0, 1, 2, 4, 5, 3)


def accumulate(layer: Layer, x: np.ndarray) -> np.ndarray:
    """Exact accumulator values ``b + Σ w·a`` of a conv, dwconv or dense layer (int64)."""
    w = layer.w.astype(np.int64)
    b = layer.b.astype(np.int64)
    if layer.kind == "conv":
        win = windows(x, layer.k, layer.stride, layer.out_shape[:2])  # [N,Ho,Wo,K,K,Cin]
        return np.einsum("nhwijc,oijc->nhwo", win, w, optimize=True) + b
    if layer.kind == "dwconv":
        win = windows(x, layer.k, layer.stride, layer.out_shape[:2])  # [N,Ho,Wo,K,K,C]
        return np.einsum("nhwijc,cij->nhwc", win, w, optimize=True) + b
    if layer.kind == "dense":
        flat = x.reshape(x.shape[0], -1)  # H, then W, then C (channel innermost)
        return flat @ w.T + b
    raise ValueError(f"{layer.kind} layers do not accumulate")


def maxpool(x: np.ndarray) -> np.ndarray:
    """2×2 stride-2 max pool; an odd last row or column is dropped."""
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def run_layer(layer: Layer, x: np.ndarray) -> np.ndarray:
    """One layer on a batch ``x`` (int64, [N, *in_shape] or [N, H, W, C] before dense)."""
    if layer.kind == "maxpool":
        return maxpool(x)
    if layer.kind == "avgpool":
        acc = x.sum(axis=(1, 2), keepdims=True)
        return requantize(acc, layer.m, layer.n, layer.out_bits)
    acc = accumulate(layer, x)
    if layer.requantizes:
        return requantize(acc, layer.m, layer.n, layer.out_bits)
    return acc


def check_images(net: IntegerNetwork, images: np.ndarray) -> np.ndarray:
    """Images as int64 [N, H, W, C]; accepts a single image [H, W, C]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if tuple(images.shape[1:]) != tuple(net.input_shape):
        raise ValueError(
            f"images must have shape [N, {', '.join(map(str, net.input_shape))}], "
            f"got {list(images.shape)}"
        )
    if images.size and (images.min() < 0 or images.max() >= 1 << INPUT_BITS):
        raise ValueError("image pixels must be in [0, 255]")
    return images.astype(np.int64)


def run_trace(net: IntegerNetwork, images: np.ndarray) -> list[np.ndarray]:
    """Every layer's output for ``images`` [N, H, W, C] (uint8): a list, one per layer."""
    x = check_images(net, images)
    outs = []
    for layer in net.layers:
        x = run_layer(layer, x)
        outs.append(x)
    return outs


def run(net: IntegerNetwork, images: np.ndarray) -> np.ndarray:
    """Logits int64 [N, classes] of ``images`` [N, H, W, C] (uint8 pixels)."""
    return run_trace(net, images)[-1]


def classify(logits: np.ndarray) -> np.ndarray:
    """The predicted class: argmax, lowest index on ties (numpy's argmax rule)."""
    return np.argmax(logits, axis=-1)


def accuracy(net: IntegerNetwork, images: np.ndarray, labels: np.ndarray,
             batch: int = 256) -> float:
    """Top-1 accuracy of the integer network."""
    correct = 0
    for i in range(0, len(images), batch):
        correct += int((classify(run(net, images[i : i + batch])) == labels[i : i + batch]).sum())
    return correct / max(1, len(images))
