"""The base classes plugin components derive from: one per hook family.

A plugin's hook returns component *classes* (see :mod:`snas.contracts.hookspecs`); the
kernel instantiates them with their options. Every component class has a
``name`` (how users select it) and may declare ``Options``, an attrs class
whose fields are its settings: the kernel turns user input (CLI, TOML, API
keyword arguments) into that class and reports unknown or badly typed keys.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping

import attrs
import numpy as np

from snas.contracts.records import Constraint, EvaluationTask, Objective, Proposal, Trial, TrialProgress, TrialResult
from snas.contracts.space import Architecture, JointSpace, SearchSpace, describe_architecture


@attrs.frozen
class NoOptions:
    """The options of a component that takes none."""


class Component:
    """What every plugin component has: a name, a one-line description, options.

    ``default = True`` makes a component the one a run uses when it names
    none of its kind (for families: one of those searched); the kernel
    itself names no component.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    default: ClassVar[bool] = False


# --------------------------------------------------------------------------
# components


class NetworkFamily(Component, abc.ABC):
    """A family of networks: its parameter space and how to build a network.

    ``benchmark_only`` marks a family that only makes sense with its
    benchmark's own evaluator (NAS-Bench-201's cells): ``--network-type all``
    leaves it out.
    """

    benchmark_only: ClassVar[bool] = False

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
    the primary one first; ``seed`` the run seed; ``constraints`` the bounds
    a feasible trial meets (compare trials with :func:`snas.constrained_dominates`);
    ``flops(arch)`` the FLOPs of one forward pass of ``arch`` on one image of
    the run's data (it builds the network), for strategies that weigh cost.
    """

    data: Any
    device: Any
    objectives: tuple[Objective, ...] = (Objective("score", "max"),)
    seed: int = 0
    constraints: tuple[Constraint, ...] = ()
    flops: Callable[[Architecture], int] | None = None


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
    """A data set: loads train / validation / test splits into a DataBundle.

    ``selector`` = ``(flag, option)`` gives the data set a command-line flag
    that both chooses it and sets that option (``--custom-csv-dataset FILE``).
    """

    selector: ClassVar[tuple[str, str] | None] = None

    def __init__(self, options: Any):
        self.options = options

    @abc.abstractmethod
    def load(self, seed: int = 0) -> Any:
        """A :class:`snas.contracts.data.DataBundle`; validation split carved with ``seed``.

        Raise :class:`snas.contracts.errors.DataError` with the file, the folder searched
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
    """Scores an architecture (by training it, a proxy, a lookup table, …).

    ``summary_metrics`` lists ``(metric, label)`` pairs of the metrics worth
    a column in ``snas show`` and a line in the search summary.

    ``inherits_weights = True`` declares that the evaluator can start a
    trial from a parent's trained weights (``--weight-inheritance``): it
    reads them from ``snas.current_trial().parent``, evaluates the
    :data:`~snas.contracts.records.INHERITED` protocol (a child trained from
    them), and returns the trained ``weights`` of every ``ok`` trial, which
    the engine keeps in the run's pool for later children. A run asking
    for inheritance with an evaluator that does not declare it is refused.

    ``extends_training = True`` declares that the evaluator trains networks
    and understands the :data:`~snas.contracts.records.EXTENDED` protocol:
    train from scratch for ``snas.current_trial().inputs["epochs"]`` epochs,
    the learning rate annealed to zero over them; its trials report the
    ``epochs`` they trained and, if it can, ``epoch_seconds`` (the typical
    wall time of one) and ``max_epochs`` (its protocol's), from which the
    engine sizes the final training (at most ten times ``max_epochs``). Only
    such an evaluator gets a final training in the part of a time budget
    kept for it (``--final-training``).

    An evaluator that ends a trial early because its next step would end
    past ``snas.current_trial().deadline`` returns it ``ok`` with
    ``metrics["stopped_by"] = "deadline"``: the engine ranks it like any
    finished trial but does not answer later proposals of the architecture
    from it.
    """

    summary_metrics: ClassVar[tuple[tuple[str, str], ...]] = ()
    inherits_weights: ClassVar[bool] = False
    extends_training: ClassVar[bool] = False

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

    #: whether it runs several trials at once; the default executor for --num-workers > 1 is a parallel one
    parallel: ClassVar[bool] = False

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
        """Prepare to run tasks of ``job`` (a :class:`snas.runtime.engine.EvaluationJob`); may be called again.

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
        accuracy. Raise :class:`snas.contracts.errors.SnasError` with the reason when
        the format is not available (a missing optional package, say).
        """

    #: set by the code that runs the export before :meth:`export`: ``(images, labels)``
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
        :class:`snas.contracts.errors.SnasError` when the export does not reproduce the
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
