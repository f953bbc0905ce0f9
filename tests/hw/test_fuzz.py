"""Property test: random small networks on random (P, M, q) equal the golden model.

Hypothesis draws the layer chain (kinds, kernel sizes, strides, odd map sizes, channel
counts), q, P, M, the weight mode (random or every weight at an extreme) and images;
a quarter of the networks are uniform, a quarter mixed (every weighted layer at its own
width 1..q on q-bit lanes, so lanes split where layers fit), a quarter narrow (widths up
to q div 4 on 4- to 8-bit lanes, so narrow layers with few input channels pair channels)
and a quarter depthwise chains at those narrow widths on P ≥ M (their pixel-parallel
depthwise passes read split words);
the accelerator runs in Amaranth's simulator and every logit and the cycle count must
match the golden and cycle models. The CI budget is small; ``QSNAS_FUZZ_EXAMPLES=N``
raises it (see docs/reliability.md for the figures of the long runs).
"""

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw.plan import plan_network
from intnet import golden
from intnet.arch import LayerSpec, with_widths
from intnet.contract import conv_out
from intnet.synthetic import random_network
from sim.cycles import cycle_model
from tests.hw.amaranth_sim import run_amaranth

EXAMPLES = int(os.environ.get("QSNAS_FUZZ_EXAMPLES", "15"))


@st.composite
def networks(draw, hidden_dense: bool | None = None):
    """A layer chain the generator accepts: conv or dense first, maxpool after a conv or
    dwconv, global avgpool then dense layers only; a hidden dense layer before the last
    one when ``hidden_dense`` (drawn when None)."""
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    c = draw(st.integers(1, 3))
    shape = (h, w, c)
    if hidden_dense is None and draw(st.integers(0, 7)) == 0:  # a dense first layer
        hidden = draw(st.integers(1, 6))
        return [LayerSpec("fc0", "dense", (h * w * c,), (hidden,)),
                LayerSpec("fc", "dense", (hidden,), (draw(st.integers(2, 5)),))]
    layers = []
    pooled = False  # after a global average pool only dense layers follow
    for i in range(draw(st.integers(1, 4))):
        choices = ["conv"] if not layers else ["conv", "dwconv", "avgpool"]
        prev = layers[-1].kind if layers else None
        if prev in ("conv", "dwconv") and shape[0] >= 2 and shape[1] >= 2:
            choices.append("maxpool")
        if pooled:
            break
        kind = draw(st.sampled_from(choices))
        name = f"l{i}"
        if kind == "conv":
            k, stride = draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 2]))
            out = (conv_out(shape[0], k, stride), conv_out(shape[1], k, stride),
                   draw(st.integers(1, 7)))
            layers.append(LayerSpec(name, "conv", shape, out, k, stride))
        elif kind == "dwconv":
            stride = draw(st.sampled_from([1, 2]))
            out = (conv_out(shape[0], 3, stride), conv_out(shape[1], 3, stride), shape[2])
            layers.append(LayerSpec(name, "dwconv", shape, out, 3, stride))
        elif kind == "maxpool":
            out = (shape[0] // 2, shape[1] // 2, shape[2])
            layers.append(LayerSpec(name, "maxpool", shape, out))
        else:
            out = (1, 1, shape[2])
            layers.append(LayerSpec(name, "avgpool", shape, out))
            pooled = True
        shape = out
    n_in = int(np.prod(shape))
    if draw(st.booleans()) if hidden_dense is None else hidden_dense:  # a hidden dense layer
        hidden = draw(st.integers(1, 6))
        layers.append(LayerSpec("fc0", "dense", (n_in,), (hidden,)))
        n_in = hidden
    layers.append(LayerSpec("fc", "dense", (n_in,), (draw(st.integers(2, 5)),)))
    return layers


@st.composite
def depthwise_networks(draw):
    """A conv, then one or two depthwise layers (a 1×1 conv may sit between them), a
    hidden dense layer and the last: the chain whose depthwise passes read split words
    when their widths are narrow and P ≥ M."""
    shape = (draw(st.integers(2, 7)), draw(st.integers(2, 7)), draw(st.integers(1, 3)))
    k = draw(st.sampled_from([1, 3]))
    out = (shape[0], shape[1], draw(st.integers(1, 9)))
    layers = [LayerSpec("l0", "conv", shape, out, k, 1)]
    for i in range(1, draw(st.integers(1, 2)) + 1):
        shape, stride = out, draw(st.sampled_from([1, 2]))
        out = (conv_out(shape[0], 3, stride), conv_out(shape[1], 3, stride), shape[2])
        layers.append(LayerSpec(f"dw{i}", "dwconv", shape, out, 3, stride))
        if draw(st.booleans()):
            shape, out = out, (*out[:2], draw(st.integers(1, 9)))
            layers.append(LayerSpec(f"pw{i}", "conv", shape, out, 1, 1))
    hidden = draw(st.integers(1, 6))
    return layers + [LayerSpec("fc0", "dense", (int(np.prod(out)),), (hidden,)),
                     LayerSpec("fc", "dense", (hidden,), (draw(st.integers(2, 5)),))]


@st.composite
def designs(draw):
    """``(specs, lane_bits, pe, mult)``: a quarter uniform (every layer at q), a quarter
    mixed (every weighted layer at its own width 1..q on q-bit lanes, so lanes split where
    layers fit; half of them with each hidden layer's activations at a width of their own,
    W:A pairs), a quarter narrow (widths 1..q div 4 on lanes of 4 to 8 bits, mostly 8, with
    a hidden dense layer and M ≥ 2: layers split 2 or 4 ways, and conv or dense layers
    whose few input channels fill half the sub-lanes pair their output channels,
    `hw.plan.pairs_channels`); and a quarter a depthwise chain at narrow widths on P ≥ M
    (`depthwise_networks`: pixel-parallel depthwise passes reading split words,
    `hw.plan.Plan.dwp_split`)."""
    widths = draw(st.sampled_from(["uniform", "mixed", "narrow", "depthwise"]), label="widths")
    narrow = widths in ("narrow", "depthwise")
    if widths == "depthwise":
        specs = draw(depthwise_networks(), label="specs")
    else:
        specs = draw(networks(hidden_dense=True if narrow else None), label="specs")
    q = draw(st.sampled_from([4, 6, 8, 8, 8]) if narrow else st.integers(1, 8), label="q")
    mult = draw(st.integers(2 if narrow else 1, 5), label="mult")
    pe = draw(st.integers(mult if widths == "depthwise" else 1, 5), label="pe")
    if widths != "uniform":
        weighted = [s for s in specs if s.kind in ("conv", "dwconv", "dense")]
        top = q // 4 or 1 if narrow else q
        bits = draw(st.lists(st.integers(1, top), min_size=len(weighted),
                             max_size=len(weighted)), label="bits")
        if widths == "mixed" and draw(st.booleans(), label="apart"):
            # activations apart from the weights (W:A pairs; the logits layer excluded)
            acts = draw(st.lists(st.integers(1, top), min_size=len(weighted) - 1,
                                 max_size=len(weighted) - 1), label="acts")
            bits = [*zip(bits, acts, strict=False), bits[-1]]
        specs = with_widths(specs, bits)
    return specs, q, pe, mult


@st.composite
def pooled_networks(draw):
    """A conv, then one or two hidden convs each with a fused 2×2 max pool (the passes
    that reuse weights, `hw.plan.reuses_weights`; odd map sizes drop a row or column),
    and the last dense layer."""
    shape = (draw(st.integers(4, 9)), draw(st.integers(4, 9)), draw(st.integers(1, 3)))
    k = draw(st.sampled_from([1, 3]))
    out = (shape[0], shape[1], draw(st.integers(1, 7)))
    layers = [LayerSpec("l0", "conv", shape, out, k, 1)]
    for i in range(1, draw(st.integers(1, 2)) + 1):
        if out[0] < 2 or out[1] < 2:
            break
        shape, k, stride = out, draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 2]))
        out = (conv_out(shape[0], k, stride), conv_out(shape[1], k, stride),
               draw(st.integers(1, 9)))
        layers.append(LayerSpec(f"c{i}", "conv", shape, out, k, stride))
        if out[0] < 2 or out[1] < 2:
            break
        shape, out = out, (out[0] // 2, out[1] // 2, out[2])
        layers.append(LayerSpec(f"p{i}", "maxpool", shape, out))
    return layers + [LayerSpec("fc", "dense", (int(np.prod(out)),), (draw(st.integers(2, 5)),))]


@st.composite
def pooled_designs(draw):
    """``(specs, lane_bits, pe, mult)`` of `pooled_networks`: uniform, or every weighted
    layer at its own width 1..q (narrow layers split their lanes, some pair channels)."""
    specs = draw(pooled_networks(), label="specs")
    q = draw(st.integers(1, 8), label="q")
    mult, pe = draw(st.integers(1, 5), label="mult"), draw(st.integers(1, 5), label="pe")
    if draw(st.booleans(), label="mixed"):
        weighted = [s for s in specs if s.kind in ("conv", "dense")]
        specs = with_widths(specs, draw(st.lists(st.integers(1, q), min_size=len(weighted),
                                                 max_size=len(weighted)), label="bits"))
    return specs, q, pe, mult


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(design=st.one_of(designs(), pooled_designs()),
       mode=st.sampled_from(["random", "random", "max", "min"]),
       seed=st.integers(0, 2**16), reuse=st.booleans())
def test_random_networks_match_golden(design, mode, seed, reuse):
    """... and with ``reuse`` (half the draws) built with weight reuse, so that pooled
    hidden convs walk pixel pairs (`hw.plan.reuses_weights`)."""
    specs, lane_bits, pe, mult = design
    net = random_network(specs, lane_bits, seed=seed, mode=mode)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(2, *specs[0].in_shape))
    if mode != "random":
        images[0] = 255 if mode == "max" else 0
    got = run_amaranth(net, pe, mult, images, lane_bits=lane_bits, weight_reuse=reuse)
    want = golden.run(net, images)
    assert np.array_equal(np.asarray(got["logits"]), want), (specs, lane_bits, pe, mult, mode,
                                                             reuse)
    model = cycle_model(specs, lane_bits, pe, mult, reuse)
    assert got["cycles"] == [model["cycles"]] * len(images)


DRAWN = {"designs": 0, "split": 0, "paired": 0, "depthwise_split": 0, "apart": 0}


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(design=designs())
def _count_modes(design):
    specs, lane_bits, pe, mult = design
    plan = plan_network(specs, lane_bits, pe, mult)
    DRAWN["designs"] += 1
    DRAWN["split"] += plan.splits != (1,)
    DRAWN["paired"] += plan.pairs
    DRAWN["depthwise_split"] += plan.dwp_split > 1
    weighted = [s for s in specs if s.w_bits][:-1]  # the logits layer writes int32
    DRAWN["apart"] += any(s.w_bits != s.out_bits for s in weighted)


def test_the_fuzzer_draws_split_and_paired_passes():
    """The strategy reaches the modes the fuzzer is meant to check: of 300 designs (plans
    only, no simulation; 172 split, 47 paired, 96 with depthwise passes reading split
    words and 15 with a layer's activations at another width than its weights when
    written) at least a fifth split lanes, one in fifteen pairs output channels, one in
    ten has depthwise passes reading split words and one in thirty W:A widths."""
    _count_modes()
    assert DRAWN["designs"] >= 300
    assert DRAWN["split"] >= 60 and DRAWN["paired"] >= 20, DRAWN
    assert DRAWN["depthwise_split"] >= 30 and DRAWN["apart"] >= 10, DRAWN


REUSE = {"designs": 0, "reuse": 0}


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(design=st.one_of(designs(), pooled_designs()))
def _count_reuse(design):
    specs, lane_bits, pe, mult = design
    REUSE["designs"] += 1
    REUSE["reuse"] += plan_network(specs, lane_bits, pe, mult, weight_reuse=True).reuses


def test_the_fuzzer_reaches_weight_reuse():
    """Of 300 designs of the fuzzer's strategy (plans only), at least a quarter have a
    pass that reuses weights when built with weight reuse (the fuzzer asks for it on half
    of its draws)."""
    _count_reuse()
    assert REUSE["designs"] >= 300 and REUSE["reuse"] >= 75, REUSE
    print(REUSE)
