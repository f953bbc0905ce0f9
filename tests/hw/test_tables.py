"""The sequencer's tables (`hw.tables`): every field decodes back to its value, and the
precomputed walk increments reproduce every step's address and coordinates."""

import pytest

from hw.plan import MODE_DWP, plan_network
from hw.tables import build_table, descriptor_row, descriptor_table, group_row, group_table
from intnet.arch import network_specs
from intnet.synthetic import EVERY_KIND_SPECS

PLANS = [("mobilenet", 1, 8, 8), ("vgg", 3, 3, 5), ("mobilenet", 2, 16, 4),
         ("mobilenet", 2, 3, 5), ("vgg", 2, 1, 1)]


def _decode(layout, word):
    out = {}
    for name, fld in layout:
        value = (word >> fld.offset) & ((1 << fld.width) - 1)
        if fld.shape.signed and value >> (fld.width - 1):
            value -= 1 << fld.width
        out[name] = value
    return out


def _plan(arch, q, pe, mult):
    return plan_network(network_specs(arch, 1.0, (28, 28, 1), 10), q, pe, mult)


@pytest.mark.parametrize("arch,q,pe,mult", PLANS)
def test_tables_decode_to_their_rows(arch, q, pe, mult):
    plan = _plan(arch, q, pe, mult)
    desc = descriptor_table(plan)
    for p, word in zip(plan.passes, desc.words, strict=True):
        assert _decode(desc.layout, word) == descriptor_row(p, pe)
    grp = group_table(plan)
    rows = [group_row(p, g, i == len(p.groups) - 1)
            for p in plan.passes for i, g in enumerate(p.groups)]
    assert len(grp.words) == len(rows) + 1 and grp.words[-1] == 0
    for row, word in zip(rows, grp.words, strict=False):
        assert _decode(grp.layout, word) == row


def test_signed_fields_and_floors():
    table = build_table([dict(a=-5, b=3), dict(a=2, b=0)], floor=dict(b=9))
    assert table.layout["a"].shape.signed and table.layout["a"].width == 4
    assert not table.layout["b"].shape.signed and table.layout["b"].width == 4
    assert [_decode(table.layout, w) for w in table.words] == [dict(a=-5, b=3), dict(a=2, b=0)]


def _segments(p, pe_count):
    """Output pixels (PE 0's in pixel-parallel passes) in walk order: (oy, ox, level)
    where level names the loop that moved to reach it."""
    if p.mode == MODE_DWP:
        for y in range(p.py_count):
            for x in range(p.px_count):
                yield y, x * pe_count, "py" if x == 0 and y else "px" if x else None
        return
    pool = 2 if p.pool else 1
    for py in range(p.py_count):
        for px in range(p.px_count):
            for dy in range(pool):
                for dx in range(pool):
                    level = ("dx" if dx else "dy" if dy else "px" if px else "py" if py
                             else None)
                    yield py * pool + dy, px * pool + dx, level


@pytest.mark.parametrize("specs,pe,mult", [
    (network_specs("vgg", 0.5, (9, 7, 1), 4), 2, 3),
    (network_specs("mobilenet", 0.5, (9, 11, 1), 4), 4, 2),
    (EVERY_KIND_SPECS, 3, 2), (EVERY_KIND_SPECS, 1, 1)])
def test_walk_increments_reproduce_every_window(specs, pe, mult):
    """Adding the table's constants, as the walker does, lands on each pixel's window."""
    plan = plan_network(specs, 2, pe, mult)
    for p in plan.passes:
        d = descriptor_row(p, pe)
        for g in p.groups:
            row = group_row(p, g, False)
            a, iy, ix = row["base0"], d["neg_pad"], d["neg_pad"]
            for oy, ox, level in _segments(p, pe):
                if level is not None:
                    a += d[f"dA_{level}"]
                    iy += d.get(f"dIY_{level}", 0)
                    ix = d["neg_pad"] if level == "py" else ix + d.get(f"dIX_{level}", 0)
                assert (iy, ix) == (oy * p.stride - p.pad, ox * p.stride - p.pad)
                assert a == (iy * p.iw + ix) * p.cg_in + g.cg_lo
                # inside the slot: words, then tap columns, then tap rows
                t_a = a
                for ky in range(p.kh):
                    for kx in range(p.kw):
                        for cgi in range(g.cg_cnt):
                            want = ((iy + ky) * p.iw + ix + kx) * p.cg_in + g.cg_lo + cgi
                            assert t_a == want
                            if cgi < g.cg_cnt - 1:
                                t_a += 1
                            elif kx < p.kw - 1:
                                t_a += row["inc_kx"]
                            else:
                                t_a += row["inc_ky"]
