"""Processing engine: M q-bit multipliers, an adder tree and an accumulator.

Lane ``l`` multiplies a signed q-bit weight by an unsigned q-bit activation (for q = 1
the weight bit means +1 (1) or −1 (0)). A lane may be shifted left by ``q·digit``: the
first layer feeds the 8-bit image as ⌈8/q⌉ q-bit digit planes, one per lane, so the
shifted products add up to the exact 8-bit product.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out


def _check_positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


def tree_sum(m: Module, values: list, domain: str = "comb"):
    """Pairwise adder tree; each level adds one bit. Returns the sum value."""
    level = list(values)
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            nxt.append(level[i] + level[i + 1])
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


class AdderTree(wiring.Component):
    """Combinational sum of ``count`` signed ``width``-bit inputs (⌈log2 count⌉ levels)."""

    def __init__(self, width: int, count: int):
        try:
            _check_positive("width", width)
            _check_positive("count", count)
        except ValueError:
            self._MustUse__silence = True  # rejected, so never elaborated: no unused warning
            raise
        self._width, self._count = width, count
        self.out_width = width + (count - 1).bit_length()
        super().__init__({
            "inputs": In(data.ArrayLayout(signed(width), count)),
            "sum": Out(signed(self.out_width)),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.sum.eq(tree_sum(m, [self.inputs[i] for i in range(self._count)]))
        return m


class PE(wiring.Component):
    """One processing engine.

    Timing: ``act``, ``weight``, ``lane_en``, ``digit``, ``valid`` and ``first`` belong to
    stage S1; the products' sum is registered, and in S2 ``acc`` shows the accumulator
    after this step (``bias + sum`` on a pixel's first step) while ``acc_valid`` is high;
    the accumulator register takes it at the end of S2. ``bias`` is read in S2.
    """

    def __init__(self, q: int, mults_per_pe: int, acc_bits: int, digits: int = 1, *,
                 lane_accumulators: bool = False):
        try:
            _check_positive("mults_per_pe", mults_per_pe)
            _check_positive("acc_bits", acc_bits)
            _check_positive("digits", digits)
            if not isinstance(q, int) or not 1 <= q <= 8:
                raise ValueError(f"q must be an integer bit width in 1..8, not {q!r}")
        except ValueError:
            self._MustUse__silence = True  # rejected, so never elaborated: no unused warning
            raise
        self._q, self._M, self._acc_bits, self._digits = q, mults_per_pe, acc_bits, digits
        self._lanes = lane_accumulators
        # a product is q_w + q_a + 1 bits signed, plus q·(digits − 1) bits of digit shift
        self.product_bits = 2 * q + 1 + q * (digits - 1)
        self.sum_bits = self.product_bits + (mults_per_pe - 1).bit_length()
        super().__init__({
            "act": In(q * mults_per_pe),
            "weight": In(q * mults_per_pe),
            "lane_en": In(mults_per_pe),
            "digit": In(data.ArrayLayout(range(digits), mults_per_pe)),
            "valid": In(1),
            "first": In(1),
            "bias": In(signed(32)),
            "acc": Out(signed(acc_bits)),
            "acc_valid": Out(1),
            # per-lane accumulators (depthwise, pixel-parallel): lane l keeps its own sum
            "lane_mode": In(1),
            "lane_bias": In(data.ArrayLayout(signed(32), mults_per_pe)),
            "lane_acc": Out(data.ArrayLayout(signed(acc_bits), mults_per_pe)),
        })

    def elaborate(self, platform):
        m = Module()
        q, M = self._q, self._M
        products = []
        for lane in range(M):
            a = self.act[q * lane: q * (lane + 1)]
            w = self.weight[q * lane: q * (lane + 1)]
            p = Signal(signed(self.product_bits), name=f"product{lane}")
            if q == 1:
                base = Mux(w[0], a, -a)
            else:
                base = w.as_signed() * a
            if self._digits > 1:
                shifted = base << (self.digit[lane] * q)
            else:
                shifted = base
            m.d.comb += p.eq(Mux(self.lane_en[lane], shifted, 0))
            products.append(p)
        sum2 = Signal(signed(self.sum_bits))
        valid2 = Signal()
        first2 = Signal()
        m.d.sync += [sum2.eq(tree_sum(m, products)), valid2.eq(self.valid),
                     first2.eq(self.first)]
        acc = Signal(signed(self._acc_bits))
        m.d.comb += [self.acc.eq(Mux(first2, self.bias, acc) + sum2),
                     self.acc_valid.eq(valid2)]
        with m.If(valid2):
            m.d.sync += acc.eq(self.acc)
        if self._lanes:
            for lane in range(M):
                p2 = Signal(signed(self.product_bits), name=f"product2_{lane}")
                lacc = Signal(signed(self._acc_bits), name=f"lane_acc{lane}")
                m.d.sync += p2.eq(products[lane])
                m.d.comb += self.lane_acc[lane].eq(
                    Mux(first2, self.lane_bias[lane], lacc) + p2)
                with m.If(valid2 & self.lane_mode):
                    m.d.sync += lacc.eq(self.lane_acc[lane])
        return m
