"""Benchmark: uniform vs mixed precision at a target accuracy, every design measured.

For each target accuracy, five ways to pick a network for the board, each with the
measured accuracy (golden model, test split), energy, weight memory, BRAM36 and cycles
of its design (the cycle, resource and energy models at the best fitting (P, M), exact),
the RTL check where the hardware takes the bundle, and the search time:

- best uniform (exhaustive): every ⟨q, s⟩ of a grid trained; the least-energy feasible;
- QS-NAS poly (`search.qsnas.run_search`, the default uniform search);
- TPE uniform (`search.qsnas.run_bo`);
- mixed search (`search.mixed.run_mixed`, one width per layer): its least-energy design
  (``chosen``) and, from the same search, its least-weight design (``least_weight``);
- mixed search, W:A (the same with ``act_widths``: each hidden layer's activation width
  searched apart from its weights'), its two designs likewise;
- mixed search, W:A + stage scales (the same with ``stage_scales`` too: each stage's
  width scale searched, every new shape with its own float pre-train), at the targets of
  `STAGE_TARGETS` only, its two designs likewise;
- focused candidates (`probe_rows`), at the uniform search's s: the lane-splitting and
  weight-lean widths the mixed search proposes first (`search.mixed.split_widths`,
  `staircase_widths` from its q up to 8 bits), each fine-tuned and measured, so that a
  goal not met shows what stood in the way;
- learned bits (`model.bits`) at the uniform search's s and at most its q (so the lanes
  are no wider), under two budgets: energy 1/1.3 of the uniform search's design and
  weight memory 60 % of it (the issue's acceptance ratios); the widths are learned,
  fixed, fine-tuned and measured.

Search time: every network is trained once through the training cache, so a method is
charged the recorded QAT time of each network it used plus its own measured wall time
with those networks cached (loading, golden evaluation, Verilator); the float
pre-trains it needs (one per s) are shown apart, as the issue counts search time "once
the float network is cached".

    python bench/mixed_compare.py [--targets 0.97,0.98] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from bench.search_compare import measure_grid
from intnet.arch import normal_scale, normal_widths, scale_json, widest_width, widths_json
from search.qsnas import DESIGN_KEYS, SearchConfig, measure_network

# The uniform grid of the exhaustive column (mnist5k reaches 0.97–0.98 at small s, so the
# low end is finer than the digits grid of bench/search_compare.py).
Q_GRID = (1, 2, 3, 4, 6, 8)
S_GRID = (0.25, 0.375, 0.5, 0.75, 1.0, 1.5)
# What the table keeps of each network the mixed search trained (the measured reason
# when a goal is not met).
TRIAL_KEYS = ("bits", "s", "source", "accuracy", "energy_uj", "weight_bits")
# The mixed searches: one width per layer; weights and activations apart; and that with
# a width scale per stage, run only at `STAGE_TARGETS` (the weight point's open target:
# each new shape trains its own float network, about 15 min more a target).
MIXED, MIXED_ACT = "mixed search", "mixed search, W:A"
MIXED_STAGES = "mixed search, W:A + stage scales"
STAGE_TARGETS = (0.98,)
# The acceptance ratios, used as the learned-bits budgets.
ENERGY_RATIO = 1.3
WEIGHT_SHARE = 0.6
# When a goal is not met, the uniform design and the most accurate networks within the
# missed budget are trained again at these seeds and QAT epochs (× the default): is the
# verdict the luck of one seed, or a too short fine-tune? (`robustness_rows`)
ROBUST_SEEDS = (0, 1, 2, 3, 4)
ROBUST_EPOCH_FACTORS = (1, 4)
ROBUST_PER_BUDGET = 2


def _charged(samples: list[dict], wall: float) -> dict:
    """``{"search_seconds": recorded QAT seconds of samples + wall, "float_seconds": their
    float pre-trains, one per s}``."""
    qat = sum(x.get("qat_seconds") or 0 for x in samples)
    floats = {}
    for x in samples:
        s = normal_scale(x["s"])
        floats[s] = max(floats.get(s, 0), x.get("float_seconds") or 0)
    return {"search_seconds": round(qat + wall, 1),
            "float_seconds": round(sum(floats.values()), 1)}


def _row(method: str, widths, s, measured: dict, trained: int, seconds: dict,
         **extra) -> dict:
    bits = widths_json(widths) if isinstance(widths, tuple | list) else None
    return {"method": method, "q": widest_width(bits) if bits else widths, "bits": bits, "s": s,
            "accuracy": measured["accuracy"], **{k: measured[k] for k in DESIGN_KEYS},
            "rtl": measured["rtl"], "trained": trained, **seconds, **extra}


def exhaustive_row(cfg: SearchConfig, grid: dict, rtl_images: int) -> dict | None:
    feasible = {p: v for p, v in grid.items()
                if v["energy_uj"] and v["accuracy"] >= cfg.target_acc}
    if not feasible:
        return None
    q, s = min(feasible, key=lambda p: feasible[p]["energy_uj"])
    t0 = time.perf_counter()
    measured, _ = measure_network(cfg, q, s, rtl_images)
    used = [{"s": s2, "qat_seconds": v["qat_seconds"], "float_seconds": v["float_seconds"]}
            for (_, s2), v in grid.items()]
    return _row("best uniform (exhaustive)", q, s, measured, len(grid),
                _charged(used, time.perf_counter() - t0))


def search_row(method: str, run, cfg: SearchConfig, *args) -> dict:
    """One search (``run(cfg, *args) -> (result, chosen net, …)``), charged as the module
    says; a mixed search's least-weight design rides along as ``least_weight`` (a row)."""
    t0 = time.perf_counter()
    try:
        result = run(cfg, *args)[0]
    except ValueError as e:  # e.g. nothing measured feasible: the row says so
        return {"method": method, "error": str(e)}
    wall = time.perf_counter() - t0
    c = result["chosen"]
    used = [x for x in result["samples"] if x.get("accuracy") is not None]
    seconds = _charged(used, wall)
    row = _row(method, normal_widths(c["bits"]) if "bits" in c else c["q"], c["s"],
               result["measured"], len(used), seconds,
               predicted_energy_uj=result["predicted"]["energy_uj"],
               mixed=c.get("mixed", False))
    if "least_weight" in result:
        lean = result["least_weight"]
        row["least_weight"] = _row(f"{method}, least weight", normal_widths(lean["bits"]),
                                   lean["s"],
                                   lean["measured"], len(used), seconds,
                                   mixed=lean["mixed"])
        row["trials"] = [{k: x[k] for k in TRIAL_KEYS} for x in used]
    return row


def probe_widths(cfg: SearchConfig, s: float, q: int) -> list[tuple[tuple[int, ...], str]]:
    """The focused candidates at ``s`` around the uniform design's ``q``: ``(widths, why)``."""
    from search.mixed import split_widths, staircase_widths, weight_counts, widths_specs

    counts = weight_counts(widths_specs(cfg.arch, s, cfg.dataset, q))
    out = {bits: "lane split" for bits in split_widths(len(counts))}
    for top in range(q, 9):
        out.setdefault(staircase_widths(counts, top), "weight staircase")
    return list(out.items())


def probe_rows(cfg: SearchConfig, s: float, q: int) -> list[dict]:
    """Each of `probe_widths` fine-tuned from the cached float network (the search's
    recipe), with its golden test accuracy and design point."""
    from search.mixed import design_point, widths_specs
    from search.qsnas import train_point

    rows = []
    for bits, why in probe_widths(cfg, s, q):
        result = train_point(cfg.arch, max(bits), s, cfg.dataset, cfg.data_dir, cfg.epochs,
                             cfg.seed, 1, bits=bits)
        design = design_point(widths_specs(cfg.arch, s, cfg.dataset, bits), cfg.board,
                              cfg.pe_list, cfg.mult_list) or {}
        rows.append({"bits": list(bits), "s": s, "why": why, "accuracy": result["accuracy"],
                     **{k: design.get(k) for k in DESIGN_KEYS}})
    return rows


def learned_row(cfg: SearchConfig, kind: str, target: float, s: float, q: int,
                rtl_images: int) -> dict:
    """Learn widths of at most ``q`` bits at ``s`` under a ``kind`` budget of ``target``,
    fine-tune, measure."""
    from boards import get_board
    from common.cli import UserError
    from model.bits import BitBudget, LearnConfig, learn_bits, weight_kb_cost
    from model.train import TrainConfig
    from search.mixed import energy_cost

    label = {"energy_uj": f"learned bits (≤ {q} bits, energy ≤ {target:.3f} µJ)",
             "weight_kb": f"learned bits (≤ {q} bits, weights ≤ {target:.2f} KiB)"}[kind]
    if kind == "weight_kb":
        budget = BitBudget(kind, target, weight_kb_cost(cfg.arch, s, cfg.dataset), "weights")
    else:
        budget = BitBudget(kind, target, energy_cost(cfg.arch, s, cfg.dataset, cfg.board,
                                                     cfg.pe_list, cfg.mult_list),
                           f"search.mixed.energy_cost {get_board(cfg.board).name}")
    train_cfg = TrainConfig(arch=cfg.arch, s=s, dataset=cfg.dataset, data_dir=cfg.data_dir,
                            epochs=cfg.epochs, seed=cfg.seed)
    t0 = time.perf_counter()
    try:
        learned = learn_bits(train_cfg, budget, LearnConfig(init=q, hi=q), progress=False)
    except UserError as e:  # the budget is below the narrowest widths' cost
        return {"method": label, "error": str(e)}
    measured, _ = measure_network(cfg, learned.bits, s, rtl_images)
    wall = time.perf_counter() - t0
    seconds = {"search_seconds": round(learned.seconds + measured["qat_seconds"] + wall, 1),
               "float_seconds": measured["float_seconds"]}
    return _row(label, learned.bits, s, measured, 2, seconds,
                learned_rounded=list(learned.rounded), budget_met=learned.met,
                budget_cost=learned.cost)


def compare(arch: str = "vgg", dataset: str = "mnist5k", targets=(0.97, 0.98),
            board: str = "arty_a7_35", trials: int = 24, bo_trials: int = 14,
            epochs: int | None = None, rtl_images: int = 2, log=print) -> dict:
    """The table's rows per target: ``{"targets": [{"target_acc", "rows", "acceptance"}]}``."""
    from search.mixed import run_mixed
    from search.qsnas import run_bo, run_search

    base = SearchConfig(target_acc=targets[0], arch=arch, dataset=dataset, board=board,
                        epochs=epochs, progress=False)
    t0 = time.perf_counter()
    grid = measure_grid(base, q_grid=Q_GRID, s_grid=S_GRID)
    log(f"mixed: grid of {len(grid)} networks in {time.perf_counter() - t0:.0f} s")
    out = {"arch": arch, "dataset": dataset, "board": board, "grid": {"q": Q_GRID,
                                                                        "s": S_GRID},
           "trials": trials, "bo_trials": bo_trials, "rtl_images": rtl_images,
           "energy_ratio": ENERGY_RATIO, "weight_share": WEIGHT_SHARE, "targets": []}
    for target in targets:
        cfg = dataclasses.replace(base, target_acc=target)
        rows = [exhaustive_row(cfg, grid, rtl_images) or {
            "method": "best uniform (exhaustive)", "error": "no grid point reaches it"}]
        uniform = search_row("QS-NAS poly", run_search, cfg, rtl_images)
        rows += [uniform, search_row("TPE uniform", run_bo, cfg, bo_trials, rtl_images)]
        for method, act, stages in ((MIXED, False, False), (MIXED_ACT, True, False),
                                    (MIXED_STAGES, True, True)):
            if stages and target not in STAGE_TARGETS:
                continue
            mixed = search_row(method, run_mixed, dataclasses.replace(
                cfg, act_widths=act, stage_scales=stages), trials, rtl_images)
            rows += [mixed] + ([mixed.pop("least_weight")] if "least_weight" in mixed else [])
        if "error" not in uniform:
            for kind, budget in (("energy_uj", uniform["energy_uj"] / ENERGY_RATIO),
                                 ("weight_kb", WEIGHT_SHARE * uniform["weight_bits"] / 8192)):
                rows.append(learned_row(cfg, kind, budget, uniform["s"], uniform["q"],
                                        rtl_images))
        probe = [] if "error" in uniform else probe_rows(cfg, uniform["s"], uniform["q"])
        verdict, verdict_act = acceptance(rows, target), acceptance(rows, target, MIXED_ACT)
        verdict_stages = acceptance(rows, target, MIXED_STAGES)
        # the W:A searches' networks within the budgets are candidates too
        act_within = [x for v in (verdict_act, verdict_stages)
                      for x in v.get("within_energy", []) + v.get("within_weight", [])]
        robust = [] if "error" in uniform else robustness_rows(cfg, robust_candidates(
            uniform, verdict, rows + probe + act_within, _weighted_layers(cfg, uniform["s"])),
            log)
        log(f"mixed: target {target} done")
        out["targets"].append({"target_acc": target, "rows": rows, "probe": probe,
                               "acceptance": verdict, "acceptance_act": verdict_act,
                               "acceptance_stages": verdict_stages,
                               "robust": robust})
    out.update(stage_targets=[t for t in targets if t in STAGE_TARGETS],
               robust_seeds=ROBUST_SEEDS, robust_per_budget=ROBUST_PER_BUDGET,
               robust_epochs=[f * _epochs(base) for f in ROBUST_EPOCH_FACTORS],
               test_images=_test_images(dataset))
    return out


def _weighted_layers(cfg: SearchConfig, s: float) -> int:
    from search.mixed import weight_counts, widths_specs

    return len(weight_counts(widths_specs(cfg.arch, s, cfg.dataset, 8)))


def _test_images(dataset: str) -> int:
    from model.data import load_dataset

    return len(load_dataset(dataset).test_y)


def _epochs(cfg: SearchConfig) -> int:
    from model.defaults import DEFAULT_EPOCHS

    return cfg.epochs if cfg.epochs is not None else DEFAULT_EPOCHS[cfg.arch]


def robust_candidates(uniform: dict, verdict: dict, measured: list[dict],
                      n_layers: int) -> list[dict]:
    """What `robustness_rows` retrains when a goal is missed: the uniform search's design
    and, per missed budget, the `ROBUST_PER_BUDGET` most accurate networks within it among
    ``measured`` (rows, probes) and the mixed search's trials. ``[{"bits", "s", "why"}]``."""
    if not verdict.get("compared") or (verdict["energy_ok"] and verdict["weight_ok"]):
        return []
    out = {((uniform["q"],) * n_layers, uniform["s"]): "uniform search"}
    pool = [x for x in measured + verdict["within_energy"] + verdict["within_weight"]
            if x.get("bits") and x.get("energy_uj") is not None and x.get("accuracy")]
    for ok, key, limit, why in (
            (verdict["energy_ok"], "energy_uj", verdict["energy_budget_uj"], "energy budget"),
            (verdict["weight_ok"], "weight_bits", verdict["weight_budget_bits"],
             "weight budget")):
        if ok:
            continue
        within = sorted((x for x in pool if x[key] <= limit),
                        key=lambda x: (-x["accuracy"], x["energy_uj"], x["weight_bits"]))
        for x in within:
            if list(out.values()).count(why) == ROBUST_PER_BUDGET:
                break
            out.setdefault((normal_widths(x["bits"]), normal_scale(x["s"])), why)
    return [{"bits": widths_json(b), "s": scale_json(s), "why": why}
            for (b, s), why in out.items()]


def robustness_rows(cfg: SearchConfig, candidates: list[dict], log=print) -> list[dict]:
    """Each candidate trained at every seed of `ROBUST_SEEDS` and QAT epochs of
    `ROBUST_EPOCH_FACTORS` (× the default), as the search trains (from that seed's cached
    float network): ``runs`` = ``[{"epochs", "accuracy": [per seed], "mean"}]``, with its
    design point."""
    from search.mixed import design_point, widths_specs
    from search.qsnas import job_threads, train_point

    rows = []
    for c in candidates:
        bits, s = normal_widths(c["bits"]), normal_scale(c["s"])
        runs = []
        for factor in ROBUST_EPOCH_FACTORS:
            epochs = factor * _epochs(cfg)
            acc = [train_point(cfg.arch, widest_width(bits), s, cfg.dataset, cfg.data_dir,
                               epochs, seed,
                               job_threads(cfg), bits=bits)["accuracy"] for seed in ROBUST_SEEDS]
            runs.append({"epochs": epochs, "accuracy": acc, "mean": sum(acc) / len(acc)})
        log(f"mixed: robustness of {bits} s {s}: {[r['accuracy'] for r in runs]}")
        design = design_point(widths_specs(cfg.arch, s, cfg.dataset, bits), cfg.board,
                              cfg.pe_list, cfg.mult_list) or {}
        rows.append({**c, "runs": runs, **{k: design.get(k) for k in DESIGN_KEYS}})
    return rows


def acceptance(rows: list[dict], target: float, method: str = "mixed search") -> dict:
    """The issue's checks: the mixed search's (``method``'s) least-energy design against
    the uniform search's (QS-NAS poly) on energy, its least-weight design on weight memory
    at equal or better accuracy."""
    by = {r["method"]: r for r in rows}
    uniform, mixed = by.get("QS-NAS poly"), by.get(method)
    if not uniform or not mixed or "error" in uniform or "error" in mixed:
        return {"compared": False}
    lean = by.get(f"{method}, least weight", mixed)
    return {"compared": True,
            "energy_ratio": uniform["energy_uj"] / mixed["energy_uj"],
            "energy_ok": uniform["energy_uj"] / mixed["energy_uj"] >= ENERGY_RATIO,
            "weight_share": lean["weight_bits"] / uniform["weight_bits"],
            "weight_accuracy": lean["accuracy"],
            "weight_ok": (lean["weight_bits"] <= WEIGHT_SHARE * uniform["weight_bits"]
                          and lean["accuracy"] >= uniform["accuracy"]),
            "both_reach_target": min(uniform["accuracy"], mixed["accuracy"]) >= target,
            "mixed_widths_differ": bool(mixed.get("mixed")),
            **closest(mixed.get("trials", []), uniform),
            "mixed_search_seconds": mixed["search_seconds"],
            "float_seconds": mixed.get("float_seconds")}


def closest(trials: list[dict], uniform: dict, keep: int = 5) -> dict:
    """The mixed search's trained networks within each budget (energy 1/`ENERGY_RATIO`,
    weight memory `WEIGHT_SHARE` of the uniform design), the most accurate ``keep`` of
    each: what stood between the search and a goal."""
    fits = [x for x in trials if x["energy_uj"] is not None]
    energy = [x for x in fits if x["energy_uj"] <= uniform["energy_uj"] / ENERGY_RATIO]
    weight = [x for x in fits if x["weight_bits"] <= WEIGHT_SHARE * uniform["weight_bits"]]

    def top(xs):
        return sorted(xs, key=lambda x: (-x["accuracy"], x["energy_uj"], x["weight_bits"]))[:keep]

    return {"energy_budget_uj": uniform["energy_uj"] / ENERGY_RATIO,
            "weight_budget_bits": WEIGHT_SHARE * uniform["weight_bits"],
            "within_energy": top(energy), "within_weight": top(weight),
            "trials_within_energy": len(energy), "trials_within_weight": len(weight)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vgg")
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--targets", default="0.97,0.98")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    targets = tuple(float(t) for t in args.targets.split(","))
    out = compare(args.arch, args.dataset, targets, trials=args.trials,
                  log=lambda m: print(m, file=sys.stderr))
    print(json.dumps(out, indent=1, default=str))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
