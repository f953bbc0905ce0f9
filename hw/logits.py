"""The logits of the last pass and the argmax scan over them.

The last pass writes no activations: its raw accumulators are the int32 logits, class
``cbase + j`` from PE j. After the pass has drained, the scan visits one class per cycle
and keeps the first maximum (lowest index on ties, as the golden model's argmax).
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.tables import bits
from intnet.contract import LOGIT_BITS


class Logits(wiring.Component):
    """``capture`` stores ``acc[j]`` as class ``cbase + j``; ``scan_start`` rewinds the
    scan, ``scan`` advances it (``scan_last`` at the last class); ``class_out`` is the
    argmax so far and ``logits`` every class, class 0 in the low bits."""

    def __init__(self, num_classes: int, pe_count: int, acc_bits: int, cbase_bits: int):
        self._n, self._P = num_classes, pe_count
        super().__init__({
            "capture": In(1), "cbase": In(cbase_bits),
            "acc": In(data.ArrayLayout(signed(acc_bits), pe_count)),
            "scan_start": In(1), "scan": In(1), "scan_last": Out(1),
            "logits": Out(LOGIT_BITS * num_classes),
            "class_out": Out(bits(num_classes - 1)),
        })

    def elaborate(self, platform):
        m = Module()
        n, P = self._n, self._P
        regs = [Signal(signed(LOGIT_BITS), name=f"logit{c}") for c in range(n)]
        with m.If(self.capture):
            for c in range(n):
                for j in range(P):
                    with m.If(self.cbase + j == c):
                        m.d.sync += regs[c].eq(self.acc[j][:LOGIT_BITS])
        index = Signal(range(max(2, n)))
        best = Signal(signed(LOGIT_BITS))
        m.d.comb += self.scan_last.eq(index == n - 1)
        with m.If(self.scan_start):
            m.d.sync += index.eq(0)
        with m.If(self.scan):
            value = Array(regs)[index]
            with m.If((index == 0) | (value > best)):
                m.d.sync += [best.eq(value), self.class_out.eq(index)]
            with m.If(index != n - 1):
                m.d.sync += index.eq(index + 1)
        for c in range(n):
            m.d.comb += self.logits[LOGIT_BITS * c: LOGIT_BITS * (c + 1)].eq(regs[c])
        return m
