"""The ``snas`` command line: parses flags into a run plan, calls the API, shows progress.

Flags come from the settings' declarations (:mod:`snas.frontends.flags`):
the run's own and those of the components a command line chooses, with
S-NAS's names (``--search-method``, ``--network-type``,
``--population-size``…) so existing scripts carry over.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from snas.contracts.errors import SnasError
from snas.contracts.hookspecs import hookimpl
from snas.frontends.flags import SettingsCommand, pair_options


class SnasGroup(click.Group):
    """A click group that turns snas errors into one line and exit status 1.

    Plugins' commands (``snas_register_commands``) join the group the first
    time it is asked for a command, so ``cli`` used anywhere (``main``, a test's
    ``CliRunner``, the docs) has them.
    """

    _plugin_commands_loaded = False

    def _load_plugin_commands(self) -> None:
        if not self._plugin_commands_loaded:
            self._plugin_commands_loaded = True
            from snas.runtime.plugins import get_plugin_manager

            get_plugin_manager().hook.snas_register_commands(cli=self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load_plugin_commands()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SnasError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=SnasGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="snas")
def cli() -> None:
    """snas: neural architecture search for image classification.

    Start with `snas search` (a real search on the embedded digits data set),
    then `snas show snas-runs/<run>/run.h5`. `snas plugins` lists every
    family, strategy, data set, evaluator, executor, exporter and pruner installed.
    """


def _with(options: list[click.Option]) -> Any:
    def decorate(f: Any) -> Any:
        for option in reversed(options):
            click.decorators._param_memo(f, option)
        return f

    return decorate


@cli.command(cls=SettingsCommand)
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Read settings from a TOML file (flags win over it).")
@click.option("--resume-from", type=click.Path(exists=True), help="Resume this run instead of starting a new one.")
@_with(pair_options(("strategy", "evaluator", "dataset", "executor", "pruner")))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of the summary.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def search(**params: Any) -> None:
    """Search for the best architecture for a data set.

    With no options: an evolutionary search over small CNNs and MLPs on the
    embedded digits data set, which takes about a minute on a laptop CPU.
    """
    from snas.frontends import api
    from snas.runtime.planning import plan_run

    if params.get("resume_from"):
        result = api.resume(params["resume_from"], observers=_observers(params))
    else:
        command = click.get_current_context().command
        plan = plan_run(command.settings(params))
        result = api.start(plan, observers=_observers(params))
    _report(result, params.get("as_json", False))


def plan_from_args(args: list[str]) -> Any:
    """The :class:`~snas.runtime.config.RunPlan` that ``snas search ARGS`` would run (for scripts and tests)."""
    from snas.runtime.planning import plan_run

    ctx = search.make_context("search", list(args))
    return plan_run(search.settings(ctx.params))


@cli.command()
@click.argument("run_file", type=click.Path())
@click.option("--max-trials", type=click.IntRange(1), help="New trial budget for the resumed run.")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), help="New time budget (seconds, whole run).")
@click.option("--allow-changed-data", is_flag=True, help="Continue even if the data set's contents changed since "
              "the run started (trials from before and after are then ranked together).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def resume(run_file: str, max_trials: int | None, time_budget: float | None, allow_changed_data: bool,
           as_json: bool, quiet: bool) -> None:
    """Continue an interrupted run from its run file."""
    from snas.frontends import api

    result = api.resume(run_file, observers=_observers({"quiet": quiet or as_json}),
                        max_trials=max_trials, time_budget=time_budget, allow_changed_data=allow_changed_data)
    _report(result, as_json)


@cli.command(cls=SettingsCommand, kinds=("evaluator", "dataset"), run_settings=False)
@click.argument("arch_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dataset", help="Data set to train and test on (default: the default data set).")
@click.option("--evaluator", help="How the architecture is scored (default: the default evaluator).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda:N.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Training and data-split seed.")
@_with(pair_options(("evaluator", "dataset")))
@click.option("--json", "as_json", is_flag=True, help="Print every metric as JSON.")
def evaluate(arch_file: str, dataset: str | None, evaluator: str | None, device: str, seed: int, as_json: bool,
             **params: Any) -> None:
    """Train the architecture in ARCH_FILE once with the full protocol and report every metric.

    ARCH_FILE is the JSON `snas search` writes as best_architecture.json.
    """
    from snas.frontends.evaluation import evaluate_architecture

    command = click.get_current_context().command
    settings = command.settings(params)
    names = command.chosen_names
    result = evaluate_architecture(
        arch_file, settings.get("dataset") or dataset or names["dataset"],
        dataset_options=settings.get("dataset_options"), evaluator=evaluator or names["evaluator"],
        evaluator_options=settings.get("evaluator_options"), seed=seed, device=device,
    )
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
    else:
        _print_evaluation(result)
    if result["status"] != "ok":
        raise SystemExit(1)


def _print_evaluation(result: dict[str, Any]) -> None:
    arch = result["architecture"]
    click.echo(f"{arch['family']} on {result['dataset']} ({result['device']}, seed {result['seed']}): {result['status']}")
    if result["status"] != "ok":
        click.echo(f"error: {result['error']}")
        return
    skip = {"status", "error", "architecture", "dataset", "seed", "device", "curves", "duration"}
    for key, value in sorted(result.items()):
        if key in skip or isinstance(value, (dict, str)) or value is None:
            continue
        if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
            click.echo(f"  {key}:")
            width = max(len(str(v)) for row in value for v in row)
            for row in value:
                click.echo("    " + " ".join(f"{v:>{width}}" for v in row))
        elif isinstance(value, (int, float)):
            click.echo(f"  {key:<30} {value:.4f}" if isinstance(value, float) else f"  {key:<30} {value}")


def _header(columns: list[tuple[str, str]]) -> str:
    return (f"{'trial':>5}  {'family':<12} {'fingerprint':<16}  {'status':<10} "
            + " ".join(f"{label:>{max(10, len(label))}}" for _, label in columns) + f" {'secs':>7}")


def _row(t: Any, columns: list[tuple[str, str]]) -> str:
    status = t.status if t.cached_from is None else f"cached({t.cached_from})"
    cells = []
    for metric, label in columns:
        value = t.score if metric == "score" else t.metrics.get(metric)
        width = max(10, len(label))
        cells.append(f"{value:>{width}}" if isinstance(value, int) else f"{_fmt(value):>{width}}")
    return (f"{t.trial_id:>5}  {t.arch.family:<12} {t.fingerprint:<16}  {status:<10} " + " ".join(cells)
            + f" {round(t.duration, 2):>7}")


@cli.command()
@click.argument("run_file", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print configuration, every trial, the best trial and the "
              "Pareto front as JSON.")
@click.option("--follow", "-f", is_flag=True, help="Print trials as they finish until the run ends (like tail -f).")
def show(run_file: str, as_json: bool, follow: bool) -> None:
    """Show a run: its trials and its best architecture (also while it is running)."""
    from snas.frontends import api

    if follow:
        _follow(run_file)
        return
    result = api.load_run(run_file)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    click.echo(f"run {result.path} ({result.status}), {len(result.trials)} trials")
    columns = _columns(result)
    click.echo(_header(columns))
    for t in result.trials:
        click.echo(_row(t, columns))
    for p in result.pending:
        click.echo(f"{p.trial_id:>5}  {p.arch.family:<12} {p.arch.fingerprint:<16}  "
                   f"{'running' if result.status == 'running' else 'not run':<10}")
    click.echo("")
    _summary(result)


def _follow(run_file: str) -> None:
    from snas.frontends import api
    from snas.runtime.follow import follow

    columns = _columns(api.load_run(run_file))
    click.echo(_header(columns))
    status = None
    for event in follow(run_file):
        if event.kind == "trial":
            click.echo(_row(event.trial, columns))
        elif event.kind == "generation":
            progress = event.generation["progress"]
            best = progress.get("best")
            click.echo(f"-- generation {event.generation['generation']} done"
                       + (f", best {_fmt(best)}" if best is not None else ""))
        elif event.kind == "status":
            status = event.status
    click.echo("")
    _summary(api.load_run(run_file))
    if status == "running":
        click.echo("the run is not being written any more: its process ended without a final status "
                   f"(killed?); continue it with `snas resume {run_file}`", err=True)


@cli.command()
def plugins() -> None:
    """List every registered plugin component by kind, with its distribution."""
    from snas.runtime.plugins import get_plugin_manager, iter_components

    manager = get_plugin_manager()
    kind = None
    for info in iter_components(manager):
        if info.kind != kind:
            kind = info.kind
            click.echo(f"{kind}:")
        click.echo(f"  {info.name:<16} {info.distribution} {info.version:<8} {info.description}")
    for failure in manager.failures:
        click.echo(f"failed: {failure}", err=True)


@cli.command()
@click.argument("family", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the space as JSON.")
def space(family: str | None, as_json: bool) -> None:
    """Show a family's parameters, their ranges, and its complexity levels (all families without FAMILY)."""
    from snas.runtime.plugins import get_plugin_manager

    manager = get_plugin_manager()
    names = [family] if family else sorted(manager.components("family"))
    out = {}
    for name in names:
        full = manager.get_family(name).space()
        out[name] = {"min_level": full.min_level, "parameters": full.describe(), "levels": full.describe_levels()}
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    for name, info in out.items():
        click.echo(f"{name} (from level {info['min_level']}):")
        for row in info["parameters"]:
            click.echo(f"  {row['name']:<20} {row['values']:<40} {row['doc']}")
        for level, values in info["levels"].items():
            full_values = {r["name"]: r["values"] for r in info["parameters"]}
            changed = {k: v for k, v in values.items() if v != full_values[k]}
            text = ", ".join(f"{k} {v}" for k, v in changed.items()) or "the full space"
            click.echo(f"  level {level}: {text}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def datasets(as_json: bool) -> None:
    """List every data set: input shape, classes, and whether its files are here."""
    from snas.runtime.config import make_options
    from snas.runtime.plugins import get_plugin_manager

    manager = get_plugin_manager()
    rows = []
    for name, info in sorted(manager.components("dataset").items()):
        try:
            instance = info.cls(make_options(info.cls.Options, {}, f"data set {name!r}"))
            summary = instance.summary()
        except SnasError as exc:  # a data set that needs options (a CSV path, say)
            summary = {"input_shape": None, "num_classes": None, "available": None, "note": str(exc)}
        rows.append({"name": name, "description": info.description, **summary})
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        shape = "x".join(map(str, row["input_shape"])) if row.get("input_shape") else "-"
        available = {True: "present", False: "missing", None: "needs options"}[row.get("available")]
        click.echo(f"  {row['name']:<16} {shape:<10} {str(row.get('num_classes') or '-'):>7} classes  "
                   f"{available:<13} {row['description']}")


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


# -- progress and summary ------------------------------------------------------


class ProgressObserver:
    """The two progress bars: the whole search (trials or seconds of the budget), and each trial in flight."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            transient=False,
        )
        self.task = None
        self.trials: dict[int, Any] = {}
        self.retraining = False

    def _note(self, run: Any) -> str:
        best = f"best {_fmt(run.best.score)}" if run.best else "best -"
        budget = f"  {run.elapsed():.0f}/{run.time_budget:.0f} s" if run.time_budget else ""
        return f"{best}  {len(run.in_flight)} running{budget}"

    @hookimpl
    def snas_run_started(self, run: Any) -> None:
        self.progress.start()
        self.task = self.progress.add_task("search", total=run.max_trials, completed=run.trained,
                                           note=self._note(run))

    @hookimpl
    def snas_trial_started(self, run: Any, trial: Any) -> None:
        if trial.meta.get("final"):
            if "extends" in trial.meta:
                self.progress.console.print(
                    f"final training: trial {trial.meta['extends']}'s {trial.arch.family} again from scratch, "
                    f"{trial.meta['epochs']} epochs with the learning rate annealed, in the time kept for it")
            elif not self.retraining:
                self.retraining = True
                self.progress.console.print("final retraining of the fast-protocol winners with the full protocol "
                                            "(outside the trial and time budget)")
        self.trials[trial.trial_id] = self.progress.add_task(
            f"  trial {trial.trial_id} {trial.arch.family}", total=None, note="starting")
        self.progress.update(self.task, note=self._note(run))

    @hookimpl
    def snas_trial_progress(self, run: Any, progress: Any) -> None:
        task = self.trials.get(progress.trial_id)
        if task is None:
            return
        figures = "  ".join(f"{k} {_fmt(v)}" for k, v in list(progress.metrics.items())[:2])
        self.progress.update(task, total=progress.total, completed=progress.step or 0,
                             note=f"{progress.phase}  {figures}".rstrip())

    @hookimpl
    def snas_trial_finished(self, run: Any, trial: Any) -> None:
        task = self.trials.pop(trial.trial_id, None)
        if task is not None:
            self.progress.remove_task(task)
        if trial.status == "failed":
            self.progress.console.print(f"trial {trial.trial_id} failed: {(trial.error or '').splitlines()[0][:120]}")
        self.progress.update(self.task, completed=run.trained, note=self._note(run))

    @hookimpl
    def snas_generation_finished(self, run: Any, generation: int, trials: list, progress: dict) -> None:
        extra = ", ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in progress.items()
                          if k != "best" and not isinstance(v, (dict, list)))
        self.progress.console.print(f"generation {generation}: {extra}")

    @hookimpl
    def snas_run_finished(self, run: Any, result: Any) -> None:
        for task in self.trials.values():
            self.progress.remove_task(task)
        self.progress.stop()


def _observers(params: dict[str, Any]) -> list[Any]:
    if params.get("quiet") or params.get("as_json"):
        return []
    return [ProgressObserver()]


def _columns(result: Any) -> list[tuple[str, str]]:
    """``(metric, label)`` of the columns a run's table shows: its evaluator's summary metrics, else the score."""
    return result.summary_metrics() or [("score", "score")]


def _summary(result: Any) -> None:
    from snas.runtime.plugins import get_plugin_manager

    best = result.best
    ok = len(result.completed)
    failed = sum(1 for t in result.trials if t.status == "failed")
    click.echo(f"{len(result.trials)} trials ({ok} ok, {failed} failed), status: {result.status}")
    if best is None:
        click.echo("no trial succeeded, so there is no best architecture")
    else:
        try:
            lines = get_plugin_manager().get_family(best.arch.family).describe(best.arch)
        except SnasError:
            from snas.contracts.space import describe_architecture

            lines = describe_architecture(best.arch)
        click.echo(f"best architecture (trial {best.trial_id}, {best.fingerprint}):")
        for line in lines:
            click.echo(f"  {line}")
        for metric, label in _columns(result):
            value = best.score if metric == "score" else best.metrics.get(metric)
            if value is not None:
                text = f"{value:,}" if isinstance(value, int) else _fmt(value)
                click.echo(f"{label + ':':<21}{text}")
    _front(result)
    click.echo(f"{'run file:':<21}{result.path}")
    arch_file = Path(result.path).parent / "best_architecture.json"
    if arch_file.exists():
        click.echo(f"{'best architecture:':<21}{arch_file}")


def _front(result: Any) -> None:
    """The Pareto front of a run with several objectives or constraints: each member's objective values."""
    from snas.runtime.objectives import violation

    if len(result.objectives) < 2 and not result.constraints:
        return
    names = [o.name for o in result.objectives] + [c.name for c in result.constraints
                                                   if c.name not in {o.name for o in result.objectives}]
    bounds = f"; constraints {', '.join(map(str, result.constraints))}" if result.constraints else ""
    click.echo(f"Pareto front ({', '.join(map(str, result.objectives))}{bounds}): {len(result.front)} trials")
    if not result.front:
        return
    widths = [max(12, len(n)) for n in names]
    click.echo(f"  {'trial':>5}  {'fingerprint':<16} " + " ".join(f"{n:>{w}}" for n, w in zip(names, widths))
               + ("  feasible" if result.constraints else ""))
    for t in result.front:
        cells = []
        for name, width in zip(names, widths):
            value = t.score if name == "score" else t.metrics.get(name)
            cells.append(f"{value:>{width},}" if isinstance(value, int) and not isinstance(value, bool)
                         else f"{_fmt(value):>{width}}")
        feasible = ("  yes" if violation(t, result.constraints) == 0 else "  no") if result.constraints else ""
        click.echo(f"  {t.trial_id:>5}  {t.fingerprint:<16} " + " ".join(cells) + feasible)
    if result.constraints and all(violation(t, result.constraints) > 0 for t in result.front):
        click.echo("  no trial meets every constraint: the front holds the trials closest to meeting them")


def _report(result: Any, as_json: bool) -> None:
    """Print the result; exit 130/143 when a signal stopped it, 1 when every trial failed."""
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _summary(result)
    if result.status == "interrupted":
        click.echo(f"interrupted: continue with `snas resume {result.path}`", err=True)
        if result.stopped_by is not None:
            sys.exit(128 + int(result.stopped_by))
    elif result.trials and not any(t.ok for t in result.trials):
        failed = [t for t in result.trials if t.status == "failed"]
        if len(failed) == len(result.trials):
            click.echo(f"error: every trial failed (first error: {failed[0].error}); see `snas show "
                       f"{result.path}`", err=True)
        else:
            click.echo(f"error: no trial finished ({', '.join(sorted({t.status for t in result.trials}))}): give "
                       "the search more time (--time-budget) or a shorter training protocol", err=True)
        sys.exit(1)


def _exit_at_once(signum: int, _frame: Any) -> None:
    # Outside a search there is nothing to save, and a KeyboardInterrupt raised
    # inside a half-done import of torch can abort the interpreter at exit.
    import os
    import signal

    try:
        sys.stdout.flush()
    except (OSError, ValueError, RuntimeError):
        pass
    os.write(2, b"interrupted\n")
    os._exit(143 if signum == signal.SIGTERM else 130)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``snas`` command.

    A signal outside a search ends the process at once with 130 (SIGINT) or
    143 (SIGTERM); during a search the engine stops it cleanly instead.
    """
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_at_once)
    try:
        cli.main(args=argv, prog_name="snas", standalone_mode=False)
    except SnasError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
