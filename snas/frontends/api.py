"""The Python API: ``snas.search``, ``snas.resume`` and ``snas.load_run``."""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

from snas.contracts.errors import RunFileError
from snas.runtime.config import RunConfig, RunPlan
from snas.runtime.planning import plan_run
from snas.runtime.engine import run_search
from snas.runtime.plugins import PluginManager
from snas.runtime.result import RunResult
from snas.runtime.store import RUN_FILE, RunLocked, lock_holder, read_run


def run_path(config: RunConfig, run_dir: str | Path | None = None) -> Path:
    """Where a run's file goes: ``run_dir/run.h5``, by default ``<output dir>/<run name>/run.h5``.

    Without a run name the run is called ``<dataset>-<strategy>-<date>-<time>``,
    with a counter added if that folder exists already.
    """
    if run_dir is not None:
        base = Path(run_dir)
        config.run_name = config.run_name or base.name
        return base / RUN_FILE
    root = Path(config.output_dir or "snas-runs")
    if not config.run_name:
        stem = f"{config.dataset}-{config.strategy}-{time.strftime('%Y%m%d-%H%M%S')}"
        name, count = stem, 1
        while (root / name).exists():
            count += 1
            name = f"{stem}-{count}"
        config.run_name = name
    return root / config.run_name / RUN_FILE


def check_not_locked(folder: Path) -> None:
    """Refuse at once, before any work, a run folder that another process is writing."""
    holder = lock_holder(folder)
    if holder is not None:
        who = f"process {holder.get('pid', '?')} on {holder.get('host', '?')} (since {holder.get('since', '?')})"
        raise RunLocked(f"{folder} is being written by {who}; wait for it to end or stop it first "
                        "(two writers would corrupt the run)")


def search(
    dataset: str | None = None,
    strategy: str | None = None,
    max_trials: int | None = None,
    seed: int | None = None,
    run_dir: str | Path | None = None,
    *,
    config: RunConfig | Mapping[str, Any] | None = None,
    observers: Iterable[Any] = (),
    manager: PluginManager | None = None,
    stop: threading.Event | None = None,
    **settings: Any,
) -> RunResult:
    """Search ``dataset`` with ``strategy`` for at most ``max_trials`` evaluated architectures.

    Any other setting is a keyword argument: a run-level one
    (``network_types``, ``time_budget``, ``num_workers``, ``device``…, the
    fields of :class:`snas.RunConfig`), an option of the chosen components by
    its name (``population_size=12``, ``max_epochs=5``), or a whole table per
    kind (``strategy_options={...}``). ``config`` (a :class:`RunConfig` or a
    mapping of the same settings, a parsed TOML file say) supplies defaults;
    explicit arguments always win over it.

    Returns the :class:`RunResult`: ``result.best`` (the best trial, with its
    metrics), ``result.front``, ``result.table()``, and
    ``result.best_model()`` to rebuild the trained winner. The run folder is
    ``run_dir`` (default ``./snas-runs/<run name>/``). ``observers`` are plugin
    objects registered for this run only. Setting ``stop`` (a
    ``threading.Event``) from another thread stops the run cleanly: finished
    trials are kept, in-flight ones are left to :func:`resume`.
    """
    if "budget" in settings:
        warnings.warn("snas.search(budget=...) is now max_trials=...", DeprecationWarning, stacklevel=2)
        max_trials = settings.pop("budget") if max_trials is None else max_trials
    base = config.to_dict() if isinstance(config, RunConfig) else dict(config or {})
    explicit = {"dataset": dataset, "strategy": strategy, "max_trials": max_trials, "seed": seed}
    merged = _merge(base, {**{k: v for k, v in explicit.items() if v is not None}, **settings})
    plan = plan_run(merged, manager)
    path = run_path(plan.config, run_dir)
    check_not_locked(path.parent)
    return run_search(plan, path, manager=manager, observers=list(observers), stop=stop)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``; option tables (``strategy_options``…) are merged key by key."""
    out = {str(k).replace("-", "_"): v for k, v in base.items()}
    for key, value in override.items():
        key = str(key).replace("-", "_")
        if key.endswith("_options") and isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


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
    changes = {k: v for k, v in (("max_trials", max_trials), ("time_budget", time_budget)) if v is not None}
    plan = plan_run({**stored, **changes}, manager)
    return run_search(plan, real_path, resume=True, manager=manager, observers=list(observers), stop=stop,
                      allow_changed_data=allow_changed_data)


def load_run(path: str | Path) -> RunResult:
    """Read a run file (or a run folder holding ``run.h5``) without changing it; also while it is written."""
    return RunResult.load(path)


def start(plan: RunPlan, *, observers: Iterable[Any] = (), manager: PluginManager | None = None,
          stop: threading.Event | None = None) -> RunResult:
    """Run a search from a parsed :class:`RunPlan` (what the command line uses)."""
    path = run_path(plan.config)
    check_not_locked(path.parent)
    return run_search(plan, path, manager=manager, observers=list(observers), stop=stop)
