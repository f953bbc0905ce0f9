"""Write-back of requantized outputs into the ping-pong activation buffers.

Two paths, one per way a pass uses the PEs:

- `PoolWriteBack` (conv, dense, lane-select depthwise; stages R3 and W): PE j's output
  is channel ``cbase + j``. R3 keeps the running maximum of each PE's 2×2 pool window
  (pixels arrive in pooled order) and latches it on the window's last pixel; W then
  writes the ``wo_cnt`` output words of the pixel, one per cycle, each lane enabled
  when its channel belongs to this group.
- `LaneCollector` (pixel-parallel depthwise and summing average pool): every PE's
  requantizer delivers its M lanes one per cycle; once the last lane is in, the P
  words (one output pixel each) are written one per cycle.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.tables import bits


class PoolWriteBack(wiring.Component):
    """R3 (pool, latch) and W (write words) for passes whose PE j computes one channel.

    ``ctl`` is the pixel's sequencer control word as it leaves the requantizer
    (``pool_first``, ``pool_last``, ``out_addr``, ``wo_lo``, ``wo_cnt``, ``cbase``), valid
    with ``y_valid``. ``addr``/``data``/``en`` drive a buffer write port while ``active``.
    """

    def __init__(self, q: int, pe_count: int, mults_per_pe: int, addr_bits: int,
                 ctl_layout: data.StructLayout, wo_cnt_max: int, cg_out_max: int,
                 cout_bits: int):
        self._q, self._P, self._M = q, pe_count, mults_per_pe
        self._wo_cnt_max, self._cg_out_max = wo_cnt_max, cg_out_max
        self._ctl_layout = ctl_layout
        super().__init__({
            "y": In(data.ArrayLayout(q, pe_count)),
            "y_valid": In(1),
            "ctl": In(ctl_layout),
            "cout": In(cout_bits),
            "active": Out(1),
            "addr": Out(addr_bits),
            "data": Out(data.ArrayLayout(q, mults_per_pe)),
            "en": Out(mults_per_pe),
        })

    def elaborate(self, platform):
        m = Module()
        q, P, M = self._q, self._P, self._M
        pool_max = [Signal(q, name=f"pool_max{j}") for j in range(P)]
        wb_vals = [Signal(q, name=f"wb_val{j}") for j in range(P)]
        wb_k = Signal(bits(self._wo_cnt_max))
        wb_ctl = Signal(self._ctl_layout)
        m.d.comb += self.addr.eq(wb_ctl.out_addr + wb_k)
        wb_vals_arr = Array(wb_vals)
        for lane in range(M):
            ch = Signal(range((self._cg_out_max + 1) * M + 1), name=f"wb_ch{lane}")
            rel = Signal(signed(ch.shape().width + 2), name=f"wb_rel{lane}")
            m.d.comb += [ch.eq((wb_ctl.wo_lo + wb_k) * M + lane), rel.eq(ch - wb_ctl.cbase)]
            m.d.comb += [
                self.en[lane].eq((rel >= 0) & (rel < P) & (ch < self.cout)),
                self.data[lane].eq(wb_vals_arr[rel[:bits(P)]]),
            ]
        with m.If(self.active):
            with m.If(wb_k == wb_ctl.wo_cnt - 1):
                m.d.sync += self.active.eq(0)
            m.d.sync += wb_k.eq(wb_k + 1)

        # the write-back latch comes last: a new pixel's latch wins over the old's end
        with m.If(self.y_valid):
            for j in range(P):
                y = self.y[j]
                final = Mux(self.ctl.pool_first | (y > pool_max[j]), y, pool_max[j])
                m.d.sync += pool_max[j].eq(final)
                with m.If(self.ctl.pool_last):
                    m.d.sync += wb_vals[j].eq(final)
            with m.If(self.ctl.pool_last):
                m.d.sync += [self.active.eq(1), wb_k.eq(0), wb_ctl.eq(self.ctl)]
        return m


class LaneCollector(wiring.Component):
    """Pixel-parallel write-back: assemble each PE's word from its requantized lanes.

    ``lane`` (the lane entering the requantizers) and ``meta`` (the chunk's control word,
    taken at hand-over) are delayed by the requantizer's two stages here; ``y`` carries
    lane ``lane − 2`` of every PE while ``y_valid``. After the last lane, PE j's word is
    written at ``out_addr + j·cg_out`` for the chunk's ``wo_cnt`` pixels; lanes beyond
    ``cout`` stay disabled.
    """

    def __init__(self, q: int, pe_count: int, mults_per_pe: int, addr_bits: int,
                 ctl_layout: data.StructLayout, cg_out_bits: int, cout_bits: int):
        self._q, self._P, self._M = q, pe_count, mults_per_pe
        self._ctl_layout = ctl_layout
        super().__init__({
            "y": In(data.ArrayLayout(q, pe_count)),
            "y_valid": In(1),
            "lane": In(range(max(2, mults_per_pe))),
            "meta": In(ctl_layout),
            "cg_out": In(cg_out_bits),
            "cout": In(cout_bits),
            "we": Out(1),
            "addr": Out(addr_bits),
            "data": Out(q * mults_per_pe),
            "en": Out(mults_per_pe),
        })

    def elaborate(self, platform):
        m = Module()
        q, P, M = self._q, self._P, self._M
        y_k = Signal(range(max(2, M)))  # lane of the requantizer outputs (2 cycles late)
        y_k1 = Signal(range(max(2, M)))
        m.d.sync += [y_k1.eq(self.lane), y_k.eq(y_k1)]
        # the chunk's metadata follows its last lane through the requantizer's 2 stages
        meta_d1 = Signal(self._ctl_layout)
        meta_b = Signal(self._ctl_layout)
        meta_w = Signal(self._ctl_layout)
        m.d.sync += [meta_d1.eq(self.meta), meta_b.eq(meta_d1)]
        stage = [[Signal(q, name=f"dwp_y{j}_{lane}") for lane in range(M)] for j in range(P)]
        words = [Signal(q * M, name=f"dwp_word{j}") for j in range(P)]
        dw_active = Signal()
        dw_k = Signal(range(max(2, P)))
        for j in range(P):
            for lane in range(M):
                with m.If(self.y_valid & (y_k == lane)):
                    m.d.sync += stage[j][lane].eq(self.y[j])
        with m.If(dw_active):
            m.d.sync += dw_k.eq(dw_k + 1)
            with m.If(dw_k == P - 1):
                m.d.sync += dw_active.eq(0)
        with m.If(self.y_valid & (y_k == M - 1)):
            m.d.sync += [dw_active.eq(1), dw_k.eq(0), meta_w.eq(meta_b)]
            for j in range(P):
                lanes = [stage[j][lane] for lane in range(M - 1)] + [self.y[j]]
                m.d.sync += words[j].eq(Cat(*lanes))
        m.d.comb += [
            self.we.eq(dw_active & (dw_k < meta_w.wo_cnt)),
            self.addr.eq(meta_w.out_addr + dw_k * self.cg_out),
            self.data.eq(Array(words)[dw_k]),
        ]
        for lane in range(M):
            m.d.comb += self.en[lane].eq(meta_w.cg * M + lane < self.cout)
        return m
