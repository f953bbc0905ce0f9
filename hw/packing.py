"""Network → hardware plan, descriptor tables and BRAM init words (pure functions).

The accelerator runs a network as a list of *passes*. A pass is one compute layer
(``conv``, ``dwconv``, ``dense`` or global ``avgpool``), with a following ``maxpool``
fused into its write-back. Each pass is split into *groups* of ``pe_count`` output
channels; every group walks its output pixels, and every pixel takes ``steps`` MAC
cycles (kernel taps × input-channel words) padded to a fixed *slot* length.

`plan_network` needs shapes only (the cycle model sweeps networks without weights);
`pack_network` adds the weight, bias and requantize words; `write_mem_files` writes
them as comment-free ``$readmemh`` files. codegen reuses all three.

The network is duck-typed: ``.layers`` with ``name, kind, in_shape, out_shape, k,
stride`` (and ``w, b, m, n, requantizes`` for packing). This module does not depend
on the model package on purpose.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from intnet.contract import BIAS_BITS, INPUT_BITS, M_BITS, N_MAX

N_BITS = N_MAX.bit_length()  # the requantize shift field holds 1..N_MAX
PARAM_BITS = BIAS_BITS + M_BITS + N_BITS
# Cycles from a pass's last slot to the next pass's first read: the MAC/requantize
# pipeline (S0 issue → S1 read → S2 accumulate → R1 multiply → R2 shift → R3 write
# latch) is 5 cycles deep, then the write-back needs one cycle per output word.
DRAIN_BASE = 5

MODE_CONV = 0  # every PE sees every lane of the input word (conv, dense)
MODE_DW = 1  # PE j uses only the lane that holds its own channel (dwconv, avgpool)
# Depthwise, pixel-parallel (needs P ≥ M, no fused pool): PE j computes output pixel
# chunk·P + j (raster order over the whole map), its M lanes the M channels of one word,
# each lane accumulating on its own; every PE reads its own activation word (P read
# ports on the buffers). A global avgpool runs the same way with a 1×1 kernel of weight
# +1, summing every chunk of the map ("gsum") and then across the P PEs.
MODE_DWP = 2


@dataclass(frozen=True)
class Group:
    """``pe_count`` output channels of a pass: what the group table stores."""

    cbase: int  # first output channel
    cg_lo: int  # first input word (within a pixel) read
    cg_cnt: int  # input words read per tap
    wo_lo: int  # first output word (within a pixel) written
    wo_cnt: int  # output words written per pixel (0 for the logits)
    steps: int  # MAC cycles per output pixel: taps × cg_cnt
    slot: int  # cycles per output pixel: max(steps, words written by any group)
    wbase: int  # first weight word of this group in every PE's weight memory


@dataclass(frozen=True)
class Pass:
    """One hardware pass: a compute layer with an optional fused 2×2 max pool."""

    name: str
    kind: str  # conv | dwconv | dense | avgpool
    mode: int
    first: bool  # reads the 8-bit image buffer (one whole pixel byte per lane)
    last: bool  # writes raw int32 logits, no requantize
    src: int  # ping-pong buffer read (the other one is written)
    ih: int
    iw: int
    cin: int  # input channels (virtual (tap, channel) lanes K²·C for a first conv)
    cg_in: int  # words per input pixel
    kh: int
    kw: int
    stride: int
    pad: int
    oh: int  # conv output size (before the fused pool)
    ow: int
    pool: bool
    ph: int  # output grid written (after the fused pool)
    pw: int
    cout: int
    cg_out: int  # words per output pixel
    drain: int
    layer_names: tuple[str, ...]
    groups: tuple[Group, ...] = field(default=())
    px_count: int = 0  # sequencer x steps per row: PW, or ⌈Ho·Wo/P⌉ chunks in MODE_DWP
    py_count: int = 0  # sequencer rows: PH, or 1 in MODE_DWP
    gsum: bool = False  # MODE_DWP avgpool: one sum over the whole map per channel word

    @property
    def opix(self) -> int:
        return self.oh * self.ow

    @property
    def pool_size(self) -> int:
        return 2 if self.pool else 1

    @property
    def pixels(self) -> int:
        """Output pixels computed per group (pooled order; dropped odd rows are skipped)."""
        return self.py_count * self.px_count * self.pool_size**2

    @property
    def word_max(self) -> int:
        return max(g.wo_cnt for g in self.groups)


@dataclass(frozen=True)
class Plan:
    """The whole network on a ``pe_count × mults_per_pe`` array at ``q`` bits."""

    q: int
    pe_count: int
    mults_per_pe: int
    input_shape: tuple[int, int, int]
    num_classes: int
    passes: tuple[Pass, ...]
    act_depth: tuple[int, int]  # words in ping-pong buffers 0 and 1
    # The image loader writes the first layer's input already unrolled ("im2col") into
    # its own buffer of M 8-bit lanes: for a first conv, output pixel (oy, ox) gets one
    # word run holding every kernel tap × channel, so the first pass is a 1×1 conv on the
    # Ho×Wo grid whose lanes multiply q-bit weights by whole 8-bit pixels.
    image_depth: int = 1  # words of the image buffer
    load_k: int = 1  # kernel taps per side unrolled by the loader
    load_stride: int = 1
    load_pad: int = 0
    load_h: int = 1  # grid the loader writes (Ho×Wo of a first conv; H×W otherwise)
    load_w: int = 1

    @property
    def word_bits(self) -> int:
        return self.mults_per_pe * self.q

    @property
    def image_word_bits(self) -> int:
        return self.mults_per_pe * INPUT_BITS

    @property
    def weight_depth(self) -> int:
        return sum(g.steps for p in self.passes for g in p.groups)

    @property
    def group_count(self) -> int:
        return sum(len(p.groups) for p in self.passes)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _conv_out(size: int, k: int, stride: int) -> int:
    return (size + 2 * (k // 2) - k) // stride + 1


def check_array_params(q, pe_count, mults_per_pe) -> None:
    """Raise ValueError with a message naming the bad parameter."""
    for name, value in (("pe_count", pe_count), ("mults_per_pe", mults_per_pe)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
    if not isinstance(q, int) or isinstance(q, bool) or not 1 <= q <= 8:
        raise ValueError(f"q must be an integer bit width in 1..8, not {q!r}")


def plan_network(layers, q: int, pe_count: int, mults_per_pe: int) -> Plan:
    """The pass/group schedule of ``layers`` (shapes only)."""
    check_array_params(q, pe_count, mults_per_pe)
    layers = list(layers)
    if not layers:
        raise ValueError("the network has no layers")
    P, M = pe_count, mults_per_pe
    input_shape = tuple(int(d) for d in layers[0].in_shape)
    if layers[0].kind == "dense" and len(input_shape) == 1:
        # a first dense layer reads the image flattened in H, W, C order: the same byte
        # stream and the same channel-innermost layout as a 1×1×N image
        input_shape = (1, 1, input_shape[0])
    if len(input_shape) != 3:
        raise ValueError(f"the first layer must take an H×W×C image, not {list(input_shape)}")
    shape = input_shape  # the map in the buffer being read
    passes: list[Pass] = []
    depth = [0, 0]
    src = 0
    h, w, c = shape
    load = dict(load_k=1, load_stride=1, load_pad=0, load_h=h, load_w=w)
    if layers[0].kind == "conv":
        k0, s0 = int(layers[0].k), int(layers[0].stride)
        load = dict(load_k=k0, load_stride=s0, load_pad=k0 // 2, load_h=_conv_out(h, k0, s0),
                    load_w=_conv_out(w, k0, s0))
    image_depth = load["load_h"] * load["load_w"] * _ceil_div(load["load_k"] ** 2 * c, M)
    wbase = 0
    i = 0
    while i < len(layers):
        layer = layers[i]
        kind = layer.kind
        first = not passes
        last = i == len(layers) - 1 or (i == len(layers) - 2 and layers[-1].kind == "maxpool")
        ih, iw, ic = shape
        if kind == "maxpool":
            raise ValueError(f"layer {layer.name}: a maxpool must follow a conv or dwconv layer")
        if kind not in ("conv", "dwconv", "dense", "avgpool"):
            raise ValueError(f"layer {layer.name}: unsupported layer kind {kind!r}")
        if first and kind not in ("conv", "dense"):
            raise ValueError(f"layer {layer.name}: the first layer must be a conv or dense layer")
        if kind in ("conv", "dwconv"):
            k, stride = int(layer.k), int(layer.stride)
            kh = kw = k
            pad = k // 2
            oh, ow = _conv_out(ih, k, stride), _conv_out(iw, k, stride)
            cout = int(layer.out_shape[2]) if kind == "conv" else ic
            if tuple(layer.in_shape) != (ih, iw, ic):
                raise ValueError(f"layer {layer.name}: in_shape {list(layer.in_shape)} does not "
                                 f"match the previous output {[ih, iw, ic]}")
        else:
            kh, kw, stride, pad, oh, ow = ih, iw, 1, 0, 1, 1
            cout = int(layer.out_shape[-1])
            n_in = math.prod(int(d) for d in layer.in_shape)
            if kind == "dense" and n_in != ih * iw * ic:
                raise ValueError(f"layer {layer.name}: {n_in} inputs, but the "
                                 f"previous output has {ih * iw * ic}")
            if kind == "avgpool":
                cout = ic
        if first and kind == "conv":  # the loader unrolled the kernel: a 1×1 conv remains
            if tuple(layer.in_shape) != (ih, iw, ic):
                raise ValueError(f"layer {layer.name}: in_shape {list(layer.in_shape)} does not "
                                 f"match the input {[ih, iw, ic]}")
            ih, iw, ic = oh, ow, kh * kw * ic
            kh = kw = stride = 1
            pad = 0
        pool = i + 1 < len(layers) and layers[i + 1].kind == "maxpool"
        names = [layer.name]
        if pool:
            if kind not in ("conv", "dwconv"):
                raise ValueError(f"layer {layers[i + 1].name}: a maxpool must follow a conv or "
                                 "dwconv layer")
            ph, pw = oh // 2, ow // 2
            if ph < 1 or pw < 1:
                raise ValueError(f"layer {layers[i + 1].name}: a {oh}×{ow} map is too small "
                                 "to pool")
            names.append(layers[i + 1].name)
        else:
            ph, pw = oh, ow
        mode = MODE_DW if kind in ("dwconv", "avgpool") else MODE_CONV
        gsum = False
        if kind in ("dwconv", "avgpool") and P >= M and not pool and not last:
            mode = MODE_DWP
            if kind == "avgpool":  # iterate the input grid with a 1×1 kernel, write 1×1
                gsum = True
                kh = kw = 1
                oh, ow = ih, iw
        cin = ic
        cg_in = _ceil_div(cin, M)
        cg_out = _ceil_div(cout, M)
        raw_groups = []
        px_count, py_count = pw, ph
        if mode == MODE_DWP:
            px_count, py_count = _ceil_div(oh * ow, P), 1
            for cg in range(cg_out):
                raw_groups.append((cg * M, cg, 1, cg, P, kh * kw))
        for cbase in range(0, cout, P) if mode != MODE_DWP else ():
            cend = min(cbase + P, cout) - 1
            if mode == MODE_DW:
                cg_lo, cg_cnt = cbase // M, cend // M - cbase // M + 1
            else:
                cg_lo, cg_cnt = 0, cg_in
            wo_lo, wo_cnt = (0, 0) if last else (cbase // M, cend // M - cbase // M + 1)
            raw_groups.append((cbase, cg_lo, cg_cnt, wo_lo, wo_cnt, kh * kw * cg_cnt))
        word_max = max(g[4] for g in raw_groups)
        groups = []
        # MODE_DWP requantizes a PE's M lanes one per cycle and then writes P words
        slot_min = max(word_max, M) if mode == MODE_DWP else word_max
        if gsum:  # one hand-over per group: the group itself must last max(P, M) cycles
            slot_min = _ceil_div(max(P, M), px_count)
        drain = DRAIN_BASE + word_max + (M + 1 if mode == MODE_DWP else 0)
        for cbase, cg_lo, cg_cnt, wo_lo, wo_cnt, steps in raw_groups:
            groups.append(Group(cbase, cg_lo, cg_cnt, wo_lo, wo_cnt, steps,
                                max(steps, slot_min), wbase))
            wbase += steps
        passes.append(Pass(
            name=layer.name, kind=kind, mode=mode, first=first, last=last, src=src,
            ih=ih, iw=iw, cin=cin, cg_in=cg_in, kh=kh, kw=kw, stride=stride, pad=pad,
            oh=oh, ow=ow, pool=pool, ph=ph, pw=pw, cout=cout, cg_out=cg_out,
            drain=drain, layer_names=tuple(names), groups=tuple(groups), px_count=px_count,
            py_count=py_count, gsum=gsum))
        if not last:
            depth[1 - src] = max(depth[1 - src], ph * pw * cg_out)
        shape = (ph, pw, cout)
        src = 1 - src
        i += 2 if pool else 1
    num_classes = passes[-1].cout
    return Plan(q, P, M, input_shape, num_classes, tuple(passes),
                (max(1, depth[0]), max(1, depth[1])), image_depth=max(1, image_depth), **load)


def lane_tap(plan: Plan, v: int) -> tuple[int, int, int]:
    """First pass: virtual channel ``v = (ky·K + kx)·C + c`` → (ky, kx, c)."""
    t, c = divmod(v, plan.input_shape[2])
    ky, kx = divmod(t, plan.load_k)
    return ky, kx, c


def loader_table(plan: Plan) -> list[tuple[int, int]]:
    """Per (tap, channel), in that order: (word offset in the pixel's run, lane)."""
    M = plan.mults_per_pe
    return [divmod(v, M) for v in range(plan.load_k ** 2 * plan.input_shape[2])]


def load_cycles(plan: Plan) -> int:
    """Cycles to load one image: per byte, the accepting cycle plus one per kernel tap."""
    h, w, c = plan.input_shape
    return h * w * c * (1 + plan.load_k ** 2)


# ------------------------------------------------------------------------- packing


def _encode_weight(value: int, q: int) -> int:
    """A q-bit lane: two's complement for q ≥ 2; for q = 1 bit 1 ↔ +1, bit 0 ↔ −1."""
    if q == 1:
        return 1 if value > 0 else 0
    return int(value) & ((1 << q) - 1)


@dataclass
class Packed:
    """BRAM contents: ``weights[pe]`` and ``params[pe]`` word lists, plus their map."""

    plan: Plan
    weights: list[list[int]]
    params: list[list[int]]
    weight_map: list[dict]  # which pass / group / words each address range holds

    def mem_files(self) -> dict[str, list[int]]:
        files = {}
        for j, words in enumerate(self.weights):
            files[f"weights_pe{j}.mem"] = words
        for j, words in enumerate(self.params):
            files[f"params_pe{j}.mem"] = words
        return files


def _layer_by_name(network, name):
    for layer in network.layers:
        if layer.name == name:
            return layer
    raise KeyError(name)


def pack_network(network, pe_count: int, mults_per_pe: int, q: int | None = None) -> Packed:
    """Plan ``network`` and pack its weights, biases and requantize parameters."""
    import numpy as np

    q = network_q(network) if q is None else q
    plan = plan_network(network.layers, q, pe_count, mults_per_pe)
    P, M = pe_count, mults_per_pe
    weights = [[] for _ in range(P)]
    params = [[] for _ in range(P)]
    wmap = []
    for p in plan.passes:
        layer = _layer_by_name(network, p.name)
        w = None if layer.w is None else np.asarray(layer.w, dtype=np.int64)
        if p.kind == "dense":  # [Nout, H·W·C] → [Nout, H, W, C]: dense is a conv over the map
            w = w.reshape(p.cout, p.kh, p.kw, -1)
        for gi, g in enumerate(p.groups):
            if p.mode == MODE_DWP:
                _pack_dwp_group(p, g, gi, w, layer, q, P, M, weights, params, wmap)
                continue
            wmap.append({"pass": p.name, "layers": list(p.layer_names), "group": gi,
                         "channels": [g.cbase, min(g.cbase + P, p.cout) - 1],
                         "weight_words": [g.wbase, g.wbase + g.steps - 1]})
            for j in range(P):
                c = g.cbase + j
                for ky in range(p.kh):
                    for kx in range(p.kw):
                        for cgi in range(g.cg_cnt):
                            word = 0
                            for lane in range(M):
                                v = (g.cg_lo + cgi) * M + lane
                                value = 0
                                if c < p.cout and v < p.cin:
                                    if p.first and p.kind == "conv":
                                        ty, tx, ci = lane_tap(plan, v)
                                        value = int(w[c, ty, tx, ci])
                                    elif p.kind in ("conv", "dense"):
                                        value = int(w[c, ky, kx, v])
                                    elif v == c:
                                        value = 1 if p.kind == "avgpool" else int(w[c, ky, kx])
                                word |= _encode_weight(value, q) << (q * lane)
                            weights[j].append(word)
                b = m_ = 0
                n_ = 1
                if c < p.cout:
                    if layer.b is not None:
                        b = int(layer.b[c])
                    if not p.last:
                        m_, n_ = int(layer.m[c]), int(layer.n[c])
                params[j].append(_param_word(b, m_, n_))
    return Packed(plan, weights, params, wmap)


def _param_word(b: int, m: int, n: int) -> int:
    return (b & ((1 << BIAS_BITS) - 1)) | (m << BIAS_BITS) | (n << (BIAS_BITS + M_BITS))


def _pack_dwp_group(p, g, gi, w, layer, q, P, M, weights, params, wmap):
    """MODE_DWP: PE 0's memory holds the tap words (lane l = channel cg·M + l), broadcast
    to every PE; PE j < M holds the bias/m/n of channel cg·M + j."""
    wmap.append({"pass": p.name, "layers": list(p.layer_names), "group": gi,
                 "channels": [g.cbase, min(g.cbase + M, p.cout) - 1],
                 "weight_words": [g.wbase, g.wbase + g.steps - 1], "pixel_parallel": True})
    for ky in range(p.kh):
        for kx in range(p.kw):
            word = 0
            for lane in range(M):
                c = g.cbase + lane
                if c < p.cout:
                    value = 1 if p.gsum else int(w[c, ky, kx])
                    word |= _encode_weight(value, q) << (q * lane)
            weights[0].append(word)
            for j in range(1, P):
                weights[j].append(0)
    for j in range(P):
        c = g.cbase + j
        if j < M and c < p.cout:
            b = 0 if layer.b is None else int(layer.b[c])
            params[j].append(_param_word(b, int(layer.m[c]), int(layer.n[c])))
        else:
            params[j].append(_param_word(0, 0, 1))


def network_q(network) -> int:
    """The array bit width q: every layer's weight bits (all must agree)."""
    qs = {int(layer.w_bits) for layer in network.layers if getattr(layer, "w_bits", None)}
    if len(qs) != 1:
        raise ValueError(f"every layer must have the same weight bits, got {sorted(qs)}")
    return qs.pop()


def format_mem(words: list[int], width_bits: int) -> str:
    """One hex word per line, no comments: what ``$readmemh`` and Vivado both accept."""
    digits = max(1, _ceil_div(width_bits, 4))
    if not words:
        words = [0]
    return "".join(f"{w:0{digits}x}\n" for w in words)


def write_mem_files(packed: Packed, out_dir) -> dict[str, Path]:
    """Write every weight and parameter memory as a ``.mem`` file plus ``mem_map.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, words in packed.mem_files().items():
        width = packed.plan.word_bits if name.startswith("weights") else PARAM_BITS
        path = out / name
        text = format_mem(words, width)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        paths[name] = path
    mem_map = {
        "q": packed.plan.q, "pe_count": packed.plan.pe_count,
        "mults_per_pe": packed.plan.mults_per_pe,
        "weights": {"width_bits": packed.plan.word_bits, "depth": packed.plan.weight_depth,
                    "files": [f"weights_pe{j}.mem" for j in range(packed.plan.pe_count)],
                    "lane_order": "lane l in bits [q·l, q·l+q), l = input channel mod M",
                    "groups": packed.weight_map},
        "params": {"width_bits": PARAM_BITS, "depth": packed.plan.group_count,
                   "files": [f"params_pe{j}.mem" for j in range(packed.plan.pe_count)],
                   "fields": {"bias": [0, BIAS_BITS - 1],
                              "m": [BIAS_BITS, BIAS_BITS + M_BITS - 1],
                              "n": [BIAS_BITS + M_BITS, PARAM_BITS - 1]}},
        # written by the image loader at run time (no file): the first pass's input
        "image": {"width_bits": packed.plan.image_word_bits, "depth": packed.plan.image_depth,
                  "lane_order": "lane l in bits [8·l, 8·l+8), l = v mod M of word v div M "
                                "in the output pixel's run, v = (ky·K + kx)·C + c"},
    }
    (out / "mem_map.json").write_text(json.dumps(mem_map, indent=1) + "\n")
    return paths


def plan_dict(plan: Plan) -> dict:
    return asdict(plan)
