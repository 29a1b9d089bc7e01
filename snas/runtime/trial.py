"""What an evaluator may ask of the engine while a trial runs.

The engine runs every evaluation inside a :class:`TrialContext`, in whatever
process evaluates it. An evaluator reaches it with :func:`current_trial`::

    trial = snas.current_trial()
    for epoch in range(epochs):
        ...  # train one epoch
        trial.report("training", step=epoch + 1, total=epochs, val_acc=accuracy)
        if trial.should_stop():
            break  # return what you have: TrialResult(status=trial.should_stop(), ...)

Outside a run (a test, ``snas evaluate``) :func:`current_trial` returns a
context that reports nowhere and never stops, so evaluators need no special
case.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from typing import Any, Callable, Iterator

from snas.contracts.records import TrialProgress

_current: contextvars.ContextVar["TrialContext | None"] = contextvars.ContextVar("snas_trial", default=None)


class TrialContext:
    """One running trial's link to the engine: progress out, stop requests in.

    ``deadline`` (seconds since the epoch) is the end of the run's time
    budget; ``on_progress`` receives each :class:`~snas.TrialProgress`;
    ``stop_requested`` answers whether the run is stopping.
    """

    def __init__(self, trial_id: int = -1, *, deadline: float | None = None,
                 on_progress: Callable[[TrialProgress], None] | None = None,
                 stop_requested: Callable[[], bool] | None = None, pruner: Any = None, rule: Any = None,
                 inputs: dict[str, Any] | None = None):
        self.trial_id = trial_id
        #: what travelled with the task for the evaluator (``EvaluationTask.context``): a parent's weights, …
        self.inputs = inputs or {}
        self.deadline = deadline
        self._on_progress = on_progress
        self._stop_requested = stop_requested
        self._pruner = pruner if rule is not None else None
        self._rule = rule
        self.pruned_at: int | None = None
        self._best: float | None = None
        self.last: TrialProgress | None = None

    def report(self, phase: str, step: int | None = None, total: int | None = None, **metrics: float) -> None:
        """Tell the engine what the trial is doing: ``phase``, ``step`` of ``total``, latest ``metrics``."""
        progress = TrialProgress(self.trial_id, phase, step, total,
                                 {k: float(v) for k, v in metrics.items()}, time.time())
        self.last = progress
        pruner = self._pruner
        if pruner is not None and self.pruned_at is None and step is not None and pruner.metric in metrics:
            value = float(metrics[pruner.metric])
            if self._best is not None:
                value = max(value, self._best) if pruner.maximize else min(value, self._best)
            self._best = value  # the pruner judges the best value so far
            if pruner.prune(self._rule, step, value):
                self.pruned_at = step
        if self._on_progress is not None:
            self._on_progress(progress)

    def should_stop(self) -> str | None:
        """The status to stop with now, or ``None`` to go on.

        ``"cut_short"``: the run's time budget is over or the run is
        stopping; ``"pruned"``: the run's pruner found the trial behind at
        its last report. Return the result so far (partial curves, the score
        of the best epoch) with that status. Cheap enough to call after every
        batch.
        """
        if self.pruned_at is not None:
            return "pruned"
        if self.deadline is not None and time.time() >= self.deadline:
            return "cut_short"
        if self._stop_requested is not None and self._stop_requested():
            return "cut_short"
        return None


_idle = TrialContext()


def current_trial() -> TrialContext:
    """The context of the trial being evaluated in this thread (an idle one outside a run)."""
    return _current.get() or _idle


@contextlib.contextmanager
def running(context: TrialContext) -> Iterator[TrialContext]:
    """Make ``context`` the current trial while the block runs (what executors' jobs do)."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def is_running() -> bool:
    """Whether this thread is evaluating a trial for the engine."""
    return _current.get() is not None


__all__ = ["TrialContext", "current_trial", "is_running", "running"]
