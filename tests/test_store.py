"""The HDF5 run store: format checks, damaged files, and what it keeps."""

from __future__ import annotations

import h5py
import pytest
import torch

import snas
from snas import Architecture, RunFileError, Trial
from snas.store import FORMAT_VERSION, RunStore


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


def test_trials_weights_and_state_round_trip(tmp_path):
    path = tmp_path / "run.h5"
    store = RunStore.create(path, "demo")
    store.set_config({"dataset": "digits"})
    store.add_trial(_trial(0))
    store.add_trial(_trial(1, None, "failed"))
    weights = {"0.weight": torch.randn(3, 4), "0.bias": torch.zeros(3), "n": torch.tensor(7)}
    store.set_best(0, weights)
    store.set_engine_state({"strategy": {"x": [1, 2]}, "pending": []})
    store.commit()
    store.close()

    with RunStore.open(path) as again:
        trials = again.trials()
        assert [t.trial_id for t in trials] == [0, 1]
        assert trials[0].curves["val_acc"] == [0.1, 0.2, 0.3]
        assert trials[0].metrics["nested"] == {"a": [1, 2]}
        assert trials[1].status == "failed" and trials[1].error == "ValueError: boom"
        loaded = again.best_weights()
        assert set(loaded) == set(weights)
        assert all(torch.equal(loaded[k], weights[k]) and loaded[k].dtype == weights[k].dtype for k in weights)
        assert again.engine_state()["strategy"] == {"x": [1, 2]}
        assert again.config() == {"dataset": "digits"}


def test_uncommitted_changes_never_reach_the_file(tmp_path):
    path = tmp_path / "run.h5"
    store = RunStore.create(path, "demo")
    store.add_trial(_trial(0))
    store.commit()
    store.add_trial(_trial(1))  # not committed: as if the process died here
    with RunStore.open(path) as reader:
        assert reader.trial_ids() == [0]
    store.close()


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "run.h5"
    store = RunStore.create(path, "demo")
    store.add_trial(_trial(0))
    store.commit()
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RunFileError, match="not a readable snas run file"):
        snas.load_run(path)


def test_garbage_and_foreign_files_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"this is not hdf5" * 100)
    with pytest.raises(RunFileError, match="junk.h5"):
        snas.load_run(junk)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = [1, 2, 3]
    with pytest.raises(RunFileError, match="not an snas run file"):
        snas.load_run(foreign)
    with pytest.raises(RunFileError, match="does not exist"):
        snas.load_run(tmp_path / "missing.h5")


def test_newer_format_is_refused_with_upgrade_advice(tmp_path):
    path = tmp_path / "run.h5"
    RunStore.create(path, "demo").close()
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(RunFileError, match="newer snas.*upgrade snas"):
        snas.load_run(path)


def test_create_refuses_to_overwrite(tmp_path):
    path = tmp_path / "run.h5"
    RunStore.create(path, "demo").close()
    with pytest.raises(RunFileError, match="already exists"):
        RunStore.create(path, "demo")


def test_run_file_holds_no_pickled_objects(tmp_path):
    """Every dataset is numbers or UTF-8 text: nothing a loader would unpickle."""
    path = tmp_path / "run.h5"
    store = RunStore.create(path, "demo")
    store.add_trial(_trial(0))
    store.set_best(0, {"w": torch.ones(2)})
    store.commit()
    store.close()
    kinds = set()

    def visit(_name, obj):
        if isinstance(obj, h5py.Dataset):
            kinds.add(obj.dtype.kind)
            assert obj.dtype.kind in "fiubO" and (obj.dtype.kind != "O" or h5py.check_string_dtype(obj.dtype))

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    assert "f" in kinds and "O" in kinds
