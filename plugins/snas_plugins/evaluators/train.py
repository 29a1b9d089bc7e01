"""The ``train`` evaluator: trains an architecture and scores it by validation accuracy.

Training uses the architecture's own optimizer and learning rate, batches
straight from the data set's splits (in-memory tensors on the training device
for small data sets), bfloat16 autocast on CUDA, gradient clipping, and early
stopping on the monitored validation metric with the best epoch's weights
restored. A NaN or infinite loss stops training at once and fails the trial;
running out of device memory fails the trial and frees the memory.
"""

from __future__ import annotations

import copy
import gc
import math
import time
from typing import Any

import attrs
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import snas
from snas import Architecture, DataBundle, Evaluator, NetworkFamily, TrialResult, autocast, hookimpl
from snas_plugins.evaluators.latency import trained_latency
from snas_plugins.evaluators.metrics import classification_metrics, split_logits

_in = attrs.validators.in_
_gt0 = attrs.validators.gt(0)
_ge0 = attrs.validators.ge(0)


@attrs.frozen
class TrainOptions:
    """Training protocol settings (the CLI's --max-epochs, --batch-size, --patience, …).

    ``protocol="fast"`` trains ``fast_epochs`` epochs of at most
    ``fast_max_batches`` batches each. ``full_metrics`` adds scikit-learn
    metrics on the test split (precision, recall, F1, confusion matrix, ROC,
    top-k) to every full-protocol trial.
    """

    max_epochs: int = attrs.field(default=20, validator=_gt0)
    batch_size: int = attrs.field(default=64, validator=_gt0)
    patience: int | None = attrs.field(default=5, validator=attrs.validators.optional(_ge0))
    min_delta: float = attrs.field(default=0.0, validator=_ge0)
    monitor: str = attrs.field(default="val_acc", validator=_in(("val_acc", "val_loss")))
    grad_clip: float | None = attrs.field(default=5.0, validator=attrs.validators.optional(_gt0))
    schedule: str = attrs.field(default="none", validator=_in(("none", "cosine", "step")))
    weight_decay: float = attrs.field(default=0.0, validator=_ge0)
    fast_epochs: int = attrs.field(default=3, validator=_gt0)
    fast_max_batches: int | None = attrs.field(default=20, validator=attrs.validators.optional(_gt0))
    mixed_precision: bool = True
    full_metrics: bool = True
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


def count_flops(model: nn.Module, input_shape: tuple[int, ...], device: torch.device) -> int:
    """FLOPs of one forward pass on one input, counted by ``FlopCounterMode``."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_shape, device=device))
        return int(counter.get_total_flops())
    finally:
        model.train(was_training)


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


class EarlyStopping:
    """Tracks the monitored metric; an improvement is a change larger than ``min_delta``.

    ``val_acc`` must rise, ``val_loss`` fall. Training stops once ``patience``
    epochs in a row brought no improvement (0 and 1 both stop at the first;
    ``None`` never stops). Keeps a deep copy of the best epoch's weights so
    they can be restored.
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
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1
        return self.patience is not None and self.bad_epochs >= max(self.patience, 1)

    def restore(self, model: nn.Module) -> None:
        """Load the best epoch's weights back into ``model``."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


class Train(Evaluator):
    """Train with the architecture's optimizer; score = validation accuracy of the best epoch."""

    name = "train"
    description = "train each architecture; score is validation accuracy, test accuracy reported"
    Options = TrainOptions
    default = True
    summary_metrics = (("val_accuracy", "validation accuracy"), ("test_accuracy", "test accuracy"),
                       ("params", "parameters"))

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
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        amp = opts.mixed_precision and device.type == "cuda"
        fast = protocol == "fast"
        epochs = opts.fast_epochs if fast else opts.max_epochs
        max_batches = opts.fast_max_batches if fast else None

        model = family.build(arch, data.input_shape, data.num_classes).to(device)
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        flops = count_flops(model, data.input_shape, device)
        optimizer = make_optimizer(arch["optimizer"], model.parameters(), arch["learning_rate"], opts.weight_decay)
        scheduler = _scheduler(opts.schedule, optimizer, epochs)
        stopper = EarlyStopping(opts.monitor, opts.patience, opts.min_delta)
        curves: dict[str, list[float]] = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": [], "lr": []}
        on_cpu = device.type == "cpu"
        check_every = 20  # batches between divergence checks on an accelerator (each check syncs)
        try:
            for epoch in range(epochs):
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
                    if opts.grad_clip is not None:
                        nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
                    optimizer.step()
                    if not on_cpu:  # on an accelerator, accumulate on the device and sync once per epoch
                        total_loss.add_(loss.detach(), alpha=yb.numel())
                    correct.add_((logits.detach().argmax(1) == yb).sum())
                    seen += yb.numel()
                curves["lr"].append(float(optimizer.param_groups[0]["lr"]))
                if scheduler is not None:
                    scheduler.step()
                train_loss = (cpu_loss if on_cpu else float(total_loss)) / max(seen, 1)
                if not math.isfinite(train_loss):
                    raise Diverged(f"loss became {train_loss} in epoch {epoch + 1}")
                val = evaluate_split(model, data.val, opts.batch_size, device, amp)
                curves["train_loss"].append(train_loss)
                curves["train_acc"].append(float(correct) / max(seen, 1))
                curves["val_loss"].append(val["loss"])
                curves["val_acc"].append(val["accuracy"])
                monitored = val["accuracy"] if opts.monitor == "val_acc" else val["loss"]
                if stopper.step(epoch, monitored, model):
                    break
        except Diverged as exc:
            return TrialResult.failed(f"diverged: {exc}", metrics={"params": params, "flops": flops, "protocol": protocol},
                                      curves=curves,
                                      duration=time.perf_counter() - start)
        stopper.restore(model)
        val = evaluate_split(model, data.val, opts.batch_size, device, amp)
        extra: dict[str, Any] = {}
        if opts.full_metrics and not fast:  # one pass over the test split gives loss, accuracy and the rest
            labels, logits = split_logits(model, data.test, opts.batch_size, device, amp)
            test = {"loss": float(nn.functional.cross_entropy(logits, labels)),
                    "accuracy": float((logits.argmax(1) == labels).sum()) / max(len(labels), 1)}
            probs = torch.softmax(logits, dim=1).double().numpy()
            extra = classification_metrics(labels.numpy(), probs, data.num_classes)
        else:
            test = evaluate_split(model, data.test, opts.batch_size, device, amp)
        weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return TrialResult(
            status="ok",
            score=val["accuracy"],
            metrics={
                **extra,
                "protocol": protocol,
                "max_epochs": epochs,
                "max_batches_per_epoch": max_batches,
                "val_accuracy": val["accuracy"],
                "val_loss": val["loss"],
                "test_accuracy": test["accuracy"],
                "test_loss": test["loss"],
                "params": params,
                "flops": flops,
                "epochs": len(curves["val_acc"]),
                "best_epoch": stopper.best_epoch + 1,
                "device": str(device),
            },
            curves=curves,
            weights=weights,
            duration=time.perf_counter() - start,
        )


def _scheduler(kind: str, optimizer: torch.optim.Optimizer, epochs: int) -> Any:
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    if kind == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    return None


@hookimpl
def snas_register_evaluators():
    return [Train]
