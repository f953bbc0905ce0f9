"""``python -m search`` end to end on the small ``digits`` set, and its bad input."""

import json
import os
import subprocess
import sys

import pytest


def run(args, cwd, env=None):
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("QSNAS_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "search", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=1800)


@pytest.mark.parametrize("strategy", ["poly", "bo"])
def test_search_writes_its_report(tmp_path, strategy):
    out = tmp_path / "out"
    done = run(["--target-acc", "0.8", "--dataset", "digits", "--q-samples", "1,2,4",
                "--s-samples", "0.25,0.5", "--s-max", "0.5", "--epochs", "1",
                "--rtl-images", "1", "--strategy", strategy, "--trials", "4", "--quiet",
                "--out", str(out)], tmp_path, env={"QSNAS_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads((out / "search.json").read_text())
    assert set(r) >= {"target_acc", "chosen", "predicted", "measured", "regressors",
                      "samples"}
    assert set(r["chosen"]) == {"q", "s", "pe", "mult"}
    assert r["measured"]["accuracy"] >= 0.8
    lo, hi = r["measured"]["accuracy_ci95"]
    assert lo <= r["measured"]["accuracy"] <= hi
    assert r["measured"]["rtl_mismatches"] == 0 and r["measured"]["rtl_cycles_match_model"]
    assert r["measured"]["rtl"]["run"]
    if strategy == "poly":
        assert r["regressors"]["accuracy"]["degree"] >= 1
        # energy is evaluated, not regressed: the prediction is the measured design's
        assert r["regressors"]["energy"] == {"degree": None, "loo_mape": None, "exact": True}
        assert r["predicted"]["energy_uj"] == r["measured"]["energy_uj"]
        assert sum(x["source"] == "sample" for x in r["samples"]) == 6
        assert len(r["samples"]) == 6 + len(r["candidates_tried"])
    else:
        assert len({(t["q"], t["s"]) for t in r["trials"]}) == 4
    assert (out / "pareto.png").stat().st_size > 1000
    assert "Chosen" in (out / "search.md").read_text()
    _check_bundle(out, r)


def _check_bundle(out, r):
    """The chosen bundle is in the output folder and measures what search.json says."""
    from intnet.arch import scale_json, widths_json, widths_of
    from intnet.bundle import load_bundle
    from intnet.golden import accuracy
    from model.data import load_dataset

    net = load_bundle(out / "bundle")
    data = load_dataset(r["dataset"])
    assert accuracy(net, data.test_x, data.test_y) == r["measured"]["accuracy"]
    assert widths_json(widths_of(net.layers)) == r["measured"]["widths"]
    assert scale_json(net.s) == r["chosen"]["s"] and net.q == r["chosen"]["q"]


def test_search_with_a_validation_split_reports_both(tmp_path):
    # real trainings: the choice is made on the held-out images, the bundle's test accuracy
    # is what `measured` reports, and its accuracy on the held-out images what `chosen` does
    out = tmp_path / "out"
    done = run(["--target-acc", "0.6", "--dataset", "digits", "--q-samples", "2,4",
                "--s-samples", "0.25,0.5", "--s-max", "0.5", "--epochs", "1", "--val", "397",
                "--rtl-images", "0", "--quiet", "--out", str(out)], tmp_path,
               env={"QSNAS_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads((out / "search.json").read_text())
    assert r["selected_on"] == "val" and r["val_images"] == 397
    assert r["chosen"]["val_accuracy"] >= 0.6
    assert all("val_accuracy" in x for x in r["samples"])
    _check_bundle(out, r)  # measured.accuracy: the bundle's test accuracy
    from intnet.bundle import load_bundle
    from intnet.golden import accuracy
    from model.data import load_dataset

    data = load_dataset("digits")
    net = load_bundle(out / "bundle")
    assert accuracy(net, data.train_x[-397:], data.train_y[-397:]) == r["chosen"]["val_accuracy"]
    assert net.meta["config"]["val"] == 397
    assert '"selected_on": "val"' in done.stdout
    assert "Chosen on the validation accuracy" in (out / "search.md").read_text()


@pytest.mark.parametrize("act_widths", [False, True], ids=["stage-scales", "act-widths"])
def test_mixed_search_writes_its_policy_bundle_and_pareto(tmp_path, act_widths):
    """One run searches each stage's scale with the widths (--stage-scales), the other
    weights and activations apart (--act-widths) and builds its choice (--build)."""
    from intnet.arch import normal_widths, scale_json, widest_width, widths_json, widths_of

    out = tmp_path / "out"
    done = run(["--target-acc", "0.8", "--dataset", "digits", "--q-samples", "2,4",
                "--s-samples", "0.25,0.5", "--s-max", "0.5", "--epochs", "1",
                "--rtl-images", "1", "--mixed", "--trials", "6", "--quiet",
                # --build once: the chosen per-layer bundle goes to hardware as measured
                *(["--act-widths", "--build"] if act_widths else ["--stage-scales"]),
                "--out", str(out)], tmp_path, env={"QSNAS_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads((out / "search.json").read_text())
    c = r["chosen"]
    assert r["strategy"] == "mixed" and set(c) >= {"q", "s", "pe", "mult", "bits", "layers"}
    assert list(c["layers"]) == ["conv1", "conv2", "conv3", "fc"]
    assert list(c["layers"].values()) == c["bits"] == r["measured"]["widths"]
    assert c["mixed"] == (len(set(normal_widths(c["bits"]))) > 1)
    assert c["q"] == widest_width(c["bits"])
    assert r["measured"]["accuracy"] >= 0.8
    assert r["trials"]["trained"] == 6 and r["trials"]["warm_start"] >= 4
    sources = {x["source"] for x in r["samples"]}
    assert sources == {"uniform", "mixed"}
    # with --act-widths the enqueued neighbours narrow a layer's weights alone too
    assert any(isinstance(b, list) for x in r["samples"] for b in x["bits"]) == act_widths
    # with --stage-scales trials have a scale per stage (vgg: 3), each a trained one
    scales = [x["s"] for x in r["samples"] if isinstance(x["s"], list)]
    assert bool(scales) == (not act_widths)
    trained = {x["s"] for x in r["samples"] if x["source"] == "uniform"}
    grid = trained | {v for v in (0.25, 0.375, 0.5) if min(trained) <= v <= max(trained)}
    assert all(len(s) == 3 and set(s) <= grid for s in scales)  # search.mixed.stage_grid
    feasible = [x for x in r["samples"] if x["accuracy"] is not None and x["energy_uj"]
                and x["accuracy"] >= 0.8]
    best = min(feasible, key=lambda x: (x["energy_uj"], x["weight_bits"]))
    assert (best["bits"], best["s"]) == (c["bits"], c["s"])
    lean = r["least_weight"]
    least = min(feasible, key=lambda x: (x["weight_bits"], x["energy_uj"]))
    assert (lean["bits"], lean["s"]) == (least["bits"], least["s"])
    assert lean["measured"]["weight_bits"] == least["weight_bits"]
    assert lean["measured"]["accuracy"] == least["accuracy"]
    front = [(x["energy_uj"], x["weight_bits"]) for x in r["front"]]
    assert front[0] == (best["energy_uj"], best["weight_bits"])
    assert front[-1][1] == least["weight_bits"] and front == sorted(front)
    assert all(w1 > w2 for (_, w1), (_, w2) in zip(front, front[1:], strict=False))
    # the least-weight network's bundle sits beside the chosen one's where it is another
    lean_dir = out / "least_weight_bundle"
    if (lean["bits"], lean["s"]) == (c["bits"], c["s"]):
        assert not lean_dir.exists()
    else:
        from intnet.bundle import load_bundle

        lean_net = load_bundle(lean_dir)
        assert widths_json(widths_of(lean_net.layers)) == lean["bits"]
        assert scale_json(lean_net.s) == lean["s"]
    # whichever it was here: a least-weight network that is another gets its own bundle
    from intnet.bundle import load_bundle
    from search.report import write_search

    other = dict(r, least_weight=dict(lean, bits=[8] * len(lean["bits"])))
    write_search(other, load_bundle(out / "bundle"), tmp_path / "w",
                 least_weight=load_bundle(out / "bundle"))
    assert (tmp_path / "w" / "least_weight_bundle" / "manifest.json").exists()
    assert "its bundle: `least_weight_bundle/`" in (tmp_path / "w" / "search.md").read_text()
    if act_widths:
        report = json.loads((out / "build" / "report.json").read_text())
        assert (report["pe"], report["mult"]) == (c["pe"], c["mult"])
        assert report["energy"]["per_inference_uj"] == pytest.approx(r["measured"]["energy_uj"])
        assert report["hw_matches_golden"]["mismatches"] == 0
        assert report["hw_matches_golden"]["images"] == 1
        built = load_bundle(out / "build" / "bundle")
        assert widths_json(widths_of(built.layers)) == c["bits"]
    rtl = r["measured"]["rtl"]
    if rtl["run"]:  # a uniform choice, or hardware that takes per-layer widths
        assert rtl["mismatches"] == 0 and rtl["cycles_match_model"]
    else:
        assert c["mixed"] and "does not take this bundle" in rtl["reason"]
        assert "RTL check not run: the hardware generator" in done.stdout
    assert (out / "pareto.png").stat().st_size > 1000
    assert "per-layer widths" in (out / "search.md").read_text() or not c["mixed"]
    _check_bundle(out, r)


@pytest.mark.parametrize("args, message", [
    (["--target-acc", "1.5"], "--target-acc must be in (0, 1), not 1.5"),
    (["--target-acc", "0.9", "--jobs", "0"], "--jobs must be a positive integer, not 0"),
    (["--target-acc", "0.9", "--board", "zed"], "board must be one of"),
    (["--target-acc", "0.9", "--s-samples", "a"], "--s-samples must be a comma-separated"),
    (["--target-acc", "0.9", "--mixed", "--strategy", "bo"], "--mixed runs its own TPE"),
    (["--target-acc", "0.9", "--act-widths"], "--act-widths goes with --mixed"),
    (["--target-acc", "0.9", "--stage-scales"], "--stage-scales goes with --mixed"),
    (["--target-acc", "0.9", "--val", "-1"], "--val must be a non-negative integer, not -1"),
    (["--target-acc", "0.9", "--dataset", "digits", "--val", "1397"],
     "--val must be below the 1397 digits training images, not 1397"),
])
def test_bad_input_is_one_line(tmp_path, args, message):
    done = run(args, tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
