"""Time the acceptance sweep of issue 5 (must finish in under 30 s on 2 cores).

    python bench/sweep_speed.py [--repeat N] [--out DIR]

Runs ``python -m sim sweep --arch vgg --dataset mnist5k --q 1,2,3,4,6,8
--s 0.5,0.75,1,1.5,2,3 --pe 1,2,4,8,16 --mult 1,2,4,8,16`` as a subprocess (so the
time includes interpreter start-up and imports) and, in-process, the sweep function
alone; prints both wall times and the per-point cost.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--arch", "vgg", "--dataset", "mnist5k", "--q", "1,2,3,4,6,8",
        "--s", "0.5,0.75,1,1.5,2,3", "--pe", "1,2,4,8,16", "--mult", "1,2,4,8,16"]
LIMIT_S = 30.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (best is kept)")
    parser.add_argument("--out", default=None, help="directory for sweep.csv (default: temp)")
    args = parser.parse_args(argv)
    out_dir = args.out or tempfile.mkdtemp(prefix="qsnas-sweep-")
    csv_path = os.path.join(out_dir, "sweep.csv")

    cli = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sim", "sweep", *ARGS, "--out", csv_path, "--force",
                        "--quiet"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        cli.append(time.perf_counter() - start)

    sys.path.insert(0, ROOT)
    import sim.sweep as sweep_mod

    inproc = []
    for _ in range(args.repeat):
        sweep_mod._cycle_model.cache_clear()
        start = time.perf_counter()
        rows = sweep_mod.sweep("vgg", "mnist5k", [1, 2, 3, 4, 6, 8],
                               [0.5, 0.75, 1, 1.5, 2, 3], [1, 2, 4, 8, 16],
                               [1, 2, 4, 8, 16], progress=False)
        inproc.append(time.perf_counter() - start)
    n = len(rows)
    best = min(cli)
    print(f"acceptance sweep: {n} points; CLI {best:.2f} s (best of {args.repeat}, limit "
          f"{LIMIT_S:.0f} s); sweep() alone {min(inproc):.2f} s = "
          f"{min(inproc) / n * 1e3:.2f} ms/point; csv: {csv_path}")
    return 0 if best < LIMIT_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
