"""The search engine: trials in flight on every worker, each result durable before it is told.

One run, in the driver process:

1. builds the components named in the :class:`~snas.runtime.config.RunConfig`
   through the plugin manager, loads the data set and checks the devices, so
   bad input fails before anything is written;
2. keeps up to ``window`` trials in flight (``--max-in-flight``, by default
   the executor's slots): whenever there is room it asks the strategy for
   proposals, numbers them (trial ids in ask order) and journals them;
3. hands each proposal to the executor — unless an identical architecture was
   already evaluated (a cache hit, recorded as ``cached_from``) or is being
   evaluated right now (it waits for that result instead of training twice);
4. journals each finished trial and syncs it to disk, then tells the strategy
   the finished trials **in trial-id order**, holding back early finishers,
   and after each tell fills the window again. Proposal *k* is therefore made
   knowing exactly the results of trials 0 … k − window: the trials a run
   proposes depend on its seed and window only, never on the number of
   workers, the executor, the order in which trials finish, or a kill and
   resume;
5. stops when the strategy has finished, the trial or time budget is spent,
   or it is asked to stop (SIGINT, SIGTERM, ``stop`` event); finished trials
   are kept and in-flight ones are left pending, to run on resume;
6. retrains the best reduced-protocol (fast mode) architectures with the full
   protocol, and folds the journal into a final ``run.h5`` checkpoint.

Resume reads the run folder, restores the strategy's last snapshot and
replays the asks and tells recorded after it (see :mod:`snas.runtime.store`), then
goes on: the continuation is the uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterator

import attrs
import numpy as np

from snas.runtime import prescreen
from snas.runtime.config import RunPlan, make_options
from snas.runtime.devices import count_flops, resolve_device
from snas.contracts.errors import ConfigError, DataError, SearchInterrupted
from snas.contracts.components import StrategyContext
from snas.contracts.records import (EXTENDED, FULL_PROTOCOLS, INHERITED, EvaluationTask, InheritedWeights,
                                    PendingTrial, Proposal, Trial, TrialProgress, TrialResult, trial_seed)
from snas.runtime.inheritance import TRAINED, WeightPool
from snas.runtime.objectives import Front, parse_constraints, parse_objectives
from snas.runtime.state import RunState, better
from snas.runtime.plugins import PluginManager, get_plugin_manager
from snas.contracts.space import JointSpace
from snas.runtime.store import RunWriter
from snas.runtime.trial import TrialContext, running

log = logging.getLogger("snas.runtime.engine")

#: proposals in a row answered from the cache before the space counts as exhausted
MAX_CACHED_IN_A_ROW = 200
#: trial budget when neither the user nor the strategy gives one
DEFAULT_MAX_TRIALS = 20
#: the final training trains at most this many times the epochs of its architecture's search protocol
FINAL_TRAINING_MAX_FACTOR = 10
#: finished search trials needed before the search gives up the final training's share of the time budget
FINAL_TRAINING_MIN_TRIALS = 3
#: seconds between strategy snapshots (resume replays at most this much strategy work)
SNAPSHOT_INTERVAL = 30.0
#: trials of the non-dominated front whose weights a multi-objective run keeps (for export and inheritance)
MAX_FRONT_WEIGHTS = 50
#: a strategy call longer than this is followed by a snapshot, so resume need not repeat it
EXPENSIVE_CALL = 2.0
#: seconds between automatic checkpoints (folding the journal into run.h5)
CHECKPOINT_INTERVAL = 600.0
#: seconds between rewrites of live.json
LIVE_INTERVAL = 0.25
#: trials at least this long (seconds) are synced to the disk one by one
SYNC_EACH_TRIAL_ABOVE = 0.05
#: shorter trials are synced at least this often (seconds)
SYNC_INTERVAL = 1.0

__all__ = ["Engine", "EvaluationJob", "RunState", "run_search", "trial_seed"]


# --------------------------------------------------------------------------
# evaluation jobs: what an executor runs, in this process or another


_process_cache: dict[tuple, tuple[Any, Any, dict, Any]] = {}


@attrs.define
class EvaluationJob:
    """Everything needed to evaluate a task, in this process or a worker process.

    It holds component names and their typed options only (so it can be sent
    to other processes);
    :meth:`evaluate` builds the data set, evaluator and families once per
    process and device, then reuses them.
    """

    dataset: str
    dataset_options: Any
    evaluator: str
    evaluator_options: Any
    families: list[str]
    device: str
    data_seed: int
    pruner: str | None = None
    pruner_options: Any = None
    _identity: str | None = attrs.field(default=None, init=False, repr=False)

    def _key(self, device: str) -> tuple:
        from snas.runtime.store import dumps

        if self._identity is None:
            self._identity = dumps(attrs.asdict(self, filter=lambda a, _v: a.name != "_identity"))
        return (self._identity, device)

    def prepare(self, device: str | None = None, manager: PluginManager | None = None, data: Any = None) -> tuple:
        """Build (or reuse) ``(evaluator, data on device, families, torch device)`` for this process."""
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
            pruner = None
            if self.pruner:
                pruner_cls = manager.get_pruner(self.pruner)
                pruner = pruner_cls(make_options(pruner_cls.Options, self.pruner_options,
                                                 f"options of pruner {self.pruner!r}"))
            _process_cache.clear()  # one job per process at a time: free the previous data
            _process_cache[key] = (evaluator, data.to(torch_device), families, torch_device, pruner)
        return _process_cache[key]

    def evaluate(self, task: EvaluationTask, device: str | None = None,
                 on_progress: Callable[[TrialProgress], None] | None = None,
                 stop_requested: Callable[[], bool] | None = None) -> TrialResult:
        """Evaluate one task inside its :class:`~snas.runtime.trial.TrialContext`; any exception becomes a failed result."""
        start = time.perf_counter()
        try:
            evaluator, data, families, torch_device, pruner = self.prepare(device)
            context = TrialContext(task.trial_id, deadline=task.deadline, on_progress=on_progress,
                                   stop_requested=stop_requested, pruner=pruner, rule=task.context.get("rule"),
                                   inputs=task.context)
            family = families[task.arch.family]
            with running(context):
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
        if result.status == "ok" and not _finite(result.score):
            result = TrialResult.failed(f"evaluator returned a non-finite score {result.score!r}", metrics=result.metrics)
        if result.status not in ("ok", "failed", "pruned", "cut_short"):
            result = TrialResult.failed(f"evaluator returned an unknown status {result.status!r}",
                                        metrics=result.metrics)
        if not result.duration:
            result.duration = time.perf_counter() - start
        return result


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def clear_process_cache() -> None:
    """Forget the data and evaluators prepared in this process."""
    _process_cache.clear()


# --------------------------------------------------------------------------
# the engine


class Engine:
    """Runs one search, new or resumed. Use :func:`run_search` or :func:`snas.search`."""

    def __init__(self, plan: RunPlan, manager: PluginManager | None = None,
                 stop: threading.Event | None = None, allow_changed_data: bool = False):
        self.plan = plan
        self.config = plan.config
        self.allow_changed_data = allow_changed_data
        self.manager = manager or get_plugin_manager()
        self.stop_event = stop
        self.stopped_by: int | None = None
        self._critical = 0
        self._signal_pending: int | None = None
        self._in_strategy = False
        self._closing = False
        self._in_final_phase = False
        self._search_to_the_end = False
        self._fits: tuple[int, bool] = (-1, False)

    # -- building -------------------------------------------------------------

    def _build(self) -> None:
        cfg, mgr, plan = self.config, self.manager, self.plan
        if not cfg.network_types:
            raise ConfigError("network_types: name at least one network family")
        self.objectives = parse_objectives(cfg.objectives)
        self.constraints = parse_constraints(cfg.constraints)
        families = {name: mgr.get_family(name) for name in cfg.network_types}
        spaces = {name: fam.space() for name, fam in families.items()}
        level = cfg.max_complexity
        if level is None:  # start small, but never below the level every named family needs
            level = max(space.min_level for space in spaces.values())
        self.space = JointSpace(spaces, max_level=level)
        self.families = families
        strategy = plan["strategy"]
        self.rng = np.random.default_rng(cfg.seed)
        self.strategy = strategy.cls(self.space, strategy.options, self.rng)
        if cfg.prescreen:
            mgr.get_evaluator(cfg.prescreen)  # an unknown proxy fails before the run file exists
        if cfg.weight_inheritance and not plan["evaluator"].cls.inherits_weights:
            raise ConfigError(f"--weight-inheritance: the evaluator {plan['evaluator'].name!r} cannot start a trial "
                              "from inherited weights (it does not declare inherits_weights); choose an evaluator "
                              "that trains networks, or drop --weight-inheritance")
        self._check_export_formats()
        devices = cfg.devices()
        for device in devices:
            resolve_device(device)  # a bad --device fails before anything runs
        executor = plan["executor"]
        self.executor = executor.cls(executor.options, num_workers=cfg.num_workers, devices=devices,
                                     threads=cfg.threads_per_trial)
        self.window = cfg.window(self.executor.slots)
        dataset = plan["dataset"]
        self.data = dataset.cls(dataset.options).load(seed=cfg.seed)
        sizes = {name: len(getattr(self.data, name)) for name in ("train", "val", "test")}
        if min(sizes.values()) == 0:
            raise DataError(f"data set {cfg.dataset!r} is too small to split into training, validation and test "
                            f"images ({', '.join(f'{k} {v}' for k, v in sizes.items())}): give it more images per "
                            "class (at least about ten)")
        pruner = plan["pruner"]
        self.job = EvaluationJob(
            dataset=dataset.name,
            dataset_options=dataset.options,
            evaluator=plan["evaluator"].name,
            evaluator_options=plan["evaluator"].options,
            families=list(cfg.network_types),
            device=devices[0],
            data_seed=cfg.seed,
            pruner=pruner.name if pruner else None,
            pruner_options=pruner.options if pruner else None,
        )
        clear_process_cache()
        prepared = self.job.prepare(manager=mgr, data=self.data)  # the driver (and inline) reuse the data
        self.pruner, families, shape, classes = prepared[4], prepared[2], self.data.input_shape, self.data.num_classes
        self.strategy.setup(StrategyContext(
            self.data, resolve_device(devices[0]), self.objectives, cfg.seed, self.constraints,
            flops=lambda arch: count_flops(families[arch.family].build(arch, shape, classes), shape)))
        self.max_trials = cfg.max_trials or strategy.cls.default_budget(strategy.options)
        if self.max_trials is None and cfg.time_budget is None:
            self.max_trials = DEFAULT_MAX_TRIALS

    def _check_export_formats(self) -> None:
        """A misspelt export format fails before the search, not after it."""
        known = set(self.manager.components("exporter"))
        unknown = [f for f in self.config.export_formats if f != "all" and f not in known]
        if unknown:
            raise ConfigError(f"unknown export format {unknown[0]!r}; available: {', '.join(sorted(known))}, all")

    # -- signals --------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._closing:
            return  # already stopping: the run is being closed cleanly
        self.stopped_by = signum
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
        """Defer SIGINT/SIGTERM while records are being written."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
            if not self._critical and self._signal_pending is not None:
                signum, self._signal_pending = self._signal_pending, None
                raise SearchInterrupted(f"stopped by {signal.Signals(signum).name}")

    def _stopping(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    # -- recording ------------------------------------------------------------

    def _record(self, records: list[dict[str, Any]], durable: bool = False) -> None:
        """Append records to the journal and fold them into the in-memory view of the run.

        Records that need not be durable are buffered and written with the
        next durable one, or before the engine waits for results.
        """
        if durable:
            self._last_sync = time.monotonic()
        with self._critical_section():
            self.writer.append_many(records, durable)
            for record in records:
                if record["kind"] != "trial":  # trials are folded in by _complete, without re-parsing
                    self.log.apply(record)

    def _snapshot(self) -> None:
        if self._in_strategy:
            return  # the strategy was interrupted mid-call: its state may be half-updated
        self._record([{
            "kind": "snapshot", "told": self.told, "asked": self.asked, "generation": self.state.generation,
            "strategy": self.strategy.state_dict(),
        }])
        self._last_snapshot = time.monotonic()

    def _checkpoint(self) -> None:
        keep = self._weights_to_keep()
        with self._critical_section():
            self.log.elapsed = self.state.elapsed()
            self.writer.checkpoint(self.log, {tid: None for tid in keep})
            dropped = sorted(self.log.weight_files - keep - self._inheritance_needs())
            if dropped:
                self.writer.append_many([{"kind": "weights_dropped", "trial_id": tid} for tid in dropped])
                for tid in dropped:
                    self.log.weight_files.discard(tid)
                self.writer.drop_weights(dropped)
        self._last_checkpoint = time.monotonic()
        self._trials_at_checkpoint = len(self.log.trials)

    def _weights_to_keep(self) -> set[int]:
        """Trials whose weights the run keeps: the best, and with several objectives or constraints the front
        (bounded)."""
        keep = {self.state.best.trial_id} if self.state.best is not None else set()
        if len(self.objectives) > 1 or self.constraints:
            keep.update(t.trial_id for t in self.state.front[:MAX_FRONT_WEIGHTS])
        return keep

    def _wants_weights(self, trial: Trial) -> bool:
        """Whether a trial that just finished is one whose weights the run keeps (decided before it is recorded)."""
        if better(trial, self.state.best):
            return True
        return ((len(self.objectives) > 1 or bool(self.constraints)) and self.front.would_join(trial)
                and len(self.state.front) < MAX_FRONT_WEIGHTS)

    # -- weight inheritance: the pool, each proposal's parent, its weights in the task ------------------

    def _choose_parent(self, pending: PendingTrial) -> None:
        """Pick the trial a new proposal starts from (``--weight-inheritance``), recorded with the proposal.

        The pool holds only trials told so far, so the choice, like the
        pruner's rule, is the same on every executor and after a resume. A
        child that inherits is trained under the reduced ``inherited``
        protocol (a ``fast`` one stays fast): its score ranks candidates,
        and the final retraining gives the best of them a training from
        scratch.
        """
        if self.pool is None:
            return
        source = self.pool.choose(pending.arch, pending.meta)
        if source is None:
            return
        pending.meta["inherit"] = source
        if pending.protocol == "full":
            pending.protocol = INHERITED

    def _mark_trained(self, trial: Trial, weights: dict[str, Any] | None) -> bool:
        """Mark a finished trial whose weights may serve later children; whether it may join the pool.

        A trial that would not join the pool now never will (the pool only
        gets better), so its weights need not be written.
        """
        if self.pool is None or weights is None or not trial.ok or trial.cached_from is not None \
                or trial.meta.get("final"):
            return False
        trial.meta[TRAINED] = True
        return self.pool.would_join(trial)

    def _parent_of(self, pending: PendingTrial) -> InheritedWeights | None:
        """The weights a pending trial inherits, to travel with its task (``context["parent"]``)."""
        source = pending.meta.get("inherit")
        if not source:
            return None
        tid = int(source["from"])
        weights = self._parent_weights.get(tid)
        if weights is None:
            weights = self.log.weights(tid)
            if weights is None or tid not in self.log.trials:
                log.warning("trial %d should start from the weights of trial %d, which the run folder no longer "
                            "holds; it trains from scratch", pending.trial_id, tid)
                return None
            self._parent_weights[tid] = weights
        return InheritedWeights(tid, self.log.trials[tid].arch, weights)

    def _inheritance_needs(self) -> set[int]:
        """Trials whose weight files inheritance still needs.

        The pool; trials finished but not told yet (they may join it); the
        parents of trials not finished. At most ``--weight-sharing-max-models``
        per family plus twice the window, whatever the length of the run.
        """
        if self.pool is None:
            return set()
        needs = self.pool.ids() | set(self.finished)
        for pending in (*self.pending.values(), *self.log.pending.values()):
            source = pending.meta.get("inherit")
            if source:
                needs.add(int(source["from"]))
        return needs

    def _release_weights(self) -> None:
        """Delete the weight files that neither the run's result nor inheritance needs any more."""
        if self.pool is None:
            return
        needs = self._inheritance_needs()
        for tid in [t for t in self._parent_weights if t not in needs]:
            del self._parent_weights[tid]
        drop = sorted(self.log.weight_files - self._weights_to_keep() - needs)
        if not drop:
            return
        with self._critical_section():
            self.writer.append_many([{"kind": "weights_dropped", "trial_id": tid} for tid in drop])
            self.writer.flush()  # the journal says so before the files go
            for tid in drop:
                self.log.weight_files.discard(tid)
            self.writer.drop_weights(drop)

    def _write_live(self, force: bool = False) -> None:
        """Rewrite live.json at most every LIVE_INTERVAL; an update that comes sooner is written by a timer.

        The update is built here, on the engine's thread, so the timer only
        writes a finished dictionary; an inline trial that blocks the engine
        for minutes is still shown as soon as it starts.
        """
        info = self._live_info()
        with self._live_lock:
            now = time.monotonic()
            if force or now - self._last_live >= LIVE_INTERVAL:
                self._last_live, self._live_pending = now, None
                self.writer.write_live(info)
                return
            self._live_pending = info
            if self._live_timer is None:
                self._live_timer = threading.Timer(LIVE_INTERVAL - (now - self._last_live), self._flush_live)
                self._live_timer.daemon = True
                self._live_timer.start()

    def _flush_live(self) -> None:
        with self._live_lock:
            info, self._live_pending, self._live_timer = self._live_pending, None, None
            if info is not None:
                self._last_live = time.monotonic()
                self.writer.write_live(info)

    def _live_info(self) -> dict[str, Any]:
        state = self.state
        return {
            "pid": os.getpid(), "updated": time.time(), "status": state.status,
            "trials": len(self.log.trials), "trained": state.trained, "max_trials": state.max_trials,
            "time_budget": state.time_budget, "elapsed": state.elapsed(), "window": state.window,
            "best": state.best.trial_id if state.best else None,
            "in_flight": [
                {**p.to_record(), "progress": state.progress[tid].to_record() if tid in state.progress else None}
                for tid, p in sorted(state.in_flight.items())
            ],
        }

    # -- the run --------------------------------------------------------------

    def run(self, path: Path, resume: bool = False) -> "RunResult":
        """Run (``resume=False``: start; else continue) the search whose ``run.h5`` is ``path``."""
        from snas.runtime.result import RunResult

        self._started = time.monotonic()  # the time budget counts loading the data too
        self._build()
        cfg = self.config
        folder = Path(path).parent
        if resume:
            self.writer, self.log = RunWriter.open(path)
            self._check_same_data()
        else:
            self.writer, self.log = RunWriter.create(
                folder, run_name=cfg.run_name or folder.name, config=cfg.to_dict(),
                plugins=self.manager.versions(), data_info=self.data.describe())
        status = "running"
        try:
            self._start_session(resume)
            with self._signals():
                try:
                    self.manager.hook.snas_run_started(run=self.state)
                    status = self._loop()
                except (KeyboardInterrupt, SearchInterrupted):
                    status = "interrupted"
                    if self.stopped_by is None:
                        self.stopped_by = signal.SIGINT
                except BaseException:
                    status = "failed"
                    raise
                finally:
                    self._close(status)
        finally:
            self.writer.close()
        result = RunResult.from_log(self.log)  # what the final checkpoint holds, without reading it back
        result.stopped_by = self.stopped_by
        self.manager.hook.snas_run_finished(run=self.state, result=result)
        return result

    def _check_same_data(self) -> None:
        recorded = self.log.data_info.get("fingerprint")
        if recorded is None or recorded == self.data.fingerprint():
            return
        if self.allow_changed_data:
            log.warning("the data set changed since the run started; trials from before and after are ranked "
                        "together")
            return
        self.writer.close()
        raise DataError(
            f"the data set {self.config.dataset!r} is not the one this run started with (its contents changed: "
            f"fingerprint {self.data.fingerprint()} instead of {recorded}); trials on different data cannot be "
            "ranked together: start a new run, or resume with --allow-changed-data if you mean it")

    def _start_session(self, resume: bool) -> None:
        cfg, log_ = self.config, self.log
        self.state = RunState(config=cfg, path=self.writer.path, max_trials=self.max_trials,
                              time_budget=cfg.time_budget, objectives=self.objectives, window=self.window,
                              data_info=self.data.describe(), resumed=resume, elapsed_before=log_.elapsed,
                              started_at=self._started)
        self.front = Front(self.objectives, self.constraints)
        self.cache: dict[str, Trial] = {}
        self.finished: dict[int, Trial] = {}  # finished, not told yet
        self.queue: deque[int] = deque()  # pending ids waiting for a slot
        self.twins: dict[int, list[int]] = {}  # running trial id -> pending duplicates waiting for it
        self.evaluating: dict[str, int] = {}  # fingerprint -> id of the trial evaluating it
        self.pending: dict[int, PendingTrial] = {}  # asked (or final) and not finished
        self.pool = WeightPool(self.space, cfg.weight_sharing_max_models) if cfg.weight_inheritance else None
        self._parent_weights: dict[int, dict[str, Any]] = {}  # weights of the pool (and pending parents) in memory
        self.told = self.asked = 0
        self.planned = 0  # proposals that needed (or need) an evaluation: what the trial budget counts
        self.cached_in_a_row = 0
        self.strategy_done = False
        self.warned_replay = False
        self._since_generation: list[Trial] = []
        self._last_snapshot = self._last_checkpoint = self._last_live = self._last_sync = time.monotonic()
        self._snapshot_due = False
        self._live_lock = threading.Lock()
        self._live_pending: dict[str, Any] | None = None
        self._live_timer: threading.Timer | None = None
        self._trials_at_checkpoint = len(log_.trials)
        for trial in log_.sorted_trials():
            self._remember(trial)
        self._record([{"kind": "session", "pid": os.getpid(), "resumed": resume, "time": time.time()}])
        if resume:
            self._restore()

    def _remember(self, trial: Trial) -> None:
        """Account for a finished trial in the run's view (best, front, cache, budget)."""
        self.state.trials.append(trial)
        self.state.trained += prescreen.evaluated(trial)
        if better(trial, self.state.best):
            self.state.best = trial
        if self.front.add(trial):
            self.state.front = self.front.trials
        if prescreen.evaluated(trial) and not trial.ended_by_the_clock:
            fp = trial.fingerprint
            if fp not in self.cache or (trial.protocol == "full" and self.cache[fp].protocol != "full"):
                self.cache[fp] = trial

    def _restore(self) -> None:
        """Bring the strategy and the counters to the last snapshot; replay happens as the loop asks again."""
        log_ = self.log
        if log_.legacy is not None and log_.legacy.get("engine"):
            self._restore_v1(log_.legacy["engine"])
        elif log_.snapshot is not None:
            snap = log_.snapshot
            self.strategy.load_state_dict(snap["strategy"])
            self.told, self.asked = int(snap["told"]), int(snap["asked"])
            self.state.generation = int(snap.get("generation", 0))
        self.planned = sum(1 for t in log_.trials.values()
                           if t.trial_id < self.asked and prescreen.evaluated(t) and not t.meta.get("final"))
        for tid in range(self.told):  # the pruner and the pool hold what the trials told so far taught them
            if tid in log_.trials and not log_.trials[tid].meta.get("final"):
                if self.pruner is not None:
                    self.pruner.tell(log_.trials[tid])
                if self.pool is not None:
                    self.pool.tell(log_.trials[tid])
        for tid in range(self.told, self.asked):
            if self._is_final(tid):
                continue  # the final phase admits its own trials
            if tid in log_.trials:
                self.finished[tid] = log_.trials[tid]
            elif tid in log_.pending:
                self._admit(log_.pending[tid], journal=False)

    def _restore_v1(self, engine: dict[str, Any]) -> None:
        """A format-1 run: its strategy state was saved after asking the pending batch."""
        state = dict(engine["strategy"])
        pending = [int(p["trial_id"]) for p in engine.get("pending", [])]
        if pending and not engine.get("pending", [{}])[0].get("final"):
            state["batch"] = {"waiting": [], "size": len(pending), "received": []}
            self.told, self.asked = min(pending), max(pending) + 1
        else:
            self.told = self.asked = int(engine.get("next_trial_id", len(self.log.trials)))
        self.strategy.load_state_dict(state)
        self.state.generation = int(engine.get("generation", 0))

    # -- the loop -------------------------------------------------------------

    def _loop(self) -> str:
        if self.log.final_phase is not None:
            outcome = self.log.final_phase["outcome"]
        else:
            outcome = self._search()
        if outcome != "interrupted":
            self._final_phase(outcome)
        return outcome

    def _search(self) -> str:
        self.executor.start(self.job, self._on_progress, self._stopping)
        self._advance()
        while True:
            if self._stopping():
                return "interrupted"
            self._submit()
            if not self.state.in_flight:
                if self._out_of_time() or (not self.queue and self.told == self.asked):
                    return self._outcome()
                if not self.queue:
                    raise RuntimeError(f"engine stalled: trials {self.told}..{self.asked - 1} are neither "
                                       "running, queued nor finished")
                continue
            self.writer.flush()
            for task, result in self.executor.wait(timeout=0.2):
                self._finish(task, result)
            self._advance()
            self._maybe_snapshot()

    def _outcome(self) -> str:
        if self.cached_in_a_row >= MAX_CACHED_IN_A_ROW:
            return "exhausted"
        if self.strategy_done and self.told == self.asked:
            return "finished"
        return "budget_exhausted"

    def _out_of_time(self) -> bool:
        """Whether the search's share of the time budget is spent (the final phase has its own deadlines)."""
        end = self._search_seconds()
        return not self._in_final_phase and end is not None and self.state.elapsed() >= end

    def _budget_left(self) -> int:
        """How many more evaluations the trial budget allows (a large number when only time bounds the run)."""
        if self._out_of_time() or self.cached_in_a_row >= MAX_CACHED_IN_A_ROW:
            return 0
        if self.max_trials is None:
            return 1 << 30
        return max(0, self.max_trials - self.planned)

    def _advance(self) -> None:
        """Fill the window, then tell finished trials in id order, filling the window after each tell."""
        self._fill()
        while self.told in self.finished or self._is_final(self.told):
            if self._is_final(self.told):  # a final trial of an earlier session: never told to the strategy
                self.told += 1
                self._fill()
                continue
            trial = self.finished.pop(self.told)
            generation = self.strategy.generation
            self._call_strategy(self.strategy.tell, trial)
            if self.pruner is not None and not trial.meta.get("final"):
                self.pruner.tell(trial)
            if self.pool is not None and not trial.meta.get("final"):
                self.pool.tell(trial)
            self.told += 1
            self._snapshot_if_due()
            if not trial.meta.get("final"):
                self._since_generation.append(trial)
            if self.strategy.generation != generation:
                self._generation_done()
            self._fill()
        self._release_weights()

    def _fill(self) -> None:
        while not self.strategy_done and self.asked < self.told + self.window and not self._stopping():
            room = min(self.told + self.window - self.asked, self._budget_left())
            if room <= 0:
                return
            group = prescreen.group_size(self.config) if self.config.prescreen else 1
            proposals = self._call_strategy(self.strategy.ask, room * group)
            if not proposals:
                if self.told == self.asked:
                    self.strategy_done = True
                self._snapshot_if_due()
                return
            if len(proposals) > room * group:
                raise ConfigError(f"strategy {self.config.strategy!r} returned {len(proposals)} proposals "
                                  f"when asked for at most {room * group}")
            if group > 1:
                proposals = prescreen.screen(self, proposals, self.asked)
            for proposal in proposals:
                self._register(proposal)
            self._snapshot_if_due()

    def _call_strategy(self, method: Callable, *args: Any) -> Any:
        start = time.monotonic()
        self._in_strategy = True
        try:
            out = method(*args)
        finally:
            self._in_strategy = False
        if time.monotonic() - start > EXPENSIVE_CALL:
            self._snapshot_due = True  # taken once the counters agree with the strategy's new state
        return out

    def _snapshot_if_due(self) -> None:
        if self._snapshot_due:
            self._snapshot_due = False
            self._snapshot()

    def _maybe_snapshot(self) -> None:
        now = time.monotonic()
        if now - self._last_snapshot > SNAPSHOT_INTERVAL:
            self._snapshot()
        every = self.config.checkpoint_frequency
        due = (len(self.log.trials) - self._trials_at_checkpoint >= every) if every else (
            now - self._last_checkpoint > CHECKPOINT_INTERVAL)
        if due:
            self._checkpoint()

    def _register(self, proposal: Proposal, final: bool = False) -> None:
        """Number a new proposal; replayed ones are matched with what the journal recorded."""
        while not final and self._is_final(self.asked):  # ids an earlier session's final phase took
            self.asked += 1
        tid = self.asked
        self.asked += 1
        recorded = self.log.trials.get(tid) or self.log.pending.get(tid)
        pending = PendingTrial(tid, proposal.arch, trial_seed(self.config.seed, tid), proposal.protocol,
                               dict(proposal.meta), self.pruner.rule() if self.pruner and not final else None)
        if final:
            pending.meta["final"] = True
        elif recorded is None:
            self._choose_parent(pending)
        if recorded is not None and recorded.arch != proposal.arch and not self.warned_replay:
            self.warned_replay = True
            log.warning("strategy %r proposed trial %d differently on resume than before; the recorded trial is "
                        "kept (the strategy is not deterministic)", self.config.strategy, tid)
        if tid in self.log.trials:
            trial = self.log.trials[tid]
            self.finished[tid] = trial
            if prescreen.evaluated(trial):
                self.planned += 1
                self.cached_in_a_row = 0
            else:
                self.cached_in_a_row += trial.cached_from is not None
            return
        if tid in self.log.pending:
            pending = self.log.pending[tid]
            self._admit(pending, journal=False)
            return
        self._admit(pending, journal=True)

    def _admit(self, pending: PendingTrial, journal: bool) -> None:
        """Decide what happens to a pending trial: cache hit, twin of a running one, pruned, or evaluation."""
        tid = pending.trial_id
        if journal:
            self._record([{"kind": "proposed", "trial": pending.to_record()}])
        screened = pending.meta.get("prescreen")
        if screened and not screened.get("kept", True):
            self._complete(prescreen.pruned_trial(pending, screened))
            return
        fp = pending.arch.fingerprint
        hit = self.cache.get(fp)
        if hit is not None and _covers(hit.protocol, pending.protocol):
            self.cached_in_a_row += 1
            self._complete(_cached(pending, hit))
            return
        running_id = self.evaluating.get(fp)
        if running_id is not None and _covers(self.pending[running_id].protocol, pending.protocol):
            self.cached_in_a_row += 1
            self.pending[tid] = pending
            self.twins.setdefault(running_id, []).append(tid)
            return
        self.cached_in_a_row = 0
        self.planned += 1
        self.pending[tid] = pending
        self.evaluating[fp] = tid
        self.queue.append(tid)

    def _submit(self) -> None:
        while self.queue and len(self.state.in_flight) < self.executor.slots:
            if self._out_of_time():
                return
            tid = self.queue.popleft()
            pending = self.pending[tid]
            deadline = self._deadline(pending)
            self.state.in_flight[tid] = pending
            context = {"rule": pending.rule} if pending.rule is not None else {}
            if pending.protocol == EXTENDED:
                context["epochs"] = int(pending.meta["epochs"])
            parent = self._parent_of(pending)
            if parent is not None:
                context["parent"] = parent.to_context()
            self.executor.submit(EvaluationTask(tid, pending.arch, pending.seed, pending.protocol, deadline, context))
            self.manager.hook.snas_trial_started(run=self.state, trial=pending)
            self._write_live()

    def _on_progress(self, progress: TrialProgress) -> None:
        if progress.trial_id not in self.state.in_flight:
            return
        self.state.progress[progress.trial_id] = progress
        self.manager.hook.snas_trial_progress(run=self.state, progress=progress)
        self._write_live()

    def _finish(self, task: EvaluationTask, result: TrialResult) -> None:
        tid = task.trial_id
        if tid not in self.state.in_flight:
            return  # a result for a task the engine gave up on
        if self._stopping() and result.status == "cut_short":
            return  # stopped from outside: the trial did not run, it stays pending for resume
        pending = self.pending[tid]
        trial = Trial(
            trial_id=tid, arch=pending.arch, status=result.status if result.status != "ok" or result.ok else "failed",
            score=result.score if result.status != "failed" and _finite(result.score) else None,
            protocol=pending.protocol, metrics=dict(result.metrics),
            curves={k: [float(x) for x in v] for k, v in result.curves.items()},
            error=result.error if result.status != "ok" else None, duration=float(result.duration),
            started=time.time() - float(result.duration), seed=pending.seed, meta=dict(pending.meta),
        )
        del self.state.in_flight[tid]
        self.state.progress.pop(tid, None)
        if self.evaluating.get(pending.arch.fingerprint) == tid:
            del self.evaluating[pending.arch.fingerprint]
        self._complete(trial, result.weights)
        for twin in self.twins.pop(tid, []):
            self._complete(_cached(self.pending[twin], trial))
        self._write_live()

    def _complete(self, trial: Trial, weights: dict[str, Any] | None = None) -> None:
        """Make a finished trial durable, account for it, and queue it to be told."""
        tid = trial.trial_id
        pooled = self._mark_trained(trial, weights)
        keep = weights is not None and (self._wants_weights(trial) or pooled)
        now = time.monotonic()
        # Written before it is told: a killed process (SIGKILL included) loses nothing finished. Synced
        # to the disk too (against power loss) unless trials are so short that a sync each would cost
        # more than the trial: then at least once a second.
        sync = trial.duration >= SYNC_EACH_TRIAL_ABOVE or now - self._last_sync >= SYNC_INTERVAL
        with self._critical_section():
            if keep:
                self.writer.write_weights(tid, weights)
                if pooled:
                    self._parent_weights[tid] = weights
            self._record([{"kind": "trial", "trial": trial.to_record(), "weights": keep}], durable=sync)
            if not sync:
                self.writer.flush()
            self.log.add_trial(trial, keep)
        self.pending.pop(tid, None)
        self._remember(trial)
        if self.state.best is trial:
            self._write_best_json(trial)
        if not trial.meta.get("final"):
            self.finished[tid] = trial
        self.manager.hook.snas_trial_finished(run=self.state, trial=trial)

    def _generation_done(self) -> None:
        generation = self.state.generation
        batch, self._since_generation = self._since_generation, []
        ids = [t.trial_id for t in batch]
        progress = self.strategy.progress()
        self._record([{"kind": "generation", "generation": generation, "trials": ids, "progress": progress}])
        self.state.generation += 1
        self.manager.hook.snas_generation_finished(run=self.state, generation=generation, trials=batch,
                                                   progress=progress)

    def _final_phase(self, outcome: str) -> None:
        """After the search: the final training (inside the time budget), then the final retraining (outside it).

        The final training (``--final-training``, with a time budget and an
        evaluator that ``extends_training``) trains the search's best
        architectures again from scratch, as long as the time left allows
        (:meth:`_final_training`). The final retraining trains the best
        reduced-protocol architectures with the full protocol
        (:meth:`_final_retraining`): their scores only ranked candidates, and
        the run's result always comes from full training; it does not count
        against the budget.
        """
        waiting = [p for tid, p in sorted(self.log.pending.items()) if p.meta.get("final") and tid not in self.pending]
        if self.log.final_phase is None:
            retraining = self._final_retraining()
            proposals = ([] if waiting else self._final_training()) + retraining
            if retraining:  # the search must not go on after a retraining, even when resumed with more budget
                self._record([{"kind": "final_phase", "outcome": outcome}])
            if proposals:
                self.asked = max(self.asked, max(self.log.pending, default=-1) + 1,
                                 max(self.log.trials, default=-1) + 1)
            for proposal in proposals:
                self._register(proposal, final=True)
        for pending in waiting:  # final trials an earlier session of the run did not finish
            self._admit(pending, journal=False)
        if not (self.queue or self.state.in_flight):
            return
        self.executor.start(self.job, self._on_progress, self._stopping)
        self._in_final_phase = True
        while self.queue or self.state.in_flight:
            if self._stopping():
                raise SearchInterrupted("stopped during the final training")
            self._submit()
            self.writer.flush()
            for task, result in self.executor.wait(timeout=0.2):
                self._finish(task, result)

    def _final_training(self, left: float | None = None) -> list[Proposal]:
        """The search's best architectures (one per executor slot), each for as many epochs as the time left allows.

        The epochs come from each trial's own time per epoch (its
        ``epoch_seconds`` metric, else its duration over its epochs), with 5%
        of the time and one epoch kept back for building the network and the
        test pass. (Not the trial's whole duration: the run's first trial
        also paid for warming up the process.) At most
        ``FINAL_TRAINING_MAX_FACTOR`` times its protocol's epochs: a search
        that ended early leaves the rest of the budget unused rather than
        train one network for thousands of epochs. An architecture is trained
        again only if that gives it more epochs than it ever had.
        """
        if not self._keeps_final_training():
            return []
        if left is None:
            left = self.config.time_budget - self.state.elapsed()
        finished = sorted((t for t in self.state.trials if t.ok and t.protocol == "full" and t.cached_from is None
                           and not t.meta.get("final") and t.duration > 0 and t.metrics.get("epochs")),
                          key=lambda t: (t.rank(), -t.trial_id), reverse=True)
        done = {t.fingerprint: t.meta.get("epochs", 0) for t in self.state.trials if t.protocol == EXTENDED}
        proposals: list[Proposal] = []
        seen: set[str] = set()
        for t in finished:
            if t.fingerprint in seen:
                continue
            seen.add(t.fingerprint)
            trained = float(t.metrics["epochs"])
            per_epoch = float(t.metrics.get("epoch_seconds") or t.duration / trained)
            epochs = min(int(0.95 * left / per_epoch) - 1,
                         FINAL_TRAINING_MAX_FACTOR * max(int(trained), int(t.metrics.get("max_epochs") or 0)))
            if epochs > max(trained, done.get(t.fingerprint, 0)):  # longer than it ever trained
                proposals.append(Proposal(t.arch, EXTENDED, {"extends": t.trial_id, "epochs": epochs}))
            if len(seen) >= self.executor.slots:
                break
        return proposals

    def _final_retraining(self) -> list[Proposal]:
        """The best reduced-protocol architectures (``--retrain-top``), each to be trained with the full protocol."""
        full = {t.fingerprint for t in self.state.trials if t.protocol in FULL_PROTOCOLS and t.cached_from is None}
        candidates = sorted((t for t in self.state.trials if t.ok and t.protocol not in FULL_PROTOCOLS
                             and t.cached_from is None and t.fingerprint not in full),
                            key=lambda t: (-t.score, t.trial_id))
        chosen: list[Trial] = []
        for t in candidates:
            if t.fingerprint not in {c.fingerprint for c in chosen}:
                chosen.append(t)
            if len(chosen) >= self.config.retrain_top:
                break
        return [Proposal(t.arch, "full", {"retrain_of": t.trial_id}) for t in chosen]

    def _is_final(self, tid: int) -> bool:
        """Whether trial id ``tid`` belongs to a final phase (its trials are never told to the strategy)."""
        trial = self.log.trials.get(tid) or self.log.pending.get(tid)
        return trial is not None and bool(trial.meta.get("final"))

    def _keeps_final_training(self) -> bool:
        """Whether part of the time budget is kept for the final training (see :meth:`_final_training`)."""
        return (self.config.time_budget is not None and self.config.final_training > 0
                and self.plan["evaluator"].cls.extends_training)

    def _search_seconds(self) -> float | None:
        """The seconds of the run the search may use: the time budget less the final training's share.

        The search keeps the whole budget while it has finished fewer than
        ``FINAL_TRAINING_MIN_TRIALS`` trials (there is nothing to choose from
        yet: in a short budget on large data, the first trials themselves
        need the time), or when the best trial so far could not train for
        more epochs in that share (the share would go unused). Once the
        search reaches the share that way, it keeps the whole budget for the
        rest of the run.
        """
        budget = self.config.time_budget
        if budget is None or not self._keeps_final_training() or self._search_to_the_end:
            return budget
        share = budget * self.config.final_training
        if self._final_training_fits(share):
            return budget - share
        if self.state.elapsed() >= budget - share:
            self._search_to_the_end = True
        return budget

    def _final_training_fits(self, share: float) -> bool:
        """Whether the search has enough finished trials and its best would train longer in ``share`` seconds."""
        count = len(self.state.trials)
        if self._fits[0] != count:
            searched = sum(t.ok and t.protocol == "full" and not t.meta.get("final") for t in self.state.trials)
            self._fits = (count, searched >= FINAL_TRAINING_MIN_TRIALS and bool(self._final_training(share)))
        return self._fits[1]

    def _deadline(self, pending: PendingTrial) -> float | None:
        """When trial ``pending`` must stop (seconds since the epoch), or ``None``.

        Search trials stop at the end of the search's share of the budget; a
        final training at the end of the budget (not at all when a resumed run
        has none left: the user asked it to finish); the final retraining of
        reduced-protocol winners is outside the budget.
        """
        budget, elapsed = self.config.time_budget, self.state.elapsed()
        if budget is None or (pending.meta.get("final") and pending.protocol != EXTENDED):
            return None
        if pending.meta.get("final"):
            return time.time() + budget - elapsed if budget > elapsed else None
        return time.time() + max(0.0, self._search_seconds() - elapsed)

    def _close(self, status: str) -> None:
        """Stop workers, record the final status, fold everything into run.h5.

        Best effort when the run failed (a full disk, say): what cannot be
        written is left to the journal already on disk, so the error that
        ended the run is the one the user sees.
        """
        self._closing = True
        self.state.status = status
        with contextlib.suppress(Exception):
            if self.state.in_flight:
                self.executor.cancel()
        with contextlib.suppress(Exception):
            self.executor.close()
        self.state.in_flight.clear()
        self.state.progress.clear()
        try:
            if status != "failed":
                self._snapshot()
            self._record([{"kind": "status", "status": status, "elapsed": self.state.elapsed()}], durable=True)
            self._checkpoint()
            with self._live_lock:
                if self._live_timer is not None:
                    self._live_timer.cancel()
                    self._live_timer = None
            self._write_live(force=True)
        except Exception:
            if status != "failed":
                raise

    def _write_best_json(self, trial: Trial) -> None:
        target = self.writer.folder / "best_architecture.json"
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(trial.arch.to_json() + "\n")
        tmp.replace(target)


def _covers(have: str, want: str) -> bool:
    """Whether a result under protocol ``have`` answers a proposal for ``want`` (full answers everything)."""
    return have == want or (have == "full" and want != EXTENDED)


def _cached(pending: PendingTrial, hit: Trial) -> Trial:
    return Trial(
        trial_id=pending.trial_id, arch=pending.arch, status=hit.status, score=hit.score, protocol=hit.protocol,
        metrics=dict(hit.metrics), curves=dict(hit.curves), error=hit.error, duration=0.0, started=time.time(),
        seed=hit.seed, cached_from=hit.trial_id, meta=dict(pending.meta),
    )


def run_search(
    plan: RunPlan,
    path: Path,
    *,
    resume: bool = False,
    manager: PluginManager | None = None,
    observers: list[Any] = (),
    stop: threading.Event | None = None,
    allow_changed_data: bool = False,
) -> "RunResult":
    """Run (or resume) the search ``plan`` describes (see :func:`snas.runtime.config.plan_run`) in ``path``'s folder."""
    manager = manager or get_plugin_manager()
    registered = [manager.register(o) for o in observers]
    try:
        return Engine(plan, manager, stop=stop, allow_changed_data=allow_changed_data).run(Path(path),
                                                                                            resume=resume)
    finally:
        for name in registered:
            manager.unregister(name=name)


if False:  # pragma: no cover - for type checkers only
    from snas.runtime.result import RunResult
