"""The sequencer's lookup tables, built from a `hw.plan.Plan` (pure functions).

Two small LUT ROMs: the descriptor table (one word per pass) and the group table (one
word per group of P output channels, plus a trailing zero word). Every product of two
runtime quantities the walk needs (an address increment, a coordinate reset) is
computed here, in Python, so the hardware only adds registered constants: no multiplier
or divider stands in front of a memory address. Field widths are sized to the network's
extremes; a field that takes a negative value is signed.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from hw.plan import MODE_DWP, Pass, Plan, bits


def _shape(lo: int, hi: int):
    if lo >= 0:
        return unsigned(bits(hi))
    return signed(max(bits(hi), bits(-lo - 1)) + 1)


@dataclass(frozen=True)
class Table:
    """A LUT ROM's contents: ``layout`` of one word, ``words``, and ``maxima`` per field."""

    layout: data.StructLayout
    words: list[int]
    maxima: dict[str, int]


def build_table(rows: list[dict[str, int]], floor: dict[str, int] | None = None) -> Table:
    """A table of ``rows`` (same keys each): each field as narrow as its values allow,
    at least as wide as ``floor[field]`` needs."""
    keys = list(rows[0]) if rows else list(floor or {})
    lo = {k: min([0] + [int(r[k]) for r in rows]) for k in keys}
    hi = {k: max([(floor or {}).get(k, 1)] + [int(r[k]) for r in rows]) for k in keys}
    layout = data.StructLayout({k: _shape(lo[k], hi[k]) for k in keys})
    words = []
    for row in rows:
        word = 0
        for name, fld in layout:
            word |= (int(row[name]) & ((1 << fld.width) - 1)) << fld.offset
        words.append(word)
    return Table(layout, words, hi)


def _walk_deltas(p: Pass, P: int) -> dict[str, int]:
    """Per output-pixel level: how the window's origin moves, in words (``dA``) and in
    input coordinates (``dIY``, ``dIX``).

    Outside pixel-parallel passes the pixels come in pooled order (dx, dy inside px, py);
    pixel-parallel passes walk P-column segments of each row (``px``) and the rows (``py``).
    """
    s, row = p.stride, p.iw * p.cg_in  # words per input row
    if p.mode == MODE_DWP:
        step = P * s  # input columns per segment
        # a summing average pool writes one word per group, wherever the walk is
        d_o = 0 if p.gsum else P * p.cg_out
        return dict(dA_dx=0, dA_dy=0, dA_px=step * p.cg_in,
                    dA_py=s * row - (p.px_count - 1) * step * p.cg_in,
                    dIX_dx=0, dIY_dy=0, dIX_dy=0, dIY_px=0, dIX_px=step, dIY_py=s,
                    dO_px=d_o, dO_py=0 if p.gsum else (p.ow - (p.px_count - 1) * P) * p.cg_out)
    if p.pool and p.reuse > 1:  # pixel pairs (2py+dy, 2px+{0,1}): dy 0→1, next window, row
        return dict(dA_dx=0, dA_dy=s * row, dA_px=-s * row + 2 * s * p.cg_in,
                    dA_py=s * row - 2 * (p.pw - 1) * s * p.cg_in,
                    dIX_dx=0, dIY_dy=s, dIX_dy=0, dIY_px=-s, dIX_px=2 * s, dIY_py=s,
                    dO_px=p.cg_out, dO_py=p.cg_out)
    if p.pool:  # (2py+dy, 2px+dx): dx 0→1, dy 0→1 (dx 1→0), next window, next row
        return dict(dA_dx=s * p.cg_in, dA_dy=s * row - s * p.cg_in,
                    dA_px=-s * row + s * p.cg_in, dA_py=s * row - (2 * p.pw - 1) * s * p.cg_in,
                    dIX_dx=s, dIY_dy=s, dIX_dy=-s, dIY_px=-s, dIX_px=s, dIY_py=s,
                    dO_px=p.cg_out, dO_py=p.cg_out)
    return dict(dA_dx=0, dA_dy=0, dA_px=s * p.cg_in, dA_py=s * row - (p.pw - 1) * s * p.cg_in,
                dIX_dx=0, dIY_dy=0, dIX_dy=0, dIY_px=0, dIX_px=s, dIY_py=s,
                dO_px=p.cg_out, dO_py=p.cg_out)


def descriptor_row(p: Pass, P: int) -> dict[str, int]:
    """The descriptor word of one pass (`descriptor_table`)."""
    wo_last = 0
    if p.mode == MODE_DWP:  # the pixels of a row's last segment (1: a summing avgpool)
        wo_last = 1 if p.gsum else p.ow - (p.px_count - 1) * P
    return dict(
        mode=p.mode, first=int(p.first), last=int(p.last), src=int(p.src), pool=int(p.pool),
        # cin counts lanes: a lane split k_in ways holds k_in input channels
        gsum=int(p.gsum), ih=p.ih, iw=p.iw, ow=p.ow, cin=-(-p.cin // p.k_in), cout=p.cout,
        cg_out=p.cg_out, neg_pad=-p.pad, stride=p.stride, kw_m1=p.kw - 1, kh_m1=p.kh - 1,
        px_m1=p.px_count - 1, py_m1=p.py_count - 1, wo_last=wo_last,
        # the loop counters' terminal flags, ready when a counter reloads
        kw1=int(p.kw == 1), px1=int(p.px_count == 1), py1=int(p.py_count == 1),
        dIX_ky=-(p.kw - 1), drain=p.drain, sc=p.stride * p.cg_in, **_walk_deltas(p, P))


# Fields every table has, with the smallest maximum its width is sized for (so that a
# network without, say, a strided layer still gets a field that holds the constants).
DESC_FLOOR = dict(stride=2, mode=MODE_DWP)


def width_fields(p: Pass) -> dict[str, int]:
    """A mixed-width plan's per-pass fields: the lane split read (``split_in``) and
    written (``split_out``) as log2 k, and the requantizer's limit ``top`` = 2^out_bits − 1."""
    return dict(split_in=p.k_in.bit_length() - 1, split_out=p.k_out.bit_length() - 1,
                top=0 if p.last else (1 << p.out_bits) - 1)


def reuse_fields(p: Pass) -> dict[str, int]:
    """A weight-reusing plan's per-pass fields: ``rdx`` (the pass walks the pixel pairs
    dx = 0, 1 of its pool windows step by step) and ``rgap`` (the hand-over's spacing
    minus one, `hw.plan.with_weight_reuse`)."""
    return dict(rdx=int(p.reuse > 1), rgap=p.reuse_gap)


def descriptor_table(plan: Plan) -> Table:
    """One word per pass (the width fields only where the plan mixes widths, ``pair``
    only where some pass pairs output channels, the reuse fields only where some pass
    reuses weights)."""
    mixed = plan.splits != (1,) or plan.clamps
    rows = [descriptor_row(p, plan.pe_count) | (width_fields(p) if mixed else {})
            | ({"pair": int(p.pair)} if plan.pairs else {})
            | (reuse_fields(p) if plan.reuses else {}) for p in plan.passes]
    return build_table(rows, DESC_FLOOR)


def group_row(p: Pass, g, last: bool) -> dict[str, int]:
    """The group word (`group_table`): where its walk starts and how its taps step."""
    row_words = p.iw * p.cg_in
    slot = g.slot * p.reuse  # the walker's pixel: a pair of pixels where weights are reused
    return dict(
        cbase=g.cbase, cg_lo=g.cg_lo, wo_lo=g.wo_lo, wo_cnt=g.wo_cnt, wbase=g.wbase,
        cg_m1=g.cg_cnt - 1, steps_m1=g.steps - 1, slot_m1=slot - 1, lastg=int(last),
        cg1=int(g.cg_cnt == 1), steps1=int(g.steps == 1), slot1=int(slot == 1),
        # the word of tap (0, 0) of output pixel (0, 0), input word cg_lo
        base0=(-p.pad * p.iw - p.pad) * p.cg_in + g.cg_lo,
        inc_kx=p.cg_in - (g.cg_cnt - 1),
        inc_ky=row_words - (p.kw - 1) * p.cg_in - (g.cg_cnt - 1))


def group_table(plan: Plan) -> Table:
    """One word per group, in pass order, plus a trailing zero word (read ahead)."""
    rows = [group_row(p, g, i == len(p.groups) - 1)
            for p in plan.passes for i, g in enumerate(p.groups)]
    table = build_table(rows)
    return Table(table.layout, table.words + [0], table.maxima)
