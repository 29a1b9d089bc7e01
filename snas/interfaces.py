"""The base classes plugin components derive from, and the records they exchange.

A plugin's hook returns component *classes* (see :mod:`snas.hookspecs`); the
kernel instantiates them with their options. Every component class has a
``name`` (how users select it) and may declare ``Options``, an attrs class
whose fields are its settings: the kernel turns user input (CLI, TOML, API
keyword arguments) into that class and reports unknown or badly typed keys.
"""

from __future__ import annotations

import abc
import math
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Mapping

import attrs
import numpy as np

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
# records


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
class EvaluationTask:
    """One evaluation handed to an executor."""

    trial_id: int
    arch: Architecture
    seed: int
    protocol: str = "full"


@attrs.define
class TrialResult:
    """What an evaluator returns for one architecture.

    ``score`` is what strategies maximize (the validation accuracy for the
    built-in trainer); ``None`` for a failed trial. ``metrics`` holds numbers
    and JSON-able values (test accuracy, parameter count, FLOPs, …);
    ``curves`` per-epoch series. ``weights`` is the trained ``state_dict``
    (CPU tensors), kept by the engine only for the best trial.
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
        return self.status == "ok" and self.score is not None and math.isfinite(self.score)

    @classmethod
    def failed(cls, error: str, **kwargs: Any) -> "TrialResult":
        """A failed result carrying ``error``."""
        return cls(status="failed", score=None, error=error, **kwargs)


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
        return self.status == "ok" and self.score is not None and math.isfinite(self.score)

    @property
    def fingerprint(self) -> str:
        return self.arch.fingerprint

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


class Strategy(Component, abc.ABC):
    """A search strategy with an ask/tell interface (like Optuna's samplers).

    The engine calls :meth:`ask` for a batch of proposals, evaluates them
    all, then calls :meth:`tell` with the finished trials, in proposal order.
    Everything a strategy needs to continue must be in :meth:`state_dict`
    (JSON-able: numbers, strings, lists, dicts) so a resumed run continues
    exactly where it stopped; the engine saves it after every ask and tell.
    """

    def __init__(self, space: JointSpace, options: Any, rng: np.random.Generator):
        self.space = space
        self.options = options
        self.rng = rng

    @classmethod
    def default_budget(cls, options: Any) -> int | None:
        """The number of trials this strategy plans with these options, if it has a natural one."""
        return None

    @abc.abstractmethod
    def ask(self) -> list[Proposal]:
        """The next batch of proposals; an empty list means the strategy has finished."""

    @abc.abstractmethod
    def tell(self, trials: list[Trial]) -> None:
        """The finished trials of the last batch (failed ones included, with ``score=None``)."""

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state; the default saves the random generator only."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.rng.bit_generator.state = state["rng"]

    def progress(self) -> dict[str, Any]:
        """Figures for progress displays (generation, diversity…); JSON-able."""
        return {}


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
    """Runs evaluation tasks where the hardware is and yields results as they finish."""

    def __init__(self, options: Any, *, num_workers: int = 1, devices: list[str] | None = None):
        self.options = options
        self.num_workers = max(1, int(num_workers))
        self.devices = devices or ["auto"]

    @abc.abstractmethod
    def run(self, tasks: list[EvaluationTask], job: Any) -> Iterator[tuple[EvaluationTask, TrialResult]]:
        """Evaluate every task with ``job`` (a :class:`snas.engine.EvaluationJob`).

        Yield ``(task, result)`` pairs as they complete, in any order. An
        exception inside one evaluation must become a failed result, not end
        the iteration.
        """

    def close(self) -> None:
        """Release workers; called once when the run ends."""


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
    )
