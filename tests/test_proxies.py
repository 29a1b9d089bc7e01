"""Zero-cost proxies (zen, naswot, synflow) and pre-screening in the engine."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from snas import Architecture, Choice, NetworkFamily, SearchSpace
from snas.runtime.prescreen import keep_count

CPU = torch.device("cpu")
PROXIES = ("zen", "naswot", "synflow")


class Scale(nn.Module):
    """Multiplies by a fixed factor (a buffer, so no initialization touches it)."""

    def __init__(self, factor: float):
        super().__init__()
        self.register_buffer("factor", torch.tensor(factor))

    def forward(self, x):
        return x * self.factor


class ToyFamily(NetworkFamily):
    """A small CNN with batch norm; ``dead`` cuts the input off, ``zero_init`` zeroes every weight."""

    name = "toy"

    def space(self) -> SearchSpace:
        return SearchSpace(family="toy", parameters=[Choice("dead", (False, True)), Choice("zero_init", (False, True))])

    def build(self, arch, input_shape, num_classes):
        c = input_shape[0]
        model = nn.Sequential(
            Scale(0.0 if arch["dead"] else 1.0),
            nn.Conv2d(c, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes),
        )
        if arch["zero_init"]:
            with torch.no_grad():
                for p in model.parameters():
                    p.zero_()
        return model


def toy(dead=False, zero_init=False) -> Architecture:
    return Architecture("toy", {"dead": dead, "zero_init": zero_init})


def proxy(manager, name, **options):
    cls = manager.get_evaluator(name)
    return cls(cls.Options(**options))


@pytest.mark.parametrize("name", PROXIES)
def test_proxy_is_deterministic_for_a_seed(manager, digits, name):
    arch = Architecture("cnn", {"num_layers": 2, "filters": [32, 64], "kernel_sizes": [3, 3], "activation": "relu",
                                "skip_connections": False, "use_batch_norm": True, "dropout": 0.1,
                                "head": "global_pool", "learning_rate": 0.001, "optimizer": "adam"})
    family = manager.get_family("cnn")
    ev = proxy(manager, name)
    a = ev.evaluate(arch, family, digits, seed=3, device=CPU)
    b = ev.evaluate(arch, family, digits, seed=3, device=CPU)
    assert a.ok and math.isfinite(a.score)
    assert a.score == b.score
    assert a.metrics["proxy"] == name and a.metrics[name] == a.score and a.metrics["params"] > 0


@pytest.mark.parametrize("name", PROXIES)
def test_proxy_ranks_a_working_network_above_a_dead_one(manager, digits, name):
    ev, family = proxy(manager, name), ToyFamily()
    alive = ev.evaluate(toy(), family, digits, seed=0, device=CPU)
    dead = ev.evaluate(toy(dead=True), family, digits, seed=0, device=CPU)
    assert alive.ok and dead.ok  # a degenerate network still gets a finite score
    assert alive.score > dead.score


@pytest.mark.parametrize("name,options", [("zen", {"gaussian_init": False}), ("naswot", {}), ("synflow", {})])
def test_proxy_ranks_a_working_network_above_a_zero_initialized_one(manager, digits, name, options):
    ev, family = proxy(manager, name, **options), ToyFamily()
    alive = ev.evaluate(toy(), family, digits, seed=0, device=CPU)
    zero = ev.evaluate(toy(zero_init=True), family, digits, seed=0, device=CPU)
    assert alive.score > zero.score


def test_zen_leaves_the_scored_model_untouched(digits):
    from snas_plugins.evaluators.zen import zen_score

    torch.manual_seed(0)
    model = ToyFamily().build(toy(), digits.input_shape, 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    zen_score(model, digits.input_shape, CPU, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_zen_batch_norm_term_makes_scale_irrelevant(digits):
    """BN hides a rescaled input from the features; Zen's BN term brings the scale back into the score."""
    from snas_plugins.evaluators.zen import zen_score

    torch.manual_seed(0)
    model = ToyFamily().build(toy(), digits.input_shape, 10)
    small = nn.Sequential(Scale(0.5), *model)
    big = nn.Sequential(Scale(2.0), *model)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    s_small = zen_score(small, digits.input_shape, CPU, generator=g(), reinit=False)
    s_big = zen_score(big, digits.input_shape, CPU, generator=g(), reinit=False)
    assert s_big - s_small == pytest.approx(math.log(4.0), abs=0.05)


def test_synflow_ignores_batch_norm_and_uses_absolute_weights(digits):
    from snas_plugins.evaluators.synflow import synflow_sum

    torch.manual_seed(0)
    with_bn = ToyFamily().build(toy(), digits.input_shape, 10)
    without = nn.Sequential(*[m if not isinstance(m, nn.BatchNorm2d) else nn.Identity() for m in with_bn])
    flipped = ToyFamily().build(toy(), digits.input_shape, 10)
    flipped.load_state_dict(with_bn.state_dict())
    with torch.no_grad():
        for p in flipped.parameters():
            p.neg_()
    a = synflow_sum(with_bn, digits.input_shape, CPU)
    assert a > 0
    assert synflow_sum(without, digits.input_shape, CPU) == pytest.approx(a, rel=1e-9)
    assert synflow_sum(flipped, digits.input_shape, CPU) == pytest.approx(a, rel=1e-9)


# -- pre-screening in the engine ----------------------------------------------------------


def test_keep_count():
    assert keep_count(8, 0.25) == 2
    assert keep_count(10, 0.25) == 3
    assert keep_count(3, 0.25) == 1
    assert keep_count(1, 0.25) == 1
    assert keep_count(4, 1.0) == 4


@pytest.mark.slow
def test_prescreening_trains_only_the_kept_fraction():
    import snas

    result = snas.search(
        "digits", "random", max_trials=4, seed=0, run_dir="run", network_types=["mlp"],
        evaluator_options={"max_epochs": 1, "full_metrics": False},
        config={"prescreen": "synflow", "prescreen_keep": 0.25}, device="cpu",
    )
    trials = result.trials
    assert len(trials) == 16  # four groups of 1 / 0.25 proposals, one kept of each
    trained = [t for t in trials if t.status != "pruned"]
    pruned = [t for t in trials if t.status == "pruned"]
    assert len(trained) == 4 and len(pruned) == 12
    assert all(t.ok for t in trained)
    for t in pruned:
        assert t.score is None and t.metrics["prescreen_proxy"] == "synflow"
        assert math.isfinite(t.metrics["prescreen_score"]) and "pruned by synflow" in t.error
    for batch in (trials[0:4], trials[4:8], trials[8:12], trials[12:16]):
        kept = [t for t in batch if t.status != "pruned"]
        dropped = [t for t in batch if t.status == "pruned"]
        assert len(kept) == 1
        assert all(t.meta["prescreen"]["kept"] for t in kept)
        assert min(t.meta["prescreen"]["score"] for t in kept) >= max(t.metrics["prescreen_score"] for t in dropped)
    assert result.best is not None and result.best.status == "ok"
    reloaded = snas.load_run(result.path)
    assert sum(t.status == "pruned" for t in reloaded.trials) == 12


def test_prescreen_options_are_validated():
    from snas import ConfigError, RunConfig

    with pytest.raises(ConfigError, match="prescreen_keep"):
        RunConfig.from_dict({"prescreen": "zen", "prescreen_keep": 1.5})
