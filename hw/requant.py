"""Requantizer: ``y = clamp((acc·m + 2^(n−1)) >> n, 0, 2^q − 1)`` in `REQUANT_LATENCY` stages.

``>>`` is arithmetic (floor); ``m`` is unsigned 16 bits, ``n`` in 1..62. The rounding
add is not performed: with ``x = acc·m`` and ``z = x >> (n − 1)``,
``(x + 2^(n−1)) >> n = (z >> 1) + z[0]``, so only three things about ``x`` matter:
its sign (negative → 0), the q bits ``f = z[1..q]`` with the rounding bit ``r = z[0]``,
and whether any bit above them is set (→ saturate). Then
``y = 0 if x < 0 else (2^q − 1 if above or f = 2^q − 1 else f + r)``.

Stages: (1) the product in 16-bit pieces of ``acc`` times ``m`` (one DSP multiplier each
on every family: DSP48E1 25×18, MULT18X18D 18×18, SB_MAC16 16×16), registered; (2) the
pieces summed pairwise, a register after each of two levels; (3) a coarse shift by
``8·((n−1) div 8)`` keeping 9 + q bits and the OR of everything above; (4) the fine
shift by ``(n−1) mod 8``, the rounding and the clamp.
The full 65-bit barrel shifter the formula suggests is never built.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.packing import N_BITS
from hw.plan import REQUANT_LATENCY
from intnet.contract import M_BITS

PIECE_BITS = 16  # a 16 × 16 product fits the DSP block of every supported family
SUM_LEVELS = 2  # the pieces' pairwise sum: up to four pieces (an accumulator ≤ 64 bits)
COARSE = 8  # the coarse shift moves by multiples of 8 bits


def _or(bits: list) -> object:
    """OR of a list of 1-bit values (0 for none)."""
    total = Const(0, 1)
    for b in bits:
        total = total | b
    return total


class Requantizer(wiring.Component):
    """``y``/``y_valid`` appear `REQUANT_LATENCY` cycles after ``acc, m, n``/``valid``."""

    latency = REQUANT_LATENCY

    def __init__(self, acc_bits: int, out_bits: int, *, clamp: bool = False):
        try:
            if not isinstance(acc_bits, int) or acc_bits < 2:
                raise ValueError(f"acc_bits must be an integer of at least 2, not {acc_bits!r}")
            if not isinstance(out_bits, int) or not 1 <= out_bits <= 16:
                raise ValueError(f"out_bits must be an integer in 1..16, not {out_bits!r}")
            if acc_bits > PIECE_BITS << SUM_LEVELS:
                raise ValueError(f"acc_bits must be at most {PIECE_BITS << SUM_LEVELS}, "
                                 f"not {acc_bits!r}")
        except ValueError:
            self._MustUse__silence = True  # rejected, so never elaborated: no unused warning
            raise
        self._acc_bits, self._out_bits, self._clamp = acc_bits, out_bits, clamp
        self.product_bits = acc_bits + M_BITS  # signed acc × unsigned m
        super().__init__({
            "acc": In(signed(acc_bits)), "m": In(M_BITS), "n": In(N_BITS), "valid": In(1),
            "y": Out(out_bits), "y_valid": Out(1),
            # with ``clamp``: the pass's limit 2^b − 1 (b ≤ out_bits; constant in a pass)
            "top": In(out_bits),
        })

    def elaborate(self, platform):
        m = Module()
        q = self._out_bits
        keep = COARSE + 1 + q  # bits of x >> 8k kept for the fine shift
        # (1) pieces: unsigned low pieces, a signed top piece, each times m
        pieces = []
        for lo in range(0, self._acc_bits, PIECE_BITS):
            hi = min(lo + PIECE_BITS, self._acc_bits)
            part = self.acc[lo:hi]
            part = part.as_signed() if hi == self._acc_bits else part
            prod = Signal(signed(hi - lo + M_BITS + 1), name=f"piece{lo}")
            m.d.sync += prod.eq(part * self.m)
            pieces.append((lo, prod))
        u, v = Signal(N_BITS, name="u1"), Signal(name="v1")  # n − 1: the rounding bit
        m.d.sync += [u.eq(self.n - 1), v.eq(self.valid)]
        # (2) x = Σ piece << lo, summed pairwise, a register after each level
        terms = [p << lo for lo, p in pieces]
        for level in range(SUM_LEVELS):
            terms = [sum(terms[i:i + 2]) for i in range(0, len(terms), 2)]
            regs = [Signal(signed(self.product_bits + 2), name=f"sum{level}_{i}")
                    for i in range(len(terms))]
            u_next, v_next = Signal(N_BITS, name=f"u{level + 2}"), Signal(name=f"v{level + 2}")
            m.d.sync += [r.eq(t) for r, t in zip(regs, terms, strict=True)]
            m.d.sync += [u_next.eq(u), v_next.eq(v)]
            terms, u, v = regs, u_next, v_next
        x, u2, v2 = terms[0], u, v
        # (3) coarse: x >> 8k, its low `keep` bits and the OR of all bits above them
        width = COARSE * (1 << (N_BITS - 3)) + keep
        xz = Cat(x[:-1], Const(0, max(0, width - len(x) + 1)))  # x ≥ 0 matters only
        low = Signal(keep)
        above = Signal()
        neg, u3, v3 = Signal(), Signal(3), Signal()
        k = u2[3:]
        m.d.sync += [
            low.eq(Array(xz[COARSE * i: COARSE * i + keep] for i in range(1 << (N_BITS - 3)))[k]),
            above.eq(Array(_or([xz[j] for j in range(COARSE * i + keep, len(xz))])
                           for i in range(1 << (N_BITS - 3)))[k]),
            neg.eq(x[-1]), u3.eq(u2[:3]), v3.eq(v2),
        ]
        # (4) fine: z = low >> (u mod 8); rounding bit z[0], field z[1..q], saturation
        top = (1 << q) - 1
        rnd = Array(low[i] for i in range(COARSE))[u3]
        field = Array(low[i + 1: i + 1 + q] for i in range(COARSE))[u3]
        over = above | Array(_or([low[j] for j in range(i + 1 + q, keep)])
                             for i in range(COARSE))[u3]
        saturate = over | (field == top)
        if self._clamp:  # the pass's own width: field ≥ 2^b − 1 saturates at 2^b − 1
            top = self.top
            saturate = over | ((field & ~top) != 0) | ((field & top) == top)
        m.d.sync += [
            self.y.eq(Mux(neg, 0, Mux(saturate, top, field + rnd))),
            self.y_valid.eq(v3),
        ]
        return m
