"""Plugins that add commands to the ``snas`` command line (``snas benchmark …``)."""

from snas import hookimpl


@hookimpl
def snas_register_commands(cli):
    """Add ``snas benchmark`` (NAS-Bench-201 strategy comparisons)."""
    from snas_plugins.commands.benchmark import benchmark

    cli.add_command(benchmark)
