"""SIGKILL at seeded moments, resume, and get exactly the uninterrupted run; signals end runs cleanly."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import snas

from test_engine import nb201_table

#: where the kill moments come from: change it to draw other moments, quote it to replay a failure
KILL_SEED = 20261201

DIGITS_MLP = ["--network-type", "mlp", "--max-epochs", "3", "--patience", "3", "-E", "full_metrics=false",
              "--threads-per-trial", "1"]


def _nb201(strategy: str, *extra: str) -> list[str]:
    return ["--dataset", "nb201_table", "-D", "dataset=cifar10", "--network-type", "nb201", "--max-complexity", "3",
            "--evaluator", "nb201", "-E", f"table_path={nb201_table()}", "-E", "sleep_seconds=0.06",
            "--search-method", strategy, *extra]


#: (name, arguments, kill moments): 21 moments over evolutionary (with and without weight inheritance), PNAS and
#: ENAS, inline and on 2 workers
SCENARIOS = [
    ("aging evolution, 2 workers", lambda: _nb201(
        "evolutionary", "-S", "aging=true", "--population-size", "6", "--generations", "30", "--max-trials", "24",
        "--num-workers", "2"), 4),
    ("generational evolution, real training", lambda: [
        "--search-method", "evolutionary", "--population-size", "4", "--generations", "3", *DIGITS_MLP], 4),
    ("PNAS, inline", lambda: _nb201("pnas", "-S", "initial_samples=6", "-S", "top_k=3", "--max-trials", "18"), 3),
    ("PNAS, 2 workers", lambda: _nb201("pnas", "-S", "initial_samples=6", "-S", "top_k=3", "--max-trials", "18",
                                       "--num-workers", "2"), 3),
    ("evolution with weight inheritance, real training, 2 workers", lambda: [
        "--search-method", "evolutionary", "--population-size", "4", "--generations", "4", "--weight-inheritance",
        "--weight-sharing-max-models", "2", "-E", "inherited_epochs=2", "--num-workers", "2", *DIGITS_MLP], 3),
    ("ENAS, real training", lambda: [
        "--search-method", "enas", "-S", "shared_epochs=2", "-S", "controller_steps=3", "-S", "final_count=4",
        "-S", "controller_sample_count=8", *DIGITS_MLP], 4),
]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # the same arithmetic in every process
    return env


def _snas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snas", *args], capture_output=True, text=True, env=_env(),
                          timeout=900)


def _signature(path: Path) -> list[tuple]:
    result = snas.load_run(path)
    return [(t.trial_id, t.fingerprint, t.status, t.score, t.metrics.get("test_accuracy"), t.cached_from,
             t.meta.get("inherit"), t.metrics.get("inherited_fraction")) for t in result.trials]


@pytest.mark.slow
@pytest.mark.parametrize("name,make_args,moments", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_killed_and_resumed_runs_equal_the_uninterrupted_run(tmp_path, name, make_args, moments):
    args = [*make_args(), "--seed", "7", "--quiet", "--json"]
    start = time.monotonic()
    whole = _snas("search", *args, "--output-dir", str(tmp_path), "--run-name", "whole")
    assert whole.returncode == 0, whole.stderr
    duration = time.monotonic() - start
    expected = _signature(tmp_path / "whole")
    assert len(expected) >= 4

    rng = random.Random(f"{KILL_SEED}:{name}")
    for k in range(moments):
        moment = 0.0 if k == 0 else rng.uniform(0.0, duration * 0.8)  # the first: as soon as the run exists
        print(f"{name}: kill {k} at {moment:.3f} s after the run folder appeared (KILL_SEED={KILL_SEED})")
        folder = tmp_path / f"killed{k}"
        proc = subprocess.Popen([sys.executable, "-m", "snas", "search", *args, "--output-dir", str(tmp_path),
                                 "--run-name", folder.name], env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 300
        while not (folder / "run.h5").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(moment)
        os.killpg(proc.pid, signal.SIGKILL)  # the search and its workers, at once
        proc.wait()
        snas.load_run(folder)  # whatever moment the kill hit, the run opens
        by_id = {row[0]: row for row in expected}
        assert all(row == by_id[row[0]] for row in _signature(folder))  # what finished is what would have
        resumed = _snas("resume", str(folder), "--json")
        assert resumed.returncode == 0, f"kill {k} at {moment:.3f}s: {resumed.stderr}"
        assert _signature(folder) == expected, f"kill {k} at {moment:.3f}s"


@pytest.mark.slow
def test_sigterm_stops_cleanly_with_a_summary_and_exit_143(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "snas", "search", "--network-type", "mlp", "--max-trials", "40",
                             "--max-epochs", "3", "--output-dir", str(tmp_path), "--run-name", "term", "--quiet"],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_file = tmp_path / "term" / "run.h5"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (run_file.exists() and snas.load_run(run_file).trials):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "best architecture" in out and "run file" in out
    assert "snas resume" in err and "Traceback" not in err
    result = snas.load_run(run_file)
    assert result.status == "interrupted" and 1 <= len(result.trials) < 40


@pytest.mark.slow
def test_ctrl_c_at_start_up_is_one_line_and_exit_130(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "snas", "search", "--output-dir", str(tmp_path)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # importing torch and the plugins
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted")
