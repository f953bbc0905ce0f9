"""The torch networks have exactly the shapes of intnet.arch.network_specs."""

import pytest
import torch
from torch import nn

from intnet.arch import network_specs, with_widths
from model.nets import AvgPoolBlock, ConvBlock, DenseBlock, QNet


def _trace(net: QNet, x: torch.Tensor) -> list[tuple[int, ...]]:
    """Each block's output shape as (H, W, C) or (N,)."""
    shapes = []
    x = x / 255.0
    for block in net.blocks:
        x = block(x) if isinstance(block, nn.MaxPool2d) else block(x, net.mode,
                                                                    net.input_step())
        shapes.append(tuple(x.shape[1:]) if x.dim() == 2 else
                      (x.shape[2], x.shape[3], x.shape[1]))
    return shapes


@pytest.mark.parametrize("arch", ["vgg", "mobilenet"])
@pytest.mark.parametrize("s", [0.25, 1.0, 1.5, 2.0])
@pytest.mark.parametrize("input_shape", [(28, 28, 1), (8, 8, 1), (32, 32, 3)])
def test_block_shapes_equal_network_specs(arch, s, input_shape):
    specs = network_specs(arch, s, input_shape, 10)
    net = QNet(arch, 4, s, input_shape, 10)
    assert net.specs == with_widths(specs, 4)
    h, w, c = input_shape
    x = torch.randint(0, 256, (2, c, h, w)).float()
    for mode in ("float", "quant"):
        net.set_mode(mode).train()
        got = _trace(net, x)
        assert got == [tuple(spec.out_shape) for spec in specs]
    for spec, block in zip(specs, net.blocks, strict=True):
        if spec.kind in ("conv", "dwconv"):
            assert isinstance(block, ConvBlock)
            cin, cout = spec.in_shape[2], spec.out_shape[2]
            per_group = 1 if spec.kind == "dwconv" else cin
            assert block.weight.shape == (cout, per_group, spec.k, spec.k)
        elif spec.kind == "avgpool":
            assert isinstance(block, AvgPoolBlock)
        elif spec.kind == "dense":
            assert isinstance(block, DenseBlock)
            assert block.weight.shape == (spec.out_shape[0], spec.in_shape[0])


@pytest.mark.parametrize("q", [1, 8])
def test_every_mode_gives_logits(q):
    net = QNet("mobilenet", q, 0.5, (8, 8, 1), 10)
    x = torch.randint(0, 256, (3, 1, 8, 8)).float()
    net.calibrate(x)
    net.eval()
    for mode in ("float", "quant", "folded"):
        out = net.set_mode(mode)(x)
        assert out.shape == (3, 10) and torch.isfinite(out).all()


def test_folded_mode_refuses_training_and_bad_modes():
    net = QNet("vgg", 2, 0.5, (8, 8, 1), 10).set_mode("folded").train()
    with pytest.raises(RuntimeError, match="evaluation"):
        net(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="mode must be one of"):
        net.set_mode("int")


def test_dense_flattens_height_width_channel():
    from model.nets import flatten_hwc

    x = torch.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)  # N, C, H, W
    flat = flatten_hwc(x)
    # element (h, w, c) sits at (h·W + w)·C + c
    assert flat[1, (1 * 2 + 0) * 3 + 2] == x[1, 2, 1, 0]


def test_per_layer_widths_reach_every_quantizer():
    from model.nets import ConvBlock

    net = QNet("vgg", 4, 0.5, (8, 8, 1), 10, bits=(8, 2, 3, 5))
    assert net.q == 8 and net.bits == (8, 2, 3, 5)
    weighted = net.weighted_blocks()
    assert [b.wq.bits for b in weighted] == [8, 2, 3, 5]
    assert [b.aq.bits for b in weighted if isinstance(b, ConvBlock)] == [8, 2, 3]
    assert [(s.w_bits, s.in_bits, s.out_bits) for s in net.specs if s.w_bits] == [
        (8, 8, 8), (2, 8, 2), (3, 2, 3), (5, 3, 32)]
    with pytest.raises(ValueError, match="one bit width per weighted layer"):
        QNet("vgg", 4, 0.5, (8, 8, 1), 10, bits=(8, 2, 3))
