"""Weight, bias and requantize words of a planned network: what the ROMs hold.

Every PE has a weight memory of ``M·q``-bit words (lane ``l`` in bits ``[q·l, q·l+q)``,
two's complement; q = 1 stores bit 1 for +1, 0 for −1) for every pass after the first,
a small one of ``F·q``-bit words for the first pass (its F 8-bit-input lanes,
`hw.plan.image_lanes`), and a parameter memory of one
`PARAM_BITS` word per group: the bias (``BIAS_BITS``), then ``m`` (`M_BITS`) and ``n``
(`N_BITS`). `hw.memfiles` writes them as ``$readmemh`` files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.plan import MODE_DWP, Plan, lane_tap, network_q, pair_lanes, plan_network
from intnet.contract import BIAS_BITS, M_BITS, N_MAX

N_BITS = N_MAX.bit_length()  # the requantize shift field holds 1..N_MAX
PARAM_BITS = BIAS_BITS + M_BITS + N_BITS


def _encode_weight(value: int, q: int) -> int:
    """A q-bit lane: two's complement for q ≥ 2; for q = 1 bit 1 ↔ +1, bit 0 ↔ −1."""
    if q == 1:
        return 1 if value > 0 else 0
    return int(value) & ((1 << q) - 1)


@dataclass
class Packed:
    """ROM contents: ``first_weights[pe]`` (the first pass, F lanes a word), ``weights[pe]``
    (every later pass, M lanes a word) and ``params[pe]`` word lists, and their map."""

    plan: Plan
    first_weights: list[list[int]]
    weights: list[list[int]]
    params: list[list[int]]
    weight_map: list[dict]  # which pass / group / words each address range holds

    def mem_files(self) -> dict[str, list[int]]:
        files = {}
        for kind in ("first_weights", "weights", "params"):
            for j, words in enumerate(getattr(self, kind)):
                files[f"{kind}_pe{j}.mem"] = words
        return files


def _layer_by_name(network, name):
    for layer in network.layers:
        if layer.name == name:
            return layer
    raise KeyError(name)


def sub_lane_offset(position: int, q: int, k: int) -> int:
    """Bit offset of value ``position`` in a word of q-bit lanes split k ways: lane
    ``position // k``, sub-lane ``position % k`` of ``q // k`` bits (k = 1: lane l at q·l)."""
    return (position // k) * q + (position % k) * (q // k)


def param_bits(plan: Plan) -> int:
    """A parameter-ROM word: `PARAM_BITS` per channel, `Plan.params_per_word` channels
    (a paired pass's second channel in the upper half)."""
    return PARAM_BITS * plan.params_per_word


def _group_words(plan: Plan, p, g, c: int, w, q: int, lanes: int, k: int = 1,
                 at: int = 0) -> list[int]:
    """The weight words of channel ``c`` in group ``g``: per tap, per input word, ``lanes``
    values of ``q // k`` bits (input channel ``(cg_lo + cgi)·lanes + lane``, at
    `sub_lane_offset` of value ``at + lane``)."""
    words = []
    for ky in range(p.kh):
        for kx in range(p.kw):
            for cgi in range(g.cg_cnt):
                word = 0
                for lane in range(lanes):
                    v = (g.cg_lo + cgi) * lanes + lane
                    value = 0
                    if c < p.cout and v < p.cin:
                        if p.first and p.kind == "conv":
                            ty, tx, ci = lane_tap(plan, v)
                            value = int(w[c, ty, tx, ci])
                        elif p.kind in ("conv", "dense"):
                            value = int(w[c, ky, kx, v])
                        elif v == c:
                            value = 1 if p.kind == "avgpool" else int(w[c, ky, kx])
                    word |= _encode_weight(value, q // k) << sub_lane_offset(at + lane, q, k)
                words.append(word)
    return words


def pack_network(network, pe_count: int, mults_per_pe: int, q: int | None = None,
                 weight_reuse: bool = False) -> Packed:
    """Plan ``network`` on lanes of ``q`` bits (default: its widest layer, `network_q`;
    ``weight_reuse``: `hw.plan.plan_network`) and pack its weights, biases and requantize
    parameters."""
    q = network_q(network) if q is None else q
    plan = plan_network(network.layers, q, pe_count, mults_per_pe, weight_reuse)
    P, M = pe_count, mults_per_pe
    first = [[] for _ in range(P)]
    weights = [[] for _ in range(P)]
    params = [[] for _ in range(P)]
    wmap = []
    for p in plan.passes:
        layer = _layer_by_name(network, p.name)
        w = None if layer.w is None else np.asarray(layer.w, dtype=np.int64)
        if p.kind == "dense":  # [Nout, H·W·C] → [Nout, H, W, C]: dense is a conv over the map
            w = w.reshape(p.cout, p.kh, p.kw, -1)
        rom = first if p.first else weights
        for gi, g in enumerate(p.groups):
            if p.mode == MODE_DWP:
                _pack_dwp_group(p, g, gi, w, layer, q, P, M, rom, params, wmap)
                continue
            per_group = 2 * P if p.pair else P
            wmap.append({"pass": p.name, "layers": list(p.layer_names), "group": gi,
                         "rom": "first_weights" if p.first else "weights",
                         "channels": [g.cbase, min(g.cbase + per_group, p.cout) - 1],
                         "weight_words": [g.wbase, g.wbase + g.steps - 1]}
                        | ({"paired": True} if p.pair else {}))
            for j in range(P):
                rom[j] += _pe_words(plan, p, g, j, w, q)
                word = _channel_params(p, layer, g.cbase + j)
                if p.pair:
                    word |= _channel_params(p, layer, g.cbase + P + j) << PARAM_BITS
                params[j].append(word)
    return Packed(plan, first, weights, params, wmap)


def _pe_words(plan: Plan, p, g, j: int, w, q: int) -> list[int]:
    """PE j's weight words of group ``g``: channel ``cbase + j`` on every lane, or, in a
    paired pass, on lanes 0 … H−1 with channel ``cbase + P + j`` on lanes H … 2H−1 (the
    input channels fill the k·H values of one half: `hw.plan.pairs_channels`)."""
    c = g.cbase + j
    if p.first:
        return _group_words(plan, p, g, c, w, q, plan.image_lanes)
    k, M = p.k_in, plan.mults_per_pe
    if not p.pair:
        return _group_words(plan, p, g, c, w, q, k * M, k)
    half = k * pair_lanes(M)
    low = _group_words(plan, p, g, c, w, q, half, k)
    high = _group_words(plan, p, g, c + plan.pe_count, w, q, half, k, at=half)
    return [a | b for a, b in zip(low, high, strict=True)]


def _channel_params(p, layer, c: int) -> int:
    """The parameter word of output channel ``c`` (zeros, n = 1, beyond the pass's)."""
    b = m_ = 0
    n_ = 1
    if c < p.cout:
        if layer.b is not None:
            b = int(layer.b[c])
        if not p.last:
            m_, n_ = int(layer.m[c]), int(layer.n[c])
    return _param_word(b, m_, n_)


def _param_word(b: int, m: int, n: int) -> int:
    return (b & ((1 << BIAS_BITS) - 1)) | (m << BIAS_BITS) | (n << (BIAS_BITS + M_BITS))


def _pack_dwp_group(p, g, gi, w, layer, q, P, M, weights, params, wmap):
    """MODE_DWP: PE 0's memory holds the tap words (value v = channel cbase + v, k_in·M
    of them at `sub_lane_offset`), broadcast to every PE; PE l < M holds the bias/m/n of
    the k_in channels of lane l's sub-lanes, ``cbase + l·k_in + i`` in `PARAM_BITS`
    slice i of its word."""
    k = p.k_in
    wmap.append({"pass": p.name, "layers": list(p.layer_names), "group": gi,
                 "channels": [g.cbase, min(g.cbase + k * M, p.cout) - 1],
                 "rom": "weights", "weight_words": [g.wbase, g.wbase + g.steps - 1],
                 "pixel_parallel": True} | ({"lane_split": k} if k > 1 else {}))
    for ky in range(p.kh):
        for kx in range(p.kw):
            word = 0
            for v in range(k * M):
                c = g.cbase + v
                if c < p.cout:
                    value = 1 if p.gsum else int(w[c, ky, kx])
                    word |= _encode_weight(value, q // k) << sub_lane_offset(v, q, k)
            weights[0].append(word)
            for j in range(1, P):
                weights[j].append(0)
    for j in range(P):
        word = 0
        for i in range(k):  # zeros with n = 1 where no channel is
            c = g.cbase + j * k + i
            b, m_, n_ = 0, 0, 1
            if j < M and c < p.cout:
                b = 0 if layer.b is None else int(layer.b[c])
                m_, n_ = int(layer.m[c]), int(layer.n[c])
            word |= _param_word(b, m_, n_) << (i * PARAM_BITS)
        params[j].append(word)
