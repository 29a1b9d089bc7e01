"""The ``ray`` executor: trials as Ray actors, on this machine or a whole Ray cluster.

The driver (the ``snas search`` process) keeps the strategy and the run
folder; Ray runs the evaluations. The executor starts one actor per trial in
flight (``--num-workers``), each reserving ``--cpus-per-trial`` CPUs and
``--gpus-per-trial`` GPUs (``0.25`` packs four trials on a GPU), wherever the
cluster has room. The driver puts the loaded data set in Ray's object store
once; each node fetches it from there once, and each actor prepares it once
and keeps it for every trial it runs. A trial's progress reports go into a
small progress actor that the driver empties while it waits for results.

A trial whose actor dies (its process killed, its node lost, Ray's memory
monitor) is retried once on a fresh actor, which Ray places wherever there is
room; if that one dies too the trial is recorded as failed with the cause.
:meth:`cancel` and :meth:`close` kill the actors, so nothing keeps running;
a local Ray instance the executor started is shut down at :meth:`close`.

Options: ``address`` (``--ray-address``): ``auto`` joins the cluster this
machine is part of (started with ``ray start``), ``HOST:PORT`` the cluster
whose head listens there; unset, the executor starts a local Ray instance
``--num-workers`` trials wide, or uses the one this process already
connected to with ``ray.init``. Needs the optional extra ``snas[ray]``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from typing import Any, Iterator

import attrs

from snas import ConfigError, EvaluationTask, Executor, TrialProgress, TrialResult, hookimpl, option

#: attempts a trial gets when its actor dies under it
ATTEMPTS = 2
#: seconds between two collections of progress reports
PROGRESS_INTERVAL = 0.1

log = logging.getLogger("snas.executors.ray")


def _whole_above_one(_instance: Any, attribute: Any, value: float) -> None:
    if value > 1 and value != int(value):
        raise ConfigError(f"{attribute.name} above 1 must be a whole number of GPUs, got {value}")


@attrs.frozen
class RayOptions:
    """Settings of the Ray executor."""

    address: str | None = option(
        None, flag="--ray-address", metavar="auto|HOST:PORT",
        help="Ray cluster to run trials on: auto (the cluster this machine joined with `ray start`) or the "
             "head's HOST:PORT; unset: a local Ray instance --num-workers trials wide.")
    gpus_per_trial: float = option(
        0.0, low=0, flag="--gpus-per-trial", validator=_whole_above_one,
        help="GPUs each trial reserves (0.25 packs four trials on one GPU); 0 trains on CPUs.")
    cpus_per_trial: float = option(
        1.0, low=0, low_open=True, flag="--cpus-per-trial",
        help="CPUs each trial reserves; also its torch threads unless --threads-per-trial says otherwise.")


class TrialActor:
    """One Ray actor: prepares the job once (data from the object store), then evaluates tasks one at a time."""

    def __init__(self, job: Any, data: Any, device: str, threads: int, progress: Any):
        import torch

        torch.set_num_threads(threads)
        self.job, self.device, self.progress = job, device, progress
        with contextlib.suppress(Exception):  # a failure here is reported by the first evaluation
            job.prepare(device, data=data)

    def evaluate(self, task: EvaluationTask) -> TrialResult:
        """Evaluate ``task``; progress goes to the progress actor without waiting for it.

        Before the result is returned, the last report is waited for, so a
        trial's reports are all in the box when the driver sees its result.
        """
        import ray

        progress = self.progress
        last: list[Any] = []

        def report(p: TrialProgress) -> None:
            last[:] = [progress.put.remote(p.to_record())]  # one caller's calls to an actor run in order

        result = self.job.evaluate(task, device=self.device, on_progress=report)
        if last:
            with contextlib.suppress(Exception):  # progress is best effort; the result is what counts
                ray.get(last[0])
        return result


class ProgressBox:
    """A Ray actor holding progress reports until the driver takes them."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put(self, item: dict[str, Any]) -> None:
        """Keep one report."""
        self.items.append(item)

    def take(self) -> list[dict[str, Any]]:
        """Every report kept so far, oldest first; forgets them."""
        items, self.items = self.items, []
        return items


@attrs.define
class _Slot:
    actor: Any
    task: EvaluationTask | None = None
    ref: Any = None


class RayExecutor(Executor):
    """Evaluate trials as Ray actors with per-trial CPU and GPU reservations."""

    name = "ray"
    description = "trials as Ray actors on a local Ray instance or a Ray cluster (--ray-address, pip install 'snas[ray]')"
    Options = RayOptions
    #: runs several trials at once (one actor per trial in flight); never the default: --executor ray names it
    parallel = True

    def __init__(self, options: RayOptions, **kwargs: Any):
        super().__init__(options, **kwargs)
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ConfigError("the ray executor needs Ray: pip install 'snas[ray]'") from None
        self._slots: list[_Slot] = []
        self._attempts: dict[int, int] = {}
        self._box: Any = None
        self._data_ref: Any = None
        self._started_job: Any = None
        self._actor_cls: Any = None
        self._owns_ray = False
        self._last_progress = 0.0

    # -- connecting ---------------------------------------------------------------

    def _connect(self) -> None:
        import ray

        if ray.is_initialized():
            return  # this process joined a cluster itself (ray.init): use it, and leave it connected
        address = self.options.address
        try:
            with _keeping_signal_handlers():
                self._init(ray, address)
        except Exception as exc:
            where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
            hint = " (start one with `ray start --head`)" if address else ""
            raise ConfigError(f"ray executor: could not connect to {where}{hint}: {exc}") from None
        self._owns_ray = True

    def _init(self, ray: Any, address: str | None) -> None:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            cpus = max(1, math.ceil(self.slots * self.options.cpus_per_trial))
            ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)

    def _check_resources(self) -> None:
        """One clear error when no node of the cluster can hold a single trial."""
        import ray

        need = {"CPU": self.options.cpus_per_trial, "GPU": self.options.gpus_per_trial}
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        if not any(all(r.get(k, 0.0) >= v for k, v in need.items() if v) for r in nodes):
            have = ", ".join(f"{r.get('CPU', 0):g} CPUs/{r.get('GPU', 0):g} GPUs" for r in nodes) or "no live node"
            raise ConfigError(f"ray executor: no node of the Ray cluster can run a trial needing "
                              f"{need['CPU']:g} CPUs and {need['GPU']:g} GPUs (nodes: {have}); "
                              "lower --cpus-per-trial / --gpus-per-trial or add nodes")

    # -- the executor -------------------------------------------------------------

    def start(self, job: Any, on_progress: Any, stop_requested: Any = lambda: False) -> None:
        import ray

        super().start(job, on_progress, stop_requested)
        if self._started_job is not job:
            self._kill([s for s in self._slots])
            self._slots = []
            if self._box is None:
                self._connect()
                self._check_resources()
                self._box = ray.remote(ProgressBox).options(num_cpus=0).remote()
                self._actor_cls = ray.remote(TrialActor)
            data = job.prepare()[1].to("cpu")  # what the driver loaded, shipped once through the object store
            self._data_ref = ray.put(data)
            self._started_job = job
        while len(self._slots) < self.slots:
            self._slots.append(self._new_slot())

    def _device(self) -> str:
        return "cuda" if self.options.gpus_per_trial > 0 else "cpu"

    def _new_slot(self) -> _Slot:
        threads = self.threads or max(1, int(self.options.cpus_per_trial))
        actor = self._actor_cls.options(
            num_cpus=self.options.cpus_per_trial, num_gpus=self.options.gpus_per_trial,
            max_restarts=0, max_task_retries=0,
        ).remote(self.job, self._data_ref, self._device(), threads, self._box)
        return _Slot(actor)

    def submit(self, task: EvaluationTask) -> None:
        slot = next((s for s in self._slots if s.task is None), None)
        if slot is None:
            raise RuntimeError("ray executor: submit() with no free actor")
        self._attempts[task.trial_id] = self._attempts.get(task.trial_id, 0) + 1
        slot.task = task
        slot.ref = slot.actor.evaluate.remote(task)

    def wait(self, timeout: float | None = None) -> list[tuple[EvaluationTask, TrialResult]]:
        with _interrupts_unwrapped():
            return self._wait(timeout)

    def _wait(self, timeout: float | None) -> list[tuple[EvaluationTask, TrialResult]]:
        import ray

        done: list[tuple[EvaluationTask, TrialResult]] = []
        busy = {s.ref: s for s in self._slots if s.task is not None}
        if not busy:
            self._relay_progress(force=True)
            if timeout:
                time.sleep(timeout)
            return done
        ready, _ = ray.wait(list(busy), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(list(busy), num_returns=len(busy), timeout=0)
        self._relay_progress(force=bool(ready))
        for ref in ready:
            self._collect(busy[ref], done)
        return done

    def _collect(self, slot: _Slot, done: list) -> None:
        import ray
        from ray.exceptions import RayError, RayTaskError

        task = slot.task
        try:
            result = ray.get(slot.ref)
        except RayTaskError as exc:  # the evaluation raised past job.evaluate: a failed trial, the actor lives
            result = TrialResult.failed(_first_line(exc))
        except RayError as exc:  # the actor is gone: its process died, its node was lost, Ray's OOM killer
            self._lost(slot, exc, done)
            return
        slot.task = slot.ref = None
        self._attempts.pop(task.trial_id, None)
        done.append((task, result))

    def _lost(self, slot: _Slot, exc: Exception, done: list) -> None:
        """The actor died under its task: replace it, and retry the task once."""
        task = slot.task
        cause = f"{type(exc).__name__}: {_first_line(exc)}"
        self._kill([slot])
        self._slots[self._slots.index(slot)] = self._new_slot()
        if self._attempts.get(task.trial_id, 0) < ATTEMPTS:
            log.warning("trial %d: its Ray actor died (%s); retrying it on a fresh actor", task.trial_id, cause)
            self.submit(task)
            return
        self._attempts.pop(task.trial_id, None)
        done.append((task, TrialResult.failed(f"Ray actor died twice while evaluating this trial; last: {cause}")))

    def _relay_progress(self, force: bool = False) -> None:
        import ray

        now = time.monotonic()
        if self._box is None or (not force and now - self._last_progress < PROGRESS_INTERVAL):
            return
        self._last_progress = now
        for record in ray.get(self._box.take.remote()):
            self.on_progress(TrialProgress(**record))

    def cancel(self) -> None:
        """Kill the actors evaluating trials (fresh ones start if the executor is used again)."""
        import ray

        busy = [s for s in self._slots if s.task is not None]
        self._kill(busy)
        self._slots = [s for s in self._slots if s.task is None]
        self._attempts.clear()
        if self._box is not None:  # their last reports are of trials that will not finish
            with contextlib.suppress(Exception):
                ray.get(self._box.take.remote())

    def close(self) -> None:
        import ray

        self._kill(self._slots)
        self._slots = []
        if self._box is not None:
            with contextlib.suppress(Exception):
                ray.kill(self._box)
        self._box = self._data_ref = self._started_job = None
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False

    @staticmethod
    def _kill(slots: list[_Slot]) -> None:
        import ray

        for slot in slots:
            with contextlib.suppress(Exception):
                ray.kill(slot.actor, no_restart=True)


@contextlib.contextmanager
def _keeping_signal_handlers() -> Iterator[None]:
    """Keep this process's SIGINT and SIGTERM handlers (the engine's clean stop) across ``ray.init``,
    which replaces them with its own (exit at once, and a crash handler that aborts the process)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:
                signal.signal(signum, handler)


@contextlib.contextmanager
def _interrupts_unwrapped() -> Iterator[None]:
    """Let a stop raised by a signal handler during a blocking Ray call through as itself.

    Ray's compiled calls report an exception raised inside them by a signal
    handler (the engine's SIGINT/SIGTERM stop) as a ``SystemError`` caused by
    it; the engine must see the stop, not a crash.
    """
    try:
        yield
    except SystemError as exc:
        if exc.__cause__ is not None and "returned a result with an exception set" in str(exc):
            raise exc.__cause__ from None
        raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@hookimpl
def snas_register_executors():
    return [RayExecutor]
