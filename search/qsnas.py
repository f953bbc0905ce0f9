"""The QS-NAS search: sample ⟨q, s⟩, fit accuracy and energy, pick the least energy.

1. Train a small grid of ⟨q, s⟩ networks for real (in parallel through a
   `concurrent.futures.Executor`, reusing the training cache) → accuracy samples.
2. Evaluate a dense ⟨q, s⟩ grid with the cycle + energy models at the best (P, M) that
   fits the board → energy samples (cheap: shapes only).
3. Fit polynomial regressors (degree and features by leave-one-out error).
4. Minimise predicted energy subject to predicted accuracy ≥ target over q ∈ 1..8 and a
   fine grid of s, snapped to buildable channel counts; then train and simulate the
   chosen point for real, and step to the next candidate if it misses the target.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
from dataclasses import dataclass, field

import numpy as np

from search.design import ARRAY_SIZES
from search.regress import PolyFit, select_poly

# Every hidden channel count of the family is a multiple of this base at s = 1, so s on a
# 1/16 grid gives exact channel counts (round(16·s)·k for every stage).
S_QUANTUM = 1 / 16


@dataclass
class SearchConfig:
    """What ``python -m search`` was asked for."""

    target_acc: float  # required test accuracy, e.g. 0.97
    arch: str = "vgg"  # network family
    dataset: str = "mnist5k"  # data set
    data_dir: str | None = None  # cifar10/svhn files
    board: str = "arty_a7_35"  # target board for the (P, M) choice
    q_samples: tuple[int, ...] = (1, 2, 4, 8)  # q of the trained accuracy samples
    s_samples: tuple[float, ...] = (0.5, 1.0, 2.0)  # s of the trained accuracy samples
    q_range: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)  # q the optimizer may choose
    s_min: float = 0.25  # smallest s the optimizer may choose
    s_max: float = 2.0  # largest s the optimizer may choose
    pe_list: tuple[int, ...] = ARRAY_SIZES  # P candidates
    mult_list: tuple[int, ...] = ARRAY_SIZES  # M candidates
    epochs: int | None = None  # QAT epochs (None: the model's default)
    seed: int = 0  # training seed
    jobs: int = 1  # parallel training processes
    executor: str = "local"  # where training jobs run: search.executors.EXECUTORS
    ray_address: str | None = None  # HOST:PORT of a Ray head; None: a local Ray runtime
    max_candidates: int = 4  # chosen points trained for real before giving up
    progress: bool = True


@dataclass
class Sample:
    q: int
    s: float
    accuracy: float | None = None  # integer (golden) test accuracy
    energy_uj: float | None = None  # at the best (P, M) that fits
    pe: int | None = None
    mult: int | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"q": self.q, "s": self.s, "accuracy": self.accuracy,
                "energy_uj": self.energy_uj, "pe": self.pe, "mult": self.mult, **self.extra}


def snap_s(s: float) -> float:
    """The buildable s nearest above ``s`` (channel counts are exact on the 1/16 grid)."""
    return max(S_QUANTUM, math.ceil(round(s / S_QUANTUM, 9)) * S_QUANTUM)


# ---------------------------------------------------------------------------- evaluation


def train_point(arch: str, q: int, s: float, dataset: str, data_dir, epochs, seed,
                threads: int) -> dict:
    """Train (or reuse) one point; runs in a worker process."""
    import torch

    from model.train import train_and_export

    torch.set_num_threads(max(1, threads))
    _, metrics = train_and_export(arch, q, s, dataset, epochs, seed, None,
                                  data_dir=data_dir, progress=False)
    return {"accuracy": metrics["integer_acc"], "float_acc": metrics["float_acc"],
            "cached": metrics["cached"]}


def train_points(points: list[tuple[int, float]], cfg: SearchConfig,
                 executor: cf.Executor | None = None) -> dict[tuple[int, float], dict]:
    """Train every ⟨q, s⟩ of ``points`` through ``executor`` (local processes by default).

    Points of the same s share their cached float pre-train, so the first of each s
    runs before the others are submitted.
    """
    from tqdm import tqdm

    from search.executors import make_executor

    threads = max(1, (os.cpu_count() or 1) // max(1, cfg.jobs))
    own = executor is None
    if own:
        executor = make_executor(cfg.executor, cfg.jobs, cfg.ray_address, threads)
    results: dict[tuple[int, float], dict] = {}
    try:
        args = (cfg.dataset, cfg.data_dir, cfg.epochs, cfg.seed, threads)
        by_s: dict[float, list[int]] = {}
        for q, s in points:
            by_s.setdefault(s, []).append(q)
        with tqdm(total=len(points), desc="train samples", unit="net",
                  disable=not cfg.progress) as bar:
            firsts = {executor.submit(train_point, cfg.arch, qs[0], s, *args): (qs[0], s)
                      for s, qs in sorted(by_s.items())}
            rest = {}
            for future in cf.as_completed(firsts):
                q, s = firsts[future]
                results[(q, s)] = future.result()
                bar.update()
                for q2 in by_s[s][1:]:
                    rest[executor.submit(train_point, cfg.arch, q2, s, *args)] = (q2, s)
            for future in cf.as_completed(rest):
                results[rest[future]] = future.result()
                bar.update()
    finally:
        if own:
            executor.shutdown()
    return results


def energy_point(cfg: SearchConfig, q: int, s: float) -> dict:
    """Best fitting (P, M) and its energy for ⟨q, s⟩ (shapes only)."""
    from intnet.arch import network_specs
    from model.data import dataset_shape
    from search.design import DesignDoesNotFit, best_design

    shape, classes = dataset_shape(cfg.dataset)
    specs = network_specs(cfg.arch, s, shape, classes)
    try:
        row = best_design(specs, q, cfg.board, cfg.pe_list, cfg.mult_list)
    except DesignDoesNotFit:
        return {"energy_uj": None, "pe": None, "mult": None, "fits": False}
    return {"energy_uj": row["energy_uj"], "pe": row["pe"], "mult": row["mult"],
            "cycles": row["cycles"], "fits": True}


def check_feasible(cfg: SearchConfig) -> None:
    """Raise `ValueError` before any training when not even the smallest ⟨q, s⟩ fits."""
    if not energy_point(cfg, min(cfg.q_range), cfg.s_min)["fits"]:
        raise ValueError(f"no design fits {cfg.board}: even {cfg.arch} at q={min(cfg.q_range)} "
                         f"s={cfg.s_min:g} on {cfg.dataset} needs more than the board has")


# ---------------------------------------------------------------------------- optimizer


@dataclass
class Candidate:
    q: int
    s: float
    predicted_accuracy: float
    predicted_energy_uj: float


def candidates(acc_fit: PolyFit, energy_fit: PolyFit, cfg: SearchConfig) -> list[Candidate]:
    """Buildable ⟨q, s⟩ with predicted accuracy ≥ target, least predicted energy first.

    s is searched continuously (a fine grid), then snapped up to the 1/16 grid; one
    candidate per q is kept (its least-energy s), so stepping to the next candidate
    changes the bit width rather than nudging s.
    """
    s_fine = np.arange(cfg.s_min, cfg.s_max + 1e-9, 0.005)
    best: dict[int, Candidate] = {}
    for q in cfg.q_range:
        acc = acc_fit.predict(np.full_like(s_fine, q), s_fine)
        ok = s_fine[acc >= cfg.target_acc]
        if ok.size == 0:
            continue
        s = snap_s(float(ok.min()))  # energy grows with s: the smallest feasible s
        if s > cfg.s_max + 1e-9:
            continue
        cand = Candidate(q, s, float(acc_fit.predict(q, s)), float(energy_fit.predict(q, s)))
        best[q] = cand
    return sorted(best.values(), key=lambda c: c.predicted_energy_uj)


def fit_models(samples: list[Sample], energy_grid: list[Sample]) -> tuple[PolyFit, PolyFit]:
    acc = [x for x in samples if x.accuracy is not None]
    acc_fit = select_poly([x.q for x in acc], [x.s for x in acc], [x.accuracy for x in acc],
                          degrees=(1, 2, 3))
    en = [x for x in energy_grid if x.energy_uj]
    energy_fit = select_poly([x.q for x in en], [x.s for x in en], [x.energy_uj for x in en],
                             degrees=(1, 2, 3, 4), log_target=True, metric="mape")
    return acc_fit, energy_fit


# ---------------------------------------------------------------------------- the run


def measure(cfg: SearchConfig, cand: Candidate, rtl_images: int) -> dict:
    """Train the candidate for real and simulate it: measured accuracy and energy."""
    from model.train import train_and_export
    from search.design import evaluate

    net, metrics = train_and_export(cfg.arch, cand.q, cand.s, cfg.dataset, cfg.epochs,
                                    cfg.seed, None, data_dir=cfg.data_dir,
                                    progress=cfg.progress)
    point = energy_point(cfg, cand.q, cand.s)
    out = {"accuracy": metrics["integer_acc"], "float_accuracy": metrics["float_acc"],
           "test_images": metrics["test_images"], "energy_uj": point["energy_uj"],
           "pe": point["pe"], "mult": point["mult"], "cycles": point.get("cycles")}
    if rtl_images and point["pe"]:
        from model.data import load_dataset
        from sim.rtl import run_rtl

        data = load_dataset(cfg.dataset, cfg.data_dir)
        sim = run_rtl(net, point["pe"], point["mult"], data.test_x[:rtl_images])
        row = evaluate(net.specs(), cand.q, point["pe"], point["mult"], cfg.board)
        out.update(rtl_images=rtl_images, rtl_mismatches=int(sim["mismatches"]),
                   rtl_cycles=int(sim["cycles"][0]),
                   rtl_cycles_match_model=all(c == row["cycles"] for c in sim["cycles"]))
    return out


def run_search(cfg: SearchConfig, rtl_images: int = 0) -> dict:
    """The whole QS-NAS search; returns the content of ``search.json``."""
    points = [(q, float(s)) for s in cfg.s_samples for q in cfg.q_samples]
    trained = train_points(points, cfg)
    samples = []
    for q, s in points:
        sample = Sample(q, s, accuracy=trained[(q, s)]["accuracy"],
                        extra={"float_acc": trained[(q, s)]["float_acc"]})
        e = energy_point(cfg, q, s)
        sample.energy_uj, sample.pe, sample.mult = e["energy_uj"], e["pe"], e["mult"]
        samples.append(sample)
    energy_grid = []
    s_grid = np.unique(np.round(np.geomspace(cfg.s_min, cfg.s_max, 12) / S_QUANTUM) * S_QUANTUM)
    for s in s_grid:
        for q in cfg.q_range:
            e = energy_point(cfg, q, float(s))
            energy_grid.append(Sample(q, float(s), energy_uj=e["energy_uj"], pe=e["pe"],
                                      mult=e["mult"]))
    acc_fit, energy_fit = fit_models(samples, energy_grid)
    cands = candidates(acc_fit, energy_fit, cfg)
    if not cands:
        raise ValueError(f"no ⟨q, s⟩ with s ≤ {cfg.s_max} is predicted to reach "
                         f"{cfg.target_acc}; the best sampled accuracy is "
                         f"{max(x.accuracy for x in samples):.4f}")
    tried = []
    chosen = measured = None
    for cand in cands[: cfg.max_candidates]:
        result = measure(cfg, cand, rtl_images)
        tried.append({"q": cand.q, "s": cand.s, "predicted_accuracy": cand.predicted_accuracy,
                      "predicted_energy_uj": cand.predicted_energy_uj, "measured": result})
        if result["accuracy"] >= cfg.target_acc:
            chosen, measured = cand, result
            break
        if cfg.progress:
            print(f"q={cand.q} s={cand.s} measured {result['accuracy']:.4f} < target "
                  f"{cfg.target_acc}: stepping to the next candidate", flush=True)
    if chosen is None:
        raise ValueError(f"none of the {len(tried)} best candidates reached "
                         f"{cfg.target_acc} when trained for real")
    acc_y = np.array([x.accuracy for x in samples])
    en_y = np.array([x.energy_uj for x in energy_grid if x.energy_uj])
    return {
        "target_acc": cfg.target_acc,
        "arch": cfg.arch,
        "dataset": cfg.dataset,
        "board": cfg.board,
        "strategy": "poly",
        "chosen": {"q": chosen.q, "s": chosen.s, "pe": measured["pe"],
                   "mult": measured["mult"]},
        "predicted": {"accuracy": chosen.predicted_accuracy,
                      "energy_uj": chosen.predicted_energy_uj},
        "measured": measured,
        "regressors": {
            "accuracy": dict(acc_fit.describe(), loo_mape=acc_fit.loo_mape(acc_y)),
            "energy": dict(energy_fit.describe(), loo_mape=energy_fit.loo_mape(en_y)),
        },
        "candidates_tried": tried,
        "samples": [x.as_dict() for x in samples],
        "energy_grid": [x.as_dict() for x in energy_grid],
    }


def run_bo(cfg: SearchConfig, n_trials: int, rtl_images: int = 0) -> dict:
    """``--strategy bo``: Optuna TPE over q × s (s on a 1/8 grid), every trial trained."""
    from search.bo import bo_search

    s_values = [float(s) for s in np.arange(max(cfg.s_min, 0.125), cfg.s_max + 1e-9, 0.125)]
    threads = max(1, os.cpu_count() or 1)
    samples: dict[tuple[int, float], Sample] = {}

    def evaluate(q: int, s: float):
        acc = train_point(cfg.arch, q, s, cfg.dataset, cfg.data_dir, cfg.epochs, cfg.seed,
                          threads)["accuracy"]
        e = energy_point(cfg, q, s)
        samples[(q, s)] = Sample(q, s, accuracy=acc, energy_uj=e["energy_uj"], pe=e["pe"],
                                 mult=e["mult"])
        return acc, e["energy_uj"]

    res = bo_search(evaluate, cfg.q_range, s_values, cfg.target_acc, n_trials, cfg.seed,
                    progress=cfg.progress)
    if res["best"] is None:
        raise ValueError(f"none of the {res['evaluated']} trials reached {cfg.target_acc}")
    best = res["best"]
    cand = Candidate(best["q"], best["s"], best["accuracy"], best["energy_uj"])
    measured = measure(cfg, cand, rtl_images)
    return {
        "target_acc": cfg.target_acc, "arch": cfg.arch, "dataset": cfg.dataset,
        "board": cfg.board, "strategy": "bo",
        "chosen": {"q": cand.q, "s": cand.s, "pe": measured["pe"], "mult": measured["mult"]},
        # BO has no surrogate to report: its "prediction" is the trial's own measurement.
        "predicted": {"accuracy": cand.predicted_accuracy,
                      "energy_uj": cand.predicted_energy_uj},
        "measured": measured,
        "regressors": {"accuracy": {"degree": None, "loo_rmse": None},
                       "energy": {"degree": None, "loo_mape": None}},
        "candidates_tried": [],
        "samples": [x.as_dict() for _, x in sorted(samples.items())],
        "trials": res["trials"],
    }
