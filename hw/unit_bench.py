"""A wrapper exposing one PE, one adder tree and one requantizer as a Verilog top level,
so the cocotb unit benches (`sim/tb/tb_units.py`) test them in Verilator with one build;
and, for per-layer widths, a PE of q × q lanes that split (`hw.plan.split_factors`) and
pair output channels (`hw.plan.pair_lanes`), and a requantizer with a per-pass limit.
Ports are the components' own, prefixed ``pe__``, ``tree__``, ``rq__``, ``spe__`` and
``crq__``."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from hw.pe import PE, AdderTree
from hw.plan import pair_lanes, split_factors
from hw.requant import Requantizer


class UnitBench(wiring.Component):
    def __init__(self, q: int, mults_per_pe: int, acc_bits: int, act_bits: int,
                 tree_width: int, tree_count: int):
        self._pe = PE(q, mults_per_pe, acc_bits, act_bits, lane_accumulators=True)
        self._tree = AdderTree(tree_width, tree_count)
        self._rq = Requantizer(acc_bits, q)
        self._spe = PE(q, mults_per_pe, acc_bits, splits=split_factors(q),
                       pair_lanes=pair_lanes(mults_per_pe))
        self._crq = Requantizer(acc_bits, q, clamp=True)
        super().__init__({"pe": Out(self._pe.signature), "tree": Out(self._tree.signature),
                          "rq": Out(self._rq.signature), "spe": Out(self._spe.signature),
                          "crq": Out(self._crq.signature)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.pe = self._pe
        m.submodules.tree = self._tree
        m.submodules.rq = self._rq
        m.submodules.spe = self._spe
        m.submodules.crq = self._crq
        wiring.connect(m, wiring.flipped(self.spe), self._spe)
        wiring.connect(m, wiring.flipped(self.crq), self._crq)
        wiring.connect(m, wiring.flipped(self.pe), self._pe)
        wiring.connect(m, wiring.flipped(self.tree), self._tree)
        wiring.connect(m, wiring.flipped(self.rq), self._rq)
        return m
