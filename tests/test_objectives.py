"""Objectives and constraints: parsing from every front-end, Deb's constrained domination, the run's
Pareto front, single-objective strategies refusing them, and what a user sees of the front
(``snas show``, ``--json``, the report's figure, ``snas export --trial``)."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

import snas
from snas import Architecture, ConfigError, Constraint, Objective, Trial
from snas.frontends.cli import cli, plan_from_args
from snas.runtime.objectives import Front, constrained_dominates, dominates, pareto_front, values, violation
from snas.runtime.planning import plan_run
from snas_plugins.families.nb201 import OPS, benchmark_parameter_count, build_network, make_cell

ACC_PARAMS = ["val_accuracy:max", "params:min"]


def trial(tid: int, **metrics) -> Trial:
    return Trial(tid, Architecture("f", {"x": tid}), "ok", metrics.get("val_accuracy", 0.5), metrics=metrics)


# -- constraints: parsing and violation ----------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("params<=100000", Constraint("params", "<=", 100000)),
    (" latency_ms <= 2 ", Constraint("latency_ms", "<=", 2)),
    ("val_accuracy>=0.9", Constraint("val_accuracy", ">=", 0.9)),
    ("params<=1e5", Constraint("params", "<=", 1e5)),
])
def test_constraints_parse(text, expected):
    assert Constraint.parse(text) == expected
    assert Constraint.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["params<100", "params", "<=5", "params<=abc", "params<=inf", "params<=>3",
                                  "params=100", "params<=", "params>=nan"])
def test_a_malformed_constraint_is_one_clear_error(text):
    with pytest.raises(ConfigError) as info:
        Constraint.parse(text)
    message = str(info.value)
    assert repr(text) in message and "NAME<=NUMBER" in message and "params<=100000" in message


def test_violation_is_relative_to_the_bound_and_infinite_when_the_metric_is_missing():
    small, big = trial(0, params=80), trial(1, params=150)
    at_most = Constraint.parse("params<=100")
    assert at_most.violation(small) == 0 and at_most.violation(big) == pytest.approx(0.5)
    assert Constraint.parse("params>=100").violation(small) == pytest.approx(0.2)
    assert Constraint.parse("loss<=0").violation(trial(2, loss=0.25)) == pytest.approx(0.25)  # bound 0: absolute
    assert Constraint.parse("latency_ms<=2").violation(small) == float("inf")
    assert violation(big, [at_most, Constraint.parse("params>=200")]) == pytest.approx(0.5 + 0.25)
    assert violation(big, []) == 0


def test_constrained_domination_is_debs_rule():
    assert constrained_dominates((0.0, (0.1, -900)), (0.3, (0.9, -10)))  # feasible beats infeasible, however good
    assert constrained_dominates((0.1, (0.0, -900)), (0.2, (0.9, -10)))  # smaller violation wins
    assert constrained_dominates((0.2, (0.9, -10)), (0.2, (0.8, -10)))  # equal violations: the objectives decide
    assert not constrained_dominates((0.2, (0.9, -20)), (0.2, (0.8, -10)))
    assert not constrained_dominates((0.0, (1, 1)), (0.0, (1, 1)))


def test_the_front_with_a_constraint_holds_only_feasible_trials_once_one_exists():
    trials = [trial(0, val_accuracy=0.95, params=500), trial(1, val_accuracy=0.80, params=90),
              trial(2, val_accuracy=0.85, params=100), trial(3, val_accuracy=0.70, params=95)]
    objectives = [Objective.parse(o) for o in ACC_PARAMS]
    assert [t.trial_id for t in pareto_front(trials, objectives)] == [0, 1, 2]
    limit = [Constraint.parse("params<=100")]
    assert [t.trial_id for t in pareto_front(trials, objectives, limit)] == [1, 2]
    # nothing feasible: the trials closest to feasibility stand in
    strict = [Constraint.parse("params<=50")]
    assert [t.trial_id for t in pareto_front(trials, objectives, strict)] == [1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.booleans()), max_size=14))
def test_the_incremental_front_is_the_set_no_trial_dominates(rows):
    trials = [Trial(i, Architecture("f", {"x": i}), "ok" if ok else "failed", a if ok else None,
                    metrics={"val_accuracy": a, "params": p, "latency_ms": lat})
              for i, (a, p, lat, ok) in enumerate(rows)]
    objectives = [Objective.parse(o) for o in ACC_PARAMS]
    constraints = [Constraint.parse("latency_ms<=1")]
    keys = {t.trial_id: (violation(t, constraints), values(t, objectives)) for t in trials if t.ok}

    def stands(t):  # not dominated, and the earliest of its equals
        key = keys[t.trial_id]
        return not any(constrained_dominates(k, key) or (k == key and tid < t.trial_id) for tid, k in keys.items())

    expected = [t.trial_id for t in trials if t.ok and stands(t)]
    assert [t.trial_id for t in pareto_front(trials, objectives, constraints)] == expected
    front = Front(objectives, constraints)
    for t in reversed(trials):  # the order trials arrive in does not change the set (ties aside)
        front.add(t)
    assert {keys[t.trial_id] for t in front.trials} == {keys[i] for i in expected}


# -- settings: flags, TOML and the API ------------------------------------------------------------


def test_constraints_from_flags_toml_and_the_api(tmp_path):
    plan = plan_from_args(["--constraint", "params<=100000", "--constraint", "latency_ms<=2",
                           "--objective", "val_accuracy:max", "--objective", "params:min"])
    assert plan.config.constraints == ["params<=100000", "latency_ms<=2"]
    assert plan.config.objectives == ACC_PARAMS
    toml = tmp_path / "run.toml"
    toml.write_text('objectives = ["val_accuracy:max", "params:min"]\nconstraints = ["params<=100000"]\n')
    assert plan_from_args(["--config", str(toml)]).config.constraints == ["params<=100000"]
    assert plan_run({"constraints": "params<=1e5"}).config.constraints == ["params<=1e5"]
    assert plan_run({"objectives": "params:min"}).config.objectives == ["params:min"]  # one, not one per letter
    assert plan_run({"constraints": ["params<=1e5", "latency_ms<=2"]}).config.constraints == ["params<=1e5",
                                                                                               "latency_ms<=2"]


def test_a_malformed_constraint_fails_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="constraint 'params<100'.*NAME<=NUMBER"):
        snas.search(constraints=["params<100"], run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()
    result = CliRunner().invoke(cli, ["search", "--constraint", "params=5", "--output-dir", str(tmp_path)])
    assert result.exit_code != 0 and "constraint 'params=5'" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("strategy", ["pnas", "enas", "pnas_enas"])
def test_single_objective_strategies_refuse_objectives_and_constraints_before_the_run(strategy, tmp_path):
    with pytest.raises(ConfigError, match=rf"{strategy}' is single-objective.*objectives val_accuracy:max, "
                                          r"params:min.*evolutionary"):
        snas.search(strategy=strategy, objectives=ACC_PARAMS, run_dir=tmp_path / "a")
    with pytest.raises(ConfigError, match=r"constraints params<=1000"):
        snas.search(strategy=strategy, constraints=["params<=1000"], run_dir=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# -- NAS-Bench-201 cells: their parameter count --------------------------------------------------


def test_the_parameter_count_of_a_cell_is_its_benchmark_networks_and_is_cached_soundly():
    rng = torch.Generator().manual_seed(0)
    for _ in range(4):
        ops = [OPS[int(i)] for i in torch.randint(len(OPS), (6,), generator=rng)]
        for order in itertools.islice(itertools.permutations(ops), 0, 720, 240):
            cell = make_cell(order)
            built = sum(p.numel() for p in build_network(cell, (3, 32, 32), 10).parameters())
            assert benchmark_parameter_count(cell) == built
    # the published sizes (NAS-Bench-201, CIFAR-10): all 3x3 convolutions, and all "none"
    assert benchmark_parameter_count(make_cell(["nor_conv_3x3"] * 6)) == 1_531_546
    assert benchmark_parameter_count(make_cell(["none"] * 6), (3, 16, 16), 120) == 73_306 + 110 * 65


# -- a multi-objective run: front, show, JSON, report -------------------------------------------------


@pytest.fixture
def table_run(nb201_table, tmp_path):
    """NSGA-II on the NAS-Bench-201 table: accuracy against parameters, at most 800k parameters."""
    return snas.search("nb201_table", "evolutionary", max_trials=40, seed=1, run_dir=tmp_path / "run",
                       evaluator="nb201", network_types=["nb201"], config={"max_complexity": 3},
                       objectives=ACC_PARAMS, constraints=["params<=400000"], population_size=10, generations=5)


def test_a_run_keeps_the_constrained_front_of_its_objectives(table_run):
    trials = [t for t in table_run.trials if t.ok and t.cached_from is None]
    assert len(trials) == 40 and all(t.metrics["params"] > 0 for t in trials)
    feasible = [t for t in trials if t.metrics["params"] <= 400_000]
    assert feasible and len(feasible) < len(trials)
    expected = {t.trial_id for t in feasible
                if not any(dominates((u.metrics["val_accuracy"], -u.metrics["params"]),
                                     (t.metrics["val_accuracy"], -t.metrics["params"])) for u in feasible)}
    front = {t.trial_id for t in table_run.front}
    # equal (accuracy, params) pairs: the earliest stands for its twins
    assert front <= expected and {(t.metrics["val_accuracy"], t.metrics["params"]) for t in table_run.front} == {
        (t.metrics["val_accuracy"], t.metrics["params"]) for t in trials if t.trial_id in expected}
    again = snas.load_run(table_run.path)
    assert [t.trial_id for t in again.front] == [t.trial_id for t in table_run.front]
    assert [str(c) for c in again.constraints] == ["params<=400000"]


def test_snas_show_lists_the_front_with_each_objective(table_run):
    text = CliRunner().invoke(cli, ["show", str(table_run.path)])
    assert text.exit_code == 0, text.output
    assert (f"Pareto front (val_accuracy:max, params:min; constraints params<=400000): {len(table_run.front)} trials"
            in text.output)
    lines = text.output.splitlines()
    for t in table_run.front:
        row = next(line for line in lines if line.split()[:2] == [str(t.trial_id), t.fingerprint])
        assert f"{t.metrics['params']:,}" in row and f"{t.metrics['val_accuracy']:.4f}" in row and row.endswith("yes")
    data = json.loads(CliRunner().invoke(cli, ["show", str(table_run.path), "--json"]).output)
    assert data["constraints"] == ["params<=400000"]
    assert [(m["trial_id"], m["feasible"]) for m in data["pareto_front"]] == [(t.trial_id, True)
                                                                            for t in table_run.front]
    assert data["pareto_front"][0]["objectives"] == {"val_accuracy": table_run.front[0].metrics["val_accuracy"],
                                                     "params": table_run.front[0].metrics["params"]}


def test_the_report_plots_the_runs_own_front(table_run):
    from snas_plugins.reporting import figures

    fig = figures.pareto(table_run)
    (ax,) = fig.axes
    front = [a for a in ax.lines if a.get_gid() == "front"][0]
    drawn = sorted(zip(front.get_xdata(), front.get_ydata()))
    assert drawn == sorted((t.metrics["params"], t.metrics["val_accuracy"]) for t in table_run.front)
    infeasible = [a for a in ax.collections if a.get_gid() == "infeasible"][0]
    distinct = {t.fingerprint: t for t in reversed(table_run.trials) if t.ok}
    assert len(infeasible.get_offsets()) == sum(t.metrics["params"] > 400_000 for t in distinct.values())
    assert "params (min)" == ax.get_xlabel() and "val_accuracy (max)" == ax.get_ylabel()


def test_random_search_takes_objectives_unchanged(nb201_table, tmp_path):
    base = dict(max_trials=15, seed=3, evaluator="nb201", network_types=["nb201"], config={"max_complexity": 3})
    plain = snas.search("nb201_table", "random", run_dir=tmp_path / "a", **base)
    multi = snas.search("nb201_table", "random", run_dir=tmp_path / "b", objectives=ACC_PARAMS,
                        constraints=["params<=500000"], **base)
    assert [t.fingerprint for t in plain.trials] == [t.fingerprint for t in multi.trials]
    assert len(multi.front) >= 1 and len(plain.front) == 1


# -- exporting a member of the front ------------------------------------------------------------------


@pytest.mark.slow
def test_any_front_member_exports_from_its_stored_weights(tmp_path):
    run = snas.search(dataset="digits", strategy="random", max_trials=6, seed=2, run_dir=tmp_path / "run",
                      network_types=["cnn", "mlp"], objectives=ACC_PARAMS, evaluator_options={"max_epochs": 2})
    others = [t for t in run.front if t.trial_id != run.best.trial_id]
    assert others, "the seed gives a front of several trials"
    member = others[0]
    snas.get_plugin_manager().hook.snas_register_commands(cli=cli)  # as snas.frontends.cli.main does
    result = CliRunner().invoke(cli, ["export", str(run.path), "--format", "python", "--out", str(tmp_path / "x"),
                                      "--trial", str(member.trial_id)])
    assert result.exit_code == 0, result.output
    assert "retrained" not in result.output
    meta = json.loads((tmp_path / "x" / "python" / "metadata.json").read_text())
    assert meta["trial_id"] == member.trial_id and meta["retrained"] is False
    # the stored weights score exactly what the trial recorded on the whole validation split
    assert meta["accuracy"]["validation_measured"] == pytest.approx(member.metrics["val_accuracy"], abs=1e-9)
    assert meta["parameters"] == member.metrics["params"]
    stored = {t.trial_id for t in run.trials if run.weights(t.trial_id) is not None}
    assert {t.trial_id for t in run.front} | {run.best.trial_id} == stored


def test_show_says_when_no_trial_meets_the_constraints(nb201_table, tmp_path):
    run = snas.search("nb201_table", "random", max_trials=8, seed=0, run_dir=tmp_path / "run", evaluator="nb201",
                      network_types=["nb201"], config={"max_complexity": 3}, constraints=["params<=1000"])
    # one objective and a constraint nothing meets: the front is the trial closest to it, the smallest network
    smallest = min(t.metrics["params"] for t in run.trials)
    assert [t.metrics["params"] for t in run.front] == [smallest]
    text = CliRunner().invoke(cli, ["show", str(run.path)]).output
    assert "Pareto front (score:max; constraints params<=1000): 1 trials" in text
    assert "no trial meets every constraint" in text and text.count("  no\n") == 1
