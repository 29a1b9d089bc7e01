"""The base classes plugin components derive from, and the records they exchange.

A plugin's hook returns component *classes* (see :mod:`snas.hookspecs`); the
kernel instantiates them with their options. Every component class has a
``name`` (how users select it) and may declare ``Options``, an attrs class
whose fields are its settings: the kernel turns user input (CLI, TOML, API
keyword arguments) into that class and reports unknown or badly typed keys.
"""

from __future__ import annotations

import abc
import hashlib
import math
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping

import attrs
import numpy as np

from snas.errors import ConfigError
from snas.space import Architecture, JointSpace, SearchSpace, describe_architecture


@attrs.frozen
class NoOptions:
    """The options of a component that takes none."""


class Component:
    """What every plugin component has: a name, a one-line description, options."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions


# --------------------------------------------------------------------------
# records: one typed record per stage of a trial's life
#
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


# --------------------------------------------------------------------------
# components


class NetworkFamily(Component, abc.ABC):
    """A family of networks: its parameter space and how to build a network."""

    @abc.abstractmethod
    def space(self) -> SearchSpace:
        """The family's declared space, complexity levels included."""

    @abc.abstractmethod
    def build(self, arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> Any:
        """An untrained ``torch.nn.Module`` mapping ``(N, *input_shape)`` to ``(N, num_classes)`` logits."""

    def describe(self, arch: Architecture) -> list[str]:
        """Readable lines for ``arch``: a header, then one line per layer."""
        return describe_architecture(arch, self.space())


@attrs.define
class StrategyContext:
    """What the engine tells a strategy about the run before its first ask (see :meth:`Strategy.setup`).

    ``data`` is the run's :class:`snas.DataBundle` and ``device`` the training
    device of the driver process, for strategies that train networks
    themselves (ENAS trains a supernet); ``objectives`` the run's objectives,
    the primary one first; ``seed`` the run seed.
    """

    data: Any
    device: Any
    objectives: tuple[Objective, ...] = (Objective("score", "max"),)
    seed: int = 0


class Strategy(Component, abc.ABC):
    """A search strategy with an asynchronous ask/tell interface (like Optuna's samplers).

    The engine keeps up to ``--max-in-flight`` trials running. Whenever there
    is room it calls :meth:`ask` with the number of free places; a strategy
    returns up to that many proposals, or none while it waits for results it
    needs (a barrier). It calls :meth:`tell` with each finished trial, in
    trial-id order. The sequence of calls depends only on the run seed, the
    window and the results, never on timing, so a strategy that draws all its
    randomness from ``rng`` proposes the same trials on every executor.

    Everything a strategy needs to continue must be in :meth:`state_dict`
    (JSON-able: numbers, strings, lists, dicts). The engine snapshots it now
    and then; on resume it restores the last snapshot and replays the
    recorded asks and tells after it, so a strategy must be deterministic:
    the same state and the same told trials give the same proposals.
    """

    #: the strategy's generation (batch, round) count; the engine records the
    #: strategy's :meth:`progress` each time it grows
    generation: int = 0

    def __init__(self, space: JointSpace, options: Any, rng: np.random.Generator):
        self.space = space
        self.options = options
        self.rng = rng
        self.generation = 0

    @classmethod
    def default_budget(cls, options: Any) -> int | None:
        """The number of trials this strategy plans with these options, if it has a natural one."""
        return None

    def setup(self, context: StrategyContext) -> None:
        """Receive the run's data, device and objectives; called once, before the first ask.

        Called in the driver process, after construction and before
        :meth:`load_state_dict` on resume. The default ignores it; strategies
        that train on the data themselves (ENAS) keep it.
        """

    @abc.abstractmethod
    def ask(self, n: int) -> list[Proposal]:
        """Up to ``n`` (≥ 1) new proposals; an empty list while waiting for results.

        An empty list while no trial is in flight means the strategy has finished.
        """

    @abc.abstractmethod
    def tell(self, trial: Trial) -> None:
        """One finished trial (failed and stopped ones included; only ``trial.ok`` ones have a final score)."""

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state; the default saves the random generator and the generation count."""
        return {"rng": self.rng.bit_generator.state, "generation": self.generation}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.rng.bit_generator.state = state["rng"]
        self.generation = int(state.get("generation", self.generation))

    def progress(self) -> dict[str, Any]:
        """Figures for progress displays (generation, diversity…); JSON-able."""
        return {}


class BatchStrategy(Strategy):
    """A strategy that works in batches: propose a generation or a round, learn from all of it.

    Subclasses implement :meth:`ask_batch` and :meth:`tell_batch`. This base
    class hands a batch out as places free up and tells the whole batch, in
    proposal order, once its last trial has finished; the next batch is
    asked for only then. :attr:`generation` counts the batches told.
    """

    def __init__(self, space: JointSpace, options: Any, rng: np.random.Generator):
        super().__init__(space, options, rng)
        self._waiting: list[Proposal] = []  # the current batch's proposals not handed out yet
        self._batch_size = 0  # size of the batch in progress; 0 when none is
        self._received: list[Trial] = []

    @abc.abstractmethod
    def ask_batch(self) -> list[Proposal]:
        """The next batch of proposals; an empty list means the strategy has finished."""

    @abc.abstractmethod
    def tell_batch(self, trials: list[Trial]) -> None:
        """The batch's finished trials, in proposal order (failed ones with ``score=None``)."""

    def ask(self, n: int) -> list[Proposal]:
        if self._batch_size == 0:
            batch = list(self.ask_batch())
            if not batch:
                return []
            self._waiting, self._batch_size, self._received = batch, len(batch), []
        out, self._waiting = self._waiting[:n], self._waiting[n:]
        return out

    def tell(self, trial: Trial) -> None:
        self._received.append(trial)
        if len(self._received) >= self._batch_size and not self._waiting:
            batch, self._received, self._batch_size = self._received, [], 0
            self.tell_batch(batch)
            self.generation += 1

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "batch": {
                "waiting": [{"architecture": p.arch.to_dict(), "protocol": p.protocol, "meta": p.meta}
                            for p in self._waiting],
                "size": self._batch_size,
                "received": [t.to_record() for t in self._received],
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        batch = state.get("batch") or {}
        self._waiting = [Proposal(Architecture.from_dict(p["architecture"]), p.get("protocol", "full"),
                                  dict(p.get("meta") or {})) for p in batch.get("waiting", [])]
        self._batch_size = int(batch.get("size", 0))
        self._received = [Trial.from_record(r) for r in batch.get("received", [])]


class Dataset(Component, abc.ABC):
    """A data set: loads train / validation / test splits into a DataBundle."""

    def __init__(self, options: Any):
        self.options = options

    @abc.abstractmethod
    def load(self, seed: int = 0) -> Any:
        """A :class:`snas.data.DataBundle`; validation split carved with ``seed``.

        Raise :class:`snas.errors.DataError` with the file, the folder searched
        and how to get the data when something is missing or unreadable.
        """

    def available(self) -> bool:
        """Whether the data can be loaded without a download."""
        return True

    def summary(self) -> dict[str, Any]:
        """What ``snas datasets`` shows: at least ``input_shape``, ``num_classes``, ``available``.

        Must not load the whole data set; use ``None`` for what is unknown
        before loading (the shape of a custom folder, say).
        """
        return {
            "input_shape": getattr(self, "input_shape", None),
            "num_classes": getattr(self, "num_classes", None),
            "available": self.available(),
        }


class Evaluator(Component, abc.ABC):
    """Scores an architecture (by training it, a proxy, a lookup table, …)."""

    def __init__(self, options: Any):
        self.options = options

    @abc.abstractmethod
    def evaluate(
        self,
        arch: Architecture,
        family: NetworkFamily,
        data: Any,
        *,
        seed: int,
        device: Any,
        protocol: str = "full",
    ) -> TrialResult:
        """Evaluate ``arch`` on ``data`` (a DataBundle already on ``device``).

        Raise or return :meth:`TrialResult.failed` on failure; the engine
        records both as a failed trial and goes on.
        """


class Executor(Component, abc.ABC):
    """Runs evaluation tasks where the hardware is: this process, worker processes, a cluster.

    The engine, in the driver process, calls :meth:`start` once, then
    :meth:`submit` whenever fewer than :attr:`slots` tasks are running, and
    :meth:`wait` to collect finished ones; :meth:`cancel` when the run stops
    early and :meth:`close` at the end. The executor never decides what runs:
    it may not drop, reorder into results or duplicate tasks.
    """

    def __init__(self, options: Any, *, num_workers: int = 1, devices: list[str] | None = None,
                 threads: int | None = None):
        self.options = options
        self.num_workers = max(1, int(num_workers))
        self.devices = devices or ["auto"]
        #: torch threads per evaluation (``None``: the CPU's cores shared out among the workers)
        self.threads = threads

    @property
    def slots(self) -> int:
        """How many tasks may run at once."""
        return self.num_workers

    def start(self, job: Any, on_progress: Callable[[TrialProgress], None],
              stop_requested: Callable[[], bool] = lambda: False) -> None:
        """Prepare to run tasks of ``job`` (a :class:`snas.engine.EvaluationJob`); may be called again.

        ``on_progress`` must be called, in the driver process, with each
        :class:`TrialProgress` a running task reports (an executor whose
        evaluations run elsewhere relays them from :meth:`wait`).
        ``stop_requested`` says whether the run is stopping; evaluations in
        this process should pass it on to ``job.evaluate``.
        """
        self.job, self.on_progress, self.stop_requested = job, on_progress, stop_requested

    @abc.abstractmethod
    def submit(self, task: EvaluationTask) -> None:
        """Start evaluating ``task``; the engine calls this only while a slot is free."""

    @abc.abstractmethod
    def wait(self, timeout: float | None = None) -> list[tuple[EvaluationTask, TrialResult]]:
        """Block until at least one task has finished or ``timeout`` seconds passed; return the finished ones.

        A task whose evaluation raised, or whose worker died, finishes with a
        failed :class:`TrialResult` naming the cause; it never ends the run.
        """

    def cancel(self) -> None:
        """Stop every task in flight and forget them (the run is stopping); no result of theirs follows."""

    def close(self) -> None:
        """Release workers; called once when the run ends, also after an error. No process may be left behind."""


class Pruner(Component, abc.ABC):
    """Stops trials that are behind, from the progress they report (like Optuna's pruners, Ray Tune's ASHA).

    A pruner works in two halves, so that pruning is deterministic and needs
    no round trip between processes. In the driver, the engine tells it each
    finished trial in trial-id order (:meth:`tell`) and, when it numbers a
    new proposal, asks for the :meth:`rule` that trial will be held to — a
    JSON-able value computed from exactly the trials told so far, recorded
    with the proposal and sent with the task. In the process that evaluates
    the trial, each :meth:`snas.TrialContext.report` carrying ``metric`` is
    checked with :meth:`prune`; once it says so, ``should_stop()`` returns
    ``"pruned"`` and the evaluator returns what it has with that status.
    """

    #: the reported metric the pruner watches, and whether larger is better
    metric: str = "val_acc"
    maximize: bool = True

    def __init__(self, options: Any):
        self.options = options
        self.metric = getattr(options, "metric", type(self).metric)
        self.maximize = getattr(options, "maximize", type(self).maximize)

    @abc.abstractmethod
    def tell(self, trial: Trial) -> None:
        """A finished trial (driver process), in trial-id order; its ``curves[self.metric]`` holds its progress."""

    @abc.abstractmethod
    def rule(self) -> Any:
        """The rule a trial proposed now is held to (driver process); JSON-able, ``None`` for "never prune"."""

    @abc.abstractmethod
    def prune(self, rule: Any, step: int, value: float) -> bool:
        """Whether a trial held to ``rule`` should stop at ``step`` (any process).

        ``value`` is the trial's best reported value of :attr:`metric` so far.
        """


class Exporter(Component, abc.ABC):
    """Writes a trained model in a deployable format and checks the result."""

    #: file extension of the main artefact, for documentation
    suffix: ClassVar[str] = ""

    def __init__(self, options: Any):
        self.options = options

    @abc.abstractmethod
    def export(self, model: Any, example_input: Any, out_dir: Path, metadata: Mapping[str, Any]) -> list[Path]:
        """Write the model under ``out_dir`` and return the files written.

        ``example_input`` is a real batch of validation images; ``metadata``
        holds the architecture, input shape, normalization, class names and
        accuracy. Raise :class:`snas.errors.SnasError` with the reason when
        the format is not available (a missing optional package, say).
        """

    #: set by :func:`snas.export.export_run` before :meth:`export`: ``(images, labels)``
    #: of the validation split (capped), for calibration and accuracy checks
    validation: Any = None

    def example_script(self, files: list[Path], metadata: Mapping[str, Any]) -> str | None:
        """Source of a runnable ``example.py`` that loads ``files`` and classifies sample images.

        The script must read ``sample_inputs.npy`` and ``metadata.json`` from its
        own folder, print one line ``predictions: [...]`` (JSON class indices),
        and save the logits with ``--save-logits PATH``. ``None``: no example.
        """
        return None

    def verify(self, model: Any, example_input: Any, files: list[Path], out_dir: Path,
               metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Check the written files against ``model`` on ``example_input``; return the figures.

        Called after :meth:`export` and after ``example.py`` is written. Raise
        :class:`snas.errors.SnasError` when the export does not reproduce the
        model. The default checks nothing.
        """
        return {}


def component_kinds() -> Iterable[tuple[str, type]]:
    """``(kind, base class)`` for every kind of component, in display order."""
    return (
        ("family", NetworkFamily),
        ("strategy", Strategy),
        ("dataset", Dataset),
        ("evaluator", Evaluator),
        ("executor", Executor),
        ("exporter", Exporter),
        ("pruner", Pruner),
    )
