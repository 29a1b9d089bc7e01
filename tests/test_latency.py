"""Measured inference latency: the timing rule, onnxruntime and PyTorch eager on a real model, the
record of how it was measured, and the trainer's ``measure_latency`` option in a real search."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

import snas
from snas.frontends.cli import plan_from_args
from snas_plugins.evaluators import latency
from snas_plugins.evaluators.latency import measure_latency, onnx_session, time_runs


def small_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))


def test_time_runs_warms_up_then_takes_the_median_of_single_runs(monkeypatch):
    calls = []
    # each timed run reads the clock twice; the three runs take 5, 1 and 3 ms
    ticks = iter([0, 5_000_000, 10_000_000, 11_000_000, 20_000_000, 23_000_000])
    monkeypatch.setattr(latency.time, "perf_counter_ns", lambda: next(ticks))
    timing = time_runs(lambda: calls.append(1), warmup=4, repeats=3)
    assert len(calls) == 7
    assert timing == {"median": 3.0, "min": 1.0, "p90": 5.0}


def test_latency_of_a_real_model_in_both_runtimes_and_how_it_was_measured():
    model = small_model().train()
    metrics = measure_latency(model, (1, 8, 8), batch_size=4, warmup=2, repeats=7)
    assert metrics["latency_ms"] > 0 and metrics["latency_ms_torch"] > 0
    how = metrics["latency_measurement"]
    assert {k: how[k] for k in ("batch_size", "threads", "warmup", "repeats", "statistic")} == {
        "batch_size": 4, "threads": 1, "warmup": 2, "repeats": 7, "statistic": "median"}
    assert how["onnxruntime_version"] == ort.__version__ and how["torch_version"] == torch.__version__
    assert how["onnxruntime_min_ms"] <= metrics["latency_ms"] <= how["onnxruntime_p90_ms"]
    assert how["torch_min_ms"] <= metrics["latency_ms_torch"] <= how["torch_p90_ms"]
    assert "onnxruntime_error" not in how
    assert model.training  # the caller's model is left as it was
    # the session runs the model itself, for the fixed batch size
    example = torch.randn(4, 1, 8, 8)
    session = onnx_session(model.eval(), example, threads=1)
    assert session.get_inputs()[0].shape == [4, 1, 8, 8]
    with torch.no_grad():
        expected = model(example).numpy()
    np.testing.assert_allclose(session.run(None, {"input": example.numpy()})[0], expected, atol=1e-5)


def test_a_model_onnxruntime_cannot_run_is_timed_in_torch_and_says_why(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise RuntimeError("no ONNX kernel for aten::weird\nmore detail")

    monkeypatch.setattr(latency, "onnx_session", refuse)
    metrics = measure_latency(small_model(), (1, 8, 8), warmup=1, repeats=3)
    assert "latency_ms" not in metrics and metrics["latency_ms_torch"] > 0
    assert metrics["latency_measurement"]["onnxruntime_error"] == "RuntimeError: no ONNX kernel for aten::weird"


def test_the_trainer_options_reach_the_measurement_from_the_command_line():
    plan = plan_from_args(["--measure-latency", "--latency-batch-size", "8"])
    options = plan["evaluator"].options
    assert options.measure_latency is True and options.latency_batch_size == 8
    assert plan_from_args([])["evaluator"].options.measure_latency is False


@pytest.mark.slow
def test_a_search_measures_latency_per_trial_and_constrains_on_it(tmp_path):
    result = snas.search(dataset="digits", strategy="random", max_trials=3, seed=0, run_dir=tmp_path / "run",
                         network_types=["cnn", "mlp"], evaluator_options={"max_epochs": 1, "measure_latency": True},
                         objectives=["val_accuracy:max", "latency_ms:min"], constraints=["latency_ms<=1000"])
    assert all(t.ok for t in result.trials)
    for t in result.trials:
        assert t.metrics["latency_ms"] > 0 and t.metrics["latency_ms_torch"] > 0
        assert t.metrics["latency_measurement"]["batch_size"] == 1
    assert result.front and all(t.metrics["latency_ms"] <= 1000 for t in result.front)
    reread = snas.load_run(result.path)
    assert reread.trials[0].metrics["latency_measurement"] == result.trials[0].metrics["latency_measurement"]
