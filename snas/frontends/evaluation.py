"""Evaluate one given architecture: ``snas.evaluate`` and ``snas evaluate ARCH.json``.

Trains the architecture once with the full protocol of the chosen evaluator
(``train`` by default) on a data set and returns every metric it reports —
for the trainer: validation and test accuracy, precision / recall / F1
(macro and weighted), the confusion matrix, ROC AUC and curves, top-k
accuracy, parameters and FLOPs — as one flat, JSON-able dictionary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from snas.runtime.config import make_options
from snas.runtime.devices import resolve_device
from snas.contracts.errors import InvalidArchitecture
from snas.runtime.plugins import PluginManager, get_plugin_manager
from snas.contracts.space import Architecture


def load_architecture(source: Architecture | Mapping[str, Any] | str | Path) -> Architecture:
    """An architecture from an :class:`Architecture`, a ``{"family", "params"}`` mapping, JSON text or a JSON file.

    The file is what ``best_architecture.json`` and ``snas show`` hold; a
    whole trial summary (with an ``architecture`` key) is accepted too.
    """
    if isinstance(source, Architecture):
        return source
    if isinstance(source, Mapping):
        data = dict(source)
    else:
        text = str(source)
        if isinstance(source, Path) or not text.lstrip().startswith("{"):
            path = Path(text)
            if not path.is_file():
                raise InvalidArchitecture(f"architecture file {path} does not exist")
            text = path.read_text()
            where = str(path)
        else:
            where = "architecture JSON"
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArchitecture(f"{where} is not valid JSON: {exc}") from None
    if isinstance(data, Mapping) and isinstance(data.get("architecture"), Mapping):
        data = data["architecture"]
    return Architecture.from_json(json.dumps(data))


def evaluate_architecture(
    arch: Architecture | Mapping[str, Any] | str | Path,
    dataset: str | None = None,
    *,
    dataset_options: Mapping[str, Any] | None = None,
    evaluator: str | None = None,
    evaluator_options: Mapping[str, Any] | None = None,
    seed: int = 0,
    device: str = "auto",
    manager: PluginManager | None = None,
) -> dict[str, Any]:
    """Evaluate ``arch`` on ``dataset`` (defaults: the default data set and evaluator) with the full protocol.

    The result holds ``status`` (``"ok"`` or ``"failed"``), ``score``,
    ``error``, ``architecture``, ``dataset``, ``seed``, ``device``,
    ``curves`` and every metric of the evaluator at the top level (for the
    trainer: ``accuracy`` and the others computed on the test split,
    ``val_accuracy``, ``test_accuracy``, ``params``…). The architecture is
    checked against its family's space first.
    """
    manager = manager or get_plugin_manager()
    dataset = dataset or manager.default("dataset")
    evaluator = evaluator or manager.default("evaluator")
    arch = load_architecture(arch)
    family = manager.get_family(arch.family)
    family.space().validate(arch)
    dataset_cls = manager.get_dataset(dataset)
    data_opts = make_options(dataset_cls.Options, dict(dataset_options or {}), f"options of dataset {dataset!r}")
    evaluator_cls = manager.get_evaluator(evaluator)
    eval_opts = make_options(evaluator_cls.Options, dict(evaluator_options or {}), f"options of evaluator {evaluator!r}")
    torch_device = resolve_device(device)
    data = dataset_cls(data_opts).load(seed=seed).to(torch_device)
    result = evaluator_cls(eval_opts).evaluate(arch, family, data, seed=seed, device=torch_device, protocol="full")
    return {
        **result.metrics,
        "status": "ok" if result.ok else "failed",
        "score": result.score if result.ok else None,
        "error": result.error,
        "architecture": json.loads(arch.to_json()),
        "dataset": dataset,
        "seed": seed,
        "device": str(torch_device),
        "duration": result.duration,
        "curves": result.curves,
    }
