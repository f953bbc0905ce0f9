"""Benchmark: the QS-NAS polynomial method vs Bayesian optimisation vs exhaustive search.

All three search the same ⟨q, s⟩ grid for the least energy per inference with
integer test accuracy ≥ target. Exhaustive search trains every grid point; its best
feasible point defines regret = E(found) / E(best) − 1. Every network is trained for
real once (through the training cache); each method is then charged the training time
of exactly the networks it asked for (float pre-trains shared per s, as the cache
shares them), so the comparison does not depend on the order the methods ran in.

    python bench/search_compare.py [--dataset digits] [--target-acc 0.95] [--json out.json]
    python bench/search_compare.py --sweep 0.93,0.94,0.95,0.96,0.97   # walk optimism
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from search.bo import bo_search, regret
from search.qsnas import SearchConfig, energy_point, walk

Q_GRID = (1, 2, 3, 4, 6, 8)
S_GRID = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


def _train(arch, q, s, dataset, epochs, seed) -> dict:
    """One grid point's training metrics (a job for the executor; cached runs return at
    once)."""
    from model.train import train_and_export

    t0 = time.perf_counter()
    _, m = train_and_export(arch, q, s, dataset, epochs, seed, None, progress=False)
    return {"accuracy": m["integer_acc"], "qat_seconds": m["qat_seconds"],
            "float_seconds": m["float_seconds"], "wall": time.perf_counter() - t0}


def measure_grid(cfg: SearchConfig, executor=None, q_grid=Q_GRID, s_grid=S_GRID) -> dict:
    """Train every grid point once; accuracy, energy and training cost per point.

    ``executor`` (a `concurrent.futures.Executor`, e.g. `search.executors.RayExecutor`)
    runs the trainings; by default they run here one after the other. The points of one
    s share a float pre-train through the cache, so the first of each s runs first.
    """
    from search.executors import InlineExecutor

    executor = executor or InlineExecutor()
    args = (cfg.dataset, cfg.epochs, cfg.seed)
    firsts = {s: executor.submit(_train, cfg.arch, q_grid[0], s, *args) for s in s_grid}
    futures = {(q_grid[0], s): f for s, f in firsts.items()}
    for s in s_grid:
        firsts[s].result()  # the float pre-train of s is cached before its other q
        futures.update({(q, s): executor.submit(_train, cfg.arch, q, s, *args)
                        for q in q_grid[1:]})
    grid = {}
    for (q, s), future in futures.items():
        grid[(q, s)] = dict(future.result(), energy_uj=energy_point(cfg, q, s)["energy_uj"])
        print(f"q={q} s={s}: acc {grid[(q, s)]['accuracy']:.4f} energy "
              f"{grid[(q, s)]['energy_uj']}", file=sys.stderr)
    return dict(sorted(grid.items(), key=lambda kv: (kv[0][1], kv[0][0])))


def cost(grid: dict, points) -> float:
    """Training seconds of ``points``: QAT each, plus one float pre-train per distinct s."""
    points = set(points)
    float_s = {s: max(grid[(q2, s2)]["float_seconds"] for (q2, s2) in grid if s2 == s)
               for (_, s) in points}
    return sum(grid[p]["qat_seconds"] for p in points) + sum(float_s.values())


def poly_method(grid: dict, target: float, q_samples=(1, 2, 4, 8), s_samples=(0.5, 1.0, 2.0),
                optimism: float = 0.5):
    """QS-NAS on the grid (`search.qsnas.walk`): accuracy regressed on the samples, energy
    exact, the least-energy plausible point trained until one measures feasible."""
    samples = {(q, s): grid[(q, s)]["accuracy"] for q in q_samples for s in s_samples}
    energies = {p: v["energy_uj"] for p, v in grid.items() if v["energy_uj"]}
    found = walk(samples, energies, target, lambda q, s: grid[(q, s)]["accuracy"],
                 optimism=optimism, max_new=len(grid))
    return found.chosen, list(found.trained), {"accuracy_loo_rmse": found.fit.loo_rmse}


def compare(arch: str = "vgg", dataset: str = "digits", target_acc: float = 0.95,
            epochs: int | None = None, bo_seeds: int = 5, executor: str = "local",
            ray_address: str | None = None) -> dict:
    """Exhaustive vs QS-NAS polynomial vs BO on the grid; the rows of the comparison.

    Returns ``{"target_acc", "dataset", "arch", "grid", "best", "rows"}`` (``best`` None
    and ``rows`` empty when no grid point reaches the target).
    """
    cfg = SearchConfig(target_acc=target_acc, arch=arch, dataset=dataset, epochs=epochs,
                       progress=False)
    from search.executors import make_executor

    pool = make_executor(executor, 1, ray_address) if executor == "ray" else None
    try:
        grid = measure_grid(cfg, pool)
    finally:
        if pool is not None:
            pool.shutdown()
    out = {"target_acc": target_acc, "dataset": dataset, "arch": arch,
           "grid": {f"q{q}_s{s}": v for (q, s), v in grid.items()}, "best": None,
           "rows": []}
    feasible = {p: v for p, v in grid.items()
                if v["energy_uj"] and v["accuracy"] >= target_acc}
    if not feasible:
        return out
    best = min(feasible, key=lambda p: feasible[p]["energy_uj"])
    e_best = feasible[best]["energy_uj"]
    rows = [{"method": "exhaustive", "found": best, "trained": len(grid),
             "train_seconds": cost(grid, grid), "regret": 0.0}]
    found, trained, fit = poly_method(grid, target_acc)
    rows.append({"method": "polynomial (QS-NAS)", "found": found, "trained": len(trained),
                 "train_seconds": cost(grid, trained),
                 "regret": regret(grid[found]["energy_uj"] if found else None, e_best), **fit})
    budget = len(trained)
    bo_rows = []
    for seed in range(bo_seeds):
        res = bo_search(lambda q, s: (grid[(q, s)]["accuracy"], grid[(q, s)]["energy_uj"]),
                        Q_GRID, S_GRID, target_acc, n_trials=budget, seed=seed)
        pts = {(t["q"], t["s"]) for t in res["trials"]}
        b = res["best"]
        bo_rows.append({"found": (b["q"], b["s"]) if b else None, "trained": len(pts),
                        "train_seconds": cost(grid, pts),
                        "regret": regret(b["energy_uj"] if b else None, e_best)})
    rows.append({"method": f"Bayesian optimisation (TPE, {budget} trials, "
                           f"mean of {bo_seeds} seeds)",
                 "found": [r["found"] for r in bo_rows],
                 "trained": float(np.mean([r["trained"] for r in bo_rows])),
                 "train_seconds": float(np.mean([r["train_seconds"] for r in bo_rows])),
                 "regret": float(np.mean([r["regret"] for r in bo_rows]))})
    out.update(best=best, e_best=e_best, rows=rows)
    return out


def optimism_sweep(grid: dict, targets, optimisms=(0.0, 0.5, 1.0)) -> list[dict]:
    """The default method's regret on the grid per target and `walk` optimism (the
    networks trained include the 12 samples)."""
    rows = []
    for target in targets:
        feasible = [v["energy_uj"] for v in grid.values()
                    if v["energy_uj"] and v["accuracy"] >= target]
        if not feasible:
            continue
        row = {"target": target}
        for optimism in optimisms:
            found, trained, _ = poly_method(grid, target, optimism=optimism)
            row[optimism] = (regret(grid[found]["energy_uj"] if found else None,
                                    min(feasible)), len(trained))
        rows.append(row)
    return rows


def print_sweep(grid: dict, targets) -> None:
    rows = optimism_sweep(grid, targets)
    names = [k for k in rows[0] if k != "target"] if rows else []
    print("| target | " + " | ".join(f"optimism {o:g}: regret (networks)" for o in names)
          + " |")
    print("|---|" + "---|" * len(names))
    for row in rows:
        cells = [f"{100 * row[o][0]:.1f} % ({row[o][1]})" for o in names]
        print(f"| {row['target']:g} | " + " | ".join(cells) + " |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vgg")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--target-acc", type=float, default=0.95)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--bo-seeds", type=int, default=5)
    parser.add_argument("--json", default=None)
    parser.add_argument("--executor", default="local", choices=("local", "ray"))
    parser.add_argument("--ray-address", default=None)
    parser.add_argument("--sweep", default=None, metavar="TARGETS",
                        help="instead: the default method's regret at each of these targets "
                             "for walk optimism 0, 0.5 and 1, e.g. 0.93,0.94,0.95,0.96,0.97")
    args = parser.parse_args(argv)
    if args.sweep:
        cfg = SearchConfig(target_acc=0.5, arch=args.arch, dataset=args.dataset,
                           epochs=args.epochs, progress=False)
        print_sweep(measure_grid(cfg), [float(t) for t in args.sweep.split(",")])
        return 0
    out = compare(args.arch, args.dataset, args.target_acc, args.epochs, args.bo_seeds,
                  args.executor, args.ray_address)
    if not out["rows"]:
        print("no grid point reaches the target", file=sys.stderr)
        return 1
    print("| method | networks trained | training time (s) | found ⟨q, s⟩ | regret |")
    print("|---|---|---|---|---|")
    for r in out["rows"]:
        print(f"| {r['method']} | {r['trained']:g} | {r['train_seconds']:.0f} | {r['found']} | "
              f"{100 * r['regret']:.1f} % |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
