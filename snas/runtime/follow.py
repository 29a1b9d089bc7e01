"""Follow a run from another process while it is being written (``snas show --follow``, the web UI)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import attrs

from snas.contracts.errors import RunFileError
from snas.contracts.records import PendingTrial, Trial, TrialProgress
from snas.runtime.store import (
    FINAL_STATUSES, JOURNAL_FILE, RUN_FILE, JournalReader, RunLog, _read_checkpoint, lock_holder, read_live,
)


@attrs.frozen
class RunEvent:
    """Something that happened in a run.

    ``kind`` is ``"trial"`` (a trial finished: ``trial``), ``"proposed"`` (a
    trial was numbered and will run: ``pending``), ``"generation"``
    (``generation``: its number, trial ids and progress figures),
    ``"progress"`` (a running trial's ``progress``), ``"status"`` (the run
    started, resumed or ended: ``status``).
    """

    kind: str
    trial: Trial | None = None
    pending: PendingTrial | None = None
    progress: TrialProgress | None = None
    generation: dict[str, Any] | None = None
    status: str | None = None


def _event(record: dict[str, Any]) -> RunEvent | None:
    kind = record["kind"]
    if kind == "trial":
        return RunEvent("trial", trial=Trial.from_record(record["trial"]))
    if kind == "proposed":
        return RunEvent("proposed", pending=PendingTrial.from_record(record["trial"]))
    if kind == "generation":
        return RunEvent("generation", generation={k: record[k] for k in ("generation", "trials", "progress")})
    if kind == "status":
        return RunEvent("status", status=str(record["status"]))
    if kind == "session":
        return RunEvent("status", status="running")
    return None


def follow(path: str | Path, *, progress: bool = False, poll: float = 0.2,
           wait: float = 30.0) -> Iterator[RunEvent]:
    """Yield a run's events as they land, like ``tail -f``.

    First the trials already finished (in trial-id order), then every event
    as the writer records it, until the run ends (a final status, or no
    process holds the run any more); the last event is always a ``"status"``
    event with the run's status as it stands then. With ``progress``, also the in-flight
    trials' progress (from ``live.json``, sampled every ``poll`` seconds).
    ``path`` is a run file or folder; a run not created yet is waited for up
    to ``wait`` seconds. Reading never blocks or disturbs the writer.
    """
    path = Path(path)
    run_file = path / RUN_FILE if path.suffix != ".h5" else path
    deadline = time.monotonic() + wait
    while not run_file.exists():
        if time.monotonic() > deadline:
            raise RunFileError(f"run file {run_file} does not exist")
        time.sleep(poll)
    log: RunLog = _read_checkpoint(run_file)
    for trial in log.sorted_trials():
        yield RunEvent("trial", trial=trial)
    if log.format_version < 2:
        yield RunEvent("status", status=log.status)
        return
    if log.status in FINAL_STATUSES:
        yield RunEvent("status", status=log.status)
    reader = JournalReader(run_file.parent / JOURNAL_FILE, log.journal_offset)
    status = log.status
    seen_progress: dict[int, float] = {}
    records = reader.read()
    while True:
        for record in records:
            event = _event(record)
            if event is None:
                continue
            if event.kind == "status":
                status = event.status
            yield event
        if progress:
            live = read_live(run_file.parent) or {}
            for item in live.get("in_flight", []):
                info = item.get("progress")
                if info and seen_progress.get(item["trial_id"]) != info.get("time"):
                    seen_progress[item["trial_id"]] = info.get("time")
                    yield RunEvent("progress", progress=TrialProgress(**info))
        if not records and (status in FINAL_STATUSES or lock_holder(run_file.parent) is None):
            records = reader.read()  # whatever landed between the last read and the check
            if not records:
                if status not in FINAL_STATUSES:
                    yield RunEvent("status", status=status)  # the writer is gone without a final word
                return
            continue
        if not records:
            time.sleep(poll)
        records = reader.read()


__all__ = ["RunEvent", "follow"]
