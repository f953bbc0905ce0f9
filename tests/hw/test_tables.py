"""The sequencer's tables (`hw.tables`): every field decodes back to the plan."""

import pytest

from hw.plan import MODE_DWP, lane_tap, plan_network
from hw.tables import (
    descriptor_table,
    group_table,
    pe_offset_bits,
    pe_offset_words,
    tap_bits,
    tap_words,
)
from intnet.arch import network_specs


def _field(layout, word, name):
    fld = layout[name]
    return (word >> fld.offset) & ((1 << fld.width) - 1)


@pytest.mark.parametrize("arch,q,pe,mult", [("mobilenet", 1, 8, 8), ("vgg", 3, 3, 5),
                                            ("mobilenet", 2, 16, 4)])
def test_tables_decode_to_the_plan(arch, q, pe, mult):
    plan = plan_network(network_specs(arch, 1.0, (28, 28, 1), 10), q, pe, mult)
    desc = descriptor_table(plan)
    for p, word in zip(plan.passes, desc.words, strict=True):
        for name in desc.maxima:
            assert _field(desc.layout, word, name) == int(getattr(p, name)), (p.name, name)
    grp = group_table(plan)
    groups = [(g, i == len(p.groups) - 1) for p in plan.passes for i, g in enumerate(p.groups)]
    assert len(grp.words) == len(groups) + 1 and grp.words[-1] == 0
    for (g, last), word in zip(groups, grp.words, strict=False):
        assert _field(grp.layout, word, "lastg") == int(last)
        for name in ("cbase", "cg_lo", "cg_cnt", "wo_lo", "wo_cnt", "steps", "slot", "wbase"):
            assert _field(grp.layout, word, name) == getattr(g, name)
    ob = pe_offset_bits(plan)
    mask = (1 << ob) - 1
    for p, word in zip(plan.passes, pe_offset_words(plan), strict=True):
        for j in range(pe + 1):
            entry = word >> (2 * ob * j)
            want = divmod(j, p.ow) if p.mode == MODE_DWP else (0, 0)
            assert (entry & mask, (entry >> ob) & mask) == want
    kb = tap_bits(plan)
    for cgw, word in enumerate(tap_words(plan)):
        for lane in range(mult):
            v = cgw * mult + lane
            if v < plan.passes[0].cin:
                entry = word >> (2 * kb * lane)
                assert (entry & ((1 << kb) - 1), (entry >> kb) & ((1 << kb) - 1)) == \
                    lane_tap(plan, v)[:2]
