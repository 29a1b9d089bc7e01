"""A plugin package outside this repository works without touching snas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent / "third_party_plugin"


@pytest.mark.slow
def test_installed_third_party_family_is_searched(tmp_path):
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(PACKAGE)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1"}
    listing = subprocess.run([sys.executable, "-m", "snas", "plugins"], capture_output=True, text=True, env=env)
    line = next(l for l in listing.stdout.splitlines() if l.strip().startswith("tiny_mlp"))
    assert "snas-tiny-family" in line and "0.3.0" in line
    search = subprocess.run(
        [sys.executable, "-m", "snas", "search", "--network-type", "tiny_mlp", "--search-method", "random",
         "--max-trials", "3", "--max-epochs", "2", "--output-dir", str(tmp_path), "--run-name", "t", "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert search.returncode == 0, search.stderr
    data = json.loads(search.stdout)
    assert {t["family"] for t in data["trials"]} == {"tiny_mlp"}
    assert data["plugins"]["family"]["tiny_mlp"]["distribution"] == "snas-tiny-family"
    assert data["best"]["test_accuracy"] > 0.5
    # its strategy's settings are snas search flags, with no change to snas
    help_text = subprocess.run([sys.executable, "-m", "snas", "search", "--search-method", "widest_first", "--help"],
                               capture_output=True, text=True, env=env).stdout
    assert "Options of the strategy 'widest_first'" in help_text and "--warm-up" in help_text
    assert "Widest architectures proposed before random ones." in help_text
    widest = subprocess.run(
        [sys.executable, "-m", "snas", "search", "--network-type", "tiny_mlp", "--search-method", "widest_first",
         "--warm-up", "3", "--max-trials", "4", "--max-epochs", "1", "--output-dir", str(tmp_path), "--run-name", "w",
         "--json"], capture_output=True, text=True, env=env, timeout=300,
    )
    assert widest.returncode == 0, widest.stderr
    data = json.loads(widest.stdout)
    assert data["config"]["strategy_options"] == {"warm_up": 3}
    warm_up = [t["meta"]["warm_up"] for t in data["trials"]]
    assert warm_up[:3] == [True, True, True] and not any(warm_up[3:])
    # the trial budget counts evaluations: a proposal already evaluated is recorded as a cache hit on top
    assert sum(t["cached_from"] is None for t in data["trials"]) == 4
    wrong = subprocess.run([sys.executable, "-m", "snas", "search", "--warm-up", "3"], capture_output=True, text=True,
                           env=env)
    assert wrong.returncode != 0 and "option of the strategy 'widest_first'" in wrong.stderr
