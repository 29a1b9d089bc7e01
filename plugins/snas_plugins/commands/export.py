"""``snas export``, and ``snas search --export``: write the trained model of a run in deployable formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import click

from snas import ConfigError, hookimpl


def _pairs(values: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``FORMAT.KEY=VALUE`` items as ``{format: {key: value}}``."""
    out: dict[str, dict[str, Any]] = {}
    for item in values:
        key, sep, value = item.partition("=")
        fmt, dot, option = key.partition(".")
        if not sep or not dot or not fmt.strip() or not option.strip():
            raise ConfigError(f"-O/--exporter-option expects FORMAT.KEY=VALUE, got {item!r}")
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        out.setdefault(fmt.strip(), {})[option.strip().replace("-", "_")] = parsed
    return out


def echo_report(report: Any, err: bool = False) -> None:
    """One line per format: where it went and how it was verified, or why it failed."""
    note = " (retrained: only the best trial's weights are stored)" if report.retrained else ""
    click.echo(f"exported trial {report.trial_id} of {report.run}{note} to {report.out_dir}", err=err)
    for fmt in report.formats:
        if fmt.ok:
            figures = {k: v for k, v in fmt.verification.items() if isinstance(v, (int, float, bool))}
            text = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
            click.echo(f"  {fmt.format:<12} ok      {fmt.folder}  {text}", err=err)
        else:
            click.echo(f"  {fmt.format:<12} failed  {fmt.error}", err=err)


@click.command("export")
@click.argument("run_file", type=click.Path())
@click.option("--format", "-f", "formats", multiple=True, required=True,
              help="onnx, torchscript, pt2, quantized, mobile, python, or all (repeat or comma-separate).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder; one subfolder per format (default: <run folder>/export).")
@click.option("--trial", "trial_id", type=int, default=None,
              help="Export this trial instead of the best (retrained: only the best trial's weights are stored).")
@click.option("-O", "--exporter-option", "option_pairs", multiple=True, metavar="FORMAT.KEY=VALUE",
              help="An exporter option, e.g. -O quantized.calibration_images=256.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def export_command(run_file: str, formats: tuple[str, ...], out_dir: str | None, trial_id: int | None,
                   option_pairs: tuple[str, ...], as_json: bool) -> None:
    """Export the trained best model of RUN_FILE (or --trial ID), verified, with README and example."""
    from snas_plugins.exporters.run_export import export_run

    out = Path(out_dir) if out_dir else Path(run_file).parent / "export" if Path(run_file).suffix else \
        Path(run_file) / "export"
    report = export_run(run_file, list(formats), out, trial_id, options=_pairs(option_pairs))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        echo_report(report)
    wanted_all = any(n.strip() == "all" for f in formats for n in f.split(","))
    failed = [f.format for f in report.formats if not f.ok]
    if failed and (not wanted_all or len(failed) == len(report.formats)):
        raise click.ClickException(f"export failed for: {', '.join(failed)}")


@hookimpl
def snas_register_commands(cli: Any) -> None:
    cli.add_command(export_command)


@hookimpl
def snas_run_finished(run: Any, result: Any) -> None:
    """A run whose ``export_formats`` name formats (``--export``, a TOML file, the API) exports its best model.

    Into ``<run folder>/export``; the report goes to standard error.
    """
    formats = list(result.config.get("export_formats") or [])
    if formats:
        export_after_search(result, formats)


def export_after_search(result: Any, formats: list[str]) -> None:
    """Export the run's best model into ``<run folder>/export`` and say how it went."""
    from snas_plugins.exporters.run_export import export_run

    if result.status == "interrupted":
        click.echo("the search was interrupted, so nothing was exported", err=True)
        return
    if result.best is None:
        click.echo("no trial succeeded, so nothing was exported", err=True)
        return
    report = export_run(result.path, formats, Path(result.path).parent / "export")
    echo_report(report, err=True)
    failed = [f.format for f in report.formats if not f.ok]
    if failed:
        click.echo(f"export failed for: {', '.join(failed)} (reasons above)", err=True)
