"""A wrapper exposing one PE, one adder tree and one requantizer as a Verilog top level,
so the cocotb unit benches (`sim/tb/tb_units.py`) test them in Verilator with one build.
Ports are the components' own, prefixed ``pe__``, ``tree__`` and ``rq__``."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from hw.pe import PE, AdderTree
from hw.requant import Requantizer


class UnitBench(wiring.Component):
    def __init__(self, q: int, mults_per_pe: int, acc_bits: int, act_bits: int,
                 tree_width: int, tree_count: int):
        self._pe = PE(q, mults_per_pe, acc_bits, act_bits, lane_accumulators=True)
        self._tree = AdderTree(tree_width, tree_count)
        self._rq = Requantizer(acc_bits, q)
        super().__init__({"pe": Out(self._pe.signature), "tree": Out(self._tree.signature),
                          "rq": Out(self._rq.signature)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.pe = self._pe
        m.submodules.tree = self._tree
        m.submodules.rq = self._rq
        wiring.connect(m, wiring.flipped(self.pe), self._pe)
        wiring.connect(m, wiring.flipped(self.tree), self._tree)
        wiring.connect(m, wiring.flipped(self.rq), self._rq)
        return m
