"""Per-layer widths: the learned-width quantizers, the linearised budget, the budget fit,
and the learning phase end to end on `digits`."""

import dataclasses

import pytest
import torch

from model.bits import (
    BitBudget,
    LearnConfig,
    LinearisedCost,
    _key,
    fit_budget,
    learn_bits,
    weight_bits,
    weight_kb_cost,
)
from model.nets import AvgPoolBlock, QNet
from model.quant import LearnedBits, learned_act_integers, learned_weight_integers


@pytest.fixture(scope="module", autouse=True)
def run_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QSNAS_CACHE", str(tmp_path_factory.mktemp("runs")))
        yield


def test_learned_bits_round_with_a_straight_through_gradient():
    b = LearnedBits(4.4, lo=1, hi=8)
    out = b()
    assert float(out.detach()) == 4.0 and b.integer() == 4
    out.backward()
    assert float(b.value.grad) == 1.0
    with torch.no_grad():
        b.value.fill_(11.0)
    b.clamp_()
    assert float(b.value.detach()) == pytest.approx(8.49) and b.integer() == 8
    with pytest.raises(ValueError, match="1 ≤ lo ≤ init ≤ hi ≤ 8"):
        LearnedBits(9.0)


@pytest.mark.parametrize("width", [2, 3, 4])
def test_clipped_weights_pull_their_width_up(width):
    # values beyond the range: a wider range reduces the error, so d(error)/d(bits) < 0
    w = torch.tensor([-9.0, -0.4, 0.2, 7.0])
    bits = torch.tensor(float(width), requires_grad=True)
    ints = learned_weight_integers(w, torch.tensor(1.0), bits)
    top = 2 ** (width - 1) - 1
    assert ints.tolist() == [-top, 0, 0, top]
    ((ints - w) ** 2).sum().backward()
    assert float(bits.grad) < 0


def test_one_bit_learned_weights_are_signs():
    w = torch.tensor([-0.3, 0.0, 2.0])
    ints = learned_weight_integers(w, torch.tensor(1.0), torch.tensor(1.0))
    assert ints.tolist() == [-1.0, 1.0, 1.0]


def test_clipped_activations_pull_their_width_up():
    x = torch.tensor([0.2, 2.6, 40.0])
    bits = torch.tensor(2.0, requires_grad=True)
    ints = learned_act_integers(x, torch.tensor(1.0), bits)
    assert ints.tolist() == [0.0, 3.0, 3.0]
    ((ints - x) ** 2).sum().backward()
    assert float(bits.grad) < 0


def test_qnet_learned_widths_are_shared_per_layer():
    net = QNet("mobilenet", 4, 0.5, (8, 8, 1), 10, bits=(8, 3, 2, 4, 1, 5, 2, 6, 3, 4))
    learned = net.learn_bits(lo=1)
    assert [b.integer() for b in learned] == list(net.bits)
    gap = next(b for b in net.blocks if isinstance(b, AvgPoolBlock))
    pw4 = [b for b in net.weighted_blocks()][-2]
    assert gap.learned is pw4.learned  # the pool keeps the width it reads
    net.set_mode("quant").train()
    out = net(torch.randint(0, 256, (4, 1, 8, 8)).float())
    out.sum().backward()
    assert net.learned_bits() == net.bits
    assert all(b.value.grad is not None for b in learned)


def test_linearised_cost_of_an_additive_cost_is_exact():
    cost = LinearisedCost(lambda b: 3 * b[0] + 5 * b[1] + 7 * b[2], lo=1, hi=8)
    widths = torch.tensor([4.0, 4.0, 2.0], requires_grad=True)
    value = cost(widths)
    assert value.item() == 3 * 4 + 5 * 4 + 7 * 2
    value.backward()
    assert widths.grad.tolist() == [3.0, 5.0, 7.0]  # tied layers keep their own slopes


def test_linearised_cost_shares_the_saving_of_the_widest_layers():
    # a cost set by the widest layer only: lowering one of two tied layers saves nothing,
    # lowering both saves 2 per bit; each gets half of it
    cost = LinearisedCost(lambda b: 2 * max(b), lo=1, hi=8)
    assert cost._slopes((6, 6, 3)) == [1.0, 1.0, 0.0]
    assert cost._slopes((6, 5, 3)) == [2.0, 0.0, 0.0]


def test_linearised_cost_looks_across_a_plateau():
    # flat from 8 down to 4, then a step: the steepest secant sees the step from 8
    step = {1: 1.0, 2: 1.0, 3: 1.0}
    cost = LinearisedCost(lambda b: step.get(b[0], 5.0), lo=1, hi=8)
    assert cost._slopes((8,)) == [pytest.approx(4.0 / 5)]
    assert cost._slopes((1,)) == [0.0]  # forward difference at the narrowest width


def test_fit_budget_lowers_the_layers_that_save_most():
    budget = BitBudget("weight_kb", 40.0, lambda b: 1 * b[0] + 10 * b[1], "test")
    bits, met = fit_budget((4, 4), (4.0, 4.0), budget, lo=1)
    assert met and bits == (4, 3)  # 44 → 34: the big layer goes first
    none, met = fit_budget((1, 1), (1.0, 1.0), dataclasses.replace(budget, target=5.0), lo=1)
    assert not met and none == (1, 1)


def test_fit_budget_lowers_tied_widest_layers_together():
    budget = BitBudget("energy_uj", 5.0, lambda b: max(b), "max")
    bits, met = fit_budget((7, 7, 2), (6.8, 7.2, 2.0), budget, lo=1)
    assert met and bits == (5, 5, 2)


def test_weight_kb_cost_counts_each_layer_at_its_width():
    from intnet.arch import network_specs, with_widths

    specs = network_specs("vgg", 0.5, (8, 8, 1), 10)
    counts = [72, 1152, 4608, 320]  # 8·3·3·1, 16·3·3·8, 32·3·3·16, 10·32
    bits = (8, 4, 2, 1)
    total = sum(n * b for n, b in zip(counts, bits, strict=True))
    assert weight_bits(with_widths(specs, bits)) == total
    assert weight_kb_cost("vgg", 0.5, "digits")(bits) == pytest.approx(total / 8192)


def test_learn_bits_meets_a_weight_budget_and_caches_the_outcome():
    from model.train import TrainConfig, train

    cfg = TrainConfig(arch="vgg", s=0.5, dataset="digits", epochs=1, float_epochs=1)
    cost = weight_kb_cost("vgg", 0.5, "digits")
    budget = BitBudget("weight_kb", 0.5 * cost((8,) * 4), cost, "weights")
    learn = LearnConfig(epochs=2)
    first = learn_bits(cfg, budget, learn, progress=False)
    assert first.met and first.cost <= budget.target and len(first.bits) == 4
    assert first.cost == pytest.approx(cost(first.bits))
    assert len(first.history) == 2 and not first.cached
    again = learn_bits(cfg, budget, learn, progress=False)
    assert again.cached and again.bits == first.bits and again.history == first.history
    # the fine-tune at the fixed widths is an ordinary run: the bundle has those widths
    net = train(dataclasses.replace(cfg, bits=first.bits), progress=False).network
    assert tuple(layer.w_bits for layer in net.layers if layer.w_bits) == first.bits


def test_an_unreachable_budget_is_one_line():
    from common.cli import UserError
    from model.train import TrainConfig

    cfg = TrainConfig(arch="vgg", s=0.5, dataset="digits", epochs=1, float_epochs=1)
    cost = weight_kb_cost("vgg", 0.5, "digits")
    with pytest.raises(UserError, match="below what the narrowest widths"):
        learn_bits(cfg, BitBudget("weight_kb", 0.1, cost, "weights"), progress=False)


def test_learned_widths_never_see_the_held_out_images(monkeypatch):
    # with val the learning phase (and the float pre-train it starts from) fits on the
    # first N − val training images only, and the learned widths are cached apart
    import numpy as np

    import model.train
    from model.data import load_dataset
    from model.train import TrainConfig

    digits = load_dataset("digits")
    batches = []
    shift = model.train.random_shift

    def recording_shift(x, *args):
        batches.append(x.permute(0, 2, 3, 1).numpy().astype(np.uint8))
        return shift(x, *args)

    monkeypatch.setattr(model.train, "random_shift", recording_shift)
    val = 397  # 1,000 images an epoch
    cfg = TrainConfig(arch="vgg", s=0.25, dataset="digits", epochs=1, float_epochs=1, val=val)
    cost = weight_kb_cost("vgg", 0.25, "digits")
    budget = BitBudget("weight_kb", 0.5 * cost((8,) * 4), cost, "weights")
    learn_bits(cfg, budget, LearnConfig(epochs=1), progress=False, use_cache=False)
    seen = np.concatenate(batches)
    n = len(digits.train_x) - val
    assert len(seen) == 2 * n  # one float epoch, one learning epoch
    for epoch in (seen[:n], seen[n:]):
        assert sorted(i.tobytes() for i in epoch) == sorted(i.tobytes()
                                                            for i in digits.train_x[:n])
    resolved = model.train.resolve(dataclasses.replace(cfg, q=8))
    assert _key(resolved, budget, LearnConfig()) != _key(
        dataclasses.replace(resolved, val=0), budget, LearnConfig())


def test_learned_widths_keep_their_cache_key_at_val_zero():
    from model.train import TrainConfig, resolve

    # computed by the code on main before `val` existed
    cfg = resolve(TrainConfig(arch="vgg", q=8, s=0.5, dataset="digits", epochs=1,
                              float_epochs=1, val=0))
    assert _key(cfg, BitBudget("weight_kb", 4.0, None, "weights"),
                LearnConfig()) == "43a868977b873ed777d30e7b"
