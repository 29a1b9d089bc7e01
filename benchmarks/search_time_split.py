"""Where a time-budgeted search's wall clock goes: training against everything else.

    python benchmarks/search_time_split.py --dataset cifar10 --budget 300 [--seed 0] [--write]

Runs ``snas search <data> --time-budget B --seed S`` (every other option at
its default) in this process, through the same command-line entry point a
user calls, with timers wrapped around the steps that are not training:
start-up (imports, plugin discovery, option parsing), the engine's set-up
(data loading), the strategy's ask/tell, run-file writes (journal, HDF5
checkpoints, weights, live file), and inside each trial the validation
passes, the test pass, the test-set metrics and the FLOP count. Training is
what is left of each trial's duration. The final training (the best
network trained again in the last share of the budget) and the search
trials the deadline ended are shown apart, as parts of the trials' time.
``--write`` replaces the "Where a search's time goes" section of
docs/benchmarks.md.

The default executor runs trials in this process, so every timer sees them;
with ``--num-workers`` above 1 the in-trial timers would miss the workers.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # before torch and snas are imported: start-up counts their imports

import argparse  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import bench_data  # noqa: E402
from report import BENCHMARKS_MD, OtherLoad, write_section  # noqa: E402  (benchmarks/report.py, beside this script)

HEADING = "## Where a search's time goes"

spent: dict[str, float] = defaultdict(float)
_active: set[str] = set()
engine_started: list[float] = []  # when the engine's run began: start-up is everything before it


def timed(owner: object, name: str, label: str) -> None:
    """Wrap ``owner.name``: its wall time adds to ``spent[label]`` ("in trials: label" while a trial runs)."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        key = f"in trials: {label}" if "trial" in _active and label != "trial" else label
        if key in _active:
            return original(*args, **kwargs)
        _active.add(key)
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - start
            _active.discard(key)

    setattr(owner, name, wrapper)


def instrument() -> None:
    from snas.runtime import engine, store
    from snas_plugins.evaluators import train

    run = engine.Engine.run

    @functools.wraps(run)
    def stamped_run(self, *args, **kwargs):
        engine_started.append(time.perf_counter())
        return run(self, *args, **kwargs)

    engine.Engine.run = stamped_run
    timed(engine.EvaluationJob, "evaluate", "trial")  # what runs inside it is counted as in-trial time
    timed(engine.Engine, "_build", "set-up and data loading")
    timed(engine.Engine, "_call_strategy", "strategy (ask/tell)")
    timed(store.RunWriter, "create", "run-file writes, creation")
    for method in ("append", "append_many", "flush", "sync", "write_weights", "drop_weights",
                   "write_live", "checkpoint"):
        timed(store.RunWriter, method, "run-file writes")
    timed(train, "evaluate_split", "validation passes")  # the test pass uses split_logits by default
    timed(train, "split_logits", "test pass")
    timed(train, "classification_metrics", "test metrics")
    timed(train, "count_flops", "FLOP count")


def _final_note(final: list) -> str:
    """How the summary line names the final training: its epochs, or that it did not run."""
    if not final:
        return "no final training"
    epochs = final[0].metrics.get("epochs")
    return f"the final training ({epochs} epochs)" if epochs else "the final training"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10", choices=bench_data.DATASETS)
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    import snas
    from snas.frontends.cli import main as snas_main

    instrument()
    load = OtherLoad()
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["search", *bench_data.cli_args(args.dataset), "--time-budget", f"{args.budget:g}", "--seed",
                str(args.seed), "--output-dir", tmp, "--run-name", "run", "--quiet"]
        with contextlib.suppress(SystemExit):
            snas_main(argv)
        wall = time.perf_counter() - T0
        result = snas.load_run(Path(tmp) / "run")

    trials = result.trials
    in_trials = sum(t.duration for t in trials)
    final = [t for t in trials if t.meta.get("final")]
    search = [t for t in trials if not t.meta.get("final")]
    cut = [t for t in search if t.status in ("cut_short", "pruned")]
    clocked = [t for t in search if t.ended_by_the_clock]
    inside = ("validation passes", "test pass", "test metrics", "FLOP count", "run-file writes")
    setup = spent["set-up and data loading"]
    engine_io = spent["run-file writes"] + spent["run-file writes, creation"] + spent["strategy (ask/tell)"]
    before = engine_started[0] - T0
    rows = [
        ("start-up: imports, plugin discovery, options", before),
        ("set-up and data loading", setup),
        ("training (trials' time less the rows below)", in_trials - sum(spent[f"in trials: {k}"] for k in inside)),
        *[(f"  in trials: {k}", spent[f"in trials: {k}"]) for k in inside],
        ("  (of all trial time: the final training)", sum(t.duration for t in final)),
        ("  (of all trial time: search trials the deadline ended, cut short or finished early)",
         sum(t.duration for t in clocked)),
        ("outside trials: strategy (ask/tell) and run-file writes (creating and closing it included)", engine_io),
        ("the rest: engine bookkeeping, closing, the summary", wall - before - setup - in_trials - engine_io),
    ]
    best = result.best
    lines = [
        HEADING,
        "",
        f"Command: `python benchmarks/search_time_split.py --dataset {args.dataset} --budget {args.budget:g} "
        f"--seed {args.seed} --write` (runs `snas search` in-process with timers around every step that is "
        "not training). "
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"{load.describe()}.",
        "",
        f"{len(search)} search trials ({len(search) - len(cut)} finished, {len(cut)} cut short or pruned; "
        f"{len(clocked)} ended by the deadline) and {_final_note(final)}; wall time "
        f"{wall:.1f} s for a {args.budget:g} s budget, {max(0.0, args.budget - wall):.1f} s of it unused; "
        + (f"best test accuracy {best.metrics.get('test_accuracy', float('nan')):.4f} ({best.arch.family})."
         if best is not None else "no trial finished."),
        "",
        "| where | seconds | share of wall time |",
        "|---|---:|---:|",
        *[f"| {name} | {seconds:.1f} | {100 * seconds / wall:.1f}% |" for name, seconds in rows],
        f"| wall time | {wall:.1f} | 100% |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(BENCHMARKS_MD, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
