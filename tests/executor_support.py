"""Helpers shared by the executor tests: the test plugin on ``sys.path``, process trees, shared data."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from conftest import real_data, require_module

HERE = Path(__file__).resolve().parent
TESTKIT = HERE / "executor_plugin" / "snas_executor_testkit.py"


def install_testkit(site: Path) -> Path:
    """Lay the test plugin out in ``site`` as an installed distribution (module + dist-info)."""
    site.mkdir(parents=True, exist_ok=True)
    shutil.copy(TESTKIT, site / TESTKIT.name)
    info = site / "snas_executor_testkit-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: snas-executor-testkit\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[snas]\nexecutor_testkit = snas_executor_testkit\n")
    return site


#: the plugins the test plugin's searches need: each worker process loads only these, which saves it
#: seconds of start-up (the trainer alone imports scikit-learn)
TESTKIT_PLUGINS = "digits,mlp,random,inline,process,ray_executor,executor_testkit"


@pytest.fixture
def testkit(tmp_path_factory, monkeypatch):
    """The test plugin, visible to this process, its worker processes and subprocesses (via PYTHONPATH)."""
    from snas.runtime.plugins import reset_plugin_manager

    site = install_testkit(tmp_path_factory.mktemp("testkit-site"))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("SNAS_LOAD_PLUGINS", TESTKIT_PLUGINS)
    reset_plugin_manager()
    yield site
    sys.modules.pop("snas_executor_testkit", None)
    reset_plugin_manager()


def nb201_table() -> Path:
    """The NAS-Bench-201 table; skips the test when it is absent (fails under CI=true, where it must be)."""
    return real_data("nb201/nb201.csv.gz")


def import_ray():
    """``ray``, or a skip where it is not installed (a failure under CI=true, where the test extra has it)."""
    return require_module("ray", "pip install -e '.[test]' or 'snas[ray]'")


def trials_reporting(run_folder: Path) -> int:
    """How many trials in flight have reported progress, by the run folder's ``live.json``."""
    try:
        live = json.loads((Path(run_folder) / "live.json").read_text())
    except (OSError, ValueError):
        return 0
    return sum(1 for t in live.get("in_flight", []) if t.get("progress"))


# -- process trees, read from /proc ------------------------------------------------


def _stat(pid: int) -> tuple[int, str, int] | None:
    """``(parent pid, state, start time)`` of a process, or ``None`` when it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), fields[0], int(fields[19])


def descendants(pid: int) -> dict[int, int]:
    """Every living descendant of ``pid``: ``{pid: start time}`` (the pair names a process uniquely)."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[1] != "Z":
                parents.setdefault(stat[0], []).append(int(entry))
                starts[int(entry)] = stat[2]
    out: dict[int, int] = {}
    todo = list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        if child in starts and child not in out:
            out[child] = starts[child]
            todo.extend(parents.get(child, []))
    return out


def still_alive(processes: dict[int, int], wait: float = 10.0) -> dict[int, str]:
    """Which of ``processes`` (from :func:`descendants`) are alive after up to ``wait`` seconds: ``{pid: cmdline}``."""
    deadline = time.monotonic() + wait
    while True:
        alive = {}
        for pid, start in processes.items():
            stat = _stat(pid)
            if stat is not None and stat[2] == start and stat[1] != "Z":
                alive[pid] = cmdline(pid)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def cmdline(pid: int) -> str:
    """The command line of a process ('' when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def is_resource_tracker(pid: int) -> bool:
    """Whether ``pid`` is the multiprocessing resource tracker: one per interpreter, shared by every pool it
    starts, which ends with the interpreter (it is not a worker of any one search)."""
    return "multiprocessing.resource_tracker" in cmdline(pid)
