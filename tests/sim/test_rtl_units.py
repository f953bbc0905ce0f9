"""cocotb unit benches in Verilator: PE (adder-tree and per-lane modes, 8-bit lanes),
adder tree and requantizer against numpy on random and extreme values; split q × q lanes
for every (weight bits, activation bits) pair, their half sums in paired passes, and the
requantizer's per-pass limit."""

import pytest

from sim.rtl import run_unit_benches


@pytest.mark.parametrize("q,mult,act_bits", [(3, 5, 8), (1, 4, 8), (6, 3, 8), (8, 3, 8)])
def test_unit_benches_in_verilator(q, mult, act_bits):
    tests, failures = run_unit_benches(q, mult, 40, act_bits, 9, 7)
    assert tests == 6 and failures == 0
