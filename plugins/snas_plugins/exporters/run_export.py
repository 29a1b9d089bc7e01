"""Export the trained model of a run in deployable formats (the exporter plugins do the writing).

:func:`export_run` loads a run file, rebuilds the trained model (the best
trial's stored weights, or a deterministic retraining of another trial),
reloads the data set from the run's configuration to get real validation
images, and hands model, images and metadata to each exporter. Next to each
model it writes ``metadata.json``, ``README.md``, a runnable ``example.py``
and ``sample_inputs.npy``; then the exporter verifies what it wrote.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
import traceback
from pathlib import Path
from typing import Any, Iterable, Mapping

import attrs
import numpy as np
import torch

from snas import (
    ConfigError, EvaluationJob, EvaluationTask, PluginManager, RunConfig, RunFileError, SnasError, Trial,
    get_plugin_manager, make_options, options_to_dict,
)

#: the order formats are written in with ``all`` (other registered exporters follow, by name)
FORMAT_ORDER = ("onnx", "torchscript", "pt2", "quantized", "mobile", "python")
#: validation images kept in memory for calibration and accuracy checks
MAX_VALIDATION = 2048
#: real validation images in ``sample_inputs.npy`` and used for verification
SAMPLE_SIZE = 16


@attrs.define
class FormatReport:
    """The outcome of one format: the files written and the verification figures, or why it failed."""

    format: str
    ok: bool
    folder: str | None = None
    files: list[str] = attrs.field(factory=list)
    verification: dict[str, Any] = attrs.field(factory=dict)
    error: str | None = None
    seconds: float = 0.0


@attrs.define
class ExportReport:
    """What :func:`export_run` did, per format."""

    run: str
    trial_id: int
    out_dir: str
    formats: list[FormatReport]
    retrained: bool = False

    @property
    def ok(self) -> bool:
        """Whether every requested format was written and verified."""
        return all(f.ok for f in self.formats)

    def by_format(self) -> dict[str, FormatReport]:
        return {f.format: f for f in self.formats}

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def available_formats(manager: PluginManager | None = None) -> list[str]:
    """Every registered exporter's name, in :data:`FORMAT_ORDER` first."""
    names = set((manager or get_plugin_manager()).components("exporter"))
    return [n for n in FORMAT_ORDER if n in names] + sorted(names - set(FORMAT_ORDER))


def resolve_formats(formats: str | Iterable[str], manager: PluginManager | None = None) -> list[str]:
    """Expand ``all`` and comma lists; unknown names raise :class:`ConfigError` listing the known ones."""
    manager = manager or get_plugin_manager()
    if isinstance(formats, str):
        formats = [formats]
    names = [n.strip() for item in formats for n in str(item).split(",") if n.strip()]
    if not names:
        raise ConfigError("name at least one export format")
    known = available_formats(manager)
    out: list[str] = []
    for name in names:
        expanded = known if name == "all" else [name]
        for n in expanded:
            if n not in known:
                raise ConfigError(f"unknown export format {n!r}; available: {', '.join(known + ['all'])}")
            if n not in out:
                out.append(n)
    return out


# -- model and data ------------------------------------------------------------------


def _load_data(result: Any, manager: PluginManager) -> Any:
    cfg = RunConfig.from_dict(result.config, where=f"configuration stored in {result.path}")
    dataset_cls = manager.get_dataset(cfg.dataset)
    options = make_options(dataset_cls.Options, cfg.dataset_options, f"options of dataset {cfg.dataset!r}")
    data = dataset_cls(options).load(seed=cfg.seed)
    if tuple(data.input_shape) != tuple(result.input_shape):
        raise RunFileError(f"{result.path}: the data set {cfg.dataset!r} now has input shape "
                           f"{tuple(data.input_shape)}, the run was made with {tuple(result.input_shape)}")
    return cfg, data


def _validation(data: Any, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels, count = [], [], 0
    for xb, yb in data.val.batches(256, device="cpu"):
        images.append(xb.float().cpu())
        labels.append(yb.cpu())
        count += len(yb)
        if count >= limit:
            break
    if not images:
        raise SnasError(f"data set {data.name!r} has an empty validation split; nothing to verify the export on")
    return torch.cat(images)[:limit].contiguous(), torch.cat(labels)[:limit].contiguous()


def _find_trial(result: Any, trial_id: int) -> Trial:
    trial = next((t for t in result.trials if t.trial_id == trial_id), None)
    if trial is None:
        ids = ", ".join(str(t.trial_id) for t in result.trials) or "none"
        raise ConfigError(f"{result.path} has no trial {trial_id}; trials: {ids}")
    if not trial.ok:
        raise ConfigError(f"trial {trial_id} of {result.path} did not succeed ({trial.status}); "
                          "only successful trials can be exported")
    return trial


def trained_model(result: Any, trial_id: int | None, cfg: RunConfig, data: Any,
                  manager: PluginManager) -> tuple[torch.nn.Module, Trial, bool]:
    """``(trained model in eval mode on the CPU, its trial, whether it was retrained)``.

    The best trial's weights are stored in the run file. Any other trial is
    retrained with its own seed and protocol on the CPU (the evaluator is
    deterministic for a seed), so the exported model is never a freshly
    initialized one.
    """
    if result.best is None:
        raise RunFileError(f"{result.path}: the run has no successful trial, so there is nothing to export")
    if trial_id is None or trial_id == result.best.trial_id:
        return result.best_model(manager).float().cpu().eval(), result.best, False
    trial = _find_trial(result, trial_id)
    origin = _find_trial(result, trial.cached_from) if trial.cached_from is not None else trial
    evaluator_cls = manager.get_evaluator(cfg.evaluator)
    job = EvaluationJob(
        dataset=cfg.dataset,
        dataset_options=dict(cfg.dataset_options),
        evaluator=cfg.evaluator,
        evaluator_options=dict(cfg.evaluator_options),
        families=[origin.arch.family],
        device="cpu",
        data_seed=cfg.seed,
    )
    make_options(evaluator_cls.Options, cfg.evaluator_options, f"options of evaluator {cfg.evaluator!r}")
    outcome = job.evaluate(EvaluationTask(origin.trial_id, origin.arch, seed=origin.seed, protocol=origin.protocol))
    if not outcome.ok or outcome.weights is None:
        raise SnasError(f"retraining trial {trial_id} to export it failed: {outcome.error or 'no weights returned'}")
    family = manager.get_family(origin.arch.family)
    model = family.build(origin.arch, tuple(result.input_shape), result.num_classes)
    model.load_state_dict(outcome.weights)
    trial.metrics = {**trial.metrics, "retrained_score": outcome.score}
    return model.float().cpu().eval(), trial, True


def _accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    right = 0
    with torch.no_grad():
        for start in range(0, len(images), 256):
            right += int((model(images[start:start + 256]).argmax(1) == labels[start:start + 256]).sum())
    return right / max(1, len(images))


def build_metadata(result: Any, trial: Trial, data: Any, model: torch.nn.Module, manager: PluginManager,
                   validation: tuple[torch.Tensor, torch.Tensor], sample_labels: list[int],
                   retrained: bool) -> dict[str, Any]:
    """The JSON-able facts every export carries in ``metadata.json``."""
    import snas

    try:
        description = manager.get_family(trial.arch.family).describe(trial.arch)
    except SnasError:
        description = []
    images, labels = validation
    return {
        "architecture": {**trial.summary()["architecture"], "fingerprint": trial.fingerprint,
                         "description": description},
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "input_shape": list(result.input_shape),
        "input_dtype": "float32",
        "input_name": "input",
        "output": "logits (N, num_classes); softmax gives class probabilities",
        "normalization": {
            "mean": list(data.mean),
            "std": list(data.std),
            "note": "inputs must be normalized per channel as (pixel - mean) / std, as in training"
                    + (f"; data set preprocessing: {data.info['preprocessing']}" if data.info.get("preprocessing")
                       else ""),
        },
        "num_classes": int(result.num_classes),
        "class_names": list(data.class_names),
        "accuracy": {
            "validation": trial.metrics.get("val_accuracy", trial.score),
            "test": trial.metrics.get("test_accuracy"),
            "validation_measured": _accuracy(model, images, labels),
            "validation_measured_images": int(len(images)),
        },
        "dataset": data.name,
        "run": str(result.path),
        "trial_id": trial.trial_id,
        "retrained": retrained,
        "sample_labels": sample_labels,
        "snas_version": snas.__version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# -- the files beside each model ---------------------------------------------------------


def _readme(name: str, exporter: Any, files: list[Path], folder: Path, metadata: Mapping[str, Any],
            verification: Mapping[str, Any]) -> str:
    arch = metadata["architecture"]
    acc = metadata["accuracy"]
    norm = metadata["normalization"]
    lines = [
        f"# {arch['family']} model, `{name}` export",
        "",
        f"{exporter.description}.",
        "",
        f"Trial {metadata['trial_id']} of `{metadata['run']}` (data set `{metadata['dataset']}`), exported by "
        f"snas {metadata['snas_version']} with torch {metadata['torch_version']}.",
        "",
        "## Files",
        "",
        *[f"- `{p.relative_to(folder)}`" for p in files],
        "- `example.py`: loads the model and classifies `sample_inputs.npy` (run `python example.py`)",
        "- `sample_inputs.npy`: real validation images, already normalized",
        "- `metadata.json`: architecture, input, normalization, classes, accuracy, verification",
        "",
        "## Input and output",
        "",
        f"- input: float32 tensor of shape `(N, {', '.join(map(str, metadata['input_shape']))})`",
        f"- normalization: `(pixel - mean) / std` per channel, mean `{norm['mean']}`, std `{norm['std']}`",
        f"- output: `(N, {metadata['num_classes']})` logits over the classes "
        f"{', '.join(map(str, metadata['class_names'][:20]))}{' …' if metadata['num_classes'] > 20 else ''}",
        "",
        "## Accuracy",
        "",
        f"- validation: {_fmt(acc.get('validation'))} (recorded in the run); "
        f"{_fmt(acc.get('validation_measured'))} measured on {acc.get('validation_measured_images')} "
        "validation images before export",
        f"- test: {_fmt(acc.get('test'))}",
        "",
        "## Architecture",
        "",
        *[f"    {line}" for line in arch.get("description") or [json.dumps(arch["params"])]],
        "",
        "## Verification",
        "",
        *[f"- {k}: {v}" for k, v in verification.items()],
        "",
        "## Usage",
        "",
        "```",
        "python example.py",
        "```",
        "",
        "`example.py` shows the few lines needed to load the model and run it.",
        "",
    ]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _export_one(name: str, manager: PluginManager, options: Mapping[str, Any], model: torch.nn.Module,
                sample: torch.Tensor, validation: tuple[torch.Tensor, torch.Tensor], folder: Path,
                metadata: dict[str, Any]) -> FormatReport:
    start = time.perf_counter()
    cls = manager.get_exporter(name)
    exporter = cls(make_options(cls.Options, options, f"options of exporter {name!r}"))
    exporter.validation = validation
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    try:
        files = [Path(p) for p in exporter.export(model, sample, folder, metadata)]
        meta = {**metadata, "format": name, "files": [str(p.relative_to(folder)) for p in files],
                "exporter_options": options_to_dict(exporter.options)}
        np.save(folder / "sample_inputs.npy", sample.numpy().astype(np.float32), allow_pickle=False)
        _write_json(folder / "metadata.json", meta)
        script = exporter.example_script(files, meta)
        if script:
            (folder / "example.py").write_text(script)
        verification = exporter.verify(model, sample, files, folder, meta)
        meta["verification"] = verification
        _write_json(folder / "metadata.json", meta)
        (folder / "README.md").write_text(_readme(name, exporter, files, folder, meta, verification))
        return FormatReport(format=name, ok=True, folder=str(folder),
                            files=[str(p) for p in files], verification=dict(verification),
                            seconds=round(time.perf_counter() - start, 2))
    except Exception as exc:  # one format failing must not stop the others
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, SnasError):
            reason = str(exc)
        else:
            reason = f"{type(exc).__name__}: {exc} ({traceback.format_exc(limit=3).strip().splitlines()[-2]})"
        return FormatReport(format=name, ok=False, error=reason, seconds=round(time.perf_counter() - start, 2))


def export_run(run_path: str | Path, formats: str | Iterable[str], out_dir: str | Path,
               trial_id: int | None = None, *, options: Mapping[str, Mapping[str, Any]] | None = None,
               manager: PluginManager | None = None, sample_size: int = SAMPLE_SIZE,
               max_validation: int = MAX_VALIDATION) -> ExportReport:
    """Export the trained model of ``run_path`` in ``formats`` (``"all"`` for every one) under ``out_dir``.

    Each format goes into ``out_dir/<format>/``. ``trial_id`` picks a trial
    other than the best (retrained deterministically on the CPU, since only
    the best trial's weights are stored). ``options`` maps a format to its
    exporter options. Returns an :class:`ExportReport`; a format that cannot
    be written (a missing optional package, say) is reported, not raised.
    """
    from snas import load_run

    manager = manager or get_plugin_manager()
    names = resolve_formats(formats, manager)
    options = dict(options or {})
    for key in options:
        if key not in names:
            raise ConfigError(f"exporter options given for {key!r}, which is not among the formats {names}")
    result = load_run(run_path)
    if result.best is None:
        raise RunFileError(f"{result.path}: the run has no successful trial, so there is nothing to export")
    cfg, data = _load_data(result, manager)
    model, trial, retrained = trained_model(result, trial_id, cfg, data, manager)
    validation = _validation(data, max_validation)
    sample = validation[0][:sample_size].contiguous()
    metadata = build_metadata(result, trial, data, model, manager, validation,
                              [int(v) for v in validation[1][:sample_size]], retrained)
    if retrained:
        metadata["accuracy"]["validation_retrained"] = trial.metrics.get("retrained_score")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reports = [
        _export_one(name, manager, options.get(name, {}), model, sample, validation, out / name, metadata)
        for name in names
    ]
    report = ExportReport(run=str(result.path), trial_id=trial.trial_id, out_dir=str(out), formats=reports,
                          retrained=retrained)
    _write_json(out / "export_report.json", report.to_dict())
    return report
