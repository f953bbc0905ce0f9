"""Training jobs per minute: local processes against local Ray (docs/scale-out.md).

The same jobs (`search.qsnas.train_points` over a small digits grid, 1 QAT epoch, a cold
training cache each time) through ``--executor local --jobs 2`` and through a local Ray
runtime of 2 CPUs, one CPU per task; the wall time covers submitting to the last result
(a Ray runtime's start-up is timed apart). The machine and its load averages before and
after each run go with the figures: on a shared machine they say how far to trust them.

    python bench/executor_speed.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = [(q, s) for s in (0.25, 0.5, 0.75) for q in (1, 2, 4, 8)]


def run(executor: str, jobs: int = 2) -> dict:
    from common.files import temporary_environ
    from search.executors import make_executor
    from search.qsnas import SearchConfig, train_points

    cfg = SearchConfig(target_acc=0.9, dataset="digits", epochs=1, jobs=jobs,
                       executor=executor, progress=False)
    load_before = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="qsnas-bench-exec-") as cache, \
            temporary_environ(QSNAS_CACHE=cache):
        t0 = time.perf_counter()
        pool = make_executor(executor, jobs, None, threads=1)
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            results = train_points(GRID, cfg, pool)
        finally:
            pool.shutdown()
        wall = time.perf_counter() - t0
    return {"executor": executor, "jobs": len(GRID), "workers": jobs,
            "startup_s": round(startup, 1), "wall_s": round(wall, 1),
            "jobs_per_min": round(60 * len(GRID) / wall, 2),
            "load_average_before": load_before,
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
            "accuracies": {f"q{q}_s{s}": results[(q, s)]["accuracy"] for q, s in GRID}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="also write the figures (default: none)")
    args = parser.parse_args(argv)
    from bench.__main__ import machine

    out = {"grid": GRID, "machine": machine(), "runs": [run("local"), run("ray")]}
    out["same_accuracies"] = out["runs"][0]["accuracies"] == out["runs"][1]["accuracies"]
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    for r in out["runs"]:
        print(f"{r['executor']}: {r['jobs']} jobs on {r['workers']} workers in {r['wall_s']} s "
              f"= {r['jobs_per_min']} jobs/min (start-up {r['startup_s']} s; load average "
              f"{r['load_average_before'][0]} before, {r['load_average_after'][0]} after)")
    print(f"same accuracies: {out['same_accuracies']}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
