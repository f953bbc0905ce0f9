"""The hand-over: accumulators to the requantizers, and the lane serializer.

At a pixel's last MAC step (``ctl.valid & ctl.last`` as the step reaches the
accumulator) every PE's accumulator is latched with its channel's ``m, n`` and goes to
the PE's requantizer. In pixel-parallel depthwise passes each PE holds M lane sums
instead (one per channel), complete one tree's depth earlier (``ctl_lanes``): the
`LaneSerializer` latches them all and feeds one lane per cycle to every requantizer,
lane l with channel l's ``m, n``; a summing average pool first adds the P PEs' lanes.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.packing import N_BITS
from hw.pe import tree_sum
from hw.plan import MODE_DWP
from intnet.contract import BIAS_BITS, M_BITS

PARAM_LAYOUT = data.StructLayout({"b": signed(BIAS_BITS), "m": M_BITS, "n": N_BITS})


class LaneSerializer(wiring.Component):
    """Latch P × M lane sums on ``load``; then ``lane`` k = 0 … M−1, one per cycle, with
    ``acc[j]`` PE j's lane k and ``m, n`` channel k's parameters, while ``active``.

    With ``gsum`` at the load, PE 0's lanes take the sum over all P PEs (avgpool).
    ``meta`` keeps the control word given at the load.
    """

    def __init__(self, acc_bits: int, pe_count: int, mults_per_pe: int,
                 ctl_layout: data.StructLayout, *, summing: bool, sub_lanes: int = 1):
        self._acc_bits, self._P, self._M, self._summing = acc_bits, pe_count, mults_per_pe, summing
        self._kd = sub_lanes
        lanes = data.ArrayLayout(signed(acc_bits), mults_per_pe)
        super().__init__(_sub_ports(acc_bits, pe_count, mults_per_pe, sub_lanes, In, Out) | {
            "load": In(1), "gsum": In(1), "meta_in": In(ctl_layout),
            "lane_acc": In(data.ArrayLayout(lanes, pe_count)),
            "lane_prm": In(data.ArrayLayout(PARAM_LAYOUT, mults_per_pe)),
            "active": Out(1), "lane": Out(range(max(2, mults_per_pe))),
            "meta": Out(ctl_layout),
            "acc": Out(data.ArrayLayout(signed(acc_bits), pe_count)),
            "m": Out(M_BITS), "n": Out(N_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        P, M = self._P, self._M
        held = [[Signal(signed(self._acc_bits), name=f"dwp_acc{j}_{lane}") for lane in range(M)]
                for j in range(P)]
        held_m = [Signal(M_BITS, name=f"dwp_m{lane}") for lane in range(M)]
        held_n = [Signal(N_BITS, name=f"dwp_n{lane}") for lane in range(M)]
        with m.If(self.active):
            m.d.sync += self.lane.eq(self.lane + 1)
            with m.If(self.lane == M - 1):
                m.d.sync += self.active.eq(0)
        with m.If(self.load):
            m.d.sync += [self.active.eq(1), self.lane.eq(0), self.meta.eq(self.meta_in)]
            for lane in range(M):
                m.d.sync += [held_m[lane].eq(self.lane_prm[lane].m),
                             held_n[lane].eq(self.lane_prm[lane].n)]
                for j in range(P):
                    m.d.sync += held[j][lane].eq(self.lane_acc[j][lane])
                if self._summing:  # avgpool: PE 0 gets the sum over all PEs (the whole map)
                    with m.If(self.gsum):
                        m.d.sync += held[0][lane].eq(
                            tree_sum([self.lane_acc[j][lane] for j in range(P)]))
        for lane in range(M if self._kd > 1 else 0):
            self._hold_subs(m, lane)
        for j in range(P):
            m.d.comb += self.acc[j].eq(Array(held[j])[self.lane])
        m.d.comb += [self.m.eq(Array(held_m)[self.lane]), self.n.eq(Array(held_n)[self.lane])]
        return m

    def _hold_subs(self, m, lane: int):
        """Sub-lanes 1 … k−1 of ``lane`` (a pixel-parallel pass reading split words):
        latched with the lane on ``load``, and shown beside it while it is ``lane``."""
        for i in range(self._kd - 1):
            prm_m = Signal(M_BITS, name=f"dwp_m{lane}_{i + 1}")
            prm_n = Signal(N_BITS, name=f"dwp_n{lane}_{i + 1}")
            with m.If(self.load):
                m.d.sync += [prm_m.eq(self.sub_prm[lane][i].m),
                             prm_n.eq(self.sub_prm[lane][i].n)]
            on = self.lane == lane
            with m.If(on):
                m.d.comb += [self.sub_m[i].eq(prm_m), self.sub_n[i].eq(prm_n)]
            for j in range(self._P):
                held = Signal(signed(self._acc_bits), name=f"dwp_acc{j}_{lane}_{i + 1}")
                with m.If(self.load):
                    m.d.sync += held.eq(self.sub_acc[j][lane][i])
                with m.If(on):
                    m.d.comb += self.sub_out[j][i].eq(held)


def _sub_ports(acc_bits: int, P: int, M: int, kd: int, into, out) -> dict:
    """Sub-lanes 1 … kd−1 of every lane (`hw.pe.PE` ``sub_acc``), their parameters, and
    what goes to the extra requantizers (``sub_out[j][i]``, ``sub_m[i]``, ``sub_n[i]``);
    no ports without split pixel-parallel passes (kd = 1)."""
    if kd == 1:
        return {}
    subs = data.ArrayLayout(signed(acc_bits), kd - 1)
    return {"sub_acc": into(data.ArrayLayout(data.ArrayLayout(subs, M), P)),
            "sub_prm": into(data.ArrayLayout(data.ArrayLayout(PARAM_LAYOUT, kd - 1), M)),
            "sub_out": out(data.ArrayLayout(subs, P)),
            "sub_m": out(data.ArrayLayout(M_BITS, kd - 1)),
            "sub_n": out(data.ArrayLayout(N_BITS, kd - 1))}


class PixelQueue(wiring.Component):
    """Hands over the sums of interleaved pixels (weight reuse) at least ``gap`` + 1
    cycles apart: R pixels' sums end on R consecutive cycles, the write-back needs its
    output words' cycles between two pixels (docs/hardware.md, "Weight reuse").

    ``i_valid``/``i_data`` are a pixel's sums, parameters and control word as they end;
    ``o_valid``/``o_data`` (registers) the pixel handed over. A pixel goes straight
    through when nothing waits and ``gap`` + 1 cycles have passed since the last one, else
    it waits in one of ``depth`` registers; the plan keeps at most ``depth`` waiting.
    """

    def __init__(self, layout: data.StructLayout, depth: int, gap_bits: int):
        if not isinstance(depth, int) or depth < 1:
            self._MustUse__silence = True  # rejected, so never elaborated: no unused warning
            raise ValueError(f"depth must be a positive integer, not {depth!r}")
        self._depth = depth
        super().__init__({"i_valid": In(1), "i_data": In(layout), "gap": In(max(1, gap_bits)),
                          "o_valid": Out(1), "o_data": Out(layout)})

    def elaborate(self, platform):
        m = Module()
        D = self._depth
        slots = [Signal(self.i_data.shape(), name=f"waiting{i}") for i in range(D)]
        count = Signal(range(D + 1), name="waiting")
        wait = Signal(len(self.gap), name="gap_left")  # cycles until the next may leave
        ready = wait == 0
        leave = ready & ((count != 0) | self.i_valid)  # someone is handed over now
        m.d.sync += self.o_valid.eq(leave)
        with m.If(leave):
            m.d.sync += [self.o_data.eq(Mux(count != 0, slots[0], self.i_data)),
                         wait.eq(self.gap)]
        with m.Elif(~ready):
            m.d.sync += wait.eq(wait - 1)
        # the queue shifts when its head leaves; an arriving pixel joins behind the rest
        shift = leave & (count != 0)
        stays = self.i_valid & ~(leave & (count == 0))
        for i, slot in enumerate(slots):
            after = count - shift  # the arriving pixel's place
            nxt = slots[i + 1] if i + 1 < D else slot
            with m.If(stays & (after == i)):
                m.d.sync += slot.eq(self.i_data)
            with m.Elif(shift):
                m.d.sync += slot.eq(nxt)
        m.d.sync += count.eq(count - shift + stays)
        return m


class Handover(wiring.Component):
    """The requantizers' inputs for every PE, and the latched pixel for the logits.

    ``ctl`` is the control word of the step whose accumulator ``acc[j]`` PE j shows now,
    ``ctl_lanes`` that of the step whose lane sums ``lane_acc`` show (pixel-parallel
    designs), ``prm[j]`` PE j's group parameters as its parameter ROM reads them for the
    pass's mode. ``r1_valid``/``r1_ctl``/``r1_acc`` are the handed-over pixel (one cycle
    later); ``rq_*`` drive the requantizers (``rq_valid`` is common to all PEs).
    """

    def __init__(self, acc_bits: int, pe_count: int, mults_per_pe: int,
                 ctl_layout: data.StructLayout, desc_layout: data.StructLayout, *,
                 pixel_parallel: bool, summing: bool, paired: bool = False, sub_lanes: int = 1,
                 reuse: bool = False):
        self._acc_bits, self._P, self._M = acc_bits, pe_count, mults_per_pe
        self._reuse = reuse  # weight reuse: pixel pairs' sums through a `PixelQueue`
        self._ctl_layout, self._dwp, self._summing = ctl_layout, pixel_parallel, summing
        self._paired, self._kd = paired, sub_lanes
        accs = data.ArrayLayout(signed(acc_bits), pe_count)
        # paired passes (``desc.pair``): each PE's second sum ``acc2`` with its parameters
        # ``prm2``, requantized the cycle after the first (``rq_second``)
        pairs = {"acc2": In(accs), "prm2": In(data.ArrayLayout(PARAM_LAYOUT, pe_count)),
                 "rq_second": Out(1)} if paired else {}
        # split pixel-parallel passes: sub-lanes 1 … k−1 to requantizers of their own
        subs = _sub_ports(acc_bits, pe_count, mults_per_pe, sub_lanes, In, Out)
        super().__init__(pairs | subs | {
            "ctl": In(ctl_layout), "ctl_lanes": In(ctl_layout), "desc": In(desc_layout),
            "acc": In(accs),
            "lane_acc": In(data.ArrayLayout(data.ArrayLayout(signed(acc_bits), mults_per_pe),
                                            pe_count)),
            "prm": In(data.ArrayLayout(PARAM_LAYOUT, pe_count)),
            "r1_valid": Out(1), "r1_ctl": Out(ctl_layout), "r1_acc": Out(accs),
            "rq_acc": Out(accs), "rq_m": Out(data.ArrayLayout(M_BITS, pe_count)),
            "rq_n": Out(data.ArrayLayout(N_BITS, pe_count)), "rq_valid": Out(1),
            "ser_lane": Out(range(max(2, mults_per_pe))), "ser_meta": Out(ctl_layout),
        })

    def elaborate(self, platform):
        m = Module()
        P, M = self._P, self._M
        handover = self.ctl.valid & self.ctl.last
        r1_m = [Signal(M_BITS, name=f"r1_m{j}") for j in range(P)]
        r1_n = [Signal(N_BITS, name=f"r1_n{j}") for j in range(P)]
        if self._reuse:
            self._queued(m, handover, r1_m, r1_n)
        else:
            m.d.sync += [self.r1_valid.eq(handover), self.r1_ctl.eq(self.ctl)]
            with m.If(handover):  # m and n come from the same group parameters as the bias
                for j in range(P):
                    m.d.sync += [self.r1_acc[j].eq(self.acc[j]), r1_m[j].eq(self.prm[j].m),
                                 r1_n[j].eq(self.prm[j].n)]
        pixel_valid = self.r1_valid & ~self.desc.last
        conv = [(self.r1_acc[j], r1_m[j], r1_n[j]) for j in range(P)]
        if self._paired:
            conv = self._second(m, handover, pixel_valid, conv)
            pixel_valid = pixel_valid | self.rq_second
        if not self._dwp:
            for j, (acc, m_, n_) in enumerate(conv):
                m.d.comb += [self.rq_acc[j].eq(acc), self.rq_m[j].eq(m_), self.rq_n[j].eq(n_)]
            m.d.comb += self.rq_valid.eq(pixel_valid)
            return m
        dwp = self.desc.mode == MODE_DWP
        m.submodules.serializer = ser = LaneSerializer(self._acc_bits, P, M, self._ctl_layout,
                                                       summing=self._summing,
                                                       sub_lanes=self._kd)
        if self._kd > 1:
            m.d.comb += [ser.sub_acc.eq(self.sub_acc), ser.sub_prm.eq(self.sub_prm),
                         self.sub_out.eq(ser.sub_out), self.sub_m.eq(ser.sub_m),
                         self.sub_n.eq(ser.sub_n)]
        lanes_done = self.ctl_lanes.valid & self.ctl_lanes.last
        m.d.comb += [ser.load.eq(lanes_done & dwp), ser.gsum.eq(self.desc.gsum),
                     ser.meta_in.eq(self.ctl_lanes), ser.lane_acc.eq(self.lane_acc)]
        for lane in range(M):  # lane l's parameters are PE l's (channel cg·M + l; P ≥ M)
            m.d.comb += ser.lane_prm[lane].eq(self.prm[lane])
        for j, (acc, m_, n_) in enumerate(conv):
            m.d.comb += [self.rq_acc[j].eq(Mux(dwp, ser.acc[j], acc)),
                         self.rq_m[j].eq(Mux(dwp, ser.m, m_)),
                         self.rq_n[j].eq(Mux(dwp, ser.n, n_))]
        m.d.comb += [self.rq_valid.eq(Mux(dwp, ser.active, pixel_valid)),
                     self.ser_lane.eq(ser.lane), self.ser_meta.eq(ser.meta)]
        return m

    def _queued(self, m, handover, r1_m, r1_n):
        """The handed-over pixel through a `PixelQueue` (weight reuse): a pair's sums end
        on consecutive cycles and leave ``desc.rgap`` + 1 cycles apart, each with the
        ``m, n`` and control word latched beside it."""
        P = self._P
        layout = data.StructLayout({
            "ctl": self._ctl_layout, "acc": data.ArrayLayout(signed(self._acc_bits), P),
            "m": data.ArrayLayout(M_BITS, P), "n": data.ArrayLayout(N_BITS, P)})
        m.submodules.pixel_queue = queue = PixelQueue(layout, 1, len(self.desc.rgap))
        m.d.comb += [queue.i_valid.eq(handover), queue.i_data.ctl.eq(self.ctl),
                     queue.gap.eq(self.desc.rgap), self.r1_valid.eq(queue.o_valid),
                     self.r1_ctl.eq(queue.o_data.ctl)]
        for j in range(P):
            m.d.comb += [queue.i_data.acc[j].eq(self.acc[j]),
                         queue.i_data.m[j].eq(self.prm[j].m), queue.i_data.n[j].eq(self.prm[j].n),
                         self.r1_acc[j].eq(queue.o_data.acc[j]), r1_m[j].eq(queue.o_data.m[j]),
                         r1_n[j].eq(queue.o_data.n[j])]

    def _second(self, m, handover, pixel_valid, first: list) -> list:
        """The paired pass's second sums: latched with the first at the hand-over and
        given to the requantizers one cycle after them (``rq_second``); returns each PE's
        requantizer input ``(acc, m, n)``."""
        out = []
        m.d.sync += self.rq_second.eq(pixel_valid & self.desc.pair)
        for j, (acc, m_, n_) in enumerate(first):
            acc2 = Signal(signed(self._acc_bits), name=f"r1_acc2_{j}")
            m2, n2 = Signal(M_BITS, name=f"r1_m2_{j}"), Signal(N_BITS, name=f"r1_n2_{j}")
            with m.If(handover):
                m.d.sync += [acc2.eq(self.acc2[j]), m2.eq(self.prm2[j].m),
                             n2.eq(self.prm2[j].n)]
            second = self.rq_second
            out.append((Mux(second, acc2, acc), Mux(second, m2, m_), Mux(second, n2, n_)))
        return out
