"""Classifier heads of the convolutional families: accuracy and training time per head.

Trains the same bodies (shallow and medium ``cnn``, ``resnet`` and
``mobilenet`` networks, batch norm, Adam 1e-3, batch 64, no dropout) with
each head of :data:`snas_plugins.families.common.HEADS` for a few epochs
with the ``train`` evaluator, and reports per head the validation accuracy
and the training seconds.

    python benchmarks/conv_heads.py --dataset cifar10 --epochs 2 [--write]

``--write`` replaces this data set's subsection of the "Classifier heads"
section of docs/benchmarks.md and writes the raw results to
``benchmarks/results/conv_heads_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

import snas
from snas import Architecture
from snas_plugins.evaluators.train import Train, TrainOptions
from snas_plugins.families.common import HEADS

import bench_data
from report import BENCHMARKS_MD, write_subsection  # benchmarks/report.py, beside this script

HEADING = "## Classifier heads"
TRAINING = {"use_batch_norm": True, "dropout": 0.0, "learning_rate": 0.001, "optimizer": "adam"}
BODIES = {
    "cnn 32": Architecture("cnn", {"num_layers": 1, "filters": [32], "kernel_sizes": [3], "activation": "relu",
                                   "skip_connections": False, **TRAINING}),
    "cnn 32-64": Architecture("cnn", {"num_layers": 2, "filters": [32, 64], "kernel_sizes": [3, 3],
                                      "activation": "relu", "skip_connections": False, **TRAINING}),
    "cnn 32-64-128": Architecture("cnn", {"num_layers": 3, "filters": [32, 64, 128], "kernel_sizes": [3, 3, 3],
                                          "activation": "relu", "skip_connections": False, **TRAINING}),
    "resnet 32-64": Architecture("resnet", {"num_layers": 2, "filters": [32, 64], "kernel_sizes": [3, 3],
                                            "block_type": "basic", "activation": "relu", **TRAINING}),
    "mobilenet 32-64": Architecture("mobilenet", {"num_layers": 2, "filters": [32, 64], "kernel_sizes": [3, 3],
                                                  "expansions": [1, 1], "width_multiplier": 1.0, "activation": "relu",
                                                  "skip_connections": False, **TRAINING}),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=bench_data.DATASETS)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-train-samples", type=int, default=None)
    parser.add_argument("--bodies", nargs="*", default=list(BODIES), choices=list(BODIES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    manager = snas.get_plugin_manager()
    data = bench_data.load(args.dataset, seed=0, augment=True, max_train_samples=args.max_train_samples)
    evaluator = Train(TrainOptions(max_epochs=args.epochs, patience=None, full_metrics=False))
    records = []
    start = time.perf_counter()
    for body in args.bodies:
        for head in HEADS:  # heads alternate within a body: load drift hits them alike
            arch = BODIES[body].replace(head=head)
            result = evaluator.evaluate(arch, manager.get_family(arch.family), data, seed=0,
                                        device=torch.device("cpu"))
            records.append({"body": body, "head": head, "val_acc": result.score, "status": result.status,
                            "test_acc": result.metrics.get("test_accuracy"), "seconds": result.duration,
                            "params": result.metrics.get("params"), "val_curve": result.curves.get("val_acc")})
            print(f"{body} {head}: {result.score} in {result.duration:.1f} s", file=sys.stderr)
    rows = []
    for body in args.bodies:
        cells = {r["head"]: r for r in records if r["body"] == body}
        rows.append(f"| {body} | " + " | ".join(
            f"{cells[h]['val_acc']:.3f} ({cells[h]['seconds']:.0f} s, {cells[h]['params'] / 1e3:.0f}k)" for h in HEADS)
            + " |")
    means = {h: statistics.mean(r["val_acc"] for r in records if r["head"] == h) for h in HEADS}
    secs = {h: statistics.mean(r["seconds"] for r in records if r["head"] == h) for h in HEADS}
    lines = [
        f"### {args.dataset}",
        "",
        f"Command: `python benchmarks/conv_heads.py --dataset {args.dataset} --epochs {args.epochs} "
        f"--threads {args.threads}"
        + (f" --max-train-samples {args.max_train_samples}" if args.max_train_samples else "")
        + ("" if args.bodies == list(BODIES) else " --bodies " + " ".join(f'"{b}"' for b in args.bodies))
        + " --write`",
        f"Machine: {platform.machine()}, {args.threads} torch threads of 2 shared CPU cores (other jobs running), "
        f"torch {torch.__version__}; {time.perf_counter() - start:.0f} s.",
        "",
        f"{len(data.train)} training images of {'x'.join(map(str, data.input_shape))}, {args.epochs} epochs, "
        "the data set's augmentation, seed 0. Cells: best validation accuracy (training seconds, parameters).",
        "",
        "| body | " + " | ".join(HEADS) + " |",
        "|---|" + "---:|" * len(HEADS),
        *rows,
        "| **mean** | " + " | ".join(f"**{means[h]:.3f}** ({secs[h]:.0f} s)" for h in HEADS) + " |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        out = Path(__file__).resolve().parent / "results" / f"conv_heads_{args.dataset}.json"
        out.write_text(json.dumps({"args": vars(args), "records": records}, indent=1))
        write_subsection(BENCHMARKS_MD, HEADING, f"### {args.dataset}", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
