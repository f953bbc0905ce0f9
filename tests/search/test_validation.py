"""``--val``: the searches choose on the held-out training images' accuracy and report the
test accuracy. The trainings are faked (`model.train.train_and_export` monkeypatched) so
that the two accuracies disagree: choosing on the wrong one picks another design."""

import dataclasses

import pytest

from search.qsnas import SearchConfig, run_bo, run_search, selection_accuracy

TARGET = 0.93
VAL = 397  # of digits' 1,397 training images


def min_width(widths) -> int:
    """The narrowest weight width of ``widths`` (a q, or one entry per layer)."""
    from intnet.arch import normal_widths, width_pair

    if isinstance(widths, int):
        return widths
    return min(width_pair(b)[0] for b in normal_widths(widths))


def val_accuracy(widths, s) -> float:
    """Smooth in q and s: below the target at q = 1 or at small s."""
    return 0.99 - 0.08 / min_width(widths) - 0.012 / s


def test_accuracy(widths, s) -> float:
    """Every design reaches the target on the test split, the narrowest the best."""
    return 0.99 - 0.002 * min_width(widths)


test_accuracy.__test__ = False  # a surface, not a test


@pytest.fixture
def fake_training(monkeypatch):
    """Replace training: ``calls`` records each ``(widths, s, val)``; metrics from the two
    surfaces, the network a random one of the right widths."""
    import model.train
    from intnet.synthetic import random_network
    from search.mixed import widths_specs

    calls = []

    def train_and_export(arch, q, s, dataset="mnist5k", epochs=None, seed=0, out=None, *,
                         data_dir=None, float_epochs=None, progress=True, use_cache=True,
                         bits=None, val=0):
        widths = tuple(bits) if bits is not None else q
        calls.append((widths, s, val))
        net = random_network(widths_specs(arch, s, dataset, widths), q, arch=arch, s=s,
                             dataset=dataset)
        metrics = {"integer_acc": test_accuracy(widths, s), "float_acc": 0.99,
                   "test_images": 400, "cached": False, "cache_dir": "none",
                   "qat_seconds": 1.0, "float_seconds": 2.0}
        if val:
            metrics.update(val_acc=val_accuracy(widths, s), val_images=val)
        return net, metrics

    monkeypatch.setattr(model.train, "train_and_export", train_and_export)
    return calls


def config(val: int) -> SearchConfig:
    return SearchConfig(target_acc=TARGET, arch="vgg", dataset="digits", board="arty_a7_35",
                        q_samples=(1, 2, 4), s_samples=(0.25, 0.5), q_range=(1, 2, 3, 4),
                        s_min=0.25, s_max=0.5, pe_list=(1, 2, 4), mult_list=(1, 2, 4),
                        epochs=1, val=val, progress=False)


def least_energy(samples, accuracy) -> tuple:
    """(q or bits, s) of the least-energy sample whose ``accuracy(sample)`` meets TARGET."""
    feasible = [x for x in samples if x["energy_uj"] and accuracy(x) >= TARGET]
    best = min(feasible, key=lambda x: (x["energy_uj"], x.get("weight_bits") or 0))
    return best.get("bits", best["q"]), best["s"]


def chosen_point(result) -> tuple:
    c = result["chosen"]
    return c.get("bits", c["q"]), c["s"]


def test_selection_accuracy_is_validation_when_there_is_one():
    assert selection_accuracy({"accuracy": 0.9}) == 0.9
    assert selection_accuracy({"accuracy": 0.9, "val_accuracy": None}) == 0.9
    assert selection_accuracy({"accuracy": 0.9, "val_accuracy": 0.8}) == 0.8


def _check_val_choice(result, calls, uniform=True):
    """The choice was made on val and the measured block is the test split's."""
    assert calls and {val for _, _, val in calls} == {VAL}  # every training held VAL out
    assert result["selected_on"] == "val" and result["val_images"] == VAL
    widths, s = chosen_point(result)
    if not uniform:
        from intnet.arch import normal_widths

        widths = normal_widths(widths)
    assert result["chosen"]["val_accuracy"] == pytest.approx(val_accuracy(widths, s))
    assert result["chosen"]["val_accuracy"] >= TARGET
    assert result["measured"]["accuracy"] == pytest.approx(test_accuracy(widths, s))
    assert result["measured"]["test_images"] == 400
    for x in result["samples"]:  # each sample reports both, test as "accuracy"
        w = x["q"] if uniform else normal_widths(x["bits"])
        assert x["accuracy"] == pytest.approx(test_accuracy(w, x["s"]))
        assert x["val_accuracy"] == pytest.approx(val_accuracy(w, x["s"]))


def test_the_uniform_search_chooses_on_validation(fake_training):
    result, _ = run_search(config(VAL))
    _check_val_choice(result, fake_training)
    assert chosen_point(result) == least_energy(result["samples"], lambda x: x["val_accuracy"])
    # the walk's regressor and steps are on the validation accuracy too
    for t in result["candidates_tried"]:
        assert t["accuracy"] == pytest.approx(test_accuracy(t["q"], t["s"]))
        assert t["val_accuracy"] == pytest.approx(val_accuracy(t["q"], t["s"]))
    # on the test split the same networks lead to another, cheaper design
    fake_training.clear()
    on_test, _ = run_search(config(0))
    assert on_test["selected_on"] == "test" and "val_images" not in on_test
    assert "val_accuracy" not in on_test["chosen"] and {v for *_, v in fake_training} == {0}
    assert chosen_point(on_test) == least_energy(on_test["samples"], lambda x: x["accuracy"])
    assert chosen_point(on_test) != chosen_point(result)
    assert on_test["measured"]["energy_uj"] < result["measured"]["energy_uj"]


def test_bo_chooses_on_validation(fake_training):
    result, _ = run_bo(config(VAL), n_trials=12)  # the whole 4 × 3 grid
    _check_val_choice(result, fake_training)
    assert len(result["samples"]) == 12
    assert chosen_point(result) == least_energy(result["samples"], lambda x: x["val_accuracy"])
    assert result["predicted"]["accuracy"] == result["chosen"]["val_accuracy"]
    for t in result["trials"]:
        assert t["accuracy"] == pytest.approx(test_accuracy(t["q"], t["s"]))
    on_test, _ = run_bo(config(0), n_trials=12)
    assert chosen_point(on_test) != chosen_point(result)


def test_the_mixed_search_chooses_on_validation(fake_training):
    from intnet.arch import normal_widths
    from search.mixed import run_mixed

    result, _, _ = run_mixed(config(VAL), trials=4)
    _check_val_choice(result, fake_training, uniform=False)
    feasible = [x for x in result["samples"] if x["energy_uj"]
                and x["val_accuracy"] >= TARGET]
    best = min(feasible, key=lambda x: (x["energy_uj"], x["weight_bits"]))
    assert (normal_widths(best["bits"]), best["s"]) == (
        normal_widths(result["chosen"]["bits"]), result["chosen"]["s"])
    lean = result["least_weight"]
    assert lean["val_accuracy"] >= TARGET
    assert lean["measured"]["accuracy"] == pytest.approx(
        test_accuracy(normal_widths(lean["bits"]), lean["s"]))
    assert all(x["val_accuracy"] >= TARGET for x in result["front"])
    on_test, _, _ = run_mixed(config(0), trials=4)
    assert on_test["selected_on"] == "test"
    assert (on_test["chosen"]["bits"], on_test["chosen"]["s"]) != (
        result["chosen"]["bits"], result["chosen"]["s"])


def test_the_report_names_the_split_it_chose_on(fake_training, tmp_path):
    from search.report import write_search

    cfg = config(VAL)
    for val in (VAL, 0):
        result, net = run_search(dataclasses.replace(cfg, val=val))
        write_search(result, net, tmp_path / str(val))
        md = (tmp_path / str(val) / "search.md").read_text()
        assert (tmp_path / str(val) / "pareto.png").stat().st_size > 1000
        m = result["measured"]
        if val:
            assert (f"| validation accuracy, chosen on | {result['predicted']['accuracy']:.4f} | "
                    f"{result['chosen']['val_accuracy']:.4f} ({VAL} held-out training images) |"
                    ) in md
            assert f"| test accuracy | | {m['accuracy']:.4f} (400 test images) |" in md
            assert f"Chosen on the validation accuracy: the last {VAL} training images" in md
            assert "| val accuracy (chosen on) | test accuracy |" in md
        else:
            assert "| test accuracy, chosen on |" in md and "val accuracy" not in md
            assert "validation accuracy, chosen on" not in md
            assert "Chosen on the test accuracy (no validation split" in md
