"""Which learning rates suit which optimizer: the evidence behind the ``learning_rate`` cases.

Samples architectures of the default families (cnn and mlp, at the
complexity levels given, by default level 1: the default search's), trains each with every optimizer at every learning rate of a
log grid for a few epochs with the ``train`` evaluator, and reports per
(optimizer, learning rate): the median best validation accuracy, and how far
it falls behind the best setting found for the same architecture (the
regret; median and worst). A learning rate belongs in an optimizer's case
when its regret is small on every data set.

    python benchmarks/lr_by_optimizer.py --dataset digits --archs 8 --epochs 5 [--write]

``--write`` replaces this data set's subsection of the "Learning rate per
optimizer" section of docs/benchmarks.md and writes the raw results to
``benchmarks/results/lr_by_optimizer_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import snas
from snas import JointSpace
from snas_plugins.evaluators.train import Train, TrainOptions

import bench_data
from report import BENCHMARKS_MD, write_subsection  # benchmarks/report.py, beside this script

GRID = (0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001)
OPTIMIZERS = ("sgd", "adam", "adamw")
HEADING = "## Learning rate per optimizer"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=bench_data.DATASETS)
    parser.add_argument("--archs", type=int, default=8)
    parser.add_argument("--levels", type=int, nargs="+", default=[1], help="complexity levels, in turn")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--max-train-samples", type=int, default=None,
                        help="a stratified subset of the training split (mnist, fashion_mnist)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    manager = snas.get_plugin_manager()
    data = bench_data.load(args.dataset, seed=0, augment=True, max_train_samples=args.max_train_samples)
    space = JointSpace({n: manager.get_family(n).space() for n in ("cnn", "mlp")}, max_level=2)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng, level=args.levels[i % len(args.levels)]) for i in range(args.archs)]
    evaluator = Train(TrainOptions(max_epochs=args.epochs, patience=None, full_metrics=False))
    records = []
    start = time.perf_counter()
    for i, arch in enumerate(archs):
        family = manager.get_family(arch.family)
        for opt in OPTIMIZERS:
            for lr in GRID:
                trial = arch.replace(optimizer=opt, learning_rate=lr)
                result = evaluator.evaluate(trial, family, data, seed=i, device=torch.device("cpu"))
                records.append({"arch": i, "family": arch.family, "params": result.metrics.get("params"),
                                "optimizer": opt, "learning_rate": lr,
                                "val_acc": result.score if result.ok else 0.0, "status": result.status})
        print(f"architecture {i + 1}/{len(archs)} ({arch.family}) done, {time.perf_counter() - start:.0f} s",
              file=sys.stderr)
    best = {i: max(r["val_acc"] for r in records if r["arch"] == i) for i in range(len(archs))}
    rows = []
    for opt in OPTIMIZERS:
        for lr in GRID:
            runs = [r for r in records if r["optimizer"] == opt and r["learning_rate"] == lr]
            regret = [best[r["arch"]] - r["val_acc"] for r in runs]
            rows.append((opt, lr, statistics.median(r["val_acc"] for r in runs), statistics.median(regret),
                         max(regret), sum(r["status"] != "ok" for r in runs)))
    families = ", ".join(f"{a.family}" for a in archs)
    lines = [
        f"### {args.dataset}",
        "",
        f"Command: `python benchmarks/lr_by_optimizer.py --dataset {args.dataset} --archs {args.archs} "
        f"--epochs {args.epochs} --levels {' '.join(map(str, args.levels))}"
        + (f" --max-train-samples {args.max_train_samples}" if args.max_train_samples else "") + " --write`",
        f"Machine: {platform.machine()}, {args.threads} torch threads of 2 shared CPU cores, torch "
        f"{torch.__version__}; {time.perf_counter() - start:.0f} s.",
        "",
        f"{len(archs)} architectures ({families}; seed 0, levels {', '.join(map(str, args.levels))}), "
        f"{len(data.train)} "
        f"training images, {args.epochs} epochs each, the data set's augmentation; regret = the architecture's "
        "best validation accuracy over the whole grid minus this setting's.",
        "",
        "| optimizer | learning rate | median val acc | median regret | worst regret | diverged |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {o} | {lr:g} | {acc:.3f} | {med:.3f} | {worst:.3f} | {div} |" for o, lr, acc, med, worst, div in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        out = Path(__file__).resolve().parent / "results" / f"lr_by_optimizer_{args.dataset}.json"
        out.write_text(json.dumps({"args": vars(args), "archs": [a.to_dict() for a in archs], "records": records},
                                  indent=1))
        write_subsection(BENCHMARKS_MD, HEADING, f"### {args.dataset}", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
