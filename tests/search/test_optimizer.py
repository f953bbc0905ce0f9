"""The optimizer's pieces on synthetic accuracy/energy surfaces (no training)."""

import numpy as np
import pytest

from search.bo import bo_search, regret
from search.qsnas import SearchConfig, candidates, snap_s
from search.regress import fit_poly
from search.report import pareto_front

Q = (1, 2, 3, 4, 6, 8)
S = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


def accuracy(q, s):
    return 0.99 - 0.08 / q - 0.03 / s


def energy(q, s):
    return (0.2 + q) * s**2


def test_snap_s_rounds_up_to_the_channel_grid():
    assert snap_s(1.0) == 1.0
    assert snap_s(1.01) == 1.0625
    assert snap_s(0.001) == 1 / 16
    assert snap_s(1.5) == 1.5


def fits():
    q, s = np.meshgrid(Q, S)
    q, s = q.ravel().astype(float), s.ravel()
    acc_fit = fit_poly(q, s, accuracy(q, s), 2, "1/q,log s")
    e_fit = fit_poly(q, s, energy(q, s), 3, "q,log s", log_target=True)
    return acc_fit, e_fit


def test_candidates_meet_the_target_and_are_sorted_by_energy():
    acc_fit, e_fit = fits()
    cfg = SearchConfig(target_acc=0.93)
    cands = candidates(acc_fit, e_fit, cfg)
    assert cands, "the surface reaches 0.93"
    energies = [c.predicted_energy_uj for c in cands]
    assert energies == sorted(energies)
    for c in cands:
        assert c.predicted_accuracy >= 0.93 - 1e-3
        assert c.s == snap_s(c.s)
    # the true optimum over a fine grid, to compare with the first candidate
    best = min(((q, s) for q in cfg.q_range for s in np.arange(0.25, 2.0001, 1 / 16)
                if accuracy(q, s) >= 0.93), key=lambda p: energy(*p))
    assert energy(cands[0].q, cands[0].s) <= 1.1 * energy(*best)


def test_unreachable_target_gives_no_candidate():
    acc_fit, e_fit = fits()
    assert candidates(acc_fit, e_fit, SearchConfig(target_acc=0.999)) == []


def test_bo_finds_the_feasible_optimum_of_a_small_grid():
    calls = []

    def evaluate(q, s):
        calls.append((q, s))
        return accuracy(q, s), energy(q, s)

    # a budget of the whole grid must end at the exact constrained optimum
    res = bo_search(evaluate, Q, S, 0.93, n_trials=36, seed=0)
    feasible = [(q, s) for q in Q for s in S if accuracy(q, s) >= 0.93]
    best = min(feasible, key=lambda p: energy(*p))
    assert (res["best"]["q"], res["best"]["s"]) == best
    assert res["evaluated"] == len(calls) == len(set(calls)) == 36  # each point trained once


def test_bo_stops_at_its_budget_of_distinct_points():
    calls = []
    res = bo_search(lambda q, s: calls.append((q, s)) or (accuracy(q, s), energy(q, s)),
                    Q, S, 0.93, n_trials=10, seed=1)
    assert res["evaluated"] == len(calls) == 10
    assert res["best"] is None or res["best"]["accuracy"] >= 0.93


def test_bo_reports_none_when_nothing_is_feasible():
    res = bo_search(lambda q, s: (0.5, 1.0), Q, S, 0.9, n_trials=5)
    assert res["best"] is None


def test_regret():
    assert regret(1.1, 1.0) == pytest.approx(0.1)
    assert regret(None, 1.0) == float("inf")


def test_pareto_front():
    pts = [(1.0, 0.90), (2.0, 0.95), (1.5, 0.89), (3.0, 0.94), (0.5, 0.80)]
    assert pareto_front(pts) == [4, 0, 1]
