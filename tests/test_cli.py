"""The snas command line: help, errors, search, show, config files, plugins."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import snas
import tomli_w
from click.testing import CliRunner

from snas.frontends.cli import cli

COMMANDS = ["search", "resume", "show", "plugins", "space", "datasets"]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(runner, command):
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_search_help_keeps_the_s_nas_option_names(runner):
    text = runner.invoke(cli, ["search", "--help"]).output
    for option in ["--dataset", "--search-method", "--network-type", "--population-size", "--generations",
                   "--mutation-rate", "--elite-size", "--max-epochs", "--batch-size", "--patience", "--min-delta",
                   "--monitor", "--num-workers", "--output-dir", "--checkpoint-frequency", "--resume-from",
                   "--gpu-ids", "--seed", "--max-trials", "--time-budget", "--config"]:
        assert option in text, option


@pytest.mark.slow
def test_search_then_show(runner, tmp_path):
    result = runner.invoke(cli, ["search", "--network-type", "mlp", "--max-trials", "3", "--population-size", "3",
                                 "--max-epochs", "3", "--output-dir", str(tmp_path), "--run-name", "r", "--quiet"])
    assert result.exit_code == 0, result.output
    for text in ["best architecture", "layer 1:", "validation accuracy", "test accuracy", "parameters", "run file"]:
        assert text in result.output
    shown = runner.invoke(cli, ["show", str(tmp_path / "r" / "run.h5"), "--json"])
    data = json.loads(shown.output)
    assert data["config"]["network_types"] == ["mlp"]
    assert len(data["trials"]) == 3
    assert {"fingerprint", "status", "score", "metrics"} <= set(data["trials"][0])
    assert data["best"]["val_accuracy"] == max(t["score"] for t in data["trials"])
    assert 0 < data["best"]["test_accuracy"] <= 1
    table = runner.invoke(cli, ["show", str(tmp_path / "r")])
    assert table.exit_code == 0 and "fingerprint" in table.output and "test acc" in table.output


@pytest.mark.slow
def test_config_file_sets_options_and_flags_override_it(runner, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(tomli_w.dumps({
        "search-method": "random", "network-type": "mlp", "max-trials": 5, "seed": 3,
        "evaluator_options": {"max_epochs": 2},
    }))
    result = runner.invoke(cli, ["search", "--config", str(config), "--max-trials", "2", "--output-dir",
                                 str(tmp_path), "--run-name", "c", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["config"]["strategy"] == "random" and data["config"]["seed"] == 3
    assert data["config"]["max_trials"] == 2 and len(data["trials"]) == 2
    assert all(t["metrics"]["epochs"] <= 2 for t in data["trials"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["search", "--dataset", "nope"], "unknown dataset 'nope'"),
        (["search", "--search-method", "genetic"], "unknown strategy 'genetic'"),
        (["search", "-S", "populaton_size=3"], "unknown option(s) populaton_size"),
        (["search", "--gpu-ids", "a,b"], "gpu_ids expects comma-separated integers"),
        (["show", "missing.h5"], "does not exist"),
        (["resume", "missing.h5"], "does not exist"),
        (["search", "--config", "missing.toml"], "config file missing.toml does not exist"),
    ],
)
def test_bad_input_is_one_clear_line(runner, args, message):
    result = runner.invoke(cli, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_plugins_lists_components_with_their_distribution(runner):
    result = runner.invoke(cli, ["plugins"])
    assert result.exit_code == 0
    assert "family:" in result.output and "strategy:" in result.output
    assert any(line.split()[:2] == ["evolutionary", "snas"] for line in result.output.splitlines())


def test_space_and_datasets_describe_what_is_installed(runner):
    space = runner.invoke(cli, ["space", "cnn", "--json"])
    info = json.loads(space.output)["cnn"]
    assert {p["name"] for p in info["parameters"]} >= {"num_layers", "filters", "kernel_sizes", "activation"}
    assert "1" in info["levels"]
    datasets = runner.invoke(cli, ["datasets", "--json"])
    digits = next(d for d in json.loads(datasets.output) if d["name"] == "digits")
    assert digits["input_shape"] == [1, 8, 8] and digits["num_classes"] == 10 and digits["available"] is True


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "snas", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "0.1.0" in result.stdout


def test_search_help_groups_flags_by_component(runner):
    text = runner.invoke(cli, ["search", "--help"]).output
    assert "Options of the strategy 'evolutionary'" in text and "Options of the evaluator 'train'" in text
    assert "Individuals in the population." in text  # the help comes from the option's declaration
    pnas = runner.invoke(cli, ["search", "--search-method", "pnas", "--help"]).output
    assert "--beam-size" in pnas and "--population-size" not in pnas


def test_a_flag_of_a_component_the_run_does_not_use_names_that_component(runner):
    result = runner.invoke(cli, ["search", "--beam-size", "3"])
    assert result.exit_code == 2
    assert "--beam-size is an option of the strategy 'pnas'" in result.output


def test_one_setting_reaches_the_component_that_owns_it_from_flags_toml_and_api(tmp_path):
    from snas.frontends.cli import plan_from_args
    from snas.runtime.planning import plan_run

    plan = plan_from_args(["--population-size", "7", "--max-epochs", "2", "--network-type", "mlp,cnn"])
    assert plan["strategy"].options.population_size == 7 and plan["evaluator"].options.max_epochs == 2
    assert plan.config.network_types == ["mlp", "cnn"]
    config = tmp_path / "run.toml"
    config.write_text(tomli_w.dumps({"search-method": "random", "max_epochs": 4, "complexity_level": 2}))
    plan = plan_from_args(["--config", str(config), "--max-epochs", "5"])
    assert plan.config.strategy == "random" and plan["strategy"].options.complexity_level == 2
    assert plan["evaluator"].options.max_epochs == 5  # the flag wins over the file
    plan = plan_run({"strategy": "pnas", "beam_size": 3, "patience": 1})
    assert plan["strategy"].options.beam_size == 3 and plan["evaluator"].options.patience == 1
    with pytest.raises(snas.ConfigError, match="'beam_size' is an option of the strategy 'pnas'"):
        plan_run({"beam_size": 3})
    with pytest.raises(snas.ConfigError, match="unknown setting 'beem_size'"):
        plan_run({"beem_size": 3})


def test_explicit_api_arguments_win_over_config(tmp_path):
    from snas.frontends import api

    captured = {}

    def fake_run_search(plan, path, **kwargs):
        captured["plan"] = plan
        raise SystemExit

    original, api.run_search = api.run_search, fake_run_search
    try:
        with pytest.raises(SystemExit):
            snas.search(dataset="digits", config={"dataset": "mnist", "seed": 4}, run_dir=tmp_path / "r")
    finally:
        api.run_search = original
    assert captured["plan"].config.dataset == "digits" and captured["plan"].config.seed == 4


def test_network_type_all_means_every_family_at_the_chosen_complexity():
    from snas.runtime.planning import plan_run

    everything = plan_run({"network_types": ["all"], "max_complexity": 3}).config.network_types
    assert {"cnn", "mlp", "resnet", "vit", "mlp_mixer"} <= set(everything) and "nb201" not in everything
    assert set(plan_run({"network_types": "all", "max_complexity": 1}).config.network_types) == {"cnn", "mlp"}


def test_defaults_come_from_the_plugins_not_the_kernel():
    from snas.runtime.planning import plan_run

    plan = plan_run({})
    assert (plan.config.dataset, plan.config.strategy, plan.config.evaluator, plan.config.executor) == \
        ("digits", "evolutionary", "train", "inline")
    assert plan.config.network_types == ["cnn", "mlp"]
    assert plan_run({"num_workers": 2}).config.executor == "process"


@pytest.mark.parametrize("args,parallel", [([], False), (["--num-workers", "2"], True), (["--gpu-ids", "0,1"], True),
                                           (["--gpu-ids", "0"], False)])
def test_the_executor_flags_offered_follow_the_planning_rule(args, parallel):
    """Two workers or two GPUs choose the process executor, so its flags (--trials-per-gpu) are offered."""
    help_text = CliRunner().invoke(cli, ["search", *args, "--help"]).output
    assert ("Options of the executor 'process'" in help_text) == parallel
    assert ("--trials-per-gpu" in help_text) == parallel
