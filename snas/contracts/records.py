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

#: the protocol of a trial that starts from a parent's trained weights (``--weight-inheritance``): a
#: reduced protocol, like ``"fast"``, since its score is not that of a training from scratch; the
#: best of them are retrained from scratch at the end of the run (``--retrain-top``)
INHERITED = "inherited"

#: the protocol of a run's final training (``--final-training``): an architecture the search found
#: best, trained again from scratch for longer, ``context["epochs"]`` epochs with the learning rate
#: annealed to zero over them, in the part of the time budget kept for it. It ranks as full training.
EXTENDED = "extended"

#: protocols whose scores are those of a complete training from scratch
FULL_PROTOCOLS = ("full", EXTENDED)


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


#: the comparison operators a constraint may use
CONSTRAINT_OPERATORS = ("<=", ">=")


@attrs.frozen
class Constraint:
    """A bound a feasible trial meets: ``params<=100000``, ``latency_ms<=2``, ``val_accuracy>=0.9``.

    ``name`` is a metric of the trial (or ``score``), as for :class:`Objective`.
    """

    name: str
    op: str = attrs.field(validator=attrs.validators.in_(CONSTRAINT_OPERATORS))
    bound: float = attrs.field(converter=float)

    @classmethod
    def parse(cls, text: str) -> "Constraint":
        """``"params<=100000"`` → ``Constraint("params", "<=", 100000.0)``."""
        raw = str(text)
        for op in CONSTRAINT_OPERATORS:
            name, found, bound = raw.partition(op)
            if found:
                break
        try:
            value = float(bound)
        except ValueError:
            value = math.nan
        if not found or not name.strip() or not math.isfinite(value) or any(c in name for c in "<>=!"):
            raise ConfigError(f"constraint {raw!r}: expected NAME<=NUMBER or NAME>=NUMBER with a metric name and a "
                              "finite number, e.g. params<=100000 or latency_ms<=2 (a comma separates two constraints)")
        return cls(name.strip(), op, value)

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.bound:g}"

    def value(self, trial: "Trial") -> float | None:
        """The constrained metric's value for ``trial``; ``None`` when the trial lacks it."""
        return Objective(self.name).value(trial)

    def violation(self, trial: "Trial") -> float:
        """How far ``trial`` is outside the bound, relative to the bound (``|bound|``, or 1 for a bound of 0).

        0 when the trial meets it; infinite when the trial lacks the metric (its feasibility is unknown).
        """
        value = self.value(trial)
        if value is None:
            return math.inf
        excess = value - self.bound if self.op == "<=" else self.bound - value
        return max(0.0, excess) / (abs(self.bound) or 1.0)


@attrs.define
class Proposal:
    """An architecture a strategy wants evaluated.

    ``protocol`` names the training protocol (``"full"`` or a reduced one
    such as ``"fast"``); ``meta`` is free JSON-able information the strategy
    wants stored with the trial (generation, predicted score…). One key has
    a meaning to the engine: ``meta["parents"]``, the trial ids the proposal
    was derived from (mutated or crossed over, best-suited first); with
    ``--weight-inheritance`` the child starts from one of their trained
    weights (see :data:`INHERITED`).
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
    values and tensors only); the evaluator sees them as
    ``snas.current_trial().inputs``. The engine sets two keys: ``"rule"``,
    the run's pruner's rule for the trial, and ``"parent"``, with
    ``--weight-inheritance``, the trained weights the trial starts from
    (read it as ``snas.current_trial().parent``, an :class:`InheritedWeights`).
    """

    trial_id: int
    arch: Architecture
    seed: int
    protocol: str = "full"
    deadline: float | None = None
    context: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class InheritedWeights:
    """The trained weights a trial starts from (``--weight-inheritance``): what ``context["parent"]`` holds.

    ``trial_id`` is the trial that trained them, ``arch`` its architecture
    (of the child's family), ``weights`` its ``state_dict`` (CPU tensors).
    An evaluator that can use them (``Evaluator.inherits_weights``) builds
    the parent's network, loads ``weights`` and transfers what fits into the
    child's before training.
    """

    trial_id: int
    arch: Architecture
    weights: dict[str, Any] = attrs.field(repr=False)

    def to_context(self) -> dict[str, Any]:
        """The form that travels in :attr:`EvaluationTask.context` (plain values and tensors)."""
        return {"trial_id": self.trial_id, "architecture": self.arch.to_dict(), "weights": self.weights}

    @classmethod
    def from_context(cls, value: Mapping[str, Any]) -> "InheritedWeights":
        """The inverse of :meth:`to_context`."""
        return cls(int(value["trial_id"]), Architecture.from_dict(value["architecture"]), dict(value["weights"]))


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

    @property
    def ended_by_the_clock(self) -> bool:
        """Whether the run's time, not the architecture, ended this trial.

        ``cut_short`` at the run's deadline, or finished early because its
        next epoch would have ended past it (an evaluator says so with
        ``metrics["stopped_by"] == "deadline"``). Such a result is kept and
        ranked, but it does not answer a later proposal of the same
        architecture from the cache: a resumed run with more time trains it
        again.
        """
        return self.status == "cut_short" or self.metrics.get("stopped_by") == "deadline"

    def rank(self) -> tuple[int, bool, float]:
        """How trials compare for "best": finished beats stopped early, full training beats reduced, then score.

        A trial without a finite score ranks below every other.
        """
        if not _finite(self.score) or self.status == "failed":
            return (0, False, -math.inf)
        return (2 if self.status == "ok" else 1, self.protocol in FULL_PROTOCOLS, float(self.score))

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
