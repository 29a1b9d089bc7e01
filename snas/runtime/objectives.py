"""Objectives and constraints of a run, and its non-dominated set (the Pareto front).

A run declares objectives as ``NAME:max`` or ``NAME:min`` (``score`` is the
primary objective every single-objective strategy maximizes) and constraints
as ``NAME<=NUMBER`` or ``NAME>=NUMBER``. A trial *dominates* another when it
is at least as good in every objective and better in one. With constraints,
domination is Deb's constrained domination: a trial's *violation* is the sum
over the constraints of how far it is outside each bound, relative to the
bound; a trial with the smaller violation dominates (so a feasible trial,
violation 0, dominates every infeasible one), and between equal violations
the objectives decide. The front is the set of successful trials no other
dominates: the best feasible trade-offs, or, while no trial is feasible, the
trials closest to feasibility.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from snas.contracts.errors import ConfigError
from snas.contracts.records import Constraint, Objective, Trial

PRIMARY = Objective("score", "max")


def parse_objectives(texts: Iterable[str]) -> tuple[Objective, ...]:
    """The run's objectives, primary first; ``score:max`` when none are named."""
    objectives = tuple(Objective.parse(t) for t in texts)
    names = [o.name for o in objectives]
    if len(set(names)) != len(names):
        raise ConfigError(f"objectives: each may be named once, got {', '.join(names)}")
    return objectives or (PRIMARY,)


def parse_constraints(texts: Iterable[str]) -> tuple[Constraint, ...]:
    """The run's constraints (none when none are named); a malformed one raises :class:`ConfigError`."""
    return tuple(Constraint.parse(t) for t in texts)


def violation(trial: Trial, constraints: Sequence[Constraint]) -> float:
    """The trial's total normalized violation of ``constraints``: 0 when feasible, infinite when a metric is missing."""
    return float(sum(c.violation(trial) for c in constraints))


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


def constrained_dominates(a: tuple[float, Sequence[float]], b: tuple[float, Sequence[float]]) -> bool:
    """Deb's constrained domination of ``(violation, oriented values)`` pairs.

    The smaller violation wins (a feasible trial beats every infeasible one);
    between equal violations, :func:`dominates` decides.
    """
    return a[0] < b[0] or (a[0] == b[0] and dominates(a[1], b[1]))


def eligible(trial: Trial) -> bool:
    """Trials that can be on the front: finished, evaluated here (not a cached copy)."""
    return trial.ok and trial.cached_from is None


class Front:
    """The non-dominated set, updated one trial at a time (cost grows with the front, not the run).

    With ``constraints``, domination is :func:`constrained_dominates`.
    """

    def __init__(self, objectives: Sequence[Objective], constraints: Sequence[Constraint] = ()):
        self.objectives = tuple(objectives)
        self.constraints = tuple(constraints)
        self._members: dict[int, tuple[Trial, tuple[float, tuple[float, ...]]]] = {}

    def _key(self, trial: Trial) -> tuple[float, tuple[float, ...]] | None:
        if not eligible(trial):
            return None
        v = values(trial, self.objectives)
        return None if v is None else (violation(trial, self.constraints), v)

    def would_join(self, trial: Trial) -> bool:
        """Whether :meth:`add` would put ``trial`` on the front now."""
        key = self._key(trial)
        return key is not None and not any(constrained_dominates(other, key) or (other == key and tid < trial.trial_id)
                                           for tid, (_, other) in self._members.items())

    def add(self, trial: Trial) -> bool:
        """Consider ``trial``; returns whether it joined the front."""
        if not self.would_join(trial):
            return False
        key = self._key(trial)
        self._members = {tid: m for tid, m in self._members.items()
                         if not (constrained_dominates(key, m[1]) or m[1] == key)}
        self._members[trial.trial_id] = (trial, key)
        return True

    @property
    def trials(self) -> list[Trial]:
        """The front's trials, by trial id."""
        return [self._members[tid][0] for tid in sorted(self._members)]


def pareto_front(trials: Iterable[Trial], objectives: Sequence[Objective],
                 constraints: Sequence[Constraint] = ()) -> list[Trial]:
    """The non-dominated set of ``trials`` (ties: the earliest trial stands for its equals)."""
    front = Front(objectives, constraints)
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
