"""TorchScript export: a scripted (or, failing that, traced) module saved with ``torch.jit.save``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import attrs
import torch

from snas import Exporter, SnasError, hookimpl, option
from snas_plugins.exporters.common import ATOL, compare, example_script, quiet, reference_logits, \
    verify_in_fresh_process

LOADER = '''
import torch


def load_model():
    return torch.jit.load(str(HERE / "model.torchscript.pt"), map_location="cpu").eval()


def predict(model, images):
    with torch.no_grad():
        return model(torch.from_numpy(images)).float().numpy()
'''


@attrs.frozen
class TorchScriptOptions:
    """Options of the TorchScript exporter."""

    method: str = option("auto", choices=("auto", "script", "trace"),
                         help="torch.jit.script, torch.jit.trace, or auto: script, else trace.")
    atol: float = option(ATOL, help="Largest absolute logit difference from PyTorch that the checks accept.")


class TorchScriptExporter(Exporter):
    """``model.torchscript.pt`` for ``torch.jit.load`` (deprecated upstream, still widely deployed)."""

    name = "torchscript"
    description = "TorchScript module (torch.jit.save), checked in a fresh process"
    suffix = ".pt"
    Options = TorchScriptOptions

    def __init__(self, options: Any):
        super().__init__(options)
        self.method_used: str | None = None

    def export(self, model: Any, example_input: Any, out_dir: Path, metadata: Mapping[str, Any]) -> list[Path]:
        path = Path(out_dir) / "model.torchscript.pt"
        errors = []
        methods = ("script", "trace") if self.options.method == "auto" else (self.options.method,)
        module = None
        with quiet():
            for method in methods:
                try:
                    if method == "script":
                        module = torch.jit.script(model)
                    else:
                        module = torch.jit.trace(model, (example_input,), check_trace=False)
                    # a scripted module that cannot run, or a trace that pinned the batch size, is rejected
                    expected = reference_logits(model, example_input)
                    with torch.no_grad():
                        compare(f"torchscript ({method})", expected, module(example_input), self.options.atol)
                        compare(f"torchscript ({method}, batch of 1)", expected[:1], module(example_input[:1]),
                                self.options.atol)
                    self.method_used = method
                    break
                except Exception as exc:
                    errors.append(f"{method}: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
                    module = None
            if module is None:
                raise SnasError("TorchScript cannot capture the model (" + "; ".join(errors) + ")")
            torch.jit.save(module, str(path))
        return [path]

    def example_script(self, files: list[Path], metadata: Mapping[str, Any]) -> str:
        return example_script("TorchScript", LOADER, metadata, "numpy and torch")

    def verify(self, model: Any, example_input: Any, files: list[Path], out_dir: Path,
               metadata: Mapping[str, Any]) -> dict[str, Any]:
        return {"method": self.method_used,
                **verify_in_fresh_process("torchscript", model, example_input, out_dir, self.options.atol)}


@hookimpl
def snas_register_exporters():
    return [TorchScriptExporter]
