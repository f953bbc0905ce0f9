"""Image loader: streams uint8 pixels (H, W, C order) into the image buffer, already
unrolled for the first layer ("im2col"), one whole byte per 8-bit lane.

For a first conv with kernel K, stride S and padding K//2, input pixel (y, x, c) is
tap (ky, kx) of output pixel ((y + pad − ky)/S, (x + pad − kx)/S) when that divides and
lies inside the Ho×Wo grid. Output pixel p's word run starts at ``p·cg`` and holds
virtual channel ``v = (ky·K + kx)·C + c`` in lane ``v mod F`` of word ``v div F`` (F the
first pass's lanes, `hw.plan.image_lanes`). Taps that fall into the zero padding are
never written, so they keep the buffer's initial zeros: the MAC stage needs no mask.
For a first dense layer K = 1: the plain pixel layout, channel innermost.

Each byte takes the accepting cycle plus one cycle per kernel tap (``ready`` is low
meanwhile): one lane-enabled write per tap that lands inside the output grid. The
address is a pixel base kept by counters (``⌊(y + pad)/S⌋`` rows and ``⌊(x + pad)/S⌋``
columns of the output grid) plus a per-(tap, channel) offset from a table; the table
row is registered, then the tap's grid offsets and address, then the write port's
inputs, three cycles after the tap.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.plan import Plan, loader_table
from hw.tables import build_table
from intnet.contract import INPUT_BITS


def loader_rows(plan: Plan) -> list[dict]:
    """Per (tap, channel), in that order: the word offset from the pixel base, the lane,
    and the tap's row/column residue mod S and quotient (the output-grid offset)."""
    K, S, C = plan.load_k, plan.load_stride, plan.input_shape[2]
    cg0 = plan.passes[0].cg_in
    rows = []
    for v, (wofs, lane) in enumerate(loader_table(plan)):
        ky, kx = divmod(v // C, K)
        rows.append(dict(offset=wofs - ((ky // S) * plan.load_w + kx // S) * cg0, lane=lane,
                         ry=ky % S, qy=ky // S, rx=kx % S, qx=kx // S,
                         qy_end=ky // S + plan.load_h, qx_end=kx // S + plan.load_w))
    return rows


class ImageLoader(wiring.Component):
    """Writes the streamed image into the image buffer through ``wr_*`` while ``enable``
    is high; ``restart`` rewinds to pixel (0, 0); ``busy`` until the last write is out."""

    def __init__(self, plan: Plan, addr_bits: int):
        self._plan = plan
        self._addr_bits = addr_bits
        M = plan.image_lanes
        super().__init__({
            "image": In(stream.Signature(INPUT_BITS)),
            "enable": In(1),
            "restart": In(1),
            "busy": Out(1),
            "wr_addr": Out(addr_bits),
            "wr_data": Out(data.ArrayLayout(INPUT_BITS, M)),
            "wr_en": Out(M),
        })

    def elaborate(self, platform):
        m = Module()
        plan = self._plan
        H, W, C = plan.input_shape
        K, S, PAD = plan.load_k, plan.load_stride, plan.load_pad
        cg0 = plan.passes[0].cg_in
        table = build_table(loader_rows(plan))
        m.submodules.table = rom = Memory(shape=table.layout.size, depth=len(table.words),
                                          init=table.words)
        rp = rom.read_port(domain="comb")
        busy, byte = Signal(), Signal(INPUT_BITS)
        c, tap = Signal(range(max(2, C))), Signal(range(max(2, K * K)))
        index = Signal(range(max(2, K * K * C)))  # tap·C + c, the table row of this tap
        # output-grid position of the input pixel: q = ⌊(coord + pad)/S⌋, r its residue;
        # the initial values are pixel (0, 0)'s (reset and `restart` both start there)
        q0, r0 = PAD // S, PAD % S
        row0 = q0 * plan.load_w * cg0
        qy, ry = Signal(range(H + PAD + 2), init=q0), Signal(range(max(2, S)), init=r0)
        qx, rx = Signal(range(W + PAD + 2), init=q0), Signal(range(max(2, S)), init=r0)
        x = Signal(range(max(2, W)))
        # signed word addresses wide enough for the map and for their initial values
        word = signed(max(self._addr_bits, (row0 + q0 * cg0).bit_length()) + 2)
        base = Signal(word, init=row0 + q0 * cg0)  # output pixel (qy, qx)
        row_base = Signal(word, init=row0)
        m.d.comb += [rp.addr.eq(index),
                     self.image.ready.eq(self.enable & ~busy & ~self.restart)]
        with m.If(self.image.valid & self.image.ready):
            m.d.sync += [byte.eq(self.image.payload), busy.eq(1), tap.eq(0), index.eq(c)]
        self._write(m, rp, table, busy, byte, qy, ry, qx, rx, base)
        with m.If(busy):
            with m.If(tap != K * K - 1):
                m.d.sync += [tap.eq(tap + 1), index.eq(index + C)]
            with m.Else():  # the byte's last tap: on to the next channel / pixel
                m.d.sync += [tap.eq(0), busy.eq(0)]
                with m.If(c != C - 1):
                    m.d.sync += c.eq(c + 1)
                with m.Elif(x != W - 1):
                    m.d.sync += [c.eq(0), x.eq(x + 1)]
                    self._step(m, qx, rx, S, base, cg0)
                with m.Else():
                    m.d.sync += [c.eq(0), x.eq(0), qx.eq(q0), rx.eq(r0)]
                    self._next_row(m, qy, ry, S, base, row_base, plan.load_w * cg0, PAD, cg0)
        with m.If(self.restart):
            m.d.sync += [x.eq(0), c.eq(0), qx.eq(q0), rx.eq(r0), qy.eq(q0), ry.eq(r0),
                         base.eq(row0 + q0 * cg0), row_base.eq(row0)]
        return m

    def _write(self, m, rp, table, busy, byte, qy, ry, qx, rx, base):
        """Three registered stages: the table row with a snapshot of the pixel's
        position; whether the tap lands inside the output grid (residues and grid bounds
        compared), its lane one-hot and its word address; the write port's address, data
        and lane enables."""
        M = self._plan.image_lanes
        entry = Signal(table.layout)
        snap = [Signal.like(s, name=f"{s.name}_t") for s in (busy, byte, qy, ry, qx, rx, base)]
        m.d.sync += [entry.eq(rp.data)] + [d.eq(s) for d, s in
                                            zip(snap, (busy, byte, qy, ry, qx, rx, base),
                                                strict=True)]
        valid, byte_t, qy_t, ry_t, qx_t, rx_t, base_t = snap
        # (2) whether the tap lands on an output pixel, its grid offset (qy_t − qy,
        # qx_t − qx) inside the grid, compared without subtracting; the lane, one-hot;
        # the word address
        hit, valid2, byte2 = Signal(), Signal(), Signal(INPUT_BITS)
        lanes2, addr2 = Signal(M), Signal.like(self.wr_addr)
        m.d.sync += [hit.eq(valid & (ry_t == entry.ry) & (rx_t == entry.rx)
                            & (qy_t >= entry.qy) & (qy_t < entry.qy_end)
                            & (qx_t >= entry.qx) & (qx_t < entry.qx_end)),
                     valid2.eq(valid), byte2.eq(byte_t), addr2.eq(base_t + entry.offset)]
        m.d.sync += [lanes2[lane].eq(entry.lane == lane) for lane in range(M)]
        # (3) the lane-enabled write
        m.d.sync += self.wr_addr.eq(addr2)
        for lane in range(M):
            m.d.sync += [self.wr_data[lane].eq(byte2), self.wr_en[lane].eq(hit & lanes2[lane])]
        written = Signal()  # the write stage holds this tap (written or not)
        m.d.sync += written.eq(valid2)
        m.d.comb += self.busy.eq(busy | valid | valid2 | written)

    @staticmethod
    def _step(m, q, r, S, base, stride_words):
        """One input column (or row) further: the residue steps; at S the quotient does."""
        if S == 1:
            m.d.sync += [q.eq(q + 1), base.eq(base + stride_words)]
            return
        with m.If(r == S - 1):
            m.d.sync += [r.eq(0), q.eq(q + 1), base.eq(base + stride_words)]
        with m.Else():
            m.d.sync += r.eq(r + 1)

    @staticmethod
    def _next_row(m, qy, ry, S, base, row_base, row_words, PAD, cg0):
        """The next input row: the row base steps every S rows; the column restarts."""
        col0 = (PAD // S) * cg0
        if S == 1:
            m.d.sync += [qy.eq(qy + 1), row_base.eq(row_base + row_words),
                         base.eq(row_base + row_words + col0)]
            return
        with m.If(ry == S - 1):
            m.d.sync += [ry.eq(0), qy.eq(qy + 1), row_base.eq(row_base + row_words),
                         base.eq(row_base + row_words + col0)]
        with m.Else():
            m.d.sync += [ry.eq(ry + 1), base.eq(row_base + col0)]
