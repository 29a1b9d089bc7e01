"""The engine end to end: results, failures, cache, budgets, the window, stops, determinism."""

from __future__ import annotations

import math
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import snas
from conftest import real_data
from snas import Architecture, BatchStrategy, Choice, NetworkFamily, Proposal, SearchSpace, hookimpl
from snas.runtime.engine import FINAL_TRAINING_MAX_FACTOR


def nb201_table() -> Path:
    """The NAS-Bench-201 table under $SNAS_TEST_DATA (default ../shared/data); skip, or fail under CI, if absent."""
    return real_data("nb201/nb201.csv.gz")


def nb201_search(tmp_path: Path, name: str, strategy: str = "random", max_trials: int = 30, **kwargs):
    """A search of table lookups: fast, and the same numbers on every executor."""
    table = str(nb201_table())
    evaluator_options = {"table_path": table, **kwargs.pop("evaluator_options", {})}
    return snas.search("nb201_table", strategy, max_trials=max_trials, seed=kwargs.pop("seed", 3),
                       run_dir=tmp_path / name, evaluator="nb201", network_types=["nb201"],
                       evaluator_options=evaluator_options, dataset_options={"dataset": "cifar10"},
                       config={"max_complexity": 3, **kwargs.pop("config", {})}, **kwargs)


def signature(result) -> list[tuple]:
    return [(t.trial_id, t.fingerprint, t.status, t.score, t.cached_from) for t in result.trials]


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


class Scripted(BatchStrategy):
    """Proposes a fixed list of (width, protocol) batches, for engine tests."""

    name = "scripted"
    batches: list = []

    def __init__(self, space, options, rng):
        super().__init__(space, options, rng)
        self.step = 0
        self.told = []

    def ask_batch(self):
        if self.step >= len(self.batches):
            return []
        return [Proposal(Architecture("flaky", {"width": w, "learning_rate": 0.01, "optimizer": "adam"}), protocol=p)
                for w, p in self.batches[self.step]]

    def tell_batch(self, trials):
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
    kwargs.setdefault("evaluator_options", {"max_epochs": 2, "patience": None})
    return snas.search(strategy="scripted", network_types=["flaky"], run_dir=tmp_path / "run", **kwargs)


@pytest.mark.slow
def test_default_search_on_digits_finds_an_accurate_model(tmp_path):
    result = snas.search(max_trials=8, seed=0, run_dir=tmp_path / "run",
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
    assert [t.trial_id for t in again.front] == [best.trial_id]  # one objective: the front is the best


def test_failures_are_recorded_and_the_search_goes_on(tmp_path, test_plugins):
    result = _run(tmp_path, [[(13, "full"), (0, "full"), (32, "full")]])
    by_width = {t.arch["width"]: t for t in result.trials}
    assert by_width[13].status == "failed" and "width 13 is unlucky" in by_width[13].error
    assert by_width[0].status == "failed" and "diverged" in by_width[0].error
    assert by_width[32].status == "ok" and result.best.trial_id == by_width[32].trial_id
    assert result.status == "finished"


def test_identical_architectures_are_trained_once(tmp_path, test_plugins):
    result = _run(tmp_path, [[(32, "full"), (64, "full")], [(32, "full"), (64, "full")]], max_trials=3)
    assert [t.cached_from for t in result.trials] == [None, None, 0, 1]
    assert result.trials[2].score == result.trials[0].score
    assert result.status == "finished"  # cache hits do not use up the trial budget


class Clocked(snas.Evaluator):
    """A test evaluator: an architecture's first evaluation ends as ``ended``, later ones finish at 0.9."""

    name = "clocked"
    ended: tuple[str, dict] = ("ok", {})
    seen: set = set()

    def evaluate(self, arch, family, data, *, seed, device, protocol="full"):
        if arch.fingerprint in self.seen:
            return snas.TrialResult(score=0.9, metrics={"stopped_by": "max_epochs"}, duration=0.01)
        self.seen.add(arch.fingerprint)
        status, metrics = self.ended
        return snas.TrialResult(status=status, score=0.5, metrics=metrics, duration=0.01)


class ClockedPlugin:
    @hookimpl
    def snas_register_evaluators(self):
        return [Clocked]


@pytest.mark.parametrize("ended", [("ok", {"stopped_by": "deadline"}), ("cut_short", {})],
                         ids=["finished-early-at-the-deadline", "cut-short"])
def test_a_result_the_clock_ended_is_trained_again_not_answered_from_the_cache(tmp_path, test_plugins, ended):
    Clocked.ended, Clocked.seen = ended, set()
    name = test_plugins.register(ClockedPlugin(), name="clocked-evaluator")
    try:
        result = _run(tmp_path, [[(32, "full")], [(32, "full")], [(32, "full")]], evaluator="clocked",
                      evaluator_options={})
    finally:
        test_plugins.unregister(name=name)
    assert [(t.status, t.score, t.cached_from) for t in result.trials] == [
        (ended[0], 0.5, None), ("ok", 0.9, None), ("ok", 0.9, 1)]  # trained again once, then cached
    assert result.best.trial_id == 1


def test_a_twin_of_a_trial_in_flight_waits_for_its_result(tmp_path, test_plugins):
    # with a window of 3, the second 32 is proposed while the first is still queued or running
    result = _run(tmp_path, [[(32, "full"), (32, "full"), (64, "full")]], config={"max_in_flight": 3})
    assert [t.cached_from for t in result.trials] == [None, 0, None]
    assert result.trials[1].score == result.trials[0].score
    assert sum(t.duration > 0 for t in result.trials) == 2  # trained twice, not three times


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

    result = _run(tmp_path, [[(32, "full"), (64, "full"), (13, "full")]], observers=[StopAfterTwo()],
                  config={"max_in_flight": 3})
    assert result.status == "interrupted" and len(result.trials) == 2
    assert [p.trial_id for p in result.pending] == [2]  # proposed, not run: resume runs it
    resumed = snas.resume(tmp_path / "run" / "run.h5")
    assert resumed.status == "finished"
    assert [t.trial_id for t in resumed.trials] == [0, 1, 2]
    assert resumed.trials[2].status == "failed" and not resumed.pending


def test_time_budget_stops_the_run(tmp_path, test_plugins):
    class SlowTrials:
        @hookimpl
        def snas_trial_finished(self, run, trial):
            time.sleep(3.0)  # stands in for a long training run

    # the budget counts loading the data too; four trials would need over 12 s
    result = _run(tmp_path, [[(32, "full")], [(64, "full")], [(0, "full")], [(13, "full")]], time_budget=8.0,
                  observers=[SlowTrials()])
    assert result.status == "budget_exhausted"
    assert 1 <= len(result.trials) < 4


def test_a_trial_running_at_the_deadline_is_cut_short(tmp_path):
    result = nb201_search(tmp_path, "cut", max_trials=50, time_budget=6.0, evaluator_options={"sleep_seconds": 1.0})
    assert result.status == "budget_exhausted"
    last = result.trials[-1]
    assert last.status == "cut_short" and last.score is None and len(last.curves["val_acc"]) < 4
    assert all(t.status == "ok" for t in result.trials[:-1]) and result.best.status == "ok"
    # a table lookup cannot train longer: no time is kept for a final training
    assert not any(t.meta.get("final") for t in result.trials)


@pytest.mark.slow
def test_the_time_kept_at_the_end_trains_the_best_architecture_again_for_longer(tmp_path, test_plugins):
    # the search (a few seconds) ends long before its half of the budget
    result = _run(tmp_path, [[(32, "full"), (64, "full")], [(0, "full")]], time_budget=16.0, final_training=0.5)
    search = [t for t in result.trials if not t.meta.get("final")]
    final = [t for t in result.trials if t.meta.get("final")]
    assert [t.status for t in search] == ["ok", "ok", "failed"]
    source = max(search, key=lambda t: t.rank())
    assert len(final) == 1  # one executor slot: one architecture trained again
    extended = final[0]
    assert extended.protocol == snas.EXTENDED and extended.arch == source.arch and extended.cached_from is None
    assert extended.meta["extends"] == source.trial_id and source.metrics["epochs"] == 2
    # the time left would allow hundreds of epochs of this small network: capped at ten times its protocol's
    assert extended.meta["epochs"] == FINAL_TRAINING_MAX_FACTOR * 2
    assert extended.started >= max(t.started + t.duration for t in search)
    assert extended.status == "ok" and extended.metrics["epochs"] == extended.meta["epochs"]
    assert extended.curves["lr"][-1] < extended.curves["lr"][0] / 10  # annealed
    assert result.best is max(result.trials, key=lambda t: (t.rank(), -t.trial_id))


def test_without_a_final_training_the_search_has_the_whole_budget(tmp_path, test_plugins):
    result = _run(tmp_path, [[(32, "full")], [(64, "full")]], time_budget=8.0, final_training=0)
    assert [t.status for t in result.trials] == ["ok", "ok"] and not result.pending
    assert result.best.protocol == "full"


def test_bad_options_fail_before_anything_runs(tmp_path):
    with pytest.raises(snas.ConfigError, match="unknown option.*populaton_size.*population_size"):
        snas.search(strategy_options={"populaton_size": 3}, run_dir=tmp_path / "r")
    with pytest.raises(snas.ConfigError, match="population_size"):
        snas.search(strategy_options={"population_size": "many"}, run_dir=tmp_path / "r")
    with pytest.raises(snas.UnknownPluginError, match="unknown family 'transformer'"):
        snas.search(network_types=["transformer"], run_dir=tmp_path / "r")
    with pytest.raises(snas.ConfigError, match="objective"):
        snas.search(config={"objectives": ["params:smallest"]}, run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_asking_for_a_gpu_that_is_not_there_fails_before_anything_runs(tmp_path):
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last device, on any machine
    with pytest.raises(snas.ConfigError, match="CUDA is not available|only .* CUDA device"):
        snas.search(device=missing, run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_complexity_cap_defaults_to_the_level_the_families_need(tmp_path, manager):
    from snas.runtime.planning import plan_run
    from snas.runtime.engine import Engine

    def cap(**kwargs):
        engine = Engine(plan_run({"run_name": "x", **kwargs}, manager), manager)
        engine._build()
        return engine.space.max_level

    assert cap() == 1  # cnn, mlp
    assert cap(network_types=["resnet"]) == 2
    assert cap(network_types=["mlp", "vit"]) == 3
    assert cap(network_types=["cnn"], max_complexity=3) == 3
    with pytest.raises(snas.InvalidArchitecture, match="available at complexity level 1"):
        cap(network_types=["resnet"], max_complexity=1)


# -- the window and determinism ----------------------------------------------------


@pytest.mark.slow
def test_proposals_depend_on_the_window_not_on_the_executor(tmp_path):
    """The same seed and window give the same trials inline and on two worker processes."""
    for strategy, options in (("random", {}), ("evolutionary", {"aging": True, "population_size": 8,
                                                                "generations": 40, "single_mutation": True})):
        inline = nb201_search(tmp_path, f"{strategy}-inline", strategy, max_trials=24, strategy_options=options,
                              config={"max_in_flight": 3})
        pooled = nb201_search(tmp_path, f"{strategy}-pool", strategy, max_trials=24, strategy_options=options,
                              executor="process", num_workers=2, config={"max_in_flight": 3},
                              evaluator_options={"sleep_seconds": 0.01})
        assert signature(inline) == signature(pooled)
        assert inline.best.trial_id == pooled.best.trial_id
        narrow = nb201_search(tmp_path, f"{strategy}-narrow", strategy, max_trials=24, strategy_options=options)
        if strategy == "evolutionary":  # a narrower window lets children see more results: other trials
            assert signature(narrow) != signature(inline)


@pytest.mark.slow
def test_real_training_is_identical_inline_and_on_two_workers(tmp_path):
    kwargs = dict(network_types=["mlp"], max_trials=6, seed=11, strategy_options={"aging": True, "population_size": 3},
                  evaluator_options={"max_epochs": 3, "patience": None, "full_metrics": False},
                  config={"max_in_flight": 2, "threads_per_trial": 1})
    inline = snas.search(run_dir=tmp_path / "inline", **kwargs)
    pooled = snas.search(run_dir=tmp_path / "pool", executor="process", num_workers=2, **kwargs)
    assert signature(inline) == signature(pooled)
    assert [t.metrics["test_accuracy"] for t in inline.trials] == [t.metrics["test_accuracy"] for t in pooled.trials]


def test_progress_inside_trials_reaches_observers(tmp_path):
    reports = []

    class Watch:
        @hookimpl
        def snas_trial_progress(self, run, progress):
            reports.append((progress.trial_id, progress.step, progress.total, progress.trial_id in run.in_flight))

    nb201_search(tmp_path, "inline", "random", max_trials=2, evaluator_options={"sleep_seconds": 0.04},
                 observers=[Watch()])
    assert sorted(reports) == [(t, s, 4, True) for t in (0, 1) for s in (1, 2, 3, 4)]


@pytest.mark.slow
def test_two_workers_keep_two_trials_in_flight_and_relay_their_progress(tmp_path):
    in_flight, reports = [], []

    class Watch:
        @hookimpl
        def snas_trial_started(self, run, trial):
            in_flight.append(len(run.in_flight))

        @hookimpl
        def snas_trial_progress(self, run, progress):
            reports.append((progress.trial_id, progress.step, progress.total, progress.trial_id in run.in_flight))

    nb201_search(tmp_path, "busy", "random", max_trials=6, executor="process", num_workers=2,
                 evaluator_options={"sleep_seconds": 0.2}, observers=[Watch()])
    assert max(in_flight) == 2
    assert sorted(reports) == [(t, s, 4, True) for t in range(6) for s in (1, 2, 3, 4)]


# -- stopping from outside -------------------------------------------------------------


@pytest.mark.slow
def test_stop_event_from_another_thread_keeps_finished_trials_and_resume_goes_on(tmp_path):
    stop = threading.Event()

    class StopAfterThree:
        @hookimpl
        def snas_trial_started(self, run, trial):
            # the engine waits in this hook, so the trial just started is still in flight when the stop lands
            if len(run.trials) >= 3 and not stop.is_set():
                setter = threading.Thread(target=stop.set)
                setter.start()
                setter.join()

    options = {"aging": True, "population_size": 6, "generations": 30, "single_mutation": True}
    stopped = nb201_search(tmp_path, "stopped", "evolutionary", max_trials=16, strategy_options=options, stop=stop,
                           executor="process", num_workers=2, config={"max_in_flight": 2},
                           evaluator_options={"sleep_seconds": 0.2}, observers=[StopAfterThree()])
    assert stopped.status == "interrupted" and 3 <= len(stopped.trials) < 16
    finished = {t.trial_id for t in stopped.trials}
    assert stopped.pending and all(p.trial_id not in finished for p in stopped.pending)
    resumed = snas.resume(tmp_path / "stopped")
    whole = nb201_search(tmp_path, "whole", "evolutionary", max_trials=16, strategy_options=options,
                         config={"max_in_flight": 2})
    assert signature(resumed) == signature(whole)


# -- the run file ------------------------------------------------------------------------


def test_the_run_folder_grows_linearly(tmp_path):
    result = nb201_search(tmp_path, "big", "random", max_trials=600)
    folder = tmp_path / "big"
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert len(result.trials) == 600
    assert size / 600 < 5000, f"{size / 600:.0f} bytes per trial"


def test_resume_of_a_finished_run_with_a_larger_budget_goes_on(tmp_path):
    first = nb201_search(tmp_path, "grow", "random", max_trials=10)
    more = snas.resume(tmp_path / "grow", max_trials=15)
    whole = nb201_search(tmp_path, "whole", "random", max_trials=15)
    assert len(first.trials) == 10 and signature(more) == signature(whole)


@pytest.mark.slow
def test_a_search_that_reaches_the_final_share_with_too_few_trials_keeps_the_whole_budget(tmp_path):
    budget, share = 10.0, 0.4
    passed = {}

    class SlowSecondTrial:
        @hookimpl
        def snas_trial_finished(self, run, trial):
            if len(run.trials) == 2:  # the search reaches its 60% with two trials: too few to choose from
                while run.elapsed() < budget * (1 - share) + 0.5:
                    time.sleep(0.05)
                passed["at"] = time.time()

    result = snas.search(strategy="random", network_types=["mlp"], seed=0, final_training=share, max_trials=1000,
                         time_budget=budget, run_dir=tmp_path / "run", observers=[SlowSecondTrial()],
                         config={"max_in_flight": 1},  # the third trial is proposed after the engine saw the second
                         evaluator_options={"max_epochs": 2, "full_metrics": False})
    assert result.status == "budget_exhausted"
    # once past its share with too few trials, the search keeps the whole budget for the rest of the run, though
    # the best of its later trials would fit the share: no final training, and search trials after the 60%
    assert not [t for t in result.trials if t.meta.get("final") or t.protocol == snas.EXTENDED]
    later = [t for t in result.trials if t.started >= passed["at"]]
    assert sum(t.ok for t in result.trials) >= 3 and any(t.ok for t in later)
    assert all(t.protocol == "full" for t in later)


@pytest.mark.slow
def test_a_time_budgeted_run_resumed_with_more_time_searches_on_and_trains_its_best_again(tmp_path):
    options = dict(strategy="random", network_types=["mlp"], seed=0, final_training=0.4, max_trials=1000,
                   evaluator_options={"max_epochs": 2, "full_metrics": False})
    first = snas.search(time_budget=10.0, run_dir=tmp_path / "run", **options)
    final = [t for t in first.trials if t.protocol == snas.EXTENDED]
    assert len(final) == 1 and first.status == "budget_exhausted"
    more = snas.resume(tmp_path / "run", time_budget=20.0)
    ids = [t.trial_id for t in more.trials]
    assert len(ids) == len(set(ids)) and {t.trial_id for t in first.trials} <= set(ids)
    later = [t for t in more.trials if t.trial_id > final[0].trial_id]
    searched = [t for t in later if not t.meta.get("final")]
    assert searched, "the search went on after the first session's final training"
    # the strategy was told only search trials: every later search trial is a new architecture
    assert not {t.fingerprint for t in searched} & {t.fingerprint for t in first.trials if not t.meta.get("final")}
    extended = [t for t in more.trials if t.protocol == snas.EXTENDED]
    assert len(extended) in (1, 2) and all(t.meta["extends"] != t.trial_id for t in extended)
    if len(extended) == 2:  # a second final training, after the new search trials
        assert extended[1].trial_id > max(t.trial_id for t in searched)


def test_a_run_cut_right_after_any_snapshot_resumes_as_the_uninterrupted_run(tmp_path, monkeypatch):
    """A snapshot's counters must agree with the strategy state it holds, whatever call preceded it."""
    monkeypatch.setattr("snas.runtime.engine.EXPENSIVE_CALL", 0.0)  # every strategy call is followed by one
    first_checkpoint = tmp_path / "first.h5"

    class KeepFirstCheckpoint:
        @hookimpl
        def snas_trial_finished(self, run, trial):
            if not first_checkpoint.exists():
                shutil.copy(tmp_path / "whole" / "run.h5", first_checkpoint)

    expected = signature(nb201_search(
        tmp_path, "whole", strategy="evolutionary", max_trials=14, observers=[KeepFirstCheckpoint()],
        strategy_options={"population_size": 4, "generations": 4, "elite_size": 1},
        config={"checkpoint_frequency": 1000, "max_complexity": 3}))  # checkpoints: the first, the last
    assert snas.load_run(first_checkpoint).status == "running"
    lines = (tmp_path / "whole" / "journal.jsonl").read_bytes().splitlines(keepends=True)
    cuts = [i + 1 for i, line in enumerate(lines) if b'"kind":"snapshot"' in line]
    assert len(cuts) > 3
    for cut in cuts[::2]:
        folder = tmp_path / f"cut{cut}"
        folder.mkdir()
        shutil.copy(first_checkpoint, folder / "run.h5")
        (folder / "journal.jsonl").write_bytes(b"".join(lines[:cut]))
        assert signature(snas.resume(folder)) == expected, f"cut after journal line {cut}"
