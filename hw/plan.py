"""Network → hardware schedule: passes, groups and buffer sizes (pure functions, shapes only).

The accelerator runs a network as a list of *passes*. A pass is one compute layer
(``conv``, ``dwconv``, ``dense`` or global ``avgpool``), with a following ``maxpool``
fused into its write-back. Each pass is split into *groups* of ``pe_count`` output
channels; every group walks its output pixels, and every pixel takes ``steps`` MAC
cycles (kernel taps × input-channel words) padded to a fixed *slot* length.

`plan_network` needs shapes only (the cycle model sweeps networks without weights);
`hw.packing` adds the weight and parameter words, `hw.memfiles` writes them. The
network is duck-typed: ``.layers`` with ``name, kind, in_shape, out_shape, k, stride``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from intnet.contract import INPUT_BITS, WEIGHTED_KINDS, ceil_div, conv_out, layer_widths

# The pipeline (docs/hardware.md, "Pipeline"): the walker (S0a) → the registered step
# at the memories (S0b) → READ_LATENCY cycles of block-RAM read and output register →
# the operand register (OP) → the lane products (MUL) → the adder tree, a register every
# TREE_LEVELS_PER_STAGE levels → the accumulator → REQUANT_LATENCY cycles of requantizer
# → the pooled write-back. The cycle model counts every stage through these constants.
READ_LATENCY = 2
TREE_LEVELS_PER_STAGE = 2
REQUANT_LATENCY = 5  # pieces, two sum levels, coarse shift, fine shift (`hw.requant`)
PASS_LOAD = 2  # per pass: LOAD (descriptor and first group into registers), INIT (walker)
# Drain: after a pass's last walker cycle, the cycles until its last output word has
# been presented to the write port, minus one — the next pass's LOAD may overwrite the
# descriptor (whose destination buffer the write-back uses) in the cycle after. The
# word leaves S0b (1), the read (READ_LATENCY), OP (1), MUL (1), the tree (T), the
# accumulator hand-over (1), the requantizer (REQUANT_LATENCY), the pool latch (1), and
# then one output word per cycle; for a pixel-parallel pass, the lane sums go from MUL
# to the serializer, which spends M cycles on the lanes before the latch.
CONV_DRAIN = 1 + READ_LATENCY + 1 + 1 + 1 + REQUANT_LATENCY + 1 - 1  # + T + words
DWP_DRAIN = 1 + READ_LATENCY + 1 + 1 + REQUANT_LATENCY + 1 - 1  # + M + words


def argmax_cycles(num_classes: int) -> int:
    """The argmax scan (`hw.logits`): read, compare and update cycles per class, and the
    cycle that sees the scan done."""
    return 3 * num_classes + 1


def image_lanes(first_inputs: int, mults_per_pe: int) -> int:
    """F, the first pass's 8-bit lanes: one output pixel's every (tap, channel) in one step
    where that takes at most 2·M lanes (K²·C of a first conv, N of a first dense layer)."""
    return max(1, min(first_inputs, 2 * mults_per_pe))


def tree_stages(mults_per_pe: int) -> int:
    """Registers in the adder tree of M lanes: one per `TREE_LEVELS_PER_STAGE` levels."""
    levels = (mults_per_pe - 1).bit_length()
    return -(-levels // TREE_LEVELS_PER_STAGE)


MODE_CONV = 0  # every PE sees every lane of the input word (conv, dense)
MODE_DW = 1  # PE j uses only the lane that holds its own channel (dwconv, avgpool)
# Depthwise, pixel-parallel (needs P ≥ M, no fused pool): PE j computes output pixel
# (y, x·P + j) of a P-column segment of row y, its M lanes the M channels of one word,
# each lane accumulating on its own; every PE reads its own activation word (P read
# ports on the buffers). A global avgpool runs the same way with a 1×1 kernel of weight
# +1, summing every chunk of the map ("gsum") and then across the P PEs.
MODE_DWP = 2


def bits(value: int) -> int:
    """Bits of an unsigned field that holds ``value`` (at least 1)."""
    return max(1, int(value).bit_length())


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
    px_count: int = 0  # sequencer x steps per row: PW, or ⌈Wo/P⌉ segments in MODE_DWP
    py_count: int = 0  # sequencer rows: PH (Ho in MODE_DWP)
    gsum: bool = False  # MODE_DWP avgpool: one sum over the whole map per channel word
    # Per-layer widths on the lane_bits array (`_map_splits`): the input words hold
    # k_in·M values of lane_bits // k_in bits (every lane splits into k_in sub-lanes; in
    # MODE_DWP a lane keeps its k_in sub-lane sums apart), the output words k_out·M; the
    # requantizer clamps at 2^out_bits − 1.
    k_in: int = 1
    k_out: int = 1
    w_bits: int = 0
    out_bits: int = 0
    # Output-channel pairing (`pairs_channels`): the input channels fill at most the
    # sub-lanes of half the lanes, so lanes H … 2H−1 (H = M // 2) read the activations of
    # lanes 0 … H−1 and weigh them for a second output channel: PE j computes channels
    # cbase + j and cbase + P + j, a group holds 2P channels.
    pair: bool = False
    # Weight reuse (`reuses_weights`, docs/hardware.md "Weight reuse"): the two pixels
    # (dx = 0, 1) of each pool window row are walked step by step in turn, so every
    # weight word read feeds both; their sums leave the hand-over ``reuse_gap`` + 1
    # cycles apart.
    reuse: int = 1
    reuse_gap: int = 0

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
    image_lanes: int = 1  # F: 8-bit lanes of the first pass (its own path in every PE)
    load_k: int = 1  # kernel taps per side unrolled by the loader
    load_stride: int = 1
    load_pad: int = 0
    load_h: int = 1  # grid the loader writes (Ho×Wo of a first conv; H×W otherwise)
    load_w: int = 1

    @property
    def word_bits(self) -> int:
        """An activation or weight word: M lanes of ``q`` (the lane width) bits."""
        return self.mults_per_pe * self.q

    @property
    def splits(self) -> tuple[int, ...]:
        """The lane splits some pass reads or writes (``(1,)``: none)."""
        return tuple(sorted({p.k_in for p in self.passes} | {p.k_out for p in self.passes}))

    @property
    def pairs(self) -> bool:
        """Whether some pass pairs output channels (`pairs_channels`)."""
        return any(p.pair for p in self.passes)

    @property
    def reuses(self) -> bool:
        """Whether some pass feeds each weight word to two pixels (`reuses_weights`)."""
        return any(p.reuse > 1 for p in self.passes)

    @property
    def pixel_parallel(self) -> bool:
        """Whether some pass runs pixel-parallel (`MODE_DWP`): the buffers get a read port
        per PE, the PEs lane accumulators, and the serializer and collector exist."""
        return any(p.mode == MODE_DWP for p in self.passes)

    @property
    def addr_bits(self) -> int:
        """Width of an activation address: the deepest ping-pong or image buffer's."""
        return bits(max(*self.act_depth, self.image_depth) - 1)

    @property
    def act_read_ports(self) -> tuple[int, int]:
        """Read ports of activation buffers 0 and 1: P on a buffer some pixel-parallel pass
        reads (a block RAM replica each: the second port takes the writes), else one."""
        read = {p.src for p in self.passes if p.mode == MODE_DWP}
        return tuple(self.pe_count if b in read else 1 for b in range(2))

    @property
    def dwp_summing(self) -> bool:
        """Whether a pixel-parallel pass is a summing average pool (the sum over the PEs)."""
        return any(p.mode == MODE_DWP and p.gsum for p in self.passes)

    @property
    def dwp_splits(self) -> tuple[int, ...]:
        """The splits (k > 1) pixel-parallel depthwise passes read: their lanes keep k
        sub-lane sums apart (``()``: none)."""
        return tuple(sorted({p.k_in for p in self.passes if p.mode == MODE_DWP and p.k_in > 1}))

    @property
    def dwp_split(self) -> int:
        """The widest of `dwp_splits` (1: none): sub-lane sums a lane keeps, and
        requantizers every PE has."""
        return max(self.dwp_splits, default=1)

    @property
    def params_per_word(self) -> int:
        """Channels' parameters per parameter-ROM word: 2 where some pass pairs (PE j's
        two channels of a group), `dwp_split` where a pixel-parallel depthwise pass reads
        split words (PE l's word: the channels of lane l's sub-lanes), else 1."""
        return max(2 if self.pairs else 1, self.dwp_split)

    @property
    def clamps(self) -> bool:
        """Whether some pass clamps below the lane width (a per-pass requantizer limit)."""
        return any(not p.last and p.out_bits != self.q for p in self.passes)

    @property
    def write_granularity(self) -> int:
        """Bits per write enable of the activation buffers: the widest granule that never
        holds values of two groups. A granule holds the values of one group and of no
        channel (≥ cout, which nothing reads: the next pass weighs them 0), so the group
        writes all of it. Where every group fills whole words (P a multiple of M, and every
        pixel-parallel pass) the buffers have one enable and map onto block RAM at full
        width; lane-wide enables at q < 8 are finer than a block RAM's 9-bit byte
        enables, which made Yosys spread each word over byte lanes or LUT RAM."""
        g = self.word_bits
        for p in self.passes:
            for grp in p.groups:
                if not grp.wo_cnt:  # the logit pass writes no buffer
                    continue
                pos = grp.cbase % (p.k_out * self.mults_per_pe)
                offset = (pos // p.k_out) * self.q + (pos % p.k_out) * (self.q // p.k_out)
                g = math.gcd(g, offset)
        return g

    @property
    def image_word_bits(self) -> int:
        return self.image_lanes * INPUT_BITS

    @property
    def tree_stages(self) -> int:
        """Registers of every PE's adder trees (the wider path's, `tree_stages`)."""
        return tree_stages(max(self.mults_per_pe, self.image_lanes))

    @property
    def first_word_bits(self) -> int:
        """A first-pass weight word: F lanes of q bits (`image_lanes`)."""
        return self.image_lanes * self.q

    @property
    def first_weight_depth(self) -> int:
        """Words of the first pass's weight ROM (every PE has one)."""
        return sum(g.steps for g in self.passes[0].groups)

    @property
    def weight_depth(self) -> int:
        """Words of the main weight ROM: every pass after the first."""
        return sum(g.steps for p in self.passes[1:] for g in p.groups)

    @property
    def group_count(self) -> int:
        return sum(len(p.groups) for p in self.passes)


def check_array_params(q, pe_count, mults_per_pe) -> None:
    """Raise ValueError with a message naming the bad parameter."""
    for name, value in (("pe_count", pe_count), ("mults_per_pe", mults_per_pe)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
    if not isinstance(q, int) or isinstance(q, bool) or not 1 <= q <= 8:
        raise ValueError(f"q must be an integer bit width in 1..8, not {q!r}")


def network_q(network, lane_bits: int | None = None) -> int:
    """The array's lane width: ``lane_bits``, or the network's ``q`` (a bundle's manifest
    q: its widest width), at least its widest weight or hidden activation width
    (`widest_bits`); every layer must fit it."""
    widest = widest_bits(network.layers)
    if lane_bits is None:
        q = getattr(network, "q", None)
        return max(widest, q if isinstance(q, int) and 1 <= q <= 8 else 1)
    if not isinstance(lane_bits, int) or isinstance(lane_bits, bool) or not 1 <= lane_bits <= 8:
        raise ValueError(f"lane_bits must be an integer bit width in 1..8, not {lane_bits!r}")
    if lane_bits < widest:
        raise ValueError(f"lane_bits {lane_bits} is narrower than the network's widest layer "
                         f"({widest} bits)")
    return lane_bits


def widest_bits(layers, q: int | None = None) -> int:
    """The widest weight or hidden activation width of ``layers`` (the 8-bit input and
    the logits excluded): the narrowest lane that runs every layer."""
    layers = list(layers)
    widths = layer_widths(layers, q)
    found = [w.w_bits for w in widths]
    found += [w.in_bits for w in widths[1:]]
    found += [w.out_bits for w in widths[:-1]]
    return max([b for b in found if b] or [1])


def split_factors(lane_bits: int) -> tuple[int, ...]:
    """How a lane of ``lane_bits`` may split: k sub-lanes of ``lane_bits // k`` ≥ 2 bits,
    k a power of two (1: the whole lane). Two's complement needs ≥ 2 bits per weight."""
    ks, k = [1], 2
    while lane_bits // k >= 2:
        ks.append(k)
        k *= 2
    return tuple(ks)


def pair_lanes(mults_per_pe: int) -> int:
    """H, the lanes of each half of a paired pass (`pairs_channels`): lanes 0 … H−1 weigh
    for the first channel, H … 2H−1 for the second (an odd M's last lane idles)."""
    return mults_per_pe // 2


def pairs_channels(kind: str, first: bool, last: bool, mode: int, cin: int, cout: int,
                   k_in: int, P: int, M: int) -> bool:
    """Whether a pass pairs output channels: a split conv-mode pass (conv, dense; not
    the first, which has its own lanes, nor the last, whose logits are one per PE) whose
    input channels fit the sub-lanes of half the lanes (``⌈Cin/k⌉ ≤ M div 2``), so that the
    other half can take a second output channel, and whose channels then need fewer
    groups (``⌈Cout/2P⌉ < ⌈Cout/P⌉``)."""
    return (kind in ("conv", "dense") and not first and not last and mode == MODE_CONV
            and k_in > 1 and ceil_div(cin, k_in) <= pair_lanes(M)
            and ceil_div(cout, 2 * P) < ceil_div(cout, P))


def reuses_weights(p: Pass) -> bool:
    """Whether a pass can feed each weight word to the two pixels (dx = 0, 1) of a pool
    window's row: a conv-mode pass with a fused pool, neither the first (its own lanes
    and weight ROM) nor the last (one pixel a group), not paired (its second accumulator
    is taken), bound by its MAC steps (``slot == steps``) with the same steps in every
    group (so the hand-over's spacing is one constant of the pass)."""
    return (p.mode == MODE_CONV and p.pool and not p.first and not p.last and not p.pair
            and len({g.steps for g in p.groups}) == 1
            and all(g.slot == g.steps for g in p.groups))


def with_weight_reuse(p: Pass) -> Pass:
    """``p`` walking pixel pairs: the second sum of a pair waits in the hand-over until
    the write-back's words of the first are out (``reuse_gap`` + 1 = the pass's output
    words per pixel, at least 1 cycle), which lengthens the drain by ``reuse_gap``."""
    gap = max(1, max(g.wo_cnt for g in p.groups)) - 1
    return replace(p, reuse=2, reuse_gap=gap, drain=p.drain + gap)


def pixel_parallel(P: int, M: int, pooled: bool, last: bool) -> bool:
    """Whether a dwconv or avgpool pass runs pixel-parallel (`MODE_DWP`): P ≥ M, no fused
    max pool, not the last pass."""
    return P >= M and not pooled and not last


def _layer_pixel_parallel(layers, i: int, P: int, M: int) -> bool:
    """`pixel_parallel` of the pass of layer ``i``."""
    pooled = i + 1 < len(layers) and layers[i + 1].kind == "maxpool"
    last = i == len(layers) - 1 or (i == len(layers) - 2 and pooled)
    return pixel_parallel(P, M, pooled, last)


def _map_splits(layers, computes: list[int], widths, q: int, P: int, M: int) -> list[int]:
    """k of every activation map: map i is read by pass i (map 0: the image, k = 1).

    A map takes the most sub-lanes whose width holds its values and its reader's
    weights. A map read by an average pool or a lane-select depthwise pass (channel per
    lane) keeps whole lanes; one read by a pixel-parallel depthwise pass splits at most
    as far as the map that pass writes (its k·M channels then fill one output word, or
    share one with the next groups), so it is decided from the last map back. Any pass
    may write split words.
    """
    ks = [1] * (len(computes) + 1)
    for i in range(len(computes) - 1, 0, -1):
        w, layer = widths[computes[i]], layers[computes[i]]
        fit = max(k for k in split_factors(q) if q // k >= max(w.in_bits, w.w_bits))
        if layer.kind not in ("dwconv", "avgpool"):
            ks[i] = fit
        elif layer.kind == "dwconv" and _layer_pixel_parallel(layers, computes[i], P, M):
            ks[i] = min(fit, ks[i + 1])
    return ks


# ------------------------------------------------------------------------ the schedule


@dataclass(frozen=True)
class _Geometry:
    """What a pass reads and writes: the compute layer's window over the map in the buffer."""

    ih: int
    iw: int
    cin: int
    kh: int
    kw: int
    stride: int
    pad: int
    oh: int
    ow: int
    cout: int


def _input_shape(layers) -> tuple[int, int, int]:
    shape = tuple(int(d) for d in layers[0].in_shape)
    if layers[0].kind == "dense" and len(shape) == 1:
        # a first dense layer reads the image flattened in H, W, C order: the same byte
        # stream and the same channel-innermost layout as a 1×1×N image
        shape = (1, 1, shape[0])
    if len(shape) != 3:
        raise ValueError(f"the first layer must take an H×W×C image, not {list(shape)}")
    return shape


def _loader_geometry(first_layer, input_shape) -> dict:
    """What the image loader unrolls: a first conv's kernel over its output grid."""
    h, w, _ = input_shape
    if first_layer.kind != "conv":
        return dict(load_k=1, load_stride=1, load_pad=0, load_h=h, load_w=w)
    k, s = int(first_layer.k), int(first_layer.stride)
    return dict(load_k=k, load_stride=s, load_pad=k // 2, load_h=conv_out(h, k, s),
                load_w=conv_out(w, k, s))


def _check_kind(layer, first: bool) -> None:
    if layer.kind == "maxpool":
        raise ValueError(f"layer {layer.name}: a maxpool must follow a conv or dwconv layer")
    if layer.kind not in ("conv", "dwconv", "dense", "avgpool"):
        raise ValueError(f"layer {layer.name}: unsupported layer kind {layer.kind!r}")
    if first and layer.kind not in ("conv", "dense"):
        raise ValueError(f"layer {layer.name}: the first layer must be a conv or dense layer")


def _geometry(layer, shape, first: bool) -> _Geometry:
    """The pass's window; a first conv becomes a 1×1 conv over the loader's unrolled taps."""
    ih, iw, ic = shape
    if layer.kind in ("conv", "dwconv"):
        if tuple(layer.in_shape) != (ih, iw, ic):
            raise ValueError(f"layer {layer.name}: in_shape {list(layer.in_shape)} does not "
                             f"match the previous output {[ih, iw, ic]}")
        k, stride = int(layer.k), int(layer.stride)
        oh, ow = conv_out(ih, k, stride), conv_out(iw, k, stride)
        cout = int(layer.out_shape[2]) if layer.kind == "conv" else ic
        if first:  # the loader unrolled the kernel: a 1×1 conv remains
            return _Geometry(oh, ow, k * k * ic, 1, 1, 1, 0, oh, ow, cout)
        return _Geometry(ih, iw, ic, k, k, stride, k // 2, oh, ow, cout)
    n_in = math.prod(int(d) for d in layer.in_shape)
    if layer.kind == "dense" and n_in != ih * iw * ic:
        raise ValueError(f"layer {layer.name}: {n_in} inputs, but the previous output has "
                         f"{ih * iw * ic}")
    cout = ic if layer.kind == "avgpool" else int(layer.out_shape[-1])
    return _Geometry(ih, iw, ic, ih, iw, 1, 0, 1, 1, cout)


def _pool_grid(layer, pool_layer, g: _Geometry) -> tuple[int, int]:
    """The grid written: ``(oh, ow)``, or the pooled ``(oh//2, ow//2)``."""
    if pool_layer is None:
        return g.oh, g.ow
    if layer.kind not in ("conv", "dwconv"):
        raise ValueError(f"layer {pool_layer.name}: a maxpool must follow a conv or dwconv layer")
    if g.oh // 2 < 1 or g.ow // 2 < 1:
        raise ValueError(f"layer {pool_layer.name}: a {g.oh}×{g.ow} map is too small to pool")
    return g.oh // 2, g.ow // 2


def _groups(g: _Geometry, mode: int, gsum: bool, last: bool, P: int, M: int, pixels: int,
            wbase: int, in_lanes: int, F: int, out_lanes: int,
            pair: bool = False) -> tuple[list[Group], int]:
    """The pass's groups (weight words from ``wbase``) and its drain cycles; the input
    word holds ``in_lanes`` channels (F in the first pass, k_in·M after it), the output
    word ``out_lanes`` (k_out·M); a paired pass's groups hold 2P channels."""
    cg_in = ceil_div(g.cin, in_lanes)
    raw = []  # (cbase, cg_lo, cg_cnt, wo_lo, wo_cnt, steps)
    if mode == MODE_DWP:  # one input word (k_in·M channels) a group; k_out // k_in
        share = out_lanes // in_lanes  # groups share an output word
        raw = [(cg * in_lanes, cg, 1, cg // share, P, g.kh * g.kw)
               for cg in range(ceil_div(g.cout, in_lanes))]
    per_group = 2 * P if pair else P
    for cbase in range(0, g.cout, per_group) if mode != MODE_DWP else ():
        cend = min(cbase + per_group, g.cout) - 1
        cg_lo, cg_cnt = ((cbase // M, cend // M - cbase // M + 1) if mode == MODE_DW
                         else (0, cg_in))
        wo_lo, wo_cnt = ((0, 0) if last else
                         (cbase // out_lanes, cend // out_lanes - cbase // out_lanes + 1))
        raw.append((cbase, cg_lo, cg_cnt, wo_lo, wo_cnt, g.kh * g.kw * cg_cnt))
    word_max = max(r[4] for r in raw)
    # MODE_DWP requantizes a PE's M lanes one per cycle (a split lane's k_in sub-lanes
    # side by side, on k_in requantizers) and then writes P words
    slot_min = max(word_max, M) if mode == MODE_DWP else word_max
    if gsum:  # one hand-over per group: the group itself must last max(P, M) cycles
        slot_min = ceil_div(max(P, M), pixels)
    if pixels == 1:  # the next group's table word is read one cycle ahead: ≥ 2 cycles
        slot_min = max(slot_min, 2)
    if pair:
        # the requantizer takes the second channel's sum a cycle after the first's, and
        # the write-back starts a cycle later: the pixel's words must be out before the
        # next pixel's first sum replaces its values (and a pixel takes ≥ 2 cycles)
        slot_min = max(slot_min, word_max + 1, 2)
    # the adder trees (both paths of every PE) are as deep as the wider one's
    drain = word_max + (DWP_DRAIN + M if mode == MODE_DWP
                        else CONV_DRAIN + tree_stages(max(M, F)) + int(pair))
    groups = []
    for cbase, cg_lo, cg_cnt, wo_lo, wo_cnt, steps in raw:
        groups.append(Group(cbase, cg_lo, cg_cnt, wo_lo, wo_cnt, steps, max(steps, slot_min),
                            wbase))
        wbase += steps
    return groups, drain


def _busy(groups: list[Group], drain: int, pixels: int) -> int:
    """A pass's cycles after its load (`sim.cycles.pass_cycles`)."""
    return sum(pixels * g.slot for g in groups) + drain


def _plan_pass(layer, pool_layer, shape, src: int, first: bool, last: bool, P: int, M: int,
               wbase: int, F: int, k_in: int = 1, k_out: int = 1, widths=None) -> Pass:
    """One pass: its window, its mode, its groups (``k_in``/``k_out``: `_map_splits`)."""
    _check_kind(layer, first)
    g = _geometry(layer, shape, first)
    ph, pw = _pool_grid(layer, pool_layer, g)
    mode, gsum = MODE_CONV, False
    if layer.kind in ("dwconv", "avgpool"):
        mode = MODE_DW
        if pixel_parallel(P, M, pool_layer is not None, last):
            mode = MODE_DWP
            if layer.kind == "avgpool":  # iterate the input grid with a 1×1 kernel, write 1×1
                gsum = True
                g = _Geometry(g.ih, g.iw, g.cin, 1, 1, 1, 0, g.ih, g.iw, g.cout)
    px_count, py_count = pw, ph
    if mode == MODE_DWP:  # P-column segments of every output row
        px_count, py_count = ceil_div(g.ow, P), g.oh
    pixels = px_count * py_count * (4 if pool_layer is not None else 1)
    in_lanes = F if first else k_in * M
    groups, drain = _groups(g, mode, gsum, last, P, M, pixels, wbase, in_lanes, F, k_out * M)
    pair = False
    if pairs_channels(layer.kind, first, last, mode, g.cin, g.cout, k_in, P, M):
        # paired where that takes fewer cycles: a pass bound by its output words (a 1×1
        # conv writing whole-lane words) gains nothing from computing faster
        paired = _groups(g, mode, gsum, last, P, M, pixels, wbase, in_lanes, F, k_out * M,
                         pair=True)
        if _busy(*paired, pixels) < _busy(groups, drain, pixels):
            (groups, drain), pair = paired, True
    names = (layer.name,) if pool_layer is None else (layer.name, pool_layer.name)
    return Pass(
        name=layer.name, kind=layer.kind, mode=mode, first=first, last=last, src=src,
        ih=g.ih, iw=g.iw, cin=g.cin, cg_in=ceil_div(g.cin, in_lanes), kh=g.kh, kw=g.kw,
        stride=g.stride, pad=g.pad, oh=g.oh, ow=g.ow, pool=pool_layer is not None, ph=ph,
        pw=pw, cout=g.cout, cg_out=ceil_div(g.cout, k_out * M), drain=drain, layer_names=names,
        groups=tuple(groups), px_count=px_count, py_count=py_count, gsum=gsum, k_in=k_in,
        k_out=k_out, w_bits=widths.w_bits if widths else 0,
        out_bits=widths.out_bits if widths else 0, pair=pair)


def _compute_layers(layers) -> list[int]:
    """Indices of the layers that make a pass (a maxpool fuses into the one before)."""
    computes, i = [], 0
    while i < len(layers):
        computes.append(i)
        i += 2 if i + 1 < len(layers) and layers[i + 1].kind == "maxpool" else 1
    return computes


def _check_widths(layers, widths, q: int) -> None:
    for layer, w in zip(layers, widths, strict=True):
        for name, value in (("w_bits", w.w_bits), ("out_bits", w.out_bits)):
            if name == "out_bits" and (layer is layers[-1] or layer.kind not in
                                       (*WEIGHTED_KINDS, "avgpool")):
                continue
            if value > q:
                raise ValueError(f"layer {layer.name}: {name} {value} is wider than the "
                                 f"{q}-bit lanes")


def plan_network(layers, q: int, pe_count: int, mults_per_pe: int,
                 weight_reuse: bool = False) -> Plan:
    """The pass/group schedule of ``layers`` (shapes and bit widths) on lanes of ``q`` bits.

    Layers without widths (shape-only specs) run at ``q``; layers with their own widths
    run at them, a lane splitting into k sub-lanes where a layer fits ``q // k`` bits
    (`split_factors`). With ``weight_reuse`` every pass that can (`reuses_weights`)
    feeds each weight word to two pixels.
    """
    check_array_params(q, pe_count, mults_per_pe)
    layers = list(layers)
    if not layers:
        raise ValueError("the network has no layers")
    widths = layer_widths(layers, q)
    _check_widths(layers, widths, q)
    computes = _compute_layers(layers)
    P, M = pe_count, mults_per_pe
    ks = _map_splits(layers, computes, widths, q, P, M)
    input_shape = _input_shape(layers)
    load = _loader_geometry(layers[0], input_shape)
    first_inputs = load["load_k"] ** 2 * input_shape[2]
    F = image_lanes(first_inputs, M)
    image_depth = load["load_h"] * load["load_w"] * ceil_div(first_inputs, F)
    passes: list[Pass] = []
    depth = [0, 0]
    shape, src, wbase, i = input_shape, 0, 0, 0
    while i < len(layers):
        pooled = i + 1 < len(layers) and layers[i + 1].kind == "maxpool"
        last = i == len(layers) - 1 or (i == len(layers) - 2 and layers[-1].kind == "maxpool")
        n = len(passes)
        p = _plan_pass(layers[i], layers[i + 1] if pooled else None, shape, src, not passes,
                       last, P, M, wbase, F, ks[n], 1 if last else ks[n + 1], widths[i])
        if weight_reuse and reuses_weights(p):
            p = with_weight_reuse(p)
        # the first pass's weights have a ROM of their own: the main one starts after it
        wbase = 0 if not passes else wbase + sum(g.steps for g in p.groups)
        passes.append(p)
        if not last:
            depth[1 - src] = max(depth[1 - src], p.ph * p.pw * p.cg_out)
        shape, src = (p.ph, p.pw, p.cout), 1 - src
        i += 2 if pooled else 1
    return Plan(q, P, M, input_shape, passes[-1].cout, tuple(passes),
                (max(1, depth[0]), max(1, depth[1])), image_depth=max(1, image_depth),
                image_lanes=F, **load)


# ------------------------------------------------------------------ the image loader


def lane_tap(plan: Plan, v: int) -> tuple[int, int, int]:
    """First pass: virtual channel ``v = (ky·K + kx)·C + c`` → (ky, kx, c)."""
    t, c = divmod(v, plan.input_shape[2])
    ky, kx = divmod(t, plan.load_k)
    return ky, kx, c


def loader_table(plan: Plan) -> list[tuple[int, int]]:
    """Per (tap, channel), in that order: (word offset in the pixel's run, lane)."""
    F = plan.image_lanes
    return [divmod(v, F) for v in range(plan.load_k ** 2 * plan.input_shape[2])]


def load_cycles(plan: Plan) -> int:
    """Cycles to load one image: per byte, the accepting cycle plus one per kernel tap,
    and three more for the last tap's table row, grid offsets and write-port registers
    (`hw.loader`)."""
    h, w, c = plan.input_shape
    return h * w * c * (1 + plan.load_k ** 2) + 3
