"""Stage S0's two halves: the loop nest that walks a pass, and the address generator.

`LoopNest` holds the counters of the walk: per group, per output pixel (pooled order
``(py, px, dy, dx)``, or raster chunks of P pixels ``(cy, cx)`` in pixel-parallel passes),
per slot cycle, with the kernel tap ``(ky, kx)`` and the input word ``cgi`` inside a slot.
`AddressGenerator` turns the counters into the step's control word (padding masks, output
address, first/last flags) and the read addresses of the buffers and ROMs.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.plan import MODE_DWP, Plan
from hw.tables import Table, bits, pe_offset_bits, tap_bits, tap_words


def coord_shape(plan: Plan, desc: Table) -> signed:
    """Signed coordinates that hold any map index, padding offset and pooled doubling."""
    dmax = desc.maxima
    return signed(max(bits(dmax["ih"]), bits(dmax["iw"]), bits(max(plan.input_shape[:2]))) + 4)


def position_layout(plan: Plan, desc: Table, groups: Table) -> data.StructLayout:
    """The loop counters of `LoopNest`, as one struct."""
    dmax, gmax = desc.maxima, groups.maxima
    coord = coord_shape(plan, desc)
    return data.StructLayout({
        "py": bits(dmax["ph"]), "px": bits(max(dmax["pw"], dmax["px_count"])),
        "dy": 1, "dx": 1, "ky": bits(dmax["kh"]), "kx": bits(dmax["kw"]),
        "cgi": bits(gmax["cg_cnt"]), "slot": bits(gmax["slot"]), "wstep": bits(gmax["steps"]),
        "cy": coord, "cx": coord,
    })


class LoopNest(wiring.Component):
    """The counters of a pass walk; they advance on every ``run`` cycle.

    ``restart`` rewinds to the network's first group (not the chunk raster, which every
    pass leaves at (0, 0)). ``step`` is high while the slot still issues MAC steps;
    ``pass_end`` in the last slot cycle of the pass's last pixel of its last group, when
    ``gidx`` moves on to the next pass's first group. ``chunk_step`` is ``(P div Wo,
    P mod Wo)`` of the pass (pixel-parallel chunks).
    """

    def __init__(self, plan: Plan, desc: Table, groups: Table, ob: int):
        self._pos_layout = position_layout(plan, desc, groups)
        self._ob = ob
        super().__init__({
            "desc": In(desc.layout), "grp": In(groups.layout),
            "chunk_step": In(2 * ob), "run": In(1), "restart": In(1),
            "pos": Out(self._pos_layout), "gidx": Out(range(len(groups.words))),
            "step": Out(1), "pass_end": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        grp, pos = self.grp, self.pos
        ob = self._ob
        pdiv, pmod = self.chunk_step[:ob], self.chunk_step[ob:]
        slot_end = pos.slot == grp.slot - 1
        m.d.comb += self.step.eq(self.run & (pos.slot < grp.steps))
        with m.If(self.restart):
            m.d.sync += [self.gidx.eq(0), pos.py.eq(0), pos.px.eq(0), pos.dy.eq(0),
                         pos.dx.eq(0), pos.ky.eq(0), pos.kx.eq(0), pos.cgi.eq(0),
                         pos.slot.eq(0), pos.wstep.eq(0)]
        with m.If(self.run):
            with m.If(self.step):
                self._next_step(m)
            with m.If(slot_end):
                m.d.sync += [pos.slot.eq(0), pos.cgi.eq(0), pos.kx.eq(0), pos.ky.eq(0),
                             pos.wstep.eq(0)]
                self._next_pixel(m, pdiv, pmod)
            with m.Else():
                m.d.sync += pos.slot.eq(pos.slot + 1)
        return m

    def _next_step(self, m):
        """Within a slot: next input word, then next kernel tap."""
        desc, grp, pos = self.desc, self.grp, self.pos
        m.d.sync += pos.wstep.eq(pos.wstep + 1)
        with m.If(pos.cgi == grp.cg_cnt - 1):
            m.d.sync += pos.cgi.eq(0)
            with m.If(pos.kx == desc.kw - 1):
                m.d.sync += [pos.kx.eq(0), pos.ky.eq(pos.ky + 1)]
            with m.Else():
                m.d.sync += pos.kx.eq(pos.kx + 1)
        with m.Else():
            m.d.sync += pos.cgi.eq(pos.cgi + 1)

    def _next_pixel(self, m, pdiv, pmod):
        """Next output pixel in pooled order, (dx, dy) inside (px, py); then the next group."""
        desc, grp, pos = self.desc, self.grp, self.pos
        cx_wrap = pos.cx + pmod >= desc.ow
        with m.If(~(~desc.pool | pos.dx)):
            m.d.sync += pos.dx.eq(1)
        with m.Else():
            m.d.sync += pos.dx.eq(0)
            with m.If(~(~desc.pool | pos.dy)):
                m.d.sync += pos.dy.eq(1)
            with m.Else():
                m.d.sync += pos.dy.eq(0)
                with m.If(pos.px != desc.px_count - 1):
                    # raster position of the next pixel-parallel chunk
                    m.d.sync += [pos.px.eq(pos.px + 1),
                                 pos.cx.eq(pos.cx + pmod - Mux(cx_wrap, desc.ow, 0)),
                                 pos.cy.eq(pos.cy + pdiv + cx_wrap)]
                with m.Else():
                    m.d.sync += [pos.px.eq(0), pos.cx.eq(0), pos.cy.eq(0)]
                    with m.If(pos.py != desc.py_count - 1):
                        m.d.sync += pos.py.eq(pos.py + 1)
                    with m.Else():
                        m.d.sync += [pos.py.eq(0), self.gidx.eq(self.gidx + 1)]
                        m.d.comb += self.pass_end.eq(grp.lastg)


def control_layout(plan: Plan, groups: Table, addr_bits: int,
                   nports: int) -> data.StructLayout:
    """The control word of one MAC step, as it travels down the pipeline beside the data."""
    gmax = groups.maxima
    return data.StructLayout({
        "valid": 1, "first": 1, "last": 1, "gfirst": 1, "pad": 1,
        "cg": unsigned(bits(gmax["cg_lo"] + gmax["cg_cnt"])),
        "cbase": unsigned(bits(gmax["cbase"])),
        "pool_first": 1, "pool_last": 1,
        "out_addr": unsigned(addr_bits),
        "wo_lo": unsigned(bits(gmax["wo_lo"])),
        "wo_cnt": unsigned(bits(gmax["wo_cnt"])),
        "tap_ok": unsigned(plan.mults_per_pe),
        "pad_pe": unsigned(nports),
    })


class AddressGenerator(wiring.Component):
    """The step at ``pos``: its control word ``ctl`` and every read address.

    ``act_addr`` is the broadcast activation (or image) word, ``pe_addr[j]`` PE j's own
    word in pixel-parallel passes, ``weight_addr`` the group's weight word. ``offsets``
    holds, for PE j ≤ P, ``(j div Wo, j mod Wo)`` of pixel-parallel passes (`hw.tables`).
    """

    def __init__(self, plan: Plan, desc: Table, groups: Table, addr_bits: int, nports: int,
                 ob: int):
        self._plan, self._desc, self._nports, self._ob = plan, desc, nports, ob
        self.ctl_layout = control_layout(plan, groups, addr_bits, nports)
        gmax = groups.maxima
        super().__init__({
            "desc": In(desc.layout), "grp": In(groups.layout),
            "pos": In(position_layout(plan, desc, groups)),
            "offsets": In(2 * ob * (plan.pe_count + 1)), "step": In(1),
            "ctl": Out(self.ctl_layout),
            "act_addr": Out(addr_bits + 1),
            "pe_addr": Out(data.ArrayLayout(addr_bits + 1, nports)),
            "weight_addr": Out(bits(gmax["wbase"] + gmax["steps"])),
        })

    def elaborate(self, platform):
        m = Module()
        desc, grp, pos, ctl = self.desc, self.grp, self.pos, self.ctl
        coord = coord_shape(self._plan, self._desc)
        oy, ox, iy, ix = (Signal(coord, name=n) for n in ("oy", "ox", "iy", "ix"))
        m.d.comb += [
            oy.eq(Mux(desc.pool, (pos.py << 1) | pos.dy, pos.py)),
            ox.eq(Mux(desc.pool, (pos.px << 1) | pos.dx, pos.px)),
            iy.eq(oy * desc.stride + pos.ky - desc.pad),
            ix.eq(ox * desc.stride + pos.kx - desc.pad),
        ]
        pixel_first = (pos.py == 0) & (pos.px == 0) & (pos.dy == 0) & (pos.dx == 0)
        group_end = (pos.px == desc.px_count - 1) & (pos.py == desc.py_count - 1)
        m.d.comb += [
            ctl.valid.eq(self.step),
            # a summing avgpool accumulates over the whole group: one first, one last
            ctl.first.eq((pos.slot == 0) & (~desc.gsum | pixel_first)),
            ctl.last.eq((pos.slot == grp.steps - 1) & (~desc.gsum | group_end)),
            ctl.gfirst.eq(pixel_first & (pos.slot == 0)),
            ctl.pad.eq((iy < 0) | (iy >= desc.ih) | (ix < 0) | (ix >= desc.iw)),
            ctl.cg.eq(grp.cg_lo + pos.cgi),
            ctl.cbase.eq(grp.cbase),
            ctl.pool_first.eq(~desc.pool | ((pos.dy == 0) & (pos.dx == 0))),
            ctl.pool_last.eq(~desc.pool | (pos.dy & pos.dx)),
            ctl.wo_lo.eq(grp.wo_lo),
            self.act_addr.eq((iy * desc.iw + ix) * desc.cg_in + ctl.cg),
            self.weight_addr.eq(grp.wbase + pos.wstep),
        ]
        self._output_address(m)
        self._first_pass_taps(m, oy, ox, coord)
        self._pixel_parallel(m, coord)
        return m

    def _output_address(self, m):
        """Where the pixel's outputs go: pooled grid, or a pixel-parallel chunk's pixel."""
        desc, grp, pos, ctl = self.desc, self.grp, self.pos, self.ctl
        P = self._plan.pe_count
        chunk_left = Signal(signed(bits(self._desc.maxima["opix"]) + 2))
        m.d.comb += chunk_left.eq(desc.opix - pos.px * P)
        with m.If(desc.mode == MODE_DWP):
            m.d.comb += [
                ctl.out_addr.eq(Mux(desc.gsum, ctl.cg,
                                    (pos.cy * desc.ow + pos.cx) * desc.cg_out + ctl.cg)),
                ctl.wo_cnt.eq(Mux(desc.gsum, 1, Mux(chunk_left < P, chunk_left, P))),
            ]
        with m.Else():
            m.d.comb += [
                ctl.out_addr.eq((pos.py * desc.pw + pos.px) * desc.cg_out + grp.wo_lo),
                ctl.wo_cnt.eq(grp.wo_cnt),
            ]

    def _first_pass_taps(self, m, oy, ox, coord):
        """First pass: the loader unrolled the kernel into lanes; a lane whose tap lies in
        the zero padding of output pixel (oy, ox) was never written and is masked here."""
        plan, desc, ctl = self._plan, self.desc, self.ctl
        kb = tap_bits(plan)
        taps = tap_words(plan)
        m.submodules.tap_rom = tap_rom = Memory(shape=2 * kb * plan.mults_per_pe,
                                                depth=len(taps), init=taps)
        tap_rp = tap_rom.read_port(domain="comb")
        m.d.comb += tap_rp.addr.eq(ctl.cg)
        lh, lw = plan.input_shape[:2]
        for lane in range(plan.mults_per_pe):
            ty = tap_rp.data[2 * kb * lane: 2 * kb * lane + kb]
            tx = tap_rp.data[2 * kb * lane + kb: 2 * kb * (lane + 1)]
            ty_in = Signal(coord, name=f"tap_y{lane}")
            tx_in = Signal(coord, name=f"tap_x{lane}")
            m.d.comb += [ty_in.eq(oy * plan.load_stride + ty - plan.load_pad),
                         tx_in.eq(ox * plan.load_stride + tx - plan.load_pad),
                         ctl.tap_ok[lane].eq(~desc.first | ((ty_in >= 0) & (ty_in < lh)
                                                            & (tx_in >= 0) & (tx_in < lw)))]

    def _pixel_parallel(self, m, coord):
        """PE j's pixel in a pixel-parallel depthwise chunk: (cy, cx) plus (j div Wo,
        j mod Wo), with one carry; its read address and padding mask."""
        desc, pos, ctl, ob = self.desc, self.pos, self.ctl, self._ob
        for j in range(self._nports):
            jdiv = self.offsets[2 * ob * j: 2 * ob * j + ob]
            jmod = self.offsets[2 * ob * j + ob: 2 * ob * (j + 1)]
            oy_j, ox_j, iy_j, ix_j = (Signal(coord, name=f"{n}_pe{j}")
                                      for n in ("oy", "ox", "iy", "ix"))
            wrap_j = Signal(name=f"wrap_pe{j}")
            m.d.comb += [
                wrap_j.eq(pos.cx + jmod >= desc.ow),
                ox_j.eq(pos.cx + jmod - Mux(wrap_j, desc.ow, 0)),
                oy_j.eq(pos.cy + jdiv + wrap_j),
                iy_j.eq(oy_j * desc.stride + pos.ky - desc.pad),
                ix_j.eq(ox_j * desc.stride + pos.kx - desc.pad),
                self.pe_addr[j].eq((iy_j * desc.iw + ix_j) * desc.cg_in + ctl.cg),
                ctl.pad_pe[j].eq((iy_j < 0) | (iy_j >= desc.ih) | (ix_j < 0)
                                 | (ix_j >= desc.iw) | (oy_j >= desc.oh)),
            ]


def offsets_width(plan: Plan) -> int:
    """Bits of one `hw.tables.pe_offset_words` entry, all P + 1 of them."""
    return 2 * pe_offset_bits(plan) * (plan.pe_count + 1)
