"""Two networks trained at the same seeds: is one really more accurate, or was it a seed?

Issue 16 compares one seed of one network with one seed of another on a 1,000-image test
split, where one seed spreads about ±0.6 points. This trains both networks at every seed
as the searches train them (`search.qsnas.train_point`: the seed's float network, then
QAT at the search's epochs; the training cache keeps every run) and compares them
*paired*: both fine-tune from the same float network at each seed, so the difference
per seed cancels the float network's luck. It prints each network's accuracy per seed,
its mean and how often it reached ``--threshold``, and the mean paired difference B − A
with its 95 % Student-t interval.

    python bench/paired_seeds.py [--a 3,3,3,3] [--b 4,3:4,1:4,2] [--s 0.5] [--seeds 20] [--epochs E]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Issue 16 at target 0.98 on mnist5k (bench/RESULTS.md): the uniform search's design and
# the mixed search's least-weight design (54 % of its weight bits)
DEFAULT_A, DEFAULT_B, DEFAULT_S = "3,3,3,3", "4,3:4,1:4,2", "0.5"


def paired_interval(a, b, level: float = 0.95) -> dict:
    """Mean of the paired differences ``b − a``, its standard deviation and Student-t
    ``level`` interval (``low``, ``high``); ValueError unless both hold the same number
    (≥ 2) of values."""
    import numpy as np
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"paired values: two equal lists of at least 2, not {len(a)} and "
                         f"{len(b)}")
    diff = b - a
    mean, sd = float(diff.mean()), float(diff.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, len(diff) - 1)) * sd / len(diff) ** 0.5
    return {"mean": mean, "sd": sd, "low": mean - half, "high": mean + half, "n": len(diff),
            "level": level}


def measure(arch: str, dataset: str, s, nets: dict, seeds, epochs: int | None = None,
            log=print) -> dict:
    """Each of ``nets`` (name → widths) at width scale ``s``, trained at every seed for
    ``epochs`` QAT epochs (None: the searches' default)."""
    from intnet.arch import format_widths, scale_json, widest_width
    from model.bits import weight_bits
    from model.defaults import DEFAULT_EPOCHS
    from search.mixed import widths_specs
    from search.qsnas import SearchConfig, job_threads, train_point

    threads = job_threads(SearchConfig(target_acc=0.0, arch=arch, dataset=dataset))
    epochs = DEFAULT_EPOCHS[arch] if epochs is None else epochs  # as the searches train
    rows = []
    for name, bits in nets.items():
        acc = []
        for seed in seeds:
            acc.append(train_point(arch, widest_width(bits), s, dataset, None, epochs, seed,
                                   threads, bits=bits)["accuracy"])
            log(f"{name} {format_widths(bits)} seed {seed}: {acc[-1]:.4f}")
        rows.append({"name": name, "bits": format_widths(bits), "accuracy": acc,
                     "weight_bits": weight_bits(widths_specs(arch, s, dataset, bits))})
    from bench.__main__ import machine

    return {"arch": arch, "dataset": dataset, "s": scale_json(s), "epochs": epochs,
            "seeds": list(seeds), "rows": rows, "machine": machine()}


def table(result: dict, threshold: float) -> str:
    """Markdown: per network its accuracies, mean, best and how many seeds reached
    ``threshold``; then the paired difference of the second against the first."""
    lines = [f"{result['arch']} s = {result['s']}, {result['dataset']}, {result['epochs']} "
             f"QAT epochs, seeds {result['seeds'][0]}–{result['seeds'][-1]}", "",
             f"| network | widths | weight bits | mean | min – max | "
             f"seeds ≥ {100 * threshold:g} % | per seed |", "|---|---|---:|---|---|---|---|"]
    for r in result["rows"]:
        acc = r["accuracy"]
        lines.append(f"| {r['name']} | {r['bits']} | {r['weight_bits']:,} | "
                     f"{100 * sum(acc) / len(acc):.2f} % | "
                     f"{100 * min(acc):.1f} – {100 * max(acc):.1f} | "
                     f"{sum(x >= threshold - 1e-9 for x in acc)} / {len(acc)} | "
                     f"{', '.join(f'{100 * x:.1f}' for x in acc)} |")
    a, b = result["rows"][:2]
    d = paired_interval(a["accuracy"], b["accuracy"])
    lines += ["", f"{b['name']} − {a['name']}, paired by seed: {100 * d['mean']:+.2f} points "
              f"(sd {100 * d['sd']:.2f}), 95 % interval [{100 * d['low']:+.2f}, "
              f"{100 * d['high']:+.2f}]"]
    return "\n".join(lines)


def main(argv=None) -> int:
    from common.cli import scale_arg
    from intnet.arch import normal_scale, parse_widths

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="vgg", help="network family (default vgg)")
    p.add_argument("--dataset", default="mnist5k", help="data set (default mnist5k)")
    p.add_argument("--a", type=parse_widths, default=DEFAULT_A,
                   help=f"first network's widths (default {DEFAULT_A})")
    p.add_argument("--b", type=parse_widths, default=DEFAULT_B,
                   help=f"second network's widths (default {DEFAULT_B})")
    p.add_argument("--s", type=scale_arg, default=DEFAULT_S,
                   help=f"width scale, or one per stage (default {DEFAULT_S})")
    p.add_argument("--seeds", type=int, default=20, help="seeds 0 … N − 1 (default 20)")
    p.add_argument("--epochs", type=int, default=None,
                   help="QAT epochs (default: the searches' default for the arch)")
    p.add_argument("--threshold", type=float, default=0.983,
                   help="accuracy counted per seed (default 0.983, the uniform design's)")
    p.add_argument("--json", default=None, help="also write the figures (default: none)")
    args = p.parse_args(argv)
    if args.seeds < 2:
        p.error(f"--seeds must be at least 2 (a paired interval needs two), not {args.seeds}")
    result = measure(args.arch, args.dataset, normal_scale(args.s), {"A": args.a, "B": args.b},
                     range(args.seeds), args.epochs,
                     log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(table(result, args.threshold))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
