"""ExecuTorch ``.pte`` program lowered to the XNNPACK backend, for phones and embedded CPUs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import attrs

from snas import Exporter, SnasError, hookimpl, option
from snas_plugins.exporters.common import ATOL, compare, example_script, export_program, quiet, \
    reference_logits, require, verify_in_fresh_process

LOADER = '''
import torch
from executorch.runtime import Runtime


def load_model():
    return Runtime.get().load_program(str(HERE / "model.pte")).load_method("forward")


def predict(method, images):
    step = METADATA["exporter_options"]["max_batch"]  # the largest batch the program was planned for
    return np.concatenate([method.execute([torch.from_numpy(images[i:i + step])])[0].float().numpy()
                           for i in range(0, len(images), step)])
'''

INSTALL_HINT = "pip install 'snas[mobile]' (or: pip install executorch)"


@attrs.frozen
class MobileOptions:
    """Options of the ExecuTorch exporter."""

    max_batch: int = option(64, low=1, help="Largest batch the .pte program accepts (its memory is planned for "
                                            "it; the example feeds larger sets in chunks of this size).")
    atol: float = option(ATOL, help="Largest absolute logit difference from PyTorch that the checks accept.")


def load_executorch() -> tuple[Any, Any]:
    """``(to_edge_transform_and_lower, XnnpackPartitioner)`` or a clear error saying how to install ExecuTorch."""
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
    except ImportError as exc:
        raise SnasError(f"the mobile export needs ExecuTorch, which is not installed ({exc}); "
                        f"install it with: {INSTALL_HINT}") from None
    return to_edge_transform_and_lower, XnnpackPartitioner


class MobileExporter(Exporter):
    """``model.pte`` for the ExecuTorch runtime, XNNPACK-delegated."""

    name = "mobile"
    description = "ExecuTorch .pte lowered with XNNPACK (optional extra: snas[mobile])"
    suffix = ".pte"
    Options = MobileOptions

    def __init__(self, options: Any):
        super().__init__(options)
        self.dynamic_batch = False

    def export(self, model: Any, example_input: Any, out_dir: Path, metadata: Mapping[str, Any]) -> list[Path]:
        to_edge_transform_and_lower, XnnpackPartitioner = load_executorch()
        sample = example_input[: self.options.max_batch]
        program, self.dynamic_batch = export_program(model, sample, max_batch=self.options.max_batch)
        with quiet():
            try:
                lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
            except Exception as exc:
                raise SnasError(f"ExecuTorch lowering failed: {type(exc).__name__}: {exc}") from None
        path = Path(out_dir) / "model.pte"
        path.write_bytes(lowered.buffer)
        return [path]

    def example_script(self, files: list[Path], metadata: Mapping[str, Any]) -> str:
        return example_script("ExecuTorch, XNNPACK", LOADER, metadata, f"numpy, torch and executorch ({INSTALL_HINT})")

    def verify(self, model: Any, example_input: Any, files: list[Path], out_dir: Path,
               metadata: Mapping[str, Any]) -> dict[str, Any]:
        require("executorch.runtime", "mobile", "mobile")
        from executorch.runtime import Runtime

        sample = example_input[: self.options.max_batch]
        expected = reference_logits(model, sample)
        with quiet():
            method = Runtime.get().load_program(str(files[0])).load_method("forward")
            diff = compare("mobile", expected, method.execute([sample])[0], self.options.atol)
        return {"max_abs_diff": diff, "dynamic_batch": self.dynamic_batch, "max_batch": self.options.max_batch,
                **verify_in_fresh_process("mobile", model, example_input, out_dir, self.options.atol)}


@hookimpl
def snas_register_exporters():
    return [MobileExporter]
