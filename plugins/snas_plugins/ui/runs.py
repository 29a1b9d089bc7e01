"""Run folders and search processes as the web UI sees them (no Streamlit here).

Everything the UI does to a search goes through a process or a file: a
search starts as ``python -m snas search …`` in its own session (so
closing the UI never ends it), stops by SIGTERM to the process that holds
its ``run.lock``, and continues as ``python -m snas resume …``. What the UI
shows is read with :func:`snas.load_run`, :func:`snas.runtime.store.read_live`
and :func:`snas.runtime.store.lock_holder`.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import attrs

import snas
from snas import ConfigError, DataError, RunFileError, SnasError
from snas.runtime.store import FINAL_STATUSES, JOURNAL_FILE, RUN_FILE, lock_holder

#: environment variable through which ``snas ui`` tells the app its runs folder
RUNS_DIR_ENV = "SNAS_UI_RUNS_DIR"
#: the runs folder when none is given (the same default as ``snas search``)
DEFAULT_RUNS_DIR = "snas-runs"
#: what a process started by the UI prints, in its run folder
PROCESS_LOG = "ui-process.log"
#: the last process the UI started for a run folder: ``{pid, argv, started}``
PROCESS_FILE = "ui-process.json"
#: where uploaded CSV files and their images are unpacked, inside the runs folder
UPLOADS_DIR = ".uploads"
#: the most an uploaded archive may unpack to
MAX_UNPACKED_BYTES = 4 * 2**30
#: a run name: what ``--run-name`` accepts as one folder name
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def runs_dir() -> Path:
    """The runs folder the UI shows: ``$SNAS_UI_RUNS_DIR``, else ``./snas-runs``."""
    return Path(os.environ.get(RUNS_DIR_ENV) or DEFAULT_RUNS_DIR).expanduser().resolve()


# --------------------------------------------------------------------------
# reading runs


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def signature(folder: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    """What changes whenever the run's content does: the checkpoint's and the journal's time and size."""
    return (_stat(folder / RUN_FILE), _stat(folder / JOURNAL_FILE))


_loaded: dict[Path, tuple[Any, Any]] = {}
_loaded_lock = threading.Lock()


def load(folder: Path) -> Any:
    """:func:`snas.load_run` of ``folder``, read again only when its files changed (shared by every tab)."""
    folder = Path(folder)
    sig = signature(folder)
    with _loaded_lock:
        hit = _loaded.get(folder)
    if hit is not None and hit[0] == sig:
        return hit[1]
    result = snas.load_run(folder)
    with _loaded_lock:
        _loaded[folder] = (sig, result)
    return result


def display_status(stored: str, writer: Mapping[str, Any] | None) -> str:
    """The status to show: ``running`` while a process holds the run, ``stopped`` if its writer died silently."""
    if writer is not None:
        return "running"
    if stored not in FINAL_STATUSES:
        return "stopped"
    return stored


@attrs.frozen
class RunSummary:
    """One row of the Runs page."""

    name: str
    folder: Path
    status: str
    trials: int = 0
    failed: int = 0
    best_score: float | None = None
    best_trial: int | None = None
    test_accuracy: float | None = None
    dataset: str | None = None
    strategy: str | None = None
    updated: float = 0.0
    writer: dict[str, Any] | None = None
    note: str | None = None

    @property
    def running(self) -> bool:
        return self.writer is not None

    @property
    def has_run_file(self) -> bool:
        return (self.folder / RUN_FILE).exists()


def summarize(folder: Path) -> RunSummary:
    """The Runs-page summary of one run folder (one that holds no ``run.h5`` yet is ``starting`` or failed to)."""
    folder = Path(folder)
    writer = lock_holder(folder)
    updated = max(_stat(folder / RUN_FILE)[0], _stat(folder / JOURNAL_FILE)[0], _stat(folder / PROCESS_LOG)[0]) / 1e9
    if not (folder / RUN_FILE).exists():
        proc = launched_process(folder)
        if writer is not None or (proc is not None and proc["alive"]):
            return RunSummary(folder.name, folder, "starting", updated=updated, writer=writer)
        return RunSummary(folder.name, folder, "failed to start", updated=updated, note=log_tail(folder))
    try:
        result = load(folder)
    except SnasError as exc:
        return RunSummary(folder.name, folder, "unreadable", updated=updated, writer=writer, note=str(exc))
    best = result.best
    return RunSummary(
        name=folder.name, folder=folder, status=display_status(result.status, writer),
        trials=len(result.trials), failed=sum(1 for t in result.trials if t.status == "failed"),
        best_score=best.score if best else None, best_trial=best.trial_id if best else None,
        test_accuracy=best.metrics.get("test_accuracy") if best else None,
        dataset=result.config.get("dataset"), strategy=result.config.get("strategy"),
        updated=updated, writer=writer,
    )


def run_folders(root: Path) -> list[Path]:
    """Every run folder under ``root`` (a folder holding ``run.h5`` or started by the UI), newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = {p.parent for p in root.glob(f"*/{RUN_FILE}")} | {p.parent for p in root.glob(f"*/{PROCESS_FILE}")}
    found = {p for p in found if not p.name.startswith(".")}
    return sorted(found, key=lambda p: max(_stat(p / n)[0] for n in (RUN_FILE, JOURNAL_FILE, PROCESS_LOG)),
                  reverse=True)


def list_runs(root: Path) -> list[RunSummary]:
    """:func:`summarize` of every run folder under ``root``, newest first."""
    return [summarize(folder) for folder in run_folders(root)]


def describe_age(seconds: float) -> str:
    """``"12 s ago"``, ``"5 min ago"``, ``"3 h ago"``, ``"2 days ago"``."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


# --------------------------------------------------------------------------
# progress of a run, from live.json


@attrs.frozen
class Bar:
    """One progress bar: a fraction in [0, 1] and the text beside it."""

    fraction: float
    text: str


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def budget_bar(result: Any, live: Mapping[str, Any] | None, running: bool) -> Bar:
    """The whole search against its budget: trials trained of the trial budget, else seconds of the time budget."""
    live = live or {}
    trained = live.get("trained")
    if trained is None:
        trained = sum(1 for t in result.trials if t.cached_from is None)
    max_trials = live.get("max_trials") or result.config.get("max_trials")
    time_budget = live.get("time_budget") or result.config.get("time_budget")
    elapsed = float(live.get("elapsed") or 0.0)
    if max_trials:
        text = f"{trained} of {max_trials} trials"
        fraction = trained / max_trials
        if time_budget:
            text += f" · {elapsed:.0f} of {time_budget:.0f} s"
            fraction = max(fraction, elapsed / time_budget)
    elif time_budget:
        fraction, text = elapsed / time_budget, f"{elapsed:.0f} of {time_budget:.0f} s · {trained} trials"
    else:
        fraction, text = (0.0 if running else 1.0), f"{trained} trials (the strategy decides when to stop)"
    if not running and result.status in FINAL_STATUSES and result.status != "interrupted":
        fraction = 1.0 if result.status != "failed" else fraction
    return Bar(_clamp(fraction), text)


def trial_bars(live: Mapping[str, Any] | None) -> list[Bar]:
    """One bar per trial in flight: its step (epoch) of the total, its phase and latest figures."""
    bars = []
    for item in (live or {}).get("in_flight", []):
        family = (item.get("architecture") or {}).get("family", "?")
        head = f"trial {item.get('trial_id')} · {family}"
        progress = item.get("progress")
        if not progress:
            bars.append(Bar(0.0, f"{head} · starting"))
            continue
        step, total = progress.get("step"), progress.get("total")
        text = f"{head} · {progress.get('phase', '')}"
        fraction = 0.0
        if step is not None and total:
            unit = "epoch " if progress.get("phase") == "training" else ""
            text += f" · {unit}{step} of {total}"
            fraction = step / total
        figures = "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in list((progress.get("metrics") or {}).items())[:3])
        bars.append(Bar(_clamp(fraction), f"{text}  {figures}".rstrip()))
    return bars


# --------------------------------------------------------------------------
# starting, stopping and resuming searches


@attrs.frozen
class SearchRequest:
    """What the New-search page asks for: turned into one ``snas search`` command line."""

    run_name: str
    dataset: str = "digits"
    strategy: str = "evolutionary"
    network_types: tuple[str, ...] = ("cnn", "mlp")
    evaluator: str = "train"
    max_trials: int | None = None
    time_budget: float | None = None
    max_complexity: int | None = None
    num_workers: int = 1
    seed: int = 0
    strategy_options: dict[str, Any] = attrs.field(factory=dict)
    evaluator_options: dict[str, Any] = attrs.field(factory=dict)
    dataset_options: dict[str, Any] = attrs.field(factory=dict)


def snas_command(*args: str) -> list[str]:
    """``python -m snas ARGS``: the ``snas`` command of this very installation."""
    return [sys.executable, "-m", "snas", *args]


def search_command(request: SearchRequest, root: Path) -> list[str]:
    """The ``snas search`` command line that runs ``request`` into ``root/<run name>``."""
    argv = snas_command("search", "--quiet", "--output-dir", str(root), "--run-name", request.run_name,
                        "--dataset", request.dataset, "--search-method", request.strategy,
                        "--evaluator", request.evaluator, "--seed", str(request.seed))
    if request.network_types:
        argv += ["--network-type", ",".join(request.network_types)]
    if request.max_trials:
        argv += ["--max-trials", str(request.max_trials)]
    if request.time_budget:
        argv += ["--time-budget", f"{request.time_budget:g}"]
    if request.max_complexity:
        argv += ["--max-complexity", str(request.max_complexity)]
    if request.num_workers > 1:
        argv += ["--num-workers", str(request.num_workers)]
    for flag, options in (("-S", request.strategy_options), ("-E", request.evaluator_options),
                          ("-D", request.dataset_options)):
        for key, value in options.items():
            argv += [flag, f"{key}={json.dumps(value)}"]
    return argv


def shown_command(argv: Sequence[str]) -> str:
    """``argv`` as a user would type it: ``snas search …`` instead of ``python -m snas search …``."""
    args = list(argv)
    if args[1:3] == ["-m", "snas"]:
        args = ["snas", *args[3:]]
    return shlex.join(args)


def default_run_name(dataset: str, strategy: str, root: Path) -> str:
    """``<dataset>-<strategy>-<date>-<time>``, with a suffix if ``root`` already holds that folder."""
    base = f"{dataset}-{strategy}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, n = base, 1
    while (Path(root) / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def check_request(request: SearchRequest, root: Path, manager: Any = None) -> list[str]:
    """Everything wrong with ``request``, one sentence each (empty when it can start)."""
    manager = manager or snas.get_plugin_manager()
    errors = []
    if not RUN_NAME.match(request.run_name):
        errors.append(f"run name {request.run_name!r}: use letters, digits, '.', '_' and '-' (no spaces or '/')")
    elif (Path(root) / request.run_name).exists():
        errors.append(f"{Path(root) / request.run_name} already exists; pick another run name")
    if not request.network_types:
        errors.append("pick at least one network family")
    for kind, name, options in (("strategy", request.strategy, request.strategy_options),
                                ("evaluator", request.evaluator, request.evaluator_options),
                                ("dataset", request.dataset, request.dataset_options)):
        try:
            cls = manager.get(kind, name)
            cls.Options(**options)
        except (SnasError, TypeError, ValueError) as exc:
            errors.append(f"{kind} {name}: {exc}")
    for family in request.network_types:
        try:
            manager.get("family", family)
        except SnasError as exc:
            errors.append(str(exc))
    path = request.dataset_options.get("path")
    if request.dataset == "folder" and path and not Path(path).is_dir():
        errors.append(f"data folder {path} does not exist")
    if request.dataset == "csv" and path and not Path(path).is_file():
        errors.append(f"CSV file {path} does not exist")
    return errors


_children: dict[Path, subprocess.Popen] = {}
_children_lock = threading.Lock()


def launch(argv: Sequence[str], folder: Path) -> subprocess.Popen:
    """Start ``argv`` as its own process (own session: closing the UI does not end it), logging into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop(RUNS_DIR_ENV, None)
    with open(folder / PROCESS_LOG, "ab") as log:
        log.write(f"$ {shown_command(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
    (folder / PROCESS_FILE).write_text(json.dumps({"pid": proc.pid, "argv": list(argv), "started": time.time(),
                                                   "host": socket.gethostname()}))
    with _children_lock:
        _children[folder] = proc
    reap()
    return proc


def reap() -> None:
    """Collect the exit status of processes the UI started that have ended (no zombies left behind)."""
    with _children_lock:
        for proc in list(_children.values()):
            proc.poll()


def launched_process(folder: Path) -> dict[str, Any] | None:
    """The last process the UI started for ``folder``: ``{pid, argv, started, alive, returncode}``, or ``None``."""
    folder = Path(folder)
    try:
        info = json.loads((folder / PROCESS_FILE).read_text())
    except (OSError, ValueError):
        return None
    pid = int(info.get("pid") or 0)
    with _children_lock:
        proc = _children.get(folder)
    if proc is not None and proc.pid == pid:
        code = proc.poll()
        return {**info, "alive": code is None, "returncode": code}
    alive = False
    if pid and info.get("host") == socket.gethostname():
        try:
            os.kill(pid, 0)
            alive = True
        except OSError:
            alive = False
    return {**info, "alive": alive, "returncode": None}


def log_tail(folder: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of what the UI's processes printed for ``folder``."""
    try:
        text = (Path(folder) / PROCESS_LOG).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def start_search(request: SearchRequest, root: Path) -> subprocess.Popen:
    """Start ``request`` as a ``snas search`` process writing ``root/<run name>``; refuses a bad request."""
    errors = check_request(request, root)
    if errors:
        raise ConfigError("; ".join(errors))
    return launch(search_command(request, Path(root)), Path(root) / request.run_name)


def stop_run(folder: Path) -> int:
    """Ask the process writing ``folder`` to stop (SIGTERM: it keeps every finished trial); returns its pid."""
    holder = lock_holder(folder)
    if holder is None:
        raise SnasError(f"{Path(folder).name} is not running")
    host, pid = holder.get("host"), holder.get("pid")
    if host not in (None, socket.gethostname()):
        raise SnasError(f"{Path(folder).name} is written by process {pid} on {host}; stop it there")
    if not isinstance(pid, int):
        raise RunFileError(f"{Path(folder) / 'run.lock'} does not say which process writes the run")
    os.kill(pid, signal.SIGTERM)
    return pid


def resume_command(folder: Path, max_trials: int | None = None, time_budget: float | None = None) -> list[str]:
    """The ``snas resume`` command line that continues the run in ``folder``."""
    argv = snas_command("resume", str(Path(folder) / RUN_FILE), "--quiet")
    if max_trials:
        argv += ["--max-trials", str(max_trials)]
    if time_budget:
        argv += ["--time-budget", f"{time_budget:g}"]
    return argv


def resume_run(folder: Path, max_trials: int | None = None, time_budget: float | None = None) -> subprocess.Popen:
    """Continue the run in ``folder`` as a ``snas resume`` process; refuses a run that is being written."""
    folder = Path(folder)
    if lock_holder(folder) is not None:
        raise SnasError(f"{folder.name} is running; stop it before resuming it")
    if not (folder / RUN_FILE).exists():
        raise RunFileError(f"{folder} holds no {RUN_FILE} to resume")
    return launch(resume_command(folder, max_trials, time_budget), folder)


# --------------------------------------------------------------------------
# uploads and exports


def _safe_name(name: str, fallback: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._")
    return name or fallback


def unpack_archive(data: bytes, dest: Path) -> list[str]:
    """Unpack a zip archive into ``dest``; refuses members that would land outside it. Returns the files."""
    dest = Path(dest).resolve()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise DataError(f"the uploaded images are not a zip archive ({exc})") from None
    with archive:
        members = archive.infolist()
        total = sum(m.file_size for m in members)
        if total > MAX_UNPACKED_BYTES:
            raise DataError(f"the uploaded archive unpacks to {total / 2**30:.1f} GiB, more than "
                            f"{MAX_UNPACKED_BYTES / 2**30:.0f} GiB")
        for member in members:
            target = (dest / member.filename).resolve()
            if not target.is_relative_to(dest):
                raise DataError(f"the uploaded archive's member {member.filename!r} points outside its folder")
        archive.extractall(dest)
        return [m.filename for m in members if not m.is_dir()]


def save_upload(root: Path, csv_name: str, csv_data: bytes, archive: bytes | None = None) -> Path:
    """Keep an uploaded CSV (and the zip of its images, unpacked beside it) under ``root/.uploads``.

    Returns the CSV's path. Image paths in the CSV are read relative to the
    CSV, so they are paths inside the archive.
    """
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{_safe_name(Path(csv_name).stem, 'upload')}"
    folder, n = Path(root) / UPLOADS_DIR / base, 1
    while folder.exists():
        n += 1
        folder = Path(root) / UPLOADS_DIR / f"{base}-{n}"
    folder.mkdir(parents=True)
    path = folder / _safe_name(csv_name, "data.csv")
    if path.suffix.lower() != ".csv":
        path = path.with_suffix(".csv")
    path.write_bytes(csv_data)
    if archive:
        unpack_archive(archive, folder)
    return path


def export_zip(folder: Path, formats: Sequence[str]) -> tuple[bytes, Any]:
    """Export the run's best model in ``formats`` into ``<run>/export`` and pack what was written as one zip.

    Returns the zip's bytes and the export's report (``ExportReport``).
    """
    from snas_plugins.exporters.run_export import export_run

    folder = Path(folder)
    out = folder / "export"
    report = export_run(folder / RUN_FILE, list(formats), out)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for fmt in report.formats:
            if not fmt.ok:
                continue
            base = Path(fmt.folder)
            for file in sorted(base.rglob("*")):
                if file.is_file():
                    archive.write(file, f"{fmt.format}/{file.relative_to(base)}")
        if (out / "export_report.json").exists():
            archive.write(out / "export_report.json", "export_report.json")
    return buffer.getvalue(), report
