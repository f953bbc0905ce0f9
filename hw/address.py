"""Stage S0: the walk of a pass, in registers, and the step it issues.

`Walker` (S0a) holds the loop counters of the walk — per group, per output pixel (pooled
order ``(py, px, dy, dx)``, or P-column segments of each row in pixel-parallel passes),
per slot cycle, with the input word and the kernel tap inside a slot — and, beside them,
the step's activation word address, input coordinates, weight address and output
address. Every one of those moves by a constant of the pass or the group
(`hw.tables`), chosen by which loop level advances: an adder and a multiplexer, never a
multiplier, in front of a register. Counters count down to zero, so "last" is a
zero-detect of a register.

`StepIssue` (S0b) registers what the memories see: the read addresses and enables, the
padding flags (a tap outside the map is a zero operand, not a read), and the step's
control word that travels down the pipeline beside the data.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.plan import MODE_DWP, Plan
from hw.tables import Table, bits


def coord_shape(desc: Table) -> signed:
    """Signed input coordinates: any map index, minus the padding, plus a segment."""
    m = desc.maxima
    return signed(bits(max(m["ih"], m["iw"], m["dIX_px"], m["dIY_py"]) * 2 + 8) + 1)


def addr_shape(addr_bits: int, groups: Table) -> signed:
    """Signed word addresses: the window's origin starts above the map (padding)."""
    return signed(max(addr_bits, bits(abs(groups.maxima["base0"]))) + 2)


def walk_layout(desc: Table, groups: Table, addr_bits: int) -> data.StructLayout:
    """What the walker hands to the issue stage about the current cycle."""
    gmax = groups.maxima
    return data.StructLayout({
        "step": 1, "slot_first": 1, "last_step": 1, "pixel_first": 1, "group_end": 1,
        "pool_first": 1, "pool_last": 1, "seg_last": 1,
        "a": addr_shape(addr_bits, groups), "iy": coord_shape(desc), "ix": coord_shape(desc),
        "ox": unsigned(bits(desc.maxima["ow"]) + 1),
        "w": unsigned(bits(gmax["wbase"] + gmax["steps_m1"] + 1)),
        "o": unsigned(addr_bits), "cg": unsigned(bits(gmax["cg_lo"] + gmax["cg_m1"])),
        "cbase": unsigned(bits(gmax["cbase"])), "wo_lo": unsigned(bits(gmax["wo_lo"])),
        "wo_cnt": unsigned(bits(max(gmax["wo_cnt"], desc.maxima["wo_last"]))),
    })


class Walker(wiring.Component):
    """The loop nest of the current pass (S0a); advances on every ``run`` cycle.

    ``init`` (one cycle, with ``desc`` and ``grp`` loaded) sets up the pass's first group;
    later groups start from ``grp_next`` when the walk leaves a group's last pixel
    (``group_switch``, a comb pulse); ``pass_end`` marks the pass's last cycle.
    """

    def __init__(self, plan: Plan, desc: Table, groups: Table, addr_bits: int):
        self._plan, self._desc, self._groups = plan, desc, groups
        self.walk_layout = walk_layout(desc, groups, addr_bits)
        dmax, gmax = desc.maxima, groups.maxima
        self._counters = data.StructLayout({
            "cg": bits(gmax["cg_m1"]), "kx": bits(dmax["kw_m1"]), "ky": bits(dmax["kh_m1"]),
            "slot": bits(gmax["slot_m1"]), "steps": bits(gmax["steps_m1"]) + 1,
            "px": bits(dmax["px_m1"]), "py": bits(dmax["py_m1"]), "dx": 1, "dy": 1,
        })
        super().__init__({
            "desc": In(desc.layout), "grp": In(groups.layout), "grp_next": In(groups.layout),
            "init": In(1), "run": In(1),
            "cur": Out(self.walk_layout), "group_switch": Out(1), "pass_end": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        desc, cur = self.desc, self.cur
        left = Signal(self._counters)  # down-counters of the loop levels
        base = Signal(cur.a.shape())  # the current output pixel's first word
        iy0, ix0 = Signal(cur.iy.shape()), Signal(cur.ix.shape())  # its window origin
        grp = Signal(self.grp.shape())  # the group being walked
        # which loop level wraps this cycle (each implies the ones inside it)
        wrap_cg = left.cg == 0
        wrap_kx = wrap_cg & (left.kx == 0)
        slot_end = left.slot == 0
        wrap_dx = slot_end & (~desc.pool | left.dx)
        wrap_dy = wrap_dx & (~desc.pool | left.dy)
        wrap_px = wrap_dy & (left.px == 0)
        wrap_py = wrap_px & (left.py == 0)
        m.d.comb += [self.group_switch.eq(self.run & wrap_py & ~grp.lastg),
                     self.pass_end.eq(self.run & wrap_py & grp.lastg)]
        with m.If(self.init):
            self._start_group(m, left, base, iy0, ix0, grp, self.grp)
        with m.Elif(self.run):
            with m.If(wrap_py):
                self._start_group(m, left, base, iy0, ix0, grp, self.grp_next)
            with m.Elif(slot_end):
                self._next_pixel(m, left, base, iy0, ix0, grp, wrap_dx, wrap_dy, wrap_px)
            with m.Else():
                m.d.sync += left.slot.eq(left.slot - 1)
                with m.If(cur.step):
                    self._next_step(m, left, grp, wrap_cg, wrap_kx)
        return m

    def _start_group(self, m, left, base, iy0, ix0, grp, word):
        """The group's first pixel, first slot cycle."""
        desc, cur = self.desc, self.cur
        m.d.sync += [
            grp.eq(word), base.eq(word.base0), iy0.eq(desc.neg_pad), ix0.eq(desc.neg_pad),
            left.cg.eq(word.cg_m1), left.kx.eq(desc.kw_m1), left.ky.eq(desc.kh_m1),
            left.slot.eq(word.slot_m1), left.steps.eq(word.steps_m1),
            left.px.eq(desc.px_m1), left.py.eq(desc.py_m1), left.dx.eq(0), left.dy.eq(0),
            cur.step.eq(1), cur.slot_first.eq(1), cur.pixel_first.eq(1),
            cur.last_step.eq(word.steps_m1 == 0),
            cur.group_end.eq((desc.px_m1 == 0) & (desc.py_m1 == 0) & ~desc.pool),
            cur.pool_first.eq(1), cur.pool_last.eq(~desc.pool),
            cur.seg_last.eq(desc.px_m1 == 0),
            cur.a.eq(word.base0), cur.iy.eq(desc.neg_pad), cur.ix.eq(desc.neg_pad),
            cur.ox.eq(0), cur.w.eq(word.wbase), cur.o.eq(word.wo_lo), cur.cg.eq(word.cg_lo),
            cur.cbase.eq(word.cbase), cur.wo_lo.eq(word.wo_lo), cur.wo_cnt.eq(word.wo_cnt),
        ]

    def _next_pixel(self, m, left, base, iy0, ix0, grp, wrap_dx, wrap_dy, wrap_px):
        """The next output pixel (or pixel-parallel segment) of the group."""
        desc, cur = self.desc, self.cur
        P = self._plan.pe_count
        # the window origin moves by the level's constant (tables._walk_deltas)
        dA = Mux(wrap_px, desc.dA_py, Mux(wrap_dy, desc.dA_px, Mux(wrap_dx, desc.dA_dy,
                                                                   desc.dA_dx)))
        dIY = Mux(wrap_px, desc.dIY_py, Mux(wrap_dy, desc.dIY_px, Mux(wrap_dx, desc.dIY_dy, 0)))
        new_base, new_iy0 = base + dA, iy0 + dIY
        new_ix0 = Mux(wrap_px, desc.neg_pad,
                      ix0 + Mux(wrap_dy, desc.dIX_px, Mux(wrap_dx, desc.dIX_dy, desc.dIX_dx)))
        next_dx = ~wrap_dx  # dx 0 → 1 inside a pooled window
        next_dy = Mux(wrap_dx, ~wrap_dy & ~left.dy, left.dy)
        next_px = Mux(wrap_dy, Mux(wrap_px, desc.px_m1, left.px - 1), left.px)
        next_py = Mux(wrap_px, left.py - 1, left.py)
        m.d.sync += [
            base.eq(new_base), iy0.eq(new_iy0), ix0.eq(new_ix0),
            left.dx.eq(next_dx & desc.pool), left.dy.eq(next_dy & desc.pool),
            left.px.eq(next_px), left.py.eq(next_py),
            left.cg.eq(grp.cg_m1), left.kx.eq(desc.kw_m1), left.ky.eq(desc.kh_m1),
            left.slot.eq(grp.slot_m1), left.steps.eq(grp.steps_m1),
            cur.step.eq(1), cur.slot_first.eq(1), cur.pixel_first.eq(0),
            cur.last_step.eq(grp.steps_m1 == 0),
            cur.pool_first.eq(~desc.pool | (~next_dx & ~next_dy)),
            cur.pool_last.eq(~desc.pool | (next_dx & next_dy)),
            cur.a.eq(new_base), cur.iy.eq(new_iy0), cur.ix.eq(new_ix0),
            cur.w.eq(grp.wbase), cur.cg.eq(grp.cg_lo),
        ]
        with m.If(wrap_dy):  # a new (pooled) output pixel: the output word moves on
            m.d.sync += [cur.o.eq(cur.o + Mux(wrap_px, desc.dO_py, desc.dO_px)),
                         cur.ox.eq(Mux(wrap_px, 0, cur.ox + P)),
                         cur.seg_last.eq(next_px == 0)]
        # the last pixel of the group: both counters at 0 and, pooled, the window's last
        m.d.sync += cur.group_end.eq((next_px == 0) & (next_py == 0)
                                     & (~desc.pool | (next_dx & next_dy)))

    def _next_step(self, m, left, grp, wrap_cg, wrap_kx):
        """Inside a slot: the next input word, else the next tap column, else row."""
        desc, cur = self.desc, self.cur
        m.d.sync += [cur.w.eq(cur.w + 1), left.steps.eq(left.steps - 1),
                     cur.slot_first.eq(0), cur.last_step.eq(left.steps == 1),
                     cur.step.eq(left.steps != 0)]
        with m.If(~wrap_cg):
            m.d.sync += [left.cg.eq(left.cg - 1), cur.a.eq(cur.a + 1), cur.cg.eq(cur.cg + 1)]
        with m.Elif(~wrap_kx):
            m.d.sync += [left.cg.eq(grp.cg_m1), left.kx.eq(left.kx - 1),
                         cur.a.eq(cur.a + grp.inc_kx), cur.ix.eq(cur.ix + 1),
                         cur.cg.eq(grp.cg_lo)]
        with m.Else():
            m.d.sync += [left.cg.eq(grp.cg_m1), left.kx.eq(desc.kw_m1),
                         left.ky.eq(left.ky - 1), cur.a.eq(cur.a + grp.inc_ky),
                         cur.iy.eq(cur.iy + 1), cur.ix.eq(cur.ix + desc.dIX_ky),
                         cur.cg.eq(grp.cg_lo)]


def control_layout(plan: Plan, desc: Table, groups: Table, addr_bits: int,
                   nports: int) -> data.StructLayout:
    """The control word of one MAC step, as it travels down the pipeline beside the data."""
    gmax = groups.maxima
    return data.StructLayout({
        "valid": 1, "first": 1, "last": 1, "gfirst": 1, "pad": 1,
        "pool_first": 1, "pool_last": 1,
        "cg": unsigned(bits(gmax["cg_lo"] + gmax["cg_m1"])),
        "cbase": unsigned(bits(gmax["cbase"])),
        "out_addr": unsigned(addr_bits),
        "wo_lo": unsigned(bits(gmax["wo_lo"])),
        "wo_cnt": unsigned(bits(max(gmax["wo_cnt"], desc.maxima["wo_last"]))),
        "gidx": unsigned(bits(len(groups.words) - 1)),
        "pad_pe": unsigned(nports),
    })


class StepIssue(wiring.Component):
    """S0b: the registered inputs of the memories and the step's control word ``ctl``.

    ``act_addr``/``act_en[b]`` read ping-pong buffer b (port 0: the broadcast word, or
    PE 0's in pixel-parallel passes); ``pe_addr[j]``/``pe_en[b][j]`` PE j's own word
    (pixel-parallel designs, j ≥ 1); ``image_en`` the first pass's image word (at
    ``act_addr``); ``weight_addr``/``weight_en`` every PE's weight ROM.
    """

    def __init__(self, plan: Plan, desc: Table, groups: Table, addr_bits: int, nports: int):
        self._plan, self._nports, self._addr_bits = plan, nports, addr_bits
        self.ctl_layout = control_layout(plan, desc, groups, addr_bits, nports)
        self._desc, self._groups = desc, groups
        gmax = groups.maxima
        super().__init__({
            "desc": In(desc.layout), "cur": In(walk_layout(desc, groups, addr_bits)),
            "gidx": In(range(len(groups.words))), "run": In(1), "init": In(1),
            "ctl": Out(self.ctl_layout),
            "act_addr": Out(addr_bits), "act_en": Out(data.ArrayLayout(1, 2)),
            "image_en": Out(1),
            "pe_addr": Out(data.ArrayLayout(addr_bits, nports)),
            "pe_en": Out(data.ArrayLayout(data.ArrayLayout(1, nports), 2)),
            "weight_addr": Out(bits(gmax["wbase"] + gmax["steps_m1"] + 1)),
            "weight_en": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        desc, cur, ctl = self.desc, self.cur, self.ctl
        valid = self.run & cur.step
        pad = Signal()
        m.d.comb += pad.eq((cur.iy < 0) | (cur.iy >= desc.ih) | (cur.ix < 0)
                           | (cur.ix >= desc.iw))
        dwp = desc.mode == MODE_DWP
        last_word = Mux(cur.seg_last, desc.wo_last, cur.wo_cnt)
        m.d.sync += [
            ctl.valid.eq(valid),
            # a summing avgpool accumulates over the whole group: one first, one last
            ctl.first.eq(cur.slot_first & (~desc.gsum | cur.pixel_first)),
            ctl.last.eq(cur.last_step & (~desc.gsum | cur.group_end)),
            ctl.gfirst.eq(cur.slot_first & cur.pixel_first),
            ctl.pad.eq(pad), ctl.pool_first.eq(cur.pool_first),
            ctl.pool_last.eq(cur.pool_last), ctl.cg.eq(cur.cg), ctl.cbase.eq(cur.cbase),
            ctl.out_addr.eq(cur.o), ctl.wo_lo.eq(cur.wo_lo),
            ctl.wo_cnt.eq(Mux(dwp, last_word, cur.wo_cnt)),
            ctl.gidx.eq(self.gidx),
            self.act_addr.eq(cur.a[:self._addr_bits]),
            self.image_en.eq(valid & desc.first),
            self.weight_addr.eq(cur.w), self.weight_en.eq(valid),
        ]
        if self._nports > 1:
            own0 = self._pixel_parallel(m, valid, pad, dwp)
        else:  # one port: a pixel-parallel segment (P = 1) is PE 0's pixel alone
            m.d.sync += ctl.pad_pe[0].eq(pad)
            own0 = ~pad
        for b in range(2):
            m.d.sync += self.act_en[b].eq(valid & (desc.src == b) & ~desc.first
                                          & Mux(dwp, own0, ~pad))
        return m

    def _pixel_parallel(self, m, valid, pad, dwp):
        """PE j reads the pixel j columns right of PE 0's (same row): its own address, and
        its own padding (also beyond the row's end); returns PE 0's read condition."""
        desc, cur, ctl = self.desc, self.cur, self.ctl
        row_pad = (cur.iy < 0) | (cur.iy >= desc.ih)
        own0 = Signal()
        for j in range(self._nports):
            offset = Signal(cur.a.shape(), name=f"offset_pe{j}")  # j·s·cg_in words
            with m.If(self.init):
                m.d.sync += offset.eq(desc.sc * j)
            ix_j = Signal(cur.ix.shape(), name=f"ix_pe{j}")
            pad_j = Signal(name=f"pad_pe{j}")
            m.d.comb += [
                ix_j.eq(cur.ix + Mux(desc.stride == 2, 2 * j, j)),
                pad_j.eq(row_pad | (ix_j < 0) | (ix_j >= desc.iw) | (cur.ox + j >= desc.ow)),
            ]
            m.d.sync += ctl.pad_pe[j].eq(pad_j)
            if j == 0:
                m.d.comb += own0.eq(~pad_j)
                continue
            m.d.sync += self.pe_addr[j].eq((cur.a + offset)[:self._addr_bits])
            for b in range(2):
                m.d.sync += self.pe_en[b][j].eq(valid & (desc.src == b) & dwp & ~pad_j)
        return own0
