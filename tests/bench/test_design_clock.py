"""bench/design_clock.py without place and route: the table of an earlier run."""

from __future__ import annotations

import json

from bench import design_clock as dc


def _row(q, s, pe, mult, clock, tries):
    attempts = [{"clock_mhz": c, "fmax_mhz": f, "seed": seed, "passed": ok}
                for c, f, seed, ok in tries]
    return {"q": q, "s": s, "pe": pe, "mult": mult, "wall_s": 125.4, "clock_mhz": clock,
            "fmax_mhz": max(a["fmax_mhz"] for a in attempts),
            "clock": {"timing_attempts": attempts}, "lc": 3300, "energy_uj": 0.8844,
            "weight_reuse": True, "mismatch": {"images": 5, "mismatches": 0}}


def test_table_of_an_earlier_run(tmp_path, capsys):
    rows = [_row(2, 0.25, 1, 2, 39.75, [(60.0, 40.09, None, False), (60.0, 41.11, 1, False),
                                        (60.0, 39.14, 2, False), (39.75, 41.11, 1, True)]),
            _row(8, 0.5, 1, 2, 35.25, [(60.0, 36.49, None, False), (35.25, 36.49, None, True)]),
            {"q": 4, "s": 0.5, "pe": 2, "mult": 2, "wall_s": 3.0,
             "error": "Traceback ...\nUserError: the ice40 open flow failed: ERROR: x\n"}]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(rows))
    assert dc.main(["--table", str(path)]) == 0
    text = capsys.readouterr().out
    assert "| 2 | 0.25 | 1 × 2 | on | 3,300 (" in text
    assert "| 40.09 / 41.11 / 39.14 | 41.11 (1) | 39.75 MHz | 0.884 | 0 | 2:05 |" in text
    assert "| 36.49 | 36.49 (default) | 35.25 MHz |" in text
    assert "| 4 | 0.5 | 2 × 2 | failed: UserError: the ice40 open flow failed: ERROR: x |" in text
    assert "Least PLL clock: 35.25 MHz (2 of 3 built)" in text
