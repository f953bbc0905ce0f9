"""Energy of the pixel-parallel hardware (`sim.resources._pixel_parallel_cost`): its
flip-flops are charged only while pixel-parallel passes run."""

import pytest

from intnet.arch import network_specs
from search.design import _cycle_model, evaluate, layer_energies
from sim.energy import F_SOFT, SOFT_BIT_PJ_45, energy_per_inference, tech_factor
from sim.resources import estimate_resources

MEMS = [{"name": "act", "kind": "act", "width_bits": 16, "depth": 1024, "instances": 2}]


def test_dwp_groups_charged_by_their_events_only():
    res = estimate_resources(MEMS, 2, 8, 8, "arty_a7_35", acc_bits=33, pixel_parallel=True,
                             summing=True, addr_bits=10)
    plain = estimate_resources(MEMS, 2, 8, 8, "arty_a7_35", acc_bits=33)
    events = {"cycles": 1000, "active_pe_cycles": 800, "requant_ops": 640}

    def control(resources, **extra):
        return energy_per_inference(events | extra, MEMS, 2, 8, 8, "arty_a7_35", acc_bits=33,
                                    resources=resources)["breakdown_uj"]["control"]

    bit = SOFT_BIT_PJ_45 * tech_factor("xc7") * F_SOFT * 1e-6  # µJ per flip-flop load
    idle = control(res)
    ffs = res.ff_groups
    assert control(res, dwp_pe_cycles=100) - idle == pytest.approx(
        100 * ffs["dwp_lanes"] / 8 * bit)
    # one requantized lane: a P·M-th of the serializer's and collector's registers
    assert control(res, dwp_requant_ops=64) - idle == pytest.approx(
        64 * ffs["dwp_out"] / 64 * bit)
    # without the events (passes that are not pixel-parallel) the hardware costs nothing;
    # without the hardware the events cost nothing
    assert idle == control(plain)
    assert control(plain, dwp_pe_cycles=100, dwp_requant_ops=64) == control(plain)


def test_dwp_events_are_the_pixel_parallel_layers():
    """The cycle model counts the pixel-parallel events in the depthwise and average-pool
    layers' passes only, all of their PE-steps and requantizations, none elsewhere."""
    layers = tuple(network_specs("mobilenet", 0.5, (28, 28, 1), 10))
    cm = _cycle_model(layers, 2, 8, 8, False)
    assert cm["pixel_parallel"] and cm["dwp_summing"]
    ev = cm["events"]
    assert 0 < ev["dwp_pe_cycles"] < ev["active_pe_cycles"]
    assert 0 < ev["dwp_requant_ops"] < ev["requant_ops"]
    for x in cm["layers"]:
        e = x["events"]
        if e["dwp_pe_cycles"]:
            assert x["kind"] in ("dwconv", "avgpool")
            assert (e["dwp_pe_cycles"], e["dwp_requant_ops"]) == (e["active_pe_cycles"],
                                                                 e["requant_ops"])
    # the per-layer energies still add up to the design's
    row = evaluate(layers, 2, 8, 8, "arty_a7_35", mult_impl="lut", weight_reuse=False)
    per_layer = layer_energies(layers, 2, 8, 8, "arty_a7_35")
    assert sum(per_layer.values()) == pytest.approx(row["energy_uj"], rel=1e-9)


def test_pixel_parallel_buffers_replicated_per_read_port():
    """A buffer that pixel-parallel passes read has P read ports and a write port that
    runs beside them: P copies (as Yosys maps them), each write landing in every copy;
    the other buffer keeps one."""
    from hw.plan import MODE_DWP, plan_network

    for arch, pe in (("mobilenet", 8), ("mobilenet", 16), ("vgg", 8)):
        layers = tuple(network_specs(arch, 0.5, (28, 28, 1), 10))
        cm = _cycle_model(layers, 2, pe, 8, False)
        plan = plan_network(layers, 2, pe, 8)
        read = {p.src for p in plan.passes if p.mode == MODE_DWP}
        assert bool(read) == (arch == "mobilenet")
        copies = {m["name"]: m["instances"] for m in cm["memories"] if m["kind"] == "act"}
        assert copies == {f"act{b}": pe if b in read else 1 for b in range(2)}
        # writes into a replicated buffer: the other P − 1 copies, per layer
        for p in plan.passes:
            (x,) = [x for x in cm["layers"] if x["name"] == p.name]
            extra = copies[f"act{1 - p.src}"] - 1
            assert x["events"]["act_copy_writes"] == x["events"]["act_writes"] * extra

    def act_uj(**events):
        return energy_per_inference({"cycles": 1} | events, MEMS, 2, 8, 8,
                                    "arty_a7_35")["breakdown_uj"]["act_bram"]

    assert act_uj(act_writes=10, act_copy_writes=70) == pytest.approx(
        8 * act_uj(act_writes=10))
    assert act_uj(act_reads=10) == pytest.approx(act_uj(act_writes=10))
