"""The scaled network family as pure shapes (no torch).

Both the trainable torch networks (`model.nets`) and the shape-only tools (cycle model
sweeps, resource checks) are built from the same `LayerSpec` list, so a sweep over
``(q, s)`` sees exactly the networks that training would produce.
"""

from __future__ import annotations

from dataclasses import dataclass

from intnet.contract import conv_out, macs

ARCHS = ("vgg", "mobilenet")

# Base hidden channel counts at s = 1, chosen for 2-core CPU training on 28×28 digits.
# vgg: one 3×3 conv per stage, each stage closed by a 2×2 max pool (QS-NAS VGG-like).
VGG_STAGES = (16, 32, 64)
# mobilenet: 3×3 stem, then (depthwise stride, pointwise channels) blocks, MobileNet-v1.
MOBILENET_STEM = 16
MOBILENET_BLOCKS = ((2, 32), (1, 32), (2, 64), (1, 64))


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a network, shapes as ``(H, W, C)`` or ``(N,)`` for dense."""

    name: str
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    k: int = 0  # kernel size (conv, dwconv)
    stride: int = 1  # conv, dwconv

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one inference of this layer (`intnet.contract.macs`)."""
        return macs(self)


def scaled(channels: int, s: float) -> int:
    """Hidden channel count at width scale ``s``: rounded, at least 1."""
    return max(1, int(round(channels * s)))


def _conv(name, shape, cout, k=3, stride=1):
    h, w, _ = shape
    out = (conv_out(h, k, stride), conv_out(w, k, stride), cout)
    return LayerSpec(name, "conv", tuple(shape), out, k, stride)


def _dwconv(name, shape, stride):
    h, w, c = shape
    out = (conv_out(h, 3, stride), conv_out(w, 3, stride), c)
    return LayerSpec(name, "dwconv", tuple(shape), out, 3, stride)


def _maxpool(name, shape):
    h, w, c = shape
    return LayerSpec(name, "maxpool", tuple(shape), (h // 2, w // 2, c))


def _flat(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def network_specs(
    arch: str, s: float, input_shape: tuple[int, int, int], num_classes: int
) -> list[LayerSpec]:
    """The layer list of ``arch`` at width scale ``s`` for ``input_shape`` = (H, W, C)."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, not {arch!r}")
    if not (isinstance(s, int | float) and 0 < s <= 64):
        raise ValueError(f"s must be a number in (0, 64], not {s!r}")
    layers: list[LayerSpec] = []
    shape = tuple(input_shape)
    if arch == "vgg":
        for i, base in enumerate(VGG_STAGES):
            conv = _conv(f"conv{i + 1}", shape, scaled(base, s))
            pool = _maxpool(f"pool{i + 1}", conv.out_shape)
            if pool.out_shape[0] == 0 or pool.out_shape[1] == 0:
                break  # input too small for another stage
            layers += [conv, pool]
            shape = pool.out_shape
    else:
        stem = _conv("conv1", shape, scaled(MOBILENET_STEM, s))
        layers.append(stem)
        shape = stem.out_shape
        for i, (stride, cout) in enumerate(MOBILENET_BLOCKS):
            dw = _dwconv(f"dw{i + 1}", shape, stride)
            pw = _conv(f"pw{i + 1}", dw.out_shape, scaled(cout, s), k=1)
            layers += [dw, pw]
            shape = pw.out_shape
        layers.append(LayerSpec("gap", "avgpool", shape, (1, 1, shape[2])))
        shape = (1, 1, shape[2])
    layers.append(LayerSpec("fc", "dense", (_flat(shape),), (num_classes,)))
    return layers
