"""Evolutionary search with and without weight inheritance: accuracy against training time.

    .venv/bin/python benchmarks/weight_inheritance.py [--seeds 0,1,2] [--write]

For each seed it runs the same evolutionary search twice, in this process and
interleaved (the order alternates between seeds, so a load change on the
machine does not favour one side): from scratch, and with
``--weight-inheritance`` (children train ``--inherited-epochs`` epochs from
their parent's weights; the two best are then retrained from scratch, as the
engine does). Same seed, same number of trials, one thread per trial.

Training time is the sum of the trials' durations (what the evaluator spent,
final retraining included); it leaves out the engine's and the data set's
start-up, which both sides pay alike. It reports, per side and averaged over
the seeds: the best validation accuracy of the search against training time,
the training time each side needs to reach the best validation accuracy the
search from scratch ends with, and the test accuracy of the run's result (a
network trained from scratch: the best trial of the search from scratch, the
best retrained winner of the search that inherits). Raw numbers go to
``benchmarks/results/weight_inheritance.json``; ``--write`` replaces the
"Weight inheritance" section of docs/benchmarks.md.

Full-size run (hours on a 2-core CPU; minutes on a GPU with ``--device cuda``)::

    .venv/bin/python benchmarks/weight_inheritance.py --seeds 0,1,2,3,4 --image-size 28x28 \\
        --train-samples 20000 --eval-samples 5000 --population 10 --generations 8 --max-epochs 10 \\
        --inherited-epochs 3 --max-complexity 2 --write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import snas

from report import BENCHMARKS_MD, write_section  # benchmarks/report.py, beside this script

HEADING = "## Weight inheritance (issue 16)"
RESULTS = Path(__file__).resolve().parent / "results" / "weight_inheritance.json"
FRACTIONS = (0.25, 0.5, 0.75, 1.0)


def run(args: argparse.Namespace, seed: int, inherit: bool, folder: Path) -> dict:
    """One search; what the report needs of each trial."""
    data = {"data_dir": args.data_dir, "max_train_samples": args.train_samples,
            "max_eval_samples": args.eval_samples, "augment": False}
    if args.image_size:
        data["image_size"] = args.image_size
    evaluator = {"max_epochs": args.max_epochs, "patience": None, "full_metrics": False}
    if inherit:
        evaluator["inherited_epochs"] = args.inherited_epochs
    start = time.perf_counter()
    result = snas.search(
        dataset=args.dataset, dataset_options=data, network_types=args.families.split(","),
        strategy="evolutionary", seed=seed, run_dir=folder / f"{'inherit' if inherit else 'scratch'}-{seed}",
        max_complexity=args.max_complexity,
        strategy_options={"population_size": args.population, "generations": args.generations},
        evaluator_options=evaluator, weight_inheritance=inherit, retrain_top=args.retrain_top,
        device=args.device, config={"threads_per_trial": args.threads})
    wall = time.perf_counter() - start
    best = result.best
    return {
        "seed": seed, "inherit": inherit, "wall_seconds": wall,
        "trials": [{"id": t.trial_id, "final": bool(t.meta.get("final")), "protocol": t.protocol,
                    "score": t.score, "test_accuracy": t.metrics.get("test_accuracy"), "seconds": t.duration,
                    "cached": t.cached_from is not None, "inherited_from": t.metrics.get("inherited_from"),
                    "inherited_fraction": t.metrics.get("inherited_fraction")} for t in result.trials],
        "result": {"trial": best.trial_id, "protocol": best.protocol, "val_accuracy": best.score,
                   "test_accuracy": best.metrics.get("test_accuracy")},
    }


def curve(record: dict) -> list[tuple[float, float]]:
    """(training seconds so far, best validation accuracy so far) after each search trial, in trial order."""
    out, spent, best = [], 0.0, float("-inf")
    for t in record["trials"]:
        if t["final"]:
            continue
        spent += t["seconds"]
        if t["score"] is not None:
            best = max(best, t["score"])
        out.append((spent, best))
    return out


def training_seconds(record: dict) -> float:
    return sum(t["seconds"] for t in record["trials"])


def time_to_reach(points: list[tuple[float, float]], target: float) -> float | None:
    return next((spent for spent, best in points if best >= target - 1e-12), None)


def best_at(points: list[tuple[float, float]], seconds: float) -> float:
    return max((best for spent, best in points if spent <= seconds), default=float("nan"))


def summarize(records: list[dict]) -> dict:
    """Per seed and on average: the numbers the report prints."""
    seeds = sorted({r["seed"] for r in records})
    rows = []
    for seed in seeds:
        scratch = next(r for r in records if r["seed"] == seed and not r["inherit"])
        inherit = next(r for r in records if r["seed"] == seed and r["inherit"])
        a, b = curve(scratch), curve(inherit)
        target = a[-1][1]
        reach_a, reach_b = time_to_reach(a, target), time_to_reach(b, target)
        heirs = [t for t in inherit["trials"] if t["inherited_from"] is not None]
        rows.append({
            "seed": seed, "target_val": target,
            "scratch_seconds": training_seconds(scratch), "inherit_seconds": training_seconds(inherit),
            "inherit_search_seconds": b[-1][0],
            "scratch_reach": reach_a, "inherit_reach": reach_b,
            "scratch_best_val": target, "inherit_best_val": b[-1][1],
            "scratch_test": scratch["result"]["test_accuracy"], "inherit_test": inherit["result"]["test_accuracy"],
            "inherit_result_protocol": inherit["result"]["protocol"],
            "trials": sum(not t["final"] for t in scratch["trials"]),
            "heirs": len(heirs),
            "mean_fraction": float(np.mean([t["inherited_fraction"] for t in heirs])) if heirs else 0.0,
            "curve": [(f, best_at(a, f * a[-1][0]), best_at(b, f * a[-1][0])) for f in FRACTIONS],
        })
    return {"seeds": rows}


def markdown(summary: dict, args: argparse.Namespace, command: str) -> str:
    rows = summary["seeds"]
    mean = lambda key: float(np.mean([r[key] for r in rows]))  # noqa: E731
    lines = [
        HEADING, "",
        f"Command: `{command}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs (load varies; both "
        f"sides of a seed run back to back, in alternating order), Python {platform.python_version()}, "
        f"torch threads per trial {args.threads}, device {args.device}.",
        "",
        f"Search: evolutionary, population {args.population}, {args.generations} generations (same trials on "
        f"both sides), families {args.families} at complexity level {args.max_complexity}; data "
        f"{args.dataset} ({args.image_size or 'native size'}, {args.train_samples} training images, "
        f"{args.eval_samples} validation and {args.eval_samples} test images, no augmentation). From scratch: "
        f"every trial trains {args.max_epochs} epochs. With inheritance: children train {args.inherited_epochs} "
        f"epoch(s) from their parent's weights, then the {args.retrain_top} best are retrained from scratch for "
        f"{args.max_epochs} epochs (counted in the training time). Training time is the sum of the trials' "
        "durations.",
        "",
        "| seed | trials | training s, from scratch | training s, inheriting (search + retraining) | ratio | "
        "s to reach the from-scratch best val, scratch / inheriting | best val, scratch / inheriting | "
        "test acc. of the result, scratch / inheriting | heirs (mean fraction inherited) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        reach_b = "not reached" if r["inherit_reach"] is None else f"{r['inherit_reach']:.0f}"
        lines.append(
            f"| {r['seed']} | {r['trials']} | {r['scratch_seconds']:.0f} | {r['inherit_seconds']:.0f} "
            f"({r['inherit_search_seconds']:.0f} + {r['inherit_seconds'] - r['inherit_search_seconds']:.0f}) | "
            f"{r['scratch_seconds'] / r['inherit_seconds']:.2f}x | {r['scratch_reach']:.0f} / {reach_b} | "
            f"{r['scratch_best_val']:.4f} / {r['inherit_best_val']:.4f} | "
            f"{r['scratch_test']:.4f} / {r['inherit_test']:.4f} | {r['heirs']} ({r['mean_fraction']:.2f}) |")
    reached = [r for r in rows if r["inherit_reach"] is not None]
    lines += [
        f"| mean | | {mean('scratch_seconds'):.0f} | {mean('inherit_seconds'):.0f} | "
        f"{mean('scratch_seconds') / mean('inherit_seconds'):.2f}x | "
        f"{mean('scratch_reach'):.0f} / "
        + (f"{np.mean([r['inherit_reach'] for r in reached]):.0f} ({len(reached)} of {len(rows)} seeds)"
           if reached else "not reached")
        + f" | {mean('scratch_best_val'):.4f} / {mean('inherit_best_val'):.4f} | "
        f"{mean('scratch_test'):.4f} / {mean('inherit_test'):.4f} | |",
        "",
        "Best validation accuracy of the search against training time (mean over seeds), at fractions of the "
        "search from scratch's training time:",
        "",
        "| training time | from scratch | inheriting |",
        "|---|---|---|",
    ]
    for i, f in enumerate(FRACTIONS):
        a = np.mean([r["curve"][i][1] for r in rows])
        b = np.mean([r["curve"][i][2] for r in rows])
        lines.append(f"| {f:.0%} ({np.mean([r['scratch_seconds'] for r in rows]) * f:.0f} s) | {a:.4f} | {b:.4f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--data-dir", default=str(Path(os.environ.get("SNAS_TEST_DATA") or
                                                      Path(__file__).resolve().parents[2] / "shared" / "data")
                                                 / "fashion-mnist"))
    parser.add_argument("--families", default="cnn")
    parser.add_argument("--image-size", default="14x14")
    parser.add_argument("--train-samples", type=int, default=2000)
    parser.add_argument("--eval-samples", type=int, default=1000)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=6)
    parser.add_argument("--max-complexity", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=4)
    parser.add_argument("--inherited-epochs", type=int, default=1)
    parser.add_argument("--retrain-top", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--report-only", action="store_true", help="Summarize the saved results; run nothing.")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    results = Path(args.results)
    records = json.loads(results.read_text())["runs"] if args.report_only or results.exists() else []
    if not args.report_only:
        done = {(r["seed"], r["inherit"]) for r in records}
        with tempfile.TemporaryDirectory() as tmp:
            for seed in [int(s) for s in args.seeds.split(",")]:
                for inherit in ((False, True) if seed % 2 == 0 else (True, False)):
                    if (seed, inherit) in done:
                        continue  # saved by an earlier, interrupted invocation
                    records.append(run(args, seed, inherit, Path(tmp)))
                    results.parent.mkdir(parents=True, exist_ok=True)
                    results.write_text(json.dumps({"settings": vars(args), "runs": records}, indent=1))
                    print(f"seed {seed} {'inheriting' if inherit else 'from scratch'}: "
                          f"{training_seconds(records[-1]):.0f} s of training", flush=True)
    text = markdown(summarize(records), args, "python benchmarks/weight_inheritance.py " + " ".join(sys.argv[1:]))
    print(text)
    if args.write:
        write_section(BENCHMARKS_MD, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
