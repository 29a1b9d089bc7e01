"""The main job: `snas search` with no options, timed end to end as a user runs it.

    python benchmarks/default_search.py [--write]

Runs the installed `snas` command in a fresh process (import time included),
reads its run file, and reports wall time, trials, and the best model's
validation and test accuracy against the targets: under 180 s on a 2-core CPU,
test accuracy at least 0.95. ``--write`` replaces the "Default search on
digits" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import snas

from report import BENCHMARKS_MD, write_section  # benchmarks/report.py, beside this script

TARGET_SECONDS = 180.0
HEADING = "## Default search on digits"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    command = shutil.which("snas") or str(Path(sys.executable).with_name("snas"))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([command, "search", "--quiet"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        run_file = next(Path(tmp, "snas-runs").glob("*/run.h5"))
        result = snas.load_run(run_file)
    best = result.best
    # the defaults the run used, from their declarations (the text cannot go stale when they change)
    from snas_plugins.evaluators.train import TrainOptions
    from snas_plugins.strategies.evolutionary import EvolutionaryOptions

    evolution, training = EvolutionaryOptions(), TrainOptions()
    lines = [
        HEADING,
        "",
        "Command: `python benchmarks/default_search.py --write` (runs `snas search` with no options in a new process)",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; "
        "nothing else running.",
        "",
        "| wall time (s) | target (s) | ratio to target | trials | best family | val accuracy | test accuracy |",
        "|---|---|---|---|---|---|---|",
        f"| {seconds:.1f} | {TARGET_SECONDS:.0f} | {seconds / TARGET_SECONDS:.2f} | {len(result.trials)} | "
        f"{best.arch.family} | {best.score:.4f} | {best.metrics['test_accuracy']:.4f} |",
        "",
        f"Defaults: evolutionary search, population {evolution.population_size}, {evolution.generations} "
        f"generations ({len(result.trials)} trials), cnn and mlp at complexity level 1, at most "
        f"{training.max_epochs} epochs per trial with patience {training.patience}; target test accuracy ≥ 0.95.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(BENCHMARKS_MD, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
