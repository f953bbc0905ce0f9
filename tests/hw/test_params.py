"""Parameter validation: each message is pinned."""

import pytest

from hw.pe import PE, AdderTree
from hw.plan import plan_network
from hw.requant import Requantizer
from hw.top import Accelerator
from intnet.arch import LayerSpec, network_specs
from intnet.synthetic import random_network

# a component that rejects its parameters is never elaborated, by design
pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")

SPECS = [LayerSpec("c1", "conv", (4, 4, 1), (4, 4, 2), 3, 1),
         LayerSpec("fc", "dense", (32,), (3,))]


@pytest.fixture(scope="module")
def net():
    return random_network(SPECS, 2)


@pytest.mark.parametrize("pe,mult,message", [
    (0, 1, "pe_count must be a positive integer, not 0"),
    (2.5, 1, "pe_count must be a positive integer, not 2.5"),
    (1, 0, "mults_per_pe must be a positive integer, not 0"),
    (1, -3, "mults_per_pe must be a positive integer, not -3"),
    (True, 1, "pe_count must be a positive integer, not True"),
])
def test_accelerator_rejects_bad_array(net, pe, mult, message):
    with pytest.raises(ValueError) as e:
        Accelerator(net, pe, mult)
    assert str(e.value) == message


def test_plan_rejects_bad_q():
    with pytest.raises(ValueError, match=r"^q must be an integer bit width in 1\.\.8, not 9$"):
        plan_network(SPECS, 9, 1, 1)


def test_components_reject_bad_parameters():
    with pytest.raises(ValueError, match=r"^mults_per_pe must be a positive integer, not 0$"):
        PE(2, 0, 32)
    with pytest.raises(ValueError, match=r"^q must be an integer bit width in 1\.\.8, not 0$"):
        PE(0, 2, 32)
    with pytest.raises(ValueError, match=r"^count must be a positive integer, not 0$"):
        AdderTree(4, 0)
    with pytest.raises(ValueError, match=r"^out_bits must be an integer in 1\.\.16, not 0$"):
        Requantizer(32, 0)


def test_plan_rejects_lonely_maxpool():
    specs = [SPECS[0], LayerSpec("p", "maxpool", (4, 4, 2), (2, 2, 2)),
             LayerSpec("p2", "maxpool", (2, 2, 2), (1, 1, 2)), LayerSpec("fc", "dense", (2,), (3,))]
    with pytest.raises(ValueError, match="layer p2: a maxpool must follow a conv or dwconv"):
        plan_network(specs, 2, 1, 1)


def test_plan_accepts_family_shapes():
    for arch in ("vgg", "mobilenet"):
        plan = plan_network(network_specs(arch, 0.5, (28, 28, 1), 10), 4, 3, 5)
        assert plan.passes[-1].last and plan.passes[0].first
