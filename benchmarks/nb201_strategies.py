"""Search strategies on NAS-Bench-201: 100 seeds x 150 queries on CIFAR-10.

Every registered strategy that can search the table (all but those that need
real training, such as ``enas``) runs ``--seeds`` independent searches of
``--queries`` table lookups through the same driver as ``snas benchmark
nb201`` (the strategy's ask/tell with the engine's cache and budget rules).
Each search returns the cell with the best 12-epoch validation accuracy it
queried; the table reports mean ± std of those cells' 200-epoch test accuracy
and the mean best-so-far curve. Random search is the baseline in the same
process. A few seeds are also run as real engine runs to time the driver
against the engine and check they agree.

    .venv/bin/python benchmarks/nb201_strategies.py [--seeds 100] [--queries 150] [--write] [--plot FILE.svg]

``--write`` replaces the "NAS-Bench-201: search strategies" section of
docs/benchmarks.md; the per-seed results go to
benchmarks/results/nb201_strategies.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from snas import get_plugin_manager
from snas_plugins.commands.benchmark import EXEMPT, preset, run_benchmark, run_engine, write_plot

from report import write_section  # benchmarks/report.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## NAS-Bench-201: search strategies"
#: the queries at which the best-so-far curve is tabulated
MARKS = (10, 25, 50, 75, 100, 125, 150, 200, 300)
#: strategies left out unless named: they rank candidates by shared-weight training
NEEDS_TRAINING = ("pnas_enas",)
#: a textbook regularized evolution for reference: population 10, sample 3, one-edge mutation
TEXTBOOK = {"aging": True, "population_size": 10, "tournament_size": 3, "crossover_rate": 0.0,
            "single_mutation": True, "generations": 1_000_000}


def strategies_to_run(names: list[str] | None) -> list[str]:
    """The requested strategies, or every registered one that can search the table (random first)."""
    available = sorted(get_plugin_manager().components("strategy"))
    chosen = names or [n for n in available if n not in EXEMPT + NEEDS_TRAINING]
    return sorted(chosen, key=lambda n: (n != "random", n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--dataset", default="cifar10", choices=("cifar10", "cifar100", "imagenet16"))
    parser.add_argument("--strategy", action="append",
                        help="strategies to run, repeatable (default: every one that can search the table)")
    parser.add_argument("--engine-seeds", type=int, default=3, help="seeds also run through the engine, for timing")
    parser.add_argument("--write", action="store_true", help="replace the section in docs/benchmarks.md")
    parser.add_argument("--plot", help="write the best-so-far curves (.svg, else CSV)")
    args = parser.parse_args(argv)

    runs: dict[str, dict] = {}
    failures: dict[str, str] = {}
    jobs = [(name, name, None) for name in strategies_to_run(args.strategy)]
    if "evolutionary" in [j[1] for j in jobs]:
        jobs.insert(1, ("evolutionary (textbook RE)", "evolutionary", TEXTBOOK))
    for label, name, options in jobs:
        try:
            out = run_benchmark(name, dataset=args.dataset, queries=args.queries, seeds=args.seeds,
                                strategy_options=options if options is not None else None)
            if options is not None:
                out["strategy_options"] = options
        except Exception as exc:  # a strategy that cannot search the table is reported, not fatal
            failures[label] = f"{type(exc).__name__}: {exc}"
            print(f"{label}: failed: {failures[label]}", flush=True)
            continue
        runs[label] = out
        print(f"{label}: {out['mean']:.2f} ± {out['std']:.2f} ({out['seconds']:.1f} s)", flush=True)

    timing = time_engine(args) if args.engine_seeds else None
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "nb201_strategies.json").write_text(json.dumps(
        {"runs": compact(runs), "failures": failures, "timing": timing}))
    if args.plot:
        write_plot(args.plot, {k: v["curve"] for k, v in runs.items()},
                   f"NAS-Bench-201 {args.dataset}: mean best-so-far over {args.seeds} seeds")
    text = report(args, runs, failures, timing)
    print(text)
    if args.write:
        write_section(ROOT / "docs" / "benchmarks.md", HEADING, text)
    return 0


def compact(runs: dict) -> dict:
    """The runs without each seed's curve (the mean curve stays), rounded: what the results file keeps."""
    out = {}
    for label, run in runs.items():
        results = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if k != "curve"}
                   for r in run["results"]]
        out[label] = {**run, "curve": [round(v, 4) for v in run["curve"]], "results": results}
    return out


def time_engine(args: argparse.Namespace) -> dict:
    """Seconds per seed of real engine runs (each into its own run folder)."""
    out = {}
    for name in ("random", "evolutionary"):
        options = preset(name, args.queries)
        t0 = time.perf_counter()
        for s in range(args.engine_seeds):
            run_engine(name, s, args.queries, args.dataset, options)
        out[name] = {"engine_s_per_seed": (time.perf_counter() - t0) / args.engine_seeds}
    return out


def report(args: argparse.Namespace, runs: dict, failures: dict, timing: dict | None) -> str:
    marks = [m for m in MARKS if m <= args.queries]
    base = runs.get("random")
    lines = [
        HEADING,
        "",
        f"Command: `.venv/bin/python benchmarks/nb201_strategies.py --seeds {args.seeds} --queries {args.queries}"
        f"{'' if args.dataset == 'cifar10' else ' --dataset ' + args.dataset}"
        f"{''.join(' --strategy ' + n for n in args.strategy or [])}"
        f"{' --plot ' + args.plot if args.plot else ''} --write`",
        f"(also `snas benchmark nb201 --search-method NAME --seeds {args.seeds} --queries {args.queries}`).",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared), Python {platform.python_version()}; "
        "no training: every query is a table lookup.",
        "",
        f"NAS-Bench-201 {args.dataset}, {args.seeds} independent seeds (0–{args.seeds - 1}), "
        f"{args.queries} queries each. A search returns the queried cell with the best 12-epoch validation "
        "accuracy; the table gives mean ± std (population std over seeds) of that cell's 200-epoch test "
        "accuracy (%). Optimum of the table: CIFAR-10 94.37, CIFAR-100 73.51, ImageNet16-120 47.31.",
        "",
        "| strategy | options (over the defaults) | test acc. (%) | vs random | queries used | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for label, out in runs.items():
        diff = "" if base is None or label == "random" else f"{out['mean'] - base['mean']:+.2f}"
        opts = ", ".join(f"{k}={v}" for k, v in out["strategy_options"].items() if k != "generations") or "-"
        used = np.mean([r["queries"] for r in out["results"]])
        lines.append(f"| {label} | {opts} | {out['mean']:.2f} ± {out['std']:.2f} | {diff} | {used:.0f} "
                     f"| {out['seconds']:.1f} |")
    for label, why in failures.items():
        lines.append(f"| {label} | - | failed: {why} | | | |")
    lines += [
        "",
        "Mean best-so-far (test accuracy of the best-by-validation cell after N queries):",
        "",
        "| strategy | " + " | ".join(str(m) for m in marks) + " |",
        "|---|" + "---|" * len(marks),
    ]
    for label, out in runs.items():
        lines.append(f"| {label} | " + " | ".join(f"{out['curve'][m - 1]:.2f}" for m in marks) + " |")
    if args.plot:
        lines += ["", f"The whole curves: `{args.plot}` (written with `--plot`)."]
    if timing:
        lines += ["", "Every seed is a real engine run with its own run folder:", ""]
        for name, t in timing.items():
            lines.append(f"- {name}: {t['engine_s_per_seed']:.2f} s per seed")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
