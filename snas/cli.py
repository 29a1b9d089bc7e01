"""The ``snas`` command line: parses options, calls :mod:`snas.api`, shows progress.

Option names follow S-NAS (``--search-method``, ``--network-type``,
``--population-size``…) so existing scripts carry over.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable

import click

from snas.config import RunConfig, read_toml
from snas.errors import ConfigError, SnasError
from snas.hookspecs import hookimpl

#: CLI flags that become strategy options, and the option name they set
STRATEGY_FLAGS = (
    "population_size",
    "steady_state",
    "generations",
    "mutation_rate",
    "crossover_rate",
    "tournament_size",
    "elite_size",
    "progressive",
    "beam_size",
    "num_expansions",
    "controller_sample_count",
    "controller_entropy_weight",
    "shared_weights_importance",
)
#: CLI flags that become evaluator (training) options
EVALUATOR_FLAGS = ("max_epochs", "batch_size", "patience", "min_delta", "monitor")
#: CLI flags that become data-set options (when the data set has them)
DATASET_FLAGS = ("data_dir", "download", "image_size", "image_column", "label_column", "custom_dataset_name")


class SnasGroup(click.Group):
    """A click group that turns snas errors into one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SnasError as exc:
            raise click.ClickException(str(exc)) from None


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pairs(values: Iterable[str], flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        if "=" not in item:
            raise ConfigError(f"{flag} expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip().replace("-", "_")] = _parse_value(value.strip())
    return out


def _split_names(values: Iterable[str]) -> list[str]:
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


@click.group(cls=SnasGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="snas")
def cli() -> None:
    """snas: neural architecture search for image classification.

    Start with `snas search` (a real search on the embedded digits data set),
    then `snas show snas-runs/<run>/run.h5`. `snas plugins` lists every
    family, strategy, data set, evaluator, executor and exporter installed.
    """


def _search_options(f: Any) -> Any:
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Read options from a TOML file (command-line options win)."),
        click.option("--dataset", help="Data set name (default: digits). See `snas datasets`."),
        click.option("--data-dir", type=click.Path(file_okay=False), help="Folder holding (or receiving) data set files."),
        click.option("--download/--no-download", default=None, help="Download a torchvision data set if missing."),
        click.option("--custom-csv-dataset", type=click.Path(dir_okay=False), help="CSV of image paths and labels (data set 'csv')."),
        click.option("--custom-folder-dataset", type=click.Path(file_okay=False), help="Folder with one subfolder per class (data set 'folder')."),
        click.option("--custom-dataset-name", help="Name of a custom data set in the run file."),
        click.option("--image-size", help="Resize custom images to HxW, e.g. 32x32."),
        click.option("--image-column", help="CSV column holding image paths (default image)."),
        click.option("--label-column", help="CSV column holding labels (default label)."),
        click.option("--search-method", "strategy", help="Search strategy: evolutionary (default), random, …"),
        click.option("--network-type", "network_types", multiple=True, help="Families to search (repeat or comma-separate); default cnn,mlp."),
        click.option("--max-complexity", type=click.IntRange(1, 3), help="Highest complexity level searched (1-3; default: the lowest level offering every --network-type, 1 for cnn,mlp)."),
        click.option("--max-trials", type=click.IntRange(1), help="Budget: number of architectures to train."),
        click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), help="Budget: seconds; no new trial starts after it."),
        click.option("--population-size", type=click.IntRange(2), help="Evolution: population size."),
        click.option("--generations", type=click.IntRange(1), help="Evolution: number of generations."),
        click.option("--mutation-rate", type=click.FloatRange(0, 1), help="Evolution: mutation probability per parameter."),
        click.option("--crossover-rate", type=click.FloatRange(0, 1), help="Evolution: probability a child comes from crossover."),
        click.option("--tournament-size", type=click.IntRange(1), help="Evolution: tournament size."),
        click.option("--elite-size", type=click.IntRange(0), help="Evolution: best individuals kept each generation."),
        click.option("--steady-state", is_flag=True, default=None, help="Evolution: propose each child as soon as a worker is free; it replaces the worst member (keeps every worker busy)."),
        click.option("--progressive/--no-progressive", default=None, help="Evolution: raise the complexity level 1 -> --max-complexity over the generations (default on)."),
        click.option("--beam-size", type=click.IntRange(1), help="PNAS: best architectures expanded each round."),
        click.option("--num-expansions", type=click.IntRange(1), help="PNAS: neighbours generated per beam member."),
        click.option("--controller-sample-count", type=click.IntRange(1), help="ENAS: architectures sampled and ranked by shared weights."),
        click.option("--controller-entropy-weight", type=click.FloatRange(0), help="ENAS: entropy bonus of the controller's REINFORCE loss."),
        click.option("--shared-weights-importance", type=click.FloatRange(0, 1), help="PNAS+ENAS: weight w of shared-weight accuracy in the ranking score."),
        click.option("--max-epochs", type=click.IntRange(1), help="Training: most epochs per trial."),
        click.option("--batch-size", type=click.IntRange(1), help="Training: batch size."),
        click.option("--patience", type=click.IntRange(0), help="Training: epochs without improvement before stopping."),
        click.option("--min-delta", type=click.FloatRange(0), help="Training: smallest change that counts as improvement."),
        click.option("--monitor", type=click.Choice(["val_acc", "val_loss"]), help="Training: metric early stopping watches."),
        click.option("--evaluator", help="Evaluator plugin (default: train)."),
        click.option("--pruner", help="Stop trials that are behind: median or asha (successive halving), or a plugin's pruner."),
        click.option("-P", "--pruner-option", "pruner_pairs", multiple=True, metavar="KEY=VALUE", help="Any option of the pruner."),
        click.option("--prescreen", help="Zero-cost proxy (zen, naswot, synflow) that screens each batch; only the best fraction is trained."),
        click.option("--prescreen-keep", type=click.FloatRange(0, 1, min_open=True), help="Fraction of each batch the proxy keeps for training (default 0.25)."),
        click.option("--executor", help="Executor plugin (default: auto = inline, or process with --num-workers > 1)."),
        click.option("--num-workers", type=click.IntRange(1), help="Parallel evaluations (executor workers)."),
        click.option("--device", help="auto (default), cpu or cuda:N."),
        click.option("--gpu-ids", help="Comma-separated CUDA device ids to spread trials over."),
        click.option("--seed", type=int, help="Random seed (default 0)."),
        click.option("--output-dir", type=click.Path(file_okay=False), help="Folder for run folders (default ./snas-runs)."),
        click.option("--run-name", help="Name of this run's folder (default <dataset>-<method>-<time>)."),
        click.option("--checkpoint-frequency", type=click.IntRange(1), help="Fold the run's journal into a new run.h5 every N trials (default: every 10 minutes; every finished trial is on disk at once either way)."),
        click.option("--max-in-flight", type=click.IntRange(1), help="Trials that may run at once (default: the number of workers); with the seed, it alone decides which trials a run proposes."),
        click.option("--threads-per-trial", type=click.IntRange(1), help="torch threads per trial (default: the CPU's cores shared among the workers)."),
        click.option("--objective", "objectives", multiple=True, help="An objective NAME:max or NAME:min (repeat; the first is primary), e.g. val_accuracy:max params:min."),
        click.option("--resume-from", type=click.Path(exists=True), help="Resume this run file instead of starting a new run."),
        click.option("-S", "--strategy-option", "strategy_pairs", multiple=True, metavar="KEY=VALUE", help="Any option of the search method."),
        click.option("-E", "--evaluator-option", "evaluator_pairs", multiple=True, metavar="KEY=VALUE", help="Any option of the evaluator."),
        click.option("-D", "--dataset-option", "dataset_pairs", multiple=True, metavar="KEY=VALUE", help="Any option of the data set."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of the summary."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
        click.option("--export", "export_formats", multiple=True, help="After the search, export the best model (onnx, torchscript, pt2, quantized, mobile, python, all) into <run folder>/export."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def build_config(params: dict[str, Any]) -> RunConfig:
    """Merge a TOML file (if any) and command-line options into a RunConfig."""
    from snas.plugins import get_plugin_manager

    base: dict[str, Any] = {}
    if params.get("config_file"):
        raw = read_toml(params["config_file"])
        base = {k.replace("-", "_"): v for k, v in raw.items()}
        if "search_method" in base:
            base["strategy"] = base.pop("search_method")
        if "network_type" in base:
            base["network_types"] = base.pop("network_type")
        if isinstance(base.get("network_types"), str):
            base["network_types"] = _split_names([base["network_types"]])
    cfg = RunConfig.from_dict(base, where=f"config file {params.get('config_file')}" if base else "options")
    simple = ("dataset", "strategy", "max_complexity", "max_trials", "time_budget", "evaluator", "executor",
              "num_workers", "device", "seed", "output_dir", "run_name", "checkpoint_frequency", "prescreen",
              "prescreen_keep", "max_in_flight", "threads_per_trial", "pruner")
    flags = {key: params[key] for key in simple if params.get(key) is not None}
    if flags:  # validated with the file's settings: one clear message for a bad value
        cfg = RunConfig.from_dict({**cfg.to_dict(), **flags}, where="options")
    if params.get("network_types"):
        cfg.network_types = _split_names(params["network_types"])
    if params.get("objectives"):
        cfg.objectives = list(params["objectives"])
    if params.get("gpu_ids"):
        try:
            cfg.gpu_ids = [int(i) for i in _split_names([params["gpu_ids"]])]
        except ValueError:
            raise ConfigError(f"--gpu-ids expects comma-separated integers, got {params['gpu_ids']!r}") from None
    if params.get("custom_csv_dataset") and params.get("custom_folder_dataset"):
        raise ConfigError("give either --custom-csv-dataset or --custom-folder-dataset, not both")
    if params.get("custom_csv_dataset"):
        cfg.dataset = "csv"
        cfg.dataset_options["path"] = params["custom_csv_dataset"]
    if params.get("custom_folder_dataset"):
        cfg.dataset = "folder"
        cfg.dataset_options["path"] = params["custom_folder_dataset"]
    manager = get_plugin_manager()
    _apply_flags(params, STRATEGY_FLAGS, manager.get_strategy(cfg.strategy), cfg.strategy_options,
                 f"search method {cfg.strategy!r}")
    _apply_flags(params, EVALUATOR_FLAGS, manager.get_evaluator(cfg.evaluator), cfg.evaluator_options,
                 f"evaluator {cfg.evaluator!r}")
    _apply_flags(params, DATASET_FLAGS, manager.get_dataset(cfg.dataset), cfg.dataset_options,
                 f"data set {cfg.dataset!r}")
    cfg.strategy_options.update(_pairs(params.get("strategy_pairs", ()), "--strategy-option"))
    cfg.evaluator_options.update(_pairs(params.get("evaluator_pairs", ()), "--evaluator-option"))
    cfg.dataset_options.update(_pairs(params.get("dataset_pairs", ()), "--dataset-option"))
    cfg.pruner_options.update(_pairs(params.get("pruner_pairs", ()), "--pruner-option"))
    return RunConfig.from_dict(cfg.to_dict(), where="options")


def _apply_flags(params: dict[str, Any], flags: Iterable[str], component: type, target: dict[str, Any],
                 what: str) -> None:
    """Copy the given flags into ``target`` when ``component``'s options have them; warn otherwise."""
    import attrs

    known = {a.name for a in attrs.fields(component.Options)}
    for key in flags:
        if params.get(key) is None:
            continue
        if key not in known:
            click.echo(f"warning: --{key.replace('_', '-')} does not apply to {what}; ignored", err=True)
            continue
        target[key] = params[key]


@cli.command()
@_search_options
def search(**params: Any) -> None:
    """Search for the best architecture for a data set.

    With no options: an evolutionary search over small CNNs and MLPs on the
    embedded digits data set, which takes a couple of minutes on a laptop CPU.
    """
    from snas import api
    from snas.cli_export import export_after_search
    from snas.export import resolve_formats

    if params.get("resume_from"):
        result = api.resume(params["resume_from"], observers=_observers(params))
    else:
        cfg = build_config(params)
        cfg.export_formats = _split_names(params.get("export_formats") or ()) or cfg.export_formats
        if cfg.export_formats:  # a misspelt format fails before the search, not after it
            resolve_formats(cfg.export_formats)
        path = api.run_path(cfg)
        result = api.run_search_with_config(cfg, path, observers=_observers(params))
    _report(result, params.get("as_json", False))
    export_after_search(result, _split_names(params.get("export_formats") or ()), params.get("as_json", False))


@cli.command()
@click.argument("run_file", type=click.Path())
@click.option("--max-trials", type=click.IntRange(1), help="New trial budget for the resumed run.")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), help="New time budget (seconds, whole run).")
@click.option("--allow-changed-data", is_flag=True, help="Continue even if the data set's contents changed since "
              "the run started (trials from before and after are then ranked together).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def resume(run_file: str, max_trials: int | None, time_budget: float | None, allow_changed_data: bool,
           as_json: bool, quiet: bool) -> None:
    """Continue an interrupted run from its run file."""
    from snas import api

    result = api.resume(run_file, observers=_observers({"quiet": quiet or as_json}),
                        max_trials=max_trials, time_budget=time_budget, allow_changed_data=allow_changed_data)
    _report(result, as_json)


_HEADER = (f"{'trial':>5}  {'family':<12} {'fingerprint':<16}  {'status':<10} {'val acc':>8} {'test acc':>8} "
           f"{'params':>10} {'secs':>7}")


def _row(t: Any) -> str:
    status = t.status if t.cached_from is None else f"cached({t.cached_from})"
    params = t.metrics.get("params")
    return (f"{t.trial_id:>5}  {t.arch.family:<12} {t.fingerprint:<16}  {status:<10} {_fmt(t.score):>8} "
            f"{_fmt(t.metrics.get('test_accuracy')):>8} {params if params is not None else '':>10} "
            f"{round(t.duration, 2):>7}")


@cli.command()
@click.argument("run_file", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print configuration, every trial, the best trial and the "
              "Pareto front as JSON.")
@click.option("--follow", "-f", is_flag=True, help="Print trials as they finish until the run ends (like tail -f).")
def show(run_file: str, as_json: bool, follow: bool) -> None:
    """Show a run: its trials and its best architecture (also while it is running)."""
    from snas import api

    if follow:
        _follow(run_file)
        return
    result = api.load_run(run_file)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    click.echo(f"run {result.path} ({result.status}), {len(result.trials)} trials")
    click.echo(_HEADER)
    for t in result.trials:
        click.echo(_row(t))
    for p in result.pending:
        click.echo(f"{p.trial_id:>5}  {p.arch.family:<12} {p.arch.fingerprint:<16}  "
                   f"{'running' if result.status == 'running' else 'not run':<10}")
    click.echo("")
    _summary(result)


def _follow(run_file: str) -> None:
    from snas import api
    from snas.follow import follow

    click.echo(_HEADER)
    status = None
    for event in follow(run_file):
        if event.kind == "trial":
            click.echo(_row(event.trial))
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
    from snas.plugins import get_plugin_manager, iter_components

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
    from snas.plugins import get_plugin_manager

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
    from snas.config import make_options
    from snas.plugins import get_plugin_manager

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

    def _note(self, run: Any) -> str:
        best = f"best {_fmt(run.best.score)}" if run.best else "best -"
        return f"{best}  {len(run.in_flight)} running"

    @hookimpl
    def snas_run_started(self, run: Any) -> None:
        self.progress.start()
        self.task = self.progress.add_task("search", total=run.max_trials, completed=run.trained,
                                           note=self._note(run))

    @hookimpl
    def snas_trial_started(self, run: Any, trial: Any) -> None:
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


def _summary(result: Any) -> None:
    from snas.plugins import get_plugin_manager

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
            from snas.space import describe_architecture

            lines = describe_architecture(best.arch)
        click.echo(f"best architecture (trial {best.trial_id}, {best.fingerprint}):")
        for line in lines:
            click.echo(f"  {line}")
        m = best.metrics
        click.echo(f"validation accuracy: {_fmt(m.get('val_accuracy', best.score))}")
        click.echo(f"test accuracy:       {_fmt(m.get('test_accuracy'))}")
        if m.get("params") is not None:
            click.echo(f"parameters:          {m['params']:,}")
    click.echo(f"run file:            {result.path}")
    arch_file = Path(result.path).parent / "best_architecture.json"
    if arch_file.exists():
        click.echo(f"best architecture:   {arch_file}")


def _report(result: Any, as_json: bool) -> None:
    """Print the result; exit 130/143 when a signal stopped it, 1 when every trial failed."""
    import signal

    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _summary(result)
    if result.status == "interrupted":
        click.echo(f"interrupted: continue with `snas resume {result.path}`", err=True)
        if result.stopped_by is not None:
            sys.exit(128 + int(result.stopped_by))
    elif result.trials and not any(t.ok for t in result.trials):
        click.echo(f"error: every trial failed (first error: {result.trials[0].error}); see `snas show "
                   f"{result.path}`", err=True)
        sys.exit(1)


# Commands that live in their own modules are added here, one line each.
cli.add_command(__import__("snas.cli_export", fromlist=["export_command"]).export_command)
cli.add_command(__import__("snas.cli_evaluate", fromlist=["evaluate"]).evaluate)


class _Terminated(KeyboardInterrupt):
    """SIGTERM arrived while no search was running."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``snas`` command: lets plugins add commands, then runs."""
    from snas.plugins import get_plugin_manager

    import signal

    def terminated(_signum: int, _frame: Any) -> None:
        raise _Terminated

    signal.signal(signal.SIGTERM, terminated)  # before the engine installs its own: end quietly, as shells expect
    try:
        get_plugin_manager().hook.snas_register_commands(cli=cli)
        cli.main(args=argv, prog_name="snas", standalone_mode=False)
    except SnasError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt as exc:
        click.echo("interrupted", err=True)
        sys.exit(143 if isinstance(exc, _Terminated) else 130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
