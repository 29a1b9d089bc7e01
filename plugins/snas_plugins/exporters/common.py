"""Helpers shared by the built-in exporters (not a plugin).

Every exporter writes its files into one folder; the orchestrator
(:func:`snas_plugins.exporters.run_export.export_run`) adds ``metadata.json``, ``README.md``,
``sample_inputs.npy`` and the ``example.py`` built here, then calls the
exporter's ``verify``, which runs that example in a fresh Python process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch

from snas import SnasError

#: largest batch a dynamic-batch export promises to accept
MAX_BATCH = 4096
#: default tolerance between an exported model and PyTorch (max absolute difference of logits)
ATOL = 1e-4


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the deprecation and tracer warnings export paths emit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def export_program(model: torch.nn.Module, example_input: torch.Tensor, max_batch: int = MAX_BATCH) -> tuple[Any, bool]:
    """``torch.export.export`` with a dynamic batch dimension; ``(program, dynamic)``.

    Falls back to a fixed batch when the model pins the batch size.
    """
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    with quiet():
        try:
            return torch.export.export(model, (example_input,), dynamic_shapes=({0: batch},)), True
        except Exception as dynamic_error:  # the model specializes the batch size
            try:
                return torch.export.export(model, (example_input,)), False
            except Exception as exc:
                raise SnasError(f"torch.export cannot capture the model: {type(exc).__name__}: {exc} "
                                f"(dynamic-batch attempt: {type(dynamic_error).__name__})") from None


def reference_logits(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """PyTorch's logits for ``images`` (no gradient, float32, CPU)."""
    with torch.no_grad():
        return model(images).float().cpu()


def compare(name: str, expected: Any, actual: Any, atol: float = ATOL) -> float:
    """Max absolute difference of two logit arrays; :class:`SnasError` when above ``atol`` or misshaped."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if expected.shape != actual.shape:
        raise SnasError(f"{name}: exported model gave logits of shape {actual.shape}, PyTorch {expected.shape}")
    diff = float(np.max(np.abs(expected - actual))) if expected.size else 0.0
    if not np.isfinite(diff) or diff > atol:
        raise SnasError(f"{name}: exported model differs from PyTorch by {diff:.3g} (tolerance {atol:g})")
    return diff


def run_example(out_dir: Path, timeout: float = 600) -> tuple[np.ndarray, str]:
    """Run ``out_dir/example.py`` in a fresh process; return its logits and its output."""
    script = Path(out_dir) / "example.py"
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "logits.npy"
        env = dict(os.environ)
        env["OMP_NUM_THREADS"] = str(torch.get_num_threads())  # same kernels' reduction order as here
        env["PYTHONWARNINGS"] = "ignore"
        try:
            proc = subprocess.run(
                [sys.executable, str(script), "--save-logits", str(target)],
                cwd=str(out_dir), env=env, capture_output=True, text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise SnasError(f"{script} did not finish within {timeout:.0f} s") from None
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise SnasError(f"{script} failed in a fresh process (exit {proc.returncode}):\n{tail}")
        return np.load(target), proc.stdout


def verify_in_fresh_process(name: str, model: torch.nn.Module, example_input: torch.Tensor, out_dir: Path,
                            atol: float = ATOL) -> dict[str, Any]:
    """Run the example in a new process and compare its logits with PyTorch's."""
    logits, _ = run_example(out_dir)
    diff = compare(f"{name} (fresh process)", reference_logits(model, example_input), logits, atol)
    return {"fresh_process_max_abs_diff": diff}


def file_size(paths: list[Path]) -> int:
    """Total size in bytes."""
    return sum(Path(p).stat().st_size for p in paths)


def require(module: str, extra: str, what: str) -> Any:
    """Import ``module`` or raise a :class:`SnasError` saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise SnasError(
            f"the {what} export needs the optional package {module!r}, which is not installed "
            f"({exc}); install it with: pip install 'snas[{extra}]'"
        ) from None


# -- example.py ---------------------------------------------------------------------

EXAMPLE_TEMPLATE = '''"""Classify the sample validation images with the exported snas model ({fmt}).

Run:  python example.py [--save-logits PATH]

Inputs are float32 arrays of shape (N, {shape}) already normalized as during
training: (pixel - mean) / std per channel, with mean {mean} and std {std}
(see metadata.json). {requirements}
"""

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
METADATA = json.loads((HERE / "metadata.json").read_text())

{loader}

def main(argv):
    images = np.load(HERE / "sample_inputs.npy").astype(np.float32)
    model = load_model()
    logits = np.asarray(predict(model, images), dtype=np.float32)
    if "--save-logits" in argv:
        np.save(argv[argv.index("--save-logits") + 1], logits)
    names = METADATA["class_names"]
    predictions = [int(i) for i in logits.argmax(axis=1)]
    for i, p in enumerate(predictions):
        print(f"image {{i}}: {{names[p]}}")
    expected = METADATA.get("sample_labels")
    if expected:
        right = sum(int(p == t) for p, t in zip(predictions, expected))
        print(f"{{right}} of {{len(expected)}} sample images classified correctly")
    print("predictions:", json.dumps(predictions))


if __name__ == "__main__":
    main(sys.argv[1:])
'''


def example_script(fmt: str, loader: str, metadata: Mapping[str, Any], requirements: str) -> str:
    """A complete example.py: ``loader`` defines ``load_model()`` and ``predict(model, images)``."""
    norm = metadata.get("normalization", {})
    return EXAMPLE_TEMPLATE.format(
        fmt=fmt,
        shape=", ".join(str(v) for v in metadata["input_shape"]),
        mean=list(norm.get("mean", [])),
        std=list(norm.get("std", [])),
        requirements=f"Needs: {requirements}." if requirements else "",
        loader=loader.strip() + "\n",
    )
