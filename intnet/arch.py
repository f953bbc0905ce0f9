"""The scaled network family as pure shapes (no torch).

Both the trainable torch networks (`model.nets`) and the shape-only tools (cycle model
sweeps, resource checks) are built from the same `LayerSpec` list, so a sweep over
``(q, s)`` sees exactly the networks that training would produce.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, replace

from intnet.contract import LOGIT_BITS, WEIGHTED_KINDS, WIDTH_MAX, WIDTH_MIN, conv_out, macs

ARCHS = ("vgg", "mobilenet")
# The greatest width scale any command takes: 16× the base channels is far past what the
# boards hold, so anything above it is a typo, not a network.
S_MAX = 16

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
    # Bit widths (`intnet.contract.layer_widths`); None where a uniform q applies.
    w_bits: int | None = None  # weights (conv, dwconv, dense)
    in_bits: int | None = None  # activations read
    out_bits: int | None = None  # activations written (32: the logits)

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


def stage_count(arch: str) -> int:
    """How many stages of ``arch`` a per-stage width scale names: vgg one per conv stage,
    mobilenet the stem and one per block (its depthwise conv keeps the channels it reads,
    the pointwise conv sets them)."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, not {arch!r}")
    return len(VGG_STAGES) if arch == "vgg" else 1 + len(MOBILENET_BLOCKS)


def stage_writers(arch: str) -> tuple[int, ...]:
    """Per stage (`stage_count`), the weighted layer (its index among the conv, dwconv and
    dense layers) whose output channels that stage's scale sets."""
    stage_count(arch)  # checks arch
    if arch == "vgg":
        return tuple(range(len(VGG_STAGES)))
    return (0, *(2 * i + 2 for i in range(len(MOBILENET_BLOCKS))))


def _scale_number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= S_MAX:
        raise ValueError(f"a width scale is a number in (0, {S_MAX}], not {value!r}")
    return float(value)


def normal_scale(s) -> float | tuple[float, ...]:
    """``s`` in one spelling (cache keys, JSON, labels): a number as a float, a per-stage
    sequence as a tuple of floats, or as one float where every stage has the same scale
    (so it is the uniform network it names)."""
    if isinstance(s, tuple | list):
        scales = tuple(_scale_number(v) for v in s)
        if not scales:
            raise ValueError("a per-stage width scale names at least one stage")
        return scales[0] if len(set(scales)) == 1 else scales
    return _scale_number(s)


def stage_scales(arch: str, s) -> tuple[float, ...]:
    """One width scale per stage of ``arch`` (`stage_count`): a number ``s`` scales every
    stage alike (the QS-NAS family), a sequence gives each stage its own (BOMP-NAS style:
    the channels of each stage searched apart)."""
    n = stage_count(arch)
    if isinstance(s, tuple | list) and len(s) != n:
        raise ValueError(f"{arch} takes one width scale, or one per stage ({n}), not {len(s)}")
    s = normal_scale(s)
    return (s,) * n if isinstance(s, float) else s


def format_scale(s, sep: str = ",") -> str:
    """``0.5`` or ``0.625,0.5,0.75`` (per stage): ``s`` as ``--s`` takes it
    (`common.cli.scale_arg`)."""
    s = normal_scale(s)
    return f"{s:g}" if isinstance(s, float) else sep.join(f"{v:g}" for v in s)


def scale_json(s) -> float | list[float]:
    """``s`` for JSON: a number, or a list with one scale per stage."""
    s = normal_scale(s)
    return s if isinstance(s, float) else list(s)


def scale_key(s) -> tuple[float, ...]:
    """A sort key that orders numbers and per-stage scales together."""
    s = normal_scale(s)
    return (s,) if isinstance(s, float) else s


def network_specs(
    arch: str, s, input_shape: tuple[int, int, int], num_classes: int
) -> list[LayerSpec]:
    """The layer list of ``arch`` at width scale ``s`` (a number, or one per stage:
    `stage_scales`) for ``input_shape`` = (H, W, C)."""
    scales = stage_scales(arch, s)
    layers: list[LayerSpec] = []
    shape = tuple(input_shape)
    if arch == "vgg":
        for i, base in enumerate(VGG_STAGES):
            conv = _conv(f"conv{i + 1}", shape, scaled(base, scales[i]))
            pool = _maxpool(f"pool{i + 1}", conv.out_shape)
            if pool.out_shape[0] == 0 or pool.out_shape[1] == 0:
                if len(set(scales)) > 1:  # its later scales would set nothing
                    raise ValueError(f"a {input_shape[0]}×{input_shape[1]} input leaves vgg "
                                     f"{i} of its {len(scales)} stages: give it one s")
                break  # input too small for another stage
            layers += [conv, pool]
            shape = pool.out_shape
    else:
        stem = _conv("conv1", shape, scaled(MOBILENET_STEM, scales[0]))
        layers.append(stem)
        shape = stem.out_shape
        for i, (stride, cout) in enumerate(MOBILENET_BLOCKS):
            dw = _dwconv(f"dw{i + 1}", shape, stride)
            pw = _conv(f"pw{i + 1}", dw.out_shape, scaled(cout, scales[i + 1]), k=1)
            layers += [dw, pw]
            shape = pw.out_shape
        layers.append(LayerSpec("gap", "avgpool", shape, (1, 1, shape[2])))
        shape = (1, 1, shape[2])
    layers.append(LayerSpec("fc", "dense", (_flat(shape),), (num_classes,)))
    return layers


def width_pair(entry) -> tuple[int, int]:
    """One entry of a per-layer widths list as ``(weight bits, activation bits)``: an
    integer ``b`` is ``(b, b)``, a pair ``(w, a)`` (weights narrower or wider than the
    activations the layer writes, as HAQ searches them) is itself."""
    values = list(entry) if isinstance(entry, tuple | list) else [entry]
    try:  # numpy integers too; not floats or bools
        if len(values) in (1, 2) and not any(isinstance(v, bool) for v in values):
            values = [operator.index(v) for v in values]
            return values[0], values[-1]
    except TypeError:
        pass
    raise ValueError(f"a layer's widths are an integer or a (weights, activations) pair, "
                     f"not {entry!r}")


def normal_widths(bits) -> tuple:
    """``bits`` with every entry an int where its two widths agree, else a ``(w, a)``
    tuple: one spelling per widths list (cache keys, JSON, labels)."""
    out = []
    for entry in bits:
        w, a = width_pair(entry)
        out.append(w if w == a else (w, a))
    return tuple(out)


def widths_json(bits) -> list:
    """``bits`` for JSON: an int per layer, or a ``[w, a]`` list where they differ."""
    return [e if isinstance(e, int) else list(e) for e in normal_widths(bits)]


def widths_of(layers) -> tuple:
    """The widths list (`normal_widths`) of a layer list that carries widths (specs or a
    bundle's layers): each weighted layer's weights and the activations it writes (the
    logits layer: its weights)."""
    weighted = [layer for layer in layers if layer.w_bits]
    return normal_widths([(layer.w_bits, layer.out_bits) for layer in weighted[:-1]]
                         + [layer.w_bits for layer in weighted[-1:]])


def widest_width(bits) -> int:
    """The widest weight or activation width of a per-layer widths list."""
    return max(max(width_pair(entry)) for entry in bits)


def format_widths(bits, sep: str = ",") -> str:
    """``8,2:4,1:4,2``: a widths list as `parse_widths` reads it (``w:a`` where a layer's
    weights and activations differ; ``sep`` between layers)."""
    return sep.join(str(e) if isinstance(e, int) else f"{e[0]}:{e[1]}"
                    for e in normal_widths(bits))


def parse_widths(text: str) -> tuple:
    """``"8,2:4,1:4,2"`` → ``(8, (2, 4), (1, 4), 2)`` (`normal_widths`); ValueError naming
    the bad entry."""
    out = []
    for item in text.split(","):
        parts = item.strip().split(":")
        try:
            values = [int(v) for v in parts]
        except ValueError:
            values = []
        if len(values) not in (1, 2):
            raise ValueError(f"a width is B or W:A (weights:activations), not {item.strip()!r}")
        out.append(values[0] if len(values) == 1 else tuple(values))
    return normal_widths(out)


def with_widths(specs, bits) -> list[LayerSpec]:
    """``specs`` with every layer's bit widths filled in.

    ``bits`` is a uniform width q, or one entry per weighted layer (conv, dwconv, dense)
    in order: an integer ``b`` (layer i's weights and the activations it writes are ``b``
    wide) or a pair ``(w, a)`` (weights ``w``, activations written ``a``: `width_pair`).
    The last layer writes int32 logits (its ``a`` must equal ``w``), so the next layer
    reads layer i's ``a``. A global average pool keeps the width it reads; the first layer
    reads the 8-bit input.
    """
    from intnet.contract import layer_widths

    specs = list(specs)
    weighted = [i for i, s in enumerate(specs) if s.kind in WEIGHTED_KINDS]
    if isinstance(bits, int) and not isinstance(bits, bool):
        bits = [bits] * len(weighted)
    pairs = [width_pair(b) for b in bits]
    if len(pairs) != len(weighted):
        raise ValueError(f"one bit width per weighted layer: {len(weighted)} layers "
                         f"({', '.join(specs[i].name for i in weighted)}), got {len(pairs)}")
    bad = [b for pair in pairs for b in pair if not WIDTH_MIN <= b <= WIDTH_MAX]
    if bad:
        raise ValueError(f"bit widths must be in {WIDTH_MIN}..{WIDTH_MAX}, not {bad[0]}")
    if weighted and weighted[-1] == len(specs) - 1 and len(set(pairs[-1])) > 1:
        raise ValueError(f"the last layer ({specs[-1].name}) writes int32 logits: give it "
                         f"one width, not {pairs[-1][0]}:{pairs[-1][1]}")
    own = dict(zip(weighted, pairs, strict=True))
    staged = []
    for i, spec in enumerate(specs):
        if i in own:
            w, a = own[i]
            out = LOGIT_BITS if i == len(specs) - 1 else a
            staged.append(replace(spec, w_bits=w, out_bits=out))
        else:
            staged.append(spec)
    # avgpools keep their input width; every layer reads what the previous one wrote
    out = []
    previous = None
    for spec in staged:
        if spec.kind == "avgpool":
            spec = replace(spec, out_bits=previous)
        out.append(spec)
        previous = spec.out_bits if spec.out_bits is not None else previous
    widths = layer_widths(out)
    return [replace(spec, w_bits=w.w_bits or None, in_bits=w.in_bits,
                    out_bits=w.out_bits) for spec, w in zip(out, widths, strict=True)]
