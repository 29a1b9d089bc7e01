"""NAS-Bench-201 as a benchmark: the cell family, the table evaluator, the placeholder
data set, and ``snas benchmark nb201``."""

from __future__ import annotations

import itertools
import json

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import snas
from snas import DataError, InvalidArchitecture
from snas_plugins.commands.benchmark import benchmark, mean_curve, run_engine, preset, svg_plot
from snas_plugins.evaluators.nb201 import NB201Evaluator, NB201Options, default_table_path, load_table
from snas_plugins.families.nb201 import OPS, build_network, from_nb201_string, make_cell, to_nb201_string

from conftest import SHARED_DATA

TABLE = SHARED_DATA / "nb201" / "nb201.csv.gz"


def cell(*ops: str) -> Architecture:
    return make_cell(ops)


def evaluator(**options) -> NB201Evaluator:
    return NB201Evaluator(NB201Options(**options))


# -- the family ------------------------------------------------------------------


def test_the_space_is_exactly_the_table(manager):
    space = manager.get_family("nb201").space()
    table = load_table()
    cells = [cell(*ops) for ops in itertools.product(OPS, repeat=6)]
    assert len(cells) == len(table) == 15625
    for arch in cells:
        space.validate(arch)
    assert {to_nb201_string(a) for a in cells} == set(table)
    for key in list(table)[:500]:
        arch = from_nb201_string(key)
        space.validate(arch)
        assert to_nb201_string(arch) == key


def test_benchmark_notation_orders_edges_by_target_node():
    arch = cell("nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3")
    assert to_nb201_string(arch) == (
        "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    )
    with pytest.raises(InvalidArchitecture, match="node 2"):
        from_nb201_string("|none~0|+|none~0|+|none~0|none~1|none~2|")
    with pytest.raises(InvalidArchitecture, match="bad edge"):
        from_nb201_string("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (3, 16, 16), (3, 15, 15)])
def test_built_network_runs_forward_and_backward(manager, shape):
    fam = manager.get_family("nb201")
    arch = cell("nor_conv_3x3", "nor_conv_3x3", "nor_conv_1x1", "skip_connect", "avg_pool_3x3", "none")
    model = fam.build(arch, shape, 7)
    out = model(torch.randn(2, *shape))
    assert out.shape == (2, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_benchmark_size_network_has_the_published_parameter_count():
    # NAS-Bench-201 (16 channels, 5 cells per stage): 1.531546 M parameters for the all-3x3 cell,
    # 0.073306 M for the all-none cell, on CIFAR-10
    counts = []
    for op in ("nor_conv_3x3", "none"):
        model = build_network(cell(*[op] * 6), (3, 32, 32), 10)
        counts.append(sum(p.numel() for p in model.parameters()))
    assert counts == [1_531_546, 73_306]


def test_a_cell_of_none_edges_blocks_the_signal(manager):
    model = manager.get_family("nb201").build(cell(*["none"] * 6), (3, 16, 16), 5).eval()
    with torch.no_grad():
        a, b = model(torch.randn(1, 3, 16, 16)), model(torch.randn(1, 3, 16, 16))
    # only the reduction blocks carry information past the cells; stage 1's output is zero
    assert torch.allclose(a, b)


@pytest.mark.slow
def test_a_cell_trains_on_real_digits(manager, digits):
    fam = manager.get_family("nb201")
    train = manager.get_evaluator("train")
    ev = train(train.Options(max_epochs=1, patience=None))
    arch = cell("nor_conv_3x3", "skip_connect", "nor_conv_3x3", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
    result = ev.evaluate(arch, fam, digits, seed=0, device=torch.device("cpu"))
    assert result.ok and result.score > 0.5  # chance is 0.1


# -- the evaluator --------------------------------------------------------------------


def test_lookup_reads_the_right_columns(manager):
    table = load_table()
    best_key = max(table, key=lambda k: table[k]["cifar10_valid_12ep"])
    arch = from_nb201_string(best_key)
    result = evaluator().evaluate(arch, manager.get_family("nb201"), None, seed=0, device="cpu")
    assert result.ok
    assert result.score == pytest.approx(table[best_key]["cifar10_valid_12ep"] / 100)
    assert result.metrics["test_accuracy"] == pytest.approx(table[best_key]["cifar10_test_200ep"] / 100)
    assert result.metrics["nb201_arch"] == best_key
    # the data folder's README: the best 12-epoch cell reaches the optimum, 94.37
    assert round(100 * result.metrics["test_accuracy"], 2) == 94.37
    c100 = evaluator(dataset="cifar100").lookup(arch)
    assert c100["val_accuracy"] == pytest.approx(table[best_key]["cifar100_valid_12ep"] / 100)
    assert c100["nb201_dataset"] == "cifar100"


def test_simulated_cost_grows_with_convolutions():
    ev = evaluator(query_seconds=10.0)
    cheap = ev.lookup(cell(*["skip_connect"] * 6))["simulated_seconds"]
    mid = ev.lookup(cell(*["nor_conv_1x1"] * 6))["simulated_seconds"]
    dear = ev.lookup(cell(*["nor_conv_3x3"] * 6))["simulated_seconds"]
    assert cheap == pytest.approx(10.0) and dear == pytest.approx(30.0) and cheap < mid < dear


def test_other_families_are_refused(manager):
    mlp = manager.get_family("mlp").space().sample(np.random.default_rng(0))
    with pytest.raises(DataError, match="nb201 cells only.*mlp"):
        evaluator().lookup(mlp)


def test_the_table_data_set_tells_the_evaluator_which_columns(manager):
    ds = manager.get_dataset("nb201_table")
    bundle = ds(ds.Options(dataset="imagenet16")).load()
    assert bundle.input_shape == (3, 16, 16) and bundle.num_classes == 120
    arch = cell(*["nor_conv_3x3"] * 6)
    fam = manager.get_family("nb201")
    assert evaluator().evaluate(arch, fam, bundle, seed=0, device="cpu").metrics["nb201_dataset"] == "imagenet16"
    # an explicit evaluator option wins
    assert evaluator(dataset="cifar10").evaluate(arch, fam, bundle, seed=0, device="cpu").metrics[
        "nb201_dataset"] == "cifar10"


def test_a_missing_table_names_the_path_and_the_fixes(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.csv.gz"
    with pytest.raises(DataError, match="nowhere.csv.gz.*table_path.*SNAS_NB201"):
        evaluator(table_path=str(missing)).lookup(cell(*["none"] * 6))
    monkeypatch.setenv("SNAS_NB201", str(missing))
    assert default_table_path() == missing
    with pytest.raises(DataError, match="nowhere"):
        evaluator().lookup(cell(*["none"] * 6))
    monkeypatch.delenv("SNAS_NB201")
    assert default_table_path() == TABLE.resolve()


def test_a_search_through_the_engine_records_table_results():
    result = snas.search("nb201_table", "random", max_trials=12, run_dir="run", evaluator="nb201",
                         network_types=["nb201"], config={"max_complexity": 3})
    assert len(result.trials) == 12 and all(t.ok for t in result.trials)
    assert result.best.score == max(t.score for t in result.trials)
    assert result.best.metrics["test_accuracy"] > 0.1
    assert result.data_info["nb201_dataset"] == "cifar10"


# -- the benchmark --------------------------------------------------------------------------


def test_a_benchmark_search_counts_queries_and_tracks_the_best():
    record = run_engine("evolutionary", 0, 60, "cifar100", preset("evolutionary", 60))
    curve = record["curve"]
    assert record["queries"] == len(curve) == 60
    assert curve[-1] == pytest.approx(record["test_accuracy"])
    assert 0 < record["test_accuracy"] <= 73.51 + 1e-6  # the CIFAR-100 optimum
    assert record["simulated_seconds"] > 0


def test_mean_curve_holds_the_last_value_of_short_runs():
    assert mean_curve([[1.0, 2.0, 3.0], [3.0]], 3) == [2.0, 2.5, 3.0]


def test_benchmark_command_prints_json_and_writes_plots(tmp_path, manager):
    group = click.Group()
    manager.hook.snas_register_commands(cli=group)
    assert "benchmark" in group.commands
    runner = CliRunner()
    svg = tmp_path / "curve.svg"
    result = runner.invoke(benchmark, ["nb201", "--search-method", "random", "--queries", "20", "--seeds", "3",
                                       "--json", "--plot", str(svg)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    accs = [r["test_accuracy"] for r in out["results"]]
    assert len(accs) == 3 and out["mean"] == pytest.approx(np.mean(accs)) and out["std"] == pytest.approx(np.std(accs))
    assert len(out["curve"]) == 20
    text = svg.read_text()
    assert text.startswith("<svg") and "<polyline" in text and "random" in text
    csv_file = tmp_path / "curve.csv"
    result = runner.invoke(benchmark, ["nb201", "--search-method", "random", "--queries", "20", "--seeds", "3",
                                       "--plot", str(csv_file), "--dataset", "cifar100"])
    assert result.exit_code == 0, result.output
    assert "±" in result.output and "cifar100" in result.output
    rows = csv_file.read_text().splitlines()
    assert rows[0] == "query,random" and len(rows) == 21


def test_benchmark_rejects_strategies_that_need_training():
    result = CliRunner().invoke(benchmark, ["nb201", "--search-method", "enas", "--seeds", "1"])
    assert result.exit_code != 0


def test_svg_plot_draws_one_line_per_strategy():
    text = svg_plot({"a": [90.0, 91.0, 92.0], "b": [89.0, 90.5, None]}, "t")
    assert text.count("<polyline") == 2
