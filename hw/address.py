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

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
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


def walk_layout(desc: Table, groups: Table, addr_bits: int,
                reuse: bool = False) -> data.StructLayout:
    """What the walker hands to the issue stage about the current cycle (``r``: the
    second pixel of a pair, in designs where some pass reuses weights)."""
    gmax = groups.maxima
    return data.StructLayout(({"r": 1} if reuse else {}) | {
        "step": 1, "slot_first": 1, "last_step": 1, "pixel_first": 1, "group_end": 1,
        "pool_first": 1, "pool_last": 1, "seg_last": 1,
        "a": addr_shape(addr_bits, groups), "iy": coord_shape(desc), "ix": coord_shape(desc),
        "ox": unsigned(bits(desc.maxima["ow"]) + 1),
        "w": unsigned(bits(gmax["wbase"] + gmax["steps_m1"] + 1)),
        "o": unsigned(addr_bits), "cg": unsigned(bits(gmax["cg_lo"] + gmax["cg_m1"])),
        "cbase": unsigned(bits(gmax["cbase"])), "wo_lo": unsigned(bits(gmax["wo_lo"])),
        "wo_cnt": unsigned(bits(max(gmax["wo_cnt"], desc.maxima["wo_last"]))),
    })


class _Down:
    """A down-counter with a registered terminal flag: ``zero`` is a flip-flop, so the
    loop levels' wrap conditions start from registers, not from comparators."""

    def __init__(self, width: int, name: str):
        self.value = Signal(max(1, width), name=f"{name}_left")
        self.zero = Signal(name=f"{name}_zero")

    def reload(self, m, value, is_zero):
        m.d.sync += [self.value.eq(value), self.zero.eq(is_zero)]

    def count(self, m):
        m.d.sync += [self.value.eq(self.value - 1), self.zero.eq(self.value == 1)]


class Walker(wiring.Component):
    """The loop nest of the current pass (S0a); advances on every ``run`` cycle.

    ``init`` (one cycle, with ``desc`` and ``grp`` loaded) sets up the pass's first group,
    ``prime`` marks the cycle before it (the sequencer's LOAD);
    later groups start from ``grp_next`` when the walk leaves a group's last pixel
    (``group_switch``, a comb pulse); ``pass_end`` marks the pass's last cycle.
    """

    def __init__(self, plan: Plan, desc: Table, groups: Table, addr_bits: int):
        self._plan, self._desc, self._groups = plan, desc, groups
        self.walk_layout = walk_layout(desc, groups, addr_bits, plan.reuses)
        super().__init__({
            "desc": In(desc.layout), "grp": In(groups.layout), "grp_next": In(groups.layout),
            "prime": In(1), "init": In(1), "run": In(1),
            "cur": Out(self.walk_layout), "group_switch": Out(1), "pass_end": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cur = self.cur
        dmax, gmax = self._desc.maxima, self._groups.maxima
        c = {name: _Down(bits(mx), name) for name, mx in (
            ("cg", gmax["cg_m1"]), ("kx", dmax["kw_m1"]), ("slot", gmax["slot_m1"]),
            ("steps", gmax["steps_m1"]), ("px", dmax["px_m1"]), ("py", dmax["py_m1"]))}
        dx, dy = Signal(name="dx"), Signal(name="dy")
        grp = Signal(self.grp.shape(), name="grp")  # the group being walked
        # which loop level wraps this cycle (each implies the ones inside it)
        wrap_cg = c["cg"].zero
        wrap_kx = wrap_cg & c["kx"].zero
        slot_end = c["slot"].zero
        # how far the next pixel advance reaches, as a thermometer of registers set when
        # the pixel starts: ≥ dy (the window's dx wraps), ≥ px, ≥ py, the group's end
        reach = Signal(4, name="reach")
        wrap_dx, wrap_dy = slot_end & reach[0], slot_end & reach[1]
        wrap_px = slot_end & reach[2]
        # a pixel (group) starts on ``init`` or when the slot (the group's last slot) ends:
        # flip-flops set a cycle ahead (`_starts`), so no decode stands before the adders
        pixel_start, group_start = Signal(name="pixel_start"), Signal(name="group_start")
        stepping = self.run & cur.step & ~slot_end
        advance = self._pairs(m, stepping, pixel_start)
        m.d.comb += [self.group_switch.eq(group_start & ~self.init & ~grp.lastg),
                     self.pass_end.eq(group_start & ~self.init & grp.lastg)]
        # the group a starting pixel belongs to: the pass's first, or the next one
        word = Signal(self.grp.shape(), name="start_word")
        m.d.comb += word.eq(Mux(self.init, self.grp, self.grp_next))
        now = Signal(self.grp.shape(), name="pixel_group")
        m.d.comb += now.eq(Mux(group_start, word, grp))
        with m.If(group_start):
            m.d.sync += grp.eq(word)
        next_reach = self._counters(m, c, dx, dy, reach, now, grp, group_start, pixel_start,
                                    advance, wrap_cg, wrap_kx, wrap_dx, wrap_dy, wrap_px)
        self._starts(m, c["slot"], now, reach, next_reach, pixel_start, group_start)
        self._position(m, now, grp, next_reach, group_start, pixel_start, advance, wrap_cg,
                       wrap_kx, wrap_dy, wrap_px)
        return m

    def _pairs(self, m, stepping, pixel_start):
        """Weight reuse: in a pass with ``rdx`` the walker's pixel is a pair (dx = 0, 1)
        whose steps alternate, ``cur.r`` saying which; the step's taps, words and
        addresses advance after the second (returned: when they advance)."""
        if not self._plan.reuses:
            return stepping
        r = self.cur.r
        with m.If(pixel_start):
            m.d.sync += r.eq(0)
        with m.Elif(stepping):
            m.d.sync += r.eq(self.desc.rdx & ~r)
        return stepping & (~self.desc.rdx | r)

    def _dx_done(self, next_dx):
        """Whether the next pixel ends its pool window's row: dx = 1, or a pair."""
        return next_dx | self.desc.rdx if self._plan.reuses else next_dx

    def _starts(self, m, slot, now, reach, next_reach, pixel_start, group_start):
        """``pixel_start``/``group_start`` of the next cycle into their flip-flops: INIT
        follows LOAD (``prime``), RUN follows INIT and lasts until the pass ends, and a
        pixel starts in RUN when its slot counter's terminal flag will be set (the flag's
        next value, as `_Down` and `_counters` load it)."""
        run_next = self.init | (self.run & ~self.pass_end)
        slot_zero_next = Mux(pixel_start, now.slot1, Mux(self.run, slot.value == 1, slot.zero))
        reach3_next = Mux(pixel_start, next_reach[3], reach[3])
        m.d.sync += [
            pixel_start.eq(self.prime | (run_next & slot_zero_next)),
            group_start.eq(self.prime | (run_next & slot_zero_next & reach3_next)),
        ]

    def _widest(self, prefix: str) -> signed:
        """A signed shape that holds every descriptor field named ``prefix_*``."""
        widths = [fld.width for name, fld in self._desc.layout if name.startswith(prefix + "_")]
        return signed(max(widths) + 1)

    def _counters(self, m, c, dx, dy, reach, now, grp, group_start, pixel_start, stepping,
                  wrap_cg, wrap_kx, wrap_dx, wrap_dy, wrap_px):
        """The loop counters and the step's flags; returns the next pixel's reach.

        ``now`` is the group of a starting pixel (late: it waits for ``group_start``);
        inside a pixel the group is the register ``grp``, which keeps the step's adders
        off that path."""
        desc, cur = self.desc, self.cur
        run_end = pixel_start & ~group_start  # the next pixel of the same group
        with m.If(pixel_start):
            c["cg"].reload(m, now.cg_m1, now.cg1)
            c["kx"].reload(m, desc.kw_m1, desc.kw1)
            c["slot"].reload(m, now.slot_m1, now.slot1)
            c["steps"].reload(m, now.steps_m1, now.steps1)
            m.d.sync += [cur.step.eq(1), cur.slot_first.eq(1), cur.last_step.eq(now.steps1)]
        with m.Elif(self.run):
            c["slot"].count(m)
            with m.If(stepping):
                c["steps"].count(m)
                m.d.sync += [cur.slot_first.eq(0), cur.step.eq(~c["steps"].zero),
                             cur.last_step.eq(c["steps"].value == 1)]
                with m.If(~wrap_cg):
                    c["cg"].count(m)
                with m.Else():  # inside a pixel: the group register, not `now`
                    c["cg"].reload(m, grp.cg_m1, grp.cg1)
                    with m.If(~wrap_kx):
                        c["kx"].count(m)
                    with m.Else():
                        c["kx"].reload(m, desc.kw_m1, desc.kw1)
        # the output pixel: pooled order (dx, dy inside px, py), or row segments
        next_dx = Signal(name="next_dx")
        next_dy = Signal(name="next_dy")
        px_zero, py_zero = Signal(name="next_px_zero"), Signal(name="next_py_zero")
        m.d.comb += [
            next_dx.eq(Mux(group_start, 0, desc.pool & ~wrap_dx)),
            next_dy.eq(Mux(group_start, 0, Mux(wrap_dx, desc.pool & ~wrap_dy & ~dy, dy))),
            px_zero.eq(Mux(group_start | wrap_px, desc.px1,
                           Mux(wrap_dy, c["px"].value == 1, c["px"].zero))),
            py_zero.eq(Mux(group_start, desc.py1, Mux(wrap_px, c["py"].value == 1,
                                                      c["py"].zero))),
        ]
        dx_done = self._dx_done(next_dx)
        reach1 = ~desc.pool | dx_done
        reach2 = reach1 & (~desc.pool | next_dy)
        reach3 = reach2 & px_zero
        next_reach = Cat(reach1, reach2, reach3, reach3 & py_zero)
        with m.If(pixel_start):
            m.d.sync += reach.eq(next_reach)
            m.d.sync += [dx.eq(next_dx), dy.eq(next_dy),
                         cur.pixel_first.eq(group_start),
                         cur.pool_first.eq(~desc.pool | (~next_dx & ~next_dy)),
                         cur.pool_last.eq(~desc.pool | (dx_done & next_dy)),
                         cur.group_end.eq(px_zero & py_zero
                                          & (~desc.pool | (dx_done & next_dy)))]
            with m.If(group_start | wrap_px):
                c["px"].reload(m, desc.px_m1, desc.px1)
                m.d.sync += cur.seg_last.eq(desc.px1)
            with m.Elif(wrap_dy):
                c["px"].count(m)
                m.d.sync += cur.seg_last.eq(c["px"].value == 1)
            with m.If(group_start):
                c["py"].reload(m, desc.py_m1, desc.py1)
            with m.Elif(run_end & wrap_px):
                c["py"].count(m)
        return next_reach

    def _position(self, m, now, grp, lv, group_start, pixel_start, stepping, wrap_cg, wrap_kx,
                  wrap_dy, wrap_px):
        """The step's addresses and coordinates: adders fed by registers and constants."""
        desc, cur = self.desc, self.cur
        P = self._plan.pe_count
        base = Signal(cur.a.shape(), name="base")  # the current output pixel's first word
        iy0, ix0 = Signal(cur.iy.shape(), name="iy0"), Signal(cur.ix.shape(), name="ix0")
        # the window origin moves by the level's constant (tables._walk_deltas), chosen when
        # the pixel starts for the advance that ends it: registers feed the adders
        d_a, d_iy, d_ix = (Signal(self._widest(prefix), name=f"d_{prefix[1:].lower()}")
                           for prefix in ("dA", "dIY", "dIX"))
        with m.If(pixel_start):
            m.d.sync += [
                d_a.eq(Mux(lv[2], desc.dA_py, Mux(lv[1], desc.dA_px, Mux(lv[0], desc.dA_dy,
                                                                        desc.dA_dx)))),
                d_iy.eq(Mux(lv[2], desc.dIY_py, Mux(lv[1], desc.dIY_px,
                                                    Mux(lv[0], desc.dIY_dy, 0)))),
                d_ix.eq(Mux(lv[1], desc.dIX_px, Mux(lv[0], desc.dIX_dy, desc.dIX_dx))),
            ]
        new_base, new_iy0, new_ix0 = Signal.like(base), Signal.like(iy0), Signal.like(ix0)
        m.d.comb += [  # adders of registers; a group's start chooses after them
            new_base.eq(Mux(group_start, now.base0, base + d_a)),
            new_iy0.eq(Mux(group_start, desc.neg_pad, iy0 + d_iy)),
            new_ix0.eq(Mux(group_start | wrap_px, desc.neg_pad, ix0 + d_ix)),
        ]
        step_a = cur.a + Mux(wrap_cg, Mux(wrap_kx, grp.inc_ky, grp.inc_kx), 1)
        with m.If(pixel_start):
            m.d.sync += [base.eq(new_base), iy0.eq(new_iy0), ix0.eq(new_ix0),
                         cur.a.eq(new_base), cur.iy.eq(new_iy0), cur.ix.eq(new_ix0),
                         cur.w.eq(now.wbase), cur.cg.eq(now.cg_lo)]
        with m.Elif(stepping):
            m.d.sync += [cur.a.eq(step_a), cur.w.eq(cur.w + 1),
                         cur.cg.eq(Mux(wrap_cg, grp.cg_lo, cur.cg + 1))]
            with m.If(wrap_kx):
                m.d.sync += [cur.iy.eq(cur.iy + 1), cur.ix.eq(cur.ix + desc.dIX_ky)]
            with m.Elif(wrap_cg):
                m.d.sync += cur.ix.eq(cur.ix + 1)
        with m.If(group_start):
            m.d.sync += [cur.o.eq(now.wo_lo), cur.ox.eq(0), cur.cbase.eq(now.cbase),
                         cur.wo_lo.eq(now.wo_lo), cur.wo_cnt.eq(now.wo_cnt)]
        with m.Elif(pixel_start & wrap_dy):  # a new (pooled) output pixel: the next word
            m.d.sync += [cur.o.eq(cur.o + Mux(wrap_px, desc.dO_py, desc.dO_px)),
                         cur.ox.eq(Mux(wrap_px, 0, cur.ox + P))]


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


def memory_ports(addr_bits: int, nports: int, groups: Table) -> dict:
    """What the memories see of an issued step: the activation read (one address, or one
    per PE in pixel-parallel passes), the image and weight reads, and their enables."""
    gmax = groups.maxima
    return {
        "act_addr": Out(addr_bits), "act_en": Out(data.ArrayLayout(1, 2)),
        "image_en": Out(1),
        "pe_addr": Out(data.ArrayLayout(addr_bits, nports)),
        "pe_en": Out(data.ArrayLayout(data.ArrayLayout(1, nports), 2)),
        "weight_addr": Out(bits(gmax["wbase"] + gmax["steps_m1"] + 1)),
        "weight_en": Out(1),
    }


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
        super().__init__({
            "desc": In(desc.layout),
            "cur": In(walk_layout(desc, groups, addr_bits, plan.reuses)),
            "gidx": In(range(len(groups.words))), "run": In(1), "init": In(1),
            "ctl": Out(self.ctl_layout), **memory_ports(addr_bits, nports, groups),
        })

    def elaborate(self, platform):
        m = Module()
        desc, cur, ctl = self.desc, self.cur, self.ctl
        valid = self.run & cur.step
        pad = Signal()
        ix, a = cur.ix, cur.a
        gfirst, pool_first, pool_last, weight_en = (
            cur.slot_first & cur.pixel_first, cur.pool_first, cur.pool_last, valid)
        if self._plan.reuses:  # a pair's second step: its own column, the same weight word
            col_pad, a = self._pair_pixel(m)
            first_of_pair, pair_last = ~cur.r, cur.r | ~desc.rdx
            gfirst, pool_first = gfirst & first_of_pair, pool_first & first_of_pair
            pool_last, weight_en = pool_last & pair_last, valid & first_of_pair
            m.d.comb += pad.eq(cur.iy[-1] | (cur.iy >= desc.ih) | col_pad)
        else:
            m.d.comb += pad.eq(cur.iy[-1] | (cur.iy >= desc.ih) | ix[-1] | (ix >= desc.iw))
        dwp = desc.mode == MODE_DWP
        last_word = Mux(cur.seg_last, desc.wo_last, cur.wo_cnt)
        m.d.sync += [
            ctl.valid.eq(valid),
            # a summing avgpool accumulates over the whole group: one first, one last
            ctl.first.eq(cur.slot_first & (~desc.gsum | cur.pixel_first)),
            ctl.last.eq(cur.last_step & (~desc.gsum | cur.group_end)),
            ctl.gfirst.eq(gfirst),
            ctl.pad.eq(pad), ctl.pool_first.eq(pool_first),
            ctl.pool_last.eq(pool_last), ctl.cg.eq(cur.cg), ctl.cbase.eq(cur.cbase),
            ctl.out_addr.eq(cur.o), ctl.wo_lo.eq(cur.wo_lo),
            ctl.wo_cnt.eq(Mux(dwp, last_word, cur.wo_cnt)),
            ctl.gidx.eq(self.gidx),
            self.act_addr.eq(a[:self._addr_bits]),
            self.image_en.eq(valid & desc.first),
            self.weight_addr.eq(cur.w), self.weight_en.eq(weight_en),
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

    def _pair_pixel(self, m):
        """Weight reuse: the step's column padding and word address ``(col_pad, a)``; a
        pair's second pixel (``cur.r``) is ``stride`` columns, ``sc`` words right of the
        walker's. Its padding is ix + stride < 0 or ≥ iw, i.e. the walker's column against
        the row's bounds moved left by ``stride`` (latched on ``init``), and it is
        registered a cycle ahead: the walker's column holds from the pair's first step
        to its second (`Walker._pairs`), so the second step's padding costs one multiplexer
        after the first's comparators. (Adding ``stride`` and comparing in the step's own
        cycle set the clock: ECP5 97.9 MHz, iCE40 39.5 MHz.)"""
        cur, desc = self.cur, self.desc
        lo, hi = Signal.like(cur.ix, name="pair_ix_lo"), Signal.like(cur.ix, name="pair_ix_hi")
        with m.If(self.init):
            m.d.sync += [lo.eq(-desc.stride), hi.eq(desc.iw - desc.stride)]
        second = Signal(name="pair_second_pad")  # valid on the pair's second step
        m.d.sync += second.eq((cur.ix < lo) | (cur.ix >= hi))
        col_pad, a = Signal(name="pair_col_pad"), Signal.like(cur.a, name="pair_a")
        m.d.comb += [col_pad.eq(Mux(cur.r, second, cur.ix[-1] | (cur.ix >= desc.iw))),
                     a.eq(cur.a + Mux(cur.r, desc.sc, 0))]
        return col_pad, a

    def _pixel_parallel(self, m, valid, pad, dwp):
        """PE j reads the pixel j columns right of PE 0's (same row): its own address, and
        its own padding (also beyond the row's end); returns PE 0's read condition."""
        desc, cur, ctl = self.desc, self.cur, self.ctl
        row_pad = cur.iy[-1] | (cur.iy >= desc.ih)
        own0 = Signal()
        for j in range(self._nports):
            offset = Signal(cur.a.shape(), name=f"offset_pe{j}")  # j·s·cg_in words
            with m.If(self.init):
                m.d.sync += offset.eq(desc.sc * j)
            ix_j = Signal(cur.ix.shape(), name=f"ix_pe{j}")
            pad_j = Signal(name=f"pad_pe{j}")
            m.d.comb += [
                ix_j.eq(cur.ix + Mux(desc.stride == 2, 2 * j, j)),
                pad_j.eq(row_pad | ix_j[-1] | (ix_j >= desc.iw) | (cur.ox + j >= desc.ow)),
            ]
            m.d.sync += ctl.pad_pe[j].eq(pad_j)
            if j == 0:
                m.d.comb += own0.eq(~pad_j)
                continue
            m.d.sync += self.pe_addr[j].eq((cur.a + offset)[:self._addr_bits])
            for b in range(2):
                m.d.sync += self.pe_en[b][j].eq(valid & (desc.src == b) & dwp & ~pad_j)
        return own0
