"""The sequencer's lookup tables, built from a `hw.plan.Plan` (pure functions).

Each table is a small LUT ROM with an asynchronous read in the accelerator: the
descriptor table (one word per pass), the group table (one word per group of P output
channels), the per-pass PE pixel offsets of pixel-parallel depthwise passes, and the
first pass's lane → kernel tap table. Field widths are sized to the network's maxima.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import unsigned
from amaranth.lib import data

from hw.plan import MODE_DWP, Plan, lane_tap

# Per-pass descriptor fields (`hw.plan.Pass` attributes) and per-group fields, each
# with the smallest maximum its width is sized for (stride 2: strides 1 and 2 both fit).
DESC_FIELDS = dict(mode=1, first=1, last=1, src=1, ih=1, iw=1, cin=1, cg_in=1, kh=1, kw=1,
                   stride=2, pad=1, pool=1, ph=1, pw=1, cout=1, cg_out=1, drain=1,
                   px_count=1, py_count=1, oh=1, ow=1, opix=1, gsum=1)
GROUP_FIELDS = dict(cbase=1, cg_lo=1, cg_cnt=1, wo_lo=1, wo_cnt=1, steps=1, slot=1, wbase=1,
                    lastg=1)


def bits(value: int) -> int:
    """Bits of an unsigned field that holds ``value`` (at least 1)."""
    return max(1, int(value).bit_length())


def _layout(fields: dict[str, int]) -> data.StructLayout:
    return data.StructLayout({name: unsigned(bits(v)) for name, v in fields.items()})


def _pack(layout: data.StructLayout, values: dict) -> int:
    word = 0
    for name, fld in layout:
        word |= (int(values[name]) & ((1 << fld.width) - 1)) << fld.offset
    return word


@dataclass(frozen=True)
class Table:
    """A LUT ROM's contents: ``layout`` of one word, ``words``, and ``maxima`` per field."""

    layout: data.StructLayout
    words: list[int]
    maxima: dict[str, int]


def descriptor_table(plan: Plan) -> Table:
    """One word per pass."""
    maxima = dict(DESC_FIELDS)
    for p in plan.passes:
        for k in maxima:
            maxima[k] = max(maxima[k], int(getattr(p, k)))
    layout = _layout(maxima)
    words = [_pack(layout, {k: getattr(p, k) for k in maxima}) for p in plan.passes]
    return Table(layout, words, maxima)


def group_table(plan: Plan) -> Table:
    """One word per group, in pass order, plus a trailing zero word."""
    maxima = dict(GROUP_FIELDS)
    rows = []
    for p in plan.passes:
        for i, g in enumerate(p.groups):
            row = dict(cbase=g.cbase, cg_lo=g.cg_lo, cg_cnt=g.cg_cnt, wo_lo=g.wo_lo,
                       wo_cnt=g.wo_cnt, steps=g.steps, slot=g.slot, wbase=g.wbase,
                       lastg=int(i == len(p.groups) - 1))
            rows.append(row)
            for k in maxima:
                maxima[k] = max(maxima[k], row[k])
    layout = _layout(maxima)
    return Table(layout, [_pack(layout, r) for r in rows] + [0], maxima)


def pe_offset_bits(plan: Plan) -> int:
    """Width of one coordinate in `pe_offset_words`."""
    return bits(max([p.ow for p in plan.passes] + [plan.pe_count]))


def pe_offset_words(plan: Plan) -> list[int]:
    """Per pass: for PE j < P, ``(j div Wo, j mod Wo)`` in pixel-parallel passes (0
    otherwise), then the chunk step ``(P div Wo, P mod Wo)``; two `pe_offset_bits`
    fields per entry, entry j at ``2·ob·j``."""
    P, ob = plan.pe_count, pe_offset_bits(plan)
    words = []
    for p in plan.passes:
        word = 0
        for j in range(P + 1):
            jd, jm = divmod(j, p.ow) if p.mode == MODE_DWP else (0, 0)
            word |= (jd | (jm << ob)) << (2 * ob * j)
        words.append(word)
    return words


def tap_bits(plan: Plan) -> int:
    """Width of one kernel coordinate in `tap_words`."""
    return bits(max(0, plan.load_k - 1))


def tap_words(plan: Plan) -> list[int]:
    """Per word of the first pass's pixel run: every lane's kernel tap ``(ky, kx)``, two
    `tap_bits` fields per lane, lane l at ``2·kb·l`` (0 beyond the virtual channels)."""
    first, M, kb = plan.passes[0], plan.mults_per_pe, tap_bits(plan)
    words = []
    for cgw in range(first.cg_in):
        word = 0
        for lane in range(M):
            v = cgw * M + lane
            ty, tx = lane_tap(plan, v)[:2] if v < first.cin else (0, 0)
            word |= (ty | (tx << kb)) << (2 * kb * lane)
        words.append(word)
    return words
