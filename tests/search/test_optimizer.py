"""The optimizer's pieces on synthetic accuracy/energy surfaces (no training)."""

import pytest

from search.bo import bo_search, regret
from search.qsnas import snap_s, walk
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


GRID = [(q, s) for q in Q for s in S]
SAMPLES = [(q, s) for q in (1, 2, 4, 8) for s in (0.5, 1.0, 2.0)]


def test_walk_finds_the_exact_optimum_of_a_smooth_surface():
    trained = []

    def measure(q, s):
        trained.append((q, s))
        return accuracy(q, s)

    found = walk({p: accuracy(*p) for p in SAMPLES}, {p: energy(*p) for p in GRID}, 0.93,
                 measure)
    best = min((p for p in GRID if accuracy(*p) >= 0.93), key=lambda p: energy(*p))
    assert found.chosen == best
    assert len(trained) == len(set(trained)) == len(found.steps)  # each trained once
    assert all(p not in SAMPLES for p in trained)
    # every point it trained was the cheapest plausible one at its turn: cheaper than best
    assert all(energy(*p) <= energy(*best) for p in trained)


def test_walk_steps_over_a_point_that_measures_below_the_target():
    # the regressor believes (4, 0.5) reaches the target; it measures below it
    def truth(q, s):
        return 0.5 if (q, s) == (4, 0.5) else accuracy(q, s)

    found = walk({p: truth(*p) for p in SAMPLES if p != (4, 0.5)},
                 {p: energy(*p) for p in GRID}, 0.93, truth)
    assert found.chosen is not None and truth(*found.chosen) >= 0.93
    assert found.chosen != (4, 0.5)


def test_walk_gives_up_after_its_budget():
    # noisy samples (a large LOO error) and a huge optimism: every point is plausible,
    # and every point trained measures below the target
    noisy = {p: 0.5 + 0.1 * ((7 * p[0] + int(4 * p[1])) % 3) for p in SAMPLES}
    found = walk(noisy, {p: energy(*p) for p in GRID}, 0.99, lambda q, s: 0.5,
                 optimism=100.0, max_new=3)
    assert found.chosen is None and len(found.steps) == 3


def test_walk_reports_the_leave_one_out_prediction_of_a_chosen_sample():
    found = walk({p: accuracy(*p) for p in GRID}, {p: energy(*p) for p in GRID}, 0.93,
                 lambda q, s: pytest.fail("nothing left to train"))
    i = sorted(found.trained).index(found.chosen)
    assert found.predicted == pytest.approx(accuracy(*found.chosen)
                                            - found.fit.loo_residuals[i])
    assert found.steps == []


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
