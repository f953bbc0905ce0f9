"""The analytical cycle model: contract keys, bounds, CLI. Equality with the RTL is
asserted in tests/hw/test_network.py (Amaranth) and tests/sim/test_rtl.py (Verilator)."""

import json
import math

import pytest

from intnet.arch import network_specs
from intnet.bundle import save_bundle
from intnet.synthetic import family_network
from sim.__main__ import main
from sim.cycles import cycle_model

EVENT_KEYS = {"cycles", "mac_ops", "first_mac_ops", "mult_ops", "first_mult_ops", "adder_ops",
              "first_adder_ops", "first_weight_reads", "first_weight_word_bits",
              "acc_updates", "requant_ops", "weight_reads", "weight_word_bits", "act_reads",
              "act_writes", "act_word_bits", "image_reads", "image_writes", "image_word_bits",
              "param_reads", "param_word_bits", "active_pe_cycles", "first_active_pe_cycles",
              "mult_ops_split2", "mult_ops_split4", "reuse_pe_steps", "held_sums",
              "dwp_pe_cycles", "dwp_requant_ops", "act_copy_writes"}


@pytest.mark.parametrize("arch", ["vgg", "mobilenet"])
@pytest.mark.parametrize("q,pe,mult", [(1, 1, 1), (2, 3, 5), (4, 8, 8), (8, 16, 4)])
def test_contract_keys_and_bound(arch, q, pe, mult):
    specs = network_specs(arch, 1.0, (28, 28, 1), 10)
    r = cycle_model(specs, q, pe, mult)
    assert set(r["events"]) == EVENT_KEYS
    assert all(isinstance(v, int) for v in r["events"].values())
    assert r["events"]["cycles"] == r["cycles"] == sum(x["cycles"] for x in r["layers"])
    assert r["mac_ops"] == sum(s.macs for s in specs) == r["events"]["mac_ops"]
    assert r["physical_bound"] == sum(math.ceil(s.macs / (pe * mult)) for s in specs)
    assert [x["name"] for x in r["layers"]] == [s.name for s in specs]
    for x in r["layers"]:
        assert set(x) >= {"name", "kind", "cycles", "physical_bound", "ratio", "macs"}
    # (a pooled conv skips the outputs its pool drops, so issued lanes may be < mac_ops)
    ev = r["events"]
    mults = ev["mult_ops"] + ev["first_mult_ops"]
    assert mults >= ev["acc_updates"] >= ev["weight_reads"] + ev["first_weight_reads"]
    # the first layer: q × 8-bit multiplies on whole pixels read from the image buffer
    assert ev["first_mac_ops"] == specs[0].macs <= ev["first_mult_ops"]
    assert 0 < ev["first_active_pe_cycles"] < ev["active_pe_cycles"]
    assert 0 < ev["image_writes"] <= 28 * 28 * specs[0].k ** 2
    lanes = r["image_lanes"]  # the first pass's own lanes: up to 2M, no more than K²C
    assert lanes == min(specs[0].k ** 2, 2 * mult)
    words = 28 * 28 * -(-specs[0].k ** 2 // lanes)  # the unrolled image
    assert ev["image_reads"] == words * -(-specs[0].out_shape[2] // pe)  # once per group
    kinds = {m["kind"] for m in r["memories"]}
    assert {"weight", "act", "param", "image"} <= kinds
    image = next(m for m in r["memories"] if m["kind"] == "image")
    assert image["width_bits"] == 8 * lanes and image["depth"] == words
    for m in r["memories"]:
        assert set(m) >= {"name", "kind", "width_bits", "depth", "instances"}


def test_shapes_only_equals_bundle_layers():
    net = family_network("mobilenet", 2, 0.5)
    specs = network_specs("mobilenet", 0.5, (28, 28, 1), 10)
    assert cycle_model(net.layers, 2, 3, 5) == cycle_model(specs, 2, 3, 5)


@pytest.mark.parametrize("q", [1, 2, 4, 8])
def test_vgg_within_1_5x_of_the_bound_at_8x8(q):
    r = cycle_model(network_specs("vgg", 1.0, (28, 28, 1), 10), q, 8, 8)
    assert r["cycles"] <= 1.5 * r["physical_bound"]


@pytest.mark.parametrize("q", [2, 4, 8])
def test_mobilenet_within_1_5x_of_the_bound_at_8x8(q):
    r = cycle_model(network_specs("mobilenet", 1.0, (28, 28, 1), 10), q, 8, 8)
    assert r["cycles"] <= 1.5 * r["physical_bound"]


@pytest.mark.parametrize("q", [1])
def test_mobilenet_low_q_within_1_5x(q):
    # the 8-bit first layer runs on 8-bit lanes: no ⌈8/q⌉ digit planes at low q
    r = cycle_model(network_specs("mobilenet", 1.0, (28, 28, 1), 10), q, 8, 8)
    assert r["cycles"] <= 1.5 * r["physical_bound"]


@pytest.mark.parametrize("arch", ["vgg", "mobilenet"])
def test_first_layer_steps_do_not_depend_on_q(arch):
    specs = network_specs(arch, 1.0, (28, 28, 1), 10)
    conv1 = {q: cycle_model(specs, q, 8, 8)["layers"][0]["cycles"] for q in (1, 2, 4, 8)}
    assert len(set(conv1.values())) == 1


def test_cycles_cli(tmp_path, capsys):
    bundle = save_bundle(family_network("vgg", 2, 0.5), tmp_path / "b")
    assert main(["cycles", "--bundle", str(bundle), "--pe", "3", "--mult", "5",
                 "--json", str(tmp_path / "c.json")]) == 0
    out = json.loads((tmp_path / "c.json").read_text())
    # the hardware codegen would build: the energy model turns weight reuse on here
    assert out["weight_reuse"] is True
    assert out["cycles"] == cycle_model(network_specs("vgg", 0.5, (28, 28, 1), 10), 2, 3, 5,
                                        weight_reuse=True)["cycles"]
    assert {"cycles", "physical_bound", "mac_ops", "layers", "events"} <= set(out)


def test_cycles_cli_bad_input_is_one_line(tmp_path):
    import subprocess
    import sys

    bundle = save_bundle(family_network("vgg", 2, 0.5), tmp_path / "b")
    p = subprocess.run([sys.executable, "-m", "sim", "cycles", "--bundle", str(bundle),
                        "--pe", "0", "--mult", "2"], capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip() == "sim: error: --pe must be a positive integer, not 0"
    p = subprocess.run([sys.executable, "-m", "sim", "cycles", "--bundle",
                        str(tmp_path / "missing"), "--pe", "1", "--mult", "2"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1


def test_narrow_layers_run_more_products_per_cycle_on_the_same_array():
    """On one 8 × 8 array of 8-bit lanes, vgg's conv3 at 2-bit weights and activations
    (4 values a lane) takes at most half the cycles of conv3 at 8 bits, and costs less
    energy; each row names its widths and split."""
    from intnet.arch import with_widths
    from search.design import layer_energies

    specs = network_specs("vgg", 1.0, (28, 28, 1), 10)
    wide, mixed = with_widths(specs, 8), with_widths(specs, [8, 2, 2, 8])
    rows = {b: {x["name"]: x for x in cycle_model(s, 8, 8, 8)["layers"]}
            for b, s in (("wide", wide), ("mixed", mixed))}
    narrow, full = rows["mixed"]["conv3"], rows["wide"]["conv3"]
    assert (narrow["w_bits"], narrow["in_bits"], narrow["out_bits"]) == (2, 2, 2)
    assert (narrow["lane_split"], full["lane_split"]) == (4, 1)
    assert 2 * narrow["cycles"] <= full["cycles"]
    assert narrow["events"]["mult_ops_split4"] == narrow["events"]["mult_ops"] > 0
    # conv2 has 2-bit weights but reads conv1's 8-bit outputs: whole lanes
    assert rows["mixed"]["conv2"]["lane_split"] == 1
    assert rows["mixed"]["conv2"]["cycles"] == rows["wide"]["conv2"]["cycles"]
    energy = {b: layer_energies(s, 8, 8, 8) for b, s in (("wide", wide), ("mixed", mixed))}
    assert energy["mixed"]["conv3"] < energy["wide"]["conv3"] / 2


@pytest.mark.parametrize("arch", ["vgg", "mobilenet"])
def test_every_narrow_layer_takes_at_most_half_the_cycles(arch):
    """Issue 14: on the 8 × 8 array of 8-bit lanes, every layer at 2-bit weights and
    activations that runs on the split lanes (vgg conv2, conv3; mobilenet dw1–dw4,
    pw1–pw4) takes at most half its cycles at 8 bits; vgg conv2 (16 input channels: half
    of the 32 sub-lanes) gets there by pairing output channels, the depthwise layers by
    keeping 4 sub-lane sums a lane (4 requantizers per PE). Two mobilenet layers stay
    just above: dw1's 16 channels are one group already at 4 or 2 values a lane (2 at 8
    bits), so only its MAC walk halves, not its load and drain; pw1 (16 → 32 channels)
    takes one step per pixel and group at 2 bits (two at 8), and its load and drain stay."""
    from intnet.arch import with_widths

    specs = network_specs(arch, 1.0, (28, 28, 1), 10)
    rows = {b: {x["name"]: x for x in cycle_model(with_widths(specs, b), 8, 8, 8)["layers"]}
            for b in (8, 2)}
    split = [n for n, x in rows[2].items()
             if x["lane_split"] == 4 and x["cycles"] and n != "fc"]
    assert split == (["conv2", "conv3"] if arch == "vgg" else
                     ["dw1", "pw1", "dw2", "pw2", "dw3", "pw3", "dw4", "pw4"])
    for name in split:
        if name not in ("dw1", "pw1"):
            assert 2 * rows[2][name]["cycles"] <= rows[8][name]["cycles"], name
    paired = [n for n, x in rows[2].items() if x["channel_pairs"] and x["cycles"]]
    assert paired == (["conv2"] if arch == "vgg" else [])
    if arch == "vgg":
        conv2 = rows[2]["conv2"]
        assert conv2["cycles"] == 3_545  # 2 groups of 16 channels: 4·49·9 each, + 17
        assert 4 * conv2["cycles"] < rows[8]["conv2"]["cycles"] + 100
        # two sums per PE and pixel: twice the accumulator updates and requantizations
        # of the unpaired schedule's half as many groups
        assert conv2["events"]["requant_ops"] == 2 * 2 * 196 * 8
        assert conv2["events"]["acc_updates"] == 2 * 2 * 196 * 9 * 8
        return
    assert rows[2]["pw1"]["cycles"] == 800  # 4 groups × 196 pixels, one step each, + 16
    # dw1: one group of 16 channels, 14 rows × 2 segments of 9 taps, + 2 + 26 (2 at 8 bits)
    assert (rows[2]["dw1"]["cycles"], rows[8]["dw1"]["cycles"]) == (280, 532)
    dw2 = rows[2]["dw2"]  # one group of 32 channels (4 at 8 bits)
    assert (dw2["cycles"], rows[8]["dw2"]["cycles"]) == (280, 1_036)
    # every PE requantizes 4 sub-lane sums of each of its 8 lanes per chunk
    assert dw2["events"]["requant_ops"] == 28 * 8 * 8 * 4
    assert dw2["events"]["acc_updates"] == 28 * 9 * 8 * 8 * 4


def test_split_depthwise_widens_the_parameter_words():
    """A pixel-parallel depthwise pass reading 4 values a lane needs 4 channels' bias, m
    and n in PE l's word (lane l's sub-lanes); the resource model adds 3 requantizers
    per PE."""
    from intnet.arch import with_widths
    from intnet.contract import accumulator_bits
    from sim.resources import estimate_resources

    specs = network_specs("mobilenet", 1.0, (28, 28, 1), 10)
    split, plain = (cycle_model(with_widths(specs, b), 8, 8, 8) for b in (2, 8))
    assert (split["dwp_lane_split"], plain["dwp_lane_split"]) == (4, 1)
    width = {r: {m["name"]: m["width_bits"] for m in x["memories"]}["params"]
             for r, x in (("split", split), ("plain", plain))}
    assert width == {"split": 4 * 54, "plain": 54}
    acc = accumulator_bits(specs, 8)
    res = {k: estimate_resources(split["memories"], 8, 8, 8, "arty_a7_35", acc, dwp_split=k)
           for k in (1, 4)}
    assert res[4].requantizers == 4 * res[1].requantizers == 32
    assert res[4].dsp > res[1].dsp and res[4].ff > res[1].ff and res[4].lut > res[1].lut


def test_paired_plans_widen_the_parameter_words():
    from intnet.arch import with_widths

    specs = network_specs("vgg", 1.0, (28, 28, 1), 10)
    paired, plain = (cycle_model(with_widths(specs, b), 8, 8, 8) for b in (2, [8, 2, 2, 8]))
    assert (paired["channel_pairs"], plain["channel_pairs"]) == (True, False)
    width = {r: {m["name"]: m["width_bits"] for m in x["memories"]}["params"]
             for r, x in (("paired", paired), ("plain", plain))}
    assert width == {"paired": 108, "plain": 54}
    assert paired["events"]["param_word_bits"] == 108


def test_the_table_marks_the_layers_that_pair_output_channels():
    """`sim cycles`: a layer whose input channels fill half the sub-lanes shows its split
    and "×2" (a second output channel); the others only their split."""
    from intnet.arch import network_specs, with_widths
    from intnet.synthetic import random_network
    from sim.cycles_cli import table

    specs = with_widths(network_specs("vgg", 1.0, (28, 28, 1), 10), 2)
    net = random_network(specs, 2, seed=0)
    cycles = cycle_model(specs, 8, 8, 8)
    rows = {line.split()[0]: line.split() for line in
            table(net, cycles, [0.0] * len(cycles["layers"])).splitlines()[2:-2]}
    assert rows["conv2"][3:5] == ["4", "×2"]
    assert rows["conv3"][3] == "4" and rows["conv3"][4] != "×2"
    assert rows["conv1"][3] == "1" and rows["conv1"][4] != "×2"
