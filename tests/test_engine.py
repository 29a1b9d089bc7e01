"""The engine end to end on real data: results, failures, cache, budgets, stops."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch
from torch import nn

import snas
from snas import Architecture, Choice, NetworkFamily, Proposal, SearchSpace, Strategy, hookimpl


class Flaky(NetworkFamily):
    """A test family: width 13 raises while building, width 0 diverges (NaN loss)."""

    name = "flaky"

    def space(self):
        return SearchSpace(self.name, [Choice("width", (0, 13, 32, 64)), Choice("learning_rate", (0.01,)),
                                       Choice("optimizer", ("adam",))])

    def build(self, arch, input_shape, num_classes):
        if arch["width"] == 13:
            raise ValueError("width 13 is unlucky")
        if arch["width"] == 0:
            return NaNNet(num_classes)
        return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), arch["width"]), nn.ReLU(),
                             nn.Linear(arch["width"], num_classes))


class NaNNet(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.n = num_classes

    def forward(self, x):
        return torch.full((x.shape[0], self.n), float("nan")) * self.w


class Scripted(Strategy):
    """Proposes a fixed list of (width, protocol) batches, for engine tests."""

    name = "scripted"
    batches: list = []

    def __init__(self, space, options, rng):
        super().__init__(space, options, rng)
        self.step = 0
        self.told = []

    def ask(self):
        if self.step >= len(self.batches):
            return []
        return [Proposal(Architecture("flaky", {"width": w, "learning_rate": 0.01, "optimizer": "adam"}), protocol=p)
                for w, p in self.batches[self.step]]

    def tell(self, trials):
        self.told.append([(t.trial_id, t.status) for t in trials])
        self.step += 1

    def state_dict(self):
        return {**super().state_dict(), "step": self.step}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.step = state["step"]


class TestPlugin:
    @hookimpl
    def snas_register_families(self):
        return [Flaky]

    @hookimpl
    def snas_register_strategies(self):
        return [Scripted]


@pytest.fixture
def test_plugins(manager):
    name = manager.register(TestPlugin(), name="engine-test-plugins")
    yield manager
    manager.unregister(name=name)


def _run(tmp_path, batches, **kwargs):
    Scripted.batches = batches
    return snas.search(strategy="scripted", network_types=["flaky"], run_dir=tmp_path / "run",
                       evaluator_options={"max_epochs": 2, "patience": None}, **kwargs)


@pytest.mark.slow
def test_default_search_on_digits_finds_an_accurate_model(tmp_path):
    result = snas.search(budget=8, seed=0, run_dir=tmp_path / "run",
                         strategy_options={"population_size": 4, "generations": 3},
                         evaluator_options={"max_epochs": 10})
    assert result.status == "budget_exhausted"
    assert len(result.trials) == 8 and all(t.status == "ok" for t in result.trials)
    best = result.best
    assert best.score == max(t.score for t in result.trials)
    assert best.metrics["test_accuracy"] >= 0.9
    assert best.metrics["params"] > 0 and best.metrics["flops"] > 0
    assert len(best.curves["val_acc"]) == best.metrics["epochs"]
    # the trained winner comes back from the run file and scores what the run recorded
    model = result.best_model()
    data = snas.get_plugin_manager().get_dataset("digits")
    bundle = data(data.Options()).load(seed=0)
    with torch.no_grad():
        accuracy = (model(bundle.test.x).argmax(1) == bundle.test.y).float().mean().item()
    assert math.isclose(accuracy, best.metrics["test_accuracy"], abs_tol=1e-6)
    saved = Architecture.from_json((tmp_path / "run" / "best_architecture.json").read_text())
    assert saved == best.arch
    again = snas.load_run(tmp_path / "run" / "run.h5")
    assert [t.fingerprint for t in again.trials] == [t.fingerprint for t in result.trials]
    assert again.generations and again.generations[0]["trials"] == [0, 1, 2, 3]


def test_failures_are_recorded_and_the_search_goes_on(tmp_path, test_plugins):
    result = _run(tmp_path, [[(13, "full"), (0, "full"), (32, "full")]])
    by_width = {t.arch["width"]: t for t in result.trials}
    assert by_width[13].status == "failed" and "width 13 is unlucky" in by_width[13].error
    assert by_width[0].status == "failed" and "diverged" in by_width[0].error
    assert by_width[32].status == "ok" and result.best.trial_id == by_width[32].trial_id
    assert result.status == "finished"


def test_identical_architectures_are_trained_once(tmp_path, test_plugins):
    result = _run(tmp_path, [[(32, "full"), (64, "full")], [(32, "full"), (64, "full")]], budget=3)
    assert [t.cached_from for t in result.trials] == [None, None, 0, 1]
    assert result.trials[2].score == result.trials[0].score
    assert result.status == "finished"  # cache hits do not use up the trial budget


def test_fast_protocol_winners_are_retrained_in_full(tmp_path, test_plugins):
    result = _run(tmp_path, [[(32, "fast"), (64, "fast"), (0, "fast")]], config={"retrain_top": 2})
    fast = [t for t in result.trials if t.protocol == "fast"]
    full = [t for t in result.trials if t.protocol == "full"]
    assert len(fast) == 3 and len(full) == 2
    assert {t.meta["retrain_of"] for t in full} == {t.trial_id for t in fast if t.ok}
    assert result.best.protocol == "full"


def test_interrupt_keeps_finished_trials_and_resume_completes(tmp_path, test_plugins):
    class StopAfterTwo:
        count = 0

        @hookimpl
        def snas_trial_finished(self, run, trial):
            StopAfterTwo.count += 1
            if StopAfterTwo.count == 2:
                raise KeyboardInterrupt

    result = _run(tmp_path, [[(32, "full"), (64, "full"), (13, "full")]], observers=[StopAfterTwo()])
    assert result.status == "interrupted" and len(result.trials) == 2
    resumed = snas.resume(tmp_path / "run" / "run.h5")
    assert resumed.status == "finished"
    assert [t.trial_id for t in resumed.trials] == [0, 1, 2]
    assert resumed.trials[2].status == "failed"


def test_time_budget_stops_the_run(tmp_path, test_plugins):
    class SlowTrials:
        @hookimpl
        def snas_trial_finished(self, run, trial):
            time.sleep(0.3)  # stands in for a long training run

    result = _run(tmp_path, [[(32, "full")], [(64, "full")], [(0, "full")], [(13, "full")]], time_budget=0.5,
                  observers=[SlowTrials()])
    assert result.status == "budget_exhausted"
    assert 1 <= len(result.trials) < 4


def test_bad_options_fail_before_anything_runs(tmp_path):
    with pytest.raises(snas.ConfigError, match="unknown option.*populaton_size.*population_size"):
        snas.search(strategy_options={"populaton_size": 3}, run_dir=tmp_path / "r")
    with pytest.raises(snas.ConfigError, match="population_size"):
        snas.search(strategy_options={"population_size": "many"}, run_dir=tmp_path / "r")
    with pytest.raises(snas.UnknownPluginError, match="unknown family 'transformer'"):
        snas.search(network_types=["transformer"], run_dir=tmp_path / "r")
    with pytest.raises(snas.ConfigError, match="CUDA is not available|cuda"):
        if torch.cuda.is_available():
            raise snas.ConfigError("cuda present: nothing to check")
        snas.search(device="cuda:0", run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_complexity_cap_defaults_to_the_level_the_families_need(tmp_path, manager):
    from snas.config import RunConfig
    from snas.engine import Engine

    def cap(**kwargs):
        engine = Engine(RunConfig.from_dict({"run_name": "x", **kwargs}), manager)
        engine._build()
        return engine.space.max_level

    assert cap() == 1  # cnn, mlp
    assert cap(network_types=["resnet"]) == 2
    assert cap(network_types=["mlp", "vit"]) == 3
    assert cap(network_types=["cnn"], max_complexity=3) == 3
    with pytest.raises(snas.InvalidArchitecture, match="available at complexity level 1"):
        cap(network_types=["resnet"], max_complexity=1)
