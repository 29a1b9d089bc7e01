"""Parallel search: trials per hour on 1 and 2 worker processes, and the Ray executor's cost per trial.

    python benchmarks/parallel_workers.py [--trials 16] [--repeats 2] [--write]
    python benchmarks/parallel_workers.py --only ray [--write]

**Workers.** The default search space (cnn and mlp) on digits, aging evolution,
``--trials`` trials, with the process executor on 1 worker and on 2 workers
of one torch thread each. Both runs use the same seed and the same window
(``--window``, default 2: ``max_in_flight``), so they train exactly the same
architectures (the script checks the fingerprints): only the number of
workers differs. A window of 2 on 2 workers can leave a worker idle: results
are told in trial order, so a trial that finishes before an earlier, longer
one waits for it before the next proposal is made; a wider window (4) keeps
both workers busier, at the price of proposals that know fewer results. Runs are
interleaved (1, 2, 1, 2, ...) in this one process; the table gives the median
wall time of each and the ratio of trials per hour. Worker start-up is part of
the wall time; "steady" counts from the first trial's start to the last
trial's end instead.

**Ray.** The same NAS-Bench-201 table lookups (each sleeping ``--lookup-ms``
milliseconds, like a tiny trial) through the process executor and the Ray
executor, one worker each, on a local Ray instance this script starts, runs
of ``--lookups`` trials interleaved. With one worker the trials run one after
another, so the time between two consecutive finished trials (as the
engine's observers see them) is one trial's whole cost: the lookup, the
executor's round trip and the engine's bookkeeping. The median of those
intervals leaves out start-up (worker processes, actors) and the machine's
hiccups; the Ray overhead per trial is the difference of the two medians.

``--write`` replaces the matching sections of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import snas
from snas import hookimpl

from report import BENCHMARKS_MD, write_section  # benchmarks/report.py, beside this script

WORKERS_HEADING = "## Parallel workers: trials per hour (issue 11)"
RAY_HEADING = "## Ray executor: overhead per trial (issue 11)"
TARGET_SPEEDUP = 1.6
TARGET_RAY_MS = 50.0
TABLE = Path(os.environ.get("SNAS_TEST_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data") \
    / "nb201" / "nb201.csv.gz"


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
            f"torch threads per trial 1; load average {load:.1f} when the script started")


def workers_run(workers: int, trials: int, seed: int, window: int) -> tuple[float, float, list[str]]:
    """One search on ``workers`` process workers: (wall seconds, steady seconds, fingerprints in trial order)."""
    with tempfile.TemporaryDirectory(prefix="snas-parallel-") as tmp:
        start = time.perf_counter()
        result = snas.search(
            "digits", "evolutionary", max_trials=trials, seed=seed, run_dir=Path(tmp) / "run",
            executor="process", num_workers=workers,
            strategy_options={"aging": True, "population_size": 8, "generations": 10 * trials},
            config={"max_in_flight": window, "threads_per_trial": 1, "retrain_top": 0},
        )
        wall = time.perf_counter() - start
    trained = [t for t in result.trials if t.cached_from is None]
    steady = max(t.started + t.duration for t in trained) - min(t.started for t in trained)
    return wall, steady, [t.fingerprint for t in sorted(result.trials, key=lambda t: t.trial_id)]


def workers_section(trials: int, repeats: int, seed: int, window: int) -> str:
    walls: dict[int, list[float]] = {1: [], 2: []}
    steadies: dict[int, list[float]] = {1: [], 2: []}
    prints: dict[int, list[str]] = {}
    for _ in range(repeats):
        for workers in (1, 2):
            wall, steady, fingerprints = workers_run(workers, trials, seed, window)
            walls[workers].append(wall)
            steadies[workers].append(steady)
            prints.setdefault(workers, fingerprints)
            print(f"  {workers} worker(s): {wall:.1f} s wall, {steady:.1f} s steady", flush=True)
    same = prints[1] == prints[2]
    rows = []
    for workers in (1, 2):
        wall, steady = statistics.median(walls[workers]), statistics.median(steadies[workers])
        rows.append((workers, wall, steady, trials / wall * 3600, trials / steady * 3600))
    speedup = rows[1][3] / rows[0][3]
    steady_speedup = rows[1][4] / rows[0][4]
    lines = [
        f"### Window {window}",
        "",
        f"Command: `python benchmarks/parallel_workers.py --only workers --trials {trials} --repeats {repeats} "
        f"--window {window} --write`",
        f"Machine: {machine()}.",
        "",
        f"Default search space (cnn, mlp) on digits, aging evolution, {trials} trials, process executor, "
        f"window {window} for both runs (the same architectures are trained: "
        f"{'checked, identical' if same else 'NOT identical'}). Median of {repeats} interleaved runs.",
        "",
        "| workers | wall (s) | steady (s) | trials/hour (wall) | trials/hour (steady) |",
        "|---|---|---|---|---|",
        *[f"| {w} | {wall:.1f} | {steady:.1f} | {tph:.0f} | {tph_s:.0f} |" for w, wall, steady, tph, tph_s in rows],
        "",
        f"Speed-up of 2 workers over 1: **{speedup:.2f}x** end to end (worker start-up included), "
        f"{steady_speedup:.2f}x steady; target ≥ {TARGET_SPEEDUP}x.",
        "",
    ]
    return "\n".join(lines)


class FinishTimes:
    """An observer noting when each trial finishes (in the driver, as the engine tells observers)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    @hookimpl
    def snas_trial_finished(self, run, trial) -> None:
        self.times.append(time.perf_counter())


def write_workers(text: str, window: int) -> None:
    """Put one window's table into the workers section, keeping the other windows' tables."""
    old = BENCHMARKS_MD.read_text()
    start = old.find(WORKERS_HEADING)
    section = "" if start < 0 else old[start:old.find("\n## ", start + 1) if old.find("\n## ", start + 1) > 0
                                            else len(old)]
    parts = {}
    for chunk in section.split("\n### ")[1:]:
        parts[chunk.split("\n", 1)[0]] = "### " + chunk.rstrip() + "\n"
    parts[f"Window {window}"] = text
    intro = (f"{WORKERS_HEADING}\n\nTrials per hour of the process executor on 1 and 2 workers of one torch "
             "thread, the same trials in both runs (`benchmarks/parallel_workers.py`). The machine was shared "
             "with other work when these were measured (see each table's load average): re-run it on a quiet "
             f"machine for figures to compare with the target (≥ {TARGET_SPEEDUP}x).\n\n")
    body = "\n".join(parts[k] for k in sorted(parts, key=lambda k: int(k.split()[-1])))
    write_section(BENCHMARKS_MD, WORKERS_HEADING, intro + body)


def lookup_intervals(executor: str, trials: int, seed: int, lookup_ms: float) -> list[float]:
    """Seconds between consecutive finished trials of a table-lookup search on one worker of ``executor``."""
    finished = FinishTimes()
    with tempfile.TemporaryDirectory(prefix="snas-ray-bench-") as tmp:
        result = snas.search(
            "nb201_table", "random", max_trials=trials, seed=seed, run_dir=Path(tmp) / "run", evaluator="nb201",
            network_types=["nb201"], executor=executor, num_workers=1, observers=[finished],
            evaluator_options={"table_path": str(TABLE), "sleep_seconds": lookup_ms / 1000},
            dataset_options={"dataset": "cifar10"}, config={"max_complexity": 3, "threads_per_trial": 1},
        )
    assert all(t.cached_from is None for t in result.trials) and len(result.trials) == trials
    return [b - a for a, b in zip(finished.times, finished.times[1:])]


def ray_section(lookups: int, repeats: int, lookup_ms: float) -> str:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    intervals: dict[str, list[float]] = {"process": [], "ray": []}
    try:
        for r in range(repeats):
            for executor in ("process", "ray"):
                found = lookup_intervals(executor, lookups, seed=r, lookup_ms=lookup_ms)
                intervals[executor] += found
                print(f"  {executor}: median {statistics.median(found) * 1000:.1f} ms per trial", flush=True)
    finally:
        ray.shutdown()
    per_trial = {e: statistics.median(v) * 1000 for e, v in intervals.items()}
    quartiles = {e: statistics.quantiles(v, n=4) for e, v in intervals.items()}
    overhead = per_trial["ray"] - per_trial["process"]
    lines = [
        RAY_HEADING,
        "",
        f"Command: `python benchmarks/parallel_workers.py --only ray --lookups {lookups} --repeats {repeats} "
        f"--lookup-ms {lookup_ms:g} --write`",
        f"Machine: {machine()}; Ray {ray.__version__}, a local instance of 2 CPUs.",
        "",
        f"NAS-Bench-201 table lookups that each sleep {lookup_ms:g} ms (a tiny trial), random search, one worker "
        f"(one process worker, or one Ray actor), {repeats} interleaved runs of {lookups} trials each. The trials "
        "run one after another, so the time between two consecutive finished trials is one trial's whole cost "
        "(lookup, executor round trip, engine); the median leaves out start-up.",
        "",
        "| executor | median per trial (ms) | quartiles (ms) |",
        "|---|---|---|",
        *[f"| {e} | {per_trial[e]:.1f} | {quartiles[e][0] * 1000:.1f} – {quartiles[e][2] * 1000:.1f} |"
          for e in ("process", "ray")],
        "",
        f"Ray overhead per trial over the process executor: **{overhead:.1f} ms** (target ≤ {TARGET_RAY_MS:g} ms): "
        "the actor call, the result through the object store, and the progress actor's round trip.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("workers", "ray"))
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window", type=int, default=2, help="max_in_flight of both runs")
    parser.add_argument("--lookups", type=int, default=100)
    parser.add_argument("--lookup-ms", type=float, default=20.0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.only in (None, "workers"):
        text = workers_section(args.trials, args.repeats, args.seed, args.window)
        print(text)
        if args.write:
            write_workers(text, args.window)
    if args.only in (None, "ray"):
        text = ray_section(args.lookups, args.repeats, args.lookup_ms)
        print(text)
        if args.write:
            write_section(BENCHMARKS_MD, RAY_HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
