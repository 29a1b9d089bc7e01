"""The result of a run, read back from its run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from snas.contracts.errors import RunFileError
from snas.contracts.records import Objective, PendingTrial, Trial
from snas.runtime.objectives import best_of, parse_objectives, pareto_front
from snas.contracts.space import Architecture
from snas.runtime.store import RunLog, read_run


@attrs.define
class RunResult:
    """A run as it stands: configuration, every finished trial, the best one, the non-dominated set.

    Returned by :func:`snas.search` and :func:`snas.load_run`; a run that is
    still being written can be loaded at any moment and shows every trial
    finished before it was read.
    """

    path: Path
    config: dict[str, Any]
    status: str
    trials: list[Trial]
    best: Trial | None
    data_info: dict[str, Any]
    plugins: dict[str, Any]
    format_version: int
    snas_version: str
    #: when the run was created (ISO 8601, local time with offset)
    created: str = ""
    generations: list[dict[str, Any]] = attrs.field(factory=list)
    #: the non-dominated trials for the run's objectives
    front: list[Trial] = attrs.field(factory=list)
    objectives: tuple[Objective, ...] = ()
    #: proposals recorded but not finished: in flight, or not run when the run stopped
    pending: list[PendingTrial] = attrs.field(factory=list)
    #: the signal that stopped the run in this process (set by the engine, not stored)
    stopped_by: int | None = None
    _log: RunLog | None = attrs.field(default=None, repr=False)

    @classmethod
    def load(cls, path: str | Path) -> "RunResult":
        """Read a run file or run folder (read-only: it is never modified)."""
        log = read_run(path)
        return cls.from_log(log)

    @classmethod
    def from_log(cls, log: RunLog) -> "RunResult":
        """The result a :class:`~snas.runtime.store.RunLog` describes."""
        trials = log.sorted_trials()
        try:
            objectives = parse_objectives(log.config.get("objectives") or ())
        except Exception:  # a damaged configuration must not hide the trials
            objectives = parse_objectives(())
        return cls(
            path=log.path,
            config=log.config,
            status=log.status,
            trials=trials,
            best=best_of(trials),
            data_info=log.data_info,
            plugins=log.plugins,
            format_version=log.format_version,
            snas_version=log.snas_version,
            created=log.created,
            generations=list(log.generations),
            front=pareto_front(trials, objectives),
            objectives=objectives,
            pending=[log.pending[i] for i in sorted(log.pending)],
            log=log,
        )

    @property
    def best_architecture(self) -> Architecture | None:
        return self.best.arch if self.best else None

    def weights(self, trial_id: int) -> dict[str, Any] | None:
        """The trained ``state_dict`` of ``trial_id`` (CPU tensors), if the run kept it."""
        log = self._log or read_run(self.path)
        weights = log.weights(trial_id)
        if weights is None and self.status == "running":  # the file may have moved on since we read it
            weights = read_run(self.path).weights(trial_id)
        return weights

    def best_weights(self) -> dict[str, Any] | None:
        """The trained best model's ``state_dict`` (CPU tensors)."""
        return self.weights(self.best.trial_id) if self.best is not None else None

    def model(self, trial_id: int, manager: Any = None) -> Any:
        """Rebuild the trained model of ``trial_id`` (``eval()`` mode, on the CPU).

        Raises :class:`RunFileError` when the run did not keep its weights.
        """
        from snas.runtime.plugins import get_plugin_manager

        trial = next((t for t in self.trials if t.trial_id == trial_id), None)
        if trial is None:
            raise RunFileError(f"{self.path}: the run has no finished trial {trial_id}")
        weights = self.weights(trial_id)
        if weights is None:
            raise RunFileError(f"{self.path}: the weights of trial {trial_id} are not stored in the run")
        manager = manager or get_plugin_manager()
        model = manager.get_family(trial.arch.family).build(trial.arch, self.input_shape, self.num_classes)
        try:
            model.load_state_dict(weights)
        except (RuntimeError, KeyError) as exc:
            raise RunFileError(f"{self.path}: the stored weights of trial {trial_id} do not fit its "
                               f"architecture ({str(exc).splitlines()[0]})") from None
        return model.eval()

    def best_model(self, manager: Any = None) -> Any:
        """Rebuild the trained best model (``eval()`` mode, on the CPU).

        Raises :class:`RunFileError` when the run has no successful trial or
        its weights were not stored.
        """
        if self.best is None:
            raise RunFileError(f"{self.path}: the run has no successful trial, so no best model")
        return self.model(self.best.trial_id, manager)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.data_info["input_shape"])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return int(self.data_info["num_classes"])

    @property
    def completed(self) -> list[Trial]:
        """Successful trials."""
        return [t for t in self.trials if t.ok]

    def summary_metrics(self) -> list[tuple[str, str]]:
        """``(metric, label)`` pairs the run's evaluator names as its summary (``[]`` if it is not installed)."""
        from snas.runtime.plugins import get_plugin_manager

        try:
            cls = get_plugin_manager().get("evaluator", str(self.config.get("evaluator")))
        except Exception:  # a run from an evaluator that is not installed here still shows its trials
            return []
        return [tuple(pair) for pair in getattr(cls, "summary_metrics", ())]

    def table(self) -> list[dict[str, Any]]:
        """One row per trial: id, family, fingerprint, status, protocol, score, the evaluator's summary metrics, time."""
        names = [metric for metric, _ in self.summary_metrics()]
        return [
            {
                "trial": t.trial_id,
                "family": t.arch.family,
                "fingerprint": t.fingerprint,
                "status": t.status if t.cached_from is None else f"cached({t.cached_from})",
                "protocol": t.protocol,
                "score": t.score,
                **{name: t.metrics.get(name) for name in names},
                "seconds": round(t.duration, 2),
            }
            for t in self.trials
        ]

    def to_dict(self) -> dict[str, Any]:
        """What ``snas show --json`` prints."""
        best = None
        if self.best is not None:
            best = {**self.best.summary(),
                    **{name: self.best.metrics.get(name) for name, _ in self.summary_metrics()}}
        return {
            "path": str(self.path),
            "status": self.status,
            "format_version": self.format_version,
            "snas_version": self.snas_version,
            "config": self.config,
            "data": self.data_info,
            "plugins": self.plugins,
            "objectives": [str(o) for o in self.objectives],
            "trials": [{**t.summary(), "curves": t.curves} for t in self.trials],
            "not_run": [p.to_record() for p in self.pending],
            "generations": self.generations,
            "best": best,
            "pareto_front": [
                {"trial_id": t.trial_id, "fingerprint": t.fingerprint,
                 "objectives": {o.name: o.value(t) for o in self.objectives}}
                for t in self.front
            ],
        }
