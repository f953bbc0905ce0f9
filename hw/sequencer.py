"""The layer sequencer: walks the descriptor and group tables and issues MAC steps.

Stage S0 of the pipeline. Per pass (descriptor), per group, per output pixel (pooled
order ``(py, px, dy, dx)``, or raster chunks of P pixels in pixel-parallel passes), per
slot cycle it issues the step's control word ``ctl`` (kernel tap, input word, padding
masks, output address) and the read addresses of the activation buffers, the image
buffer and the weight/parameter ROMs. The state machine is idle → run → drain (the
pipeline empties between passes) → argmax (last pass) → done; ``cycles`` counts the run,
drain and argmax cycles.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.packing import MODE_DWP, Plan
from hw.tables import (
    bits,
    descriptor_table,
    group_table,
    pe_offset_bits,
    pe_offset_words,
    tap_bits,
    tap_words,
)

IDLE, RUN, DRAIN, ARGMAX, DONE = range(5)


class Sequencer(wiring.Component):
    """S0 for ``plan``; ``nports`` activation read ports (P in pixel-parallel designs).

    ``desc`` and ``grp`` show the current pass's and group's table words, ``ctl`` the
    control word of the step issued this cycle (valid with ``step``), ``act_addr`` the
    broadcast read address and ``pe_addr[j]`` PE j's address in pixel-parallel passes.
    """

    def __init__(self, plan: Plan, addr_bits: int, nports: int):
        self._plan, self._addr_bits, self._nports = plan, addr_bits, nports
        self.desc_table = descriptor_table(plan)
        self.group_table = group_table(plan)
        gmax = self.group_table.maxima
        self.ctl_layout = data.StructLayout({
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
        super().__init__({
            "start": In(1),
            "loader_busy": In(1),
            "argmax_last": In(1),  # the argmax scan is at its last class
            "loader_enable": Out(1),
            "loader_restart": Out(1),
            "busy": Out(1),
            "done": Out(1),
            "argmax": Out(1),  # in the argmax scan
            "argmax_start": Out(1),  # the scan begins next cycle
            "cycles": Out(32),
            "desc": Out(self.desc_table.layout),
            "grp": Out(self.group_table.layout),
            "ctl": Out(self.ctl_layout),
            "step": Out(1),
            "act_addr": Out(addr_bits + 1),
            "pe_addr": Out(data.ArrayLayout(addr_bits + 1, nports)),
            "weight_addr": Out(bits(gmax["wbase"] + gmax["steps"])),
            "param_addr": Out(range(len(self.group_table.words))),
        })

    def elaborate(self, platform):
        m = Module()
        plan = self._plan
        P, M = plan.pe_count, plan.mults_per_pe
        passes = plan.passes
        dmax, gmax = self.desc_table.maxima, self.group_table.maxima

        # ---------------------------------------------------- descriptor and group tables
        # Both are LUT ROMs with an asynchronous read (a few dozen words).
        dt, gt = self.desc_table, self.group_table
        m.submodules.desc_rom = desc_rom = Memory(shape=dt.layout.size, depth=len(dt.words),
                                                  init=dt.words)
        m.submodules.group_rom = group_rom = Memory(shape=gt.layout.size, depth=len(gt.words),
                                                    init=gt.words)
        desc_rp = desc_rom.read_port(domain="comb")
        grp_rp = group_rom.read_port(domain="comb")
        pidx = Signal(range(len(passes)))
        gidx = Signal(range(len(gt.words)))
        m.d.comb += [desc_rp.addr.eq(pidx), grp_rp.addr.eq(gidx),
                     self.desc.eq(desc_rp.data), self.grp.eq(grp_rp.data)]
        desc, grp, ctl0 = self.desc, self.grp, self.ctl

        state = Signal(range(5))
        cycles = Signal(32)
        py = Signal(bits(dmax["ph"]))
        px = Signal(bits(max(dmax["pw"], dmax["px_count"])))
        dy = Signal()
        dx = Signal()
        ky = Signal(bits(dmax["kh"]))
        kx = Signal(bits(dmax["kw"]))
        cgi = Signal(bits(gmax["cg_cnt"]))
        slot = Signal(bits(gmax["slot"]))
        wstep = Signal(bits(gmax["steps"]))
        dcnt = Signal(bits(dmax["drain"]))

        coord = signed(max(bits(dmax["ih"]), bits(dmax["iw"]),
                           bits(max(plan.input_shape[:2]))) + 4)
        oy = Signal(coord)
        ox = Signal(coord)
        iy = Signal(coord)
        ix = Signal(coord)
        m.d.comb += [
            oy.eq(Mux(desc.pool, (py << 1) | dy, py)),
            ox.eq(Mux(desc.pool, (px << 1) | dx, px)),
            iy.eq(oy * desc.stride + ky - desc.pad),
            ix.eq(ox * desc.stride + kx - desc.pad),
        ]
        running = state == RUN
        step = running & (slot < grp.steps)
        pixel_first = (py == 0) & (px == 0) & (dy == 0) & (dx == 0)
        m.d.comb += [
            self.step.eq(step),
            ctl0.valid.eq(step),
            # a summing avgpool accumulates over the whole group: one first, one last
            ctl0.first.eq((slot == 0) & (~desc.gsum | pixel_first)),
            ctl0.last.eq((slot == grp.steps - 1)
                         & (~desc.gsum | ((px == desc.px_count - 1) & (py == desc.py_count - 1)))),
            ctl0.gfirst.eq(pixel_first & (slot == 0)),
            ctl0.pad.eq((iy < 0) | (iy >= desc.ih) | (ix < 0) | (ix >= desc.iw)),
            ctl0.cg.eq(grp.cg_lo + cgi),
            ctl0.cbase.eq(grp.cbase),
            ctl0.pool_first.eq(~desc.pool | ((dy == 0) & (dx == 0))),
            ctl0.pool_last.eq(~desc.pool | (dy & dx)),
            ctl0.wo_lo.eq(grp.wo_lo),
        ]
        dwp = desc.mode == MODE_DWP
        # Pixel-parallel chunks walk the output map in raster order, P pixels at a time:
        # (cy, cx) is the chunk's first pixel; PE j adds (j div Wo, j mod Wo) from a
        # per-pass LUT, with one carry.
        cy = Signal(coord)
        cx = Signal(coord)
        ob = pe_offset_bits(plan)
        m.submodules.pe_offsets = off_rom = Memory(shape=2 * ob * (P + 1), depth=len(passes),
                                                   init=pe_offset_words(plan))
        off_rp = off_rom.read_port(domain="comb")
        m.d.comb += off_rp.addr.eq(pidx)
        offs = [(off_rp.data[2 * ob * j: 2 * ob * j + ob],
                 off_rp.data[2 * ob * j + ob: 2 * ob * (j + 1)]) for j in range(P + 1)]
        pdiv, pmod = offs[P]
        cx_wrap = Signal()
        m.d.comb += cx_wrap.eq(cx + pmod >= desc.ow)
        chunk_left = Signal(signed(bits(dmax["opix"]) + 2))
        m.d.comb += chunk_left.eq(desc.opix - px * P)
        with m.If(dwp):
            m.d.comb += [
                ctl0.out_addr.eq(Mux(desc.gsum, ctl0.cg,
                                     (cy * desc.ow + cx) * desc.cg_out + ctl0.cg)),
                ctl0.wo_cnt.eq(Mux(desc.gsum, 1, Mux(chunk_left < P, chunk_left, P))),
            ]
        with m.Else():
            m.d.comb += [
                ctl0.out_addr.eq((py * desc.pw + px) * desc.cg_out + grp.wo_lo),
                ctl0.wo_cnt.eq(grp.wo_cnt),
            ]
        # First pass: the loader unrolled the kernel into lanes; a lane whose tap lies in
        # the zero padding of output pixel (oy, ox) was never written and is masked here.
        kb = tap_bits(plan)
        taps = tap_words(plan)
        m.submodules.tap_rom = tap_rom = Memory(shape=2 * kb * M, depth=len(taps), init=taps)
        tap_rp = tap_rom.read_port(domain="comb")
        m.d.comb += tap_rp.addr.eq(ctl0.cg)
        lh, lw = plan.input_shape[:2]
        for lane in range(M):
            ty = tap_rp.data[2 * kb * lane: 2 * kb * lane + kb]
            tx = tap_rp.data[2 * kb * lane + kb: 2 * kb * (lane + 1)]
            ty_in = Signal(coord, name=f"tap_y{lane}")
            tx_in = Signal(coord, name=f"tap_x{lane}")
            m.d.comb += [ty_in.eq(oy * plan.load_stride + ty - plan.load_pad),
                         tx_in.eq(ox * plan.load_stride + tx - plan.load_pad),
                         ctl0.tap_ok[lane].eq(~desc.first | ((ty_in >= 0) & (ty_in < lh)
                                                             & (tx_in >= 0) & (tx_in < lw)))]
        m.d.comb += self.act_addr.eq((iy * desc.iw + ix) * desc.cg_in + ctl0.cg)
        for j in range(self._nports):
            # PE j's pixel in a pixel-parallel depthwise chunk
            oy_j = Signal(coord, name=f"oy_pe{j}")
            ox_j = Signal(coord, name=f"ox_pe{j}")
            iy_j = Signal(coord, name=f"iy_pe{j}")
            ix_j = Signal(coord, name=f"ix_pe{j}")
            wrap_j = Signal(name=f"wrap_pe{j}")
            jdiv, jmod = offs[j]
            m.d.comb += [
                wrap_j.eq(cx + jmod >= desc.ow),
                ox_j.eq(cx + jmod - Mux(wrap_j, desc.ow, 0)),
                oy_j.eq(cy + jdiv + wrap_j),
                iy_j.eq(oy_j * desc.stride + ky - desc.pad),
                ix_j.eq(ox_j * desc.stride + kx - desc.pad),
                self.pe_addr[j].eq((iy_j * desc.iw + ix_j) * desc.cg_in + ctl0.cg),
                ctl0.pad_pe[j].eq((iy_j < 0) | (iy_j >= desc.ih) | (ix_j < 0)
                                  | (ix_j >= desc.iw) | (oy_j >= desc.oh)),
            ]
        m.d.comb += [self.weight_addr.eq(grp.wbase + wstep), self.param_addr.eq(gidx)]

        # ------------------------------------------------------------ state machine
        # a start while the loader still writes the last byte's taps waits for it
        start_pending = Signal()
        can_start = (state == IDLE) | (state == DONE)
        with m.If(can_start & self.start & self.loader_busy):
            m.d.sync += start_pending.eq(1)
        with m.If(can_start & (self.start | start_pending) & ~self.loader_busy):
            m.d.sync += [start_pending.eq(0), state.eq(RUN), cycles.eq(0), pidx.eq(0), gidx.eq(0),
                         py.eq(0), px.eq(0), dy.eq(0), dx.eq(0), ky.eq(0), kx.eq(0),
                         cgi.eq(0), slot.eq(0), wstep.eq(0)]
        with m.If((state == RUN) | (state == DRAIN) | (state == ARGMAX)):
            m.d.sync += cycles.eq(cycles + 1)
        with m.If(running):
            with m.If(step):
                m.d.sync += wstep.eq(wstep + 1)
                with m.If(cgi == grp.cg_cnt - 1):
                    m.d.sync += cgi.eq(0)
                    with m.If(kx == desc.kw - 1):
                        m.d.sync += [kx.eq(0), ky.eq(ky + 1)]
                    with m.Else():
                        m.d.sync += kx.eq(kx + 1)
                with m.Else():
                    m.d.sync += cgi.eq(cgi + 1)
            with m.If(slot == grp.slot - 1):
                m.d.sync += [slot.eq(0), cgi.eq(0), kx.eq(0), ky.eq(0), wstep.eq(0)]
                # next output pixel, in pooled order: (dx, dy) inside (px, py)
                last_dx = ~desc.pool | dx
                last_dy = ~desc.pool | dy
                with m.If(~last_dx):
                    m.d.sync += dx.eq(1)
                with m.Else():
                    m.d.sync += dx.eq(0)
                    with m.If(~last_dy):
                        m.d.sync += dy.eq(1)
                    with m.Else():
                        m.d.sync += dy.eq(0)
                        with m.If(px != desc.px_count - 1):
                            m.d.sync += px.eq(px + 1)
                            # raster position of the next pixel-parallel chunk
                            m.d.sync += [cx.eq(cx + pmod - Mux(cx_wrap, desc.ow, 0)),
                                         cy.eq(cy + pdiv + cx_wrap)]
                        with m.Else():
                            m.d.sync += [px.eq(0), cx.eq(0), cy.eq(0)]
                            with m.If(py != desc.py_count - 1):
                                m.d.sync += py.eq(py + 1)
                            with m.Else():
                                m.d.sync += [py.eq(0), gidx.eq(gidx + 1)]
                                with m.If(grp.lastg):
                                    m.d.sync += [state.eq(DRAIN), dcnt.eq(desc.drain - 1)]
            with m.Else():
                m.d.sync += slot.eq(slot + 1)
        with m.If(state == DRAIN):
            with m.If(dcnt == 0):
                with m.If(desc.last):
                    m.d.sync += state.eq(ARGMAX)
                    m.d.comb += self.argmax_start.eq(1)
                with m.Else():
                    m.d.sync += [state.eq(RUN), pidx.eq(pidx + 1)]
            with m.Else():
                m.d.sync += dcnt.eq(dcnt - 1)
        with m.If((state == ARGMAX) & self.argmax_last):
            m.d.sync += state.eq(DONE)

        idle = (state == IDLE) | (state == DONE)
        m.d.comb += [
            self.argmax.eq(state == ARGMAX),
            self.busy.eq((state == RUN) | (state == DRAIN) | (state == ARGMAX) | start_pending),
            self.done.eq((state == DONE) & ~start_pending),
            self.cycles.eq(cycles),
            self.loader_enable.eq(idle & ~self.start & ~start_pending),
            self.loader_restart.eq(idle & (self.start | start_pending) & ~self.loader_busy),
        ]
        return m
