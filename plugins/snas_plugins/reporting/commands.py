"""Plugin adding ``snas plot RUN KIND --out FILE`` and ``snas report RUN --out report.html``.

matplotlib and the figure code are imported when a command runs, so every
other ``snas`` command starts without them.
"""

from __future__ import annotations

from pathlib import Path

import click

from snas import ConfigError, hookimpl

#: the figure kinds, in the order of snas_plugins.reporting.figures.FIGURES (kept here so --help needs no import)
PLOT_KINDS = ("progress", "curves", "pareto", "importance", "space", "confusion", "roc", "architecture")


@click.command("plot")
@click.argument("run", type=click.Path(path_type=Path))
@click.argument("kind", type=click.Choice(PLOT_KINDS))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write: .png, .svg or .pdf (default: KIND.png in the current folder).")
def plot(run: Path, kind: str, out: Path | None) -> None:
    """Draw one figure of the run in RUN (a run.h5 file or its folder).

    KIND: progress (best-so-far and per-generation score), curves (the best
    trial's training curves), pareto (accuracy against parameters and
    FLOPs), importance (parameter importance), space (map of the tried
    architectures, values tried), confusion, roc (the best trial's test
    metrics), architecture (the best architecture as blocks).
    """
    import snas
    from snas_plugins.reporting.figures import draw, output_format, save_figure

    out = out or Path(f"{kind}.png")
    output_format(out)  # a bad file name fails before the run is read
    result = snas.load_run(run)
    path = save_figure(draw(result, kind), out)
    click.echo(f"wrote {path}")


@click.command("report")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=Path("report.html"),
              show_default=True, help="HTML file to write.")
def report(run: Path, out: Path) -> None:
    """Write one self-contained HTML report of the run in RUN (a run.h5 file or its folder).

    The report holds a summary, every figure of `snas plot` (inline images),
    the trial table and the run's configuration; it needs no network or other
    file to be viewed. Figures the run cannot give (no successful trial, no
    recorded metrics, too few trials) are named with the reason.
    """
    import snas
    from snas_plugins.reporting.html import render_report

    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: folder {out.parent} does not exist")
    result = snas.load_run(run)
    page, missing = render_report(result)
    out.write_text(page, encoding="utf-8")
    for kind, reason in missing.items():
        click.echo(f"note: no {kind} figure: {reason}", err=True)
    click.echo(f"wrote {out}")


@hookimpl
def snas_register_commands(cli):
    """Add ``snas plot`` and ``snas report``."""
    cli.add_command(plot)
    cli.add_command(report)
