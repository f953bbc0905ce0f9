"""``python -m search`` end to end on the small ``digits`` set, and its bad input."""

import json
import os
import subprocess
import sys

import pytest


def run(args, cwd, env=None):
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("QSNAS_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "search", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=1800)


@pytest.mark.parametrize("strategy", ["poly", "bo"])
def test_search_writes_its_report(tmp_path, strategy):
    out = tmp_path / "out"
    done = run(["--target-acc", "0.8", "--dataset", "digits", "--q-samples", "1,2,4",
                "--s-samples", "0.25,0.5", "--s-max", "0.5", "--epochs", "1",
                "--rtl-images", "1", "--strategy", strategy, "--trials", "4", "--quiet",
                "--out", str(out)], tmp_path, env={"QSNAS_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads((out / "search.json").read_text())
    assert set(r) >= {"target_acc", "chosen", "predicted", "measured", "regressors",
                      "samples"}
    assert set(r["chosen"]) == {"q", "s", "pe", "mult"}
    assert r["measured"]["accuracy"] >= 0.8
    assert r["measured"]["rtl_mismatches"] == 0 and r["measured"]["rtl_cycles_match_model"]
    if strategy == "poly":
        assert r["regressors"]["accuracy"]["degree"] >= 1
        assert r["regressors"]["energy"]["loo_mape"] >= 0
        assert len(r["samples"]) == 6
    else:
        assert len({(t["q"], t["s"]) for t in r["trials"]}) == 4
    assert (out / "pareto.png").stat().st_size > 1000
    assert "Chosen" in (out / "search.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--target-acc", "1.5"], "--target-acc must be in (0, 1), not 1.5"),
    (["--target-acc", "0.9", "--jobs", "0"], "--jobs must be a positive integer, not 0"),
    (["--target-acc", "0.9", "--board", "zed"], "board must be one of"),
    (["--target-acc", "0.9", "--s-samples", "a"], "--s-samples must be a comma-separated"),
])
def test_bad_input_is_one_line(tmp_path, args, message):
    done = run(args, tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
