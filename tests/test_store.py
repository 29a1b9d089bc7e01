"""The run folder: journal, checkpoints, weights, the writer lock, damaged and hostile files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import snas
from snas import Architecture, PendingTrial, RunFileError, Trial
from snas.runtime.store import (
    FORMAT_VERSION, JOURNAL_FILE, JournalReader, RunLocked, RunWriter, encode_line, lock_holder, read_run,
)

DATA = Path(__file__).parent / "data"


def _trial(i: int, score: float | None = 0.5, status: str = "ok") -> Trial:
    return Trial(
        trial_id=i,
        arch=Architecture("mlp", {"num_layers": 1, "hidden_units": [64]}),
        status=status,
        score=score,
        metrics={"test_accuracy": 0.4, "nested": {"a": [1, 2]}},
        curves={"val_acc": [0.1, 0.2, 0.3]},
        error=None if status == "ok" else "ValueError: boom",
        duration=1.5,
    )


def _new(folder: Path) -> tuple[RunWriter, snas.runtime.store.RunLog]:
    return RunWriter.create(folder, run_name="demo", config={"dataset": "digits", "seed": 0}, plugins={},
                            data_info={"input_shape": [1, 8, 8], "num_classes": 10})


def _write_trial(writer, log, trial, weights=None):
    if weights is not None:
        writer.write_weights(trial.trial_id, weights)
    writer.append({"kind": "trial", "trial": trial.to_record(), "weights": weights is not None}, durable=True)
    log.add_trial(trial, weights is not None)


def test_trials_weights_and_snapshots_round_trip(tmp_path):
    writer, log = _new(tmp_path / "run")
    pending = PendingTrial(2, Architecture("mlp", {"num_layers": 2}), 77)
    weights = {"0.weight": torch.randn(3, 4), "0.bias": torch.zeros(3), "n": torch.tensor(7),
               "h": torch.ones(2, dtype=torch.bfloat16)}
    _write_trial(writer, log, _trial(0), weights)
    _write_trial(writer, log, _trial(1, None, "failed"))
    writer.append({"kind": "proposed", "trial": pending.to_record()})
    writer.append({"kind": "snapshot", "told": 2, "asked": 3, "strategy": {"x": [1, 2]}})
    writer.flush()

    for moment in ("journal", "checkpoint"):  # what readers see before and after the journal is folded in
        if moment == "checkpoint":
            log.apply({"kind": "proposed", "trial": pending.to_record()})
            log.apply({"kind": "snapshot", "told": 2, "asked": 3, "strategy": {"x": [1, 2]}})
            writer.checkpoint(log, {0: None})
        again = read_run(tmp_path / "run")
        assert [t.trial_id for t in again.sorted_trials()] == [0, 1]
        assert again.trials[0].curves["val_acc"] == [0.1, 0.2, 0.3]
        assert again.trials[0].metrics["nested"] == {"a": [1, 2]}
        assert again.trials[1].status == "failed" and again.trials[1].error == "ValueError: boom"
        assert again.pending[2].arch == pending.arch and again.pending[2].seed == 77
        assert again.snapshot["strategy"] == {"x": [1, 2]} and again.snapshot["told"] == 2
        assert again.config == {"dataset": "digits", "seed": 0}
        loaded = again.weights(0)
        assert set(loaded) == set(weights)
        assert all(torch.equal(loaded[k], weights[k]) and loaded[k].dtype == weights[k].dtype for k in weights)
    writer.close()
    shutil.rmtree(tmp_path / "run" / "weights")  # the checkpoint holds the weights too: run.h5 stands alone
    assert torch.equal(read_run(tmp_path / "run").weights(0)["0.weight"], weights["0.weight"])


def test_a_torn_last_line_is_not_read_and_is_cut_on_resume(tmp_path):
    writer, log = _new(tmp_path / "run")
    _write_trial(writer, log, _trial(0))
    writer.close()
    journal = tmp_path / "run" / JOURNAL_FILE
    whole = journal.read_bytes()
    line = encode_line({"kind": "trial", "trial": _trial(1).to_record()})
    with open(journal, "ab") as f:
        f.write(line[: len(line) // 2])  # a writer killed in the middle of a write
    assert sorted(read_run(tmp_path / "run").trials) == [0]
    writer, log = RunWriter.open(tmp_path / "run")
    assert journal.read_bytes() == whole and sorted(log.trials) == [0]
    _write_trial(writer, log, _trial(1))
    writer.close()
    assert sorted(read_run(tmp_path / "run").trials) == [0, 1]


def test_a_damaged_line_inside_the_journal_is_a_clear_error(tmp_path):
    writer, log = _new(tmp_path / "run")
    _write_trial(writer, log, _trial(0))
    _write_trial(writer, log, _trial(1))
    writer.close()
    journal = tmp_path / "run" / JOURNAL_FILE
    data = bytearray(journal.read_bytes())
    data[data.index(b'"trial_id":0') + 11] = ord("7")  # flip a digit: the checksum no longer matches
    journal.write_bytes(bytes(data))
    with pytest.raises(RunFileError, match="journal line .* is damaged"):
        read_run(tmp_path / "run")


def test_a_reader_sees_records_as_they_are_flushed(tmp_path):
    writer, log = _new(tmp_path / "run")
    reader = JournalReader(tmp_path / "run" / JOURNAL_FILE)
    writer.append({"kind": "trial", "trial": _trial(0).to_record()})
    assert reader.read() == []  # buffered, not written yet
    writer.flush()
    assert [r["trial"]["trial_id"] for r in reader.read()] == [0]
    _write_trial(writer, log, _trial(1))
    assert [r["trial"]["trial_id"] for r in reader.read()] == [1]
    writer.close()


def test_one_writer_at_a_time(tmp_path):
    writer, _ = _new(tmp_path / "run")
    assert lock_holder(tmp_path / "run")["pid"] == os.getpid()
    with pytest.raises(RunLocked, match=f"being written by process {os.getpid()}"):
        RunWriter.open(tmp_path / "run")
    writer.close()
    assert lock_holder(tmp_path / "run") is None
    RunWriter.open(tmp_path / "run")[0].close()


def test_a_second_snas_process_on_the_same_run_is_refused(tmp_path):
    code = ("import sys, time; from snas.runtime.store import RunWriter\n"
            "w, _ = RunWriter.create(sys.argv[1], run_name='x', config={'dataset': 'digits'}, plugins={},\n"
            "                        data_info={})\n"
            "print('ready', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        resume = subprocess.run([sys.executable, "-m", "snas", "resume", str(tmp_path / "run")],
                                capture_output=True, text=True, timeout=600)
        assert resume.returncode != 0
        assert f"being written by process {holder.pid}" in resume.stderr and "Traceback" not in resume.stderr
    finally:
        holder.kill()
        holder.wait()


def test_a_folder_left_without_run_file_can_be_started_again(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.lock").write_text("{}")  # killed before its run.h5 appeared
    (folder / JOURNAL_FILE).write_bytes(b"junk")
    writer, log = _new(folder)
    writer.close()
    assert read_run(folder).trials == {} and (folder / JOURNAL_FILE).read_bytes() == b""


def test_create_refuses_to_overwrite(tmp_path):
    _new(tmp_path / "run")[0].close()
    with pytest.raises(RunFileError, match="already exists"):
        _new(tmp_path / "run")


def test_run_files_hold_no_pickled_objects(tmp_path):
    """Every dataset is numbers or UTF-8 text: nothing a loader would unpickle."""
    writer, log = _new(tmp_path / "run")
    _write_trial(writer, log, _trial(0), {"w": torch.ones(2)})
    writer.checkpoint(log, {0: None})
    writer.close()
    kinds = set()

    def visit(_name, obj):
        if isinstance(obj, h5py.Dataset):
            kinds.add(obj.dtype.kind)
            assert obj.dtype.kind in "fiubO" and (obj.dtype.kind != "O" or h5py.check_string_dtype(obj.dtype))

    for file in (tmp_path / "run" / "run.h5", tmp_path / "run" / "weights" / "0.h5"):
        with h5py.File(file, "r") as f:
            f.visititems(visit)
    assert "f" in kinds and "O" in kinds


# -- format 1 (snas 0.1) ---------------------------------------------------------------------


def test_format_1_files_still_open(tmp_path):
    result = snas.load_run(DATA / "run_v1_interrupted.h5")
    expected = json.loads((DATA / "run_v1_expected.json").read_text())
    assert result.format_version == 1 and result.status == "interrupted"
    assert [[t.trial_id, t.fingerprint, t.status, t.score] for t in result.trials] == \
        [row[:4] for row in expected["trials"][:5]]
    assert [p.trial_id for p in result.pending] == [5, 6]
    assert result.best_weights() is not None


@pytest.mark.slow
def test_a_format_1_run_resumes_as_the_uninterrupted_run(tmp_path):
    """The fixture was written by snas 0.1, interrupted inside its second generation.

    The expectation is that run finished by snas 0.1. Its recorded trials (0-4)
    and the two in flight (5, 6) must come out as they did; the generation
    after them is bred with today's search space (the learning rate is tied to
    the optimizer since), so there resuming must only be deterministic.
    """
    torch.set_num_threads(1)
    expected = json.loads((DATA / "run_v1_expected.json").read_text())
    runs = []
    for name in ("old", "again"):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(DATA / "run_v1_interrupted.h5", folder / "run.h5")
        resumed = snas.resume(folder)
        assert resumed.format_version == FORMAT_VERSION and (folder / "run.v1.h5").exists()
        runs.append([[t.trial_id, t.fingerprint, t.status, t.score, t.cached_from] for t in resumed.trials])
    assert runs[0][:7] == expected["trials"][:7]
    assert len(runs[0]) == len(expected["trials"]) and all(row[2] == "ok" for row in runs[0])
    assert runs[1] == runs[0]


# -- damaged and hostile files, through the CLI ------------------------------------------------


def _good_run(folder: Path) -> Path:
    writer, log = _new(folder)
    _write_trial(writer, log, _trial(0), {"w": torch.ones(2)})
    writer.checkpoint(log, {0: None})
    writer.close()
    shutil.rmtree(folder / "weights")
    (folder / JOURNAL_FILE).unlink()
    return folder / "run.h5"


def _damage(path: Path, how: str) -> None:
    if how == "garbage":
        path.write_bytes(b"this is not hdf5" * 100)
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:700])
    elif how == "foreign":
        path.unlink()
        with h5py.File(path, "w") as f:
            f["x"] = [1, 2, 3]
    elif how == "claims to be a run":
        path.unlink()
        with h5py.File(path, "w") as f:
            f.attrs["format"] = "snas-run"
            f.attrs["format_version"] = 2
    else:
        with h5py.File(path, "r+") as f:
            if how == "newer":
                f.attrs["format_version"] = FORMAT_VERSION + 1
            elif how == "version is text":
                f.attrs["format_version"] = "two"
            elif how == "config not JSON":
                del f["config"]
                f["config"] = "{not json"
            elif how == "config is a number":
                del f["config"]
                f["config"] = np.int64(3)
            elif how == "deeply nested JSON":
                del f["config"]
                f.create_dataset("config", data="[" * 100_000 + "]" * 100_000, dtype=h5py.string_dtype())
            elif how == "records are numbers":
                del f["trials/records"]
                f["trials/records"] = np.arange(3)
            elif how == "record not a trial":
                del f["trials/records"]
                f.create_dataset("trials/records", data=np.array(['{"trial_id": "x"}'], dtype=object),
                                 dtype=h5py.string_dtype())
            elif how == "no trials group":
                del f["trials"]
            elif how == "huge attribute":
                f.attrs["run_name"] = np.zeros(1000, dtype=np.int64)
            elif how == "unknown tensor dtype":
                f["weights/0/00000"].attrs["dtype"] = "torch.float1024"


DAMAGES = ["garbage", "truncated", "foreign", "claims to be a run", "newer", "version is text", "config not JSON",
           "config is a number", "deeply nested JSON", "records are numbers", "record not a trial", "no trials group",
           "huge attribute"]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_run_file_is_refused_with_one_clear_line(tmp_path, how):
    path = _good_run(tmp_path / "run")
    _damage(path, how)
    with pytest.raises(RunFileError):
        snas.load_run(path)


def test_damaged_files_through_the_cli_give_one_line_and_no_traceback(tmp_path):
    """One subprocess that opens every damaged file: `snas show` on each (a traceback would be a failure)."""
    paths = []
    for how in DAMAGES:
        path = _good_run(tmp_path / how.replace(" ", "-"))
        _damage(path, how)
        paths.append(str(path))
    code = ("import sys\nfrom click.testing import CliRunner\nfrom snas.frontends.cli import cli\n"
            "import json\n"
            "for p in sys.argv[1:]:\n"
            "    r = CliRunner().invoke(cli, ['show', p])\n"
            "    print(json.dumps([r.exit_code, r.output.strip(), type(r.exception).__name__]))\n")
    out = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, timeout=300)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == len(DAMAGES), out.stderr
    for how, line in zip(DAMAGES, lines):
        code, message, exc = json.loads(line)
        assert code == 1 and exc == "SystemExit", (how, line)
        assert "\n" not in message and message.startswith("Error: ") and "Traceback" not in message, (how, line)


def test_damaged_weights_are_a_clear_error(tmp_path):
    path = _good_run(tmp_path / "run")
    _damage(path, "unknown tensor dtype")
    result = snas.load_run(path)
    assert [t.trial_id for t in result.trials] == [0]  # the trials still read
    with pytest.raises(RunFileError, match="unknown dtype 'torch.float1024'"):
        result.weights(0)
