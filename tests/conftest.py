"""Shared fixtures. Tests run on the CPU with one thread per process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

#: the shared folder of real data: $SNAS_TEST_DATA, else ../shared/data beside the checkout
SHARED_DATA = Path(os.environ.get("SNAS_TEST_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
#: NAS-Bench-201's table inside it
NB201_TABLE = SHARED_DATA / "nb201" / "nb201.csv.gz"


def in_ci() -> bool:
    """Whether the suite runs under CI (``CI=true``), where nothing may be skipped for a missing resource."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(reason: str) -> None:
    """Skip the test for a missing file or package; under CI, fail it instead."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing resource fails the test)")
    pytest.skip(reason)


def shared_file(relative: str) -> Path:
    """``SHARED_DATA / relative``; skips (fails under CI) when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        missing(f"{path} not found: set SNAS_TEST_DATA to the folder of shared test data")
    return path


def require_module(name: str, why: str = ""):
    """Import ``name``; skips (fails under CI) when it is not installed."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"{name} is not installed{' (' + why + ')' if why else ''}: {exc}")


@pytest.fixture
def manager():
    """The process-wide plugin manager with every installed plugin."""
    from snas.runtime.plugins import get_plugin_manager

    return get_plugin_manager()


@pytest.fixture
def digits(manager):
    """The digits data set, loaded once per test."""
    cls = manager.get_dataset("digits")
    return cls(cls.Options()).load(seed=0)


@pytest.fixture
def fast_training():
    """Evaluator options for quick, still real, training runs."""
    return {"max_epochs": 4, "patience": 2}


@pytest.fixture(autouse=True)
def _isolate_cwd(tmp_path, monkeypatch):
    """Runs write ./snas-runs; keep them out of the repository."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SNAS_TEST", "1")
    if "SNAS_NB201" not in os.environ and NB201_TABLE.is_file():
        monkeypatch.setenv("SNAS_NB201", str(NB201_TABLE))  # where the nb201 evaluator looks by default
    os.environ.pop("SNAS_LOAD_PLUGINS", None)
