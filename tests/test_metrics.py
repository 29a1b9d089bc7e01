"""Classification metrics against small cases computed by hand, and their use by the trainer and CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from snas_plugins.evaluators.metrics import ROC_GRID, classification_metrics

# true labels (supports 1, 2, 3) and probabilities whose argmax is [0, 1, 0, 2, 2, 1]
Y = [0, 1, 1, 2, 2, 2]
P = [
    [0.6, 0.3, 0.1],
    [0.2, 0.7, 0.1],
    [0.5, 0.4, 0.1],
    [0.1, 0.2, 0.7],
    [0.3, 0.1, 0.6],
    [0.1, 0.5, 0.4],
]


@pytest.fixture
def m():
    return classification_metrics(Y, P)


def test_accuracy_and_confusion_matrix(m):
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [0, 1, 2]]
    assert m["support"] == [1, 2, 3]


def test_precision_recall_f1_macro(m):
    # per class: precision 1/2, 1/2, 2/2; recall 1/1, 1/2, 2/3; F1 2/3, 1/2, 4/5
    assert m["precision_macro"] == pytest.approx((0.5 + 0.5 + 1.0) / 3, abs=1e-6)
    assert m["recall_macro"] == pytest.approx((1.0 + 0.5 + 2 / 3) / 3, abs=1e-6)
    assert m["f1_macro"] == pytest.approx((2 / 3 + 0.5 + 0.8) / 3, abs=1e-6)


def test_precision_recall_f1_weighted(m):
    assert m["precision_weighted"] == pytest.approx((1 * 0.5 + 2 * 0.5 + 3 * 1.0) / 6, abs=1e-6)
    assert m["recall_weighted"] == pytest.approx((1 * 1.0 + 2 * 0.5 + 3 * 2 / 3) / 6, abs=1e-6)
    assert m["f1_weighted"] == pytest.approx((1 * 2 / 3 + 2 * 0.5 + 3 * 0.8) / 6, abs=1e-6)


def test_one_vs_rest_roc_auc(m):
    # class 1: positives score .7 and .4, negatives .3 .2 .1 .5 -> 7 of 8 pairs ordered right
    assert m["roc_auc_per_class"] == pytest.approx([1.0, 0.875, 1.0])
    assert m["roc_auc"] == pytest.approx((1.0 + 0.875 + 1.0) / 3, abs=1e-6)


def test_roc_curves_are_sampled_on_the_grid(m):
    curves = m["roc_curves"]
    assert curves["fpr"] == pytest.approx(list(ROC_GRID), abs=1e-4)
    assert all(len(c) == len(ROC_GRID) for c in curves["tpr"])
    # class 0 is separated perfectly: tpr is 1 as soon as fpr > 0; class 1 reaches 1 only at fpr 1/4
    assert curves["tpr"][0][1:] == [1.0] * (len(ROC_GRID) - 1)
    assert curves["tpr"][1][-1] == 1.0
    assert np.all(np.diff(curves["tpr"][1]) >= 0)


def test_top_k_accuracy():
    # 4 classes: sample A's true class has the lowest probability (miss), sample B's the third (hit)
    m = classification_metrics([0, 2], [[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    assert m["top3_accuracy"] == pytest.approx(0.5)
    assert m["top5_accuracy"] is None  # not more than 5 classes
    six = [[0.01, 0.3, 0.2, 0.19, 0.15, 0.15], [0.3, 0.25, 0.2, 0.1, 0.1, 0.05]]
    m6 = classification_metrics([0, 5], six)
    assert m6["top5_accuracy"] == pytest.approx(0.0)
    m6 = classification_metrics([1, 3], six)
    assert m6["top5_accuracy"] == pytest.approx(1.0)
    assert m6["top3_accuracy"] == pytest.approx(0.5)


def test_class_missing_from_labels_has_no_roc():
    m = classification_metrics([0, 1, 0, 1], [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.3, 0.4, 0.3]],
                               num_classes=3)
    assert m["roc_auc_per_class"][2] is None
    assert m["roc_curves"]["tpr"][2] is None
    assert m["roc_auc"] == pytest.approx(1.0)
    assert m["confusion_matrix"][2] == [0, 0, 0]
    json.dumps(m)  # JSON-able


@pytest.mark.slow
def test_trainer_reports_metrics_on_the_test_split(manager, digits):
    import torch

    from snas import Architecture

    train = manager.get_evaluator("train")
    family = manager.get_family("mlp")
    arch = Architecture("mlp", {"num_layers": 1, "hidden_units": [64], "activation": "relu", "use_batch_norm": False,
                                "dropout": 0.0, "learning_rate": 0.01, "optimizer": "adam"})
    result = train(train.Options(max_epochs=2)).evaluate(arch, family, digits, seed=0, device=torch.device("cpu"))
    assert result.ok
    m = result.metrics
    assert m["accuracy"] == pytest.approx(m["test_accuracy"], abs=1e-6)
    cm = np.array(m["confusion_matrix"])
    assert cm.sum() == len(digits.test) and cm.shape == (10, 10)
    assert np.trace(cm) / cm.sum() == pytest.approx(m["accuracy"], abs=1e-6)
    assert 0.5 <= m["roc_auc"] <= 1.0 and m["top5_accuracy"] >= m["top3_accuracy"] >= m["accuracy"]
    json.dumps(m)


def test_cli_evaluate_json_prints_every_metric(tmp_path):
    from click.testing import CliRunner

    from snas.frontends.cli import cli

    arch = {"family": "mlp", "params": {"num_layers": 1, "hidden_units": [64], "activation": "relu",
                                        "use_batch_norm": False, "dropout": 0.0, "learning_rate": 0.001,
                                        "optimizer": "adam"}}
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(arch))
    out = CliRunner().invoke(cli, ["evaluate", str(path), "--max-epochs", "1", "--device", "cpu", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted",
                "f1_weighted", "confusion_matrix", "roc_auc", "top5_accuracy"):
        assert data[key] is not None, key
    assert data["architecture"] == arch and data["status"] == "ok"


def test_cli_evaluate_rejects_an_invalid_architecture(tmp_path):
    from click.testing import CliRunner

    from snas.frontends.cli import cli

    path = tmp_path / "arch.json"
    path.write_text(json.dumps({"family": "mlp", "params": {"num_layers": 1}}))
    out = CliRunner().invoke(cli, ["evaluate", str(path), "--device", "cpu"])
    assert out.exit_code == 1
    assert "Error" in out.output


def test_architecture_files_in_every_written_form_load(tmp_path):
    from snas import Architecture
    from snas.frontends.evaluation import load_architecture

    arch = Architecture("mlp", {"num_layers": 1, "hidden_units": [64]})
    path = tmp_path / "a.json"
    path.write_text(arch.to_json())
    assert load_architecture(path) == arch
    assert load_architecture(str(path)) == arch
    summary = {"trial_id": 3, "family": "mlp", "architecture": json.loads(arch.to_json()), "score": 0.5}
    assert load_architecture(summary) == arch
    with pytest.raises(Exception, match="does not exist"):
        load_architecture(tmp_path / "missing.json")


@pytest.mark.slow
def test_run_file_keeps_the_metrics_and_show_json_prints_them():
    from click.testing import CliRunner

    import snas
    from snas.frontends.cli import cli

    result = snas.search("digits", "random", max_trials=1, seed=0, run_dir="run", network_types=["mlp"],
                         evaluator_options={"max_epochs": 1}, device="cpu")
    out = CliRunner().invoke(cli, ["show", str(result.path), "--json"])
    assert out.exit_code == 0, out.output
    best = json.loads(out.output)["best"]
    assert np.array(best["metrics"]["confusion_matrix"]).sum() == result.data_info["sizes"]["test"]
    assert best["metrics"]["f1_macro"] == pytest.approx(result.best.metrics["f1_macro"])
    assert best["protocol"] == "full"
