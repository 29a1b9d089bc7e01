"""The ``snas evaluate ARCH.json`` command: train one architecture and report every metric."""

from __future__ import annotations

import json
from typing import Any

import click

#: metrics printed in the readable summary, with their labels
SUMMARY = (
    ("val_accuracy", "validation accuracy"),
    ("accuracy", "test accuracy"),
    ("precision_macro", "precision (macro)"),
    ("recall_macro", "recall (macro)"),
    ("f1_macro", "F1 (macro)"),
    ("precision_weighted", "precision (weighted)"),
    ("recall_weighted", "recall (weighted)"),
    ("f1_weighted", "F1 (weighted)"),
    ("roc_auc", "ROC AUC (one-vs-rest, macro)"),
    ("top3_accuracy", "top-3 accuracy"),
    ("top5_accuracy", "top-5 accuracy"),
    ("params", "parameters"),
    ("epochs", "epochs trained"),
)


@click.command("evaluate")
@click.argument("arch_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dataset", default="digits", show_default=True, help="Data set to train and test on.")
@click.option("--evaluator", default="train", show_default=True, help="Evaluator plugin.")
@click.option("--max-epochs", type=click.IntRange(1), help="Training: most epochs.")
@click.option("--batch-size", type=click.IntRange(1), help="Training: batch size.")
@click.option("--patience", type=click.IntRange(0), help="Training: epochs without improvement before stopping.")
@click.option("--min-delta", type=click.FloatRange(0), help="Training: smallest change that counts as improvement.")
@click.option("--monitor", type=click.Choice(["val_acc", "val_loss"]), help="Training: metric early stopping watches.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda:N.")
@click.option("--seed", type=int, default=0, show_default=True, help="Training and data-split seed.")
@click.option("-E", "--evaluator-option", "evaluator_pairs", multiple=True, metavar="KEY=VALUE", help="Any option of the evaluator.")
@click.option("-D", "--dataset-option", "dataset_pairs", multiple=True, metavar="KEY=VALUE", help="Any option of the data set.")
@click.option("--json", "as_json", is_flag=True, help="Print every metric as JSON.")
def evaluate(arch_file: str, dataset: str, evaluator: str, device: str, seed: int, as_json: bool,
             evaluator_pairs: tuple[str, ...], dataset_pairs: tuple[str, ...], **training: Any) -> None:
    """Train the architecture in ARCH_FILE with the full protocol and report all metrics.

    ARCH_FILE is the JSON `snas search` writes as best_architecture.json.
    Metrics other than validation accuracy are computed on the test split.
    """
    from snas.cli import _pairs
    from snas.evaluation import evaluate_architecture

    options = {k: v for k, v in training.items() if v is not None}
    options.update(_pairs(evaluator_pairs, "--evaluator-option"))
    result = evaluate_architecture(
        arch_file, dataset, dataset_options=_pairs(dataset_pairs, "--dataset-option"), evaluator=evaluator,
        evaluator_options=options, seed=seed, device=device,
    )
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
    else:
        _print_summary(result)
    if result["status"] != "ok":
        raise SystemExit(1)


def _print_summary(result: dict[str, Any]) -> None:
    arch = result["architecture"]
    click.echo(f"{arch['family']} on {result['dataset']} ({result['device']}, seed {result['seed']}): {result['status']}")
    if result["status"] != "ok":
        click.echo(f"error: {result['error']}")
        return
    for key, label in SUMMARY:
        value = result.get(key)
        if value is not None:
            click.echo(f"  {label:<30} {value:.4f}" if isinstance(value, float) else f"  {label:<30} {value}")
    matrix = result.get("confusion_matrix")
    if matrix:
        click.echo("  confusion matrix (rows: true class, columns: predicted):")
        width = max(len(str(v)) for row in matrix for v in row)
        for row in matrix:
            click.echo("    " + " ".join(f"{v:>{width}}" for v in row))
