"""The training protocol: optimizers, early stopping semantics, divergence, out-of-memory, fast mode."""

from __future__ import annotations

import gc
import math
import time
import weakref

import pytest
import torch
from torch import nn

import snas
from snas import Architecture, Choice, NetworkFamily, SearchSpace, TrialContext
from snas.runtime import trial
from snas_plugins.evaluators.train import EarlyStopping, Train, TrainOptions, make_optimizer

CPU = torch.device("cpu")
MLP = {"num_layers": 1, "hidden_units": [64], "activation": "relu", "use_batch_norm": False, "dropout": 0.0,
       "learning_rate": 0.01, "optimizer": "adam"}


class ToyFamily(NetworkFamily):
    """A linear classifier whose forward can be made to misbehave; counts training forward passes."""

    name = "toy"

    def __init__(self, mode: str = "ok"):
        self.mode = mode
        self.train_calls = 0
        self.last_model: weakref.ref | None = None

    def space(self) -> SearchSpace:
        return SearchSpace(family="toy", parameters=[Choice("learning_rate", (0.01,)), Choice("optimizer", ("sgd",))])

    def build(self, arch, input_shape, num_classes):
        family = self

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(math.prod(input_shape), num_classes)
                self.big = torch.zeros(256, 256)  # something whose release we can observe

            def forward(self, x):
                out = self.fc(x.flatten(1))
                if self.training:
                    family.train_calls += 1
                    if family.mode == "nan":
                        return out * float("nan")
                    if family.mode == "inf":
                        return out * float("inf")
                    if family.mode == "oom":
                        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
                return out

        model = Net()
        self.last_model = weakref.ref(model)
        return model


def toy_arch() -> Architecture:
    return Architecture("toy", {"learning_rate": 0.01, "optimizer": "sgd"})


# -- optimizers ---------------------------------------------------------------


@pytest.mark.parametrize("name,cls", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_optimizer_uses_the_architectures_learning_rate(name, cls):
    opt = make_optimizer(name, nn.Linear(2, 2).parameters(), 0.123, 0.0)
    assert isinstance(opt, cls)
    assert opt.param_groups[0]["lr"] == 0.123
    if name == "sgd":
        assert opt.param_groups[0]["momentum"] > 0


def test_unknown_optimizer_is_named():
    with pytest.raises(ValueError, match="rmsprop"):
        make_optimizer("rmsprop", nn.Linear(2, 2).parameters(), 0.1, 0.0)


def test_gradient_clipping_is_on_by_default():
    assert TrainOptions().grad_clip is not None and TrainOptions().grad_clip > 0


# -- early stopping -------------------------------------------------------------


def test_improvement_must_exceed_min_delta_in_the_right_direction():
    acc = EarlyStopping("val_acc", patience=3, min_delta=0.01)
    model = nn.Linear(2, 2)
    acc.step(0, 0.50, model)
    assert not acc.improved(0.51)  # exactly min_delta: not larger than it
    assert acc.improved(0.5101)
    assert not acc.improved(0.40)
    loss = EarlyStopping("val_loss", patience=3, min_delta=0.1)
    loss.step(0, 1.0, model)
    assert loss.improved(0.85) and not loss.improved(0.95) and not loss.improved(1.5)


def test_patience_counts_epochs_without_improvement():
    stopper = EarlyStopping("val_loss", patience=2, min_delta=0.0)
    model = nn.Linear(2, 2)
    assert not stopper.step(0, 1.0, model)
    assert not stopper.step(1, 1.0, model)  # equal is not an improvement: 1 bad epoch
    assert stopper.step(2, 1.2, model)  # 2 bad epochs: stop
    assert stopper.best_epoch == 0 and stopper.best == 1.0
    never = EarlyStopping("val_acc", patience=None)
    assert not any(never.step(e, 0.1, model) for e in range(20))


def test_restore_changes_nothing_when_the_last_epoch_was_best():
    model = nn.Linear(3, 2)
    stopper = EarlyStopping("val_acc", patience=5)
    for epoch, value in enumerate([0.1, 0.2, 0.3]):
        with torch.no_grad():
            model.weight.add_(1.0)
        stopper.step(epoch, value, model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stopper.restore(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_restore_brings_back_the_best_epochs_weights():
    model = nn.Linear(3, 2)
    stopper = EarlyStopping("val_acc", patience=5)
    stopper.step(0, 0.9, model)
    best = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.mul_(-3.0)  # in place: a shallow copy would follow this change
        model.bias.fill_(7.0)
    stopper.step(1, 0.5, model)
    stopper.restore(model)
    assert all(torch.equal(best[k], v) for k, v in model.state_dict().items())


@pytest.mark.slow
def test_early_stopping_stops_after_patience_and_restores_the_best_epochs_weights(manager, digits):
    """SGD at a learning rate of 0.1 peaks on validation after a few epochs, then falls back."""
    arch = Architecture("mlp", {**MLP, "learning_rate": 0.1, "optimizer": "sgd"})
    family = manager.get_family("mlp")
    common = dict(grad_clip=None, full_metrics=False)
    stopped = Train(TrainOptions(max_epochs=20, patience=3, **common)).evaluate(
        arch, family, digits, seed=0, device=CPU)
    assert stopped.ok
    curve = stopped.curves["val_acc"]
    best_epoch = stopped.metrics["best_epoch"]  # counted from 1
    assert best_epoch == curve.index(max(curve)) + 1
    # it stopped three epochs (the patience) after the best one, long before max_epochs
    assert len(curve) == stopped.metrics["epochs"] == best_epoch + 3 < 20
    assert curve[-1] < max(curve)  # so restoring matters: the last epoch's weights score less
    # the returned weights, evaluated afresh, score the best epoch's accuracy
    model = family.build(arch, digits.input_shape, digits.num_classes).eval()
    model.load_state_dict(stopped.weights)
    with torch.no_grad():
        accuracy = int((model(digits.val.x).argmax(1) == digits.val.y).sum()) / len(digits.val.y)
    assert accuracy == pytest.approx(max(curve), abs=1e-12) and stopped.score == pytest.approx(max(curve))
    # and they are exactly the weights of a run that ends at the best epoch (same seed, same batches)
    until_best = Train(TrainOptions(max_epochs=best_epoch, patience=None, **common)).evaluate(
        arch, family, digits, seed=0, device=CPU)
    assert until_best.curves["val_acc"] == curve[:best_epoch]
    assert stopped.weights.keys() == until_best.weights.keys()
    assert all(torch.equal(stopped.weights[k], v) for k, v in until_best.weights.items())


# -- failures ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["nan", "inf"])
def test_non_finite_loss_fails_the_trial_at_once(digits, mode):
    family = ToyFamily(mode)
    result = Train(TrainOptions(max_epochs=5)).evaluate(toy_arch(), family, digits, seed=0, device=CPU)
    assert result.status == "failed" and result.score is None
    assert result.error.startswith("diverged") and "epoch 1, batch 1" in result.error
    assert family.train_calls == 1  # stopped on the first bad batch


def test_diverging_learning_rate_fails_the_trial(manager, digits):
    arch = Architecture("mlp", {**MLP, "learning_rate": 1e12, "optimizer": "sgd"})
    result = Train(TrainOptions(max_epochs=3, grad_clip=None)).evaluate(
        arch, manager.get_family("mlp"), digits, seed=0, device=CPU)
    assert result.status == "failed" and "diverged" in result.error


def test_out_of_memory_fails_the_trial_and_frees_the_model(digits, monkeypatch):
    family = ToyFamily("oom")
    freed_before_cache_release: list[bool] = []
    real_collect = gc.collect

    def collect(*args):
        n = real_collect(*args)
        freed_before_cache_release.append(family.last_model() is None)
        return n

    import snas_plugins.evaluators.train as train_module

    monkeypatch.setattr(train_module.gc, "collect", collect)
    result = Train(TrainOptions(max_epochs=2)).evaluate(toy_arch(), family, digits, seed=0, device=CPU)
    assert result.status == "failed" and result.error.startswith("out of memory on cpu")
    # the model was already unreachable when the trainer released memory (before the next trial)
    assert freed_before_cache_release and freed_before_cache_release[0]


# -- fast mode --------------------------------------------------------------------------


def test_fast_protocol_trains_fewer_epochs_and_batches(digits):
    family = ToyFamily()
    opts = TrainOptions(max_epochs=4, patience=None, fast_epochs=2, fast_max_batches=3, batch_size=32)
    fast = Train(opts).evaluate(toy_arch(), family, digits, seed=0, device=CPU, protocol="fast")
    assert fast.ok and family.train_calls == 2 * 3
    assert fast.metrics["protocol"] == "fast" and fast.metrics["epochs"] == 2
    assert fast.metrics["max_batches_per_epoch"] == 3
    assert "confusion_matrix" not in fast.metrics  # full metrics are for full-protocol trials

    family.train_calls = 0
    full = Train(opts).evaluate(toy_arch(), family, digits, seed=0, device=CPU, protocol="full")
    assert full.ok and family.train_calls == 4 * math.ceil(len(digits.train) / 32)
    assert full.metrics["protocol"] == "full" and full.metrics["epochs"] == 4
    assert full.metrics["max_batches_per_epoch"] is None and "confusion_matrix" in full.metrics


def test_full_metrics_can_be_switched_off(digits):
    result = Train(TrainOptions(max_epochs=1, full_metrics=False)).evaluate(
        toy_arch(), ToyFamily(), digits, seed=0, device=CPU)
    assert result.ok and "f1_macro" not in result.metrics and "test_accuracy" in result.metrics


@pytest.mark.parametrize("schedule", ["none", "cosine", "step"])
def test_learning_rate_schedule(digits, schedule):
    opts = TrainOptions(max_epochs=6, patience=None, schedule=schedule, full_metrics=False)
    result = Train(opts).evaluate(toy_arch(), ToyFamily(), digits, seed=0, device=CPU)
    lr = result.curves["lr"]
    assert len(lr) == 6 and lr[0] == pytest.approx(0.01)  # the architecture's learning rate
    if schedule == "none":
        assert lr == [pytest.approx(0.01)] * 6
    elif schedule == "cosine":
        assert all(a > b for a, b in zip(lr, lr[1:]))
        assert lr[3] == pytest.approx(0.01 * (1 + math.cos(math.pi * 3 / 6)) / 2)
    else:
        assert lr == pytest.approx([0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001])


def test_the_final_training_protocol_trains_the_epochs_it_is_sent_annealed_and_without_early_stopping(digits):
    # patience 0 would stop a full-protocol trial at its first epoch without improvement
    opts = TrainOptions(max_epochs=2, patience=0, schedule="none", full_metrics=False)
    with trial.running(TrialContext(4, inputs={"epochs": 7})):
        result = Train(opts).evaluate(toy_arch(), ToyFamily(), digits, seed=0, device=CPU, protocol=snas.EXTENDED)
    assert result.ok and result.metrics["protocol"] == snas.EXTENDED
    assert result.metrics["epochs"] == result.metrics["max_epochs"] == 7 and result.metrics["stopped_by"] == "max_epochs"
    lr = result.curves["lr"]
    assert lr[0] == pytest.approx(0.01) and all(a > b for a, b in zip(lr, lr[1:]))
    assert lr[-1] == pytest.approx(0.01 * (1 + math.cos(math.pi * 6 / 7)) / 2)  # cosine to zero over the 7 epochs
    assert "test_accuracy" in result.metrics


# -- talking to the engine ----------------------------------------------------------


class StopWith(TrialContext):
    """A trial context that answers ``status`` once ``when()`` is true (a pruner's or the deadline's answer)."""

    def __init__(self, status, when, **kwargs):
        super().__init__(7, **kwargs)
        self.status, self.when = status, when

    def should_stop(self):
        return self.status if self.when() else None


def test_a_deadline_in_the_past_cuts_the_trial_short_after_its_first_batch(digits):
    family = ToyFamily()
    context = TrialContext(3, deadline=time.time() - 1.0)
    with trial.running(context):
        result = Train(TrainOptions(max_epochs=5)).evaluate(toy_arch(), family, digits, seed=0, device=CPU)
    assert family.train_calls == 1
    assert result.status == "cut_short" and result.score is None and result.weights is None
    assert "before any epoch finished" in result.error and "epoch 1, batch 1" in result.error
    assert result.curves["val_acc"] == [] and result.metrics["epochs"] == 0
    assert "test_accuracy" not in result.metrics  # no test pass after the deadline


@pytest.mark.parametrize("status", ["cut_short", "pruned"])
def test_a_stopped_trial_keeps_its_finished_epochs_and_best_weights(digits, status):
    family = ToyFamily()
    per_epoch = math.ceil(len(digits.train) / 32)
    # stop in the middle of the third epoch: two epochs finished, the third is dropped
    context = StopWith(status, lambda: family.train_calls >= 2 * per_epoch + 3)
    with trial.running(context):
        result = Train(TrainOptions(max_epochs=5, batch_size=32, patience=None)).evaluate(
            toy_arch(), family, digits, seed=0, device=CPU)
    assert family.train_calls == 2 * per_epoch + 3
    assert result.status == status and result.error is None
    assert len(result.curves["val_acc"]) == len(result.curves["train_loss"]) == 2
    best = max(result.curves["val_acc"])
    assert result.score == best and result.metrics["best_epoch"] == result.curves["val_acc"].index(best) + 1
    assert result.metrics["stopped_by"] == status and "test_accuracy" not in result.metrics
    model = family.build(toy_arch(), digits.input_shape, digits.num_classes)
    model.load_state_dict(result.weights)  # the best epoch's weights, complete


def test_the_trainer_reports_every_epoch_and_the_test_pass(digits):
    seen = []
    context = TrialContext(5, on_progress=seen.append)
    with trial.running(context):
        result = Train(TrainOptions(max_epochs=3, patience=None, full_metrics=False)).evaluate(
            toy_arch(), ToyFamily(), digits, seed=0, device=CPU)
    assert result.ok
    assert [(p.phase, p.step, p.total) for p in seen] == [
        ("training", 1, 3), ("training", 2, 3), ("training", 3, 3), ("final test", None, None)]
    assert all(p.trial_id == 5 for p in seen)
    for p, val_acc, val_loss, train_loss in zip(seen, result.curves["val_acc"], result.curves["val_loss"],
                                                result.curves["train_loss"]):
        assert p.metrics == pytest.approx({"val_acc": val_acc, "val_loss": val_loss, "train_loss": train_loss})


def test_the_time_cap_ends_training_with_a_finished_trial(digits):
    family = ToyFamily()
    result = Train(TrainOptions(max_epochs=5, max_trial_seconds=1e-9, full_metrics=False)).evaluate(
        toy_arch(), family, digits, seed=0, device=CPU)
    assert family.train_calls == 1  # the cap is checked after every batch
    assert result.ok and result.metrics["stopped_by"] == "time_cap"
    assert result.metrics["epochs"] == 1 and "test_accuracy" in result.metrics


def test_an_epoch_that_would_end_past_the_deadline_is_not_started_and_the_trial_finishes(digits):
    family = ToyFamily()

    def deadline_comes_after_the_second_epoch(progress):
        if progress.step == 2:
            context.deadline = time.time() + 0.001  # far less than an epoch and a test pass

    context = TrialContext(4, deadline=time.time() + 3600, on_progress=deadline_comes_after_the_second_epoch)
    with trial.running(context):
        result = Train(TrainOptions(max_epochs=5, patience=None)).evaluate(
            toy_arch(), family, digits, seed=0, device=CPU)
    assert result.ok and result.metrics["stopped_by"] == "deadline"
    assert result.metrics["epochs"] == 2 and len(result.curves["val_acc"]) == 2
    assert "test_accuracy" in result.metrics and result.weights is not None


def test_a_distant_deadline_leaves_training_alone(digits):
    context = TrialContext(4, deadline=time.time() + 3600)
    with trial.running(context):
        result = Train(TrainOptions(max_epochs=3, patience=None, full_metrics=False)).evaluate(
            toy_arch(), ToyFamily(), digits, seed=0, device=CPU)
    assert result.ok and result.metrics["stopped_by"] == "max_epochs" and result.metrics["epochs"] == 3


def test_the_score_is_the_best_epochs_validation_accuracy_without_another_pass(digits):
    result = Train(TrainOptions(max_epochs=4, patience=None, full_metrics=False)).evaluate(
        toy_arch(), ToyFamily(), digits, seed=0, device=CPU)
    best = result.metrics["best_epoch"] - 1
    assert result.score == result.metrics["val_accuracy"] == result.curves["val_acc"][best]
    assert result.metrics["val_loss"] == result.curves["val_loss"][best]
    assert result.metrics["stopped_by"] == "max_epochs"
