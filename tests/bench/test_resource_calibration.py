"""bench/resource_calibration.py without Yosys: every design of its sample prices, and
``--estimate-only`` re-prices an earlier run's designs against that run's Yosys counts."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from bench import resource_calibration as rc


@pytest.mark.parametrize("design", rc.SAMPLE, ids=lambda d: d.label)
def test_every_sample_design_prices_as_built(design):
    """The estimate prices each design with its own options (a reuse design reuses)."""
    est = rc.estimate(design)
    assert est["lut"] > 0 and est["ff"] > 0


def test_estimate_only_reprices_an_earlier_run(tmp_path, capsys):
    design = rc.QUICK_SAMPLE[0]
    yosys = {"lut": 1000, "lutram": 40, "ff": 800, "dsp": 0, "bram36": 1.0, "yosys_s": 12.5}
    old = {"lut": 1, "ff": 1, "dsp": 0, "bram36": 0, "fits": True}
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"board": rc.BOARD, "started": "then", "rows": [
        {"label": design.label, "design": asdict(design), "estimate": old, "yosys": yosys}]}))
    out = tmp_path / "again.json"
    assert rc.main(["--estimate-only", str(path), "--json", str(out)]) == 0
    row = json.loads(out.read_text())["rows"][0]
    now = rc.estimate(design)
    assert row["estimate"] == now and row["estimate_then"] == old
    text = capsys.readouterr().out
    assert f"| {design.label} | {now['lut']:,} |" in text
    assert f"| 1,000 (40) | 800 | 0 | {now['lut'] / 1000:.2f} | {now['ff'] / 800:.2f} |" in text
