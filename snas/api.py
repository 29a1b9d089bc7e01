"""The Python API: ``snas.search``, ``snas.resume`` and ``snas.load_run``."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from snas.config import RunConfig
from snas.engine import run_search
from snas.errors import ConfigError, RunFileError
from snas.plugins import PluginManager
from snas.result import RunResult
from snas.store import RUN_FILE, RunLocked, lock_holder, read_run


def default_run_name(config: RunConfig) -> str:
    """``<dataset>-<strategy>-<date>-<time>``, unique to the second."""
    return f"{config.dataset}-{config.strategy}-{time.strftime('%Y%m%d-%H%M%S')}"


def run_path(config: RunConfig, run_dir: str | Path | None = None) -> Path:
    """Where a run's file goes: ``run_dir/run.h5``, by default ``./snas-runs/<run name>/run.h5``."""
    if run_dir is None:
        if not config.run_name:
            config.run_name = default_run_name(config)
        base = Path(config.output_dir) / config.run_name if config.output_dir else Path("snas-runs") / config.run_name
    else:
        base = Path(run_dir)
        config.run_name = config.run_name or base.name
    return base / RUN_FILE


def check_not_locked(folder: Path) -> None:
    """Refuse at once, before any work, a run folder that another process is writing."""
    holder = lock_holder(folder)
    if holder is not None:
        who = f"process {holder.get('pid', '?')} on {holder.get('host', '?')} (since {holder.get('since', '?')})"
        raise RunLocked(f"{folder} is being written by {who}; wait for it to end or stop it first "
                        "(two writers would corrupt the run)")


def search(
    dataset: str = "digits",
    strategy: str = "evolutionary",
    budget: int | None = None,
    seed: int = 0,
    run_dir: str | Path | None = None,
    *,
    network_types: Iterable[str] | None = None,
    time_budget: float | None = None,
    evaluator: str = "train",
    executor: str = "auto",
    num_workers: int = 1,
    device: str = "auto",
    strategy_options: Mapping[str, Any] | None = None,
    evaluator_options: Mapping[str, Any] | None = None,
    dataset_options: Mapping[str, Any] | None = None,
    executor_options: Mapping[str, Any] | None = None,
    config: RunConfig | Mapping[str, Any] | None = None,
    observers: Iterable[Any] = (),
    manager: PluginManager | None = None,
    stop: threading.Event | None = None,
) -> RunResult:
    """Search ``dataset`` with ``strategy`` for at most ``budget`` trained trials.

    Returns the :class:`RunResult`: ``result.best`` (the best trial, with its
    validation and test accuracy in ``metrics``), ``result.table()``, and
    ``result.best_model()`` to rebuild the trained winner. The run file and
    ``best_architecture.json`` are written to ``run_dir`` (default
    ``./snas-runs/<run name>/``). ``config`` (a :class:`RunConfig` or a
    mapping) supplies every other setting; explicit arguments win over it.
    ``observers`` are plugin objects registered for this run only. Setting
    ``stop`` (a ``threading.Event``) from another thread stops the run
    cleanly: finished trials are kept, in-flight ones are left to
    :func:`resume`.
    """
    if isinstance(config, RunConfig):
        cfg = RunConfig.from_dict(config.to_dict())
    else:
        cfg = RunConfig.from_dict(dict(config or {}))
    explicit = {
        "dataset": dataset,
        "strategy": strategy,
        "seed": seed,
        "evaluator": evaluator,
        "executor": executor,
        "num_workers": num_workers,
        "device": device,
    }
    defaults = RunConfig()
    for key, value in explicit.items():
        if config is None or value != getattr(defaults, key):
            setattr(cfg, key, value)
    if budget is not None:
        if not isinstance(budget, int) or budget <= 0:
            raise ConfigError(f"budget must be a positive number of trials, got {budget!r}")
        cfg.max_trials = budget
    if time_budget is not None:
        cfg.time_budget = float(time_budget)
    if network_types is not None:
        cfg.network_types = [network_types] if isinstance(network_types, str) else list(network_types)
    for key, value in (
        ("strategy_options", strategy_options),
        ("evaluator_options", evaluator_options),
        ("dataset_options", dataset_options),
        ("executor_options", executor_options),
    ):
        if value is not None:
            setattr(cfg, key, {**getattr(cfg, key), **dict(value)})
    cfg = RunConfig.from_dict(cfg.to_dict())  # validate the merged settings once
    path = run_path(cfg, run_dir)
    check_not_locked(path.parent)
    return run_search(cfg, path, manager=manager, observers=list(observers), stop=stop)


def resume(path: str | Path, *, observers: Iterable[Any] = (), manager: PluginManager | None = None,
           max_trials: int | None = None, time_budget: float | None = None,
           stop: threading.Event | None = None, allow_changed_data: bool = False) -> RunResult:
    """Continue the run stored in ``path`` where it stopped, with its own configuration.

    ``max_trials`` / ``time_budget`` extend (or set) the budget of the resumed run. A data set
    whose contents changed since the run started is refused unless ``allow_changed_data``.
    """
    log = read_run(path)
    stored, real_path = log.config, log.path
    check_not_locked(real_path.parent)
    if not stored:
        raise RunFileError(f"{path} holds no run configuration, so it cannot be resumed")
    cfg = RunConfig.from_dict(stored, where=f"configuration stored in {real_path}")
    if max_trials is not None:
        cfg.max_trials = max_trials
    if time_budget is not None:
        cfg.time_budget = time_budget
    return run_search(cfg, real_path, resume=True, manager=manager, observers=list(observers), stop=stop,
                      allow_changed_data=allow_changed_data)


def load_run(path: str | Path) -> RunResult:
    """Read a run file (or a run folder holding ``run.h5``) without changing it."""
    return RunResult.load(path)


def run_search_with_config(config: RunConfig, path: str | Path | None = None, *,
                           observers: Iterable[Any] = (), manager: PluginManager | None = None,
                           stop: threading.Event | None = None) -> RunResult:
    """Run a search from a complete :class:`RunConfig` (what the CLI uses)."""
    path = Path(path) if path else run_path(config)
    check_not_locked(path.parent)
    return run_search(config, path, manager=manager, observers=list(observers), stop=stop)
