"""The process executor: workers per device, packing, worker death, and stops that leave nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import snas
from snas import EvaluationJob, EvaluationTask, hookimpl

from executor_support import (  # noqa: F401 - testkit is a fixture
    descendants, is_resource_tracker, still_alive, testkit, trials_reporting,
)

pytestmark = pytest.mark.timeout(300)


def _pool(manager, **kwargs):
    cls = manager.get_executor("process")
    options = kwargs.pop("options", {})
    return cls(cls.Options(**options), **kwargs)


def _job(**evaluator_options) -> EvaluationJob:
    return EvaluationJob(dataset="digits", dataset_options={}, evaluator="steps", evaluator_options=evaluator_options,
                         families=["mlp"], device="cpu", data_seed=0)


def _tasks(manager, n: int, seed: int = 0) -> list[EvaluationTask]:
    import numpy as np

    space = manager.get_family("mlp").space()
    rng = np.random.default_rng(seed)
    return [EvaluationTask(i, space.sample(rng), seed=i) for i in range(n)]


def _collect(pool, n: int, timeout: float = 120.0) -> dict[int, snas.TrialResult]:
    results: dict[int, snas.TrialResult] = {}
    deadline = time.monotonic() + timeout
    while len(results) < n:
        assert time.monotonic() < deadline, f"only {len(results)} of {n} results after {timeout} s"
        for task, result in pool.wait(timeout=0.5):
            assert task.trial_id not in results, "a task finished twice"
            results[task.trial_id] = result
    return results


def test_worker_count_follows_devices_and_trials_per_gpu(manager):
    # --gpu-ids 0,1 alone: one worker per GPU; --trials-per-gpu K packs K on each; --num-workers is a floor
    assert _pool(manager, devices=["cuda:0", "cuda:1"]).slots == 2
    assert _pool(manager, devices=["cuda:0", "cuda:1"], options={"trials_per_gpu": 4}).slots == 8
    assert _pool(manager, devices=["cuda:0"], options={"trials_per_gpu": 3}).slots == 3
    assert _pool(manager, devices=["cpu"], num_workers=3).slots == 3
    assert _pool(manager, devices=["cuda:0", "cuda:1"], num_workers=5).slots == 5


def test_bad_trials_per_gpu_is_a_clear_error(manager):
    from snas import make_options

    with pytest.raises(snas.ConfigError, match="trials_per_gpu must be >= 1"):
        make_options(manager.get_executor("process").Options, {"trials_per_gpu": 0}, "options of executor 'process'")


def test_trials_are_packed_on_every_device_with_threads_shared_out(manager, testkit):
    pool = _pool(manager, devices=["cpu", "cpu:0"], options={"trials_per_gpu": 2})
    pool.start(_job(steps=4, step_seconds=0.05), on_progress=lambda p: None)
    try:
        for task in _tasks(manager, 4):
            pool.submit(task)  # four slots: no submit may find every worker busy
        results = _collect(pool, 4)
    finally:
        pool.close()
    assert all(r.ok for r in results.values()), [r.error for r in results.values()]
    assert len({r.metrics["pid"] for r in results.values()}) == 4, "four trials, four worker processes"
    assert sorted(r.metrics["device"] for r in results.values()) == ["cpu", "cpu", "cpu:0", "cpu:0"]
    assert {r.metrics["threads"] for r in results.values()} == {max(1, os.cpu_count() // 4)}


def _killer(kills: int):
    """An on_progress callback that SIGKILLs the worker reporting trial 0, on the first ``kills`` attempts."""
    killed: list[int] = []
    progress: list[snas.TrialProgress] = []

    def on_progress(p: snas.TrialProgress) -> None:
        progress.append(p)
        pid = int(p.metrics["pid"])
        if p.trial_id == 0 and p.step <= 2 and len(killed) < kills and pid not in killed:
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)

    return on_progress, killed, progress


def test_a_worker_killed_mid_trial_costs_one_retry_on_a_fresh_worker(manager, testkit):
    pool = _pool(manager, devices=["cpu"], num_workers=1)
    on_progress, killed, progress = _killer(kills=1)
    pool.start(_job(steps=40, step_seconds=0.05), on_progress=on_progress)
    try:
        task, other = _tasks(manager, 2)
        pool.submit(task)
        result = _collect(pool, 1)[0]
        assert result.ok, result.error
        assert killed and result.metrics["pid"] != killed[0], "the retry ran in a fresh worker"
        assert [p.step for p in progress if p.trial_id == 0][-1] == 40
        pool.submit(other)  # the pool replaced its worker and goes on
        assert _collect(pool, 1)[1].ok
    finally:
        pool.close()


def test_a_search_goes_on_when_plugins_kill_their_workers(tmp_path, testkit):
    marker = tmp_path / "markers"
    marker.mkdir()
    result = snas.search(
        "digits", "random", max_trials=6, seed=3, run_dir=tmp_path / "run", network_types=["mlp"],
        evaluator="steps", executor="process", num_workers=2,
        evaluator_options={"steps": 4, "step_seconds": 0.02, "kill_once": [1], "kill_always": [3],
                           "marker_dir": str(marker)},
    )
    trials = {t.trial_id: t for t in result.trials}
    assert sorted(trials) == list(range(6))
    assert trials[1].ok and (marker / "attempted-1").exists(), "killed once, then retried and finished"
    assert int((marker / "attempted-1").read_text()) != trials[1].metrics["pid"]
    # killed on both attempts: recorded as failed with the cause, and the search went on
    assert trials[3].status == "failed"
    assert "SIGKILL" in trials[3].error and "twice" in trials[3].error
    assert all(trials[i].ok for i in (0, 2, 4, 5))


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_sigterm_to_snas_search_leaves_no_process_behind(tmp_path, testkit):
    command = [sys.executable, "-m", "snas", "search", "--quiet", "--dataset", "digits",
               "--search-method", "random", "--network-type", "mlp", "--max-trials", "6", "--num-workers", "2",
               "--evaluator", "steps", "-E", "steps=400", "-E", "step_seconds=0.05",
               "--output-dir", str(tmp_path), "--run-name", "run"]
    search = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: dict[int, int] = {}
    try:
        def two_trials_running() -> bool:
            seen.update(descendants(search.pid))
            assert search.poll() is None, search.communicate()
            return trials_reporting(tmp_path / "run") >= 2

        _wait_for(two_trials_running, 180, "two trials in flight")
        seen.update(descendants(search.pid))
        assert len(seen) >= 2
        search.send_signal(signal.SIGTERM)
        _, stderr = search.communicate(timeout=60)
    finally:
        if search.poll() is None:
            search.kill()
    assert search.returncode == 128 + signal.SIGTERM, stderr
    assert "snas resume" in stderr
    assert still_alive(seen) == {}
    result = snas.load_run(tmp_path / "run")
    assert result.status == "interrupted"


class _StopWhenBusy:
    """An observer that sets ``event`` once two trials report progress, noting this process's children then."""

    def __init__(self, event: threading.Event):
        self.event = event
        self.reporting: set[int] = set()
        self.children: dict[int, int] = {}

    @hookimpl
    def snas_trial_progress(self, run, progress):
        self.reporting.add(progress.trial_id)
        if len(self.reporting) >= 2 and not self.event.is_set():
            self.children = descendants(os.getpid())
            self.event.set()


def test_stop_event_from_another_thread_leaves_no_worker_behind(tmp_path, testkit):
    stop = threading.Event()
    observer = _StopWhenBusy(stop)
    before = descendants(os.getpid())
    out: dict = {}

    def run() -> None:
        out["result"] = snas.search(
            "digits", "random", max_trials=6, run_dir=tmp_path / "run", network_types=["mlp"], evaluator="steps",
            num_workers=2, evaluator_options={"steps": 400, "step_seconds": 0.05}, observers=[observer], stop=stop)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(240)
    assert not thread.is_alive(), "the search did not stop"
    assert out["result"].status == "interrupted"
    started = {pid: t for pid, t in observer.children.items() if pid not in before and not is_resource_tracker(pid)}
    assert len(started) >= 2, "two worker processes were running when the stop came"
    assert still_alive(started) == {}
