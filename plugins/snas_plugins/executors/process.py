"""The ``process`` executor: worker processes on this machine, spread over its devices.

The pool runs one worker process per trial in flight. ``--gpu-ids 0,1`` alone
runs one worker per GPU; ``--trials-per-gpu K`` packs K workers on each device
(most trials of a search are small models that leave a big GPU idle);
``--num-workers N`` asks for at least N workers, dealt round-robin over the
devices. Each worker loads the data set once, pins itself to its device and
trains with ``--threads-per-trial`` torch threads (by default the CPU's cores
shared out among the workers: two single-thread workers on a 2-core CPU train
about 1.6x as fast as one two-thread process). Tasks and results travel over
one pipe per worker; progress reports travel back the same way as they happen.

A worker that dies (killed, out of memory, a crash in native code) costs only
its trial: the pool starts a fresh worker and runs the trial again once; if
that worker dies too, the trial is recorded as failed with the cause. Workers
ignore SIGINT (Ctrl-C reaches the whole process group; the engine handles it)
and stop on their own when the driver process disappears.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from typing import Any

import attrs

from snas import EvaluationTask, Executor, TrialResult, hookimpl, option

#: attempts a trial gets when its worker dies under it
ATTEMPTS = 2

log = logging.getLogger("snas.executors.process")


@attrs.frozen
class ProcessOptions:
    """Settings of the process executor."""

    trials_per_gpu: int = option(
        1, low=1, flag="--trials-per-gpu", metavar="K",
        help="Trials run at once on each device (one worker process each); e.g. 4 small models per GPU.")
    start_method: str = option(
        "spawn", choices=("spawn", "forkserver", "fork"), cli=False,
        help="How worker processes start; spawn is safe with CUDA and threads.")


def _worker_main(job: Any, device: str, threads: int, conn: Any, parent: int) -> None:
    """A worker's life: prepare the job once, then evaluate tasks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(Exception):  # a failure here is reported by the first evaluation
        job.prepare(device)
    orphaned = lambda: os.getppid() != parent  # noqa: E731 - the driver died: stop the trial early
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        if orphaned():
            return

        def report(progress: Any) -> None:
            conn.send(("progress", progress))

        result = job.evaluate(task, device=device, on_progress=report, stop_requested=orphaned)
        try:
            conn.send(("result", task.trial_id, result))
        except (BrokenPipeError, OSError):
            return


@attrs.define
class _Worker:
    process: Any
    conn: Any
    device: str
    task: EvaluationTask | None = None


class ProcessPool(Executor):
    """Evaluate trials in parallel worker processes, one device per worker."""

    name = "process"
    description = "parallel worker processes spread over the devices (--num-workers, --gpu-ids, --trials-per-gpu)"
    Options = ProcessOptions
    default = True
    parallel = True

    def __init__(self, options: ProcessOptions, **kwargs: Any):
        super().__init__(options, **kwargs)
        self._workers: list[_Worker] = []
        self._attempts: dict[int, int] = {}
        self._ctx = multiprocessing.get_context(options.start_method)

    @property
    def slots(self) -> int:
        """Worker processes: ``--num-workers``, or ``--trials-per-gpu`` on every device, whichever is more."""
        return max(self.num_workers, len(self.devices) * self.options.trials_per_gpu)

    def start(self, job: Any, on_progress: Any, stop_requested: Any = lambda: False) -> None:
        super().start(job, on_progress, stop_requested)
        while len(self._workers) < self.slots:
            self._workers.append(self._spawn(self._free_device()))

    def _free_device(self) -> str:
        """The device with the fewest workers (the first such in ``devices`` order)."""
        counts = {device: 0 for device in self.devices}
        for worker in self._workers:
            counts[worker.device] = counts.get(worker.device, 0) + 1
        return min(self.devices, key=lambda d: counts[d])

    def _threads(self) -> int:
        return self.threads or max(1, (os.cpu_count() or 1) // self.slots)

    def _spawn(self, device: str) -> _Worker:
        parent_conn, child_conn = self._ctx.Pipe()
        process = self._ctx.Process(target=_worker_main, daemon=True, name=f"snas-worker-{device}",
                                    args=(self.job, device, self._threads(), child_conn, os.getpid()))
        process.start()
        child_conn.close()
        return _Worker(process, parent_conn, device)

    def submit(self, task: EvaluationTask) -> None:
        index = next((i for i, w in enumerate(self._workers) if w.task is None), None)
        if index is None:
            raise RuntimeError("process executor: submit() with no free worker")
        worker = self._workers[index]
        if not worker.process.is_alive():  # died while idle: the task should not pay for it
            self._end(worker)
            worker = self._workers[index] = self._spawn(worker.device)
        self._attempts[task.trial_id] = self._attempts.get(task.trial_id, 0) + 1
        worker.task = task
        try:
            worker.conn.send(task)
        except (BrokenPipeError, OSError):
            pass  # the worker is dead; wait() notices and retries the task on a fresh one

    def wait(self, timeout: float | None = None) -> list[tuple[EvaluationTask, TrialResult]]:
        done: list[tuple[EvaluationTask, TrialResult]] = []
        busy = [w for w in self._workers if w.task is not None]
        if not busy:
            if timeout:
                time.sleep(timeout)
            return done
        waitables = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(multiprocessing.connection.wait(waitables, timeout))
        for worker in busy:
            if worker.conn in ready:
                self._drain(worker, done)
            if worker.task is not None and not worker.process.is_alive():
                self._drain(worker, done)  # the result may have arrived just before it ended
                if worker.task is not None:
                    self._lost(worker, done)
        return done

    def _drain(self, worker: _Worker, done: list) -> None:
        try:
            while worker.task is not None and worker.conn.poll():
                message = worker.conn.recv()
                if message[0] == "progress":
                    self.on_progress(message[1])
                elif message[0] == "result" and message[1] == worker.task.trial_id:
                    done.append((worker.task, message[2]))
                    self._attempts.pop(worker.task.trial_id, None)
                    worker.task = None
        except (EOFError, OSError):
            pass

    def _lost(self, worker: _Worker, done: list) -> None:
        """The worker died under its task: replace it, and retry the task once."""
        task = worker.task
        code = worker.process.exitcode
        cause = (f"killed by signal {signal.Signals(-code).name}" if code is not None and code < 0
                 else f"exit status {code}")
        with contextlib.suppress(OSError):
            worker.conn.close()
        index = self._workers.index(worker)
        self._workers[index] = self._spawn(worker.device)
        if self._attempts.get(task.trial_id, 0) < ATTEMPTS:
            log.warning("trial %d: its worker process on %s died (%s); retrying it on a fresh worker",
                        task.trial_id, worker.device, cause)
            self.submit(task)
            return
        self._attempts.pop(task.trial_id, None)
        done.append((task, TrialResult.failed(
            f"worker process died ({cause}) twice while evaluating this trial, on {worker.device}")))

    def cancel(self) -> None:
        """Stop the trials in flight: their workers are ended (fresh ones start if the pool is used again)."""
        for i, worker in enumerate(self._workers):
            if worker.task is not None:
                self._end(worker)
                self._workers[i] = None  # type: ignore[call-overload]
        self._workers = [w for w in self._workers if w is not None]
        self._attempts.clear()

    def close(self) -> None:
        for worker in self._workers:
            if worker.task is None:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
        deadline = time.monotonic() + 5
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            self._end(worker)
        self._workers = []

    @staticmethod
    def _end(worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.terminate()
            worker.process.join(2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        with contextlib.suppress(OSError):
            worker.conn.close()


@hookimpl
def snas_register_executors():
    return [ProcessPool]
