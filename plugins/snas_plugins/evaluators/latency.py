"""Inference latency of a trained model on this machine's CPU, in onnxruntime and in PyTorch eager.

How it is measured (:func:`measure_latency`): the model, in float32 and
``eval()`` mode, is exported to ONNX (the torch.export-based exporter) for a
fixed batch size and run in an onnxruntime CPU session with ``threads``
intra-op threads, all graph optimizations and sequential execution; the same
model is run in PyTorch eager under ``torch.inference_mode`` with
``torch.set_num_threads(threads)``. Each runtime first runs ``warmup``
batches untimed, then ``repeats`` batches each timed on its own with
``time.perf_counter_ns``; the latency is the median, in milliseconds per
batch. The input is a fixed batch of normal noise (latency does not depend
on the pixel values).

The metrics: ``latency_ms`` (onnxruntime), ``latency_ms_torch`` (eager), and
``latency_measurement``, a record of the setting (batch size, threads,
warm-up, repeats, the runtimes' versions, the CPU) with the fastest and the
90th-percentile run of each runtime. A runtime that cannot run the model
leaves its metric out and says why in ``latency_measurement`` (a constraint
on that metric then counts the trial as infeasible).
"""

from __future__ import annotations

import copy
import os
import platform
import statistics
import time
from typing import Any, Callable

import torch

#: the defaults of a measurement
BATCH_SIZE = 1
THREADS = 1
WARMUP = 10
REPEATS = 50


def time_runs(run: Callable[[], Any], warmup: int = WARMUP, repeats: int = REPEATS) -> dict[str, float]:
    """``run()`` ``warmup`` times untimed, then ``repeats`` times timed one by one: median, min and p90 in ms."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        run()
        times.append((time.perf_counter_ns() - start) / 1e6)
    times.sort()
    return {"median": statistics.median(times), "min": times[0],
            "p90": times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]}


def onnx_session(model: torch.nn.Module, example: torch.Tensor, threads: int) -> Any:
    """An onnxruntime CPU session of ``model`` exported for inputs shaped like ``example``."""
    import onnxruntime as ort

    from snas_plugins.exporters.common import quiet

    with quiet():
        program = torch.onnx.export(model, (example,), dynamo=True, input_names=["input"], output_names=["logits"],
                                    verbose=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(program.model_proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def measure_latency(model: torch.nn.Module, input_shape: tuple[int, ...], *, batch_size: int = BATCH_SIZE,
                    threads: int = THREADS, warmup: int = WARMUP, repeats: int = REPEATS) -> dict[str, Any]:
    """Median latency (ms per batch of ``batch_size``) of ``model`` in onnxruntime and PyTorch eager on the CPU.

    Returns the metrics ``latency_ms``, ``latency_ms_torch`` and ``latency_measurement`` (see the module).
    The model is copied to the CPU in float32; ``model`` itself is left as it was.
    """
    import onnxruntime as ort

    model = copy.deepcopy(model).float().cpu().eval()
    example = torch.randn(batch_size, *input_shape, generator=torch.Generator().manual_seed(0))
    setup: dict[str, Any] = {
        "batch_size": batch_size, "threads": threads, "warmup": warmup, "repeats": repeats,
        "statistic": "median", "unit": "ms per batch", "input_shape": list(input_shape),
        "onnxruntime_version": ort.__version__, "torch_version": torch.__version__,
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
    }
    metrics: dict[str, Any] = {}
    try:
        session = onnx_session(model, example, threads)
        feed = {session.get_inputs()[0].name: example.numpy()}
        timing = time_runs(lambda: session.run(None, feed), warmup, repeats)
        metrics["latency_ms"] = timing["median"]
        setup.update(onnxruntime_min_ms=timing["min"], onnxruntime_p90_ms=timing["p90"])
    except Exception as exc:  # an operator onnxruntime lacks must not fail the trial
        setup["onnxruntime_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            timing = time_runs(lambda: model(example), warmup, repeats)
        metrics["latency_ms_torch"] = timing["median"]
        setup.update(torch_min_ms=timing["min"], torch_p90_ms=timing["p90"])
    finally:
        torch.set_num_threads(previous)
    metrics["latency_measurement"] = setup
    return metrics


def trained_latency(family: Any, arch: Any, data: Any, weights: dict[str, Any],
                    batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """:func:`measure_latency` of ``arch`` built by ``family`` for ``data`` with trained ``weights``."""
    model = family.build(arch, data.input_shape, data.num_classes)
    model.load_state_dict(weights)
    return measure_latency(model, data.input_shape, batch_size=batch_size)
