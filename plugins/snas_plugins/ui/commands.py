"""Plugin adding ``snas ui``: the web UI (Streamlit; ``pip install 'snas[ui]'``).

Streamlit is not imported here: ``snas ui`` starts ``streamlit run`` on the
app as a child process, so every other command starts without it.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import click

from snas import hookimpl

#: the app ``streamlit run`` serves
APP = Path(__file__).resolve().parent / "app.py"
#: how to get the web UI's dependencies
INSTALL_HINT = "pip install 'snas[ui]'"


def streamlit_installed() -> bool:
    """Whether Streamlit can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("streamlit") is not None
    except (ImportError, ValueError):
        return False


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def streamlit_command(host: str, port: int) -> list[str]:
    """``streamlit run`` on the app: headless, no usage statistics, no file watcher."""
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.address", host, "--server.port", str(port), "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--global.developmentMode", "false", "--client.toolbarMode", "minimal"]


@click.command("ui")
@click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("snas-runs"),
              show_default=True, help="Folder of run folders to show; new searches go there too.")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The UI has no authentication: anything but this machine's own "
                   "address lets others start and stop searches.")
def ui(runs_dir: Path, port: int, host: str) -> None:
    """Start the web UI: start searches, watch them live, stop and resume them, see and export results.

    Searches run as their own `snas search` processes: closing the UI (Ctrl-C)
    does not stop them, and reopening it shows them again.
    """
    if not streamlit_installed():
        raise click.ClickException(f"snas ui needs Streamlit, which is not installed: {INSTALL_HINT}")
    if not is_loopback(host):
        click.echo(f"warning: the UI has no authentication: anyone who can reach {host}:{port} can start and "
                   "stop searches and read every run; keep it on 127.0.0.1 unless the network is yours alone",
                   err=True)
    runs_dir = runs_dir.expanduser().resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    from snas_plugins.ui.runs import RUNS_DIR_ENV

    env = {**os.environ, RUNS_DIR_ENV: str(runs_dir)}
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"snas ui: http://{shown}:{port}  (runs in {runs_dir}; Ctrl-C stops the UI, not the searches)")
    process = subprocess.Popen(streamlit_command(host, port), env=env)
    try:
        code = process.wait()
    except KeyboardInterrupt:  # the terminal sent SIGINT to Streamlit too; let it finish
        code = process.wait()
    sys.exit(code)


@hookimpl
def snas_register_commands(cli):
    """Add ``snas ui``."""
    cli.add_command(ui)
