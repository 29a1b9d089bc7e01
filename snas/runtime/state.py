"""The live state of a run as observers see it, and how trials compare for "best"."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import attrs

from snas.contracts.records import Objective, PendingTrial, Trial, TrialProgress
from snas.runtime.config import RunConfig



@attrs.define
class RunState:
    """The live state of a run, as observers see it (read it; do not modify it)."""

    config: RunConfig
    path: Path
    max_trials: int | None
    time_budget: float | None
    objectives: tuple[Objective, ...] = ()
    #: finished trials, in the order they finished
    trials: list[Trial] = attrs.field(factory=list)
    best: Trial | None = None
    #: the non-dominated trials of the run's objectives
    front: list[Trial] = attrs.field(factory=list)
    #: trials handed to the executor and not finished, by id
    in_flight: dict[int, PendingTrial] = attrs.field(factory=dict)
    #: the latest progress each in-flight trial reported
    progress: dict[int, TrialProgress] = attrs.field(factory=dict)
    generation: int = 0
    window: int = 1
    status: str = "running"
    started_at: float = attrs.field(factory=time.monotonic)
    elapsed_before: float = 0.0
    resumed: bool = False
    data_info: dict[str, Any] = attrs.field(factory=dict)

    def elapsed(self) -> float:
        """Seconds spent on this run, earlier sessions of a resumed run included."""
        return self.elapsed_before + (time.monotonic() - self.started_at)

    #: trials that were evaluated (cache hits and pre-screened ones excluded): what the trial budget counts
    trained: int = 0


def better(a: Trial, b: Trial | None) -> bool:
    """Whether ``a`` beats ``b`` for "best": see :meth:`snas.Trial.rank`; the earlier trial wins ties."""
    if a.rank()[0] == 0 or a.cached_from is not None:
        return False
    return b is None or (a.rank(), -a.trial_id) > (b.rank(), -b.trial_id)
