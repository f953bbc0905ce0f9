"""The logits of the last pass and the argmax scan over them.

The last pass writes no activations: its raw accumulators are the int32 logits, class
``g·P + j`` from PE j in the pass's group g (groups come in order). Each class register
loads only in its own group, from its own PE: no comparator per (class, PE) pair. After
the pass has drained, a two-stage scan reads one class per cycle and keeps the first
maximum (lowest index on ties, as the golden model's argmax).
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.tables import bits
from intnet.contract import LOGIT_BITS


class Logits(wiring.Component):
    """``capture`` stores ``acc[j]`` as class ``g·P + j`` of the current group g (the
    captures count the groups; ``restart`` rewinds the count); ``scan_start`` rewinds the
    scan, ``scan`` runs it, ``scan_done`` rises with the last compare; ``class_out`` is
    the argmax and ``logits`` every class, class 0 in the low bits."""

    def __init__(self, num_classes: int, pe_count: int, acc_bits: int):
        self._n, self._P = num_classes, pe_count
        super().__init__({
            "capture": In(1), "restart": In(1),
            "acc": In(data.ArrayLayout(signed(acc_bits), pe_count)),
            "scan_start": In(1), "scan": In(1), "scan_done": Out(1),
            "logits": Out(LOGIT_BITS * num_classes),
            "class_out": Out(bits(num_classes - 1)),
        })

    def elaborate(self, platform):
        m = Module()
        n, P = self._n, self._P
        regs = [Signal(signed(LOGIT_BITS), name=f"logit{c}") for c in range(n)]
        groups = -(-n // P)
        group = Signal(range(max(2, groups)))
        with m.If(self.restart):
            m.d.sync += group.eq(0)
        with m.If(self.capture):
            m.d.sync += group.eq(group + 1)
            for c in range(n):
                with m.If(group == c // P):
                    m.d.sync += regs[c].eq(self.acc[c % P][:LOGIT_BITS])
        index = Signal(range(max(2, n)))
        value = Signal(signed(LOGIT_BITS))  # class index − 1, read last cycle
        value_valid, value_last = Signal(), Signal()
        best = Signal(signed(LOGIT_BITS))
        best_index = Signal(range(max(2, n)))
        seen = Signal()  # a class has been compared since the scan started
        with m.If(self.scan_start):
            m.d.sync += [index.eq(0), seen.eq(0), value_valid.eq(0)]
        with m.Elif(self.scan):
            m.d.sync += [value.eq(Array(regs)[index]), value_valid.eq(index < n),
                         value_last.eq(index == n - 1), best_index.eq(index)]
            with m.If(index < n):
                m.d.sync += index.eq(index + 1)
        update = value_valid & (~seen | (value > best))
        with m.If(self.scan & update):
            m.d.sync += [best.eq(value), self.class_out.eq(best_index)]
        with m.If(self.scan & value_valid):
            m.d.sync += seen.eq(1)
        m.d.comb += self.scan_done.eq(self.scan & value_valid & value_last)
        for c in range(n):
            m.d.comb += self.logits[LOGIT_BITS * c: LOGIT_BITS * (c + 1)].eq(regs[c])
        return m
