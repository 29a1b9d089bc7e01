"""The run folder: an append-only journal, HDF5 checkpoints and weight files. Crash-safe, live-readable, no pickle.

A run is one folder::

    run.h5          HDF5 checkpoint (format 2): configuration, plugins, data
                    description and everything the journal held when it was
                    written; replaced atomically (temp file, fsync, rename)
    journal.jsonl   append-only log of the run, one record a line
                    (``<crc32> <json>``); a finished trial is synced to disk
                    here before its result is told to the strategy
    weights/N.h5    trained weights of trial N, for the trials the run keeps
                    (the best one); written atomically before the journal
                    line that names them
    run.lock        held (``flock``) by the one process writing the run
    live.json       the trials in flight and their progress, rewritten at
                    most a few times a second; a display aid, not a record
    best_architecture.json

What a reader sees is the checkpoint plus the journal after the offset the
checkpoint records. The journal is never rewritten, only appended to, so a
reader never blocks the writer and never sees a half-written record (a torn
last line fails its checksum and is left for the next read). The cost of
recording a trial does not depend on the length of the run; checkpoints, which
do, are rare (see :class:`RunWriter`).

Everything stored is JSON, numbers or arrays: reading a run never executes
code. Files of format 1 (snas 0.1: one HDF5 file rewritten at every trial)
are still read, and resumed after conversion.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import socket
import time
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import attrs
import h5py
import numpy as np

from snas.contracts.errors import RunFileError
from snas.contracts.records import PendingTrial, Trial, trial_seed
from snas.contracts.space import Architecture

FORMAT = "snas-run"
FORMAT_VERSION = 2
RUN_FILE = "run.h5"
JOURNAL_FILE = "journal.jsonl"
LOCK_FILE = "run.lock"
LIVE_FILE = "live.json"
WEIGHTS_DIR = "weights"
#: statuses of a run that is no longer being written
FINAL_STATUSES = ("finished", "budget_exhausted", "exhausted", "interrupted", "failed")
#: the longest journal line a reader accepts (a record is a few kB; a strategy snapshot can be larger)
MAX_LINE = 256 * 2**20
_STR = h5py.string_dtype(encoding="utf-8")


def _version() -> str:
    from snas import __version__

    return __version__


# --------------------------------------------------------------------------
# JSON


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def dumps(value: Any) -> str:
    """JSON for the run: NaN and infinities become null (JSON has neither)."""
    try:
        return json.dumps(value, default=_json_default, sort_keys=True, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a non-finite float somewhere: clean the whole value (rare, so only then)
        return json.dumps(_finite(value), default=_json_default, sort_keys=True, separators=(",", ":"))


def loads(text: str | bytes, where: str) -> Any:
    """Parse JSON from a run; a damaged document is a :class:`RunFileError` naming ``where``."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RunFileError(f"{where} is not valid JSON ({type(exc).__name__}: {str(exc)[:200]})") from None


# --------------------------------------------------------------------------
# the journal


def encode_line(record: Mapping[str, Any]) -> bytes:
    """One journal line: the CRC-32 of the JSON text, a space, the JSON, a newline."""
    body = dumps(record).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(body), body)


def decode_line(line: bytes) -> dict[str, Any] | None:
    """The record of a complete journal line, or ``None`` if its checksum fails (a torn or damaged line)."""
    if len(line) < 10 or line[8:9] != b" " or not line.endswith(b"\n"):
        return None
    body = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(body):
            return None
        record = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("kind"), str) else None


class JournalReader:
    """Reads a journal incrementally: each :meth:`read` returns the records appended since the last.

    A line without its newline (being written right now) is left for the
    next read. A damaged line followed by good ones is an error; a damaged
    last line is treated as not written yet.
    """

    def __init__(self, path: Path, offset: int = 0):
        self.path = Path(path)
        self.offset = offset
        self.lines = 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        records: list[dict[str, Any]] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            line = data[start:end + 1]
            record = decode_line(line)
            if record is None:
                if data.find(b"\n", end + 1) >= 0:
                    raise RunFileError(
                        f"{self.path}: journal line {self.lines + 1} (byte {self.offset + start}) is damaged "
                        "and is followed by more records; the run cannot be read past it"
                    )
                break  # a torn last line: not written yet, or cut by a crash
            records.append(record)
            self.lines += 1
            start = end + 1
        self.offset += start
        return records


# --------------------------------------------------------------------------
# weights


def _to_numpy(tensor: Any) -> tuple[np.ndarray, str]:
    import torch

    if isinstance(tensor, torch.Tensor):
        dtype = str(tensor.dtype)
        t = tensor.detach().cpu()
        if t.dtype == torch.bfloat16:
            t = t.float()
        return t.numpy(), dtype
    array = np.asarray(tensor)
    return array, str(array.dtype)


def write_weights(group: h5py.Group, weights: Mapping[str, Any]) -> None:
    """Store a ``state_dict`` as one dataset per tensor (attributes ``key`` and ``dtype``)."""
    for i, (key, tensor) in enumerate(weights.items()):
        array, dtype = _to_numpy(tensor)
        ds = group.create_dataset(f"{i:05d}", data=array)
        ds.attrs["key"] = key
        ds.attrs["dtype"] = dtype


def read_weights(group: h5py.Group, where: str) -> dict[str, Any]:
    """The ``state_dict`` :func:`write_weights` stored, as torch tensors."""
    import torch

    out: dict[str, Any] = {}
    try:
        for name in sorted(group):
            ds = group[name]
            array = np.array(ds[()])
            if array.dtype.kind not in "biuf":
                raise TypeError(f"tensor {name} has dtype {array.dtype}")
            tensor = torch.from_numpy(array)
            dtype = str(ds.attrs.get("dtype", ""))
            if dtype.startswith("torch."):
                target = getattr(torch, dtype.split(".", 1)[1], None)
                if not isinstance(target, torch.dtype):
                    raise TypeError(f"tensor {name} names an unknown dtype {dtype!r}")
                tensor = tensor.to(target)
            key = ds.attrs["key"]
            out[key.decode() if isinstance(key, bytes) else str(key)] = tensor
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise RunFileError(f"{where}: the stored weights are damaged ({exc})") from None
    return out


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(target: Path, data: bytes, durable: bool = True) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        _fsync_dir(target.parent)


def _h5_image(build: Any) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", track_order=True) as f:
        build(f)
    return buffer.getvalue()


# --------------------------------------------------------------------------
# what a run folder holds


@attrs.define
class RunLog:
    """Everything a run folder holds, read back: what readers see and what the engine resumes from."""

    path: Path
    run_name: str = ""
    created: str = ""
    status: str = "running"
    format_version: int = FORMAT_VERSION
    snas_version: str = ""
    config: dict[str, Any] = attrs.field(factory=dict)
    plugins: dict[str, Any] = attrs.field(factory=dict)
    data_info: dict[str, Any] = attrs.field(factory=dict)
    #: finished trials by id
    trials: dict[int, Trial] = attrs.field(factory=dict)
    #: proposals recorded but not finished (in flight, or not run when the run stopped)
    pending: dict[int, PendingTrial] = attrs.field(factory=dict)
    generations: list[dict[str, Any]] = attrs.field(factory=list)
    #: the latest strategy snapshot: ``{"told", "asked", "strategy", ...}``
    snapshot: dict[str, Any] | None = None
    #: set when the run reached its final retraining: ``{"outcome": ...}``
    final_phase: dict[str, Any] | None = None
    elapsed: float = 0.0
    sessions: int = 0
    #: trials whose weights the checkpoint holds
    checkpoint_weights: set[int] = attrs.field(factory=set)
    #: trials whose weights the journal says are in ``weights/``
    weight_files: set[int] = attrs.field(factory=set)
    journal_offset: int = 0
    #: v1 only: the engine state and best trial id of a format-1 file
    legacy: dict[str, Any] | None = None

    @property
    def folder(self) -> Path:
        return self.path.parent

    def apply(self, record: Mapping[str, Any]) -> None:
        """Fold one journal record into this view."""
        kind = record["kind"]
        if kind == "trial":
            self.add_trial(Trial.from_record(record["trial"]), bool(record.get("weights")))
        elif kind == "proposed":
            pending = PendingTrial.from_record(record["trial"])
            if pending.trial_id not in self.trials:
                self.pending[pending.trial_id] = pending
        elif kind == "generation":
            self.generations = [g for g in self.generations if g["generation"] != record["generation"]]
            self.generations.append({k: record[k] for k in ("generation", "trials", "progress")})
        elif kind == "snapshot":
            self.snapshot = {k: v for k, v in record.items() if k != "kind"}
        elif kind == "final_phase":
            self.final_phase = {"outcome": record.get("outcome", "finished")}
        elif kind == "status":
            self.status = str(record["status"])
            self.elapsed = float(record.get("elapsed", self.elapsed))
        elif kind == "session":
            self.sessions += 1
            self.status = "running"
        elif kind == "weights_dropped":
            self.weight_files.discard(int(record["trial_id"]))
        # unknown kinds come from newer writers: skipped, so older readers still follow

    def add_trial(self, trial: Trial, weights: bool = False) -> None:
        """A finished trial (``weights``: its weights file was written)."""
        self.trials[trial.trial_id] = trial
        self.pending.pop(trial.trial_id, None)
        if weights:
            self.weight_files.add(trial.trial_id)

    def sorted_trials(self) -> list[Trial]:
        return [self.trials[i] for i in sorted(self.trials)]

    def weights(self, trial_id: int) -> dict[str, Any] | None:
        """The stored weights of ``trial_id`` (torch tensors), or ``None`` when the run did not keep them."""
        file = self.folder / WEIGHTS_DIR / f"{trial_id}.h5"
        if file.exists():
            try:
                with h5py.File(file, "r") as f:
                    return read_weights(f, str(file))
            except OSError as exc:
                raise RunFileError(f"{file} is not a readable weights file: {exc}") from None
        if trial_id in self.checkpoint_weights or (self.legacy and self.legacy.get("best") == trial_id):
            with _open_h5(self.path) as f:
                group = f.get(f"weights/{trial_id}") if self.format_version >= 2 else f.get("best/weights")
                if group is not None:
                    return read_weights(group, f"{self.path}:/weights/{trial_id}")
        return None


@contextlib.contextmanager
def _open_h5(path: Path) -> Iterator[h5py.File]:
    try:
        handle = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise RunFileError(f"{path} is not a readable snas run file (truncated, corrupted or not HDF5): {exc}") from None
    try:
        yield handle
    finally:
        handle.close()


def resolve_run_path(path: str | Path) -> Path:
    """The ``run.h5`` of a run: ``path`` itself, or the one inside the folder ``path``."""
    path = Path(path)
    if path.is_dir():
        candidate = path / RUN_FILE
        if not candidate.exists():
            raise RunFileError(f"{path} is a folder without a {RUN_FILE} in it")
        return candidate
    if not path.exists():
        raise RunFileError(f"run file {path} does not exist")
    return path


def _attr(attrs_: Any, name: str, kind: type, where: str, default: Any = None) -> Any:
    value = attrs_.get(name, default)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, kind) and not isinstance(value, bool):
        return value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    raise RunFileError(f"{where}: attribute {name!r} should be {kind.__name__}, found {type(value).__name__}")


def _json_dataset(f: h5py.Group, name: str, where: str, default: Any = None, kind: type | None = None) -> Any:
    if name not in f:
        return default
    obj = f[name]
    if not isinstance(obj, h5py.Dataset) or obj.shape != () or obj.dtype.kind not in "OSU":
        raise RunFileError(f"{where}: /{name} should hold one JSON text")
    raw = obj[()]
    value = loads(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw), f"{where}:/{name}")
    if kind is not None and value is not None and not isinstance(value, kind):
        raise RunFileError(f"{where}: /{name} should be a JSON {kind.__name__}, found {type(value).__name__}")
    return value


def _trial(record: Any, where: str) -> Trial:
    if not isinstance(record, Mapping):
        raise RunFileError(f"{where} is not a trial record")
    try:
        return Trial.from_record(record)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunFileError(f"{where} is damaged ({type(exc).__name__}: {exc})") from None


def _read_checkpoint(path: Path) -> RunLog:
    where = str(path)
    with _open_h5(path) as f:
        if _attr(f.attrs, "format", str, where) != FORMAT:
            raise RunFileError(f"{path} is an HDF5 file but not an snas run file (no format={FORMAT!r} attribute)")
        version = _attr(f.attrs, "format_version", int, where, 0) or 0
        if version > FORMAT_VERSION:
            raise RunFileError(
                f"{path} was written by a newer snas (run-file format {version}, snas "
                f"{_attr(f.attrs, 'snas_version', str, where, '?')}); this snas {_version()} reads format "
                f"{FORMAT_VERSION} and older: upgrade snas to open it"
            )
        log = RunLog(
            path=path,
            run_name=_attr(f.attrs, "run_name", str, where, path.parent.name) or path.parent.name,
            created=_attr(f.attrs, "created", str, where, "") or "",
            status=_attr(f.attrs, "status", str, where, "unknown") or "unknown",
            format_version=version,
            snas_version=_attr(f.attrs, "snas_version", str, where, "") or "",
            config=_json_dataset(f, "config", where, {}, dict),
            plugins=_json_dataset(f, "plugins", where, {}, dict),
            data_info=_json_dataset(f, "data", where, {}, dict),
            generations=_json_dataset(f, "generations", where, [], list),
        )
        if "trials" not in f or not isinstance(f["trials"], h5py.Group):
            raise RunFileError(f"{path} is damaged: it has no trials group")
        if version <= 1:
            _read_v1(f, log, where)
            return log
        records = f["trials"].get("records")
        if records is not None:
            if not isinstance(records, h5py.Dataset) or records.ndim != 1 or records.dtype.kind != "O":
                raise RunFileError(f"{where}: /trials/records should be a list of JSON texts")
            for i, raw in enumerate(records[()]):
                text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                trial = _trial(loads(text, f"{where}:/trials/records[{i}]"), f"{where}:/trials/records[{i}]")
                log.trials[trial.trial_id] = trial
        for record in _json_dataset(f, "pending", where, [], list):
            try:
                pending = PendingTrial.from_record(record)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise RunFileError(f"{where}:/pending is damaged ({exc})") from None
            log.pending[pending.trial_id] = pending
        engine = _json_dataset(f, "engine", where, {}, dict)
        log.snapshot = engine.get("snapshot")
        log.final_phase = engine.get("final_phase")
        log.elapsed = float(engine.get("elapsed", 0.0) or 0.0)
        log.sessions = int(engine.get("sessions", 0) or 0)
        log.weight_files = {int(i) for i in engine.get("weight_files", [])}
        log.journal_offset = _attr(f.attrs, "journal_offset", int, where, 0) or 0
        if "weights" in f:
            log.checkpoint_weights = {int(k) for k in f["weights"] if str(k).isdigit()}
    return log


def _read_v1(f: h5py.File, log: RunLog, where: str) -> None:
    """Fold a format-1 file (one group per trial, engine state with a pending batch) into ``log``."""
    trials = f["trials"]
    for key in sorted(trials):
        group = trials[key]
        record = _json_dataset(group, "record", f"{where}:/trials/{key}", {}, dict)
        curves = {}
        if "curves" in group:
            curves = {n: np.asarray(group["curves"][n][()], dtype=float).tolist() for n in group["curves"]}
        trial = _trial({**record, "curves": curves}, f"{where}:/trials/{key}")
        log.trials[trial.trial_id] = trial
    engine = _json_dataset(f, "engine", where, None, dict)
    best = None
    if "best" in f:
        best = _attr(f["best"].attrs, "trial_id", int, f"{where}:/best")
    log.legacy = {"engine": engine, "best": best}
    if engine:
        log.elapsed = float(engine.get("elapsed", 0.0) or 0.0)
        for p in engine.get("pending", []):
            tid = int(p["trial_id"])
            if tid not in log.trials:
                seed = trial_seed(int(log.config.get("seed", 0)), tid)
                log.pending[tid] = PendingTrial(tid, Architecture.from_dict(p["architecture"]), seed,
                                                p.get("protocol", "full"), dict(p.get("meta") or {}))


def read_run(path: str | Path) -> RunLog:
    """Read a run (its ``run.h5``, or the folder holding it) as it is now, journal included. Never modifies it."""
    path = resolve_run_path(path)
    log = _read_checkpoint(path)
    if log.format_version >= 2:
        reader = JournalReader(path.parent / JOURNAL_FILE, log.journal_offset)
        try:
            for record in reader.read():
                log.apply(record)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RunFileError(f"{reader.path}: a record is damaged ({type(exc).__name__}: {exc})") from None
        log.journal_offset = reader.offset
    return log


# --------------------------------------------------------------------------
# the writer


class RunLocked(RunFileError):
    """Another process is writing this run."""


class RunWriteError(RunFileError):
    """The run folder could not be written (disk full, file too large, permissions); what was written is intact."""


@contextlib.contextmanager
def _writing(folder: Path, what: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RunWriteError(
            f"could not write {what} in {folder}: {reason}; the run is intact up to its last recorded trial "
            f"— free space (or fix the cause) and continue it with `snas resume {folder}`") from None


class RunWriter:
    """Writes one run folder; only one process at a time (``run.lock``).

    The engine appends journal records as things happen
    (:meth:`append`; ``durable=True`` syncs before returning), writes weight
    files (:meth:`write_weights`), and now and then folds everything into a
    new ``run.h5`` (:meth:`checkpoint`).
    """

    def __init__(self, folder: Path, lock_fd: int):
        self.folder = Path(folder)
        self.path = self.folder / RUN_FILE
        self._lock_fd = lock_fd
        self._journal_fd: int | None = None
        self._buffer: list[bytes] = []
        self.journal_bytes = 0

    # -- opening ----------------------------------------------------------------

    @staticmethod
    def _lock(folder: Path) -> int:
        import fcntl

        folder.mkdir(parents=True, exist_ok=True)
        lock_path = folder / LOCK_FILE
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
            except ValueError:
                holder = {}
            os.close(fd)
            who = (f"process {holder.get('pid', '?')} on {holder.get('host', '?')} "
                   f"(since {holder.get('since', '?')})" if holder else "another process")
            raise RunLocked(f"{folder} is being written by {who}; wait for it to end or stop it first "
                            "(two writers would corrupt the run)") from None
        info = dumps({"pid": os.getpid(), "host": socket.gethostname(),
                      "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, info, 0)
        return fd

    @classmethod
    def create(cls, folder: str | Path, *, run_name: str, config: Mapping[str, Any], plugins: Mapping[str, Any],
               data_info: Mapping[str, Any]) -> tuple["RunWriter", RunLog]:
        """Start a new run in ``folder``: the writer and the (empty) run; refuses a folder that holds a run.

        The first file written is a complete ``run.h5`` (renamed into place),
        so a run killed at any moment after it can be resumed.
        """
        folder = Path(folder)
        if (folder / RUN_FILE).exists():
            raise RunFileError(f"{folder / RUN_FILE} already exists; resume it with "
                               f"`snas resume {folder / RUN_FILE}` or pick another --output-dir/--run-name")
        writer = cls(folder, cls._lock(folder))
        try:
            if (folder / RUN_FILE).exists():  # created between the check and the lock
                raise RunFileError(f"{folder / RUN_FILE} already exists")
            for stale in (folder / JOURNAL_FILE, folder / LIVE_FILE):
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()  # left by a run killed before its run.h5 existed
            log = RunLog(path=writer.path, run_name=run_name, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                         snas_version=_version(), config=dict(config), plugins=dict(plugins),
                         data_info=dict(data_info))
            writer.checkpoint(log, {})
            writer._open_journal()
        except BaseException:
            writer.close()
            raise
        return writer, log

    @classmethod
    def open(cls, path: str | Path) -> tuple["RunWriter", RunLog]:
        """Open an existing run to continue it: the lock, the run as read, the journal ready to append.

        A format-1 file is converted first (the original is kept as ``run.v1.h5``).
        """
        path = resolve_run_path(path)
        writer = cls(path.parent, cls._lock(path.parent))
        try:
            log = _read_checkpoint(path)
            if log.format_version < 2:
                log = writer._convert_v1(log)
            journal = JournalReader(path.parent / JOURNAL_FILE, log.journal_offset)
            for record in journal.read():
                log.apply(record)
            log.journal_offset = journal.offset
            writer._open_journal(truncate_at=journal.offset)
        except BaseException:
            writer.close()
            raise
        return writer, log

    def _convert_v1(self, log: RunLog) -> RunLog:
        backup = self.folder / "run.v1.h5"
        if not backup.exists():
            backup.write_bytes(self.path.read_bytes())
        log.format_version = FORMAT_VERSION
        best = (log.legacy or {}).get("best")
        weights = None
        if best is not None:
            with _open_h5(self.path) as f:
                if "best/weights" in f:
                    weights = read_weights(f["best/weights"], f"{self.path}:/best/weights")
        with contextlib.suppress(FileNotFoundError):
            (self.folder / JOURNAL_FILE).unlink()
        if weights is not None:
            self.write_weights(best, weights)
            log.weight_files.add(best)
        self.checkpoint(log, {})
        return log

    def _open_journal(self, truncate_at: int | None = None) -> None:
        path = self.folder / JOURNAL_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        size = os.fstat(fd).st_size
        if truncate_at is not None and size > truncate_at:
            os.ftruncate(fd, truncate_at)  # a torn last line of a killed writer
            size = truncate_at
        os.lseek(fd, size, os.SEEK_SET)
        self._journal_fd = fd
        self.journal_bytes = size

    # -- writing -----------------------------------------------------------------

    def append(self, record: Mapping[str, Any], durable: bool = False) -> None:
        """Append one record to the journal; with ``durable`` it is on disk when this returns."""
        self.append_many([record], durable)

    def append_many(self, records: Iterable[Mapping[str, Any]], durable: bool = False) -> None:
        """Append records; without ``durable`` they may wait in a buffer until :meth:`flush` or a durable append."""
        if self._journal_fd is None:
            raise RunFileError(f"{self.folder} is not open for writing")
        self._buffer.extend(encode_line(r) for r in records)
        if durable:
            self.sync()

    def flush(self) -> None:
        """Write the buffered records (one write); readers see them from now on."""
        if not self._buffer or self._journal_fd is None:
            return
        data = b"".join(self._buffer)
        view = memoryview(data)
        with _writing(self.folder, "the journal"):
            while view:
                written = os.write(self._journal_fd, view)
                view = view[written:]
                self.journal_bytes += written
                self._buffer = [bytes(view)] if view else []
        self._buffer = []

    def sync(self) -> None:
        """Write and make durable everything appended so far."""
        self.flush()
        if self._journal_fd is not None:
            with _writing(self.folder, "the journal"):
                _sync(self._journal_fd)

    def write_weights(self, trial_id: int, weights: Mapping[str, Any]) -> None:
        """Write ``weights/<trial_id>.h5`` atomically and durably (before the journal names it)."""
        folder = self.folder / WEIGHTS_DIR
        with _writing(self.folder, f"the weights of trial {trial_id}"):
            folder.mkdir(exist_ok=True)
            _atomic_write(folder / f"{trial_id}.h5", _h5_image(lambda f: write_weights(f, weights)))

    def drop_weights(self, trial_ids: Iterable[int]) -> None:
        """Delete weight files that no record needs any more."""
        for tid in trial_ids:
            with contextlib.suppress(FileNotFoundError):
                (self.folder / WEIGHTS_DIR / f"{tid}.h5").unlink()

    def write_live(self, info: Mapping[str, Any]) -> None:
        """Replace ``live.json`` (not synced: it is a display aid)."""
        with contextlib.suppress(OSError):
            _atomic_write(self.folder / LIVE_FILE, dumps(info).encode(), durable=False)

    def checkpoint(self, log: RunLog, keep_weights: Mapping[int, Any]) -> None:
        """Fold ``log`` (the run as the engine holds it, up to the journal's end) into a new ``run.h5``.

        ``keep_weights`` maps trial ids to the weights the checkpoint holds
        (loaded from their files when ``None``). Costs time in proportion to
        the run's size, so the engine calls it rarely.
        """
        self.sync()
        weights = {}
        for tid, state in keep_weights.items():
            if state is None:
                state = log.weights(tid)
            if state is not None:
                weights[int(tid)] = state
        offset = self.journal_bytes

        def build(f: h5py.File) -> None:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["snas_version"] = log.snas_version or _version()
            f.attrs["created"] = log.created
            f.attrs["run_name"] = log.run_name
            f.attrs["status"] = log.status
            f.attrs["journal_offset"] = offset
            for name, value in (("config", log.config), ("plugins", log.plugins), ("data", log.data_info),
                                ("generations", log.generations),
                                ("pending", [p.to_record() for p in log.pending.values()]),
                                ("engine", {"snapshot": log.snapshot, "final_phase": log.final_phase,
                                            "elapsed": log.elapsed, "sessions": log.sessions,
                                            "weight_files": sorted(log.weight_files)})):
                f.create_dataset(name, data=dumps(value), dtype=_STR)
            trials = f.create_group("trials")
            records = [dumps(t.to_record()) for t in log.sorted_trials()]
            trials.create_dataset("records", data=np.array(records, dtype=object), dtype=_STR,
                                  maxshape=(None,), chunks=(256,) if len(records) >= 256 else None)
            if weights:
                group = f.create_group("weights")
                for tid, state in sorted(weights.items()):
                    write_weights(group.create_group(str(tid)), state)

        with _writing(self.folder, "the checkpoint run.h5"):
            _atomic_write(self.path, _h5_image(build))
        log.journal_offset = offset
        log.checkpoint_weights = set(weights)

    def close(self) -> None:
        """Close the journal and release the lock."""
        if self._journal_fd is not None:
            with contextlib.suppress(OSError, RunFileError):
                self.sync()
            os.close(self._journal_fd)
            self._journal_fd = None
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None


def _sync(fd: int) -> None:
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


def lock_holder(folder: str | Path) -> dict[str, Any] | None:
    """Who holds the run's writer lock (``pid``, ``host``, ``since``), or ``None`` when nobody writes it."""
    import fcntl

    path = Path(folder) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            try:
                return json.loads(os.pread(fd, 4096, 0) or b"{}") or {}
            except ValueError:
                return {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def read_live(folder: str | Path) -> dict[str, Any] | None:
    """The run's ``live.json`` (in-flight trials and their progress) if the run is being written, else ``None``."""
    path = Path(folder) / LIVE_FILE
    try:
        info = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None
