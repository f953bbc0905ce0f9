"""Top level: P×M PE array, image and ping-pong activation buffers, and their wiring.

Protocol: while idle, stream the image's bytes (H, W, C order) into ``image``; pulse
``start``; ``busy`` is high until ``done`` rises, then ``logits`` (int32 per class,
class 0 in the low bits) and ``class_out`` (argmax, lowest index on ties) are valid and
``cycles`` holds the clock cycles from ``start`` to ``done`` (the image load is not
included). A new image may be streamed in once ``done`` is high.

The pipeline (docs/hardware.md, "Pipeline"): S0 walk and issue (`hw.sequencer`), the
block-RAM read with its output register, the operand register (`hw.operands`), the PE
(`hw.pe`: products, pipelined adder tree, accumulator), the hand-over (`hw.handover`),
the requantizer (`hw.requant`), the pooled write-back (`hw.writeback`); the last pass's
accumulators go to `hw.logits`. This module holds the memories and keeps each step's
control word beside its data with delay lines (`hw.delay`).
"""

from __future__ import annotations

from amaranth.hdl import C, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.delay import delayed
from hw.handover import PARAM_LAYOUT, Handover
from hw.loader import ImageLoader
from hw.logits import Logits
from hw.operands import OperandSelect
from hw.packing import PARAM_BITS, pack_network, param_bits
from hw.pe import PE
from hw.plan import MODE_DWP, READ_LATENCY, Plan, check_array_params, network_q, pair_lanes
from hw.requant import Requantizer
from hw.rom import RAM_ATTRS, ROM
from hw.sequencer import Sequencer
from hw.tables import bits
from hw.writeback import LaneCollector, PoolWriteBack
from intnet.contract import INPUT_BITS, LOGIT_BITS, accumulator_bits

__all__ = ["Accelerator"]


class Accelerator(wiring.Component):
    """The whole-network accelerator for ``network`` on ``pe_count × mults_per_pe``.

    Parameters
    ----------
    network
        Duck-typed integer network (``.layers`` as in the bundle).
    pe_count, mults_per_pe
        P processing engines with M q-bit multipliers each.
    mem_dir
        If given, weight and parameter ROMs are Verilog ``$readmemh`` instances reading
        ``{mem_dir}/weights_pe{j}.mem`` etc. (bare file names for ``""``; write them with
        `hw.memfiles.write_mem_files`); otherwise Amaranth memories hold the words (for
        Amaranth's own simulator).
    mult_impl
        The lane multipliers: ``"lut"`` (shift-add) or ``"dsp"`` (``*``), `hw.pe`.
    lane_bits
        The lanes' width (default: the network's widest layer, `hw.plan.network_q`); each
        layer runs at its own widths on them, split into sub-lanes where it fits
        (`hw.plan.split_factors`).
    weight_reuse
        Feed each weight word to a pixel pair in the passes that can
        (`hw.plan.reuses_weights`; docs/hardware.md, "Weight reuse").
    """

    def __init__(self, network, pe_count: int, mults_per_pe: int, *, mem_dir: str | None = None,
                 mult_impl: str = "lut", lane_bits: int | None = None,
                 weight_reuse: bool = False):
        try:
            check_array_params(1, pe_count, mults_per_pe)
            q = network_q(network, lane_bits)
            check_array_params(q, pe_count, mults_per_pe)
            self._packed = pack_network(network, pe_count, mults_per_pe, q, weight_reuse)
        except ValueError:
            self._MustUse__silence = True  # rejected, so never elaborated: no unused warning
            raise
        self._plan = plan = self._packed.plan
        self._mem_dir, self.mult_impl = mem_dir, mult_impl
        self.acc_bits = accumulator_bits(network.layers)
        n = plan.num_classes
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "image": In(stream.Signature(INPUT_BITS)),
            "logits": Out(LOGIT_BITS * n),
            "class_out": Out(bits(n - 1)),
            "cycles": Out(32),
        })

    @property
    def plan(self) -> Plan:
        return self._plan

    @property
    def packed(self):
        return self._packed

    def elaborate(self, platform):
        m = Module()
        plan = self._plan
        P, M, q = plan.pe_count, plan.mults_per_pe, plan.q
        T = plan.tree_stages
        addr_bits = plan.addr_bits
        # Pixel-parallel depthwise passes read one word per PE: P read ports (BRAM
        # replicas); otherwise one read port, broadcast to every PE.
        has_dwp = plan.pixel_parallel
        nports = P if has_dwp else 1
        m.submodules.seq = seq = Sequencer(plan, addr_bits, nports)
        m.d.comb += [self.busy.eq(seq.busy), self.done.eq(seq.done),
                     self.cycles.eq(seq.cycles), seq.start.eq(self.start)]
        # the step's control word beside its data: at the operands, the PE inputs, the
        # lane sums and the accumulator
        ctl_rd = delayed(m, seq.ctl, READ_LATENCY, "ctl")
        ctl_op = delayed(m, ctl_rd, 1, "ctl_op")
        ctl_lane = delayed(m, ctl_op, 1, "ctl_lane")
        ctl_acc = delayed(m, ctl_lane, T, "ctl_acc")
        m.submodules.operands = ops = OperandSelect(
            q, P, M, nports, seq.ctl_layout, seq.desc.shape(), pixel_parallel=has_dwp,
            image_lanes=plan.image_lanes, pair_lanes=pair_lanes(M) if plan.pairs else 0)
        m.d.comb += [ops.ctl.eq(ctl_rd), ops.desc.eq(seq.desc)]
        wports = self._buffers(m, seq, ops, nports, addr_bits)
        prms, prms2 = self._pe_array(m, seq, ops, ctl_rd, ctl_op, has_dwp, T)
        kd = plan.dwp_split
        m.submodules.handover = ho = Handover(
            self.acc_bits, P, M, seq.ctl_layout, seq.desc.shape(), pixel_parallel=has_dwp,
            summing=any(p.gsum for p in plan.passes), paired=plan.pairs, sub_lanes=kd,
            reuse=plan.reuses)
        m.d.comb += [ho.ctl.eq(ctl_acc), ho.ctl_lanes.eq(ctl_lane), ho.desc.eq(seq.desc)]
        reqs, sub_reqs = [], []
        for lane in range(M if kd > 1 else 0):  # lane l's sub-lanes: PE l's parameters
            for i, prm in enumerate(self._sub_prm[lane]):
                m.d.comb += ho.sub_prm[lane][i].eq(prm)
        for j, pe in enumerate(self._pes):
            m.submodules[f"requant{j}"] = rq = Requantizer(self.acc_bits, q, clamp=plan.clamps)
            if plan.clamps:
                m.d.comb += rq.top.eq(seq.desc.top)
            m.d.comb += [ho.acc[j].eq(pe.acc), ho.prm[j].eq(prms[j]),
                         rq.acc.eq(ho.rq_acc[j]), rq.m.eq(ho.rq_m[j]), rq.n.eq(ho.rq_n[j]),
                         rq.valid.eq(ho.rq_valid)]
            if has_dwp:
                m.d.comb += ho.lane_acc[j].eq(pe.lane_acc)
            if plan.pairs:
                m.d.comb += [ho.acc2[j].eq(pe.acc2), ho.prm2[j].eq(prms2[j])]
            if kd > 1:
                sub_reqs.append(self._sub_requantizers(m, seq, ho, pe, j))
            reqs.append(rq)

        m.submodules.logits = lg = Logits(plan.num_classes, P, self.acc_bits)
        m.d.comb += [lg.capture.eq(ho.r1_valid & seq.desc.last), lg.restart.eq(seq.loader_restart),
                     lg.acc.eq(ho.r1_acc), lg.scan_start.eq(seq.argmax_start),
                     lg.scan.eq(seq.argmax), seq.argmax_done.eq(lg.scan_done),
                     self.logits.eq(lg.logits), self.class_out.eq(lg.class_out)]
        self._write_back(m, seq, ho, reqs, wports, addr_bits, has_dwp, sub_reqs)
        return m

    def _sub_requantizers(self, m, seq, ho, pe, j: int) -> list:
        """PE j's requantizers of sub-lanes 1 … k−1 (pixel-parallel passes reading split
        words, `hw.plan.Plan.dwp_split`): beside the PE's own, fed by the serializer."""
        plan, out = self._plan, []
        m.d.comb += ho.sub_acc[j].eq(pe.sub_acc)
        for i in range(plan.dwp_split - 1):
            m.submodules[f"requant{j}_{i + 1}"] = rq = Requantizer(self.acc_bits, plan.q,
                                                                  clamp=plan.clamps)
            if plan.clamps:
                m.d.comb += rq.top.eq(seq.desc.top)
            m.d.comb += [rq.acc.eq(ho.sub_out[j][i]), rq.m.eq(ho.sub_m[i]),
                         rq.n.eq(ho.sub_n[i]), rq.valid.eq(ho.rq_valid)]
            out.append(rq)
        return out

    def _buffers(self, m, seq, ops, nports, addr_bits):
        """The ping-pong buffers, the image buffer and its loader; returns the write ports.

        Every read port takes the sequencer's registered address and enable, and its data
        passes one more register (the block RAM's output register) before the operands.
        """
        plan = self._plan
        wports = []
        for b in range(2):
            m.submodules[f"act{b}"] = mem = Memory(shape=plan.word_bits,
                                                   depth=plan.act_depth[b], init=[],
                                                   attrs=RAM_ATTRS)
            wports.append(mem.write_port(granularity=plan.write_granularity))
            # PE j > 0 reads a buffer of its own only where a pixel-parallel pass reads it
            for j in range(plan.act_read_ports[b]):
                port = mem.read_port()
                addr = seq.act_addr if j == 0 else seq.pe_addr[j]
                en = seq.act_en[b] if j == 0 else seq.pe_en[b][j]
                m.d.comb += [port.addr.eq(addr), port.en.eq(en)]
                m.d.comb += getattr(ops, f"act{b}")[j].eq(
                    delayed(m, port.data, READ_LATENCY - 1, f"act{b}_pe{j}"))
        # The first pass's input: the image unrolled by the loader, F lanes of 8 bits
        m.submodules.image_buf = image_buf = Memory(shape=plan.image_word_bits,
                                                    depth=plan.image_depth, init=[],
                                                    attrs=RAM_ATTRS)
        image_rp = image_buf.read_port()
        image_wp = image_buf.write_port(granularity=INPUT_BITS)
        m.d.comb += [image_rp.addr.eq(seq.act_addr), image_rp.en.eq(seq.image_en),
                     ops.image.eq(delayed(m, image_rp.data, READ_LATENCY - 1, "image"))]
        m.submodules.loader = loader = ImageLoader(plan, addr_bits)
        wiring.connect(m, wiring.flipped(self.image), loader.image)
        m.d.comb += [
            loader.enable.eq(seq.loader_enable),
            loader.restart.eq(seq.loader_restart),
            seq.loader_busy.eq(loader.busy),
            # the image buffer is written by the loader only (while idle)
            image_wp.addr.eq(loader.wr_addr), image_wp.data.eq(loader.wr_data),
            image_wp.en.eq(loader.wr_en),
        ]
        return wports

    def _pe_array(self, m, seq, ops, ctl_rd, ctl_op, has_dwp, T):
        """Weight and parameter ROMs and the PEs; returns each PE's parameter word.

        The parameter ROM is read with a group's first step two cycles before that step
        reaches the stage that adds the bias: the accumulator (T tree registers after the
        products), or the lane accumulators of pixel-parallel passes (right after the
        products). Its output (the PE's ``bias``, a cycle ahead) is registered once more:
        that word (``prm``) shows the group's parameters from the step's arrival until
        the next group's first step, so ``lane_bias`` and ``m, n`` are there at the
        accumulator and at the hand-over.
        """
        plan = self._plan
        dwp = seq.desc.mode == MODE_DWP
        prm_ctl = delayed(m, ctl_rd, T, "ctl_prm")  # two cycles before the accumulator
        if has_dwp and T:
            either = Signal.like(ctl_rd, name="ctl_prm")
            with m.If(dwp):
                m.d.comb += either.eq(ctl_rd)
            with m.Else():
                m.d.comb += either.eq(prm_ctl)
            prm_ctl = either
        self._pes, prms, prms2, prm_subs = [], [], [], []
        first_pass = seq.desc.first
        for j in range(plan.pe_count):
            files = dict.fromkeys(("first_weights", "weights", "params"))
            if self._mem_dir is not None:  # "" names the bare files (Vivado project files)
                prefix = f"{self._mem_dir}/" if self._mem_dir else ""
                files = {k: f"{prefix}{k}_pe{j}.mem" for k in files}
            m.submodules[f"first_weights_pe{j}"] = fr = ROM(
                plan.first_word_bits, self._packed.first_weights[j],
                init_file=files["first_weights"])
            m.submodules[f"weights_pe{j}"] = wr = ROM(plan.word_bits, self._packed.weights[j],
                                                      init_file=files["weights"])
            m.submodules[f"params_pe{j}"] = pr = ROM(param_bits(plan), self._packed.params[j],
                                                     init_file=files["params"])
            m.submodules[f"pe{j}"] = pe = PE(
                plan.q, plan.mults_per_pe, self.acc_bits, ops.act_bits,
                image_lanes=plan.image_lanes, lane_accumulators=has_dwp,
                mult_impl=self.mult_impl, splits=plan.splits,
                pair_lanes=pair_lanes(plan.mults_per_pe) if plan.pairs else 0,
                lane_splits=plan.dwp_splits, reuse=2 if plan.reuses else 1)
            if plan.reuses:  # a pass reusing weights interleaves pixel pairs
                m.d.comb += pe.pixels.eq(seq.desc.rdx)
            if plan.splits != (1,):
                m.d.comb += pe.split.eq(seq.desc.split_in)
            if plan.dwp_split > 1:  # sub-lanes 1 … k−1: slices 1 … k−1 of the word
                m.d.comb += pe.sub_lanes.eq(dwp & (seq.desc.split_in != 0))
                subs = [Signal(PARAM_LAYOUT, name=f"prm{j}_{i}")
                        for i in range(1, plan.dwp_split)]
                m.d.sync += [r.eq(pr.data[PARAM_BITS * i:PARAM_BITS * (i + 1)])
                             for i, r in enumerate(subs, start=1)]
                prm_subs.append(subs)
            if plan.pairs:  # the second channel's parameters: the word's upper half
                prm2 = Signal(PARAM_LAYOUT, name=f"prm2_{j}")
                ahead2 = Signal(PARAM_LAYOUT, name=f"prm2_ahead{j}")
                m.d.comb += [ahead2.eq(pr.data[PARAM_BITS:]), pe.pair.eq(seq.desc.pair),
                             pe.bias2.eq(ahead2.b)]
                m.d.sync += prm2.eq(ahead2)
                prms2.append(prm2)
            prm = Signal(PARAM_LAYOUT, name=f"prm{j}")  # `ahead`, registered once more
            ahead = Signal(PARAM_LAYOUT, name=f"prm_ahead{j}")  # the ROM's word, the PE's bias
            m.d.comb += [
                fr.addr.eq(seq.weight_addr), fr.en.eq(seq.weight_en & first_pass),
                ops.image_weights[j].eq(delayed(m, fr.data, READ_LATENCY - 1,
                                                f"first_weights_pe{j}")),
                pe.image_act.eq(ops.pe_image), pe.image_weight.eq(ops.pe_image_weight[j]),
                pe.first_pass.eq(first_pass),
                wr.addr.eq(seq.weight_addr), wr.en.eq(seq.weight_en & ~first_pass),
                pr.addr.eq(prm_ctl.gidx), pr.en.eq(prm_ctl.valid & prm_ctl.gfirst),
                ahead.eq(pr.data),
                ops.weights[j].eq(delayed(m, wr.data, READ_LATENCY - 1, f"weights_pe{j}")),
                pe.act.eq(ops.pe_act[j]), pe.weight.eq(ops.pe_weight[j]),
                pe.lane_en.eq(ops.lane_en[j]),
                pe.valid.eq(ctl_op.valid), pe.first.eq(ctl_op.first), pe.bias.eq(ahead.b),
            ]
            m.d.sync += prm.eq(ahead)
            if has_dwp:  # lane l's bias is channel cg·M + l's: PE l's parameters (P ≥ M)
                m.d.comb += pe.lane_mode.eq(dwp)
            self._pes.append(pe)
            prms.append(prm)
        if has_dwp:
            for pe in self._pes:
                for lane in range(plan.mults_per_pe):
                    m.d.comb += pe.lane_bias[lane].eq(prms[lane].b)
                    for i, prm in enumerate(prm_subs[lane] if prm_subs else []):
                        m.d.comb += pe.sub_bias[lane][i].eq(prm.b)
        self._sub_prm = prm_subs  # lane l's sub-lanes: PE l's word slices (P ≥ M)
        return prms, prms2

    def _write_back(self, m, seq, ho, reqs, wports, addr_bits, has_dwp, sub_reqs):
        """The pooled write-back, or the lane collector of pixel-parallel passes."""
        plan = self._plan
        P, M, q = plan.pe_count, plan.mults_per_pe, plan.q
        desc = seq.desc
        dwp = desc.mode == MODE_DWP
        y_ctl = delayed(m, ho.r1_ctl, Requantizer.latency, "ctl_y")
        g = plan.write_granularity
        m.submodules.writeback = wb = PoolWriteBack(q, P, M, addr_bits, seq.ctl_layout,
                                                    len(desc.cout), splits=plan.splits,
                                                    granularity=g, paired=plan.pairs)
        if plan.splits != (1,):
            m.d.comb += wb.split.eq(desc.split_out)
        if plan.pairs:  # a second sum leaves the requantizer a cycle after the first
            y_second = delayed(m, ho.rq_second, Requantizer.latency, "second_y")
            first_ctl = delayed(m, y_ctl, 1, "ctl_y_first")  # the pixel's, held a cycle
            m.d.comb += [wb.pair.eq(desc.pair), wb.y_second.eq(y_second)]
            y_ctl = Mux(y_second, first_ctl, y_ctl)
        m.d.comb += [wb.y_valid.eq(reqs[0].y_valid & ~dwp), wb.ctl.eq(y_ctl),
                     wb.cout.eq(desc.cout)]
        for j in range(P):
            m.d.comb += wb.y[j].eq(reqs[j].y)
        if has_dwp:
            m.submodules.collector = lc = LaneCollector(
                q, P, M, addr_bits, seq.ctl_layout, len(desc.cg_out), len(desc.cout),
                splits=plan.splits, granularity=g, lane_splits=plan.dwp_splits)
            if plan.splits != (1,):
                m.d.comb += lc.split.eq(desc.split_out)
            if sub_reqs:  # the sub-lanes' values beside the lane's
                m.d.comb += lc.split_in.eq(desc.split_in)
            for j, subs in enumerate(sub_reqs):
                m.d.comb += [lc.y_sub[j][i].eq(rq.y) for i, rq in enumerate(subs)]
            m.d.comb += [lc.y_valid.eq(reqs[0].y_valid & dwp), lc.lane.eq(ho.ser_lane),
                         lc.meta.eq(ho.ser_meta), lc.cg_out.eq(desc.cg_out),
                         lc.cout.eq(desc.cout)]
            for j in range(P):
                m.d.comb += lc.y[j].eq(reqs[j].y)
            dwp_we, dwp_addr, dwp_word = lc.we, lc.addr, lc.data
            dwp_en = lc.en
        else:
            dwp_we, dwp_addr, dwp_word, dwp_en = (C(0, 1), C(0, addr_bits),
                                                  C(0, plan.word_bits), C(0, M * q // g))
        dst = ~desc.src
        for b, wp in enumerate(wports):
            with m.If(dwp):
                m.d.comb += [wp.addr.eq(dwp_addr), wp.data.eq(dwp_word),
                             wp.en.eq(Mux(dwp_we & (dst == b), dwp_en, 0))]
            with m.Else():
                m.d.comb += [wp.addr.eq(wb.addr), wp.data.eq(wb.data),
                             wp.en.eq(Mux(wb.we & (dst == b) & self.busy, wb.en, 0))]
