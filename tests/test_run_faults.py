"""Faults a run survives, each through the CLI in a subprocess: one clear line, a non-zero exit, nothing lost."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import snas

from test_engine import nb201_table


def _snas(*args: str, limit_bytes: int | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "snas", *args], capture_output=True, text=True, env=env,
                          timeout=600, preexec_fn=limit, cwd=cwd)


def _one_clear_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def _image_folder(root: Path, per_class: int, classes: int = 3, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
            pixels[..., c] = 255  # each class has its own colour
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


NB201 = ["--dataset", "nb201_table", "-D", "dataset=cifar10", "--network-type", "nb201", "--max-complexity", "3",
         "--evaluator", "nb201", "--search-method", "random", "--quiet"]


@pytest.mark.slow
def test_a_full_disk_stops_the_search_cleanly_and_the_run_resumes(tmp_path):
    args = [*NB201, "-E", f"table_path={nb201_table()}", "--max-trials", "150", "--output-dir", str(tmp_path)]
    full = _snas("search", *args, "--run-name", "full", limit_bytes=60_000)
    line = _one_clear_line(full)
    assert "could not write" in line and "snas resume" in line
    folder = tmp_path / "full"
    partial = snas.load_run(folder)  # the last good state is intact
    assert 10 <= len(partial.trials) < 150
    assert not [f for f in folder.iterdir() if f.name.endswith(".tmp")]
    resumed = _snas("resume", str(folder))
    assert resumed.returncode == 0, resumed.stderr
    whole = _snas("search", *args, "--run-name", "whole")
    assert whole.returncode == 0, whole.stderr
    sig = lambda r: [(t.trial_id, t.fingerprint, t.score) for t in r.trials]  # noqa: E731
    assert sig(snas.load_run(folder)) == sig(snas.load_run(tmp_path / "whole"))


def test_a_data_set_too_small_to_split_is_refused_before_the_search(tmp_path):
    data = _image_folder(tmp_path / "tiny", per_class=4)
    proc = _snas("search", "--custom-folder-dataset", str(data), "--network-type", "mlp", "--max-trials", "2",
                 "--output-dir", str(tmp_path / "runs"), "--run-name", "tiny", "--quiet")
    line = _one_clear_line(proc)
    assert "too small to split" in line
    assert not (tmp_path / "runs" / "tiny" / "run.h5").exists()


@pytest.mark.slow
def test_resume_refuses_a_changed_data_set_unless_told(tmp_path):
    data = _image_folder(tmp_path / "images", per_class=30)
    runs = tmp_path / "runs"
    first = _snas("search", "--custom-folder-dataset", str(data), "--network-type", "mlp", "--max-trials", "2",
                  "--max-epochs", "1", "--output-dir", str(runs), "--run-name", "r", "--quiet")
    assert first.returncode == 0, first.stderr
    for image in sorted((data / "class0").iterdir())[:15]:
        image.unlink()  # half of a class gone
    refused = _snas("resume", str(runs / "r"), "--max-trials", "3")
    assert "not the one this run started with" in _one_clear_line(refused)
    assert len(snas.load_run(runs / "r").trials) == 2  # untouched
    allowed = _snas("resume", str(runs / "r"), "--max-trials", "3", "--allow-changed-data")
    assert allowed.returncode == 0, allowed.stderr
    assert len(snas.load_run(runs / "r").trials) == 3


def test_run_names_stay_inside_the_output_folder(tmp_path):
    for name in ("../escape", str(tmp_path / "absolute"), "a/b"):
        proc = _snas("search", "--run-name", name, "--output-dir", str(tmp_path / "runs"), "--max-trials", "1")
        assert "plain folder name" in _one_clear_line(proc)
    assert not (tmp_path / "escape").exists() and not (tmp_path / "absolute").exists()


def test_settings_out_of_range_name_the_setting(tmp_path):
    line = _one_clear_line(_snas("search", "--seed", "-5", "--output-dir", str(tmp_path)))
    assert "--seed" in line and "-5" in line and ">=0" in line
    proc = _snas("search", "-S", "population_size=0", "--output-dir", str(tmp_path))
    assert "population_size" in _one_clear_line(proc) and "2" in _one_clear_line(proc)


@pytest.mark.slow
def test_two_searches_on_one_run_folder_the_second_refuses(tmp_path):
    args = [*NB201, "-E", f"table_path={nb201_table()}", "-E", "sleep_seconds=0.2", "--max-trials", "30",
            "--output-dir", str(tmp_path), "--run-name", "same"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([sys.executable, "-m", "snas", "search", *args], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        folder = tmp_path / "same"
        deadline = __import__("time").monotonic() + 120
        while not snas.runtime.store.lock_holder(folder) and __import__("time").monotonic() < deadline:
            __import__("time").sleep(0.05)
        second = _snas("search", *args)
        line = _one_clear_line(second)
        assert f"process {first.pid}" in line or "already exists" in line
        out, err = first.communicate(timeout=300)
        assert first.returncode == 0, err  # the first is untouched
        assert len(snas.load_run(folder).trials) == 30
    finally:
        first.kill()
