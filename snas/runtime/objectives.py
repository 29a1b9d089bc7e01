"""Objectives of a run and its non-dominated set (the Pareto front).

A run declares objectives as ``NAME:max`` or ``NAME:min`` (``score`` is the
primary objective every single-objective strategy maximizes). A trial
*dominates* another when it is at least as good in every objective and
better in one; the front is the set of successful trials no other dominates.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from snas.contracts.errors import ConfigError
from snas.contracts.records import Objective, Trial

PRIMARY = Objective("score", "max")


def parse_objectives(texts: Iterable[str]) -> tuple[Objective, ...]:
    """The run's objectives, primary first; ``score:max`` when none are named."""
    objectives = tuple(Objective.parse(t) for t in texts)
    names = [o.name for o in objectives]
    if len(set(names)) != len(names):
        raise ConfigError(f"objectives: each may be named once, got {', '.join(names)}")
    return objectives or (PRIMARY,)


def values(trial: Trial, objectives: Sequence[Objective]) -> tuple[float, ...] | None:
    """The trial's objective values, each oriented so that larger is better; ``None`` if one is missing."""
    out = []
    for objective in objectives:
        value = objective.value(trial)
        if value is None:
            return None
        out.append(value if objective.direction == "max" else -value)
    return tuple(out)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether oriented values ``a`` dominate ``b`` (no worse anywhere, better somewhere)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def eligible(trial: Trial) -> bool:
    """Trials that can be on the front: finished, evaluated here (not a cached copy)."""
    return trial.ok and trial.cached_from is None


class Front:
    """The non-dominated set, updated one trial at a time (cost grows with the front, not the run)."""

    def __init__(self, objectives: Sequence[Objective]):
        self.objectives = tuple(objectives)
        self._members: dict[int, tuple[Trial, tuple[float, ...]]] = {}

    def would_join(self, trial: Trial) -> bool:
        """Whether :meth:`add` would put ``trial`` on the front now."""
        if not eligible(trial):
            return False
        v = values(trial, self.objectives)
        return v is not None and not any(dominates(other, v) or (other == v and tid < trial.trial_id)
                                         for tid, (_, other) in self._members.items())

    def add(self, trial: Trial) -> bool:
        """Consider ``trial``; returns whether it joined the front."""
        if not self.would_join(trial):
            return False
        v = values(trial, self.objectives)
        self._members = {tid: m for tid, m in self._members.items() if not (dominates(v, m[1]) or m[1] == v)}
        self._members[trial.trial_id] = (trial, v)
        return True

    @property
    def trials(self) -> list[Trial]:
        """The front's trials, by trial id."""
        return [self._members[tid][0] for tid in sorted(self._members)]


def pareto_front(trials: Iterable[Trial], objectives: Sequence[Objective]) -> list[Trial]:
    """The non-dominated set of ``trials`` (ties: the earliest trial stands for its equals)."""
    front = Front(objectives)
    for trial in sorted(trials, key=lambda t: t.trial_id):
        front.add(trial)
    return front.trials


def best_of(trials: Iterable[Trial]) -> Trial | None:
    """The best trial: highest :meth:`~snas.Trial.rank`, the earliest on ties; cached copies never."""
    best = None
    for trial in trials:
        if trial.cached_from is not None or trial.rank()[0] == 0:
            continue
        if best is None or (trial.rank(), -trial.trial_id) > (best.rank(), -best.trial_id):
            best = trial
    return best
