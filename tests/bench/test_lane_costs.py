"""bench/lane_costs.py measures what `sim.resources` prices lanes by: the table it holds
is Yosys's count of the lanes the generator writes today (q = 2 here; every q with
--runslow). Exact with the Yosys the table was measured with (0.23, Debian); another
Yosys (e.g. YoWASP's) maps a little differently, so within 15 % and one LUT."""

from __future__ import annotations

import pytest

from bench import lane_costs
from codegen.synth import yosys_available
from common.tools import yosys_command
from sim.resources import LUT6_DSP_LANE_LUTS, LUT6_LANE_LUTS

needs_yosys = pytest.mark.skipif(not yosys_available(),
                                 reason="yosys not installed (.ci/run installs it)")


def _close(measured: tuple, table: tuple) -> bool:
    return all((m is None) == (t is None) and (m is None or abs(m - t) <= 0.15 * t + 1)
               for m, t in zip(measured, table, strict=True))


def _check(q: int) -> None:
    measured, dsp = lane_costs.measure(q), lane_costs.measure_dsp(q)
    assert _close(measured, LUT6_LANE_LUTS[q]), (measured, LUT6_LANE_LUTS[q])
    assert _close(dsp, LUT6_DSP_LANE_LUTS[q]), (dsp, LUT6_DSP_LANE_LUTS[q])
    if "0.23 " in _yosys_version():
        assert (measured, dsp) == (LUT6_LANE_LUTS[q], LUT6_DSP_LANE_LUTS[q])


def _yosys_version() -> str:
    import subprocess

    return subprocess.run([yosys_command(), "-V"], capture_output=True, text=True).stdout


@needs_yosys
def test_lane_table_is_yosys_count_at_q2():
    _check(2)


@needs_yosys
@pytest.mark.slow
@pytest.mark.parametrize("q", range(1, 9))
def test_lane_table_is_yosys_count(q):
    _check(q)
