"""Write-back of requantized outputs into the ping-pong activation buffers.

Two paths, one per way a pass uses the PEs; both register what the write port sees
(``addr``, ``data``, ``en``), and both keep their per-word arithmetic in counters:

- `PoolWriteBack` (conv, dense, lane-select depthwise): PE j's output is channel
  ``cbase + j``. It keeps the running maximum of each PE's 2×2 pool window (pixels
  arrive in pooled order) and latches it on the window's last pixel; then it writes the
  ``wo_cnt`` output words of the pixel, one per cycle, each lane enabled when its
  channel belongs to this group.
- `LaneCollector` (pixel-parallel depthwise and summing average pool): every PE's
  requantizer delivers its M lanes one per cycle; once the last lane is in, the P
  words (one output pixel each) are written one per cycle, ``cg_out`` words apart.
"""

from __future__ import annotations

from amaranth.hdl import Array, C, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.packing import sub_lane_offset
from hw.plan import REQUANT_LATENCY
from hw.tables import bits


class PoolWriteBack(wiring.Component):
    """Pool and write for passes whose PE j computes one channel.

    ``ctl`` is the pixel's control word as its outputs ``y`` leave the requantizers
    (``pool_first``, ``pool_last``, ``out_addr``, ``wo_lo``, ``wo_cnt``, ``cbase``), valid
    with ``y_valid``; ``cout`` the pass's channel count.
    """

    def __init__(self, q: int, pe_count: int, mults_per_pe: int, addr_bits: int,
                 ctl_layout: data.StructLayout, cout_bits: int, *,
                 splits: tuple[int, ...] = (1,), granularity: int | None = None,
                 paired: bool = False):
        self._q, self._P, self._M = q, pe_count, mults_per_pe
        self._ctl_layout, self._addr_bits = ctl_layout, addr_bits
        self._splits, self._g = tuple(splits), granularity or q
        if paired and self._splits == (1,):
            raise ValueError("a paired write-back needs split lanes (a paired pass reads "
                             "split words)")
        self._paired = paired
        # paired passes (``pair``): PE j's second channel cbase + P + j arrives a cycle
        # after its first (``y_second``, with the first's ``ctl``); the words follow it
        pairs = {"pair": In(1), "y_second": In(1)} if paired else {}
        super().__init__(pairs | {
            "y": In(data.ArrayLayout(q, pe_count)),
            "y_valid": In(1),
            "ctl": In(ctl_layout),
            "cout": In(cout_bits),
            # the output words' split, log2 k (`hw.plan.Pass.k_out`): k·M values a word
            "split": In(max(1, max(splits).bit_length() - 1)),
            "we": Out(1),
            "addr": Out(addr_bits),
            "data": Out(data.ArrayLayout(q, mults_per_pe)),
            "en": Out(q * mults_per_pe // self._g),  # one per `granularity` bits
        })

    def _by_split(self, values: dict):
        """The value of the current split among ``{k: value}``."""
        out = values[1]
        for k in self._splits[1:]:
            out = Mux(self.split == k.bit_length() - 1, values[k], out)
        return out

    def elaborate(self, platform):
        m = Module()
        q, P, M = self._q, self._P, self._M
        channels = 2 * P if self._paired else P  # values a pixel's group holds
        pool_max = [Signal(q, name=f"pool_max{j}") for j in range(channels)]
        vals = Array(Signal(q, name=f"wb_val{j}") for j in range(channels))
        active = Signal()
        left = Signal(range(max(2, 2 ** len(self.ctl.wo_cnt))))  # words still to write
        waddr = Signal(self._addr_bits)
        with m.If(active):
            m.d.sync += [waddr.eq(waddr + 1), left.eq(left - 1)]
            with m.If(left == 1):
                m.d.sync += active.eq(0)
        # value p of word wo (k·M values) is channel wo·k·M + p, i.e. PE p − lo with
        # lo = cbase − wo·k·M. The window of values this group owns (`_split_word`):
        # lo ≤ p < hi_pe (PE 0 … P−1) and p < hi_c (channels below cout), kept in
        # registers that move with the word, so no adder sits before the enables (an
        # adder and two comparators per lane made 15 chained carry chains at M = 16)
        span_bits = bits(max(self._P, (2 ** len(self.ctl.wo_lo)) * M * max(self._splits))) + 4
        step = self._by_split({k: k * M for k in self._splits})
        start = self._by_split({k: self.ctl.wo_lo * (k * M) for k in self._splits})
        bounds = [Signal(signed(span_bits), name=f"wb_{n}") for n in ("lo", "hi_pe", "hi_c")]
        with m.If(active):
            m.d.sync += [b.eq(b - step) for b in bounds]
        group = Mux(self.pair, 2 * P, P) if self._paired else P
        with m.If(self._words_start()):
            m.d.sync += [bounds[0].eq(self.ctl.cbase - start),
                         bounds[1].eq(group + self.ctl.cbase - start),
                         bounds[2].eq(self.cout - start)]
        words = {k: self._split_word(m, k, bounds, vals, active)
                 for k in self._splits}
        m.d.sync += [self.data.eq(self._by_split({k: w[0] for k, w in words.items()})),
                     self.en.eq(self._by_split({k: w[1] for k, w in words.items()}))]
        m.d.sync += [self.we.eq(active), self.addr.eq(waddr)]
        # the latch comes last: a new pixel's latch wins over the old's end
        ctl = self.ctl
        starts = [active.eq(1), left.eq(ctl.wo_cnt), waddr.eq(ctl.out_addr)]
        if not self._paired:
            with m.If(self.y_valid):
                self._pool(m, pool_max, vals, 0)
                with m.If(ctl.pool_last & (ctl.wo_cnt != 0)):
                    m.d.sync += starts
            return m
        for half in range(2):  # the first channels, then (paired) the second ones
            with m.If(self.y_valid & (self.y_second == half)):
                self._pool(m, pool_max, vals, half * P)
        with m.If(self._words_start()):
            m.d.sync += starts
        return m

    def _pool(self, m, pool_max, vals, base: int):
        """PE j's output ``y[j]`` into the running maximum of value ``base + j``, latched
        into ``vals`` on the pool window's last pixel."""
        ctl = self.ctl
        for j in range(self._P):
            y, c = self.y[j], base + j
            final = Mux(ctl.pool_first | (y > pool_max[c]), y, pool_max[c])
            m.d.sync += pool_max[c].eq(final)
            with m.If(ctl.pool_last):
                m.d.sync += vals[c].eq(final)

    def _words_start(self):
        """A pixel's last output value is in: its words go out from the next cycle."""
        start = self.y_valid & self.ctl.pool_last & (self.ctl.wo_cnt != 0)
        if self._paired:  # after the second channel, in a paired pass
            start = start & (self.y_second | ~self.pair)
        return start

    def _split_word(self, m, k: int, bounds, vals, active):
        """The output word and its enables when it holds k·M values of q // k bits:
        value p (at `hw.packing.sub_lane_offset`) is channel wo·k·M + p, i.e. PE p − lo,
        written when ``lo ≤ p < hi_pe`` and ``p < hi_c`` (``bounds``)."""
        q, M, g = self._q, self._M, self._g
        lo, hi_pe, hi_c = bounds
        sw = q // k
        index_bits = bits(len(vals) - 1)  # p − lo modulo 2^index_bits: exact where enabled
        data_bits, granules = [C(0, q * M)], [[] for _ in range(q * M // g)]
        for p in range(k * M):
            pe = Signal(index_bits, name=f"wb{k}_pe{p}")
            m.d.comb += pe.eq(p - lo[:index_bits])
            on = active & (lo <= p) & (hi_pe > p) & (hi_c > p)
            offset = sub_lane_offset(p, q, k)
            data_bits.append(vals[pe][:sw] << offset)
            # an enable covers `g` bits: this value's, or (g > sw) also its neighbours',
            # which belong to this group or to no channel (`hw.plan.Plan.write_granularity`)
            for e in range(offset // g, (offset + sw - 1) // g + 1):
                granules[e].append(on)
        en = Cat(*(_or_all(ons) if ons else C(0, 1) for ons in granules))
        return _or_all(data_bits), en


def _or_all(values):
    total = values[0]
    for v in values[1:]:
        total = total | v
    return total


class LaneCollector(wiring.Component):
    """Pixel-parallel write-back: assemble each PE's word from its requantized lanes.

    ``lane`` (the lane entering the requantizers) and ``meta`` (the chunk's control word,
    taken at the hand-over) are delayed here by the requantizer's `REQUANT_LATENCY`;
    ``y`` carries that lane of every PE while ``y_valid``. After the last lane, PE j's
    word is written at ``out_addr + j·cg_out`` for the chunk's ``wo_cnt`` pixels; lanes
    beyond ``cout`` stay disabled.
    """

    def __init__(self, q: int, pe_count: int, mults_per_pe: int, addr_bits: int,
                 ctl_layout: data.StructLayout, cg_out_bits: int, cout_bits: int, *,
                 splits: tuple[int, ...] = (1,), granularity: int | None = None,
                 lane_splits: tuple[int, ...] = ()):
        self._q, self._P, self._M = q, pe_count, mults_per_pe
        self._ctl_layout, self._addr_bits = ctl_layout, addr_bits
        self._splits, self._g = tuple(splits), granularity or q
        self._plain = self._splits == (1,) and self._g == q
        # passes reading split words (`hw.plan.Plan.dwp_split`): every lane brings k_in
        # values, sub-lanes 1 … k−1 in ``y_sub``, the read split in ``split_in``
        self._ins = (1, *sorted(lane_splits))
        kd = self._ins[-1]
        subs = {"y_sub": In(data.ArrayLayout(data.ArrayLayout(q, kd - 1), pe_count)),
                "split_in": In(max(1, max(splits).bit_length() - 1))} if kd > 1 else {}
        super().__init__(subs | {
            "y": In(data.ArrayLayout(q, pe_count)),
            "y_valid": In(1),
            "lane": In(range(max(2, mults_per_pe))),
            "meta": In(ctl_layout),
            "cg_out": In(cg_out_bits),
            "cout": In(cout_bits),
            # the output words' split, log2 k: k chunks of M channels share a word
            "split": In(max(1, max(splits).bit_length() - 1)),
            "we": Out(1),
            "addr": Out(addr_bits),
            "data": Out(q * mults_per_pe),
            # one enable per lane, or per `granularity` bits where words are split
            "en": Out(mults_per_pe if self._plain else q * mults_per_pe // self._g),
        })

    def _by_split(self, values: dict):
        out = values[1]
        for k in self._splits[1:]:
            out = Mux(self.split == k.bit_length() - 1, values[k], out)
        return out

    def _placed(self, cg, values: list, on: list):
        """``(word, enables)`` of M lane values of channel word ``cg`` in the output
        word: values ``b·M + l`` of a word split k ways, b = cg mod k
        (`hw.packing.sub_lane_offset`); ``on[l]`` enables lane l's value."""
        q, M, g = self._q, self._M, self._g
        words, ens = {}, {}
        for k in self._splits:
            sw = q // k
            word_b, en_b = [], []
            for b in range(k):
                parts, granules = [C(0, q * M)], [[] for _ in range(q * M // g)]
                for lane in range(M):
                    offset = sub_lane_offset(b * M + lane, q, k)
                    parts.append(values[lane][:sw] << offset)
                    for e in range(offset // g, (offset + sw - 1) // g + 1):
                        granules[e].append(on[lane])
                word_b.append(_or_all(parts))
                en_b.append(Cat(*(_or_all(x) if x else C(0, 1) for x in granules)))
            word, en = word_b[0], en_b[0]
            for b in range(1, k):
                pick = cg[:(k - 1).bit_length()] == b
                word, en = Mux(pick, word_b[b], word), Mux(pick, en_b[b], en)
            words[k], ens[k] = word, en
        return self._by_split(words), self._by_split(ens)

    def _placed_values(self, cg, values: list, on: list):
        """`_placed` for passes reading split words: ``values[p]`` / ``on[p]`` are value
        p = l·k_in + i of the group (lane l, sub-lane i; p < k_in·M), placed at value
        ``b·k_in·M + p`` of the output word split k_out ways, b = cg mod (k_out / k_in)
        (`hw.plan._map_splits`: k_in divides k_out)."""
        q, M, g = self._q, self._M, self._g
        word, en = C(0, q * M), C(0, q * M // g)
        for kk in self._ins:
            for k in (k for k in self._splits if k >= kk):
                sw, share = q // k, k // kk
                for b in range(share):
                    parts, granules = [C(0, q * M)], [[] for _ in range(q * M // g)]
                    for p in range(kk * M):
                        offset = sub_lane_offset(b * kk * M + p, q, k)
                        parts.append(values[p][:sw] << offset)
                        for e in range(offset // g, (offset + sw - 1) // g + 1):
                            granules[e].append(on[p])
                    pick = ((self.split_in == kk.bit_length() - 1)
                            & (self.split == k.bit_length() - 1))
                    if share > 1:
                        pick = pick & (cg[:(share - 1).bit_length()] == b)
                    word = Mux(pick, _or_all(parts), word)
                    en = Mux(pick, Cat(*(_or_all(x) if x else C(0, 1) for x in granules)), en)
        return word, en

    def _follow(self, m):
        """``(lane, meta)`` as the lane's values leave the requantizers: `REQUANT_LATENCY`
        registers behind the inputs."""
        y_lane, meta = self.lane, self.meta
        for i in range(REQUANT_LATENCY):  # follow the lane and its chunk through the stages
            lane_d = Signal(range(max(2, self._M)), name=f"lane_d{i + 1}")
            meta_d = Signal(self._ctl_layout, name=f"meta_d{i + 1}")
            m.d.sync += [lane_d.eq(y_lane), meta_d.eq(meta)]
            y_lane, meta = lane_d, meta_d
        return y_lane, meta

    def elaborate(self, platform):
        if self._ins != (1,):
            return self._elaborate_split()
        m = Module()
        q, P, M = self._q, self._P, self._M
        y_lane, meta = self._follow(m)
        stage = [[Signal(q, name=f"dwp_y{j}_{lane}") for lane in range(M)] for j in range(P)]
        words = Array(Signal(q * M, name=f"dwp_word{j}") for j in range(P))
        active = Signal()
        k = Signal(range(max(2, P)))
        count = Signal.like(self.meta.wo_cnt)
        waddr = Signal(self._addr_bits)
        lane_on = Signal(M)
        for j in range(P):
            for lane in range(M):
                with m.If(self.y_valid & (y_lane == lane)):
                    m.d.sync += stage[j][lane].eq(self.y[j])
        with m.If(active):
            m.d.sync += [k.eq(k + 1), waddr.eq(waddr + self.cg_out)]
            with m.If(k == P - 1):
                m.d.sync += active.eq(0)
        if self._plain:
            m.d.sync += [self.we.eq(active & (k < count)), self.addr.eq(waddr),
                         self.data.eq(words[k]), self.en.eq(lane_on)]
        else:  # the chunk's channel word picks the values of the output word it fills
            held_cg = Signal.like(self.meta.cg)
            with m.If(self.y_valid & (y_lane == M - 1)):
                m.d.sync += held_cg.eq(meta.cg)
            m.d.sync += [self.we.eq(active & (k < count)), self.addr.eq(waddr),
                         self.data.eq(words[k]),
                         self.en.eq(self._placed(held_cg, [C(0, q)] * M, list(lane_on))[1])]
        with m.If(self.y_valid & (y_lane == M - 1)):
            m.d.sync += [active.eq(1), k.eq(0), waddr.eq(meta.out_addr), count.eq(meta.wo_cnt)]
            for lane in range(M):
                m.d.sync += lane_on[lane].eq(meta.cg * M + lane < self.cout)
            for j in range(P):
                lanes = [stage[j][lane] for lane in range(M - 1)] + [self.y[j]]
                if self._plain:
                    m.d.sync += words[j].eq(Cat(*lanes))
                else:
                    m.d.sync += words[j].eq(self._placed(meta.cg, lanes, [1] * M)[0])
        return m


    def _elaborate_split(self):
        """`elaborate` where some pixel-parallel pass reads split words: lane l's k_in
        values (``y[j]`` and ``y_sub[j]``) are staged together; the words and enables
        come from `_placed_values`."""
        m = Module()
        q, P, M, kd = self._q, self._P, self._M, self._ins[-1]
        y_lane, meta = self._follow(m)
        stage = [[[Signal(q, name=f"dwp_y{j}_{lane}_{i}") for i in range(kd)]
                  for lane in range(M)] for j in range(P)]
        words = Array(Signal(q * M, name=f"dwp_word{j}") for j in range(P))
        active = Signal()
        k = Signal(range(max(2, P)))
        count = Signal.like(self.meta.wo_cnt)
        waddr = Signal(self._addr_bits)
        value_on = Signal(kd * M)
        held_cg = Signal.like(self.meta.cg)
        for j in range(P):
            ys = [self.y[j]] + [self.y_sub[j][i] for i in range(kd - 1)]
            for lane in range(M):
                with m.If(self.y_valid & (y_lane == lane)):
                    m.d.sync += [stage[j][lane][i].eq(ys[i]) for i in range(kd)]
        with m.If(active):
            m.d.sync += [k.eq(k + 1), waddr.eq(waddr + self.cg_out)]
            with m.If(k == P - 1):
                m.d.sync += active.eq(0)
        zeros = [C(0, q)] * (kd * M)
        m.d.sync += [self.we.eq(active & (k < count)), self.addr.eq(waddr),
                     self.data.eq(words[k]),
                     self.en.eq(self._placed_values(held_cg, zeros, list(value_on))[1])]
        with m.If(self.y_valid & (y_lane == M - 1)):
            m.d.sync += [active.eq(1), k.eq(0), waddr.eq(meta.out_addr), count.eq(meta.wo_cnt),
                         held_cg.eq(meta.cg)]
            for p in range(kd * M):  # value p is channel cg·k_in·M + p of the pass
                on = C(0, 1)
                for kk in self._ins:
                    if p < kk * M:
                        on = Mux(self.split_in == kk.bit_length() - 1,
                                 meta.cg * (kk * M) + p < self.cout, on)
                m.d.sync += value_on[p].eq(on)
            for j in range(P):
                ys = [self.y[j]] + [self.y_sub[j][i] for i in range(kd - 1)]
                lanes = [stage[j][lane] for lane in range(M - 1)] + [ys]
                values = [C(0, q)] * (kd * M)
                for kk in self._ins:  # value p = l·kk + i, per read split kk
                    for p in range(kk * M):
                        v = lanes[p // kk][p % kk]
                        values[p] = v if kk == 1 else Mux(self.split_in == kk.bit_length() - 1,
                                                          v, values[p])
                m.d.sync += words[j].eq(self._placed_values(meta.cg, values, [1] * (kd * M))[0])
        return m
