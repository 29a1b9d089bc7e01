"""torch.export program (``.pt2``) with a dynamic batch dimension."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import attrs
import torch

from snas import Exporter, hookimpl, option
from snas_plugins.exporters.common import ATOL, compare, example_script, export_program, quiet, \
    reference_logits, verify_in_fresh_process

LOADER = '''
import torch


def load_model():
    return torch.export.load(str(HERE / "model.pt2")).module()


def predict(model, images):
    with torch.no_grad():
        return model(torch.from_numpy(images)).float().numpy()
'''


@attrs.frozen
class Pt2Options:
    """Options of the torch.export exporter."""

    atol: float = option(ATOL, help="Largest absolute logit difference from PyTorch that the checks accept.")


class Pt2Exporter(Exporter):
    """``model.pt2`` written by ``torch.export.save``; load with ``torch.export.load``."""

    name = "pt2"
    description = "torch.export program (.pt2) with a dynamic batch, checked in a fresh process"
    suffix = ".pt2"
    Options = Pt2Options

    def __init__(self, options: Any):
        super().__init__(options)
        self.dynamic_batch = False

    def export(self, model: Any, example_input: Any, out_dir: Path, metadata: Mapping[str, Any]) -> list[Path]:
        path = Path(out_dir) / "model.pt2"
        program, self.dynamic_batch = export_program(model, example_input)
        with quiet():
            torch.export.save(program, str(path))
        return [path]

    def example_script(self, files: list[Path], metadata: Mapping[str, Any]) -> str:
        return example_script("torch.export", LOADER, metadata, "numpy and torch")

    def verify(self, model: Any, example_input: Any, files: list[Path], out_dir: Path,
               metadata: Mapping[str, Any]) -> dict[str, Any]:
        expected = reference_logits(model, example_input)
        with quiet(), torch.no_grad():
            loaded = torch.export.load(str(files[0])).module()
            diff = compare("pt2", expected, loaded(example_input), self.options.atol)
            if self.dynamic_batch:
                compare("pt2 (batch of 1)", expected[:1], loaded(example_input[:1]), self.options.atol)
        return {"max_abs_diff": diff, "dynamic_batch": self.dynamic_batch,
                **verify_in_fresh_process("pt2", model, example_input, out_dir, self.options.atol)}


@hookimpl
def snas_register_exporters():
    return [Pt2Exporter]
