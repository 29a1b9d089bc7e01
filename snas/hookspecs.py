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

Registration hooks return a list of component *classes*; the kernel
instantiates them when a run needs them. Every class has a unique ``name``
within its kind: two plugins registering the same kind and name is an error
that names both distributions. Observer hooks are called for every plugin that
implements them, in no guaranteed order; their return values are ignored.
"""

from __future__ import annotations

from typing import Any

import pluggy

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
    """Return search-strategy classes (subclasses of :class:`snas.Strategy`).

    Instantiated as ``cls(space, options, rng)``: ``space`` is the
    :class:`snas.JointSpace` of the families taking part, ``options`` an
    instance of ``cls.Options`` built from user settings, ``rng`` a
    ``numpy.random.Generator`` seeded from the run seed. The strategy must
    draw all randomness from ``rng`` (or generators it seeds from it) and put
    everything it needs to continue into ``state_dict()``, so that a resumed
    run proposes exactly what the uninterrupted run would have.
    """


@hookspec
def snas_register_datasets() -> list[type]:
    """Return data-set classes (subclasses of :class:`snas.Dataset`).

    Instantiated as ``cls(options)``; ``load(seed)`` returns a
    :class:`snas.DataBundle` with train / validation / test splits, the input
    shape ``(C, H, W)``, the class names and the normalization applied. The
    validation split must be carved from training data with ``seed`` and must
    not receive training augmentation. Missing or unreadable files raise
    :class:`snas.errors.DataError` naming the data set, the path and the fix.
    """


@hookspec
def snas_register_evaluators() -> list[type]:
    """Return evaluator classes (subclasses of :class:`snas.Evaluator`).

    Instantiated as ``cls(options)``. ``evaluate(arch, family, data, seed=,
    device=, protocol=)`` returns a :class:`snas.TrialResult` whose
    ``score`` is to be maximized. It must be deterministic for a given seed
    on a given device. Failures (exceptions, NaN losses, out of memory) may be
    raised or returned as ``TrialResult.failed(...)``; either way the engine
    records a failed trial and the search goes on.
    """


@hookspec
def snas_register_executors() -> list[type]:
    """Return executor classes (subclasses of :class:`snas.Executor`).

    Instantiated as ``cls(options, num_workers=, devices=)``. ``run(tasks,
    job)`` evaluates every task (``job.evaluate(task)`` does the work in
    whatever process it is called) and yields ``(task, result)`` pairs as
    they finish. ``close()`` releases workers at the end of the run.
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
    missing raises :class:`snas.errors.SnasError` saying how to install it.
    """


@hookspec
def snas_register_commands(cli: Any) -> None:
    """Add commands to the ``snas`` command line.

    ``cli`` is the top-level ``click.Group``; call ``cli.add_command(...)``
    or decorate new functions with ``@cli.command()``. Called once when the
    CLI starts.
    """


# -- observer hooks ---------------------------------------------------------


@hookspec
def snas_run_started(run: Any) -> None:
    """A run started or resumed.

    ``run`` is the :class:`snas.engine.RunState`: its ``config``, ``path``
    (the run file), ``budget``, ``trials`` finished so far (non-empty on
    resume) and ``best``. Do not modify it.
    """


@hookspec
def snas_trial_finished(run: Any, trial: Any) -> None:
    """A trial finished and has been written to the run file.

    ``trial`` is a :class:`snas.Trial` (failed and cached trials included:
    check ``trial.status`` and ``trial.cached_from``).
    """


@hookspec
def snas_generation_finished(run: Any, generation: int, trials: list, progress: dict) -> None:
    """A strategy's batch (a generation, a round) was evaluated and told to it.

    ``generation`` counts batches from 0, ``trials`` are the batch's trials,
    ``progress`` is the strategy's ``progress()`` (diversity, level, …).
    """


@hookspec
def snas_run_finished(run: Any, result: Any) -> None:
    """A run ended, normally or by interruption; the run file is closed.

    ``result`` is the :class:`snas.RunResult`; ``result.status`` is
    ``"finished"``, ``"interrupted"`` or ``"budget_exhausted"``.
    """
