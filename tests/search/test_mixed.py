"""The mixed-precision search's pieces: the TPE study on a synthetic surface, its warm
start, neighbours and split proposals, the least-energy / least-weight choice and front,
the design point of per-layer widths, the RTL step's refusal."""

import concurrent.futures as cf

import pytest

from intnet.arch import network_specs, with_widths
from search.design import best_design
from search.executors import InlineExecutor
from search.mixed import (
    MixedStudy,
    Point,
    design_point,
    front,
    rank,
    rank_weight,
    split_widths,
    staircase_widths,
    weight_counts,
)

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


def recording_trainer():
    """``(calls, train)``: a fake trainer that appends each ``(bits, s)`` to ``calls``."""
    calls = []

    def train(bits, s):
        calls.append((bits, s))
        return {"accuracy": fake_accuracy(bits, s), "float_acc": 1.0, "qat_seconds": 1.0,
                "float_seconds": 2.0, "cached": False}

    return calls, train


def study(target=0.95, seed=0):
    return MixedStudy(LAYERS, S_VALUES, target, seed, fake_design)


def test_the_study_trains_its_budget_once_each_and_keeps_the_warm_start():
    calls, train = recording_trainer()
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


def test_split_widths_keep_the_first_layer_at_the_lane_and_halve_or_quarter_the_middle():
    assert split_widths(4) == [(4, 2, 2, 4), (4, 2, 2, 2), (8, 4, 4, 8), (8, 4, 4, 4),
                               (8, 2, 2, 8), (8, 2, 2, 2)]
    assert split_widths(2) == [(4, 4), (4, 2), (8, 8), (8, 4), (8, 8), (8, 2)]


def test_split_widths_really_split_the_middle_layers_of_vgg():
    from sim.cycles import cycle_model

    for bits in split_widths(4):
        specs = with_widths(network_specs("vgg", 0.5, (28, 28, 1), 10), bits)
        rows = {r["name"]: r for r in cycle_model(specs, max(bits), 8, 8)["layers"]}
        assert rows["conv3"]["lane_split"] == max(bits) // bits[2] > 1
        assert rows["conv1"]["lane_split"] == 1  # reads 8-bit pixels


def test_the_split_proposals_come_first_when_enqueued():
    calls, train = recording_trainer()
    st = study()
    assert st.enqueue_splits(0.5) == 6
    st.run(8, train, InlineExecutor(), jobs=1, progress=False)
    assert calls[:6] == [(bits, 0.5) for bits in split_widths(LAYERS)]
    assert len(set(calls)) == 8


def point(bits, energy, weight, acc=0.99, s=0.5):
    return Point(bits, s, "mixed", acc, {"energy_uj": energy, "weight_bits": weight})


def test_least_energy_least_weight_and_the_front():
    a = point((3, 3, 3, 3), 4.0, 2600)  # least energy
    b = point((3, 3, 2, 2), 4.0, 2000)  # equal energy, fewer weight bits: chosen
    c = point((8, 2, 2, 1), 9.0, 1500)  # least weight
    d = point((8, 2, 2, 2), 9.5, 1800)  # beaten by c on both
    e = point((4, 2, 2, 2), 5.0, 1800)  # on the front
    points = [a, b, c, d, e]
    assert min(points, key=rank) is b
    assert min(points, key=rank_weight) is c
    assert front(points) == [b, e, c]


def test_the_study_learns_both_objectives_from_its_trials():
    st = study()
    st.add_known(point((4, 4, 4, 4), 2.0, 1600))
    st.add_known(Point((8,) * 4, 1.0, "uniform", 0.99, None))  # does not fit
    values = [t.values for t in st.study.trials]
    assert values == [[2.0, 1600], [1e9, 1e9]]
    assert [t.constraints for t in st.study.trials] == [{"accuracy": 0.95 - 0.99},
                                                         {"accuracy": 1.0}]


def test_staircase_widths_narrow_the_layers_with_the_most_weights_first():
    counts = weight_counts(network_specs("vgg", 0.5, (28, 28, 1), 10))
    assert counts == [72, 1152, 4608, 2880]
    assert staircase_widths(counts, 4) == (4, 3, 1, 2)
    assert staircase_widths(counts, 3) == (3, 2, 1, 1)  # never below 1 bit
    assert staircase_widths([10, 10, 5], 8) == (7, 6, 8)  # ties in layer order
    st = study()
    assert st.enqueue_staircases(0.5, 3, [1, 2, 3, 4]) == 2  # from 3 and from 4
    assert st.enqueue_staircases(1.0, 8, [1, 2, 3, 4]) == 1  # 8 bits at most
    assert [t.system_attrs["fixed_params"] for t in st.study.trials] == [
        {"b0": 3, "b1": 2, "b2": 1, "b3": 1, "s": 1},
        {"b0": 4, "b1": 3, "b2": 2, "b3": 1, "s": 1},
        {"b0": 8, "b1": 7, "b2": 6, "b3": 5, "s": 3}]


def test_act_widths_also_propose_the_staircases_under_wider_activations():
    from search.mixed import act_staircase

    counts = [72, 1152, 4608, 2880]
    assert act_staircase((3, 2, 1, 1), 4) == ((3, 4), (2, 4), (1, 4), 1)
    assert act_staircase((4, 3, 1, 2), 3) == (4, 3, (1, 3), 2)  # never below the weights
    st = MixedStudy(LAYERS, S_VALUES, 0.95, 0, pair_design, act_widths=True)
    # 3,2,1,1 and 4,3,1,2, then each under activations at 3 and at 4 bits
    assert st.enqueue_staircases(0.5, 3, counts) == 2 + 4
    fixed = [t.system_attrs["fixed_params"] for t in st.study.trials]
    assert {"b0": 3, "b1": 2, "b2": 1, "b3": 1, "a0": 4, "a1": 4, "a2": 4, "s": 1} in fixed
    assert {"b0": 4, "b1": 3, "b2": 1, "b3": 2, "a0": 4, "a1": 3, "a2": 3, "s": 1} in fixed


def test_search_md_names_the_least_weight_design_only_when_it_is_another():
    from search.report import _least_weight_lines

    chosen = {"bits": [3, 3, 3, 2], "s": 0.5}
    lean = {"bits": [5, 4, 3, 2], "s": 0.25, "pe": 8, "mult": 8,
            "measured": {"weight_bits": 7668, "accuracy": 0.974, "energy_uj": 3.2956}}
    lines = _least_weight_lines({"chosen": chosen, "least_weight": lean})
    assert lines == ["", "Least weight memory: widths 5,4,3,2, s = 0.25, P = 8, M = 8: 7,668 "
                     "weight bits, test accuracy 0.9740, 3.2956 µJ (measured; its bundle: "
                     "`least_weight_bundle/`)."]
    assert _least_weight_lines({"chosen": chosen, "least_weight": dict(lean, **chosen)}) == []
    assert _least_weight_lines({"chosen": chosen}) == []  # a uniform search


def test_the_measured_accuracy_has_its_interval_and_a_target_inside_it_is_flagged():
    from search.qsnas import accuracy_interval
    from search.report import _margin_lines

    lo, hi = accuracy_interval(0.983, 1000)  # 983 of 1000 right
    assert 0.972 < lo < 0.974 and 0.989 < hi < 0.990  # Wilson, scipy.stats.binomtest
    lo_big, hi_big = accuracy_interval(0.983, 100_000)
    assert lo < lo_big < 0.983 < hi_big < hi  # narrower with more test images
    measured = {"accuracy": 0.983, "test_images": 1000, "accuracy_ci95": [lo, hi]}
    lines = _margin_lines({"target_acc": 0.98, "measured": measured})
    assert "The target 0.98 lies inside the measured accuracy's 95 % interval (0.97" in lines[1]
    assert _margin_lines({"target_acc": 0.97, "measured": measured}) == []
    assert _margin_lines({"target_acc": 0.98, "measured": {"accuracy": 0.983}}) == []


def pair_design(bits, s):
    """`fake_design` over (weights, activations) pairs: energy by the widest width, weight
    memory by the weights alone."""
    from intnet.arch import width_pair

    pairs = [width_pair(b) for b in bits]
    return {"energy_uj": max(max(p) for p in pairs) * s,
            "weight_bits": sum(w for w, _ in pairs) * 100 * s, "pe": 1, "mult": 1}


def test_act_widths_search_activations_apart_from_weights():
    from intnet.arch import normal_widths, width_pair

    calls = []

    def train(bits, s):  # accuracy set by the narrowest activations, not the weights
        calls.append((bits, s))
        acts = [max(width_pair(b)) if i < len(bits) - 1 else 8 for i, b in enumerate(bits)]
        return {"accuracy": 0.9 + 0.01 * min(acts), "float_acc": 1.0, "qat_seconds": 1.0,
                "float_seconds": 2.0, "cached": False}

    st = MixedStudy(LAYERS, S_VALUES, 0.93, 0, pair_design, act_widths=True)
    start = Point((4,) * LAYERS, 0.5, "uniform", 0.94, pair_design((4,) * LAYERS, 0.5))
    st.add_known(start)
    # each hidden layer narrower (3 and 2 bits) in both widths and in its weights alone;
    # the logits layer in its weights
    assert st.enqueue_neighbours(start) == 2 * 2 * (LAYERS - 1) + 2
    st.run(12, train, InlineExecutor(), jobs=1, progress=False)
    assert len(calls) == len(set(calls)) == 12
    assert all(normal_widths(b) == b and isinstance(b[-1], int) for b, _ in calls)
    assert (4, (3, 4), 4, 4) in [b for b, _ in calls]  # conv2's weights alone, 3 bits
    # the least-weight feasible design keeps 4-bit activations under narrower weights
    feasible = [p for p in st.points.values() if p.accuracy and p.accuracy >= 0.93]
    lean = min(feasible, key=rank_weight)
    assert any(isinstance(b, tuple) and b[0] < b[1] for b in lean.bits)
    d = lean.as_dict()
    assert d["q"] == max(max(width_pair(b)) for b in lean.bits)
    assert all(isinstance(b, int | list) for b in d["bits"])  # JSON: pairs as lists


def test_design_point_lanes_hold_activations_wider_than_weights():
    specs = with_widths(network_specs("vgg", 0.5, (28, 28, 1), 10), (4, (2, 6), 2, 2))
    row = design_point(specs, "arty_a7_35", (1, 2, 4, 8), (1, 2, 4, 8))
    assert row["energy_uj"] == best_design(specs, 6, "arty_a7_35", (1, 2, 4, 8),
                                           (1, 2, 4, 8))["energy_uj"]
    assert row["weight_bits"] == 72 * 4 + 1152 * 2 + 4608 * 2 + 2880 * 2


def test_the_report_spells_pairs_as_weights_colon_activations():
    from search.report import _label, _sample_rows

    x = {"bits": [4, [2, 5], 2, 2], "q": 5, "s": 0.5, "source": "mixed", "accuracy": 0.97,
         "energy_uj": 1.5, "pe": 2, "mult": 4, "weight_bits": 9000}
    assert _label(x) == "4/2:5/2/2 s0.5"
    assert "| 4,2:5,2,2 | 0.5 | mixed | 0.9700 |" in "\n".join(_sample_rows({"samples": [x]}))


def stage_design(bits, s):
    """`fake_design` at the mean of the stages' scales (``s`` a number or one per stage)."""
    from intnet.arch import scale_key

    scales = scale_key(s)
    return fake_design(bits, sum(scales) / len(scales))


def test_stage_scales_search_each_stage_among_the_cached_scales():
    from intnet.arch import normal_scale, scale_key

    calls = []

    def trainer(bits, s):  # `fake_accuracy` at the stages' mean scale
        calls.append((bits, s))
        mean = sum(scale_key(s)) / len(scale_key(s))
        return {"accuracy": fake_accuracy(bits, mean), "float_acc": 1.0, "qat_seconds": 1.0,
                "float_seconds": 2.0, "cached": False}

    st = MixedStudy(LAYERS, S_VALUES, 0.93, 0, stage_design, stages=3)
    uniform = Point((4,) * LAYERS, 0.5, "uniform", 0.95, stage_design((4,) * LAYERS, 0.5))
    st.add_known(uniform)
    st.add_known(Point((4,) * LAYERS, (0.5, 0.5, 0.3), "mixed", 0.95, None))
    assert len(st.study.trials) == 1  # 0.3 is no scale it proposes: kept for the report
    assert st.study.trials[0].params == {"b0": 4, "b1": 4, "b2": 4, "b3": 4,
                                         "s0": 1, "s1": 1, "s2": 1}
    # the staircases 3,2,1,1 and 4,3,1,2 with the stages their narrow layers write widened
    assert st.enqueue_widened(0.5, 3, [72, 1152, 4608, 2880], (0, 1, 2)) == 2
    fixed = [t.system_attrs["fixed_params"] for t in st.study.trials[1:]]
    assert fixed == [{"b0": 3, "b1": 2, "b2": 1, "b3": 1, "s0": 1, "s1": 2, "s2": 2},
                     {"b0": 4, "b1": 3, "b2": 1, "b3": 2, "s0": 1, "s1": 2, "s2": 2}]
    st.run(8, trainer, InlineExecutor(), jobs=1, progress=False)
    assert calls[:2] == [((3, 2, 1, 1), (0.5, 0.75, 0.75)), ((4, 3, 1, 2), (0.5, 0.75, 0.75))]
    assert len(calls) == len(set(calls)) == 8
    for _, s in calls:  # one spelling: equal stages are the uniform scale
        assert normal_scale(s) == s and all(v in S_VALUES for v in (s if isinstance(
            s, tuple) else (s,)))
    points = [p for p in st.points.values() if p.design and p.accuracy is not None]
    assert min(points, key=rank) and min(points, key=rank_weight)  # floats and tuples sort
    widened = st.points[((3, 2, 1, 1), (0.5, 0.75, 0.75))]
    assert not widened.uniform and widened.as_dict()["s"] == [0.5, 0.75, 0.75]
    assert not Point((4,) * LAYERS, (0.5, 0.75, 0.75), "mixed").uniform
    assert uniform.uniform


def test_without_stage_scales_nothing_is_widened():
    st = study()
    assert st.enqueue_widened(0.5, 3, [72, 1152, 4608, 2880], (0, 1, 2)) == 0
    assert st.enqueue_widened(1.0, 3, [72, 1152, 4608, 2880], (0, 1, 2)) == 0


def test_the_stage_grid_adds_eighths_between_the_walked_scales():
    from search.mixed import stage_grid

    assert stage_grid([0.375, 0.4375, 0.5, 1.0]) == [0.375, 0.4375, 0.5, 0.625, 0.75, 0.875,
                                                     1.0]
    assert stage_grid([0.3, 0.5]) == [0.3, 0.375, 0.5]


def test_the_report_counts_a_per_stage_scale_as_outside_the_uniform_family():
    from search.report import _label, _mixed

    staged = {"bits": [4, 4, 4, 4], "q": 4, "s": [1.0, 0.5, 0.625]}
    assert _mixed(staged) and _label(staged) == "4/4/4/4 s1/0.5/0.625"
    assert not _mixed({"bits": [4, 4, 4, 4], "q": 4, "s": 0.5})
    assert _label({"q": 4, "s": 0.5}) == "q4 s0.5"
