"""Small Brevitas CNNs trained in seconds on ``digits``, exported with ``export_qonnx``.

They stand for "a Brevitas model trained outside the project": defined with brevitas.nn,
trained with plain torch, evaluated by Brevitas itself (its own fake-quant forward pass).
"""

from __future__ import annotations

import warnings

import numpy as np

DIGITS_SHAPE = (8, 8, 1)
WIDTH = 32  # channels of the first layer


def _quantizers():
    warnings.filterwarnings("ignore", message="fast_hadamard_transform package not found")
    import brevitas.nn as qnn
    from brevitas.core.function_wrapper import TensorClampSte
    from brevitas.core.scaling import ScalingImplType
    from brevitas.core.stats import StatsOp
    from brevitas.quant import (
        Int8ActPerTensorFloat,
        Int8WeightPerChannelFloat,
        Int8WeightPerTensorFloat,
        SignedBinaryWeightPerTensorConst,
        Uint8ActPerTensorFloat,
    )

    # binary weights with one learned-statistics scale per output channel (BipolarQuant)
    # (a clamp that is not in place, so that autograd can train it)
    binary_per_channel = SignedBinaryWeightPerTensorConst.let(
        scaling_impl_type=ScalingImplType.STATS, scaling_stats_op=StatsOp.AVE,
        scaling_per_output_channel=True, tensor_clamp_impl=TensorClampSte)
    return (qnn, Int8WeightPerChannelFloat, Int8WeightPerTensorFloat, binary_per_channel,
            Uint8ActPerTensorFloat, Int8ActPerTensorFloat)


def make_net(kind: str, bits: int, batch_norm: bool = True):
    """``kind`` "vgg" (conv-bn-relu-pool ×2, dense), "mobile" (conv, depthwise, pointwise,
    global average pool, dense) or "binary" (BipolarQuant weights, 1-bit activations).

    Without ``batch_norm`` every layer has a bias quantized on its accumulator grid
    (``Int32Bias``) instead of a batch norm: the integer-friendly way to train.
    """
    import torch
    from brevitas.quant import Int32Bias
    from torch import nn

    qnn, WPerChannel, WPerTensor, WBinary, UAct, SAct = _quantizers()
    from brevitas.core.scaling import ScalingImplType

    PixelQuant = UAct.let(scaling_impl_type=ScalingImplType.CONST, scaling_const=1.0,
                          max_val=1.0)
    torch.manual_seed(0)
    hidden_w = WBinary if kind == "binary" else WPerChannel
    wb = {} if kind == "binary" else {"weight_bit_width": bits}

    def conv(cin, cout, k=3, stride=1, groups=1, bias=False):
        if not batch_norm:
            return qnn.QuantConv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups,
                                   bias=True, bias_quant=Int32Bias, weight_quant=hidden_w,
                                   **wb)
        return qnn.QuantConv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups,
                               bias=bias, weight_quant=hidden_w, **wb)

    def bn(channels):
        return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()

    def act(quant_tensor=not batch_norm):
        return qnn.QuantReLU(act_quant=UAct, bit_width=bits, return_quant_tensor=quant_tensor)

    # A bias on the accumulator grid needs the input's step: the pixels' own, 1/255.
    stem = [] if batch_norm else [qnn.QuantIdentity(act_quant=PixelQuant,
                                                    return_quant_tensor=True)]
    if kind in ("vgg", "binary"):
        body = stem + [conv(1, WIDTH), bn(WIDTH), act(), nn.MaxPool2d(2),
                conv(WIDTH, 2 * WIDTH, bias=True), bn(2 * WIDTH), act(),
                nn.MaxPool2d(2), nn.Flatten()]
        nin = 2 * WIDTH * 2 * 2
    elif kind == "mobile":
        body = stem + [conv(1, 16), bn(16), act(),
                conv(16, 16, stride=2, groups=16), bn(16), act(),
                conv(16, 32, k=1), bn(32), act(quant_tensor=False),
                nn.AdaptiveAvgPool2d(1),
                qnn.QuantIdentity(act_quant=SAct, bit_width=bits + 1,
                                  return_quant_tensor=not batch_norm),
                nn.Flatten()]
        nin = 32
    else:
        raise ValueError(kind)
    head = qnn.QuantLinear(nin, 10, bias=True, weight_quant=WPerTensor,
                           weight_bit_width=8 if kind == "binary" else bits,
                           **({} if batch_norm else {"bias_quant": Int32Bias}))
    return nn.Sequential(*body, head)


def digits():
    from model.data import load_digits

    return load_digits()


def to_input(images: np.ndarray):
    """uint8 [N, H, W, C] pixels → the model's input x/255, float [N, C, H, W]."""
    import torch

    return torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)


def train(net, data, epochs: int = 15, lr: float = 0.003):
    """Adam on cross-entropy with a cosine learning rate, batches of 64, fixed seed."""
    import torch

    torch.manual_seed(0)
    x, y = to_input(data.train_x), torch.from_numpy(data.train_y)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * -(-len(x) // 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(0)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 64):
            idx = order[i : i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
            sched.step()
    return net.eval()


def predict(net, images: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return net(to_input(images)).argmax(dim=1).numpy()


def export(net, path) -> None:
    import torch
    from brevitas.export import export_qonnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(net, torch.zeros(1, 1, *DIGITS_SHAPE[:2]), export_path=str(path))
