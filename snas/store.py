"""The HDF5 run store: one file per run, crash-safe, no pickle.

Layout of a run file::

    /                  attrs: format="snas-run", format_version, snas_version,
                       created, run_name, status
    /config            JSON: the RunConfig
    /plugins           JSON: {kind: {name: {plugin, distribution, version}}}
    /data              JSON: the data set's description (shape, classes, sizes)
    /engine            JSON: strategy state, RNG state, pending proposals,
                       next trial id, generation, elapsed seconds
    /generations       JSON: per strategy batch, its trial ids and progress
                       figures (diversity, complexity level, surrogate tau…)
    /extra/<name>      JSON documents plugins store (RunStore.set_extra)
    /trials/<id>/record          JSON: the trial (architecture, fingerprint,
                                 status, score, metrics, timing, error)
    /trials/<id>/curves/<name>   float64 per-epoch series
    /best              attrs: trial_id;  /best/weights/<i>  one dataset per
                       tensor of the best model's state_dict (attrs: key, dtype)

Everything is JSON, numbers or arrays: opening a run file never executes
code. The file is kept in memory while a run writes it; :meth:`RunStore.commit`
writes the whole image to a temporary file, syncs it and renames it over the
run file, so a process killed at any moment (SIGKILL included) leaves either
the previous or the new complete file.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

import h5py
import numpy as np

from snas.errors import RunFileError
from snas.interfaces import Trial
from snas.space import Architecture

FORMAT = "snas-run"
FORMAT_VERSION = 1
_STR = h5py.string_dtype(encoding="utf-8")


def _version() -> str:
    from snas import __version__

    return __version__


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def dumps(value: Any) -> str:
    """JSON for the run file: NaN and infinities become null (JSON has neither)."""
    return json.dumps(_finite(value), default=_json_default, sort_keys=True)


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


def trial_from_record(record: Mapping[str, Any], curves: Mapping[str, list[float]] | None = None) -> Trial:
    """Rebuild a :class:`Trial` from its stored JSON record."""
    return Trial(
        trial_id=int(record["trial_id"]),
        arch=Architecture.from_dict(record["architecture"]),
        status=record["status"],
        score=record.get("score"),
        protocol=record.get("protocol", "full"),
        metrics=dict(record.get("metrics") or {}),
        curves=dict(curves or {}),
        error=record.get("error"),
        duration=float(record.get("duration") or 0.0),
        started=float(record.get("started") or 0.0),
        seed=int(record.get("seed") or 0),
        cached_from=record.get("cached_from"),
        meta=dict(record.get("meta") or {}),
    )


def trial_record(trial: Trial) -> dict[str, Any]:
    """The JSON record stored for ``trial`` (curves are stored as arrays beside it)."""
    return {**trial.summary(), "started": trial.started}


class RunStore:
    """A run file opened for reading or writing."""

    def __init__(self, path: Path, handle: h5py.File, buffer: io.BytesIO | None):
        self.path = Path(path)
        self._h5 = handle
        self._buffer = buffer  # set when writable: the in-memory image we commit
        self._dirty = False

    # -- opening --------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, run_name: str) -> "RunStore":
        """Start a new run file at ``path`` (its folder is created); refuses to overwrite one."""
        path = Path(path)
        if path.exists():
            raise RunFileError(f"{path} already exists; resume it with `snas resume {path}` or pick another --output-dir")
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        handle = h5py.File(buffer, "w", track_order=True)
        handle.attrs["format"] = FORMAT
        handle.attrs["format_version"] = FORMAT_VERSION
        handle.attrs["snas_version"] = _version()
        handle.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        handle.attrs["run_name"] = run_name
        handle.attrs["status"] = "running"
        handle.create_group("trials", track_order=True)
        store = cls(path, handle, buffer)
        store.commit()
        return store

    @classmethod
    def open(cls, path: str | Path, writable: bool = False) -> "RunStore":
        """Open an existing run file; a clear :class:`RunFileError` if it cannot be read."""
        path = Path(path)
        if not path.exists():
            raise RunFileError(f"run file {path} does not exist")
        if path.is_dir():
            candidate = path / "run.h5"
            if candidate.exists():
                path = candidate
            else:
                raise RunFileError(f"{path} is a folder without a run.h5 in it")
        try:
            if writable:
                buffer = io.BytesIO(path.read_bytes())
                handle = h5py.File(buffer, "r+")
            else:
                buffer = None
                handle = h5py.File(path, "r")
        except (OSError, ValueError) as exc:
            raise RunFileError(
                f"{path} is not a readable snas run file (truncated, corrupted or not HDF5): {exc}"
            ) from None
        store = cls(path, handle, buffer)
        store._check_format()
        return store

    def _check_format(self) -> None:
        attrs = self._h5.attrs
        if attrs.get("format") != FORMAT:
            self.close()
            raise RunFileError(f"{self.path} is an HDF5 file but not an snas run file (no format={FORMAT!r} attribute)")
        version = int(attrs.get("format_version", 0))
        if version > FORMAT_VERSION:
            self.close()
            raise RunFileError(
                f"{self.path} was written by a newer snas (run-file format {version}, "
                f"snas {attrs.get('snas_version', '?')}); this snas {_version()} reads format "
                f"{FORMAT_VERSION} and older: upgrade snas to open it"
            )
        if "trials" not in self._h5:
            self.close()
            raise RunFileError(f"{self.path} is damaged: it has no trials group")

    @property
    def writable(self) -> bool:
        return self._buffer is not None

    # -- JSON blobs -------------------------------------------------------------

    def _write_json(self, name: str, value: Any, group: h5py.Group | None = None) -> None:
        group = self._h5 if group is None else group
        if name in group:
            del group[name]
        group.create_dataset(name, data=dumps(value), dtype=_STR)
        self._dirty = True

    def _read_json(self, name: str, group: h5py.Group | None = None, default: Any = None) -> Any:
        group = self._h5 if group is None else group
        if name not in group:
            return default
        raw = group[name][()]
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise RunFileError(f"{self.path}: {group.name}/{name} is not valid JSON ({exc})") from None

    # -- run-level records ----------------------------------------------------

    @property
    def run_name(self) -> str:
        return str(self._h5.attrs.get("run_name", self.path.parent.name))

    @property
    def status(self) -> str:
        return str(self._h5.attrs.get("status", "unknown"))

    def set_status(self, status: str) -> None:
        self._h5.attrs["status"] = status
        self._dirty = True

    @property
    def format_version(self) -> int:
        return int(self._h5.attrs.get("format_version", 0))

    @property
    def snas_version(self) -> str:
        return str(self._h5.attrs.get("snas_version", ""))

    def set_config(self, config: Mapping[str, Any]) -> None:
        self._write_json("config", config)

    def config(self) -> dict[str, Any]:
        return self._read_json("config", default={})

    def set_plugins(self, plugins: Mapping[str, Any]) -> None:
        self._write_json("plugins", plugins)

    def plugins(self) -> dict[str, Any]:
        return self._read_json("plugins", default={})

    def set_data_info(self, info: Mapping[str, Any]) -> None:
        self._write_json("data", info)

    def data_info(self) -> dict[str, Any]:
        return self._read_json("data", default={})

    def set_engine_state(self, state: Mapping[str, Any]) -> None:
        self._write_json("engine", state)

    def engine_state(self) -> dict[str, Any] | None:
        return self._read_json("engine")

    def set_extra(self, name: str, value: Any) -> None:
        """Store a JSON document under ``/extra/<name>`` (plugins' own records)."""
        group = self._h5.require_group("extra")
        self._write_json(name, value, group)

    def extra(self, name: str, default: Any = None) -> Any:
        if "extra" not in self._h5:
            return default
        return self._read_json(name, self._h5["extra"], default)

    def add_generation(self, generation: int, trial_ids: list[int], progress: Mapping[str, Any]) -> None:
        """Record one strategy batch: its trials and the strategy's ``progress()`` (diversity, level…)."""
        records = [g for g in self.generations() if g["generation"] != generation]
        records.append({"generation": generation, "trials": list(trial_ids), "progress": dict(progress)})
        self._write_json("generations", records)

    def generations(self) -> list[dict[str, Any]]:
        """Every recorded batch, oldest first."""
        return self._read_json("generations", default=[])

    # -- trials ---------------------------------------------------------------

    def add_trial(self, trial: Trial) -> None:
        """Write one finished trial (replacing a trial of the same id)."""
        trials = self._h5["trials"]
        key = f"{trial.trial_id:06d}"
        if key in trials:
            del trials[key]
        group = trials.create_group(key)
        self._write_json("record", trial_record(trial), group)
        if trial.curves:
            curves = group.create_group("curves")
            for name, values in trial.curves.items():
                curves.create_dataset(name, data=np.asarray(values, dtype=np.float64))
        self._dirty = True

    def trial_ids(self) -> list[int]:
        return sorted(int(k) for k in self._h5["trials"])

    def trials(self) -> list[Trial]:
        """Every stored trial, by id."""
        return list(self.iter_trials())

    def iter_trials(self) -> Iterator[Trial]:
        trials = self._h5["trials"]
        for key in sorted(trials):
            group = trials[key]
            try:
                record = self._read_json("record", group)
                curves = {n: group["curves"][n][()].tolist() for n in group["curves"]} if "curves" in group else {}
                yield trial_from_record(record, curves)
            except (KeyError, TypeError, ValueError) as exc:
                raise RunFileError(f"{self.path}: trial {key} is damaged ({exc})") from None

    # -- best model -----------------------------------------------------------

    def set_best(self, trial_id: int, weights: Mapping[str, Any] | None) -> None:
        """Record the best trial and, when given, its trained weights."""
        if "best" in self._h5:
            del self._h5["best"]
        best = self._h5.create_group("best")
        best.attrs["trial_id"] = int(trial_id)
        if weights is not None:
            group = best.create_group("weights", track_order=True)
            for i, (key, tensor) in enumerate(weights.items()):
                array, dtype = _to_numpy(tensor)
                ds = group.create_dataset(f"{i:05d}", data=array)
                ds.attrs["key"] = key
                ds.attrs["dtype"] = dtype
        self._dirty = True

    def best_trial_id(self) -> int | None:
        if "best" not in self._h5:
            return None
        return int(self._h5["best"].attrs["trial_id"])

    def best_weights(self) -> dict[str, Any] | None:
        """The best model's ``state_dict`` as torch tensors (``None`` if none was stored)."""
        if "best" not in self._h5 or "weights" not in self._h5["best"]:
            return None
        import torch

        out: dict[str, Any] = {}
        group = self._h5["best"]["weights"]
        for name in sorted(group):
            ds = group[name]
            tensor = torch.from_numpy(np.array(ds[()]))
            dtype = str(ds.attrs.get("dtype", ""))
            if dtype.startswith("torch."):
                tensor = tensor.to(getattr(torch, dtype.split(".", 1)[1]))
            out[str(ds.attrs["key"])] = tensor
        return out

    # -- durability -----------------------------------------------------------

    def commit(self) -> None:
        """Write the in-memory file atomically: temp file, fsync, rename, fsync folder."""
        if self._buffer is None:
            raise RunFileError(f"{self.path} is open read-only")
        self._h5.flush()
        image = self._buffer.getvalue()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(image)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        try:
            fd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:  # some platforms cannot open folders
            fd = None
        if fd is not None:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._dirty = False

    def close(self) -> None:
        try:
            self._h5.close()
        except Exception:  # closing a damaged file may fail; nothing to save
            pass

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


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
