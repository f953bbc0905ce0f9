"""Stage OP: the operands every PE multiplies, registered.

The memories answer `hw.plan.READ_LATENCY` cycles after the sequencer's addresses;
`OperandSelect` picks the word each PE sees, and registers it with the lane enables:
the image buffer's F 8-bit lanes for the first pass's own lanes, the ping-pong buffer
being read for the M q-bit lanes, zero where the tap lies in the padding (a
multiplexer, not a memory read), and in
pixel-parallel depthwise passes every PE's own word with PE 0's weights broadcast. It
also enables each lane: the lane must hold a real input channel, its own channel in a
lane-select depthwise pass. In a pass that pairs output channels
(`hw.plan.pairs_channels`) lanes H … 2H−1 take the activations of lanes 0 … H−1 (their
weights are a second channel's). (A first-pass tap in the zero padding needs no mask: the
loader never writes those lanes, so they hold the buffer's initial zeros.)
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.plan import MODE_DW, MODE_DWP
from hw.tables import bits
from intnet.contract import INPUT_BITS


class OperandSelect(wiring.Component):
    """Per PE: ``pe_act`` (M lanes of q bits), ``pe_weight`` (M lanes of q) and
    ``lane_en``; for the first pass ``pe_image`` (F lanes of 8 bits, the same for every
    PE) and ``pe_image_weight`` (F lanes of q).

    ``act0``/``act1`` are the buffers' read ports (one per PE in pixel-parallel designs,
    else one), ``weights``/``image_weights`` every PE's weight words; ``ctl`` is the
    step's control word as the data arrives and ``desc`` the pass descriptor. The outputs
    are registers: they belong to the step one cycle later.
    """

    def __init__(self, q: int, pe_count: int, mults_per_pe: int, nports: int,
                 ctl_layout: data.StructLayout, desc_layout: data.StructLayout, *,
                 pixel_parallel: bool, image_lanes: int, pair_lanes: int = 0):
        self._q, self._P, self._M, self._nports = q, pe_count, mults_per_pe, nports
        self._H = pair_lanes  # H > 0: some pass pairs output channels (`hw.plan.pair_lanes`)
        self._dwp, self._F = pixel_parallel, image_lanes
        self.act_bits = q
        word = q * mults_per_pe
        super().__init__({
            "ctl": In(ctl_layout), "desc": In(desc_layout),
            "image": In(INPUT_BITS * image_lanes),
            "image_weights": In(data.ArrayLayout(q * image_lanes, pe_count)),
            "act0": In(data.ArrayLayout(word, nports)),
            "act1": In(data.ArrayLayout(word, nports)),
            "weights": In(data.ArrayLayout(word, pe_count)),
            "pe_act": Out(data.ArrayLayout(word, pe_count)),
            "pe_weight": Out(data.ArrayLayout(word, pe_count)),
            "lane_en": Out(data.ArrayLayout(mults_per_pe, pe_count)),
            "pe_image": Out(INPUT_BITS * image_lanes),
            "pe_image_weight": Out(data.ArrayLayout(q * image_lanes, pe_count)),
        })

    def elaborate(self, platform):
        m = Module()
        P, M = self._P, self._M
        ctl, desc = self.ctl, self.desc
        dwp = desc.mode == MODE_DWP
        broadcast = Signal(self._q * M)
        m.d.comb += broadcast.eq(Mux(ctl.pad, 0, Mux(desc.src, self.act1[0], self.act0[0])))
        if self._H:  # a paired pass: lanes H … 2H−1 see the activations of lanes 0 … H−1
            q, H = self._q, self._H
            lanes = [broadcast[q * lane:q * (lane + 1)] for lane in range(M)]
            paired = Signal(q * M)
            m.d.comb += paired.eq(Mux(desc.pair, Cat(*lanes[:H], *lanes[:H], *lanes[2 * H:]),
                                      broadcast))
            broadcast = paired
        sync = m.d.sync
        sync += self.pe_image.eq(self.image)
        for j in range(P):
            sync += self.pe_image_weight[j].eq(self.image_weights[j])
            if self._dwp:
                # pixel-parallel depthwise: own activation word (own padding: PE j's pixel
                # of the chunk), PE 0's weights broadcast
                own = Mux(ctl.pad_pe[j], 0, Mux(desc.src, self.act1[j], self.act0[j]))
                sync += [
                    self.pe_act[j].eq(Mux(dwp, own, broadcast)),
                    self.pe_weight[j].eq(Mux(dwp, self.weights[0], self.weights[j])),
                ]
            else:
                sync += [self.pe_act[j].eq(broadcast), self.pe_weight[j].eq(self.weights[j])]
        # cg·M as shifted copies of cg: a constant multiply Yosys would put into a DSP
        # block (ECP5: 3.9 ns, the critical path of a 24 × 24 array at M = 24)
        base = Signal(len(ctl.cg) + bits(M) + 1)
        m.d.comb += base.eq(sum(ctl.cg << i for i in range(bits(M) + 1) if M >> i & 1))
        lane_v = [Signal(len(base), name=f"lane_v{lane}") for lane in range(M)]
        for lane in range(M):
            m.d.comb += lane_v[lane].eq(base + lane)
        for j in range(P):
            for lane in range(M):
                v = lane_v[lane]
                own_channel = Mux(desc.mode == MODE_DW, v == ctl.cbase + j, 1)
                enable = own_channel & (v < desc.cin)
                if self._H and lane >= self._H:  # paired: the lane's twin in the low half
                    twin = lane - self._H
                    enable = Mux(desc.pair, lane_v[twin] < desc.cin if twin < self._H else 0,
                                 enable)
                sync += self.lane_en[j][lane].eq(enable)
        return m
