"""Pruners: the median and successive-halving rules, and pruning through the engine."""

from __future__ import annotations

import pytest

import snas
from snas import Architecture, Trial, TrialContext
from snas.runtime.trial import running
from snas_plugins.pruners.asha import ASHAOptions, ASHAPruner
from snas_plugins.pruners.median import MedianOptions, MedianPruner

from test_engine import nb201_search, signature


def _trial(i: int, curve: list[float], status: str = "ok") -> Trial:
    return Trial(i, Architecture("mlp", {"w": i}), status, curve[-1], curves={"val_acc": curve})


def test_median_prunes_below_the_median_of_finished_trials_after_startup():
    pruner = MedianPruner(MedianOptions(n_startup_trials=3, n_warmup_steps=1))
    pruner.tell(_trial(0, [0.2, 0.4, 0.5]))
    pruner.tell(_trial(1, [0.3, 0.5, 0.6]))
    assert pruner.rule() is None  # still starting up: nobody is pruned
    pruner.tell(_trial(2, [0.1, 0.6, 0.2]))  # the running best counts: 0.1, 0.6, 0.6
    pruner.tell(_trial(3, [0.9], status="failed"))  # only finished trials count
    rule = pruner.rule()
    assert rule == [0.2, 0.5, 0.6]
    assert not pruner.prune(rule, 1, 0.0)  # warm-up step
    assert pruner.prune(rule, 2, 0.49) and not pruner.prune(rule, 2, 0.5)
    assert not pruner.prune(rule, 4, 0.0)  # no finished trial got that far


def test_asha_keeps_the_top_fraction_at_each_rung():
    pruner = ASHAPruner(ASHAOptions(min_steps=1, reduction_factor=2))
    assert pruner.rungs(9) == [1, 2, 4, 8]
    for i, first in enumerate([0.1, 0.2, 0.3, 0.4]):
        pruner.tell(_trial(i, [first, first + 0.1], status="pruned" if i == 0 else "ok"))
    rule = pruner.rule()
    assert rule == {"1": 0.3, "2": 0.4}  # the median (1 - 1/2 quantile, lower) of what reached each rung
    assert pruner.prune(rule, 1, 0.29) and not pruner.prune(rule, 1, 0.3)
    assert not pruner.prune(rule, 3, 0.0)  # not a rung


def test_minimizing_pruners_turn_the_metric_around():
    pruner = MedianPruner(MedianOptions(n_startup_trials=1, n_warmup_steps=0, metric="val_loss", maximize=False))
    pruner.tell(Trial(0, Architecture("mlp", {}), "ok", 0.5, curves={"val_loss": [2.0, 1.0]}))
    rule = pruner.rule()
    assert pruner.prune(rule, 2, 1.5) and not pruner.prune(rule, 2, 0.5)


def test_a_trial_learns_it_is_pruned_from_its_own_report():
    pruner = ASHAPruner(ASHAOptions(min_steps=1, reduction_factor=2))
    context = TrialContext(0, pruner=pruner, rule={"1": 0.5})
    with running(context):
        trial = snas.current_trial()
        trial.report("training", step=1, total=3, val_acc=0.6)
        assert trial.should_stop() is None
    context = TrialContext(1, pruner=pruner, rule={"2": 0.5})
    with running(context):
        snas.current_trial().report("training", step=1, total=3, val_acc=0.9)  # the best so far counts
        snas.current_trial().report("training", step=2, total=3, val_acc=0.1)
        assert snas.current_trial().should_stop() is None
    context = TrialContext(2, pruner=pruner, rule={"2": 0.5})
    with running(context):
        snas.current_trial().report("training", step=2, total=3, val_acc=0.4)
        assert snas.current_trial().should_stop() == "pruned"


def test_pruning_through_the_engine_stops_trials_and_keeps_their_curves(tmp_path):
    result = nb201_search(tmp_path, "pruned", "random", max_trials=30, evaluator_options={"sleep_seconds": 0.02},
                          config={"pruner": "asha", "pruner_options": {"min_steps": 1, "reduction_factor": 2}})
    pruned = [t for t in result.trials if t.status == "pruned"]
    assert len(result.trials) == 30 and 5 <= len(pruned) < 30
    assert all(0 < len(t.curves["val_acc"]) < 4 for t in pruned)  # stopped before the last of 4 steps
    assert result.best.status == "ok"
    ok = [t for t in result.trials if t.status == "ok"]
    assert sum(len(t.curves["val_acc"]) for t in ok + pruned) < 4 * 30  # less work than without pruning
    again = nb201_search(tmp_path, "again", "random", max_trials=30, evaluator_options={"sleep_seconds": 0.02},
                         config={"pruner": "asha", "pruner_options": {"min_steps": 1, "reduction_factor": 2}})
    assert signature(again) == signature(result)


@pytest.mark.slow
def test_pruning_is_the_same_on_two_workers(tmp_path):
    kwargs = dict(max_trials=20, evaluator_options={"sleep_seconds": 0.05},
                  config={"pruner": "median", "pruner_options": {"n_startup_trials": 3}, "max_in_flight": 2})
    inline = nb201_search(tmp_path, "inline", "random", **kwargs)
    pooled = nb201_search(tmp_path, "pool", "random", executor="process", num_workers=2, **kwargs)
    assert signature(inline) == signature(pooled)
    assert any(t.status == "pruned" for t in inline.trials)
