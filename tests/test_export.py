"""Exporting the trained winner of a real run: every format, verified, with README and example."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import snas
from snas import SnasError
from snas.frontends.cli import cli
from snas.contracts.errors import ConfigError
from snas_plugins.exporters.run_export import FORMAT_ORDER, export_run, resolve_formats

MAIN_FILES = {
    "onnx": "model.onnx",
    "torchscript": "model.torchscript.pt",
    "pt2": "model.pt2",
    "quantized": "model.int8.pt2",
    "mobile": "model.pte",
    "python": "model.py",
}


def _has_executorch() -> bool:
    try:
        import executorch.runtime  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real two-trial search on digits (2 epochs per trial)."""
    folder = tmp_path_factory.mktemp("export-run")
    return snas.search(dataset="digits", strategy="random", max_trials=2, evaluator_options={"max_epochs": 2},
                       run_dir=folder / "run", network_types=["cnn", "mlp"])


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    """``snas export --format all`` of that run."""
    out = tmp_path_factory.mktemp("export-all")
    return export_run(run.path, "all", out), out


def _predictions(stdout: str) -> list[int]:
    match = re.search(r"^predictions: (\[.*\])$", stdout, re.MULTILINE)
    assert match, stdout
    return json.loads(match.group(1))


def _fresh_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


@pytest.mark.slow
def test_all_formats_are_written_and_verified(exported, run):
    report, out = exported
    by = report.by_format()
    assert list(by) == [f for f in FORMAT_ORDER if f in by]
    assert set(MAIN_FILES) <= set(by)
    assert report.trial_id == run.best.trial_id and not report.retrained
    for name, main in MAIN_FILES.items():
        fmt = by[name]
        if name == "mobile" and not _has_executorch():
            assert not fmt.ok and "pip install" in fmt.error and "executorch" in fmt.error.lower()
            assert not (out / name).exists()
            continue
        assert fmt.ok, f"{name}: {fmt.error}"
        folder = out / name
        for extra in (main, "README.md", "example.py", "metadata.json", "sample_inputs.npy"):
            assert (folder / extra).is_file(), f"{name} lacks {extra}"
        assert fmt.verification["fresh_process_max_abs_diff"] <= 1e-4
    assert by["onnx"].verification["max_abs_diff"] <= 1e-4
    assert by["python"].verification["exact"] is True
    stored = json.loads((out / "export_report.json").read_text())
    assert [f["format"] for f in stored["formats"]] == list(by)


@pytest.mark.slow
def test_exported_model_is_the_trained_one(exported, run):
    report, out = exported
    meta = json.loads((out / "onnx" / "metadata.json").read_text())
    # the exported network scores what the search recorded on the same validation split
    assert meta["accuracy"]["validation_measured"] == pytest.approx(run.best.score, abs=1e-9)
    assert meta["accuracy"]["validation"] == pytest.approx(run.best.score)
    assert meta["accuracy"]["test"] == pytest.approx(run.best.metrics["test_accuracy"])
    import onnxruntime as ort

    images = torch.from_numpy(np.load(out / "onnx" / "sample_inputs.npy"))
    session = ort.InferenceSession(str(out / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(None, {session.get_inputs()[0].name: images.numpy()})[0]
    with torch.no_grad():
        trained = run.best_model()(images).numpy()
        fresh = snas.get_plugin_manager().get_family(run.best.arch.family).build(
            run.best.arch, run.input_shape, run.num_classes).eval()(images).numpy()
    assert np.abs(onnx_logits - trained).max() <= 1e-4
    assert np.abs(onnx_logits - fresh).max() > 1e-2


@pytest.mark.slow
def test_metadata_describes_model_input_and_classes(exported, run, digits):
    _, out = exported
    for name in ("onnx", "pt2", "python", "torchscript", "quantized"):
        meta = json.loads((out / name / "metadata.json").read_text())
        assert meta["format"] == name
        assert meta["architecture"]["family"] == run.best.arch.family
        assert meta["architecture"]["fingerprint"] == run.best.fingerprint
        assert meta["architecture"]["params"]["num_layers"] == run.best.arch["num_layers"]
        assert meta["input_shape"] == list(digits.input_shape)
        assert meta["normalization"]["mean"] == pytest.approx(list(digits.mean))
        assert meta["normalization"]["std"] == pytest.approx(list(digits.std))
        assert meta["class_names"] == digits.class_names
        assert meta["snas_version"] == snas.__version__
        assert meta["trial_id"] == run.best.trial_id
        assert meta["files"] == [MAIN_FILES[name]] + (["weights.pt"] if name == "python" else [])
        assert meta["verification"]
        readme = (out / name / "README.md").read_text()
        assert "python example.py" in readme and MAIN_FILES[name] in readme
        assert f"{digits.mean[0]}" in readme or f"{digits.mean[0]:.4f}"[:5] in readme
    sample = np.load(out / "onnx" / "sample_inputs.npy")
    assert sample.shape[1:] == tuple(digits.input_shape) and sample.dtype == np.float32
    # the samples are real validation images, in order, with their labels
    val_x, val_y = digits.val.x[: len(sample)], digits.val.y[: len(sample)]
    assert np.array_equal(sample, val_x.numpy())
    assert meta["sample_labels"] == val_y.tolist()


@pytest.mark.slow
def test_example_scripts_run_and_match_pytorch(exported, run):
    report, out = exported
    images = torch.from_numpy(np.load(out / "onnx" / "sample_inputs.npy"))
    with torch.no_grad():
        expected = run.best_model()(images).argmax(1).tolist()
    for fmt in report.formats:
        if not fmt.ok:
            continue
        proc = subprocess.run([sys.executable, "example.py"], cwd=out / fmt.format, env=_fresh_env(),
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        got = _predictions(proc.stdout)
        if fmt.format == "quantized":  # int8 may flip a borderline image
            assert np.mean(np.array(got) == np.array(expected)) >= 0.8
        else:
            assert got == expected, fmt.format
        assert "sample images classified correctly" in proc.stdout


@pytest.mark.slow
def test_onnx_file_is_self_contained_with_dynamic_batch(exported):
    import onnx
    import onnxruntime as ort

    _, out = exported
    folder = out / "onnx"
    model = onnx.load(str(folder / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["model.onnx", "README.md", "example.py", "metadata.json", "sample_inputs.npy"])
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    images = np.load(folder / "sample_inputs.npy")
    for n in (1, 5, len(images)):
        assert session.run(None, {name: images[:n]})[0].shape == (n, 10)


@pytest.mark.slow
def test_python_export_needs_no_snas_and_is_exact(exported, run):
    _, out = exported
    folder = out / "python"
    source = (folder / "model.py").read_text()
    assert not re.search(r"^\s*(import|from)\s+snas", source, re.MULTILINE)
    code = (
        "import sys, numpy as np, torch\n"
        "sys.modules['snas'] = None; sys.modules['snas_plugins'] = None\n"
        "torch.set_num_threads(1)\n"
        "import model\n"
        "net = model.load('weights.pt')\n"
        "x = torch.from_numpy(np.load('sample_inputs.npy'))\n"
        "with torch.no_grad(): np.save(sys.argv[1], net(x).numpy())\n"
    )
    target = out / "python_logits.npy"
    proc = subprocess.run([sys.executable, "-c", code, str(target)], cwd=folder, env=_fresh_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with torch.no_grad():
        expected = run.best_model()(torch.from_numpy(np.load(folder / "sample_inputs.npy"))).numpy()
    assert np.array_equal(np.load(target), expected)
    state = torch.load(folder / "weights.pt", weights_only=True)
    assert set(state) == set(run.best_weights())


@pytest.mark.slow
def test_quantized_reports_accuracy_and_size(exported):
    report, out = exported
    figures = report.by_format()["quantized"].verification
    assert 0.0 <= figures["accuracy_after"] <= 1.0
    assert figures["accuracy_before"] - figures["accuracy_after"] <= 0.05
    assert figures["calibration_images"] > 16  # calibrated on the validation split, not one batch
    assert figures["int8_weight_bytes"] < 0.5 * figures["float_weight_bytes"]
    assert figures["weight_size_reduction"] > 0.5
    meta = json.loads((out / "quantized" / "metadata.json").read_text())
    assert meta["verification"]["accuracy_after"] == figures["accuracy_after"]


@pytest.mark.slow
def test_mobile_runs_in_executorch_or_says_how_to_install(exported):
    report, out = exported
    mobile = report.by_format()["mobile"]
    if _has_executorch():
        assert mobile.ok, mobile.error
        assert mobile.verification["max_abs_diff"] <= 1e-4
        assert (out / "mobile" / "model.pte").stat().st_size > 0
    else:
        assert "pip install 'snas[mobile]'" in mobile.error


def test_missing_executorch_gives_install_instructions(monkeypatch, tmp_path):
    from snas_plugins.exporters.mobile import MobileExporter

    monkeypatch.setitem(sys.modules, "executorch", None)
    monkeypatch.setitem(sys.modules, "executorch.exir", None)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()
    with pytest.raises(SnasError, match=r"needs ExecuTorch, which is not installed.*pip install 'snas\[mobile\]'"):
        MobileExporter(MobileExporter.Options()).export(model, torch.zeros(2, 1, 2, 2), tmp_path, {})


def test_missing_torchao_gives_install_instructions(monkeypatch, tmp_path):
    from snas_plugins.exporters.quantized import QuantizedExporter

    monkeypatch.setitem(sys.modules, "torchao", None)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()
    with pytest.raises(SnasError, match=r"'torchao'.*pip install 'snas\[quantize\]'"):
        QuantizedExporter(QuantizedExporter.Options()).export(model, torch.zeros(2, 1, 2, 2), tmp_path, {})


def test_format_names_are_checked():
    assert resolve_formats("all") == [f for f in FORMAT_ORDER]
    assert resolve_formats(["onnx,python", "onnx"]) == ["onnx", "python"]
    with pytest.raises(ConfigError, match="unknown export format 'onx'.*onnx"):
        resolve_formats(["onx"])


@pytest.mark.slow
def test_cli_export_and_another_trial(run, tmp_path):
    other = next(t for t in run.trials if t.trial_id != run.best.trial_id)
    assert other.ok
    runner = CliRunner()
    result = runner.invoke(cli, ["export", str(run.path), "--format", "python", "--out", str(tmp_path / "x"),
                                 "--trial", str(other.trial_id)])
    assert result.exit_code == 0, result.output
    assert "python" in result.output and "ok" in result.output and "retrained" in result.output
    meta = json.loads((tmp_path / "x" / "python" / "metadata.json").read_text())
    assert meta["trial_id"] == other.trial_id and meta["retrained"] is True
    # retraining with the trial's seed reproduces the recorded score: the same trained model
    assert meta["accuracy"]["validation_retrained"] == pytest.approx(other.score, abs=1e-9)
    assert meta["accuracy"]["validation_measured"] == pytest.approx(other.score, abs=1e-9)
    assert meta["architecture"]["fingerprint"] == other.fingerprint

    bad = runner.invoke(cli, ["export", str(run.path), "--format", "onx", "--out", str(tmp_path / "y")])
    assert bad.exit_code != 0 and "unknown export format 'onx'" in bad.output
    missing = runner.invoke(cli, ["export", str(run.path), "--format", "python", "--out", str(tmp_path / "z"),
                                  "--trial", "99"])
    assert missing.exit_code != 0 and "no trial 99" in missing.output


@pytest.mark.slow
def test_search_with_export_writes_into_the_run_folder(tmp_path):
    runner = CliRunner()
    args = ["search", "--search-method", "random", "--max-trials", "1", "--max-epochs", "1", "--network-type",
            "mlp", "--output-dir", str(tmp_path), "--run-name", "r", "--quiet", "--export", "python"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "r" / "export" / "python"
    assert (folder / "model.py").is_file() and (folder / "example.py").is_file()
    assert snas.load_run(tmp_path / "r" / "run.h5").config["export_formats"] == ["python"]

    typo = runner.invoke(cli, ["search", "--max-trials", "1", "--output-dir", str(tmp_path), "--run-name", "t",
                               "--quiet", "--export", "onx"])
    assert typo.exit_code != 0 and "unknown export format" in typo.output
    assert not (tmp_path / "t").exists()  # rejected before any search ran
