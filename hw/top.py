"""Top level: P×M PE array, image and ping-pong activation buffers, and their wiring.

Protocol: while idle, stream the image's bytes (H, W, C order) into ``image``; pulse
``start``; ``busy`` is high until ``done`` rises, then ``logits`` (int32 per class,
class 0 in the low bits) and ``class_out`` (argmax, lowest index on ties) are valid and
``cycles`` holds the clock cycles from ``start`` to ``done`` (the image load is not
included). A new image may be streamed in once ``done`` is high.

The pipeline (docs/hardware.md): S0 issue (`hw.sequencer.Sequencer`), S1 read and
operand select (`hw.operands`), S2 multiply-accumulate (`hw.pe.PE`), hand-over
(`hw.handover`), R1/R2 requantize (`hw.requant.Requantizer`), R3 pool and W write-back
(`hw.writeback`); the last pass's accumulators go to `hw.logits`. This module holds the
memories and wires the stages together.
"""

from __future__ import annotations

from amaranth.hdl import C, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.handover import PARAM_LAYOUT, Handover
from hw.loader import ImageLoader
from hw.logits import Logits
from hw.operands import OperandSelect
from hw.packing import PARAM_BITS, pack_network
from hw.pe import PE
from hw.plan import MODE_DWP, Plan, check_array_params, network_q
from hw.requant import Requantizer
from hw.rom import ROM
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
    """

    def __init__(self, network, pe_count: int, mults_per_pe: int, *, mem_dir: str | None = None):
        try:
            check_array_params(1, pe_count, mults_per_pe)
            q = network_q(network)
            check_array_params(q, pe_count, mults_per_pe)
            self._packed = pack_network(network, pe_count, mults_per_pe, q)
        except ValueError:
            self._MustUse__silence = True  # rejected, so never elaborated: no unused warning
            raise
        self._plan = plan = self._packed.plan
        self._mem_dir = mem_dir
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
        addr_bits = bits(max(*plan.act_depth, plan.image_depth))
        # Pixel-parallel depthwise passes read one word per PE: P read ports (BRAM
        # replicas); otherwise one read port, broadcast to every PE.
        has_dwp = any(p.mode == MODE_DWP for p in plan.passes)
        nports = P if has_dwp else 1
        m.submodules.seq = seq = Sequencer(plan, addr_bits, nports)
        m.d.comb += [self.busy.eq(seq.busy), self.done.eq(seq.done),
                     self.cycles.eq(seq.cycles), seq.start.eq(self.start)]
        ctl1, ctl2 = Signal(seq.ctl_layout), Signal(seq.ctl_layout)
        m.d.sync += [ctl1.eq(seq.ctl), ctl2.eq(ctl1)]

        m.submodules.operands = ops = OperandSelect(q, P, M, nports, seq.ctl_layout,
                                                    seq.desc.shape(), pixel_parallel=has_dwp)
        m.d.comb += [ops.ctl.eq(ctl1), ops.desc.eq(seq.desc)]
        wports = self._buffers(m, seq, ops, nports, addr_bits)
        prms = self._pe_array(m, seq, ops, ctl1, has_dwp)
        m.submodules.handover = ho = Handover(
            self.acc_bits, P, M, seq.ctl_layout, seq.desc.shape(), pixel_parallel=has_dwp,
            summing=any(p.gsum for p in plan.passes))
        m.d.comb += [ho.ctl.eq(ctl2), ho.desc.eq(seq.desc)]
        reqs = []
        for j, pe in enumerate(self._pes):
            m.submodules[f"requant{j}"] = rq = Requantizer(self.acc_bits, q)
            m.d.comb += [ho.acc[j].eq(pe.acc), ho.prm[j].eq(prms[j]),
                         rq.acc.eq(ho.rq_acc[j]), rq.m.eq(ho.rq_m[j]), rq.n.eq(ho.rq_n[j]),
                         rq.valid.eq(ho.rq_valid)]
            if has_dwp:
                m.d.comb += ho.lane_acc[j].eq(pe.lane_acc)
            reqs.append(rq)

        m.submodules.logits = lg = Logits(plan.num_classes, P, self.acc_bits,
                                          len(ho.r1_ctl.cbase))
        m.d.comb += [lg.capture.eq(ho.r1_valid & seq.desc.last), lg.cbase.eq(ho.r1_ctl.cbase),
                     lg.acc.eq(ho.r1_acc), lg.scan_start.eq(seq.argmax_start),
                     lg.scan.eq(seq.argmax), seq.argmax_last.eq(lg.scan_last),
                     self.logits.eq(lg.logits), self.class_out.eq(lg.class_out)]
        self._write_back(m, seq, ho, reqs, wports, addr_bits, has_dwp)
        return m

    def _buffers(self, m, seq, ops, nports, addr_bits):
        """The ping-pong buffers, the image buffer and its loader; returns the write ports."""
        plan = self._plan
        desc, ctl0, step = seq.desc, seq.ctl, seq.step
        dwp = desc.mode == MODE_DWP
        wports = []
        for b in range(2):
            m.submodules[f"act{b}"] = mem = Memory(shape=plan.word_bits,
                                                   depth=plan.act_depth[b], init=[])
            wports.append(mem.write_port(granularity=plan.q))
            for j in range(nports):
                port = mem.read_port()
                reading = step & (desc.src == b)
                if j == 0:  # the broadcast port, and PE 0's own in pixel-parallel passes
                    m.d.comb += [port.addr.eq(Mux(dwp, seq.pe_addr[j], seq.act_addr)),
                                 port.en.eq(reading & ~desc.first
                                            & Mux(dwp, ~ctl0.pad_pe[j], ~ctl0.pad))]
                else:
                    m.d.comb += [port.addr.eq(seq.pe_addr[j]),
                                 port.en.eq(reading & dwp & ~ctl0.pad_pe[j])]
                m.d.comb += getattr(ops, f"act{b}")[j].eq(port.data)
        # The first pass's input: the image unrolled by the loader, M lanes of 8 bits
        m.submodules.image_buf = image_buf = Memory(shape=plan.image_word_bits,
                                                    depth=plan.image_depth, init=[])
        image_rp = image_buf.read_port()
        image_wp = image_buf.write_port(granularity=INPUT_BITS)
        m.d.comb += [image_rp.addr.eq(seq.act_addr),
                     image_rp.en.eq(step & desc.first & ~ctl0.pad), ops.image.eq(image_rp.data)]
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

    def _pe_array(self, m, seq, ops, ctl1, has_dwp):
        """Weight and parameter ROMs and the PEs; returns each PE's latched parameters."""
        plan = self._plan
        self._pes, prms = [], []
        for j in range(plan.pe_count):
            wf = pf = None
            if self._mem_dir is not None:  # "" names the bare files (Vivado project files)
                prefix = f"{self._mem_dir}/" if self._mem_dir else ""
                wf, pf = f"{prefix}weights_pe{j}.mem", f"{prefix}params_pe{j}.mem"
            m.submodules[f"weights_pe{j}"] = wr = ROM(plan.word_bits, self._packed.weights[j],
                                                      init_file=wf)
            m.submodules[f"params_pe{j}"] = pr = ROM(PARAM_BITS, self._packed.params[j],
                                                     init_file=pf)
            m.submodules[f"pe{j}"] = pe = PE(plan.q, plan.mults_per_pe, self.acc_bits,
                                             ops.act_bits, lane_accumulators=has_dwp)
            prm = Signal(PARAM_LAYOUT, name=f"prm{j}")
            with m.If(ctl1.valid & ctl1.gfirst):  # the group's parameters, read with step 1
                m.d.sync += prm.eq(pr.data)
            m.d.comb += [
                wr.addr.eq(seq.weight_addr), wr.en.eq(seq.step),
                pr.addr.eq(seq.param_addr), pr.en.eq(seq.step & seq.ctl.gfirst),
                ops.weights[j].eq(wr.data),
                pe.act.eq(ops.pe_act[j]), pe.weight.eq(ops.pe_weight[j]),
                pe.lane_en.eq(ops.lane_en[j]),
                pe.valid.eq(ctl1.valid), pe.first.eq(ctl1.first), pe.bias.eq(prm.b),
            ]
            if has_dwp:  # lane l's bias is channel cg·M + l's: PE l's parameters (P ≥ M)
                m.d.comb += pe.lane_mode.eq(seq.desc.mode == MODE_DWP)
            self._pes.append(pe)
            prms.append(prm)
        if has_dwp:
            for pe in self._pes:
                for lane in range(plan.mults_per_pe):
                    m.d.comb += pe.lane_bias[lane].eq(prms[lane].b)
        return prms

    def _write_back(self, m, seq, ho, reqs, wports, addr_bits, has_dwp):
        """R3/W: pooled write-back, or the lane collector of pixel-parallel passes."""
        plan = self._plan
        P, M, q = plan.pe_count, plan.mults_per_pe, plan.q
        desc = seq.desc
        dwp = desc.mode == MODE_DWP
        dmax, gmax = seq.desc_table.maxima, seq.group_table.maxima
        r2_ctl, r3_ctl = Signal(seq.ctl_layout), Signal(seq.ctl_layout)
        m.d.sync += [r2_ctl.eq(ho.r1_ctl), r3_ctl.eq(r2_ctl)]
        m.submodules.writeback = wb = PoolWriteBack(
            q, P, M, addr_bits, seq.ctl_layout, gmax["wo_cnt"], dmax["cg_out"], len(desc.cout))
        m.d.comb += [wb.y_valid.eq(reqs[0].y_valid & ~dwp), wb.ctl.eq(r3_ctl),
                     wb.cout.eq(desc.cout)]
        for j in range(P):
            m.d.comb += wb.y[j].eq(reqs[j].y)
        if has_dwp:
            m.submodules.collector = lc = LaneCollector(
                q, P, M, addr_bits, seq.ctl_layout, len(desc.cg_out), len(desc.cout))
            m.d.comb += [lc.y_valid.eq(reqs[0].y_valid & dwp), lc.lane.eq(ho.ser_lane),
                         lc.meta.eq(ho.ser_meta), lc.cg_out.eq(desc.cg_out),
                         lc.cout.eq(desc.cout)]
            for j in range(P):
                m.d.comb += lc.y[j].eq(reqs[j].y)
            dwp_we, dwp_addr, dwp_word, dwp_en = lc.we, lc.addr, lc.data, lc.en
        else:
            dwp_we, dwp_addr, dwp_word, dwp_en = (C(0, 1), C(0, addr_bits),
                                                  C(0, plan.word_bits), C(0, M))
        dst = ~desc.src
        for b, wp in enumerate(wports):
            with m.If(dwp):
                m.d.comb += [wp.addr.eq(dwp_addr), wp.data.eq(dwp_word),
                             wp.en.eq(Mux(dwp_we & (dst == b), dwp_en, 0))]
            with m.Else():
                m.d.comb += [wp.addr.eq(wb.addr), wp.data.eq(wb.data),
                             wp.en.eq(Mux(wb.active & (dst == b) & self.busy, wb.en, 0))]
