"""The mixed-precision search's pieces: the TPE study on a synthetic surface, its warm
start and neighbours, the design point of per-layer widths, the RTL step's refusal."""

import concurrent.futures as cf

import pytest

from intnet.arch import network_specs, with_widths
from search.design import best_design
from search.executors import InlineExecutor
from search.mixed import MixedStudy, Point, design_point, rank

LAYERS = 4
S_VALUES = [0.25, 0.5, 0.75, 1.0]  # the scales whose float networks are cached


def fake_design(bits, s):
    """Energy set by the widest layer and s; weight memory by every layer."""
    if s > 0.9 and max(bits) == 8:
        return None  # "does not fit"
    return {"energy_uj": max(bits) * s, "weight_bits": sum(bits) * 100 * s, "pe": 1,
            "mult": 1}


def fake_accuracy(bits, s):
    return 0.9 + 0.01 * min(bits) + 0.02 * s


def study(target=0.95, seed=0):
    return MixedStudy(LAYERS, S_VALUES, target, seed, fake_design,
                      max_weight_bits=8 * LAYERS * 100)


def test_the_study_trains_its_budget_once_each_and_keeps_the_warm_start():
    calls = []

    def train(bits, s):
        calls.append((bits, s))
        return {"accuracy": fake_accuracy(bits, s), "float_acc": 1.0, "qat_seconds": 1.0,
                "float_seconds": 2.0, "cached": False}

    st = study()
    for q in (2, 4, 8):
        bits = (q,) * LAYERS
        st.add_known(Point(bits, 0.5, "uniform", fake_accuracy(bits, 0.5),
                           fake_design(bits, 0.5)))
    st.add_known(Point((4,) * LAYERS, 0.3, "uniform", 0.97, fake_design((4,) * 4, 0.3)))
    assert len(st.study.trials) == 3  # s = 0.3 is not a scale it proposes: report only
    assert st.enqueue_neighbours(st.points[((4,) * LAYERS, 0.5)]) == 2 * LAYERS
    st.run(10, train, InlineExecutor(), jobs=1, progress=False)
    assert len(calls) == len(set(calls)) == 10
    assert {s for _, s in calls} <= set(S_VALUES)
    # the enqueued neighbours came first: one layer narrower by one bit, or to half
    first = calls[: 2 * LAYERS]
    assert {(b, s) for b, s in first} == {
        (tuple(w if j != i else n for j, w in enumerate((4,) * LAYERS)), 0.5)
        for i in range(LAYERS) for n in (3, 2)}
    trained = [p for p in st.points.values() if p.source == "mixed" and p.accuracy]
    assert len(trained) == 10
    feasible = [p for p in st.points.values() if p.design and p.accuracy is not None
                and p.accuracy >= 0.95]
    best = min(feasible, key=rank)
    assert max(best.bits) <= 4  # cheaper than any 8-bit design


def test_the_study_runs_jobs_in_parallel_through_an_executor():
    st = study()
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        st.run(6, lambda bits, s: {"accuracy": fake_accuracy(bits, s), "float_acc": 1.0,
                                   "qat_seconds": 0, "float_seconds": 0, "cached": True},
               pool, jobs=2, progress=False)
    assert sum(p.accuracy is not None for p in st.points.values()) == 6


def test_design_point_prices_lanes_at_the_widest_layer_and_counts_weight_bits():
    from model.bits import weight_bits

    specs = with_widths(network_specs("vgg", 0.5, (28, 28, 1), 10), (8, 3, 2, 4))
    row = design_point(specs, "arty_a7_35", (1, 2, 4, 8), (1, 2, 4, 8))
    assert row == dict(best_design(specs, 8, "arty_a7_35", (1, 2, 4, 8), (1, 2, 4, 8)),
                       weight_bits=weight_bits(specs))
    # conv1 8·3·3·1, conv2 16·3·3·8, conv3 32·3·3·16, fc 10·(3·3·32), each at its width
    assert row["weight_bits"] == 72 * 8 + 1152 * 3 + 4608 * 2 + 2880 * 4


def test_the_rtl_step_records_why_it_did_not_run(monkeypatch):
    import sim.rtl
    from intnet.synthetic import random_network
    from search.qsnas import rtl_check

    def refuse(*args, **kwargs):
        raise ValueError("every layer must have the same weight bits, got [2, 8]")

    monkeypatch.setattr(sim.rtl, "run_rtl", refuse)
    net = random_network(network_specs("vgg", 0.25, (8, 8, 1), 10), 2)
    rtl = rtl_check(net, 1, 1, [], "arty_a7_35")
    assert rtl == {"run": False, "reason": "the hardware generator does not take this "
                   "bundle: every layer must have the same weight bits, got [2, 8]"}


@pytest.mark.parametrize("widths", [(2, 2, 2, 2), (8, 2, 2, 2)])
def test_point_reports_its_widths(widths):
    p = Point(widths, 0.5, "mixed", 0.9, fake_design(widths, 0.5))
    d = p.as_dict()
    assert d["bits"] == list(widths) and d["q"] == max(widths)
    assert p.uniform == (len(set(widths)) == 1)
