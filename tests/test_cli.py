"""The snas command line: help, errors, search, show, config files, plugins."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
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
