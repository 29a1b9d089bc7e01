"""Shared fixtures. Tests run on the CPU with one thread per process.

Real data that cannot ship with the package (MNIST, the CIFAR-10 JPEGs, the
NAS-Bench-201 table) is found with :func:`real_data`: under
``$SNAS_TEST_DATA``, by default ``../shared/data`` beside the repository.
Where a file is missing the test is skipped with a reason naming it, except
under ``CI=true``, where it fails, so CI always runs on the real data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

REPOSITORY = Path(__file__).resolve().parents[1]
#: environment variable naming the folder of real test data
TEST_DATA_ENV = "SNAS_TEST_DATA"


def data_root() -> Path:
    """``$SNAS_TEST_DATA``, or ``../shared/data`` relative to the repository root."""
    configured = os.environ.get(TEST_DATA_ENV, "").strip()
    return Path(configured).expanduser() if configured else REPOSITORY.parent / "shared" / "data"


#: the real-data folder as seen when the tests start (prefer :func:`real_data`, which skips when a file is missing)
SHARED_DATA = data_root()
#: NAS-Bench-201's table inside it
NB201_TABLE = SHARED_DATA / "nb201" / "nb201.csv.gz"


def in_ci() -> bool:
    """Whether this is a CI run (``CI=true``), where nothing may be skipped for a missing resource."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(reason: str) -> None:
    """Skip the test for a missing file or package; under CI, fail it instead."""
    if in_ci():
        pytest.fail(f"{reason}; CI=true requires it", pytrace=False)
    pytest.skip(reason)


def real_data(relative: str) -> Path:
    """The file or folder ``relative`` under the real-data root; skip the test when it is missing.

    Under ``CI=true`` a missing file fails the test instead.
    """
    root = data_root()
    path = root / relative
    if not path.exists():
        where = f"${TEST_DATA_ENV}={root}" if os.environ.get(TEST_DATA_ENV, "").strip() else f"{root} (set {TEST_DATA_ENV})"
        missing(f"real test data {relative!r} not found under {where}")
    return path


def require_module(name: str, why: str = ""):
    """Import ``name``; skips (fails under CI) when it is not installed."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"{name} is not installed{' (' + why + ')' if why else ''}: {exc}")


@pytest.fixture
def nb201_table(monkeypatch) -> Path:
    """The NAS-Bench-201 table (skip or, under CI, fail without it), made the nb201 evaluator's default."""
    table = real_data("nb201/nb201.csv.gz")
    monkeypatch.setenv("SNAS_NB201", str(table))
    return table


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


@pytest.fixture
def nb201_table(monkeypatch):
    """The NAS-Bench-201 table (``$SNAS_NB201``, else under ``$SNAS_TEST_DATA``), made the evaluator's default.

    Skips when it is absent; fails when it is absent under ``CI=true``.
    """
    shared = Path(os.environ.get("SNAS_TEST_DATA") or SHARED_DATA)
    table = Path(os.environ.get("SNAS_NB201") or shared / "nb201" / "nb201.csv.gz")
    if not table.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the NAS-Bench-201 table is missing at {table} (set SNAS_TEST_DATA or SNAS_NB201)")
        pytest.skip(f"the NAS-Bench-201 table is not at {table} (set SNAS_TEST_DATA or SNAS_NB201)")
    monkeypatch.setenv("SNAS_NB201", str(table))
    return table


#: files whose tests take a minute or more each: run first, so that with ``-n 2`` the short tests fill
#: the other process around them instead of one process finishing them alone at the end
LONG_FIRST = ("test_resume.py", "test_strategy_quality.py", "test_ui_browser.py", "test_executors_ray.py")


def pytest_collection_modifyitems(items):
    """Order the long test files first (a stable sort: each file keeps its own order)."""
    items.sort(key=lambda item: item.path.name not in LONG_FIRST)
