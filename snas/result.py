"""The result of a run, read back from its run file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from snas.errors import RunFileError
from snas.interfaces import Trial
from snas.space import Architecture
from snas.store import RunStore


@attrs.define
class RunResult:
    """A finished (or interrupted) run: configuration, every trial, the best one.

    Returned by :func:`snas.search` and :func:`snas.load_run`.
    """

    path: Path
    config: dict[str, Any]
    status: str
    trials: list[Trial]
    best: Trial | None
    data_info: dict[str, Any]
    plugins: dict[str, Any]
    engine_state: dict[str, Any] | None
    format_version: int
    snas_version: str
    generations: list[dict[str, Any]] = attrs.field(factory=list)

    @classmethod
    def load(cls, path: str | Path) -> "RunResult":
        """Read a run file (read-only: it is never modified)."""
        with RunStore.open(path) as store:
            trials = store.trials()
            best_id = store.best_trial_id()
            best = next((t for t in trials if t.trial_id == best_id), None)
            return cls(
                path=store.path,
                config=store.config(),
                status=store.status,
                trials=trials,
                best=best,
                data_info=store.data_info(),
                plugins=store.plugins(),
                engine_state=store.engine_state(),
                format_version=store.format_version,
                snas_version=store.snas_version,
                generations=store.generations(),
            )

    @property
    def best_architecture(self) -> Architecture | None:
        return self.best.arch if self.best else None

    def best_weights(self) -> dict[str, Any] | None:
        """The trained best model's ``state_dict`` (CPU tensors)."""
        with RunStore.open(self.path) as store:
            return store.best_weights()

    def best_model(self, manager: Any = None) -> Any:
        """Rebuild the trained best model (``eval()`` mode, on the CPU).

        Raises :class:`RunFileError` when the run has no successful trial or
        its weights were not stored.
        """
        from snas.plugins import get_plugin_manager

        if self.best is None:
            raise RunFileError(f"{self.path}: the run has no successful trial, so no best model")
        weights = self.best_weights()
        if weights is None:
            raise RunFileError(f"{self.path}: the best trial's weights are not stored in the run file")
        manager = manager or get_plugin_manager()
        family = manager.get_family(self.best.arch.family)
        model = family.build(self.best.arch, self.input_shape, self.num_classes)
        model.load_state_dict(weights)
        return model.eval()

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

    def table(self) -> list[dict[str, Any]]:
        """One row per trial: id, family, fingerprint, status, score, test accuracy, size, time."""
        return [
            {
                "trial": t.trial_id,
                "family": t.arch.family,
                "fingerprint": t.fingerprint,
                "status": t.status if t.cached_from is None else f"cached({t.cached_from})",
                "protocol": t.protocol,
                "score": t.score,
                "test_accuracy": t.metrics.get("test_accuracy"),
                "params": t.metrics.get("params"),
                "seconds": round(t.duration, 2),
            }
            for t in self.trials
        ]

    def to_dict(self) -> dict[str, Any]:
        """What ``snas show --json`` prints."""
        best = None
        if self.best is not None:
            best = {
                **self.best.summary(),
                "val_accuracy": self.best.metrics.get("val_accuracy", self.best.score),
                "test_accuracy": self.best.metrics.get("test_accuracy"),
                "params": self.best.metrics.get("params"),
            }
        return {
            "path": str(self.path),
            "status": self.status,
            "format_version": self.format_version,
            "snas_version": self.snas_version,
            "config": self.config,
            "data": self.data_info,
            "plugins": self.plugins,
            "trials": [{**t.summary(), "curves": t.curves} for t in self.trials],
            "generations": self.generations,
            "best": best,
        }
