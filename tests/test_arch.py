"""The network family's shapes: one width scale, or one per stage."""

import pytest

from intnet.arch import (
    format_scale,
    network_specs,
    normal_scale,
    scale_json,
    scale_key,
    stage_count,
    stage_scales,
    stage_writers,
)
from intnet.contract import WEIGHTED_KINDS


def channels(specs) -> list[int]:
    return [spec.out_shape[-1] for spec in specs if spec.kind in WEIGHTED_KINDS]


def test_each_vgg_stage_takes_its_own_scale():
    specs = network_specs("vgg", (1, 0.5, 0.625), (28, 28, 1), 10)
    assert channels(specs) == [16, 16, 40, 10]
    assert specs[-1].in_shape == (3 * 3 * 40,)  # the dense layer reads the last stage
    assert channels(network_specs("vgg", 0.5, (28, 28, 1), 10)) == [8, 16, 32, 10]


def test_each_mobilenet_stage_takes_its_own_scale():
    specs = network_specs("mobilenet", (1, 0.5, 0.5, 0.25, 1), (28, 28, 1), 10)
    # stem, then each block's depthwise (keeps its channels) and pointwise conv
    assert channels(specs) == [16, 16, 16, 16, 16, 16, 16, 16, 64, 10]


def test_equal_stages_are_the_uniform_network():
    assert normal_scale((0.5, 0.5, 0.5)) == 0.5 and isinstance(normal_scale(1), float)
    assert network_specs("vgg", [0.5] * 3, (28, 28, 1), 10) == network_specs(
        "vgg", 0.5, (28, 28, 1), 10)
    assert stage_scales("vgg", 0.5) == (0.5, 0.5, 0.5)
    assert (stage_count("vgg"), stage_count("mobilenet")) == (3, 5)


@pytest.mark.parametrize("s, message", [
    ((0.5, 1), "vgg takes one width scale, or one per stage (3), not 2"),
    ((0.5, 0, 1), "a width scale is a number in (0, 16], not 0"),
    (True, "a width scale is a number in (0, 16], not True"),
    ((0.5,) * 4, "vgg takes one width scale, or one per stage (3), not 4"),
])
def test_bad_scales_are_named(s, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        network_specs("vgg", s, (28, 28, 1), 10)


def test_a_per_stage_scale_needs_every_stage_it_names():
    """A 4×4 input leaves vgg two stages: one s still scales them, a per-stage s whose
    third scale would set nothing is refused."""
    assert network_specs("vgg", (0.5,) * 3, (4, 4, 1), 10) == network_specs(
        "vgg", 0.5, (4, 4, 1), 10)
    assert [layer.name for layer in network_specs("vgg", 0.5, (4, 4, 1), 10)][-1] == "fc"
    with pytest.raises(ValueError, match="a 4×4 input leaves vgg 2 of its 3 stages"):
        network_specs("vgg", (1, 0.5, 0.25), (4, 4, 1), 10)


def test_a_per_stage_scale_names_a_stage():
    with pytest.raises(ValueError, match="a per-stage width scale names at least one stage"):
        normal_scale(())


def test_scale_spellings():
    assert format_scale(0.5) == "0.5" and format_scale((1, 0.5, 0.625), "/") == "1/0.5/0.625"
    assert scale_json((1, 0.5, 0.625)) == [1.0, 0.5, 0.625] and scale_json(2) == 2.0
    assert sorted([(0.5, 1.0, 1.0), 0.75, 0.5], key=scale_key) == [0.5, (0.5, 1.0, 1.0), 0.75]


@pytest.mark.parametrize("arch", ["vgg", "mobilenet"])
def test_a_stage_scale_sets_the_channels_its_writer_layer_outputs(arch):
    base = channels(network_specs(arch, 0.5, (28, 28, 1), 10))
    for stage, writer in enumerate(stage_writers(arch)):
        scales = [0.5] * stage_count(arch)
        scales[stage] = 1.0
        grown = channels(network_specs(arch, scales, (28, 28, 1), 10))
        changed = [i for i, (a, b) in enumerate(zip(base, grown, strict=True)) if a != b]
        # the writer, and on mobilenet the depthwise convs that keep its channels
        assert changed and changed[0] == writer, (stage, changed)
