"""``snas export``: write the trained model of a run in deployable formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import click

from snas.errors import ConfigError


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


def echo_report(report: Any) -> None:
    """One line per format: where it went and how it was verified, or why it failed."""
    note = " (retrained: only the best trial's weights are stored)" if report.retrained else ""
    click.echo(f"exported trial {report.trial_id} of {report.run}{note} to {report.out_dir}")
    for fmt in report.formats:
        if fmt.ok:
            figures = {k: v for k, v in fmt.verification.items() if isinstance(v, (int, float, bool))}
            text = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
            click.echo(f"  {fmt.format:<12} ok      {fmt.folder}  {text}")
        else:
            click.echo(f"  {fmt.format:<12} failed  {fmt.error}")


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
    from snas.export import export_run

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


def export_after_search(result: Any, formats: list[str], as_json: bool) -> None:
    """``snas search --export``: export the run's best model into ``<run folder>/export``.

    ``formats`` are the ``--export`` values; without them, the run
    configuration's ``export_formats`` (set by a TOML file or an earlier
    ``--export``) apply. Nothing happens when neither names a format.
    """
    from snas.export import export_run

    formats = formats or list(result.config.get("export_formats") or [])
    if not formats:
        return
    if result.status == "interrupted":
        click.echo("the search was interrupted, so nothing was exported", err=True)
        return
    if result.best is None:
        click.echo("no trial succeeded, so nothing was exported", err=True)
        return
    report = export_run(result.path, formats, Path(result.path).parent / "export")
    if as_json:
        click.echo(f"export report: {Path(report.out_dir) / 'export_report.json'}", err=True)
    else:
        echo_report(report)
    failed = [f.format for f in report.formats if not f.ok]
    if failed and not as_json:
        click.echo(f"export failed for: {', '.join(failed)} (reasons above)", err=True)
