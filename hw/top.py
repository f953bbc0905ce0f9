"""Top level: P×M PE array, ping-pong activation buffers, layer sequencer, image load.

Protocol: while idle, stream the image's bytes (H, W, C order) into ``image``; pulse
``start``; ``busy`` is high until ``done`` rises, then ``logits`` (int32 per class,
class 0 in the low bits) and ``class_out`` (argmax, lowest index on ties) are valid and
``cycles`` holds the clock cycles from ``start`` to ``done`` (the image load is not
included). A new image may be streamed in once ``done`` is high.

See docs/hardware.md for the pipeline (S0 issue, S1 read+multiply, S2 accumulate,
R1/R2 requantize, R3 pool/write latch, W write-back) and the descriptor tables.
"""

from __future__ import annotations

from amaranth.hdl import Array, C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.loader import ImageLoader
from hw.packing import (
    BIAS_BITS,
    INPUT_BITS,
    LOGIT_BITS,
    M_BITS,
    MODE_DW,
    MODE_DWP,
    N_BITS,
    PARAM_BITS,
    Plan,
    check_array_params,
    lane_tap,
    network_q,
    pack_network,
)
from hw.pe import PE, tree_sum
from hw.requant import Requantizer
from hw.rom import ROM


def _bits(value: int) -> int:
    return max(1, int(value).bit_length())


def accumulator_bits(plan: Plan) -> int:
    """Worst-case accumulator width: |bias| < 2^31 plus every product at its extreme."""
    q = plan.q
    w_max = 1 if q == 1 else (1 << (q - 1)) - 1
    worst = 0
    for p in plan.passes:
        if p.first:  # whole 8-bit pixels, K²·C virtual channels (or H·W·C for a dense)
            terms, a_max = p.kh * p.kw * p.cin, (1 << INPUT_BITS) - 1
        elif p.gsum:  # every pixel of the map into one lane
            terms, a_max = p.opix, (1 << q) - 1
        elif p.mode in (MODE_DW, MODE_DWP):  # one channel per accumulator
            terms, a_max = p.kh * p.kw, (1 << q) - 1
        else:
            terms, a_max = p.kh * p.kw * p.cin, (1 << q) - 1
        worst = max(worst, terms * w_max * a_max)
    return max(LOGIT_BITS, ((1 << (BIAS_BITS - 1)) + worst).bit_length() + 1)


def _layout(fields: dict[str, int]) -> data.StructLayout:
    return data.StructLayout({name: unsigned(_bits(v)) for name, v in fields.items()})


def _pack(layout: data.StructLayout, values: dict) -> int:
    word = 0
    for name, fld in layout:
        word |= (int(values[name]) & ((1 << fld.width) - 1)) << fld.offset
    return word


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
        self.acc_bits = accumulator_bits(plan)
        n = plan.num_classes
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "image": In(stream.Signature(INPUT_BITS)),
            "logits": Out(LOGIT_BITS * n),
            "class_out": Out(_bits(n - 1)),
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
        depth_max = max(*plan.act_depth, plan.image_depth)
        addr_bits = _bits(depth_max)

        # ---------------------------------------------------- descriptor and group tables
        # Both are LUT ROMs with an asynchronous read (a few dozen words).
        desc_fields = dict(mode=1, first=1, last=1, src=1, ih=1, iw=1, cin=1, cg_in=1, kh=1,
                           kw=1, stride=2, pad=1, pool=1, ph=1, pw=1, cout=1, cg_out=1,
                           drain=1, px_count=1, py_count=1, oh=1, ow=1, opix=1, gsum=1)
        for p in passes:
            for k in desc_fields:
                desc_fields[k] = max(desc_fields[k], int(getattr(p, k)))
        desc_layout = _layout(desc_fields)
        desc_words = [_pack(desc_layout, {k: getattr(p, k) for k in desc_fields}) for p in passes]
        grp_fields = dict(cbase=1, cg_lo=1, cg_cnt=1, wo_lo=1, wo_cnt=1, steps=1, slot=1,
                          wbase=1, lastg=1)
        grp_rows = []
        for p in passes:
            for i, g in enumerate(p.groups):
                row = dict(cbase=g.cbase, cg_lo=g.cg_lo, cg_cnt=g.cg_cnt, wo_lo=g.wo_lo,
                           wo_cnt=g.wo_cnt, steps=g.steps, slot=g.slot, wbase=g.wbase,
                           lastg=int(i == len(p.groups) - 1))
                grp_rows.append(row)
                for k in grp_fields:
                    grp_fields[k] = max(grp_fields[k], row[k])
        grp_layout = _layout(grp_fields)
        grp_words = [_pack(grp_layout, r) for r in grp_rows] + [0]

        m.submodules.desc_rom = desc_rom = Memory(shape=desc_layout.size,
                                                  depth=len(desc_words), init=desc_words)
        m.submodules.group_rom = group_rom = Memory(shape=grp_layout.size,
                                                    depth=len(grp_words), init=grp_words)
        desc_rp = desc_rom.read_port(domain="comb")
        grp_rp = group_rom.read_port(domain="comb")
        pidx = Signal(range(len(passes)))
        gidx = Signal(range(len(grp_words)))
        m.d.comb += [desc_rp.addr.eq(pidx), grp_rp.addr.eq(gidx)]
        desc = desc_layout(desc_rp.data)
        grp = grp_layout(grp_rp.data)

        # ---------------------------------------------------------- activation buffers
        # Pixel-parallel depthwise passes read one word per PE: P read ports (BRAM
        # replicas); otherwise one read port, broadcast to every PE.
        has_dwp = any(p.mode == MODE_DWP for p in passes)
        has_gsum = any(p.gsum for p in passes)
        nports = P if has_dwp else 1
        bufs = []
        rports = []
        wports = []
        for b in range(2):
            mem = Memory(shape=WB, depth=plan.act_depth[b], init=[])
            m.submodules[f"act{b}"] = mem
            bufs.append(mem)
            rports.append([mem.read_port() for _ in range(nports)])
            wports.append(mem.write_port(granularity=q))

        self._act_mems = bufs  # simulation access to the ping-pong buffers
        # The first pass's input: the image unrolled by the loader, M lanes of 8 bits
        image_buf = Memory(shape=plan.image_word_bits, depth=plan.image_depth, init=[])
        m.submodules.image_buf = image_buf
        image_rp = image_buf.read_port()
        image_wp = image_buf.write_port(granularity=INPUT_BITS)

        # ----------------------------------------------------------------- ROMs and PEs
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

        # ------------------------------------------------------------------- sequencer
        ctl_layout = data.StructLayout({
            "valid": 1, "first": 1, "last": 1, "gfirst": 1, "pad": 1,
            "cg": unsigned(_bits(grp_fields["cg_lo"] + grp_fields["cg_cnt"])),
            "cbase": unsigned(_bits(grp_fields["cbase"])),
            "pool_first": 1, "pool_last": 1,
            "out_addr": unsigned(addr_bits),
            "wo_lo": unsigned(_bits(grp_fields["wo_lo"])),
            "wo_cnt": unsigned(_bits(grp_fields["wo_cnt"])),
            "tap_ok": unsigned(M),
            "pad_pe": unsigned(nports),
        })
        state = Signal(range(5))  # 0 idle, 1 run, 2 drain, 3 argmax, 4 done
        IDLE, RUN, DRAIN, ARGMAX, DONE = range(5)
        cycles = Signal(32)
        py = Signal(_bits(desc_fields["ph"]))
        px = Signal(_bits(max(desc_fields["pw"], desc_fields["px_count"])))
        dy = Signal()
        dx = Signal()
        ky = Signal(_bits(desc_fields["kh"]))
        kx = Signal(_bits(desc_fields["kw"]))
        cgi = Signal(_bits(grp_fields["cg_cnt"]))
        slot = Signal(_bits(grp_fields["slot"]))
        wstep = Signal(_bits(grp_fields["steps"]))
        dcnt = Signal(_bits(desc_fields["drain"]))

        coord = signed(max(_bits(desc_fields["ih"]), _bits(desc_fields["iw"]),
                           _bits(max(plan.input_shape[:2]))) + 4)
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
        ctl0 = Signal(ctl_layout)
        self._debug = dict(state=state, pidx=pidx, gidx=gidx, py=py, px=px, slot=slot)
        running = state == RUN
        step = running & (slot < grp.steps)
        pixel_first = (py == 0) & (px == 0) & (dy == 0) & (dx == 0)
        m.d.comb += [
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
        offs = []
        ob = _bits(max([p.ow for p in passes] + [P]))
        off_words = []
        for p in passes:
            word = 0
            for j in range(P):
                jd, jm = divmod(j, p.ow) if p.mode == MODE_DWP else (0, 0)
                word |= (jd | (jm << ob)) << (2 * ob * j)
            word_p = divmod(P, p.ow) if p.mode == MODE_DWP else (0, 0)
            word |= (word_p[0] | (word_p[1] << ob)) << (2 * ob * P)
            off_words.append(word)
        m.submodules.pe_offsets = off_rom = Memory(shape=2 * ob * (P + 1), depth=len(passes),
                                                   init=off_words)
        off_rp = off_rom.read_port(domain="comb")
        m.d.comb += off_rp.addr.eq(pidx)
        for j in range(P + 1):
            offs.append((off_rp.data[2 * ob * j: 2 * ob * j + ob],
                         off_rp.data[2 * ob * j + ob: 2 * ob * (j + 1)]))
        pdiv, pmod = offs[P]
        cx_wrap = Signal()
        m.d.comb += cx_wrap.eq(cx + pmod >= desc.ow)
        chunk_left = Signal(signed(_bits(desc_fields["opix"]) + 2))
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
        first_cg = passes[0].cg_in
        kb = _bits(max(0, plan.load_k - 1))
        tap_words = []
        for cgw in range(first_cg):
            word = 0
            for lane in range(M):
                v = cgw * M + lane
                ty, tx = lane_tap(plan, v)[:2] if v < passes[0].cin else (0, 0)
                word |= (ty | (tx << kb)) << (2 * kb * lane)
            tap_words.append(word)
        m.submodules.tap_rom = tap_rom = Memory(shape=2 * kb * M, depth=first_cg,
                                                init=tap_words)
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
        act_addr = Signal(addr_bits + 1)
        m.d.comb += act_addr.eq((iy * desc.iw + ix) * desc.cg_in + ctl0.cg)
        for j in range(nports):
            # PE j's pixel in a pixel-parallel depthwise chunk
            oy_j = Signal(coord, name=f"oy_pe{j}")
            ox_j = Signal(coord, name=f"ox_pe{j}")
            iy_j = Signal(coord, name=f"iy_pe{j}")
            ix_j = Signal(coord, name=f"ix_pe{j}")
            wrap_j = Signal(name=f"wrap_pe{j}")
            addr_j = Signal(addr_bits + 1, name=f"act_addr_pe{j}")
            jdiv, jmod = offs[j]
            m.d.comb += [
                wrap_j.eq(cx + jmod >= desc.ow),
                ox_j.eq(cx + jmod - Mux(wrap_j, desc.ow, 0)),
                oy_j.eq(cy + jdiv + wrap_j),
                iy_j.eq(oy_j * desc.stride + ky - desc.pad),
                ix_j.eq(ox_j * desc.stride + kx - desc.pad),
                addr_j.eq((iy_j * desc.iw + ix_j) * desc.cg_in + ctl0.cg),
                ctl0.pad_pe[j].eq((iy_j < 0) | (iy_j >= desc.ih) | (ix_j < 0)
                                  | (ix_j >= desc.iw) | (oy_j >= desc.oh)),
            ]
            for b in range(2):
                port = rports[b][j]
                if j == 0:
                    m.d.comb += [
                        port.addr.eq(Mux(dwp, addr_j, act_addr)),
                        port.en.eq(step & (desc.src == b) & ~desc.first
                                   & Mux(dwp, ~ctl0.pad_pe[j], ~ctl0.pad)),
                    ]
                else:
                    m.d.comb += [port.addr.eq(addr_j),
                                 port.en.eq(step & (desc.src == b) & dwp & ~ctl0.pad_pe[j])]
        m.d.comb += [image_rp.addr.eq(act_addr), image_rp.en.eq(step & desc.first & ~ctl0.pad)]
        for j in range(P):
            m.d.comb += [
                weight_roms[j].addr.eq(grp.wbase + wstep),
                weight_roms[j].en.eq(step),
                param_roms[j].addr.eq(gidx),
                param_roms[j].en.eq(step & ctl0.gfirst),
            ]

        # sequencer state machine
        # a start while the loader still writes the last byte's taps waits for it
        start_pending = Signal()
        loader_busy = Signal()
        can_start = (state == IDLE) | (state == DONE)
        with m.If(can_start & self.start & loader_busy):
            m.d.sync += start_pending.eq(1)
        with m.If(can_start & (self.start | start_pending) & ~loader_busy):
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

        am_c = Signal(range(max(2, ncls)))
        best = Signal(signed(LOGIT_BITS))
        best_idx = Signal(self.class_out.shape())
        logit_regs = [Signal(signed(LOGIT_BITS), name=f"logit{c}") for c in range(ncls)]
        logit_arr = Array(logit_regs)
        with m.If(state == DRAIN):
            with m.If(dcnt == 0):
                with m.If(desc.last):
                    m.d.sync += [state.eq(ARGMAX), am_c.eq(0)]
                with m.Else():
                    m.d.sync += [state.eq(RUN), pidx.eq(pidx + 1)]
            with m.Else():
                m.d.sync += dcnt.eq(dcnt - 1)
        with m.If(state == ARGMAX):
            value = logit_arr[am_c]
            with m.If((am_c == 0) | (value > best)):
                m.d.sync += [best.eq(value), best_idx.eq(am_c)]
            with m.If(am_c == ncls - 1):
                m.d.sync += state.eq(DONE)
            with m.Else():
                m.d.sync += am_c.eq(am_c + 1)
        m.d.comb += [
            self.busy.eq((state == RUN) | (state == DRAIN) | (state == ARGMAX) | start_pending),
            self.done.eq((state == DONE) & ~start_pending),
            self.cycles.eq(cycles),
            self.class_out.eq(best_idx),
        ]
        for c in range(ncls):
            m.d.comb += self.logits[LOGIT_BITS * c: LOGIT_BITS * (c + 1)].eq(logit_regs[c])

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
        lane_v = [Signal(ctl_layout["cg"].shape.width + _bits(M) + 1, name=f"lane_v{lane}")
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
        # the last layer's raw accumulators are the logits
        with m.If(r1_valid & desc.last):
            for c in range(ncls):
                for j in range(P):
                    with m.If(r1_ctl.cbase + j == c):
                        m.d.sync += logit_regs[c].eq(r1_acc[j][:LOGIT_BITS])

        # -------------------------------------------------- R3: pool, write-back latch
        r2_ctl = Signal(ctl_layout)
        r3_ctl = Signal(ctl_layout)
        m.d.sync += [r2_ctl.eq(r1_ctl), r3_ctl.eq(r2_ctl)]
        r3_valid = reqs[0].y_valid & ~dwp
        pool_max = [Signal(q, name=f"pool_max{j}") for j in range(P)]
        wb_vals = [Signal(q, name=f"wb_val{j}") for j in range(P)]
        wb_active = Signal()
        wb_k = Signal(_bits(grp_fields["wo_cnt"]))
        wb_ctl = Signal(ctl_layout)
        # ---------------------------------------------------------- W: write-back
        dst = ~desc.src
        wb_addr = Signal(addr_bits)
        wb_word = Signal(data.ArrayLayout(q, M))
        wb_en = Signal(M)
        m.d.comb += wb_addr.eq(wb_ctl.out_addr + wb_k)
        wb_vals_arr = Array(wb_vals)
        for lane in range(M):
            ch = Signal(range((desc_fields["cg_out"] + 1) * M + 1), name=f"wb_ch{lane}")
            rel = Signal(signed(ch.shape().width + 2), name=f"wb_rel{lane}")
            m.d.comb += [ch.eq((wb_ctl.wo_lo + wb_k) * M + lane), rel.eq(ch - wb_ctl.cbase)]
            m.d.comb += [
                wb_en[lane].eq((rel >= 0) & (rel < P) & (ch < desc.cout)),
                wb_word[lane].eq(wb_vals_arr[rel[:_bits(P)]]),
            ]
        with m.If(wb_active):
            with m.If(wb_k == wb_ctl.wo_cnt - 1):
                m.d.sync += wb_active.eq(0)
            m.d.sync += wb_k.eq(wb_k + 1)

        # the write-back latch comes last: a new pixel's latch wins over the old's end
        with m.If(r3_valid):
            for j in range(P):
                y = reqs[j].y
                final = Mux(r3_ctl.pool_first | (y > pool_max[j]), y, pool_max[j])
                m.d.sync += pool_max[j].eq(final)
                with m.If(r3_ctl.pool_last):
                    m.d.sync += wb_vals[j].eq(final)
            with m.If(r3_ctl.pool_last):
                m.d.sync += [wb_active.eq(1), wb_k.eq(0), wb_ctl.eq(r3_ctl)]

        # ------------------------------------------------------------ image loader
        m.submodules.loader = loader = ImageLoader(plan, addr_bits)
        wiring.connect(m, wiring.flipped(self.image), loader.image)
        idle = (state == IDLE) | (state == DONE)
        m.d.comb += [
            loader.enable.eq(idle & ~self.start & ~start_pending),
            loader.restart.eq(idle & (self.start | start_pending) & ~loader.busy),
            loader_busy.eq(loader.busy),
        ]

        # ------------------------------------ pixel-parallel depthwise collect and write
        dwp_we = Signal()
        dwp_addr = Signal(addr_bits)
        dwp_word = Signal(WB)
        dwp_en = Signal(M)
        if has_dwp:
            y_k = Signal(range(max(2, M)))  # lane of the requantizer outputs (2 cycles late)
            y_k1 = Signal(range(max(2, M)))
            m.d.sync += [y_k1.eq(ser_k), y_k.eq(y_k1)]
            # the chunk's metadata follows its last lane through the requantizer's 2 stages
            meta_d1 = Signal(ctl_layout)
            meta_b = Signal(ctl_layout)
            meta_w = Signal(ctl_layout)
            m.d.sync += [meta_d1.eq(ser_meta), meta_b.eq(meta_d1)]
            stage = [[Signal(q, name=f"dwp_y{j}_{lane}") for lane in range(M)] for j in range(P)]
            words = [Signal(WB, name=f"dwp_word{j}") for j in range(P)]
            dw_active = Signal()
            dw_k = Signal(range(max(2, P)))
            y_valid = reqs[0].y_valid & dwp
            for j in range(P):
                for lane in range(M):
                    with m.If(y_valid & (y_k == lane)):
                        m.d.sync += stage[j][lane].eq(reqs[j].y)
            with m.If(dw_active):
                m.d.sync += dw_k.eq(dw_k + 1)
                with m.If(dw_k == P - 1):
                    m.d.sync += dw_active.eq(0)
            with m.If(y_valid & (y_k == M - 1)):
                m.d.sync += [dw_active.eq(1), dw_k.eq(0), meta_w.eq(meta_b)]
                for j in range(P):
                    lanes = [stage[j][lane] for lane in range(M - 1)] + [reqs[j].y]
                    m.d.sync += words[j].eq(Cat(*lanes))
            m.d.comb += [
                dwp_we.eq(dw_active & (dw_k < meta_w.wo_cnt)),
                dwp_addr.eq(meta_w.out_addr + dw_k * desc.cg_out),
                dwp_word.eq(Array(words)[dw_k]),
            ]
            for lane in range(M):
                m.d.comb += dwp_en[lane].eq(meta_w.cg * M + lane < desc.cout)

        # the image buffer is written by the loader only (while idle)
        m.d.comb += [image_wp.addr.eq(loader.wr_addr), image_wp.data.eq(loader.wr_data),
                     image_wp.en.eq(loader.wr_en)]
        for b in range(2):
            wp = wports[b]
            wb_here = wb_active & (dst == b) & self.busy
            with m.If(dwp):
                m.d.comb += [wp.addr.eq(dwp_addr), wp.data.eq(dwp_word),
                             wp.en.eq(Mux(dwp_we & (dst == b), dwp_en, 0))]
            with m.Else():
                m.d.comb += [wp.addr.eq(wb_addr), wp.data.eq(wb_word),
                             wp.en.eq(Mux(wb_here, wb_en, 0))]
        return m
