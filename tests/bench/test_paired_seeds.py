"""bench/paired_seeds.py: the paired comparison of two networks over seeds (no training)."""

import pytest

from bench.paired_seeds import main, paired_interval, table


def test_paired_interval_is_the_student_t_interval_of_the_differences():
    d = paired_interval([0.97, 0.98, 0.99], [0.98, 0.98, 1.00])
    # differences 0.01, 0, 0.01: mean 1/150, sd 0.0057735, t(0.975, 2 dof) = 4.302653
    assert d["mean"] == pytest.approx(0.0066667, abs=1e-6)
    assert d["sd"] == pytest.approx(0.0057735, abs=1e-6)
    half = 4.302653 * 0.0057735 / 3 ** 0.5
    assert (d["low"], d["high"]) == pytest.approx((d["mean"] - half, d["mean"] + half),
                                                  abs=1e-6)
    assert d["n"] == 3


def test_identical_networks_differ_by_nothing():
    d = paired_interval([0.97, 0.98], [0.97, 0.98])
    assert d["mean"] == d["low"] == d["high"] == 0.0


@pytest.mark.parametrize("a, b", [([0.9, 0.9], [0.9]), ([0.9], [0.9])])
def test_unpaired_values_are_refused(a, b):
    with pytest.raises(ValueError, match="two equal lists of at least 2"):
        paired_interval(a, b)


def test_table_counts_the_seeds_at_the_threshold_and_gives_the_difference():
    result = {"arch": "vgg", "dataset": "mnist5k", "s": 0.5, "epochs": 12, "seeds": [0, 1],
              "rows": [{"name": "A", "bits": "3,3,3,3", "weight_bits": 26136,
                        "accuracy": [0.983, 0.973]},
                       {"name": "B", "bits": "4,3:4,1:4,2", "weight_bits": 14112,
                        "accuracy": [0.982, 0.980]}]}
    text = table(result, 0.983)
    assert "| A | 3,3,3,3 | 26,136 | 97.80 % | 97.3 – 98.3 | 1 / 2 |" in text
    assert "| B | 4,3:4,1:4,2 | 14,112 | 98.10 % | 98.0 – 98.2 | 0 / 2 |" in text
    assert "B − A, paired by seed: +0.30 points" in text


def test_one_seed_is_refused_before_any_training(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--seeds", "1"])
    assert e.value.code == 2
    assert "--seeds must be at least 2" in capsys.readouterr().err
