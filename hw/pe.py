"""Processing engine: M lanes for the hidden layers, F for the first, adder trees, an
accumulator.

A lane multiplies a signed q-bit weight by an unsigned activation (for q = 1 the weight
bit means +1 (1) or −1 (0), so the product is ``±a``): q bits wide in the M hidden-layer
lanes, a whole 8-bit pixel in the first pass's F lanes (`hw.plan.image_lanes`). The
multiplier is written as q shifted, weight-bit selected copies of the activation (the
top one subtracted), which stays in LUTs, or as ``*`` for a DSP slice: a design choice
(``mult_impl``, `hw.arith.MULT_IMPLS`) that the energy model makes.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.arith import MULT_IMPLS, product_bits
from hw.delay import delayed
from hw.plan import TREE_LEVELS_PER_STAGE, tree_stages
from intnet.contract import INPUT_BITS


def lane_product(w, a, q: int, lut: bool = True):
    """``w·a`` for a q-bit weight lane ``w`` (q = 1: bit 1 ↔ +1) and an unsigned ``a``.

    ``lut``: q shifted, weight-bit selected copies of ``a`` added (the top one
    subtracted), which synthesis keeps in LUTs on every family; otherwise ``*``, which
    Yosys maps to a DSP slice when the product is wide enough.
    """
    if q == 1:
        return Mux(w[0], a, -a)
    if lut:
        total = -Mux(w[q - 1], a << (q - 1), 0)  # two's complement: the top bit weighs −2^(q−1)
        for i in range(q - 1):
            total = total + Mux(w[i], a << i, 0)
        return total
    return w.as_signed() * a


def split_product(w, a, q: int, k: int, lut: bool = True):
    """A q-bit lane split into k sub-lanes of ``q // k`` bits (k ≥ 2, `hw.plan.split_factors`):
    ``Σ_i w_i·a_i`` over the sub-lanes' signed weights and unsigned activations (sub-lane i
    in bits ``[i·q//k, (i+1)·q//k)`` of each operand)."""
    sw = q // k
    products = [lane_product(w[i * sw:(i + 1) * sw], a[i * sw:(i + 1) * sw], sw, lut)
                for i in range(k)]
    return tree_sum(products)


def _check_positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


def tree_sum(values: list):
    """Pairwise adder tree; each level adds one bit. Returns the sum value."""
    level = list(values)
    while len(level) > 1:
        level = _pair_level(level)
    return level[0]


def _pair_level(values: list) -> list:
    """One adder-tree level: neighbours added pairwise, an odd last value passed on."""
    out = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
    return out + values[-1:] if len(values) % 2 else out


def _held(m, values: list, width: int, name: str) -> list:
    """``values`` registered (signed, ``width`` bits each)."""
    held = [Signal(signed(width), name=f"{name}_{i}") for i in range(len(values))]
    m.d.sync += [r.eq(v) for r, v in zip(held, values, strict=True)]
    return held


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
        m.d.comb += self.sum.eq(tree_sum([self.inputs[i] for i in range(self._count)]))
        return m


class PE(wiring.Component):
    """One processing engine: M lane products, F first-pass lanes, a pipelined adder tree
    per path, an accumulator.

    The M lanes multiply q-bit weights by q-bit activations (``act_bits``; hidden layers);
    the F ``image_*`` lanes (`hw.plan.image_lanes`) multiply q-bit weights by whole 8-bit
    pixels and serve the first pass only (``first_pass``). Timing (cycle c: the operands
    with ``valid`` and ``first``): the lane products are registered (c + 1); each adder
    tree adds `hw.plan.TREE_LEVELS_PER_STAGE` levels per register (T of them, T =
    `hw.plan.tree_stages` of the wider path); in cycle c + 1 + T ``acc`` shows the
    accumulator after this step (``bias + sum`` on a pixel's first step; ``bias`` (and
    ``bias2``) is read the cycle before, c + T, so that the accumulator's register already
    holds it and no multiplexer stands in front of its adder) while ``acc_valid`` is high.
    With lane accumulators, ``lane_acc`` shows each main lane's own sum in cycle c + 1
    (``lane_bias`` read then).
    """

    def __init__(self, q: int, mults_per_pe: int, acc_bits: int, act_bits: int | None = None,
                 *, image_lanes: int = 0, lane_accumulators: bool = False,
                 mult_impl: str = "lut", splits: tuple[int, ...] = (1,), pair_lanes: int = 0,
                 lane_splits: tuple[int, ...] = (), reuse: int = 1):
        act_bits = q if act_bits is None else act_bits
        try:
            _check_positive("mults_per_pe", mults_per_pe)
            _check_positive("acc_bits", acc_bits)
            if not isinstance(q, int) or not 1 <= q <= 8:
                raise ValueError(f"q must be an integer bit width in 1..8, not {q!r}")
            if not isinstance(act_bits, int) or act_bits < q:
                raise ValueError(f"act_bits must be an integer of at least q = {q}, "
                                 f"not {act_bits!r}")
            if tuple(splits) != (1,) and (
                    not splits or splits[0] != 1 or act_bits != q
                    or any(k < 2 or q // k < 2 or k & (k - 1) for k in splits[1:])):
                raise ValueError(f"splits must be (1, k, …) with q // k ≥ 2, k a power "
                                 f"of two and act_bits = q, not {splits!r}")
            if not isinstance(pair_lanes, int) or not 0 <= pair_lanes <= mults_per_pe // 2:
                raise ValueError(f"pair_lanes must be an integer in 0..M // 2 = "
                                 f"{mults_per_pe // 2}, not {pair_lanes!r}")
            if (lane_splits and not lane_accumulators) or not set(lane_splits) <= set(splits[1:]):
                raise ValueError(f"lane_splits must be lane splits of {splits!r} with lane "
                                 f"accumulators, not {lane_splits!r}")
            if not isinstance(reuse, int) or reuse < 1:
                raise ValueError(f"reuse must be a positive integer, not {reuse!r}")
            if mult_impl not in MULT_IMPLS:
                raise ValueError(f"mult_impl must be one of {', '.join(MULT_IMPLS)}, "
                                 f"not {mult_impl!r}")
        except ValueError:
            self._MustUse__silence = True  # rejected, so never elaborated: no unused warning
            raise
        self._q, self._M, self._acc_bits, self._act_bits = q, mults_per_pe, acc_bits, act_bits
        self._F, self._lut = image_lanes, mult_impl == "lut"
        self._lanes = lane_accumulators
        self._splits, self._H = tuple(splits), pair_lanes
        # weight reuse (docs/hardware.md, "Weight reuse"): up to ``reuse`` output pixels
        # interleaved step by step, one running sum each in a rotating accumulator file
        self._reuse = reuse
        # pixel-parallel depthwise passes that read split words (`hw.plan.Plan.dwp_split`):
        # with ``sub_lanes`` each lane keeps its k sub-lane sums apart, sub-lane 0 in
        # ``lane_acc`` and sub-lanes 1 … k−1 in ``sub_acc``
        self._lane_splits = tuple(sorted(lane_splits))
        kd = max(self._lane_splits, default=1)
        self.product_bits = product_bits(q, act_bits)
        # the adder tree adds ⌈log2 M⌉ bits
        self.sum_bits = self.product_bits + (mults_per_pe - 1).bit_length()
        self.tree_stages = tree_stages(max(mults_per_pe, image_lanes))
        F = max(1, image_lanes)
        # output-channel pairing (`hw.plan.pairs_channels`): with ``pair``, lanes 0 … H−1
        # sum into ``acc`` and lanes H … M−1 into ``acc2`` (bias ``bias2``)
        paired = {"pair": In(1), "bias2": In(signed(32)),
                  "acc2": Out(signed(acc_bits))} if pair_lanes else {}
        subs = {"sub_lanes": In(1),
                "sub_bias": In(data.ArrayLayout(data.ArrayLayout(signed(32), kd - 1),
                                                mults_per_pe)),
                "sub_acc": Out(data.ArrayLayout(data.ArrayLayout(signed(acc_bits), kd - 1),
                                                mults_per_pe))} if kd > 1 else {}
        # ``pixels`` = the pass's interleaved pixels − 1 (0: one pixel at a time)
        rotating = {"pixels": In(range(reuse))} if reuse > 1 else {}
        super().__init__(paired | subs | rotating | {
            "act": In(act_bits * mults_per_pe),  # lane l in bits [act_bits·l, act_bits·(l+1))
            "weight": In(q * mults_per_pe),
            "lane_en": In(mults_per_pe),
            "image_act": In(INPUT_BITS * F),  # first-pass lane l: a whole pixel byte
            "image_weight": In(q * F),
            "first_pass": In(1),
            # the main lanes' split: log2 k of `splits` (k sub-lanes of q // k bits each)
            "split": In(max(1, (max(splits)).bit_length() - 1)),
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

    def _products(self, m, acts, weights, en, act_bits: int, lanes: int, name: str,
                  splits: tuple[int, ...] = (1,)) -> list:
        q, out = self._q, []
        for lane in range(lanes):
            a = acts[act_bits * lane: act_bits * (lane + 1)]
            w = weights[q * lane: q * (lane + 1)]
            p = Signal(signed(product_bits(q, act_bits)), name=f"{name}{lane}")
            product = lane_product(w, a, q, self._lut)
            for k in splits[1:]:  # the sub-lane sums, where the pass splits its lanes
                product = Mux(self.split == k.bit_length() - 1,
                              split_product(w, a, q, k, self._lut), product)
            if en is not None and self._lane_splits:
                product = self._sub_products(m, w, a, en[lane], lane, product)
            m.d.sync += p.eq(Mux(en[lane], product, 0) if en is not None else product)
            out.append(p)
        return out

    def _sub_products(self, m, w, a, en, lane: int, product):
        """Sub-lane products of a lane kept apart (``sub_lanes``: a pixel-parallel
        depthwise pass reading split words, each sub-lane its own channel): sub-lane 0
        replaces the lane's ``product`` (returned), sub-lanes 1 … k−1 are registered into
        ``self._subs[lane]``."""
        q, kd = self._q, max(self._lane_splits)
        subs = [0] * kd
        for k in self._lane_splits:
            sw = q // k
            on = self.sub_lanes & (self.split == k.bit_length() - 1)
            for i in range(k):
                sub = lane_product(w[i * sw:(i + 1) * sw], a[i * sw:(i + 1) * sw], sw, self._lut)
                subs[i] = Mux(on, sub, subs[i])
        regs = [Signal(signed(product_bits(q, self._act_bits)), name=f"sub_product{lane}_{i}")
                for i in range(1, kd)]
        m.d.sync += [r.eq(Mux(en, v, 0)) for r, v in zip(regs, subs[1:], strict=True)]
        self._subs.append(regs)
        return Mux(self.sub_lanes, subs[0], product)

    def elaborate(self, platform):
        m = Module()
        M, T = self._M, self.tree_stages
        self._subs = []  # per lane: the registered sub-lane products 1 … k−1
        products = self._products(m, self.act, self.weight, self.lane_en, self._act_bits, M,
                                   "product", self._splits)
        valid1, first1 = delayed(m, self.valid, 1, "valid"), delayed(m, self.first, 1, "first")
        total, half_b = self._operands(m, products)
        # the stage before the accumulator's: a first step there loads the bias a cycle ahead
        valid_p = self.valid if T == 0 else delayed(m, valid1, T - 1, "valid_ahead")
        first_p = self.first if T == 0 else delayed(m, first1, T - 1, "first_ahead")
        valid_s = delayed(m, valid_p, 1, "valid_sum")
        m.d.comb += self.acc_valid.eq(valid_s)
        load = valid_p & first_p
        if self._reuse > 1:
            self._rotate(m, total, load, valid_s)
        else:
            self._accumulate(m, self.acc, self.bias, total, load, valid_s, "acc_held")
        if self._H:  # the second channel's accumulator, beside the first
            self._accumulate(m, self.acc2, self.bias2, half_b, load, valid_s, "acc2_held")
        if self._lanes:
            for lane in range(M):
                lacc = Signal(signed(self._acc_bits), name=f"lane_acc{lane}")
                m.d.comb += self.lane_acc[lane].eq(
                    Mux(first1, self.lane_bias[lane], lacc) + products[lane])
                with m.If(valid1 & self.lane_mode):
                    m.d.sync += lacc.eq(self.lane_acc[lane])
                for i, sub in enumerate(self._subs[lane] if self._lane_splits else []):
                    sacc = Signal(signed(self._acc_bits), name=f"sub_acc{lane}_{i + 1}")
                    m.d.comb += self.sub_acc[lane][i].eq(
                        Mux(first1, self.sub_bias[lane][i], sacc) + sub)
                    with m.If(valid1 & self.lane_mode):
                        m.d.sync += sacc.eq(self.sub_acc[lane][i])
        return m

    @staticmethod
    def _accumulate(m, out, bias_ahead, operand, load, valid, name: str):
        """``out`` = a register + ``operand``: the register holds the running sum, or on a
        pixel's first step its bias, loaded the cycle before (``load``: the step behind is
        a first; ``bias_ahead`` is its bias then). No multiplexer stands in front of the
        adder's carry chain."""
        held = Signal(signed(len(out)), name=name)
        m.d.comb += out.eq(held + operand)
        with m.If(load):
            m.d.sync += held.eq(bias_ahead)
        with m.Elif(valid):
            m.d.sync += held.eq(out)

    def _rotate(self, m, operand, load, valid):
        """`_accumulate` for R = ``pixels`` + 1 interleaved pixels: ``acc`` = ``held[0]`` +
        ``operand``, and on every valid step the running sums rotate (the step's sum to
        ``held[R−1]``, ``held[i]`` ← ``held[i+1]``), so ``held[0]`` holds the next pixel's;
        ``load`` puts a bias into ``held[0]`` instead, for a pixel's first step; registers
        beyond ``pixels`` hold still. The multiplexers stand in front of the registers,
        none in front of the adder."""
        R = self._reuse
        held = [Signal(signed(len(self.acc)), name=f"acc_held{i}") for i in range(R)]
        m.d.comb += self.acc.eq(held[0] + operand)
        for i, reg in enumerate(held):  # held[i ≥ 1] only takes data when in use
            turn = self.acc if i == R - 1 else Mux(self.pixels == i, self.acc, held[i + 1])
            with m.If(valid & (self.pixels >= i) if i else valid):
                m.d.sync += reg.eq(turn)
        with m.If(load):
            m.d.sync += held[0].eq(self.bias)

    def _operands(self, m, products):
        """The accumulators' operands, T tree registers after the products: the whole
        tree's sum, a paired pass's low half (``pair``) or the first pass's image tree
        (``first_pass``), and a paired pass's high half (else None). The choice is made in
        front of the trees' last register, not in front of the accumulator's adder."""
        T, F = self.tree_stages, self._F
        if self._H:
            main, half_b, regs = self._halves(m, products, self._H, self.pair)
        else:
            (main, regs), half_b = self._tree(m, products, "tree"), None
        image = None
        if F:
            pixels = self._products(m, self.image_act, self.image_weight, None, INPUT_BITS, F,
                                    "image_product")
            image, image_regs = self._tree(m, pixels, "image_tree")
        assert regs < T or T == 0, "the tree has more registers than its stages"
        if T == 0:  # one lane on each path (M = 1, F ≤ 1): no tree register to choose before
            return (Mux(self.first_pass, image, main) if F else main), half_b
        main = delayed(m, main, T - 1 - regs, "tree_wait")
        if F:
            image = delayed(m, image, T - 1 - image_regs, "image_tree_wait")
            main = Mux(self.first_pass, image, main)
        total = _held(m, [main], len(main), "tree_total")[0]
        if half_b is not None:
            half_b = _held(m, [delayed(m, half_b, T - 1 - regs, "tree_b_wait")], len(half_b),
                           "tree_b")[0]
        return total, half_b

    @staticmethod
    def _halves(m, products, half: int, pair):
        """``(pair ? sum of lanes 0 … half−1 : sum of all, sum of the rest, registers)``:
        the two halves reduce side by side, a register every `TREE_LEVELS_PER_STAGE` levels,
        and their sum is the last level (⌈log2 M⌉ levels, as in `_tree`); the last level's
        values are left unregistered (the caller registers them)."""
        width = len(products[0])
        a, b = list(products[:half]), list(products[half:])
        depth, regs = 0, 0
        while len(a) > 1 or len(b) > 1:
            a, b = _pair_level(a), _pair_level(b)
            depth += 1
            if depth % TREE_LEVELS_PER_STAGE == 0:
                a = _held(m, a, width + depth, f"tree_a{depth}")
                b = _held(m, b, width + depth, f"tree_b{depth}")
                regs += 1
        low, high = Signal(signed(width + depth + 1)), Signal(signed(width + depth + 1))
        m.d.comb += [low.eq(Mux(pair, a[0], a[0] + b[0])), high.eq(b[0])]
        return low, high, regs

    @staticmethod
    def _tree(m, products, name: str):
        """Pairwise sum of the registered products, a register every few levels but none
        after the last level: ``(sum, registers)``."""
        level, depth, regs = list(products), 0, 0
        width = len(products[0])
        while len(level) > 1:
            level = _pair_level(level)
            depth += 1
            if depth % TREE_LEVELS_PER_STAGE == 0 and len(level) > 1:
                level, regs = _held(m, level, width + depth, f"{name}{depth}"), regs + 1
        total = Signal(signed(width + depth), name=f"{name}_sum")
        m.d.comb += total.eq(level[0])
        return total, regs
