"""The ``npz`` exporter: trained weights as a NumPy ``.npz`` archive plus the architecture as JSON.

Anyone with the plugin that defines the family can rebuild the network and
load the weights, and nothing is unpickled on the way: ``numpy.load`` runs
with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
from copy import deepcopy
from pathlib import Path
from typing import Any, Mapping

import attrs
import numpy as np
import torch

from snas import Architecture, Exporter, SnasError, get_plugin_manager, hookimpl, option


@attrs.frozen
class NpzOptions:
    """Compression and the tolerance of the round-trip check."""

    compressed: bool = option(True, help="Write with numpy.savez_compressed instead of numpy.savez.")
    atol: float = option(1e-6, low=0.0, help="Largest difference allowed between the reloaded and the trained model.")


def load_model(folder: str | Path) -> torch.nn.Module:
    """Rebuild the exported network from ``folder`` (``architecture.json`` + ``weights.npz``), in eval mode."""
    folder = Path(folder)
    info = json.loads((folder / "architecture.json").read_text())
    arch = Architecture.from_dict(info["architecture"])
    model = get_plugin_manager().get_family(arch.family).build(arch, tuple(info["input_shape"]), info["num_classes"])
    with np.load(folder / "weights.npz", allow_pickle=False) as weights:
        model.load_state_dict({name: torch.from_numpy(weights[name]) for name in weights.files})
    return model.eval()


class NpzExporter(Exporter):
    """Weights as NumPy arrays under their ``state_dict`` names; verified by rebuilding the network."""

    name = "npz"
    description = "weights as a NumPy .npz archive and the architecture as JSON (no pickle)"
    suffix = ".npz"
    Options = NpzOptions

    def export(self, model: Any, example_input: Any, out_dir: Path, metadata: Mapping[str, Any]) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        weights = out_dir / "weights.npz"
        arrays = {name: tensor.detach().cpu().numpy() for name, tensor in model.state_dict().items()}
        (np.savez_compressed if self.options.compressed else np.savez)(weights, **arrays)
        arch = metadata["architecture"]
        info = {"architecture": {"family": arch["family"], "params": arch["params"]},
                "input_shape": list(metadata["input_shape"]), "num_classes": metadata["num_classes"]}
        description = out_dir / "architecture.json"
        description.write_text(json.dumps(info, indent=2))
        return [weights, description]

    def verify(self, model: Any, example_input: Any, files: list[Path], out_dir: Path,
               metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Load the archive into a copy of the network and compare outputs; check the architecture file."""
        copy = deepcopy(model).eval()
        with np.load(out_dir / "weights.npz", allow_pickle=False) as weights:
            copy.load_state_dict({name: torch.from_numpy(weights[name]) for name in weights.files})
        with torch.no_grad():
            diff = float((model.eval()(example_input) - copy(example_input)).abs().max())
        if diff > self.options.atol:
            raise SnasError(f"npz: the reloaded weights give outputs {diff:.3g} away from the trained model's")
        info = json.loads((out_dir / "architecture.json").read_text())
        if Architecture.from_dict(info["architecture"]).fingerprint != metadata["architecture"]["fingerprint"]:
            raise SnasError("npz: architecture.json does not describe the exported architecture")
        return {"max_abs_diff": diff, "bytes": sum(p.stat().st_size for p in files)}


@hookimpl
def snas_register_exporters():
    return [NpzExporter]
