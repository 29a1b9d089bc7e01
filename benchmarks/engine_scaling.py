"""The engine's cost per trial as a run grows, and snas benchmark nb201 against a bare ask/tell loop.

Part 1 runs random search over the NAS-Bench-201 table (a lookup per trial,
no training) through ``snas.search`` for 100, 1,000 and 10,000 trials and
measures, for every trial, the engine's own time: the wall time between two
consecutive finished trials minus the evaluator's time for the trial. It
reports the median and 95th percentile per run, the ratio of the medians
(10,000 against 100), and the run folder's size per trial.

Part 2 times ``snas benchmark nb201``'s searches (real engine runs, each
into its own run folder) against the same strategy driven by a bare
ask/tell loop with a dict as cache, for the same seeds, in the same process.

    python benchmarks/engine_scaling.py [--sizes 100 1000 10000] [--seeds 20] [--write]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import snas
from snas import JointSpace, Trial, hookimpl
from snas.runtime.config import make_options
from snas_plugins.commands.benchmark import preset, run_engine
from snas_plugins.evaluators.nb201 import NB201Evaluator, NB201Options, load_table

from report import BENCHMARKS_MD, write_section  # benchmarks/report.py, beside this script

HEADING = "## Engine cost per trial as a run grows (engine v2)"


class Clock:
    """Records when each trial finished and how long its evaluation took."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, float]] = []

    @hookimpl
    def snas_trial_finished(self, run, trial):
        self.marks.append((time.perf_counter(), trial.duration))


def scaling(trials: int, table: str | None) -> dict:
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = snas.search("nb201_table", "random", max_trials=trials, seed=0, run_dir=Path(tmp) / "run",
                             evaluator="nb201", network_types=["nb201"], config={"max_complexity": 3},
                             evaluator_options={"table_path": table} if table else {}, observers=[clock])
        wall = time.perf_counter() - start
        size = sum(f.stat().st_size for f in (Path(tmp) / "run").rglob("*") if f.is_file())
    engine = [(b[0] - a[0]) - b[1] for a, b in zip(clock.marks, clock.marks[1:])]
    engine_ms = sorted(1000 * e for e in engine)
    return {"trials": len(result.trials), "evaluated": sum(t.cached_from is None for t in result.trials),
            "median_ms": statistics.median(engine_ms), "p95_ms": engine_ms[int(0.95 * (len(engine_ms) - 1))],
            "wall_s": wall, "bytes_per_trial": size / len(result.trials)}


def bare(strategy: str, seed: int, queries: int, table: str | None) -> float:
    """The strategy's ask/tell loop by hand: a dict as cache, the evaluator called directly; returns test accuracy."""
    manager = snas.get_plugin_manager()
    family = manager.get_family("nb201")
    evaluator = NB201Evaluator(NB201Options(dataset="cifar10", table_path=table))
    cls = manager.get_strategy(strategy)
    options = make_options(cls.Options, preset(strategy, queries), "benchmark")
    search = cls(JointSpace({"nb201": family.space()}, max_level=3), options, np.random.default_rng(seed))
    seen: dict[str, Trial] = {}
    best, spent, trial_id = None, 0, 0
    while spent < queries:
        proposals = search.ask(1)
        if not proposals:
            break
        for proposal in proposals:
            hit = seen.get(proposal.arch.fingerprint)
            if hit is None:
                result = evaluator.evaluate(proposal.arch, family, None, seed=0, device="cpu")
                hit = seen[proposal.arch.fingerprint] = Trial(trial_id, proposal.arch, "ok", result.score,
                                                              metrics=result.metrics)
                spent += 1
                if best is None or hit.score > best.score:
                    best = hit
            search.tell(Trial(trial_id, proposal.arch, "ok", hit.score, metrics=hit.metrics))
            trial_id += 1
    return best.metrics["test_accuracy"]


def versus_bare(strategy: str, seeds: int, queries: int, table: str | None) -> dict:
    run_engine(strategy, 999, queries, "cifar10", preset(strategy, queries), table)  # warm caches
    bare(strategy, 999, queries, table)
    t_engine = t_bare = 0.0
    for seed in range(seeds):  # interleaved, so load on the machine hits both alike
        start = time.perf_counter()
        run_engine(strategy, seed, queries, "cifar10", preset(strategy, queries), table)
        t_engine += time.perf_counter() - start
        start = time.perf_counter()
        bare(strategy, seed, queries, table)
        t_bare += time.perf_counter() - start
    return {"strategy": strategy, "engine_ms": 1000 * t_engine / seeds, "bare_ms": 1000 * t_bare / seeds,
            "ratio": t_engine / t_bare}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--table", help="nb201.csv.gz (default: the evaluator's default)")
    parser.add_argument("--write", action="store_true", help=f"replace the section in {BENCHMARKS_MD}")
    args = parser.parse_args()
    load_table(args.table)
    rows = [scaling(n, args.table) for n in args.sizes]
    for row in rows:
        print(row, flush=True)
    versus = [versus_bare(s, args.seeds, args.queries, args.table) for s in ("random", "evolutionary")]
    for row in versus:
        print(row, flush=True)
    ratio = rows[-1]["median_ms"] / rows[0]["median_ms"]
    lines = [
        HEADING, "",
        f"Command: `python benchmarks/engine_scaling.py --sizes {' '.join(map(str, args.sizes))} --seeds {args.seeds} "
        f"--write` on {platform.machine()}, {platform.python_version()}, {sys.platform}, 2 cores "
        f"({time.strftime('%Y-%m-%d')}).", "",
        "Random search over the NAS-Bench-201 table through `snas.search`: the engine's time per trial (wall time "
        "between two finished trials, minus the table lookup), and the run folder's size.", "",
        "| trials | evaluated | median ms/trial | 95th pct ms | wall s | bytes/trial |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        *[f"| {r['trials']:,} | {r['evaluated']:,} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | {r['wall_s']:.1f} | "
          f"{r['bytes_per_trial']:,.0f} |" for r in rows],
        "",
        f"Median at {rows[-1]['trials']:,} trials against {rows[0]['trials']:,}: **{ratio:.2f}x** (target ≤ 1.5x; "
        "each median ≤ 5 ms).", "",
        f"`snas benchmark nb201` (every seed a real engine run with its run folder) against the same strategy in "
        f"a bare ask/tell loop, {args.seeds} seeds x {args.queries} queries, interleaved in one process:", "",
        "| strategy | engine ms/search | bare loop ms/search | ratio |", "| --- | ---: | ---: | ---: |",
        *[f"| {v['strategy']} | {v['engine_ms']:.0f} | {v['bare_ms']:.0f} | {v['ratio']:.2f} |" for v in versus],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(BENCHMARKS_MD, HEADING, text)


if __name__ == "__main__":
    main()
