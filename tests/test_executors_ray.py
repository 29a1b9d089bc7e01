"""The Ray executor against real Ray instances: actors, progress, lost workers, stops, and a `ray start` cluster."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import snas
from snas import EvaluationJob, EvaluationTask

from executor_support import cmdline, descendants, import_ray, install_testkit, nb201_table, still_alive, testkit, trials_reporting  # noqa: F401

pytestmark = [pytest.mark.timeout(600), pytest.mark.xdist_group("ray")]


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory):
    """A local Ray instance, two CPUs wide, whose workers find the test plugin (through PYTHONPATH)."""
    ray = import_ray()
    from snas.runtime.plugins import reset_plugin_manager

    site = install_testkit(tmp_path_factory.mktemp("ray-testkit"))
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "RAY_AUTH_MODE")}
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), saved["PYTHONPATH"]) if p)
    os.environ["RAY_AUTH_MODE"] = "disabled"  # a private instance on this machine, torn down below
    sys.path.insert(0, str(site))
    reset_plugin_manager()
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        sys.path.remove(str(site))
        sys.modules.pop("snas_executor_testkit", None)
        reset_plugin_manager()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _executor(**options):
    from snas.runtime.plugins import get_plugin_manager

    cls = get_plugin_manager().get_executor("ray")
    return cls(cls.Options(**options), num_workers=2, devices=["cpu"], threads=1)


def _job(**evaluator_options) -> EvaluationJob:
    job = EvaluationJob(dataset="digits", dataset_options={}, evaluator="steps", evaluator_options=evaluator_options,
                        families=["mlp"], device="cpu", data_seed=0)
    job.prepare()[1].info["token"] = f"loaded by {os.getpid()}"  # the driver's copy, marked
    return job


def _tasks(n: int) -> list[EvaluationTask]:
    from snas.runtime.plugins import get_plugin_manager

    space = get_plugin_manager().get_family("mlp").space()
    rng = np.random.default_rng(1)
    return [EvaluationTask(i, space.sample(rng), seed=i) for i in range(n)]


def _run_all(executor, tasks, timeout: float = 300.0) -> dict[int, snas.TrialResult]:
    """Keep every slot busy until every task has a result."""
    queue, results, running = list(tasks), {}, 0
    deadline = time.monotonic() + timeout
    while len(results) < len(tasks):
        while queue and running < executor.slots:
            executor.submit(queue.pop(0))
            running += 1
        assert time.monotonic() < deadline, f"{len(results)} of {len(tasks)} results after {timeout} s"
        for task, result in executor.wait(timeout=0.5):
            assert task.trial_id not in results, "a task finished twice"
            results[task.trial_id] = result
            running -= 1
    return results


def test_trials_run_on_actors_that_hold_the_drivers_data_and_report_progress(ray_instance):
    executor = _executor()
    progress: list[snas.TrialProgress] = []
    executor.start(_job(steps=4, step_seconds=0.02), on_progress=progress.append)
    try:
        results = _run_all(executor, _tasks(6))
    finally:
        executor.close()
    assert all(r.ok for r in results.values()), [r.error for r in results.values()]
    # the data set the driver loaded reached the actors (a worker that loaded its own would lack the token) ...
    assert {r.metrics["data_token"] for r in results.values()} == {f"loaded by {os.getpid()}"}
    # ... once per actor: every trial an actor ran used the same copy
    copies = {}
    for r in results.values():
        copies.setdefault(r.metrics["pid"], set()).add(r.metrics["data_id"])
    assert os.getpid() not in copies and all(len(ids) == 1 for ids in copies.values())
    assert {r.metrics["threads"] for r in results.values()} == {1}
    # progress from inside every trial came back to the driver, in order
    for tid in results:
        steps = [p.step for p in progress if p.trial_id == tid]
        assert steps == sorted(steps) and steps[-1] == 4, (tid, steps)


def test_a_lost_actor_costs_one_retry_and_a_second_loss_fails_the_trial(ray_instance):
    executor = _executor()
    killed: dict[int, list[int]] = {0: [], 1: []}
    kills = {0: 1, 1: 2}  # trial 0 loses its actor once, trial 1 on both attempts

    def on_progress(p: snas.TrialProgress) -> None:
        pid = int(p.metrics["pid"])
        victims = killed.get(p.trial_id)
        # only on a trial's first steps: a report relayed late must not hit the actor's next trial
        if victims is not None and p.step <= 2 and len(victims) < kills[p.trial_id] and pid not in victims:
            victims.append(pid)
            os.kill(pid, signal.SIGKILL)

    executor.start(_job(steps=60, step_seconds=0.05), on_progress=on_progress)
    try:
        results = _run_all(executor, _tasks(3))
    finally:
        executor.close()
    assert results[0].ok, results[0].error
    assert results[0].metrics["pid"] not in killed[0], "the retry ran on a fresh actor"
    assert len(killed[1]) == 2
    assert results[1].status == "failed" and "died twice" in results[1].error
    assert results[2].ok, "the executor goes on after a loss"


def test_cancel_and_close_leave_no_actor_running(ray_instance):
    executor = _executor()
    running: dict[int, int] = {}
    executor.start(_job(steps=2000, step_seconds=0.05),
                   on_progress=lambda p: running.setdefault(p.trial_id, int(p.metrics["pid"])))
    for task in _tasks(2):
        executor.submit(task)
    deadline = time.monotonic() + 240
    while len(running) < 2:
        assert time.monotonic() < deadline, "the trials did not start"
        assert executor.wait(timeout=0.5) == []
    actors = {pid: _start_time(pid) for pid in running.values()}
    executor.cancel()
    assert executor.wait(timeout=0.5) == [], "no result follows a cancel"
    executor.close()
    assert still_alive(actors) == {}


def test_a_trial_no_node_can_hold_is_a_clear_error(ray_instance):
    executor = _executor(gpus_per_trial=1)
    with pytest.raises(snas.ConfigError, match="no node of the Ray cluster can run a trial needing 1 CPUs and 1 GPUs"):
        executor.start(_job(), on_progress=lambda p: None)
    executor.close()


def test_ray_options_are_checked():
    from snas import make_options
    from snas_plugins.executors.ray import RayOptions

    with pytest.raises(snas.ConfigError, match="whole number of GPUs"):
        make_options(RayOptions, {"gpus_per_trial": 1.5}, "options of executor 'ray'")
    with pytest.raises(snas.ConfigError, match="cpus_per_trial must be > 0"):
        make_options(RayOptions, {"cpus_per_trial": 0}, "options of executor 'ray'")


def _start_time(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[19])


@pytest.mark.slow
def test_sigterm_to_a_search_on_its_own_local_ray_instance_leaves_nothing_behind(tmp_path, testkit):
    import_ray()
    command = [sys.executable, "-m", "snas", "search", "--quiet", "--dataset", "digits", "--search-method",
               "random", "--network-type", "mlp", "--max-trials", "6", "--num-workers", "2", "--executor", "ray",
               "--evaluator", "steps", "-E", "steps=2000", "-E", "step_seconds=0.05",
               "--output-dir", str(tmp_path), "--run-name", "run"]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    search = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                              start_new_session=True)
    seen: dict[int, int] = {}
    commands: set[str] = set()

    def look() -> None:
        found = descendants(search.pid)
        seen.update(found)
        commands.update(cmdline(pid) for pid in found)

    try:
        deadline = time.monotonic() + 300
        while trials_reporting(tmp_path / "run") < 2:
            assert search.poll() is None, search.communicate()
            assert time.monotonic() < deadline, "no trials in flight"
            look()
            time.sleep(0.2)
        look()
        search.send_signal(signal.SIGTERM)
        _, stderr = search.communicate(timeout=120)
    finally:
        if search.poll() is None:
            os.killpg(search.pid, signal.SIGKILL)
    assert search.returncode == 128 + signal.SIGTERM, stderr
    assert any("raylet" in c for c in commands), "the search started its own Ray instance"
    assert any("TrialActor" in c for c in commands), "trials ran in Ray actors"
    assert still_alive(seen, wait=30) == {}
    assert snas.load_run(tmp_path / "run").status == "interrupted"


def _wait_for_line(process: subprocess.Popen, text: str, timeout: float) -> list[str]:
    """Read ``process``'s output until a line contains ``text``; the lines read then (empty if it never came)."""
    found = threading.Event()
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout:  # keep draining, so the process never blocks on a full pipe
            lines.append(line)
            if text in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    assert found.wait(timeout), f"no line with {text!r} after {timeout} s:\n" + "".join(lines[-30:])
    return lines


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_snas_search_joins_a_cluster_started_with_ray_start(tmp_path):
    import_ray()
    table = nb201_table()
    ray_command = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    # Ray's socket paths must stay under the 107-character limit: a short folder, not pytest's tmp_path
    ray_temp = tempfile.mkdtemp(prefix="snas-ray-")
    head = subprocess.Popen(
        [ray_command, "start", "--head", "--block", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={ray_temp}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    try:
        _wait_for_line(head, "Ray runtime started", timeout=180)
        config = tmp_path / "cluster.toml"
        config.write_text(
            'executor = "ray"\nnum_workers = 2\nmax_in_flight = 2\n'
            f'[executor_options]\naddress = "127.0.0.1:{port}"\n')
        command = [sys.executable, "-m", "snas", "search", "--config", str(config), "--json",
                   "--dataset", "nb201_table", "--network-type", "nb201", "--max-complexity", "3",
                   "--evaluator", "nb201", "-E", f"table_path={table}", "--search-method", "random",
                   "--max-trials", "12", "--seed", "4", "--output-dir", str(tmp_path), "--run-name", "run"]
        search = subprocess.run(command, capture_output=True, text=True, env=env, timeout=400)
        assert search.returncode == 0, search.stderr
        data = json.loads(search.stdout)
        assert len(data["trials"]) == 12 and all(t["status"] == "ok" for t in data["trials"])
        assert snas.load_run(tmp_path / "run").config["executor"] == "ray"
        assert head.poll() is None, "the cluster outlives the search"
        # the search's actors ended with it: the cluster keeps nothing of it running
        actors = {pid: t for pid, t in descendants(head.pid).items() if "TrialActor" in cmdline(pid)}
        assert still_alive(actors, wait=30) == {}
    finally:
        cluster = descendants(head.pid)
        os.killpg(head.pid, signal.SIGTERM)  # `ray start --block` stops its processes on SIGTERM
        try:
            head.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        for pid in still_alive(cluster, wait=30):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(ray_temp, ignore_errors=True)


# -- the same trials on every executor ------------------------------------------------------


def _signature(result) -> list[tuple]:
    return [(t.trial_id, t.fingerprint, t.status, t.score, t.cached_from) for t in result.trials]


def test_inline_process_and_ray_give_the_same_trials_on_nas_bench_201(ray_instance, tmp_path):
    table = str(nb201_table())
    options = {"aging": True, "population_size": 6, "generations": 40, "single_mutation": True}

    def search(name: str, **kwargs):
        return snas.search("nb201_table", "evolutionary", max_trials=24, seed=5, run_dir=tmp_path / name,
                           evaluator="nb201", network_types=["nb201"], strategy_options=options,
                           evaluator_options={"table_path": table, "sleep_seconds": 0.01},
                           dataset_options={"dataset": "cifar10"}, config={"max_complexity": 3, "max_in_flight": 3},
                           **kwargs)

    inline = search("inline")
    pooled = search("process", executor="process", num_workers=2)
    on_ray = search("ray", executor="ray", num_workers=2)
    assert len(inline.trials) == 24
    assert _signature(on_ray) == _signature(inline) == _signature(pooled)
    assert on_ray.best.trial_id == inline.best.trial_id


@pytest.mark.slow
def test_real_training_is_identical_inline_and_on_ray(ray_instance, tmp_path):
    # the process executor is held to the same in test_engine.py
    kwargs = dict(network_types=["mlp"], max_trials=6, seed=11, strategy_options={"aging": True, "population_size": 3},
                  evaluator_options={"max_epochs": 3, "patience": None, "full_metrics": False},
                  config={"max_in_flight": 2, "threads_per_trial": 1})
    inline = snas.search(run_dir=tmp_path / "inline", **kwargs)
    on_ray = snas.search(run_dir=tmp_path / "ray", executor="ray", num_workers=2, **kwargs)
    assert _signature(on_ray) == _signature(inline)
    assert [t.metrics["test_accuracy"] for t in on_ray.trials] == [t.metrics["test_accuracy"] for t in inline.trials]
    assert inline.best.trial_id == on_ray.best.trial_id
