"""The ``train`` evaluator: trains an architecture and scores it by validation accuracy.

Training uses the architecture's own optimizer and learning rate, batches
straight from the data set's splits (in-memory tensors on the training device
for small data sets), bfloat16 autocast on CUDA, gradient clipping, and early
stopping on the monitored validation metric with the best epoch's weights
restored. A NaN or infinite loss stops training at once and fails the trial;
running out of device memory fails the trial and frees the memory.

The trainer talks to the engine through :func:`snas.current_trial`: after
every epoch it reports the validation curve (phase ``"training"``), before
the test pass it reports ``"final test"``, and after every batch it asks
whether to stop (the run's deadline, a pruner). A stopped trial returns at
once with that status (``"cut_short"``, ``"pruned"``): see
:meth:`Train.evaluate`.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from typing import Any

import attrs
import torch
from torch import nn

import snas
from snas import Architecture, DataBundle, Evaluator, NetworkFamily, TrialResult, autocast, count_flops, hookimpl
from snas_plugins.evaluators.inherit import inherit_weights
from snas_plugins.evaluators.latency import trained_latency
from snas_plugins.evaluators.metrics import classification_metrics, split_logits

_in = attrs.validators.in_


@attrs.frozen
class TrainOptions:
    """Training protocol settings (the CLI's --max-epochs, --batch-size, --patience, …)."""

    max_epochs: int = snas.option(10, low=1, help="Epochs per trial at most (full protocol).")
    batch_size: int = snas.option(64, low=1, help="Training batch size.")
    patience: int | None = snas.option(3, low=0, help="Epochs without improvement before stopping; none: never.")
    min_delta: float = snas.option(0.0, low=0.0, help="Smallest change of the monitored metric that counts.")
    monitor: str = snas.option("val_acc", choices=("val_acc", "val_loss"), help="Metric early stopping watches.")
    grad_clip: float | None = snas.option(5.0, low=0.0, low_open=True,
                                          help="Clip the gradient norm to this; none: no clipping.")
    schedule: str = snas.option("none", choices=("none", "cosine", "step"), help="Learning-rate schedule.")
    weight_decay: float = snas.option(0.0, low=0.0, help="Weight decay (AdamW uses 0.01 when this is 0).")
    fast_epochs: int = snas.option(3, low=1, help="Epochs of the reduced (fast) protocol.")
    fast_max_batches: int | None = snas.option(20, low=1, help="Batches per epoch of the fast protocol; none: all.")
    max_trial_seconds: float | None = snas.option(
        None, low=0.0, low_open=True,
        help="Training time cap per trial: stop training once this many seconds are spent (and do not start an "
             "epoch that would end past it); the trial keeps its best epoch. None: no cap.")
    mixed_precision: bool = snas.option(True, help="bfloat16 autocast on CUDA.")
    channels_last: bool = snas.option(True, help="Train networks with 2-D convolutions in the channels-last memory "
                                                 "layout (oneDNN's fast one: about 1.5x per epoch on a 2-core CPU, "
                                                 "docs/benchmarks.md 'Trainer speed'; cuDNN's under mixed precision).")
    full_metrics: bool = snas.option(True, help="Precision, recall, F1, confusion matrix, ROC and top-k on the "
                                                "test split for every full-protocol trial.")
    inherited_epochs: int | None = snas.option(None, low=1, help="Epochs of a child that starts from its parent's "
                                                                "weights (--weight-inheritance); none: max_epochs.")
    measure_latency: bool = snas.option(False, help="Measure each successful trial's inference latency on this CPU "
                                                    "(onnxruntime and PyTorch eager; metrics latency_ms, "
                                                    "latency_ms_torch): see snas_plugins.evaluators.latency.")
    latency_batch_size: int = snas.option(1, low=1, help="Batch size of the latency measurement.")


class Diverged(Exception):
    """The training loss became NaN or infinite."""


def make_optimizer(name: str, params: Any, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """The optimizer an architecture asks for."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay or 0.01)
    raise ValueError(f"unknown optimizer {name!r}; expected sgd, adam or adamw")


def memory_format(model: nn.Module) -> torch.memory_format | None:
    """``torch.channels_last`` for a network with 2-D convolutions (their fast layout), else ``None``."""
    return torch.channels_last if any(isinstance(m, nn.Conv2d) for m in model.modules()) else None


def _portable(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` on the CPU in the standard (contiguous) layout, whatever layout training used."""
    return {k: v.cpu().contiguous() for k, v in state.items()}


@torch.no_grad()
def evaluate_split(model: nn.Module, split: Any, batch_size: int, device: torch.device, amp: bool) -> dict[str, float]:
    """Loss and accuracy of ``model`` on a whole split."""
    model.eval()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    for xb, yb in split.batches(max(batch_size, 256), device=device):
        with autocast(device, amp):
            logits = model(xb)
        total_loss += nn.functional.cross_entropy(logits.float(), yb, reduction="sum")
        correct += (logits.argmax(1) == yb).sum()
        count += yb.numel()
    return {"loss": float(total_loss) / max(count, 1), "accuracy": float(correct) / max(count, 1)}


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s ``state_dict`` that later training steps do not change."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class EarlyStopping:
    """Tracks the monitored metric; an improvement is a change larger than ``min_delta``.

    ``val_acc`` must rise, ``val_loss`` fall. Training stops once ``patience``
    epochs in a row brought no improvement (0 and 1 both stop at the first;
    ``None`` never stops). Keeps a copy of the best epoch's weights so they
    can be restored.
    """

    def __init__(self, monitor: str = "val_acc", patience: int | None = 5, min_delta: float = 0.0):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = "max" if monitor.endswith("acc") else "min"
        self.best: float | None = None
        self.best_epoch = -1
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs = 0

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def step(self, epoch: int, value: float, model: nn.Module) -> bool:
        """Record one epoch; returns True when training should stop."""
        if self.improved(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            self.best_state = snapshot(model)
        else:
            self.bad_epochs += 1
        return self.patience is not None and self.bad_epochs >= max(self.patience, 1)

    def restore(self, model: nn.Module) -> None:
        """Load the best epoch's weights back into ``model``."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


class _Stop(Exception):
    """Training ends before its protocol does: the engine asked (``status``), or the time cap was reached."""

    def __init__(self, status: str | None):
        super().__init__(status)
        self.status = status


class Train(Evaluator):
    """Train with the architecture's optimizer; score = validation accuracy of the best epoch."""

    name = "train"
    description = "train each architecture; score is validation accuracy, test accuracy reported"
    Options = TrainOptions
    default = True
    summary_metrics = (("val_accuracy", "validation accuracy"), ("test_accuracy", "test accuracy"),
                       ("params", "parameters"))
    inherits_weights = True
    extends_training = True

    def evaluate(
        self,
        arch: Architecture,
        family: NetworkFamily,
        data: DataBundle,
        *,
        seed: int,
        device: torch.device,
        protocol: str = "full",
    ) -> TrialResult:
        """Train ``arch`` and score it; stops early when the engine asks.

        The protocol sets the epochs: ``max_epochs`` (full), ``fast_epochs``
        (fast), ``inherited_epochs`` (inherited), or, for the run's final
        training (:data:`snas.EXTENDED`), the ``epochs`` the engine sends,
        with a cosine schedule and no early stopping.

        A trial finishes with status ``"ok"`` after ``max_epochs``, early
        stopping, the ``max_trial_seconds`` cap or at the trial's deadline
        (:attr:`snas.TrialContext.deadline`: an epoch that would not end,
        with the test pass after it, before the deadline is not started), with
        the score (validation accuracy), weights and test metrics of its best
        epoch; ``metrics["stopped_by"]`` says which.

        When :meth:`snas.TrialContext.should_stop` answers a status
        (``"cut_short"`` at the run's deadline, ``"pruned"`` from a pruner),
        training stops after the current batch and the trial returns that
        status at once, without a test pass: the curves of the epochs that
        finished (the unfinished epoch is dropped), and the score, validation
        metrics and weights of the best of them. If no epoch finished there
        is nothing honest to score: the result has that status, no score, no
        weights, empty curves, and ``error`` says where it stopped.
        """
        start = time.perf_counter()
        try:
            result = self._train(arch, family, data, seed=seed, device=device, protocol=protocol, start=start)
            if self.options.measure_latency and result.ok:
                batch = self.options.latency_batch_size
                result.metrics.update(trained_latency(family, arch, data, result.weights, batch))
            return result
        except torch.cuda.OutOfMemoryError as exc:
            message = f"out of memory on {device}: {exc}".splitlines()[0]
        # the exception (and with it the training frame, model and activations) is gone here
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return TrialResult.failed(message, metrics={"protocol": protocol}, duration=time.perf_counter() - start)

    def _train(self, arch: Architecture, family: NetworkFamily, data: DataBundle, *, seed: int,
               device: torch.device, protocol: str, start: float) -> TrialResult:
        opts: TrainOptions = self.options
        trial = snas.current_trial()
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        amp = opts.mixed_precision and device.type == "cuda"
        fast = protocol == "fast"
        epochs = opts.fast_epochs if fast else opts.max_epochs
        if protocol == snas.INHERITED and opts.inherited_epochs:
            epochs = opts.inherited_epochs
        extended = protocol == snas.EXTENDED  # the run's final training: longer, annealed, no early stopping
        if extended:
            epochs = int(trial.inputs.get("epochs") or opts.max_epochs)
        max_batches = opts.fast_max_batches if fast else None
        cap = None if opts.max_trial_seconds is None else start + opts.max_trial_seconds
        test_share = len(data.test) / max(len(data.val), 1)

        model = family.build(arch, data.input_shape, data.num_classes).to(device)
        inherited = inherit_weights(model, family, data, seed)  # {} unless a parent's weights came with the task
        layout = memory_format(model) if opts.channels_last else None
        if layout is not None:
            model = model.to(memory_format=layout)
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        flops = count_flops(model, data.input_shape, device)
        optimizer = make_optimizer(arch["optimizer"], model.parameters(), arch["learning_rate"], opts.weight_decay)
        scheduler = _scheduler("cosine" if extended else opts.schedule, optimizer, epochs)
        stopper = EarlyStopping(opts.monitor, None if extended else opts.patience, opts.min_delta)
        curves: dict[str, list[float]] = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": [], "lr": []}
        epoch_times: list[float] = []
        val_seconds = 0.0
        base = {"protocol": protocol, "max_epochs": epochs, "max_batches_per_epoch": max_batches, "params": params,
                "flops": flops, "device": str(device), **inherited}
        on_cpu = device.type == "cpu"
        check_every = 20  # batches between divergence checks on an accelerator (each check syncs)
        clip = opts.grad_clip
        weights = list(model.parameters())
        stopped_by = "max_epochs"
        epoch = step = 0
        try:
            for epoch in range(epochs):
                epoch_start = time.perf_counter()
                model.train()
                total_loss = torch.zeros((), device=device)
                correct = torch.zeros((), device=device, dtype=torch.long)
                seen = 0
                cpu_loss = 0.0
                for step, (xb, yb) in enumerate(
                    data.train.batches(
                        opts.batch_size, shuffle=True, generator=generator, device=device,
                        augment=data.train_augment, max_batches=max_batches,
                    )
                ):
                    if layout is not None:
                        xb = xb.contiguous(memory_format=layout)
                    with autocast(device, amp):
                        logits = model(xb)
                        loss = nn.functional.cross_entropy(logits.float(), yb)
                    if on_cpu:  # reading a CPU scalar costs no sync: check every batch, sum in Python
                        value = loss.item()
                        if not math.isfinite(value):
                            raise Diverged(f"loss became {value} at epoch {epoch + 1}, batch {step + 1}")
                        cpu_loss += value * yb.numel()
                    elif step % check_every == 0 and not torch.isfinite(loss):
                        raise Diverged(f"loss became {float(loss.detach())} at epoch {epoch + 1}, batch {step + 1}")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if clip is not None:
                        nn.utils.clip_grad_norm_(weights, clip, foreach=True)
                    optimizer.step()
                    if not on_cpu:  # on an accelerator, accumulate on the device and sync once per epoch
                        total_loss.add_(loss.detach(), alpha=yb.numel())
                    correct.add_((logits.detach().argmax(1) == yb).sum())
                    seen += yb.numel()
                    status = trial.should_stop()
                    if status is not None:
                        raise _Stop(status)
                    if cap is not None and time.perf_counter() >= cap:
                        stopped_by = "time_cap"
                        break
                curves["lr"].append(float(optimizer.param_groups[0]["lr"]))
                if scheduler is not None:
                    scheduler.step()
                train_loss = (cpu_loss if on_cpu else float(total_loss)) / max(seen, 1)
                if not math.isfinite(train_loss):
                    raise Diverged(f"loss became {train_loss} in epoch {epoch + 1}")
                val_start = time.perf_counter()
                val = evaluate_split(model, data.val, opts.batch_size, device, amp)
                val_seconds = time.perf_counter() - val_start
                curves["train_loss"].append(train_loss)
                curves["train_acc"].append(float(correct) / max(seen, 1))
                curves["val_loss"].append(val["loss"])
                curves["val_acc"].append(val["accuracy"])
                epoch_times.append(time.perf_counter() - epoch_start)
                trial.report("training", step=epoch + 1, total=epochs, val_acc=val["accuracy"],
                             val_loss=val["loss"], train_loss=train_loss)
                monitored = val["accuracy"] if opts.monitor == "val_acc" else val["loss"]
                if stopper.step(epoch, monitored, model):
                    stopped_by = "early_stopping"
                    break
                if stopped_by == "time_cap":
                    break
                if epoch + 1 < epochs:  # do not start an epoch that would end past the cap or the deadline
                    epoch_seconds = time.perf_counter() - epoch_start
                    if cap is not None and time.perf_counter() + epoch_seconds > cap:
                        stopped_by = "time_cap"
                        break
                    # the trial finishes with its epochs so far rather than be cut short at the deadline
                    if trial.deadline is not None and time.time() + epoch_seconds + (
                            _TEST_PASS_FACTOR * test_share * val_seconds) > trial.deadline:
                        stopped_by = "deadline"
                        break
                status = trial.should_stop() if epoch + 1 < epochs else None  # a finished trial keeps its result
                if status is not None:
                    raise _Stop(status)
        except Diverged as exc:
            return TrialResult.failed(f"diverged: {exc}", metrics=base, curves=curves,
                                      duration=time.perf_counter() - start)
        except _Stop as stop:
            return self._stopped(stop.status, stopper, curves, base, epoch, step, start)

        best = stopper.best_epoch
        stopper.restore(model)
        val = {"loss": curves["val_loss"][best], "accuracy": curves["val_acc"][best]}
        trial.report("final test")
        extra: dict[str, Any] = {}
        if opts.full_metrics and not fast:  # one pass over the test split gives loss, accuracy and the rest
            labels, logits = split_logits(model, data.test, opts.batch_size, device, amp)
            test = {"loss": float(nn.functional.cross_entropy(logits, labels)),
                    "accuracy": float((logits.argmax(1) == labels).sum()) / max(len(labels), 1)}
            probs = torch.softmax(logits, dim=1).double().numpy()
            extra = classification_metrics(labels.numpy(), probs, data.num_classes)
        else:
            test = evaluate_split(model, data.test, opts.batch_size, device, amp)
        return TrialResult(
            status="ok",
            score=val["accuracy"],
            metrics={
                **extra,
                **base,
                "val_accuracy": val["accuracy"],
                "val_loss": val["loss"],
                "test_accuracy": test["accuracy"],
                "test_loss": test["loss"],
                "epochs": len(curves["val_acc"]),
                "epoch_seconds": statistics.median(epoch_times),
                "best_epoch": best + 1,
                "stopped_by": stopped_by,
            },
            curves=curves,
            weights=_portable(stopper.best_state),
            duration=time.perf_counter() - start,
        )

    @staticmethod
    def _stopped(status: str, stopper: EarlyStopping, curves: dict[str, list[float]], base: dict[str, Any],
                 epoch: int, step: int, start: float) -> TrialResult:
        """The result of a trial the engine stopped: its best finished epoch, or no score."""
        metrics = {**base, "epochs": len(curves["val_acc"]), "stopped_by": status}
        duration = time.perf_counter() - start
        if stopper.best_state is None:
            return TrialResult(status=status, score=None, metrics=metrics, curves=curves, duration=duration,
                               error=f"{status} at epoch {epoch + 1}, batch {step + 1}, before any epoch finished")
        best = stopper.best_epoch
        metrics.update(val_accuracy=curves["val_acc"][best], val_loss=curves["val_loss"][best], best_epoch=best + 1)
        return TrialResult(status=status, score=curves["val_acc"][best], metrics=metrics, curves=curves,
                           weights=_portable(stopper.best_state), duration=duration)


#: a test pass (with full metrics) takes up to this many times a validation pass over as many images
_TEST_PASS_FACTOR = 1.5


def _scheduler(kind: str, optimizer: torch.optim.Optimizer, epochs: int) -> Any:
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    if kind == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    return None


@hookimpl
def snas_register_evaluators():
    return [Train]
