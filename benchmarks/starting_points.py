"""Is a family's starting point worth its place at the head of the first population? Does augmentation pay?

The default search (evolutionary, cnn and mlp) proposes each family's
starting point (``snas.SearchSpace.starting_point``) before random samples.
For each data set and seed this trains, with the ``train`` evaluator's
default protocol (no augmentation), the cnn and mlp starting points and
``--samples`` random level-1 architectures of the default space (what the
first population holds otherwise), and reports the starting points'
validation and test accuracy and seconds beside the random samples' median
and best, and how many of the samples the cnn starting point beats on
validation accuracy. It also trains the cnn starting point once more with
the data set's augmentation on (``-D augment=true``), for the section on
augmentation in short trials.

    python benchmarks/starting_points.py --datasets cifar10 digits --seeds 0 1 2 --samples 6 [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import snas
from snas import JointSpace, TrialContext
from snas.runtime.trial import running
from snas_plugins.evaluators.train import Train, TrainOptions

import bench_data
from report import BENCHMARKS_MD, write_section  # benchmarks/report.py, beside this script

HERE = Path(__file__).resolve().parent
HEADING = "## Starting points"
AUGMENT_HEADING = "## Augmentation in short trials"
FAMILIES = ("cnn", "mlp")


def train(arch: snas.Architecture, data: snas.DataBundle, seed: int) -> dict:
    """Validation and test accuracy and wall seconds of one trial of the default protocol."""
    family = snas.get_plugin_manager().get_family(arch.family)
    start = time.perf_counter()
    with running(TrialContext(0)):
        result = Train(TrainOptions(full_metrics=False)).evaluate(arch, family, data, seed=seed,
                                                                  device=torch.device("cpu"))
    return {"family": arch.family, "val": result.score, "test": result.metrics.get("test_accuracy"),
            "epochs": result.metrics.get("epochs"), "seconds": time.perf_counter() - start, "status": result.status,
            "augmentation": "on" if data.train_augment is not None else "none", "arch": arch.to_dict()}


def measure(dataset: str, seed: int, samples: int) -> dict:
    """The starting points and ``samples`` random level-1 architectures, trained on ``dataset`` split by ``seed``."""
    manager = snas.get_plugin_manager()
    space = JointSpace({name: manager.get_family(name).space() for name in FAMILIES}, max_level=1)
    data = bench_data.load(dataset, seed=seed, augment=False)
    points = [train(arch, data, seed) for arch in space.starting_points(1)]
    rng = np.random.default_rng(seed)
    randoms = [train(space.sample(rng, 1), data, seed) for _ in range(samples)]
    cnn = next(arch for arch in space.starting_points(1) if arch.family == "cnn")
    augmented = bench_data.load(dataset, seed=seed, augment=True)
    with_augment = train(cnn, augmented, seed) if augmented.train_augment is not None else None
    return {"dataset": dataset, "seed": seed, "points": points, "random": randoms, "cnn_augmented": with_augment}


def table(records: list[dict]) -> list[str]:
    rows = ["| data set | seed | cnn start: val / test / s | mlp start: val / test / s | random: median val | "
            "random: best val (test) | random: median s | random samples the cnn start beats |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        points = {p["family"]: p for p in r["points"]}
        vals = [x["val"] or 0.0 for x in r["random"]]
        best = max(r["random"], key=lambda x: x["val"] or 0.0)
        cnn = points["cnn"]
        beats = sum((cnn["val"] or 0.0) > v for v in vals)
        cell = lambda p: f"{p['val']:.3f} / {p['test']:.3f} / {p['seconds']:.0f}"  # noqa: E731
        rows.append(f"| {r['dataset']} | {r['seed']} | {cell(cnn)} | {cell(points['mlp'])} | "
                    f"{statistics.median(vals):.3f} | {best['val']:.3f} ({best['test']:.3f}) | "
                    f"{statistics.median(x['seconds'] for x in r['random']):.0f} | {beats} of {len(vals)} |")
    return rows


def augment_table(records: list[dict]) -> list[str]:
    rows = ["| data set | seed | without: val / test / epochs / s | with: val / test / epochs / s |",
            "|---|---:|---:|---:|"]
    for r in records:
        if r.get("cnn_augmented") is None:
            continue
        plain = next(p for p in r["points"] if p["family"] == "cnn")
        aug = r["cnn_augmented"]
        cell = lambda p: f"{p['val']:.3f} / {p['test']:.3f} / {p.get('epochs', '-')} / {p['seconds']:.0f}"  # noqa: E731
        rows.append(f"| {r['dataset']} | {r['seed']} | {cell(plain)} | {cell(aug)} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["cifar10", "digits"], choices=bench_data.DATASETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=6, help="random level-1 architectures per data set and seed")
    parser.add_argument("--results", default=str(HERE / "results" / "starting_points.json"))
    parser.add_argument("--report-only", action="store_true", help="table of --results, no training")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    path = Path(args.results)
    if args.report_only:
        records = json.loads(path.read_text())
    else:
        records = []
        for dataset in args.datasets:
            for seed in args.seeds:
                records.append(measure(dataset, seed, args.samples))
                print(json.dumps({k: v for k, v in records[-1].items()}), file=sys.stderr)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records, indent=1))
    command = (f"python benchmarks/starting_points.py --datasets {' '.join(args.datasets)} --seeds "
               f"{' '.join(map(str, args.seeds))} --samples {args.samples} --write")
    lines = [
        HEADING,
        "",
        f"Command: `{command}`; raw records in `{os.path.relpath(path, HERE.parent)}`.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, Python {platform.python_version()}.",
        "",
        "Each architecture trains once with the `train` evaluator's defaults (up to 10 epochs, patience 3, "
        "batch 64), no augmentation; val = validation accuracy of its best epoch, test = the test accuracy of "
        "that epoch's weights. Random: level-1 samples of the default space (cnn and mlp), what the first "
        "population holds besides the starting points.",
        "",
        *table(records),
        "",
    ]
    augment = [
        AUGMENT_HEADING,
        "",
        f"Command: the same (`{command}`). The cnn starting point trained on the same split without and with "
        "the data set's augmentation (`-D augment=true`), the `train` evaluator's default protocol.",
        "",
        *augment_table(records),
        "",
    ]
    text = "\n".join(lines)
    print(text + "\n" + "\n".join(augment))
    if args.write:
        write_section(BENCHMARKS_MD, HEADING, text)
        write_section(BENCHMARKS_MD, AUGMENT_HEADING, "\n".join(augment))
    return 0


if __name__ == "__main__":
    sys.exit(main())
