"""The ``inline`` executor: evaluates tasks one after another in this process."""

from __future__ import annotations

from typing import Any, Iterator

from snas import EvaluationTask, Executor, TrialResult, hookimpl


class Inline(Executor):
    """Evaluate in the calling process, one task at a time, on the first device."""

    name = "inline"
    description = "evaluate one trial at a time in this process"

    def run(self, tasks: list[EvaluationTask], job: Any) -> Iterator[tuple[EvaluationTask, TrialResult]]:
        for task in tasks:
            yield task, job.evaluate(task, device=self.devices[0])


@hookimpl
def snas_register_executors():
    return [Inline]
