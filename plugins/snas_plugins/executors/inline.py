"""The ``inline`` executor: evaluates tasks one after another in this process."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import torch

from snas import EvaluationTask, Executor, TrialResult, hookimpl


class Inline(Executor):
    """Evaluate in the calling process, one task at a time, on the first device."""

    name = "inline"
    description = "evaluate one trial at a time in this process"
    default = True

    def __init__(self, options: Any, **kwargs: Any):
        super().__init__(options, **kwargs)
        self._queue: deque[EvaluationTask] = deque()

    @property
    def slots(self) -> int:
        return 1

    def submit(self, task: EvaluationTask) -> None:
        self._queue.append(task)

    def wait(self, timeout: float | None = None) -> list[tuple[EvaluationTask, TrialResult]]:
        if not self._queue:
            if timeout:
                time.sleep(timeout)
            return []
        task = self._queue.popleft()
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            result = self.job.evaluate(task, device=self.devices[0], on_progress=self.on_progress,
                                       stop_requested=self.stop_requested)
        finally:
            if self.threads:
                torch.set_num_threads(previous)
        return [(task, result)]

    def cancel(self) -> None:
        self._queue.clear()


@hookimpl
def snas_register_executors():
    return [Inline]
