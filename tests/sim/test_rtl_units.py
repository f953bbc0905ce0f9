"""cocotb unit benches in Verilator: PE (adder-tree and per-lane modes, digit shifts),
adder tree and requantizer against numpy on random and extreme values."""

import pytest

from sim.rtl import run_unit_benches


@pytest.mark.parametrize("q,mult,digits", [(3, 5, 3), (1, 4, 8)])
def test_unit_benches_in_verilator(q, mult, digits):
    tests, failures = run_unit_benches(q, mult, 40, digits, 9, 7)
    assert tests == 3 and failures == 0
