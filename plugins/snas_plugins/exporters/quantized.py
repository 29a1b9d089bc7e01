"""Int8 post-training quantization with torchao (PT2E flow), calibrated on validation images.

The float model is captured with ``torch.export``, annotated by torchao's
X86 quantizer (int8 per-channel weights, int8 static activations), calibrated
on validation batches, converted, and saved as a ``.pt2`` program whose
weights are stored as int8.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Mapping

import attrs
import torch

from snas import Exporter, SnasError, hookimpl, option
from snas_plugins.exporters.common import ATOL, compare, example_script, export_program, quiet, \
    reference_logits, require, run_example

LOADER = '''
import torch
import torchao  # noqa: F401  (registers the quantized operators)


def load_model():
    return torch.export.load(str(HERE / "model.int8.pt2")).module()


def predict(model, images):
    with torch.no_grad():
        return model(torch.from_numpy(images)).float().numpy()
'''


@attrs.frozen
class QuantizedOptions:
    """Options of the int8 exporter."""

    calibration_images: int = option(512, low=1, help="Validation images that calibrate the int8 ranges and "
                                                      "measure the accuracy drop.")
    batch_size: int = option(128, low=1, help="Batch size of the calibration and accuracy passes.")
    max_accuracy_drop: float = option(0.05, low=0, help="Largest loss of validation accuracy (a fraction: 0.05 is "
                                                        "5 points) from float to int8; a larger one fails the export.")


def _strip_unused(gm: torch.fx.GraphModule) -> None:
    """Drop parameters and buffers the converted graph no longer reads (the float weights)."""
    used = {n.target for n in gm.graph.nodes if n.op == "get_attr"}
    for name, _ in list(gm.named_parameters()) + list(gm.named_buffers()):
        if name not in used:
            path, _, leaf = name.rpartition(".")
            delattr(gm.get_submodule(path) if path else gm, leaf)


def _tensor_bytes(*groups: Mapping[str, Any]) -> int:
    """Bytes of every tensor in ``groups`` (a program's weights and constants)."""
    return sum(t.numel() * t.element_size() for g in groups for t in g.values() if isinstance(t, torch.Tensor))


def _accuracy(model: Any, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> float:
    right = 0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            logits = model(images[start:start + batch_size])
            right += int((logits.argmax(1) == labels[start:start + batch_size]).sum())
    return right / max(1, len(images))


class QuantizedExporter(Exporter):
    """``model.int8.pt2``: int8 weights and activations, with accuracy before/after and the size saving."""

    name = "quantized"
    description = "int8 post-training quantization (torchao PT2E), calibrated on validation data"
    suffix = ".pt2"
    Options = QuantizedOptions

    def __init__(self, options: Any):
        super().__init__(options)
        self.quantized: Any = None
        self.report: dict[str, Any] = {}

    def _data(self, example_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.validation is not None:
            images, labels = self.validation
            n = self.options.calibration_images
            return images[:n], labels[:n]
        return example_input, None

    def export(self, model: Any, example_input: Any, out_dir: Path, metadata: Mapping[str, Any]) -> list[Path]:
        require("torchao", "quantize", "int8")
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

        images, labels = self._data(example_input)
        program, dynamic = export_program(model, example_input)
        quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
        with quiet():
            try:
                prepared = prepare_pt2e(program.module(), quantizer)
                with torch.no_grad():
                    for start in range(0, len(images), self.options.batch_size):
                        prepared(images[start:start + self.options.batch_size])
                converted = convert_pt2e(prepared)
            except Exception as exc:
                raise SnasError(f"torchao quantization failed: {type(exc).__name__}: {exc}") from None
            _strip_unused(converted)
        self.quantized, _ = export_program(converted, example_input)
        path = Path(out_dir) / "model.int8.pt2"
        with quiet():
            torch.export.save(self.quantized, str(path))
            with tempfile.TemporaryDirectory() as tmp:
                float_path = Path(tmp) / "float.pt2"
                torch.export.save(program, str(float_path))
                float_bytes = float_path.stat().st_size
        int8_bytes = path.stat().st_size
        float_weights = _tensor_bytes(program.state_dict, program.constants)
        int8_weights = _tensor_bytes(self.quantized.state_dict, self.quantized.constants)
        self.report = {
            "method": "torchao PT2E static int8 (X86InductorQuantizer: per-channel weights, per-tensor activations)",
            "calibration_images": int(len(images)),
            "float_file_bytes": float_bytes,
            "int8_file_bytes": int8_bytes,
            "size_reduction": round(1 - int8_bytes / float_bytes, 4),
            "float_weight_bytes": float_weights,
            "int8_weight_bytes": int8_weights,
            "weight_size_reduction": round(1 - int8_weights / float_weights, 4) if float_weights else 0.0,
            "dynamic_batch": dynamic,
        }
        if labels is not None:
            module = self.quantized.module()
            before = _accuracy(model, images, labels, self.options.batch_size)
            after = _accuracy(module, images, labels, self.options.batch_size)
            self.report.update({"accuracy_images": int(len(images)), "accuracy_before": before,
                                "accuracy_after": after})
        return [path]

    def example_script(self, files: list[Path], metadata: Mapping[str, Any]) -> str:
        return example_script("int8, torch.export", LOADER, metadata, "numpy, torch and torchao")

    def verify(self, model: Any, example_input: Any, files: list[Path], out_dir: Path,
               metadata: Mapping[str, Any]) -> dict[str, Any]:
        with torch.no_grad():
            expected = self.quantized.module()(example_input).float()
        logits, _ = run_example(out_dir)
        diff = compare("quantized (fresh process)", expected, logits, ATOL)
        agreement = float((torch.from_numpy(logits).argmax(1) == reference_logits(model, example_input).argmax(1))
                          .float().mean())
        report = {**self.report, "fresh_process_max_abs_diff": diff, "sample_agreement_with_float": agreement}
        if "accuracy_after" in report:
            drop = report["accuracy_before"] - report["accuracy_after"]
            if drop > self.options.max_accuracy_drop:
                raise SnasError(f"quantized: int8 validation accuracy {report['accuracy_after']:.4f} is "
                                f"{drop:.4f} below the float model's {report['accuracy_before']:.4f} "
                                f"(max_accuracy_drop {self.options.max_accuracy_drop})")
        return report


@hookimpl
def snas_register_exporters():
    return [QuantizedExporter]
