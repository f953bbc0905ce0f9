"""The README's accuracy table: each network trained with 3 seeds, mean ± spread.

For every network of `NETWORKS` and seeds 0, 1, 2: `model.train.train_and_export` with the
default recipe (runs come from the training cache when they were trained before) on the
embedded mnist5k test split; the float and integer (golden-model) test accuracies, their
mean and their spread (max − min) over the seeds, and the machine.

    python bench/accuracy_seeds.py [--seeds 0,1,2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (arch, q, s, target shown in the README)
NETWORKS = (("vgg", 4, 1.0, "float ≥ 97.5 %, integer ≥ 97 %"), ("vgg", 2, 1.5, "≥ 96 %"),
            ("vgg", 1, 2.0, "≥ 92 %"), ("mobilenet", 4, 1.0, "≥ 95 %"))


def measure(seeds=(0, 1, 2), dataset: str = "mnist5k", log=print) -> dict:
    from model.train import train_and_export

    rows = []
    for arch, q, s, target in NETWORKS:
        runs = []
        for seed in seeds:
            t0 = time.perf_counter()
            _, m = train_and_export(arch, q, s, dataset, None, seed, None, progress=False)
            runs.append({"seed": seed, "float": m["float_acc"], "integer": m["integer_acc"],
                         "cached": m["cached"], "seconds": round(time.perf_counter() - t0, 1)})
            log(f"{arch} q={q} s={s} seed {seed}: float {m['float_acc']:.4f} integer "
                f"{m['integer_acc']:.4f}")
        rows.append({"arch": arch, "q": q, "s": s, "target": target, "runs": runs})
    from bench.__main__ import machine

    return {"dataset": dataset, "seeds": list(seeds), "rows": rows, "machine": machine()}


def _stat(values) -> str:
    mean = 100 * sum(values) / len(values)
    spread = 100 * (max(values) - min(values))
    return f"{mean:.1f} % ± {spread / 2:.1f}"


def table(result: dict) -> str:
    """Markdown: mean ± half the spread (max − min) over the seeds."""
    lines = ["| network | float | integer (golden) | integer per seed | target |",
             "|---|---|---|---|---|"]
    for r in result["rows"]:
        per_seed = ", ".join(f"{100 * x['integer']:.1f}" for x in r["runs"])
        lines.append(f"| {r['arch']} q={r['q']} s={r['s']:g} | "
                     f"{_stat([x['float'] for x in r['runs']])} | "
                     f"**{_stat([x['integer'] for x in r['runs']])}** | {per_seed} | "
                     f"{r['target']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="training seeds (default 0,1,2)")
    parser.add_argument("--json", default=None, help="also write the figures (default: none)")
    args = parser.parse_args(argv)
    result = measure(tuple(int(v) for v in args.seeds.split(",")),
                     log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
