"""Trainer speed: the ``train`` evaluator's time per epoch against a plain PyTorch loop.

Both train the same model (built by the ``cnn`` family: two convolutions of
32 and 64 filters with batch norm and a 4x4-grid head, Adam at 1e-3) on the same in-memory
tensors, with the same batch size and the same shuffled batches, no
augmentation, and a validation pass after every epoch (what any loop that
selects a model or prunes by epoch needs). The plain loop is what a
competent user writes: ``randperm``, index the tensors, forward, loss,
``zero_grad``, backward, step; then ``model.eval()`` and accuracy on the
validation tensors. Runs alternate (plain, trainer, plain, ...) in one
process so that drift in the machine's load hits both alike. An epoch's time
is the CPU time between two consecutive epoch ends, so model building, FLOP
counting and the final test pass are left out (they are measured once per
trial, in the last table).

    python benchmarks/trainer_speed.py [--dataset cifar10] [--epochs 3] [--repeats 3] [--write]

``--write`` replaces the "Trainer speed" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

import snas
from snas import Architecture, TrialContext
from snas.runtime.trial import running
from snas import count_flops
from snas_plugins.evaluators.train import Train, TrainOptions

import bench_data
from report import BENCHMARKS_MD, OtherLoad, write_section  # benchmarks/report.py, beside this script

HEADING = "## Trainer speed"
#: CPU time of this process: with one torch thread it is steadier than wall time on a shared machine
CLOCK = time.process_time
ARCH = Architecture("cnn", {"num_layers": 2, "filters": [32, 64], "kernel_sizes": [3, 3], "activation": "relu",
                            "skip_connections": False, "use_batch_norm": True, "dropout": 0.0, "head": "pool_4x4",
                            "learning_rate": 0.001, "optimizer": "adam"})


def plain_loop(family, data, epochs: int, batch_size: int, seed: int) -> list[float]:
    """Seconds of each epoch (training and a validation pass) of the hand-written loop."""
    torch.manual_seed(seed)
    model = family.build(ARCH, data.input_shape, data.num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = data.train.x, data.train.y
    g = torch.Generator().manual_seed(seed)
    ends = [CLOCK()]
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), batch_size):
            idx = order[i:i + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(data.val.y), 256):
                correct += int((model(data.val.x[i:i + 256]).argmax(1) == data.val.y[i:i + 256]).sum())
        ends.append(CLOCK())
    return [b - a for a, b in zip(ends, ends[1:])]


def trainer(family, data, epochs: int, batch_size: int, seed: int, **options) -> tuple[list[float], float]:
    """CPU seconds of each epoch of the ``train`` evaluator, from its progress reports; and of the whole call."""
    reports: list[float] = []
    opts = TrainOptions(max_epochs=epochs, batch_size=batch_size, patience=None, full_metrics=False, **options)
    start = CLOCK()
    with running(TrialContext(0, on_progress=lambda p: reports.append(CLOCK()))):
        result = Train(opts).evaluate(ARCH, family, data, seed=seed, device=torch.device("cpu"))
    total = CLOCK() - start
    assert result.ok, result.error
    ends = [t for t in reports][:epochs]
    return [b - a for a, b in zip(ends, ends[1:])], total


def per_trial_costs(family, data, batch_size: int) -> dict[str, float]:
    """Seconds of the once-per-trial steps: build, FLOP count, a test pass, the full metrics."""
    from snas_plugins.evaluators.metrics import classification_metrics, split_logits
    from snas_plugins.evaluators.train import evaluate_split

    out = {}
    t = CLOCK()
    model = family.build(ARCH, data.input_shape, data.num_classes)
    out["build the model"] = CLOCK() - t
    t = CLOCK()
    count_flops(model, data.input_shape, torch.device("cpu"))
    out["count FLOPs"] = CLOCK() - t
    t = CLOCK()
    evaluate_split(model, data.test, batch_size, torch.device("cpu"), False)
    out["test pass (loss, accuracy)"] = CLOCK() - t
    t = CLOCK()
    labels, logits = split_logits(model, data.test, batch_size, torch.device("cpu"), False)
    classification_metrics(labels.numpy(), torch.softmax(logits, 1).double().numpy(), data.num_classes)
    out["test pass with full metrics (default)"] = CLOCK() - t
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10", choices=bench_data.DATASETS)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is not timed)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    load = OtherLoad()  # other work on the machine slows both loops; the report says how much there was
    torch.set_num_threads(args.threads)
    family = snas.get_plugin_manager().get_family("cnn")
    data = bench_data.load(args.dataset, seed=0)
    augmented = bench_data.load(args.dataset, seed=0, augment=True)
    plain_loop(family, data, 1, args.batch_size, 0)  # warm-up: first-call costs are not what we measure
    trainer(family, data, 1, args.batch_size, 0)
    plain, default, no_clip, nchw, augment, totals = [], [], [], [], [], []
    for r in range(args.repeats):
        plain += plain_loop(family, data, args.epochs, args.batch_size, r)[1:]
        epochs, total = trainer(family, data, args.epochs, args.batch_size, r)
        default += epochs
        totals.append(total)
        no_clip += trainer(family, data, args.epochs, args.batch_size, r, grad_clip=None)[0]
        nchw += trainer(family, data, args.epochs, args.batch_size, r, channels_last=False)[0]
        if augmented.train_augment is not None:
            augment += trainer(family, augmented, args.epochs, args.batch_size, r)[0]
    p, d, n, c = (statistics.median(plain), statistics.median(default), statistics.median(no_clip),
                  statistics.median(nchw))
    a = statistics.median(augment) if augment else None
    costs = per_trial_costs(family, data, args.batch_size)
    samples = len(data.train)
    lines = [
        HEADING,
        "",
        f"Command: `python benchmarks/trainer_speed.py --dataset {args.dataset} --epochs {args.epochs} "
        f"--repeats {args.repeats} --threads {args.threads} --write`",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch thread(s) of {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}, torch {torch.__version__}; {load.describe()} "
        "(compare the ratios, not the seconds, across machines).",
        "",
        f"`cnn` with 32 and 64 filters, batch norm, a 4x4-grid head, Adam 1e-3, batch {args.batch_size}, on {args.dataset} "
        f"({samples} training images of {'x'.join(map(str, data.input_shape))}, {len(data.val)} validation), "
        "the same shuffled batches in both, no augmentation; an epoch is training plus a validation pass. "
        f"Median over {args.repeats} alternating runs of {args.epochs - 1} timed epochs each (the first epoch of "
        "every run is left out).",
        "",
        "| loop | CPU seconds per epoch (median) | ratio to the plain loop |",
        "|---|---:|---:|",
        f"| plain PyTorch loop (baseline) | {p:.2f} | 1.00 |",
        f"| `train` evaluator (defaults: gradient clipping 5.0, channels-last layout) | {d:.2f} | {d / p:.2f} |",
        f"| `train` evaluator without gradient clipping | {n:.2f} | {n / p:.2f} |",
        f"| `train` evaluator in the standard layout (`--no-channels-last`, what the plain loop uses) | {c:.2f} | "
        f"{c / p:.2f} |",
        *([f"| `train` evaluator on the data set's augmented batches (`-D augment=true`; not the same batches) | "
           f"{a:.2f} | {a / p:.2f} |"] if a is not None else []),
        "",
        f"The trainer's epoch is **{(d / p - 1) * 100:+.1f}%** against the plain loop (target: within 10%); "
        f"in the plain loop's own layout, {(c / p - 1) * 100:+.1f}%. The trainer runs convolutional networks "
        "channels-last (oneDNN's fast layout); the plain loop, as most hand-written loops, does not. Per epoch the trainer also sums the training loss and accuracy for the curves, checks the loss for "
        "NaN, reports the validation curve to the engine and asks it whether to stop after every batch, and "
        "copies the weights when an epoch is the best so far.",
        "",
        "Once per trial (seconds, same model, untrained):",
        "",
        "| step | CPU seconds |",
        "|---|---:|",
        *[f"| {k} | {v:.3f} |" for k, v in costs.items()],
        "",
        f"A whole trial of {args.epochs} epochs took {statistics.median(totals):.1f} CPU s (median).",
        "",
        "Where the rest of a trial's time goes: the score is the best epoch's recorded validation accuracy (the "
        "trainer used to run a second validation pass on the restored weights, measuring the same weights again: "
        "cut); the early-stopping copy is a `clone` of each tensor when an epoch improves; FLOPs are counted once "
        "on one image. The test pass is the largest fixed cost, and a trial cut short or pruned skips it. The "
        "463 s against 323 s per epoch that issue 18 saw through `snas evaluate` are not in the training loop: "
        "on the same tensors and batches the two are equal within the noise; a real run adds the data set's "
        "augmentation when it is on (the last row of the first table) and the once-per-trial steps.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(BENCHMARKS_MD, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
