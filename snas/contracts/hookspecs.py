"""The snas plugin hooks. Each docstring here *is* the contract of its hook.

A plugin is a module (or any object) with functions named after these hooks
and decorated with :data:`hookimpl`, registered under the entry-point group
``snas`` in its distribution's metadata::

    # pyproject.toml of a third-party package
    [project.entry-points.snas]
    my_family = "my_package.my_family"

    # my_package/my_family.py
    from snas import hookimpl, NetworkFamily

    class MyFamily(NetworkFamily):
        name = "my_family"
        ...

    @hookimpl
    def snas_register_families():
        return [MyFamily]

The hooks, by the phase of a run in which they are called:

==================  =============================================  ========================
phase               hooks                                          process
==================  =============================================  ========================
start-up            ``snas_register_*`` (families, strategies,     every process that loads
                    data sets, evaluators, executors, exporters,   plugins (driver, workers,
                    pruners)                                       cluster nodes)
command line        ``snas_register_commands``                     the ``snas`` process
a run               ``snas_run_started``, ``snas_trial_started``,  the driver (the process
                    ``snas_trial_progress``,                       running the engine)
                    ``snas_trial_finished``,
                    ``snas_generation_finished``,
                    ``snas_run_finished``
==================  =============================================  ========================

No hook is ``firstresult``: every implementation is called, in no guaranteed
order. Registration hooks return a list of component *classes*, collected
from all plugins; the kernel instantiates them when a run needs them. Every
class has a unique ``name`` within its kind. A registration hook that raises,
or returns something that is not a named component class, costs only its own
plugin: it is reported once (``snas plugins`` lists it) and skipped; two
plugins claiming one name make that name unusable, with an error naming both.
The return values of the other hooks are ignored.
"""

from __future__ import annotations

from typing import Any

import pluggy

# The hooks' argument types are named as text (snas.runtime.state.RunState, snas.runtime.result.RunResult,
# snas.contracts.records' PendingTrial, Trial, TrialProgress): the contracts import nothing from the runtime.

PROJECT_NAME = "snas"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Decorator marking a function as the implementation of an snas hook.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -- registration hooks -----------------------------------------------------


@hookspec
def snas_register_families() -> list[type]:
    """Return network-family classes (subclasses of :class:`snas.NetworkFamily`).

    A family declares its parameter space with :meth:`~snas.NetworkFamily.space`
    (a :class:`snas.SearchSpace` built from :class:`snas.Choice`,
    :class:`snas.IntRange` and :class:`snas.LayerList`, with per-level
    restrictions as data) and builds an untrained ``torch.nn.Module`` with
    ``build(arch, input_shape, num_classes)``. ``build`` must accept every
    architecture its space can produce, for every input shape ``(C, H, W)``
    it claims, and return logits of shape ``(N, num_classes)``. Every
    parameter of the space must change the module that is built.
    Instantiated with no arguments.
    """


@hookspec
def snas_register_strategies() -> list[type]:
    """Return search-strategy classes (subclasses of :class:`snas.Strategy`, or :class:`snas.BatchStrategy`).

    Instantiated in the driver process as ``cls(space, options, rng)``:
    ``space`` is the :class:`snas.JointSpace` of the families taking part,
    ``options`` an instance of ``cls.Options`` built from user settings,
    ``rng`` a ``numpy.random.Generator`` seeded from the run seed. Then
    ``setup(context)`` gives it the data, device and objectives. The engine
    calls ``ask(n)`` for up to ``n`` proposals whenever places in its window
    are free and ``tell(trial)`` with each finished trial in trial-id order.
    The strategy must draw all randomness from ``rng`` (or generators it
    seeds from it) and put everything it needs to continue into
    ``state_dict()``, so that a resumed run proposes exactly what the
    uninterrupted run would have.
    """


@hookspec
def snas_register_datasets() -> list[type]:
    """Return data-set classes (subclasses of :class:`snas.Dataset`).

    Instantiated as ``cls(options)``; ``load(seed)`` returns a
    :class:`snas.DataBundle` with train / validation / test splits, the input
    shape ``(C, H, W)``, the class names and the normalization applied. The
    validation split must be carved from training data with ``seed`` and must
    not receive training augmentation. Missing or unreadable files raise
    :class:`snas.contracts.errors.DataError` naming the data set, the path and the fix.
    """


@hookspec
def snas_register_evaluators() -> list[type]:
    """Return evaluator classes (subclasses of :class:`snas.Evaluator`).

    Instantiated as ``cls(options)`` in every process that evaluates
    (worker processes and cluster nodes included). ``evaluate(arch, family,
    data, seed=, device=, protocol=)`` returns a :class:`snas.TrialResult`
    whose ``score`` is to be maximized. It must be deterministic for a given
    seed on a given device. Failures (exceptions, NaN losses, out of memory)
    may be raised or returned as ``TrialResult.failed(...)``; either way the
    engine records a failed trial and the search goes on. While it runs,
    :func:`snas.current_trial` reports progress (``report``) and says when to
    stop early (``should_stop``: the time budget is over or the run stops).
    """


@hookspec
def snas_register_executors() -> list[type]:
    """Return executor classes (subclasses of :class:`snas.Executor`).

    Instantiated in the driver process as ``cls(options, num_workers=,
    devices=, threads=)``. The engine calls ``start(job, on_progress)``,
    ``submit(task)`` while fewer than ``slots`` tasks run, ``wait(timeout)``
    for finished ``(task, result)`` pairs, ``cancel()`` when the run stops
    early and ``close()`` at the end. ``job.evaluate(task, device=,
    on_progress=, stop_requested=)`` does the work in whatever process it is
    called; progress must reach ``on_progress`` in the driver process. A
    task whose worker dies finishes as a failed result; it never ends the run.
    """


@hookspec
def snas_register_exporters() -> list[type]:
    """Return exporter classes (subclasses of :class:`snas.Exporter`).

    Instantiated as ``cls(options)``. ``export(model, example_input,
    out_dir, metadata)`` writes a trained model in one format and returns the
    files written; ``verify(...)`` then checks them against the PyTorch model
    on real validation images, and ``example_script(...)`` may supply a
    runnable ``example.py``. The ``validation`` attribute holds validation
    images and labels for calibration. A format whose optional package is
    missing raises :class:`snas.contracts.errors.SnasError` saying how to install it.
    """


@hookspec
def snas_register_pruners() -> list[type]:
    """Return pruner classes (subclasses of :class:`snas.Pruner`).

    Instantiated as ``cls(options)`` in the driver (where ``tell`` and
    ``rule`` run) and in every process that evaluates trials (where
    ``prune`` runs, from the trial's :func:`snas.current_trial` reports).
    ``rule()`` must depend only on the trials told so far, so that a run
    prunes the same trials on every executor and after a resume.
    """


@hookspec
def snas_register_commands(cli: Any) -> None:
    """Add commands to the ``snas`` command line.

    ``cli`` is the top-level ``click.Group``; call ``cli.add_command(...)``
    or decorate new functions with ``@cli.command()``. Called once when the
    CLI starts.
    """


# -- observer hooks ---------------------------------------------------------
#
# Observer hooks run in the driver process (the one running the engine), on
# the engine's thread, between its steps: every implementation is called, in
# no guaranteed order, and return values are ignored. They must return
# quickly (the engine waits), must not modify what they receive, and must not
# call back into the engine. An exception raised in one ends the run as a
# failure, except KeyboardInterrupt, which stops it cleanly. A process that is
# not running the search follows a run with :func:`snas.runtime.follow` instead.


@hookspec
def snas_run_started(run: RunState) -> None:
    """A run started or resumed; nothing has been asked of the strategy in this session yet.

    ``run`` is the :class:`snas.runtime.engine.RunState`: its ``config``, ``path``
    (the run file), ``max_trials``, ``time_budget``, ``objectives``,
    ``window``, and on resume the ``trials`` finished so far and the ``best``.
    The run file exists and is resumable when this fires.
    """


@hookspec
def snas_trial_started(run: RunState, trial: PendingTrial) -> None:
    """A trial was handed to the executor (it is in ``run.in_flight``).

    Its proposal is in the run's journal (not necessarily synced yet). Cache
    hits and trials waiting for an identical running one never start.
    """


@hookspec
def snas_trial_progress(run: RunState, progress: TrialProgress) -> None:
    """A running trial reported progress (``phase``, ``step`` of ``total``, latest ``metrics``).

    Relayed from whatever process evaluates the trial; progress is not
    recorded in the run file (``live.json`` in the run folder shows the
    latest of each trial in flight to other processes).
    """


@hookspec
def snas_trial_finished(run: RunState, trial: Trial) -> None:
    """A trial finished and is durable in the run file (synced to disk) before this fires.

    ``trial`` is a :class:`snas.Trial`: failed, pruned, cut short and cached
    trials included (check ``trial.status`` and ``trial.cached_from``).
    Trials finish in any order; the strategy is told them in id order, after
    this hook, possibly later.
    """


@hookspec
def snas_generation_finished(run: RunState, generation: int, trials: list[Trial], progress: dict[str, Any]) -> None:
    """The strategy's generation counter grew: a generation, round or batch was told to it.

    ``generation`` counts from 0; ``trials`` are those told since the previous
    generation; ``progress`` is the strategy's ``progress()`` (diversity,
    complexity level, surrogate accuracy…), recorded in the run file.
    """


@hookspec
def snas_run_finished(run: RunState, result: RunResult) -> None:
    """A run ended, normally or by interruption; the run file is closed and complete.

    ``result`` is the :class:`snas.RunResult`; ``result.status`` is
    ``"finished"`` (the strategy ended), ``"budget_exhausted"``,
    ``"exhausted"`` (only repeats were proposed) or ``"interrupted"``.
    """
