"""The ``nb201`` evaluator: looks a NAS-Bench-201 cell up in the benchmark table.

No training happens: the score is the cell's 12-epoch validation accuracy
(the benchmark's search signal) and the metrics carry its 200-epoch test
accuracy (what a search is judged by), both as fractions like the ``train``
evaluator's. Each query also records a *simulated* training cost in
``metrics["simulated_seconds"]`` (never slept), so strategies can be compared
on a public benchmark in seconds. ``metrics["params"]`` is the parameter count
of the benchmark-size network around the cell (the network the table's
accuracies come from), so accuracy can be traded against size
(``--objective val_accuracy:max --objective params:min``).

The table (``nb201.csv.gz``, all 15,625 cells) is found at the option
``table_path``, else at ``$SNAS_NB201``, else at
``../shared/data/nb201/nb201.csv.gz`` beside the repository.
"""

from __future__ import annotations

import csv
import gzip
import os
import time
from pathlib import Path
from typing import Any

import attrs

from snas import Architecture, DataError, Evaluator, NetworkFamily, TrialResult, current_trial, hookimpl, option
from snas_plugins.datasets.nb201_table import SHAPES
from snas_plugins.families.nb201 import EDGE_NAMES, benchmark_parameter_count, to_nb201_string

#: the data sets of the table and the prefix of their columns
DATASETS = ("cifar10", "cifar100", "imagenet16")
TABLE_NAME = "nb201.csv.gz"
ENV_VAR = "SNAS_NB201"
#: where the table lies relative to the repository checkout
REPO_RELATIVE = Path("..") / "shared" / "data" / "nb201" / TABLE_NAME

#: relative cost of each operation in the simulated training time (a 3x3 conv has 9x the MACs of a 1x1)
OP_COST = {"none": 0.0, "skip_connect": 0.0, "avg_pool_3x3": 0.5, "nor_conv_1x1": 1.0, "nor_conv_3x3": 9.0}

_tables: dict[str, dict[str, dict[str, float]]] = {}  # by the path asked for ('default:$SNAS_NB201' when none)


def default_table_path() -> Path:
    """``$SNAS_NB201`` if set, else ``../shared/data/nb201/nb201.csv.gz`` relative to the repository."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[3]
    return (repo / REPO_RELATIVE).resolve()


def load_table(path: str | Path | None = None) -> dict[str, dict[str, float]]:
    """The benchmark table as ``{cell string: {column: value}}`` (read once per process and path)."""
    key = str(path) if path else f"default:{os.environ.get(ENV_VAR, '')}"
    if key in _tables:
        return _tables[key]
    path = Path(path) if path else default_table_path()
    if not path.is_file():
        raise DataError(
            f"NAS-Bench-201 table not found at {path}: give the file {TABLE_NAME} as the nb201 "
            f"evaluator's table_path (-E table_path=FILE; `snas benchmark nb201 --table FILE`) or in "
            f"${ENV_VAR} (the project's copy is in shared/data/nb201 beside the repository)"
        )
    try:
        with gzip.open(path, "rt", newline="") as f:
            reader = csv.DictReader(f)
            table = {}
            for row in reader:
                arch = row.pop("arch")
                table[arch] = {k: float(v) for k, v in row.items()}
    except (OSError, ValueError, KeyError, csv.Error) as exc:
        raise DataError(f"NAS-Bench-201 table {path} is unreadable: {exc}") from None
    if len(table) != 15625:
        raise DataError(f"NAS-Bench-201 table {path} holds {len(table)} cells, expected 15,625")
    _tables[key] = table
    return table


def simulated_cost(arch: Architecture, seconds: float) -> float:
    """Simulated seconds to train ``arch`` for 12 epochs: ``seconds`` for a cell without
    convolutions, up to 3x that for six 3x3 convolutions (linear in the cell's MACs)."""
    units = sum(OP_COST[arch[name]] for name in EDGE_NAMES)
    return seconds * (1.0 + 2.0 * units / (6 * OP_COST["nor_conv_3x3"]))


@attrs.frozen
class NB201Options:
    """Which data set's columns to read, where the table is, and the simulated cost per query."""

    dataset: str | None = option(None, choices=(None, *DATASETS),
                                 help="Data set whose columns score the cells (default: the data set's, else cifar10).")
    table_path: str | None = option(None, help="The nb201.csv.gz table (default: $SNAS_NB201, else shared/data).")
    query_seconds: float = option(60.0, low=0.0, help="Simulated training seconds of a query (recorded, not slept).")
    sleep_seconds: float = option(
        0.0, low=0.0, help="Really wait this long per query, reporting progress as a trial would: a stand-in for "
        "training when trying executors, stops and the web UI.")


class NB201Evaluator(Evaluator):
    """Look the cell up: 12-epoch validation accuracy as the score, 200-epoch test accuracy reported.

    ``dataset`` picks cifar10, cifar100 or imagenet16; when unset it is taken
    from the data set (the ``nb201_table`` data set records it), else cifar10.
    """

    name = "nb201"
    summary_metrics = (("val_accuracy", "validation accuracy (12 epochs)"),
                       ("test_accuracy", "test accuracy (200 epochs)"))
    description = "NAS-Bench-201 table lookup: 12-epoch val accuracy as score, 200-epoch test reported"
    Options = NB201Options

    def dataset_for(self, data: Any) -> str:
        """The benchmark data set this evaluation reads."""
        if self.options.dataset:
            return self.options.dataset
        info = getattr(data, "info", None) or {}
        return info.get("nb201_dataset", "cifar10")

    def lookup(self, arch: Architecture, dataset: str | None = None) -> dict[str, Any]:
        """The table's row for ``arch`` on ``dataset`` (default: the option, else cifar10), as
        fractions, plus the simulated cost and the parameter count of the benchmark network."""
        dataset = dataset or self.options.dataset or "cifar10"
        if not all(name in arch.params for name in EDGE_NAMES):
            raise DataError(f"the nb201 evaluator scores nb201 cells only, got a {arch.family!r} architecture")
        table = load_table(self.options.table_path)
        key = to_nb201_string(arch)
        row = table.get(key)
        if row is None:
            raise DataError(f"cell {key} is not in the NAS-Bench-201 table")
        return {
            "val_accuracy": row[f"{dataset}_valid_12ep"] / 100.0,
            "test_accuracy": row[f"{dataset}_test_200ep"] / 100.0,
            "test_accuracy_12ep": row[f"{dataset}_test_12ep"] / 100.0,
            "simulated_seconds": simulated_cost(arch, self.options.query_seconds),
            "params": benchmark_parameter_count(arch, *SHAPES[dataset]),
            "nb201_index": int(row["index"]),
            "nb201_arch": key,
            "nb201_dataset": dataset,
        }

    def evaluate(self, arch: Architecture, family: NetworkFamily, data: Any, *, seed: int, device: Any,
                 protocol: str = "full") -> TrialResult:
        metrics = self.lookup(arch, self.dataset_for(data))
        if self.options.sleep_seconds:
            # a stand-in learning curve that rises to the table's value: it keeps the ranking, nothing more
            trial, steps, curve = current_trial(), 4, []

            def stopped(status: str) -> TrialResult:
                score = curve[-1] if status == "pruned" and curve else None
                return TrialResult(status=status, score=score, metrics=metrics, curves={"val_acc": curve})

            for step in range(1, steps + 1):
                step_end = time.monotonic() + self.options.sleep_seconds / steps
                while (left := step_end - time.monotonic()) > 0:
                    time.sleep(min(left, 0.05))
                    if stop := trial.should_stop():  # a trial stops within 50 ms of being told, as training would
                        return stopped(stop)
                curve.append(metrics["val_accuracy"] * step / steps)
                trial.report("simulated training", step=step, total=steps, val_acc=curve[-1])
                if step < steps and (stop := trial.should_stop()):  # a finished trial keeps its result
                    return stopped(stop)
            return TrialResult(score=metrics["val_accuracy"], metrics=metrics, curves={"val_acc": curve})
        return TrialResult(score=metrics["val_accuracy"], metrics=metrics)


@hookimpl
def snas_register_evaluators():
    return [NB201Evaluator]
