"""Image loader: streams uint8 pixels (H, W, C order) into the image buffer, already
unrolled for the first layer ("im2col"), one whole byte per 8-bit lane.

For a first conv with kernel K, stride S and padding K//2, input pixel (y, x, c) is
tap (ky, kx) of output pixel ((y + pad − ky)/S, (x + pad − kx)/S) when that divides and
lies inside the Ho×Wo grid. Output pixel p's word run starts at ``p·cg`` and holds
virtual channel ``v = (ky·K + kx)·C + c`` in lane ``v mod M`` of word ``v div M``. Taps
that fall into the zero padding are never written; the MAC stage masks them
(`hw.sequencer`). For a first dense layer K = 1: the plain pixel layout, channel innermost.

Each byte takes the accepting cycle plus one cycle per kernel tap (``ready`` is low
meanwhile): one lane-enabled write per tap that lands inside the output grid.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.plan import Plan, loader_table
from hw.tables import bits as _bits
from intnet.contract import INPUT_BITS


class ImageLoader(wiring.Component):
    """Writes the streamed image into the image buffer through ``wr_*`` while ``enable``
    is high; ``restart`` rewinds to pixel (0, 0)."""

    def __init__(self, plan: Plan, addr_bits: int):
        self._plan = plan
        self._addr_bits = addr_bits
        M = plan.mults_per_pe
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
        M = plan.mults_per_pe
        H, W, C = plan.input_shape
        K, S, PAD = plan.load_k, plan.load_stride, plan.load_pad
        cg0 = plan.passes[0].cg_in
        # (word offset, lane) of every (tap, channel): a LUT ROM of K²·C entries
        rows = loader_table(plan)
        wofs_bits = _bits(max(r[0] for r in rows))
        layout = data.StructLayout({"wofs": wofs_bits, "lane": _bits(M - 1)})
        words = [r[0] | (r[1] << wofs_bits) for r in rows]
        m.submodules.table = table = Memory(shape=layout.size, depth=len(words), init=words)
        rp = table.read_port(domain="comb")

        busy = Signal()
        byte = Signal(INPUT_BITS)
        y = Signal(range(max(2, H)))
        x = Signal(range(max(2, W)))
        c = Signal(range(max(2, C)))
        ky = Signal(range(max(2, K)))
        kx = Signal(range(max(2, K)))
        m.d.comb += [rp.addr.eq((ky * K + kx) * C + c), self.busy.eq(busy),
                     self.image.ready.eq(self.enable & ~busy & ~self.restart)]
        entry = layout(rp.data)

        with m.If(self.image.valid & self.image.ready):
            m.d.sync += [byte.eq(self.image.payload), busy.eq(1), ky.eq(0), kx.eq(0)]

        coord = signed(_bits(max(H, W) + PAD) + 2)
        oy_num = Signal(coord)
        ox_num = Signal(coord)
        m.d.comb += [oy_num.eq(y + PAD - ky), ox_num.eq(x + PAD - kx)]
        oy = Signal(range(max(2, H + PAD + 1)))
        ox = Signal(range(max(2, W + PAD + 1)))
        m.d.comb += [oy.eq(oy_num.as_unsigned() // S), ox.eq(ox_num.as_unsigned() // S)]
        valid = Signal()
        m.d.comb += valid.eq((oy_num >= 0) & (ox_num >= 0)
                             & (oy_num.as_unsigned() % S == 0) & (ox_num.as_unsigned() % S == 0)
                             & (oy < plan.load_h) & (ox < plan.load_w))
        m.d.comb += self.wr_addr.eq((oy * plan.load_w + ox) * cg0 + entry.wofs)
        for lane in range(M):
            m.d.comb += [self.wr_data[lane].eq(byte),
                         self.wr_en[lane].eq(busy & valid & (entry.lane == lane))]
        with m.If(busy):
            with m.If(kx != K - 1):
                m.d.sync += kx.eq(kx + 1)
            with m.Else():
                m.d.sync += kx.eq(0)
                with m.If(ky != K - 1):
                    m.d.sync += ky.eq(ky + 1)
                with m.Else():
                    # last tap of this byte: on to the next channel / pixel
                    m.d.sync += [ky.eq(0), busy.eq(0)]
                    with m.If(c != C - 1):
                        m.d.sync += c.eq(c + 1)
                    with m.Else():
                        m.d.sync += c.eq(0)
                        with m.If(x != W - 1):
                            m.d.sync += x.eq(x + 1)
                        with m.Else():
                            m.d.sync += [x.eq(0), y.eq(y + 1)]
        with m.If(self.restart):
            m.d.sync += [y.eq(0), x.eq(0), c.eq(0)]
        return m
