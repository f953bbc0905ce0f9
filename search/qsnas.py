"""The QS-NAS search: sample ⟨q, s⟩, regress accuracy, evaluate energy, pick the least.

1. Train a small grid of ⟨q, s⟩ networks for real (in parallel through a
   `concurrent.futures.Executor`, reusing the training cache) → accuracy samples.
2. Fit a polynomial accuracy regressor (degree and features by leave-one-out error).
   Energy needs no regressor: the cycle, resource and energy models are exact and take
   milliseconds, so every buildable ⟨q, s⟩ (s on the 1/16 grid) is evaluated at its
   best fitting (P, M).
3. `walk`: the least-energy point that is plausibly feasible (predicted accuracy plus
   ``optimism`` × the regressor's LOO RMSE reaches the target) is trained for real and
   becomes a sample; the regressor is refitted, and this repeats until the least-energy
   plausible point is one that measured feasible. Its Verilator run is the proof.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import math
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
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
    max_candidates: int = 8  # points `walk` may train beyond the samples
    optimism: float = 0.5  # plausibly feasible: predicted + optimism·LOO RMSE ≥ target
    act_widths: bool = False  # --mixed: activation widths searched apart from the weights'
    stage_scales: bool = False  # --mixed: one width scale per stage (intnet.arch.stage_scales)
    # --val: every training holds its last `val` training images out, and the search
    # chooses on the accuracy on them (`selection_accuracy`); 0: it chooses on the test split
    val: int = 0
    progress: bool = True


def snap_s(s: float) -> float:
    """The buildable s nearest above ``s`` (channel counts are exact on the 1/16 grid)."""
    return max(S_QUANTUM, math.ceil(round(s / S_QUANTUM, 9)) * S_QUANTUM)


# ---------------------------------------------------------------------------- evaluation


def accuracies(metrics: dict) -> dict:
    """A training run's ``metrics`` (`model.train.train`) as the search records them:
    ``accuracy`` the golden test accuracy and, when the run held training images out,
    ``val_accuracy`` the golden accuracy on them."""
    out = {"accuracy": metrics["integer_acc"]}
    if "val_acc" in metrics:
        out["val_accuracy"] = metrics["val_acc"]
    return out


def selection_accuracy(result) -> float | None:
    """The accuracy a search chooses on (feasibility, regressors, the choice): the
    validation accuracy of ``result`` (a dict with ``accuracy`` and, from a run with
    held-out images, ``val_accuracy``, as `accuracies` makes) when it has one, else its
    test accuracy. Every search decides through this, and reports the test accuracy."""
    val = result.get("val_accuracy")
    return result.get("accuracy") if val is None else val


def selected_on(cfg: SearchConfig) -> str:
    """``"val"`` or ``"test"``: the split `selection_accuracy` chooses on for ``cfg``."""
    return "val" if cfg.val else "test"


def on_val(cfg: SearchConfig) -> str:
    """What an error message adds when the search chooses on validation accuracy."""
    return f" on the {cfg.val} held-out training images" if cfg.val else ""


def train_point(arch: str, q: int, s: float, dataset: str, data_dir, epochs, seed,
                threads: int, bits: tuple | None = None, val: int = 0) -> dict:
    """Train (or reuse) one point (``bits``: per-layer widths instead of ``q``; ``val``:
    held-out training images, `model.train.TrainConfig.val`); runs in a worker process.
    The training times are those of the run that trained it."""
    import torch

    from model.train import train_and_export

    torch.set_num_threads(max(1, threads))
    _, metrics = train_and_export(arch, q, s, dataset, epochs, seed, None,
                                  data_dir=data_dir, progress=False, bits=bits, val=val)
    return {**accuracies(metrics), "float_acc": metrics["float_acc"],
            "cached": metrics["cached"], "qat_seconds": metrics["qat_seconds"],
            "float_seconds": metrics["float_seconds"]}


def job_threads(cfg: SearchConfig) -> int:
    """Torch threads of one training job: the cores shared among ``--jobs``."""
    return max(1, (os.cpu_count() or 1) // max(1, cfg.jobs))


@contextmanager
def search_executor(cfg: SearchConfig, executor: cf.Executor | None = None):
    """``executor`` itself when given (its owner shuts it down), else the search's own
    (``--executor``, ``--jobs``) for the ``with`` block: one pool or one Ray connection
    for every training job of a search, not one per call."""
    if executor is not None:
        yield executor
        return
    from search.executors import make_executor

    own = make_executor(cfg.executor, cfg.jobs, cfg.ray_address, job_threads(cfg))
    try:
        yield own
    finally:
        own.shutdown()


def train_points(points: list[tuple[int, float]], cfg: SearchConfig,
                 executor: cf.Executor | None = None) -> dict[tuple[int, float], dict]:
    """Train every ⟨q, s⟩ of ``points`` through ``executor`` (`search_executor`).

    Points of the same s share their cached float pre-train, so the first of each s
    runs before the others are submitted.
    """
    from tqdm import tqdm

    threads = job_threads(cfg)
    results: dict[tuple[int, float], dict] = {}
    with search_executor(cfg, executor) as executor:
        args = (cfg.dataset, cfg.data_dir, cfg.epochs, cfg.seed, threads)
        by_s: dict[float, list[int]] = {}
        for q, s in points:
            by_s.setdefault(s, []).append(q)
        with tqdm(total=len(points), desc="train samples", unit="net",
                  disable=not cfg.progress) as bar:
            firsts = {executor.submit(train_point, cfg.arch, qs[0], s, *args, val=cfg.val):
                      (qs[0], s) for s, qs in sorted(by_s.items())}
            rest = {}
            for future in cf.as_completed(firsts):
                q, s = firsts[future]
                results[(q, s)] = future.result()
                bar.update()
                for q2 in by_s[s][1:]:
                    rest[executor.submit(train_point, cfg.arch, q2, s, *args,
                                         val=cfg.val)] = (q2, s)
            for future in cf.as_completed(rest):
                results[rest[future]] = future.result()
                bar.update()
    return results


# What a design point reports (`energy_point`, the samples and the measured block).
DESIGN_KEYS = ("energy_uj", "pe", "mult", "cycles", "bram36", "weight_bits")


def energy_point(cfg: SearchConfig, q, s: float) -> dict:
    """Best fitting (P, M) and its energy for ⟨q, s⟩ (``q``: a width or one per weighted
    layer), exact from the models on the shapes (`search.mixed.design_point`)."""
    from search.mixed import design_point, widths_specs

    specs = widths_specs(cfg.arch, s, cfg.dataset, tuple(q) if isinstance(q, tuple | list)
                         else q)
    row = design_point(specs, cfg.board, cfg.pe_list, cfg.mult_list)
    if row is None:
        return dict.fromkeys(DESIGN_KEYS) | {"fits": False}
    return {k: row[k] for k in DESIGN_KEYS} | {"fits": True}


def check_feasible(cfg: SearchConfig) -> None:
    """Raise `ValueError` before any training when not even the smallest ⟨q, s⟩ fits."""
    if not energy_point(cfg, min(cfg.q_range), cfg.s_min)["fits"]:
        raise ValueError(f"no design fits {cfg.board}: even {cfg.arch} at q={min(cfg.q_range)} "
                         f"s={cfg.s_min:g} on {cfg.dataset} needs more than the board has")


# ---------------------------------------------------------------------------- optimizer


@dataclass
class Walk:
    """What `walk` found: the chosen point, the accuracy regressor, the points it trained."""

    chosen: tuple[int, float] | None  # None: nothing measured feasible within the budget
    fit: PolyFit  # the accuracy regressor on every trained point
    trained: dict[tuple[int, float], float]  # samples and walked points → accuracy
    steps: list[dict] = field(default_factory=list)  # walked points, in order
    predicted: float | None = None  # the chosen point's accuracy before it was measured


def fit_accuracy(trained: dict[tuple[int, float], float]) -> PolyFit:
    """The accuracy regressor on the trained points (degree 1–3 and features by LOO)."""
    pts = sorted(trained)
    return select_poly([q for q, _ in pts], [s for _, s in pts], [trained[p] for p in pts],
                       degrees=(1, 2, 3))


def walk(samples: dict[tuple[int, float], float], energies: dict[tuple[int, float], float],
         target: float, measure: Callable[[int, float], float], *, optimism: float = 0.5,
         max_new: int = 8) -> Walk:
    """The least-energy ⟨q, s⟩ whose measured accuracy reaches ``target``.

    ``samples``: trained points → accuracy; ``energies``: every candidate point (and the
    samples) → its exact energy (points that do not fit left out); ``measure(q, s)``
    trains a point and returns its accuracy. A point is plausible when it measured
    feasible or, untrained, ``prediction + optimism · LOO RMSE ≥ target``. The least-energy
    plausible point is trained and added to the samples, the regressor refitted, until
    that point is one already measured feasible, or ``max_new`` points were trained (then
    the least-energy measured-feasible point, if any).
    """
    trained = dict(samples)
    steps: list[dict] = []
    predictions: dict[tuple[int, float], float] = {}
    while True:
        fit = fit_accuracy(trained)
        margin = optimism * fit.loo_rmse
        plausible = [(e, p) for p, e in energies.items()
                     if (trained[p] >= target if p in trained
                         else float(fit.predict(*p)) + margin >= target)]
        if not plausible or len(steps) >= max_new:
            feasible = [(energies[p], p) for p, a in trained.items()
                        if a >= target and p in energies]
            chosen = min(feasible)[1] if feasible else None
            break
        _, chosen = min(plausible)
        if chosen in trained:
            break
        predictions[chosen] = float(fit.predict(*chosen))
        trained[chosen] = measure(*chosen)
        steps.append({"q": chosen[0], "s": chosen[1], "energy_uj": energies[chosen],
                      "predicted_accuracy": predictions[chosen],
                      "accuracy": trained[chosen]})
    predicted = predictions.get(chosen) if chosen is not None else None
    if chosen is not None and predicted is None:  # a sample: its leave-one-out prediction
        i = sorted(trained).index(chosen)
        predicted = float(trained[chosen] - fit.loo_residuals[i])
    return Walk(chosen, fit, trained, steps, predicted)


def energy_pool(cfg: SearchConfig, extra=()) -> dict[tuple[int, float], dict]:
    """`energy_point` of every q of ``cfg.q_range`` × s on the 1/16 grid in
    [s_min, s_max], and of the ``extra`` points."""
    lo = snap_s(cfg.s_min)
    count = int(math.floor(round((cfg.s_max - lo) / S_QUANTUM, 9))) + 1
    points = {(q, lo + i * S_QUANTUM) for q in cfg.q_range for i in range(count)}
    points |= {(q, float(s)) for q, s in extra}
    return {p: energy_point(cfg, *p) for p in sorted(points)}


# ---------------------------------------------------------------------------- the run


def rtl_check(net, pe: int, mult: int, images, board) -> dict:
    """Run the generated hardware in Verilator on ``images`` when the generator takes
    ``net``: ``{"run": True, "images", "mismatches", "cycles", "cycles_match_model"}``, or
    ``{"run": False, "reason"}`` when it refuses the bundle (a one-line `ValueError` from
    the generator's planner, e.g. per-layer widths it cannot run yet)."""
    from search.design import evaluate, impl_of
    from sim.rtl import run_rtl

    try:
        row = evaluate(net.specs(), net.q, pe, mult, board)  # the hardware codegen builds
        sim = run_rtl(net, pe, mult, images, **impl_of(row))
    except ValueError as e:
        return {"run": False, "reason": f"the hardware generator does not take this "
                                        f"bundle: {e}"}
    return {"run": True, "images": len(images), "mismatches": int(sim["mismatches"]),
            "cycles": int(sim["cycles"][0]),
            "cycles_match_model": all(c == row["cycles"] for c in sim["cycles"])}


def accuracy_interval(accuracy: float, images: int) -> list[float]:
    """The 95 % Wilson interval of a test accuracy measured on ``images`` images: how far
    the same network could measure on another test split of that size."""
    from scipy.stats import binomtest

    ci = binomtest(round(accuracy * images), images).proportion_ci(0.95, method="wilson")
    return [round(float(ci.low), 4), round(float(ci.high), 4)]


def measure_network(cfg: SearchConfig, widths, s: float, rtl_images: int):
    """Train (or reuse) the chosen network and check it: ``(measured, IntegerNetwork)``.

    ``widths``: q, or one width per weighted layer. ``measured`` holds the golden test
    accuracy (``accuracy``; with ``cfg.val`` also ``val_accuracy`` and ``val_images``, what
    the search chose on), the design point of the trained bundle's own widths (`DESIGN_KEYS`) and
    ``rtl`` (`rtl_check`; the keys ``rtl_images, rtl_mismatches, rtl_cycles,
    rtl_cycles_match_model`` too when it ran).
    """
    from intnet.arch import normal_widths, widest_width, widths_json, widths_of
    from model.train import train_and_export
    from search.mixed import design_point

    bits = normal_widths(widths) if isinstance(widths, tuple | list) else None
    q = widest_width(bits) if bits else int(widths)
    net, metrics = train_and_export(cfg.arch, q, s, cfg.dataset, cfg.epochs, cfg.seed, None,
                                    data_dir=cfg.data_dir, progress=cfg.progress, bits=bits,
                                    val=cfg.val)
    row = design_point(net.specs(), cfg.board, cfg.pe_list, cfg.mult_list) or {}
    out = {**accuracies(metrics), "float_accuracy": metrics["float_acc"],
           "test_images": metrics["test_images"],
           "accuracy_ci95": accuracy_interval(metrics["integer_acc"], metrics["test_images"]),
           "widths": widths_json(widths_of(net.layers)),
           "qat_seconds": metrics["qat_seconds"], "float_seconds": metrics["float_seconds"],
           **{k: row.get(k) for k in DESIGN_KEYS}}
    if "val_images" in metrics:
        out["val_images"] = metrics["val_images"]
    if not rtl_images:
        out["rtl"] = {"run": False, "reason": "not asked for (--rtl-images 0)"}
    elif not row:
        out["rtl"] = {"run": False, "reason": f"no (P, M) fits {cfg.board}"}
    else:
        from model.data import load_dataset

        data = load_dataset(cfg.dataset, cfg.data_dir)
        out["rtl"] = rtl = rtl_check(net, row["pe"], row["mult"], data.test_x[:rtl_images],
                                     cfg.board)
        if rtl["run"]:
            out.update(rtl_images=rtl["images"], rtl_mismatches=rtl["mismatches"],
                       rtl_cycles=rtl["cycles"], rtl_cycles_match_model=rtl["cycles_match_model"])
    return out, net


def _sample(q: int, s: float, result: dict, design: dict, source: str = "sample") -> dict:
    return {"q": q, "s": s, "accuracy": result["accuracy"], "source": source,
            **{k: result[k] for k in ("val_accuracy",) if k in result},
            **{k: design[k] for k in DESIGN_KEYS},
            **{k: result[k] for k in ("float_acc", "qat_seconds", "float_seconds")
               if k in result}}


@dataclass
class UniformRun:
    """The QS-NAS walk before its measured proof (`uniform_walk`)."""

    found: Walk
    results: dict  # every trained ⟨q, s⟩ → `train_point` result
    pool: dict  # every candidate ⟨q, s⟩ → `energy_point`
    sampled: set  # the grid samples (the others were trained by the walk)


def uniform_walk(cfg: SearchConfig, executor: cf.Executor | None = None) -> UniformRun:
    """Train the samples, then `walk` to the least-energy measured-feasible ⟨q, s⟩, every
    training job through ``executor`` (`search_executor`)."""
    points = [(q, float(s)) for s in cfg.s_samples for q in cfg.q_samples]
    pool = energy_pool(cfg, points)
    energies = {p: d["energy_uj"] for p, d in pool.items() if d["fits"]}
    with search_executor(cfg, executor) as executor:
        trained = train_points(points, cfg, executor)
        results = dict(trained)

        def measure(q: int, s: float) -> float:
            results[(q, s)] = train_points([(q, s)], cfg, executor)[(q, s)]
            return selection_accuracy(results[(q, s)])

        found = walk({p: selection_accuracy(r) for p, r in trained.items()}, energies,
                     cfg.target_acc, measure, optimism=cfg.optimism,
                     max_new=cfg.max_candidates)
    return UniformRun(found, results, pool, set(trained))


def split_fields(cfg: SearchConfig, measured: dict) -> dict:
    """What a search result says about the split it chose on: ``selected_on`` and, with
    ``cfg.val``, ``val_images``."""
    out = {"selected_on": selected_on(cfg)}
    if cfg.val:
        out["val_images"] = measured["val_images"]
    return out


def _chosen_val(measured: dict) -> dict:
    """``{"val_accuracy": …}`` of the chosen bundle when the search chose on validation."""
    return {k: measured[k] for k in ("val_accuracy",) if k in measured}


def _reported(step: dict, result: dict) -> dict:
    """A walked or trial point with the test ``accuracy`` (and ``val_accuracy``) of its run
    (the walk and TPE record the accuracy they chose on)."""
    return {**step, **{k: result[k] for k in ("accuracy", "val_accuracy") if k in result}}


def run_search(cfg: SearchConfig, rtl_images: int = 0):
    """The QS-NAS search; returns ``(search.json content, chosen IntegerNetwork)``."""
    t0 = time.perf_counter()
    run = uniform_walk(cfg)
    found = run.found
    if found.chosen is None:
        best = max(found.trained.values())
        raise ValueError(f"no ⟨q, s⟩ with s ≤ {cfg.s_max} measured {cfg.target_acc}"
                         f"{on_val(cfg)} within {cfg.max_candidates} trained candidates; the "
                         f"best measured {best:.4f}")
    q, s = found.chosen
    measured, net = measure_network(cfg, q, s, rtl_images)
    acc_y = np.array([found.trained[p] for p in sorted(found.trained)])
    result = {
        "target_acc": cfg.target_acc, "arch": cfg.arch, "dataset": cfg.dataset,
        "board": cfg.board, "strategy": "poly", **split_fields(cfg, measured),
        "chosen": {"q": q, "s": s, "pe": measured["pe"], "mult": measured["mult"],
                   **_chosen_val(measured)},
        "predicted": {"accuracy": found.predicted,
                      "energy_uj": run.pool[found.chosen]["energy_uj"]},
        "measured": measured,
        "regressors": {
            "accuracy": dict(found.fit.describe(), loo_mape=found.fit.loo_mape(acc_y)),
            # no regressor: the cycle and energy models are evaluated at every point
            "energy": {"degree": None, "loo_mape": None, "exact": True},
        },
        "candidates_tried": [_reported(t, run.results[(t["q"], t["s"])]) for t in found.steps],
        "samples": [_sample(p[0], p[1], run.results[p], run.pool[p],
                            "sample" if p in run.sampled else "candidate")
                    for p in sorted(run.results)],
        "trained": len(run.results),
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    return result, net


def run_bo(cfg: SearchConfig, n_trials: int, rtl_images: int = 0):
    """``--strategy bo``: Optuna TPE over q × s (s on a 1/8 grid), every trial trained;
    returns ``(search.json content, chosen IntegerNetwork)``."""
    from search.bo import bo_search

    t0 = time.perf_counter()
    s_values = [float(s) for s in np.arange(max(cfg.s_min, 0.125), cfg.s_max + 1e-9, 0.125)]
    samples: dict[tuple[int, float], dict] = {}
    # TPE asks for one trial at a time: each trains alone, on every core of its worker
    cfg = dataclasses.replace(cfg, jobs=1)

    with search_executor(cfg) as executor:
        def evaluate(q: int, s: float):
            r = executor.submit(train_point, cfg.arch, q, s, cfg.dataset, cfg.data_dir,
                                cfg.epochs, cfg.seed, job_threads(cfg), val=cfg.val).result()
            e = energy_point(cfg, q, s)
            samples[(q, s)] = _sample(q, s, r, e, "trial")
            return selection_accuracy(r), e["energy_uj"]

        res = bo_search(evaluate, cfg.q_range, s_values, cfg.target_acc, n_trials, cfg.seed,
                        progress=cfg.progress)
    if res["best"] is None:
        raise ValueError(f"none of the {res['evaluated']} trials reached {cfg.target_acc}"
                         f"{on_val(cfg)}")
    best = res["best"]
    measured, net = measure_network(cfg, best["q"], best["s"], rtl_images)
    result = {
        "target_acc": cfg.target_acc, "arch": cfg.arch, "dataset": cfg.dataset,
        "board": cfg.board, "strategy": "bo", **split_fields(cfg, measured),
        "chosen": {"q": best["q"], "s": best["s"], "pe": measured["pe"],
                   "mult": measured["mult"], **_chosen_val(measured)},
        # BO has no surrogate to report: its "prediction" is the trial's own measurement
        # (of the accuracy it chose on).
        "predicted": {"accuracy": best["accuracy"], "energy_uj": best["energy_uj"]},
        "measured": measured,
        "regressors": {"accuracy": {"degree": None, "loo_rmse": None},
                       "energy": {"degree": None, "loo_mape": None}},
        "candidates_tried": [],
        "samples": [x for _, x in sorted(samples.items())],
        "trials": [_reported(t, samples[(t["q"], t["s"])]) for t in res["trials"]],
        "trained": len(samples),
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    return result, net
