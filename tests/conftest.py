"""Shared fixtures. Tests run on the CPU with one thread per process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

#: the repository's shared folder of real data, beside the checkout
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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
    os.environ.pop("SNAS_LOAD_PLUGINS", None)
