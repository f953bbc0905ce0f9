"""Image loader: streams uint8 pixels (H, W, C order) into activation buffer 0, already
unrolled for the first layer ("im2col") and split into ⌈8/q⌉ q-bit digit planes.

For a first conv with kernel K, stride S and padding K//2, input pixel (y, x, c) is
tap (ky, kx) of output pixel ((y + pad − ky)/S, (x + pad − kx)/S) when that divides and
lies inside the Ho×Wo grid. Output pixel p's word run starts at ``p·cg`` and holds
virtual channel ``v = ((ky·K + kx)·C + c)·D + d`` (digit d of the pixel) in lane
``v mod M`` of word ``v div M``. Taps that fall into the zero padding are never
written; the MAC stage masks them (`hw.top`). For a first dense layer K = 1: the plain
pixel layout with digit planes.

Each byte takes one cycle per (tap, word) pair its digits touch (``ready`` is low
meanwhile), plus the accepting cycle.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.packing import INPUT_BITS, Plan, loader_table


def _bits(value: int) -> int:
    return max(1, int(value).bit_length())


class ImageLoader(wiring.Component):
    """Writes the streamed image into buffer 0 through ``wr_*`` while ``enable`` is high."""

    def __init__(self, plan: Plan, addr_bits: int):
        self._plan = plan
        self._addr_bits = addr_bits
        M, q = plan.mults_per_pe, plan.q
        super().__init__({
            "image": In(stream.Signature(INPUT_BITS)),
            "enable": In(1),
            "restart": In(1),
            "busy": Out(1),
            "wr_addr": Out(addr_bits),
            "wr_data": Out(data.ArrayLayout(q, M)),
            "wr_en": Out(M),
        })

    def elaborate(self, platform):
        m = Module()
        plan = self._plan
        M, q, D = plan.mults_per_pe, plan.q, plan.digits
        H, W, C = plan.input_shape
        K, S, PAD = plan.load_k, plan.load_stride, plan.load_pad
        cg0 = plan.passes[0].cg_in
        rows = loader_table(plan)
        wofs_bits = _bits(max(r[0] for r in rows))
        span_bits = _bits(max(r[2] for r in rows))
        lane_bits = _bits(M)
        layout = data.StructLayout({"wofs": wofs_bits, "l0": lane_bits, "span": span_bits})
        words = [r[0] | (r[1] << wofs_bits) | (r[2] << (wofs_bits + lane_bits)) for r in rows]
        m.submodules.table = table = Memory(shape=layout.size, depth=len(words), init=words)
        rp = table.read_port(domain="comb")

        busy = Signal()
        byte = Signal(INPUT_BITS)
        y = Signal(range(max(2, H)))
        x = Signal(range(max(2, W)))
        c = Signal(range(max(2, C)))
        ky = Signal(range(max(2, K)))
        kx = Signal(range(max(2, K)))
        phase = Signal(span_bits)
        m.d.comb += [rp.addr.eq((ky * K + kx) * C + c), self.busy.eq(busy),
                     self.image.ready.eq(self.enable & ~busy & ~self.restart)]
        entry = layout(rp.data)

        with m.If(self.image.valid & self.image.ready):
            m.d.sync += [byte.eq(self.image.payload), busy.eq(1), ky.eq(0), kx.eq(0),
                         phase.eq(0)]

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
        digits = Array([Signal(q, name=f"digit{d}") for d in range(D)])
        for d in range(D):
            m.d.comb += digits[d].eq(byte >> (q * d))
        m.d.comb += self.wr_addr.eq((oy * plan.load_w + ox) * cg0 + entry.wofs + phase)
        for lane in range(M):
            dl = Signal(signed(span_bits + lane_bits + 2), name=f"d_lane{lane}")
            m.d.comb += [
                dl.eq(phase * M + lane - entry.l0),
                self.wr_data[lane].eq(digits[dl.as_unsigned()[:_bits(D)]]),
                self.wr_en[lane].eq(busy & valid & (dl >= 0) & (dl < D)),
            ]
        with m.If(busy):
            with m.If(phase != entry.span - 1):
                m.d.sync += phase.eq(phase + 1)
            with m.Else():
                m.d.sync += phase.eq(0)
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
