"""The search engine: an ask/tell loop between a strategy and an evaluator.

One run:

1. builds the components named in the :class:`~snas.config.RunConfig`
   through the plugin manager;
2. asks the strategy for a batch of proposals and saves them, with the
   strategy's state, in the run file before evaluating any;
3. evaluates each proposal through the executor — unless an identical
   architecture (same fingerprint) was already trained in this run, in which
   case the earlier result is reused — and commits every finished trial to the
   run file before the next is recorded;
4. tells the strategy the batch's trials, saves its state, and repeats until
   the strategy finishes, the trial or time budget is spent, or SIGINT /
   SIGTERM asks it to stop.

Each trial is trained with a seed derived from the run seed and its trial id,
so a run that is killed and resumed proposes and scores exactly what the
uninterrupted run would have.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Iterator

import attrs
import numpy as np

from snas import prescreen
from snas.config import RunConfig, make_options, options_to_dict
from snas.devices import resolve_device
from snas.errors import ConfigError, SearchInterrupted
from snas.interfaces import EvaluationTask, Proposal, Trial, TrialResult
from snas.plugins import PluginManager, get_plugin_manager
from snas.space import Architecture, JointSpace
from snas.store import RunStore

#: batches in a row made only of cache hits before the space counts as exhausted
MAX_CACHED_BATCHES = 50
#: trial budget when neither the user nor the strategy gives one
DEFAULT_MAX_TRIALS = 20


def trial_seed(run_seed: int, trial_id: int) -> int:
    """The training seed of a trial: a stable function of the run seed and trial id."""
    digest = hashlib.sha256(f"{run_seed}:{trial_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


# --------------------------------------------------------------------------
# evaluation jobs: what an executor runs, in this process or another


_process_cache: dict[tuple, tuple[Any, Any, dict]] = {}


@attrs.define
class EvaluationJob:
    """Everything needed to evaluate a task, in this process or a worker process.

    It holds names and options only (so it can be sent to other processes);
    :meth:`evaluate` builds the data set, evaluator and families once per
    process and device, then reuses them.
    """

    dataset: str
    dataset_options: dict[str, Any]
    evaluator: str
    evaluator_options: dict[str, Any]
    families: list[str]
    device: str
    data_seed: int

    def _key(self, device: str) -> tuple:
        from snas.store import dumps

        return (dumps(attrs.asdict(self)), device)

    def prepare(self, device: str | None = None, manager: PluginManager | None = None, data: Any = None) -> tuple:
        """Build (or reuse) ``(evaluator, data on device, families)`` for this process."""
        device_spec = device or self.device
        key = self._key(device_spec)
        if key not in _process_cache:
            manager = manager or get_plugin_manager()
            torch_device = resolve_device(device_spec)
            if data is None:
                dataset_cls = manager.get_dataset(self.dataset)
                options = make_options(dataset_cls.Options, self.dataset_options, f"options of dataset {self.dataset!r}")
                data = dataset_cls(options).load(seed=self.data_seed)
            evaluator_cls = manager.get_evaluator(self.evaluator)
            evaluator = evaluator_cls(
                make_options(evaluator_cls.Options, self.evaluator_options, f"options of evaluator {self.evaluator!r}")
            )
            families = {name: manager.get_family(name) for name in self.families}
            _process_cache.clear()  # one job per process at a time: free the previous data
            _process_cache[key] = (evaluator, data.to(torch_device), families, torch_device)
        return _process_cache[key]

    def evaluate(self, task: EvaluationTask, device: str | None = None) -> TrialResult:
        """Evaluate one task; any exception becomes a failed result with its traceback."""
        start = time.perf_counter()
        try:
            evaluator, data, families, torch_device = self.prepare(device)
            family = families[task.arch.family]
            result = evaluator.evaluate(
                task.arch, family, data, seed=task.seed, device=torch_device, protocol=task.protocol
            )
            if not isinstance(result, TrialResult):
                raise TypeError(f"evaluator {self.evaluator!r} returned {type(result).__name__}, not TrialResult")
        except (KeyboardInterrupt, SearchInterrupted):
            raise
        except Exception as exc:  # failures are data
            result = TrialResult.failed(
                f"{type(exc).__name__}: {exc}", metrics={"traceback": traceback.format_exc(limit=20)}
            )
        if result.status == "ok" and (result.score is None or not math.isfinite(result.score)):
            result = TrialResult.failed(f"evaluator returned a non-finite score {result.score!r}", metrics=result.metrics)
        if not result.duration:
            result.duration = time.perf_counter() - start
        return result


def clear_process_cache() -> None:
    """Forget the data and evaluators prepared in this process."""
    _process_cache.clear()


# --------------------------------------------------------------------------
# the run


@attrs.define
class RunState:
    """The live state of a run, as observers see it."""

    config: RunConfig
    path: Path
    max_trials: int | None
    time_budget: float | None
    trials: list[Trial] = attrs.field(factory=list)
    best: Trial | None = None
    generation: int = 0
    status: str = "running"
    started_at: float = attrs.field(factory=time.monotonic)
    elapsed_before: float = 0.0
    resumed: bool = False
    data_info: dict[str, Any] = attrs.field(factory=dict)

    def elapsed(self) -> float:
        """Seconds spent on this run, earlier sessions of a resumed run included."""
        return self.elapsed_before + (time.monotonic() - self.started_at)

    @property
    def trained(self) -> int:
        """Trials that were evaluated (cache hits and pre-screened ones excluded): what the trial budget counts."""
        return sum(1 for t in self.trials if t.cached_from is None and t.status != "pruned")


def better(a: Trial, b: Trial | None) -> bool:
    """Whether ``a`` beats ``b``: full-protocol results win over reduced ones, then score."""
    if not a.ok:
        return False
    if b is None:
        return True
    rank_a, rank_b = (a.protocol == "full", a.score), (b.protocol == "full", b.score)
    return rank_a > rank_b


class Engine:
    """Runs one search, new or resumed. Use :func:`run_search` or :func:`snas.search`."""

    def __init__(self, config: RunConfig, manager: PluginManager | None = None):
        self.config = config
        self.manager = manager or get_plugin_manager()
        self._critical = False
        self._signal_pending: int | None = None
        self._pending_cache: list[dict[str, Any]] = []

    # -- building -------------------------------------------------------------

    def _build(self) -> None:
        cfg, mgr = self.config, self.manager
        if not cfg.network_types:
            raise ConfigError("network_types: name at least one network family")
        families = {name: mgr.get_family(name) for name in cfg.network_types}
        spaces = {name: fam.space() for name, fam in families.items()}
        level = cfg.max_complexity
        if level is None:  # start small, but never below the level every named family needs
            level = max(space.min_level for space in spaces.values())
        self.space = JointSpace(spaces, max_level=level)
        self.families = families
        strategy_cls = mgr.get_strategy(cfg.strategy)
        self.strategy_options = make_options(
            strategy_cls.Options, cfg.strategy_options, f"options of search method {cfg.strategy!r}"
        )
        self.rng = np.random.default_rng(cfg.seed)
        self.strategy = strategy_cls(self.space, self.strategy_options, self.rng)
        evaluator_cls = mgr.get_evaluator(cfg.evaluator)
        make_options(evaluator_cls.Options, cfg.evaluator_options, f"options of evaluator {cfg.evaluator!r}")
        if cfg.prescreen:
            mgr.get_evaluator(cfg.prescreen)  # an unknown proxy fails before the run file exists
        executor_name = cfg.executor
        if executor_name == "auto":  # parallel workers need processes; one worker runs inline
            executor_name = "inline" if cfg.num_workers == 1 and len(cfg.gpu_ids) <= 1 else "process"
        executor_cls = mgr.get_executor(executor_name)
        executor_options = make_options(
            executor_cls.Options, cfg.executor_options, f"options of executor {executor_name!r}"
        )
        self.executor = executor_cls(executor_options, num_workers=cfg.num_workers, devices=cfg.devices())
        for device in cfg.devices():
            resolve_device(device)  # a bad --device fails before anything runs
        dataset_cls = mgr.get_dataset(cfg.dataset)
        dataset_options = make_options(
            dataset_cls.Options, cfg.dataset_options, f"options of dataset {cfg.dataset!r}"
        )
        self.data = dataset_cls(dataset_options).load(seed=cfg.seed)
        bind = getattr(self.strategy, "bind", None)
        if callable(bind):  # strategies that train on the data themselves (ENAS) receive it here
            bind(self.data, resolve_device(cfg.devices()[0]))
        self.job = EvaluationJob(
            dataset=cfg.dataset,
            dataset_options=options_to_dict(dataset_options),
            evaluator=cfg.evaluator,
            evaluator_options=dict(cfg.evaluator_options),
            families=list(cfg.network_types),
            device=cfg.devices()[0],
            data_seed=cfg.seed,
        )
        clear_process_cache()
        self.job.prepare(manager=mgr, data=self.data)  # the inline path reuses the loaded data
        self.max_trials = cfg.max_trials or strategy_cls.default_budget(self.strategy_options)
        if self.max_trials is None and cfg.time_budget is None:
            self.max_trials = DEFAULT_MAX_TRIALS

    # -- signals --------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._critical:
            self._signal_pending = signum
            return
        raise SearchInterrupted(f"stopped by {signal.Signals(signum).name}")

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in previous:
            signal.signal(s, self._on_signal)
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextlib.contextmanager
    def _critical_section(self) -> Iterator[None]:
        """Defer SIGINT/SIGTERM while the run file is being written."""
        self._critical = True
        try:
            yield
        finally:
            self._critical = False
            if self._signal_pending is not None:
                signum, self._signal_pending = self._signal_pending, None
                raise SearchInterrupted(f"stopped by {signal.Signals(signum).name}")

    # -- the loop -------------------------------------------------------------

    def run(self, path: Path, resume: bool = False) -> "RunResult":
        from snas.result import RunResult

        self._build()
        cfg = self.config
        if resume:
            store = RunStore.open(path, writable=True)
        else:
            store = RunStore.create(path, run_name=cfg.run_name or path.parent.name)
            store.set_config(cfg.to_dict())
            store.set_plugins(self.manager.versions())
            store.set_data_info(self.data.describe())
            store.commit()
        self.store = store
        state = RunState(
            config=cfg,
            path=store.path,
            max_trials=self.max_trials,
            time_budget=cfg.time_budget,
            data_info=self.data.describe(),
        )
        pending: list[dict[str, Any]] = []
        if resume:
            state.resumed = True
            state.trials = store.trials()
            for t in state.trials:
                if better(t, state.best):
                    state.best = t
            saved = store.engine_state()
            if saved is not None:
                self.strategy.load_state_dict(saved["strategy"])
                pending = saved.get("pending", [])
                state.generation = int(saved.get("generation", 0))
                state.elapsed_before = float(saved.get("elapsed", 0.0))
        self.state = state
        status = "running"
        with self._signals():
            try:
                self.manager.hook.snas_run_started(run=state)
                status = self._loop(state, pending)
            except (KeyboardInterrupt, SearchInterrupted):
                status = "interrupted"
            except BaseException:
                status = "failed"
                raise
            finally:
                state.status = status if status != "running" else "interrupted"
                try:
                    self._save_engine_state(state, self._pending_cache)
                    store.set_status(state.status)
                    store.commit()
                finally:
                    store.close()
                    self.executor.close()
        result = RunResult.load(store.path)
        self.manager.hook.snas_run_finished(run=state, result=result)
        return result

    def _save_engine_state(self, state: RunState, pending: list[dict[str, Any]]) -> None:
        self.store.set_engine_state(
            {
                "strategy": self.strategy.state_dict(),
                "pending": pending,
                "generation": state.generation,
                "elapsed": state.elapsed(),
                "next_trial_id": self._next_trial_id(state, pending),
            }
        )

    @staticmethod
    def _next_trial_id(state: RunState, pending: list[dict[str, Any]]) -> int:
        ids = [t.trial_id for t in state.trials] + [int(p["trial_id"]) for p in pending]
        return max(ids) + 1 if ids else 0

    def _budget_left(self, state: RunState) -> bool:
        if state.max_trials is not None and state.trained >= state.max_trials:
            return False
        if state.time_budget is not None and state.elapsed() >= state.time_budget:
            return False
        return True

    def _loop(self, state: RunState, pending: list[dict[str, Any]]) -> str:
        cache: dict[str, Trial] = {}
        for t in state.trials:
            if t.cached_from is None and t.status != "pruned" and t.fingerprint not in cache:
                cache[t.fingerprint] = t
        if pending and pending[0].get("final"):
            outcome = str(pending[0].get("outcome", "finished"))
        else:
            outcome = self._search(state, pending, cache)
            pending = []
        if outcome != "interrupted":
            self._final_retrain(state, pending, cache, outcome)
        return outcome

    def _search(self, state: RunState, pending: list[dict[str, Any]], cache: dict[str, Trial]) -> str:
        cached_batches = 0
        while True:
            if not pending:
                if not self._budget_left(state):
                    return "budget_exhausted"
                proposals = self.strategy.ask()
                if not proposals:
                    return "finished"
                pending = self._new_batch(state, prescreen.screen(self, state, proposals))
            prescreen.record_pruned(self, state, pending)
            trained_in_batch, complete = self._evaluate_batch(state, pending, cache, count_budget=True)
            if not complete:
                return "budget_exhausted"  # the trial or time budget ran out inside the batch
            if trained_in_batch == 0:
                cached_batches += 1
                if cached_batches >= MAX_CACHED_BATCHES:
                    return "exhausted"
            else:
                cached_batches = 0
            done = {t.trial_id: t for t in state.trials}
            batch = [done[int(p["trial_id"])] for p in pending]
            self.strategy.tell(batch)
            pending = []
            self._pending_cache = pending
            progress = self.strategy.progress()
            state.generation += 1
            # no commit here: the next batch's commit (or the final one) writes this too, and a run
            # killed before then still holds the finished batch, so resume repeats the same tell
            with self._critical_section():
                self.store.add_generation(state.generation - 1, [t.trial_id for t in batch], progress)
                self._save_engine_state(state, pending)
            self.manager.hook.snas_generation_finished(
                run=state, generation=state.generation - 1, trials=batch, progress=progress
            )

    def _new_batch(self, state: RunState, proposals: list[Proposal], **extra: Any) -> list[dict[str, Any]]:
        """Give proposals trial ids and save them before any is evaluated."""
        first = self._next_trial_id(state, [])
        pending = [
            {
                "trial_id": first + i,
                "architecture": p.arch.to_dict(),
                "protocol": p.protocol,
                "meta": p.meta,
                **extra,
            }
            for i, p in enumerate(proposals)
        ]
        self._pending_cache = pending
        with self._critical_section():
            self._save_engine_state(state, pending)
            self.store.commit()
        return pending

    def _evaluate_batch(
        self, state: RunState, pending: list[dict[str, Any]], cache: dict[str, Trial], count_budget: bool
    ) -> tuple[int, bool]:
        """Evaluate the batch's unfinished proposals; returns (trained, whether all finished)."""
        self._pending_cache = pending
        done = {t.trial_id for t in state.trials}
        todo: list[tuple[EvaluationTask, dict[str, Any]]] = []
        for p in pending:
            tid = int(p["trial_id"])
            if tid in done:
                continue
            arch = Architecture.from_dict(p["architecture"])
            hit = cache.get(arch.fingerprint)
            if hit is not None and (hit.protocol == p["protocol"] or hit.protocol == "full"):
                self._record(state, self._cached_trial(tid, arch, hit, p), None)
                continue
            todo.append((EvaluationTask(tid, arch, trial_seed(self.config.seed, tid), p["protocol"]), p))
        if count_budget and state.max_trials is not None:
            todo = todo[: max(0, state.max_trials - state.trained)]
        by_id = {task.trial_id: p for task, p in todo}
        trained = 0
        if todo:
            for task, result in self.executor.run([t for t, _ in todo], self.job):
                trial = self._trial_from_result(task, result, by_id[task.trial_id])
                if trial.fingerprint not in cache or (trial.protocol == "full" and cache[trial.fingerprint].protocol != "full"):
                    cache[trial.fingerprint] = trial
                trained += 1
                self._record(state, trial, result)
                if count_budget and state.time_budget is not None and state.elapsed() >= state.time_budget:
                    break
        done = {t.trial_id for t in state.trials}
        return trained, all(int(p["trial_id"]) in done for p in pending)

    def _final_retrain(
        self, state: RunState, pending: list[dict[str, Any]], cache: dict[str, Trial], outcome: str
    ) -> None:
        """Retrain the best reduced-protocol architectures with the full protocol.

        Scores from a reduced protocol (fast mode) only rank candidates; the
        run's result always comes from full training. The retraining happens
        after the budget and does not count against it.
        """
        if not pending:
            full = {t.fingerprint for t in state.trials if t.protocol == "full" and t.cached_from is None}
            candidates = sorted(
                (t for t in state.trials if t.ok and t.protocol != "full" and t.cached_from is None
                 and t.fingerprint not in full),
                key=lambda t: t.score,
                reverse=True,
            )
            chosen: list[Trial] = []
            for t in candidates:
                if t.fingerprint not in {c.fingerprint for c in chosen}:
                    chosen.append(t)
                if len(chosen) >= self.config.retrain_top:
                    break
            if not chosen:
                return
            proposals = [Proposal(t.arch, "full", {"retrain_of": t.trial_id}) for t in chosen]
            pending = self._new_batch(state, proposals, final=True, outcome=outcome)
        self._evaluate_batch(state, pending, cache, count_budget=False)
        self._pending_cache = []

    def _cached_trial(self, trial_id: int, arch: Architecture, hit: Trial, proposal: dict[str, Any]) -> Trial:
        return Trial(
            trial_id=trial_id,
            arch=arch,
            status=hit.status,
            score=hit.score,
            protocol=hit.protocol,
            metrics=dict(hit.metrics),
            curves=dict(hit.curves),
            error=hit.error,
            duration=0.0,
            started=time.time(),
            seed=hit.seed,
            cached_from=hit.trial_id,
            meta=dict(proposal.get("meta") or {}),
        )

    def _trial_from_result(self, task: EvaluationTask, result: TrialResult, proposal: dict[str, Any]) -> Trial:
        return Trial(
            trial_id=task.trial_id,
            arch=task.arch,
            status="ok" if result.ok else "failed",
            score=result.score if result.ok else None,
            protocol=task.protocol,
            metrics=dict(result.metrics),
            curves={k: [float(x) for x in v] for k, v in result.curves.items()},
            error=result.error if not result.ok else None,
            duration=float(result.duration),
            started=time.time() - float(result.duration),
            seed=task.seed,
            meta=dict(proposal.get("meta") or {}),
        )

    def _record(self, state: RunState, trial: Trial, result: TrialResult | None) -> None:
        with self._critical_section():
            self.store.add_trial(trial)
            state.trials.append(trial)
            if better(trial, state.best) and trial.cached_from is None:
                state.best = trial
                self.store.set_best(trial.trial_id, result.weights if result is not None else None)
                self._write_best_json(trial)
            if len(state.trials) % self.config.checkpoint_frequency == 0:
                self._save_engine_state(state, self._pending_cache)
                self.store.commit()
        self.manager.hook.snas_trial_finished(run=state, trial=trial)

    def _write_best_json(self, trial: Trial) -> None:
        target = self.store.path.parent / "best_architecture.json"
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(trial.arch.to_json() + "\n")
        tmp.replace(target)


def run_search(
    config: RunConfig,
    path: Path,
    *,
    resume: bool = False,
    manager: PluginManager | None = None,
    observers: list[Any] = (),
) -> "RunResult":
    """Run (or resume) the search described by ``config``, writing ``path``."""
    manager = manager or get_plugin_manager()
    registered = [manager.register(o) for o in observers]
    try:
        return Engine(config, manager).run(Path(path), resume=resume)
    finally:
        for name in registered:
            manager.unregister(name=name)


if False:  # pragma: no cover - for type checkers only
    from snas.result import RunResult
