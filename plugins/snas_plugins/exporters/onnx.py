"""ONNX export through torch.export (the dynamo exporter), verified in onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import attrs
import torch

from snas import Exporter, SnasError, hookimpl, option
from snas_plugins.exporters.common import ATOL, MAX_BATCH, compare, example_script, quiet, reference_logits, \
    require, verify_in_fresh_process

LOADER = '''
import onnxruntime as ort


def load_model():
    return ort.InferenceSession(str(HERE / "model.onnx"), providers=["CPUExecutionProvider"])


def predict(session, images):
    name = session.get_inputs()[0].name
    return session.run(None, {name: images})[0]
'''


@attrs.frozen
class OnnxOptions:
    """Options of the ONNX exporter."""

    opset: int | None = option(None, help="ONNX opset version to write; none: the exporter's default.")
    atol: float = option(ATOL, help="Largest absolute logit difference from PyTorch that the checks accept.")


class OnnxExporter(Exporter):
    """One self-contained ``model.onnx`` with a dynamic batch dimension."""

    name = "onnx"
    description = "ONNX model (torch.export-based exporter), checked in onnxruntime"
    suffix = ".onnx"
    Options = OnnxOptions

    def export(self, model: Any, example_input: Any, out_dir: Path, metadata: Mapping[str, Any]) -> list[Path]:
        require("onnxscript", "export", "ONNX")
        onnx = require("onnx", "export", "ONNX")
        path = Path(out_dir) / "model.onnx"
        batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
        kwargs = {"opset_version": self.options.opset} if self.options.opset else {}
        with quiet():
            try:
                program = torch.onnx.export(
                    model, (example_input,), dynamo=True, dynamic_shapes=({0: batch},),
                    input_names=["input"], output_names=["logits"], verbose=False, **kwargs,
                )
            except Exception as exc:
                raise SnasError(f"torch.onnx.export failed: {type(exc).__name__}: {exc}") from None
            program.save(str(path), external_data=False)
        onnx.checker.check_model(str(path), full_check=True)
        return [path]

    def example_script(self, files: list[Path], metadata: Mapping[str, Any]) -> str:
        return example_script("ONNX", LOADER, metadata, "numpy and onnxruntime (pip install onnxruntime)")

    def verify(self, model: Any, example_input: Any, files: list[Path], out_dir: Path,
               metadata: Mapping[str, Any]) -> dict[str, Any]:
        ort = require("onnxruntime", "export", "ONNX")
        session = ort.InferenceSession(str(files[0]), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        expected = reference_logits(model, example_input)
        diff = compare("onnx", expected, session.run(None, {name: example_input.numpy()})[0], self.options.atol)
        # a different batch size proves the batch dimension is dynamic
        one = session.run(None, {name: example_input[:1].numpy()})[0]
        compare("onnx (batch of 1)", expected[:1], one, self.options.atol)
        return {"max_abs_diff": diff, "dynamic_batch": True,
                **verify_in_fresh_process("onnx", model, example_input, out_dir, self.options.atol)}


@hookimpl
def snas_register_exporters():
    return [OnnxExporter]
