"""The logits of the last pass and the argmax scan over them.

The last pass writes no activations: its raw accumulators are the int32 logits, class
``g·P + j`` from PE j in the pass's group g (groups come in order). Each class register
loads only in its own group, from its own PE: no comparator per (class, PE) pair. After
the pass has drained, the scan reads one class every three cycles (read, compare the
halves, update) and keeps the first maximum (lowest index on ties, as the golden
model's argmax).
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, signed
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
        # The scan takes three cycles a class: read (value ← class index), compare the
        # halves (a 32-bit carry chain is too long for one cycle on the slowest family),
        # update the best with the previous class.
        index = Signal(range(n + 1))
        value, best = Signal(signed(LOGIT_BITS)), Signal(signed(LOGIT_BITS))
        candidate = Signal(range(max(2, n)))  # the class in `value`
        half = LOGIT_BITS // 2
        hi_gt, hi_eq, lo_gt, seen = Signal(), Signal(), Signal(), Signal()
        phase = Signal(range(3))
        m.d.comb += self.scan_done.eq(self.scan & (phase == 0) & (index == n))
        with m.If(self.scan_start):
            m.d.sync += [index.eq(0), seen.eq(0), phase.eq(0)]
        with m.Elif(self.scan):
            m.d.sync += phase.eq(Mux(phase == 2, 0, phase + 1))
            with m.If(phase == 0):
                m.d.sync += [value.eq(Array(regs)[index]), candidate.eq(index),
                             index.eq(index + 1)]
            with m.Elif(phase == 1):
                m.d.sync += [hi_gt.eq(value[half:].as_signed() > best[half:].as_signed()),
                             hi_eq.eq(value[half:] == best[half:]),
                             lo_gt.eq(value[:half] > best[:half])]
            with m.Else():
                with m.If(~seen | hi_gt | (hi_eq & lo_gt)):
                    m.d.sync += [best.eq(value), self.class_out.eq(candidate)]
                m.d.sync += seen.eq(1)
        for c in range(n):
            m.d.comb += self.logits[LOGIT_BITS * c: LOGIT_BITS * (c + 1)].eq(regs[c])
        return m
