"""Kill -9 at a random moment, resume, and get exactly the uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import snas

ARGS = ["--search-method", "evolutionary", "--network-type", "mlp", "--population-size", "4",
        "--generations", "4", "--max-epochs", "8", "--patience", "8", "--seed", "7", "--quiet", "--json"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # the same arithmetic in every process
    return env


def _snas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snas.cli", *args], capture_output=True, text=True, env=_env(),
                          timeout=600)


def _signature(path: Path) -> list[tuple]:
    result = snas.load_run(path)
    return [(t.trial_id, t.fingerprint, t.status, t.score, t.metrics.get("test_accuracy")) for t in result.trials]


@pytest.mark.slow
def test_killed_and_resumed_run_equals_uninterrupted_run(tmp_path):
    full = _snas("search", *ARGS, "--output-dir", str(tmp_path), "--run-name", "whole")
    assert full.returncode == 0, full.stderr
    expected = _signature(tmp_path / "whole" / "run.h5")
    assert len(expected) >= 6

    run_file = tmp_path / "killed" / "run.h5"
    proc = subprocess.Popen([sys.executable, "-m", "snas.cli", "search", *ARGS, "--output-dir", str(tmp_path),
                             "--run-name", "killed"], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # wait until the run has committed a random number of trials, then kill it a random moment later
    wanted = random.randint(1, len(expected) - 3)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if run_file.exists():
            try:
                if len(snas.load_run(run_file).trials) >= wanted:
                    break
            except snas.RunFileError:
                pass
        time.sleep(0.02)
    time.sleep(random.uniform(0.0, 0.2))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = snas.load_run(run_file)  # whatever moment the kill hit, the file opens
    assert partial.status == "running"
    assert 1 <= len(partial.trials) <= len(expected)
    assert _signature(run_file) == expected[: len(partial.trials)]

    resumed = _snas("resume", str(run_file), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert _signature(run_file) == expected
    assert json.loads(resumed.stdout)["best"]["fingerprint"] == snas.load_run(tmp_path / "whole" / "run.h5").best.fingerprint


@pytest.mark.slow
def test_sigterm_stops_cleanly_with_a_summary(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "snas.cli", "search", "--network-type", "mlp", "--max-trials", "40",
                             "--max-epochs", "3", "--output-dir", str(tmp_path), "--run-name", "term", "--quiet"],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_file = tmp_path / "term" / "run.h5"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (run_file.exists() and snas.load_run(run_file).trials):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "best architecture" in out and "run file" in out
    assert "snas resume" in err
    result = snas.load_run(run_file)
    assert result.status == "interrupted" and 1 <= len(result.trials) < 40
