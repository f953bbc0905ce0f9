"""Top level: P×M PE array, image and ping-pong activation buffers, and their wiring.

Protocol: while idle, stream the image's bytes (H, W, C order) into ``image``; pulse
``start``; ``busy`` is high until ``done`` rises, then ``logits`` (int32 per class,
class 0 in the low bits) and ``class_out`` (argmax, lowest index on ties) are valid and
``cycles`` holds the clock cycles from ``start`` to ``done`` (the image load is not
included). A new image may be streamed in once ``done`` is high.

The pipeline (docs/hardware.md): S0 issue (`hw.sequencer.Sequencer`), S1 read and
multiply, S2 accumulate (`hw.pe.PE`), R1/R2 requantize (`hw.requant.Requantizer`), R3
pool and W write-back (`hw.writeback`). This module holds the memories, the S1 operand
selection, the S2 hand-over to the requantizers (including the lane serializer of
pixel-parallel passes) and the logits with their argmax scan.
"""

from __future__ import annotations

from amaranth.hdl import Array, C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.loader import ImageLoader
from hw.packing import (
    MODE_DW,
    MODE_DWP,
    N_BITS,
    PARAM_BITS,
    Plan,
    check_array_params,
    network_q,
    pack_network,
)
from hw.pe import PE, tree_sum
from hw.requant import Requantizer
from hw.rom import ROM
from hw.sequencer import Sequencer
from hw.tables import bits
from hw.writeback import LaneCollector, PoolWriteBack
from intnet.contract import BIAS_BITS, INPUT_BITS, LOGIT_BITS, M_BITS, accumulator_bits

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
        `hw.packing.write_mem_files`); otherwise Amaranth memories hold the words (for
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
        WB = plan.word_bits
        # lanes carry whole 8-bit pixels in the first pass, q-bit activations (zero
        # extended) afterwards
        AB = max(q, INPUT_BITS)
        passes = plan.passes
        ncls = plan.num_classes
        addr_bits = bits(max(*plan.act_depth, plan.image_depth))
        # Pixel-parallel depthwise passes read one word per PE: P read ports (BRAM
        # replicas); otherwise one read port, broadcast to every PE.
        has_dwp = any(p.mode == MODE_DWP for p in passes)
        has_gsum = any(p.gsum for p in passes)
        nports = P if has_dwp else 1

        m.submodules.seq = seq = Sequencer(plan, addr_bits, nports)
        desc, ctl0 = seq.desc, seq.ctl
        ctl_layout = seq.ctl_layout
        dmax, gmax = seq.desc_table.maxima, seq.group_table.maxima
        dwp = desc.mode == MODE_DWP
        step = seq.step
        m.d.comb += [self.busy.eq(seq.busy), self.done.eq(seq.done),
                     self.cycles.eq(seq.cycles), seq.start.eq(self.start)]

        # ---------------------------------------------------------------- memories
        rports, wports = [], []
        for b in range(2):
            mem = Memory(shape=WB, depth=plan.act_depth[b], init=[])
            m.submodules[f"act{b}"] = mem
            rports.append([mem.read_port() for _ in range(nports)])
            wports.append(mem.write_port(granularity=q))
        # The first pass's input: the image unrolled by the loader, M lanes of 8 bits
        m.submodules.image_buf = image_buf = Memory(shape=plan.image_word_bits,
                                                    depth=plan.image_depth, init=[])
        image_rp = image_buf.read_port()
        image_wp = image_buf.write_port(granularity=INPUT_BITS)
        for j in range(nports):
            for b in range(2):
                port = rports[b][j]
                if j == 0:
                    m.d.comb += [
                        port.addr.eq(Mux(dwp, seq.pe_addr[j], seq.act_addr)),
                        port.en.eq(step & (desc.src == b) & ~desc.first
                                   & Mux(dwp, ~ctl0.pad_pe[j], ~ctl0.pad)),
                    ]
                else:
                    m.d.comb += [port.addr.eq(seq.pe_addr[j]),
                                 port.en.eq(step & (desc.src == b) & dwp & ~ctl0.pad_pe[j])]
        m.d.comb += [image_rp.addr.eq(seq.act_addr),
                     image_rp.en.eq(step & desc.first & ~ctl0.pad)]

        weight_roms, param_roms, pes = [], [], []
        for j in range(P):
            wf = pf = None
            if self._mem_dir is not None:  # "" names the bare files (Vivado project files)
                prefix = f"{self._mem_dir}/" if self._mem_dir else ""
                wf = f"{prefix}weights_pe{j}.mem"
                pf = f"{prefix}params_pe{j}.mem"
            wr = ROM(WB, self._packed.weights[j], init_file=wf)
            pr = ROM(PARAM_BITS, self._packed.params[j], init_file=pf)
            pe = PE(q, M, self.acc_bits, AB, lane_accumulators=has_dwp)
            m.submodules[f"weights_pe{j}"] = wr
            m.submodules[f"params_pe{j}"] = pr
            m.submodules[f"pe{j}"] = pe
            weight_roms.append(wr)
            param_roms.append(pr)
            pes.append(pe)
            m.d.comb += [wr.addr.eq(seq.weight_addr), wr.en.eq(step),
                         pr.addr.eq(seq.param_addr), pr.en.eq(step & ctl0.gfirst)]

        # ----------------------------------------------------------- S1: read, multiply
        ctl1 = Signal(ctl_layout)
        ctl2 = Signal(ctl_layout)
        m.d.sync += [ctl1.eq(ctl0), ctl2.eq(ctl1)]

        def widen(word):  # q-bit lanes → AB-bit lanes (zero extension: wiring only)
            return Cat(*(Cat(word[q * lane: q * (lane + 1)], C(0, AB - q))
                         for lane in range(M)))

        act_word = Signal(AB * M)
        m.d.comb += act_word.eq(Mux(ctl1.pad, 0, Mux(desc.first, image_rp.data, widen(
            Mux(desc.src, rports[1][0].data, rports[0][0].data)))))
        dwp_words = []
        for j in range(nports):
            wj = Signal(AB * M, name=f"act_word_pe{j}")
            m.d.comb += wj.eq(Mux(ctl1.pad_pe[j], 0, widen(
                Mux(desc.src, rports[1][j].data, rports[0][j].data))))
            dwp_words.append(wj)
        lane_v = [Signal(ctl_layout["cg"].shape.width + bits(M) + 1, name=f"lane_v{lane}")
                  for lane in range(M)]
        for lane in range(M):
            m.d.comb += lane_v[lane].eq(ctl1.cg * M + lane)
        prm_layout = data.StructLayout({"b": signed(BIAS_BITS), "m": unsigned(M_BITS),
                                        "n": unsigned(N_BITS)})
        prms = []
        for j in range(P):
            pe = pes[j]
            prm = Signal(prm_layout, name=f"prm{j}")
            with m.If(ctl1.valid & ctl1.gfirst):
                m.d.sync += prm.eq(param_roms[j].data)
            prms.append(prm)
            if has_dwp:
                # pixel-parallel depthwise: own activation word, PE 0's weights broadcast
                m.d.comb += [
                    pe.act.eq(Mux(dwp, dwp_words[j], act_word)),
                    pe.weight.eq(Mux(dwp, weight_roms[0].data, weight_roms[j].data)),
                    pe.lane_mode.eq(dwp),
                ]
            else:
                m.d.comb += [pe.act.eq(act_word), pe.weight.eq(weight_roms[j].data)]
            m.d.comb += [pe.valid.eq(ctl1.valid), pe.first.eq(ctl1.first), pe.bias.eq(prm.b)]
            for lane in range(M):
                v = lane_v[lane]
                en = (Mux(desc.mode == MODE_DW, v == ctl1.cbase + j, 1) & (v < desc.cin)
                      & ctl1.tap_ok[lane])
                m.d.comb += pe.lane_en[lane].eq(en)

        if has_dwp:  # lane l's bias is channel cg·M + l's: PE l's parameters (P ≥ M)
            for j in range(P):
                for lane in range(M):
                    m.d.comb += pes[j].lane_bias[lane].eq(prms[lane].b)

        # ------------------------------------------------ S2: accumulate and hand over
        r1_valid = Signal()
        r1_ctl = Signal(ctl_layout)
        r1_acc = [Signal(signed(self.acc_bits), name=f"r1_acc{j}") for j in range(P)]
        handover = ctl2.valid & ctl2.last
        m.d.sync += [r1_valid.eq(handover), r1_ctl.eq(ctl2)]
        # Pixel-parallel depthwise: at hand-over every PE's M lane sums are latched, then
        # each PE's requantizer takes one lane per cycle (lane l uses channel l's m, n).
        ser_active = Signal()
        ser_k = Signal(range(max(2, M)))
        ser_meta = Signal(ctl_layout)
        dwp_acc = [[Signal(signed(self.acc_bits), name=f"dwp_acc{j}_{lane}")
                    for lane in range(M)] for j in range(P)] if has_dwp else []
        dwp_m = [Signal(M_BITS, name=f"dwp_m{lane}") for lane in range(M)]
        dwp_n = [Signal(N_BITS, name=f"dwp_n{lane}") for lane in range(M)]
        if has_dwp:
            with m.If(ser_active):
                m.d.sync += ser_k.eq(ser_k + 1)
                with m.If(ser_k == M - 1):
                    m.d.sync += ser_active.eq(0)
            with m.If(handover & dwp):
                m.d.sync += [ser_active.eq(1), ser_k.eq(0), ser_meta.eq(ctl2)]
                for lane in range(M):
                    m.d.sync += [dwp_m[lane].eq(prms[lane].m), dwp_n[lane].eq(prms[lane].n)]
                    for j in range(P):
                        m.d.sync += dwp_acc[j][lane].eq(pes[j].lane_acc[lane])
                    if has_gsum:  # avgpool: PE 0 gets the sum over all PEs (the whole map)
                        with m.If(desc.gsum):
                            m.d.sync += dwp_acc[0][lane].eq(
                                tree_sum(m, [pes[j].lane_acc[lane] for j in range(P)]))
        reqs = []
        for j in range(P):
            with m.If(handover):
                m.d.sync += r1_acc[j].eq(pes[j].acc)
            rq = Requantizer(self.acc_bits, q)
            m.submodules[f"requant{j}"] = rq
            reqs.append(rq)
            # R1/R2: m and n come from the same group parameters as the bias
            r1_m = Signal(M_BITS, name=f"r1_m{j}")
            r1_n = Signal(N_BITS, name=f"r1_n{j}")
            with m.If(handover):
                m.d.sync += [r1_m.eq(prms[j].m), r1_n.eq(prms[j].n)]
            if has_dwp:
                m.d.comb += [
                    rq.acc.eq(Mux(dwp, Array(dwp_acc[j])[ser_k], r1_acc[j])),
                    rq.m.eq(Mux(dwp, Array(dwp_m)[ser_k], r1_m)),
                    rq.n.eq(Mux(dwp, Array(dwp_n)[ser_k], r1_n)),
                    rq.valid.eq(Mux(dwp, ser_active, r1_valid & ~desc.last)),
                ]
            else:
                m.d.comb += [rq.acc.eq(r1_acc[j]), rq.m.eq(r1_m), rq.n.eq(r1_n),
                             rq.valid.eq(r1_valid & ~desc.last)]

        # ------------------------------------- logits of the last pass, argmax scan
        logit_regs = [Signal(signed(LOGIT_BITS), name=f"logit{c}") for c in range(ncls)]
        with m.If(r1_valid & desc.last):  # the raw accumulators are the logits
            for c in range(ncls):
                for j in range(P):
                    with m.If(r1_ctl.cbase + j == c):
                        m.d.sync += logit_regs[c].eq(r1_acc[j][:LOGIT_BITS])
        am_c = Signal(range(max(2, ncls)))
        best = Signal(signed(LOGIT_BITS))
        best_idx = Signal(self.class_out.shape())
        m.d.comb += seq.argmax_last.eq(am_c == ncls - 1)
        with m.If(seq.argmax_start):
            m.d.sync += am_c.eq(0)
        with m.If(seq.argmax):
            value = Array(logit_regs)[am_c]
            with m.If((am_c == 0) | (value > best)):
                m.d.sync += [best.eq(value), best_idx.eq(am_c)]
            with m.If(am_c != ncls - 1):
                m.d.sync += am_c.eq(am_c + 1)
        m.d.comb += self.class_out.eq(best_idx)
        for c in range(ncls):
            m.d.comb += self.logits[LOGIT_BITS * c: LOGIT_BITS * (c + 1)].eq(logit_regs[c])

        # ------------------------------------------------------- R3, W: write-back
        r2_ctl = Signal(ctl_layout)
        r3_ctl = Signal(ctl_layout)
        m.d.sync += [r2_ctl.eq(r1_ctl), r3_ctl.eq(r2_ctl)]
        m.submodules.writeback = wb = PoolWriteBack(
            q, P, M, addr_bits, ctl_layout, gmax["wo_cnt"], dmax["cg_out"], len(desc.cout))
        m.d.comb += [wb.y_valid.eq(reqs[0].y_valid & ~dwp), wb.ctl.eq(r3_ctl),
                     wb.cout.eq(desc.cout)]
        for j in range(P):
            m.d.comb += wb.y[j].eq(reqs[j].y)
        if has_dwp:
            m.submodules.collector = lc = LaneCollector(
                q, P, M, addr_bits, ctl_layout, len(desc.cg_out), len(desc.cout))
            m.d.comb += [lc.y_valid.eq(reqs[0].y_valid & dwp), lc.lane.eq(ser_k),
                         lc.meta.eq(ser_meta), lc.cg_out.eq(desc.cg_out), lc.cout.eq(desc.cout)]
            for j in range(P):
                m.d.comb += lc.y[j].eq(reqs[j].y)
            dwp_we, dwp_addr, dwp_word, dwp_en = lc.we, lc.addr, lc.data, lc.en
        else:
            dwp_we, dwp_addr, dwp_word, dwp_en = C(0, 1), C(0, addr_bits), C(0, WB), C(0, M)

        dst = ~desc.src
        for b in range(2):
            wp = wports[b]
            wb_here = wb.active & (dst == b) & self.busy
            with m.If(dwp):
                m.d.comb += [wp.addr.eq(dwp_addr), wp.data.eq(dwp_word),
                             wp.en.eq(Mux(dwp_we & (dst == b), dwp_en, 0))]
            with m.Else():
                m.d.comb += [wp.addr.eq(wb.addr), wp.data.eq(wb.data),
                             wp.en.eq(Mux(wb_here, wb.en, 0))]

        # ------------------------------------------------------------ image loader
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
        return m
