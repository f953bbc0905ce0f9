"""Bayesian optimisation over the same ⟨q, s⟩ space (Optuna TPE with a constraint).

Every trial trains its network for real (through the same cache as the polynomial
method) and evaluates its energy at the best (P, M); the objective is the energy and
``target − accuracy ≤ 0`` is the constraint, which Optuna's TPE sampler models
directly. The result is the least-energy feasible trial.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np


def bo_search(evaluate: Callable[[int, float], tuple[float, float | None]],
              q_values, s_values, target_acc: float, n_trials: int, seed: int = 0,
              progress: bool = False) -> dict:
    """Search ``q_values × s_values`` until ``n_trials`` distinct points are evaluated.

    ``evaluate(q, s) -> (accuracy, energy_uj or None if nothing fits)``; a point the
    sampler suggests again costs nothing (its network is trained already), so the budget
    counts distinct points, the networks trained. Returns ``{"best": {"q","s","accuracy",
    "energy_uj"} or None, "trials": [...], "evaluated"}``.
    """
    import optuna
    from tqdm import tqdm

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    q_values = [int(q) for q in q_values]
    s_values = [float(s) for s in s_values]
    seen: dict[tuple[int, float], tuple[float, float | None]] = {}
    # An infeasible or non-fitting point gets an energy above every real one.
    worst = {"energy": 0.0}

    def objective(trial) -> float:
        q = trial.suggest_categorical("q", q_values)
        s = trial.suggest_categorical("s", s_values)
        if (q, s) not in seen:
            seen[(q, s)] = evaluate(q, s)
            bar.update()
        acc, energy = seen[(q, s)]
        trial.set_user_attr("accuracy", acc)
        trial.set_user_attr("energy_uj", energy)
        trial.set_constraint("accuracy", target_acc - acc if energy is not None else 1.0)
        if energy is None:
            return 10 * worst["energy"] or 1e9
        worst["energy"] = max(worst["energy"], energy)
        return energy

    budget = min(n_trials, len(q_values) * len(s_values))

    def stop_at_budget(study, trial):
        if len(seen) >= budget:
            study.stop()

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(5, budget))
    study = optuna.create_study(direction="minimize", sampler=sampler)
    # Repeated suggestions are free; the cap on trials only bounds a sampler that keeps
    # proposing known points. The bar counts what costs: distinct networks trained (not
    # Optuna's trials, whose cap is 50 × the budget).
    with tqdm(total=budget, desc="BO: networks trained", unit="net", disable=not progress,
              file=sys.stderr) as bar:
        study.optimize(objective, n_trials=50 * budget, callbacks=[stop_at_budget])
    trials = [{"q": t.params["q"], "s": t.params["s"], "accuracy": t.user_attrs["accuracy"],
               "energy_uj": t.user_attrs["energy_uj"]} for t in study.trials]
    feasible = [t for t in trials if t["energy_uj"] is not None
                and t["accuracy"] >= target_acc]
    best = min(feasible, key=lambda t: t["energy_uj"]) if feasible else None
    return {"best": best, "trials": trials, "evaluated": len(seen)}


def regret(found_energy: float | None, best_energy: float) -> float:
    """Energy of the found point over the best feasible one, minus 1 (inf if none)."""
    if found_energy is None:
        return float(np.inf)
    return found_energy / best_energy - 1.0
