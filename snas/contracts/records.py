"""The records a trial passes through, from a strategy's wish to the run file.

    Proposal (a strategy's wish) -> PendingTrial (numbered, recorded, waiting)
    -> EvaluationTask (sent to an executor) -> TrialProgress (reported while
    it runs) -> TrialResult (what the evaluator returns) -> Trial (recorded
    in the run file and told to the strategy)

Each is a typed attrs class; those stored in the run file convert to and
from JSON-able records (``to_record`` / ``from_record``).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Mapping

import attrs

from snas.contracts.errors import ConfigError
from snas.contracts.space import Architecture

#   Proposal (a strategy's wish) -> PendingTrial (numbered, recorded, waiting)
#   -> EvaluationTask (sent to an executor) -> TrialResult (what the evaluator
#   returns) -> Trial (recorded in the run file and told to the strategy)

#: trial statuses: ``ok`` finished; ``failed`` raised, diverged or ran out of memory;
#: ``pruned`` stopped because it was behind (a pruner or pre-screening proxy);
#: ``cut_short`` stopped by the run's time budget. Only ``ok`` trials have a final score.
STATUSES = ("ok", "failed", "pruned", "cut_short")


@attrs.frozen
class Objective:
    """A named objective and its direction: ``val_accuracy`` to ``max``, ``params`` to ``min``.

    ``name`` is a metric of the trial (``trial.metrics[name]``) or ``score``,
    the primary objective strategies maximize.
    """

    name: str
    direction: str = attrs.field(default="max", validator=attrs.validators.in_(("max", "min")))

    @classmethod
    def parse(cls, text: str) -> "Objective":
        """``"params:min"`` → ``Objective("params", "min")``; a bare name is maximized."""
        name, _, direction = str(text).partition(":")
        direction = direction.strip().lower() or "max"
        if not name.strip() or direction not in ("max", "min"):
            raise ConfigError(f"objective {text!r}: expected NAME:max or NAME:min, e.g. params:min")
        return cls(name.strip(), direction)

    def __str__(self) -> str:
        return f"{self.name}:{self.direction}"

    def value(self, trial: "Trial") -> float | None:
        """This objective's value for ``trial``; ``None`` when the trial lacks it."""
        raw = trial.score if self.name == "score" else trial.metrics.get(self.name)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            return None
        return float(raw)


@attrs.define
class Proposal:
    """An architecture a strategy wants evaluated.

    ``protocol`` names the training protocol (``"full"`` or a reduced one
    such as ``"fast"``); ``meta`` is free JSON-able information the strategy
    wants stored with the trial (generation, parent ids, predicted score…).
    """

    arch: Architecture
    protocol: str = "full"
    meta: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class PendingTrial:
    """A proposal with its trial id and training seed, recorded before it is evaluated."""

    trial_id: int
    arch: Architecture
    seed: int
    protocol: str = "full"
    meta: dict[str, Any] = attrs.field(factory=dict)
    #: the run's pruner's rule for this trial (see :class:`Pruner`), fixed when it was proposed
    rule: Any = None

    def to_record(self) -> dict[str, Any]:
        """The JSON-able form stored in the run file."""
        record = {"trial_id": self.trial_id, "architecture": self.arch.to_dict(), "seed": self.seed,
                  "protocol": self.protocol, "meta": self.meta}
        if self.rule is not None:
            record["rule"] = self.rule
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "PendingTrial":
        """The inverse of :meth:`to_record`."""
        return cls(int(record["trial_id"]), Architecture.from_dict(record["architecture"]), int(record["seed"]),
                   str(record.get("protocol", "full")), dict(record.get("meta") or {}), record.get("rule"))


@attrs.define
class EvaluationTask:
    """One evaluation handed to an executor.

    ``deadline`` (seconds since the epoch, or ``None``) is when the run's time
    budget ends: the evaluator should stop then and return what it has
    (:func:`snas.current_trial` tells it). ``context`` carries extra inputs
    that travel with the task to whatever process evaluates it (JSON-able
    values and tensors only).
    """

    trial_id: int
    arch: Architecture
    seed: int
    protocol: str = "full"
    deadline: float | None = None
    context: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class TrialProgress:
    """Progress inside a running trial, as an evaluator reports it.

    ``phase`` says what the trial is doing (``"training"``, ``"final test"``,
    ``"supernet warm-up"``…); ``step`` of ``total`` counts its unit of work
    (epochs for the trainer); ``metrics`` holds the latest figures (say
    ``val_acc`` of the epoch just finished). ``time`` is seconds since the epoch.
    """

    trial_id: int
    phase: str
    step: int | None = None
    total: int | None = None
    metrics: dict[str, float] = attrs.field(factory=dict)
    time: float = 0.0

    def to_record(self) -> dict[str, Any]:
        """The JSON-able form (what ``live.json`` in a run folder holds per trial)."""
        return attrs.asdict(self)


@attrs.define
class TrialResult:
    """What an evaluator returns for one architecture.

    ``score`` is what strategies maximize (the validation accuracy for the
    built-in trainer); ``None`` for a failed trial. ``status`` is one of
    :data:`STATUSES`: a trial stopped early (``pruned``, ``cut_short``) keeps
    its partial ``score`` and curves. ``metrics`` holds numbers and JSON-able
    values (test accuracy, parameter count, FLOPs, …); ``curves`` per-epoch
    series. ``weights`` is the trained ``state_dict`` (CPU tensors), kept by
    the engine for the trials it needs (the best one).
    """

    status: str = "ok"
    score: float | None = None
    metrics: dict[str, Any] = attrs.field(factory=dict)
    curves: dict[str, list[float]] = attrs.field(factory=dict)
    error: str | None = None
    weights: dict[str, Any] | None = attrs.field(default=None, repr=False)
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok" and _finite(self.score)

    @classmethod
    def failed(cls, error: str, **kwargs: Any) -> "TrialResult":
        """A failed result carrying ``error``."""
        return cls(status="failed", score=None, error=error, **kwargs)


def trial_seed(run_seed: int, trial_id: int) -> int:
    """The training seed of a trial: a stable function of the run seed and the trial id."""
    digest = hashlib.sha256(f"{run_seed}:{trial_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@attrs.define
class Trial:
    """A finished trial as the engine records it and tells strategies."""

    trial_id: int
    arch: Architecture
    status: str
    score: float | None
    protocol: str = "full"
    metrics: dict[str, Any] = attrs.field(factory=dict)
    curves: dict[str, list[float]] = attrs.field(factory=dict)
    error: str | None = None
    duration: float = 0.0
    started: float = 0.0
    seed: int = 0
    cached_from: int | None = None
    meta: dict[str, Any] = attrs.field(factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and _finite(self.score)

    @property
    def fingerprint(self) -> str:
        return self.arch.fingerprint

    def rank(self) -> tuple[int, bool, float]:
        """How trials compare for "best": finished beats stopped early, full protocol beats reduced, then score.

        A trial without a finite score ranks below every other.
        """
        if not _finite(self.score) or self.status == "failed":
            return (0, False, -math.inf)
        return (2 if self.status == "ok" else 1, self.protocol == "full", float(self.score))

    def summary(self) -> dict[str, Any]:
        """A JSON-able record of this trial (what ``snas show --json`` prints)."""
        return {
            "trial_id": self.trial_id,
            "fingerprint": self.fingerprint,
            "family": self.arch.family,
            "architecture": self.arch.to_dict(),
            "status": self.status,
            "score": self.score,
            "protocol": self.protocol,
            "metrics": self.metrics,
            "error": self.error,
            "duration": self.duration,
            "seed": self.seed,
            "cached_from": self.cached_from,
            "meta": self.meta,
        }

    def to_record(self) -> dict[str, Any]:
        """The JSON-able form stored in the run file (curves included)."""
        return {**self.summary(), "started": self.started, "curves": self.curves}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "Trial":
        """The inverse of :meth:`to_record`."""
        return cls(
            trial_id=int(record["trial_id"]),
            arch=Architecture.from_dict(record["architecture"]),
            status=str(record["status"]),
            score=record.get("score"),
            protocol=str(record.get("protocol", "full")),
            metrics=dict(record.get("metrics") or {}),
            curves={str(k): list(v) for k, v in (record.get("curves") or {}).items()},
            error=record.get("error"),
            duration=float(record.get("duration") or 0.0),
            started=float(record.get("started") or 0.0),
            seed=int(record.get("seed") or 0),
            cached_from=record.get("cached_from"),
            meta=dict(record.get("meta") or {}),
        )
