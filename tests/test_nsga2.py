"""NSGA-II: non-dominated sorting, crowding distance and hypervolume against hand-worked examples,
and the evolutionary strategy's selection, survival and removal with several objectives and constraints."""

from __future__ import annotations

import math

import numpy as np
import pytest

from snas import Architecture, Constraint, JointSpace, Objective, StrategyContext, Trial
from snas.runtime.config import make_options
from snas_plugins.strategies.evolutionary import Evolutionary, EvolutionaryOptions, _member
from snas_plugins.strategies.pareto import crowding_distance, hypervolume_2d, nondominated_sort, rank_and_crowding

ACC_PARAMS = (Objective("val_accuracy", "max"), Objective("params", "min"))


# -- the building blocks, by hand -------------------------------------------------------------------


def test_nondominated_sort_of_a_hand_made_set():
    # larger is better in both: A=(1,5) B=(2,4) C=(3,3) D=(2,2) E=(1,1) F=(3,3), feasible
    points = [(1, 5), (2, 4), (3, 3), (2, 2), (1, 1), (3, 3)]
    keys = [(0.0, p) for p in points]
    # A, B, C and its twin F dominate one another nowhere; D is beaten by B and C; E by D too
    assert nondominated_sort(keys) == [[0, 1, 2, 5], [3], [4]]


def test_an_infeasible_point_ranks_behind_every_feasible_one_whatever_its_objectives():
    points = [(1, 5), (2, 4), (3, 3), (2, 2), (1, 1), (3, 3)]
    keys = [(0.5 if i == 0 else 0.0, p) for i, p in enumerate(points)]  # A violates a constraint
    # E (1, 1) is worse than A (1, 5) in the objectives, but feasible: it dominates A
    assert nondominated_sort(keys) == [[1, 2, 5], [3], [4], [0]]


def test_between_infeasible_points_the_smaller_violation_wins_then_the_objectives():
    keys = [(0.2, (9, 9)), (0.1, (0, 0)), (0.1, (1, 0)), (0.1, (0, 1))]
    # violation 0.1 beats 0.2; among the three at 0.1, (1, 0) and (0, 1) dominate (0, 0)
    assert nondominated_sort(keys) == [[2, 3], [1], [0]]


def test_crowding_distance_of_a_hand_made_front():
    # both objectives range over 8; interior distances are the neighbours' gaps over the range, summed
    front = [(1, 9), (2, 7), (4, 4), (7, 2), (9, 1)]
    # (2,7): (4-1)/8 + (9-4)/8 = 1.0; (4,4): (7-2)/8 + (7-2)/8 = 1.25; (7,2): (9-4)/8 + (4-1)/8 = 1.0
    assert crowding_distance(front) == [math.inf, pytest.approx(1.0), pytest.approx(1.25), pytest.approx(1.0),
                                        math.inf]


def test_crowding_distance_of_small_and_flat_fronts():
    assert crowding_distance([]) == []
    assert crowding_distance([(1, 2)]) == [math.inf]
    assert crowding_distance([(1, 2), (2, 1)]) == [math.inf, math.inf]
    # an objective on which all points agree adds nothing; the other still spreads them
    assert crowding_distance([(0, 1), (0, 2), (0, 4)]) == [math.inf, pytest.approx(1.0), math.inf]


def test_rank_and_crowding_puts_points_without_values_last():
    ranking = rank_and_crowding([(0.0, (1, 2)), None, (0.0, (0, 0)), (0.0, (2, 1))])
    assert ranking == [(0, math.inf), (2, 0.0), (1, math.inf), (0, math.inf)]


def test_hypervolume_of_a_hand_made_front():
    front = [(3, 1), (2, 2), (1, 3)]
    assert hypervolume_2d(front, (0, 0)) == pytest.approx(3 * 1 + 2 * 1 + 1 * 1)
    # a dominated point, and points not beyond the reference, add nothing
    assert hypervolume_2d(front + [(1, 1), (-1, 5), (5, 0)], (0, 0)) == pytest.approx(6)
    assert hypervolume_2d([(3, 1)], (1, 0)) == pytest.approx(2)
    assert hypervolume_2d([], (0, 0)) == 0.0


# -- the evolutionary strategy with several objectives ------------------------------------------------


@pytest.fixture
def space(manager):
    return JointSpace({"nb201": manager.get_family("nb201").space()}, max_level=3)


def make(space, objectives=ACC_PARAMS, constraints=(), seed=0, **options) -> Evolutionary:
    strategy = Evolutionary(space, make_options(EvolutionaryOptions, options, "test"), np.random.default_rng(seed))
    strategy.setup(StrategyContext(None, None, tuple(objectives), 0, tuple(constraints)))
    return strategy


def trial(tid: int, arch: Architecture, acc: float | None, params: int) -> Trial:
    if acc is None:
        return Trial(tid, arch, "failed", None, metrics={"params": params}, error="boom")
    return Trial(tid, arch, "ok", acc, metrics={"val_accuracy": acc, "params": params})


#: (accuracy, parameters) of 4 parents and 3 children, worked through by hand below
PARENTS = [(0.90, 100), (0.80, 50), (0.70, 200), (0.95, 400)]
CHILDREN = [(0.85, 60), (0.60, 300), (0.50, 40)]


def generation(strategy, results, first_id=0):
    proposals = strategy.ask(10**6)
    assert len(proposals) == len(results)
    trials = [trial(first_id + i, p.arch, acc, params) for i, (p, (acc, params)) in enumerate(zip(proposals, results))]
    for t in trials:
        strategy.tell(t)
    return trials


def survivors(strategy):
    return sorted((m["score"], -m["values"][1]) for m in strategy.population)


def test_generational_survival_keeps_the_best_fronts_and_drops_the_most_crowded(space):
    strategy = make(space, population_size=4, elite_size=1, generations=2)
    generation(strategy, PARENTS)
    generation(strategy, CHILDREN, first_id=4)
    # front 0 of the 7: (.90,100) (.80,50) (.95,400) (.85,60) (.50,40) -- five for four places.
    # crowding (accuracy range .45, parameter range 360): (.50,40) and (.95,400) are extremes;
    # (.80,50): .35/.45 + 20/360 = .833; (.85,60): .10/.45 + 50/360 = .361; (.90,100): .10/.45 + 340/360 = 1.167
    # so (.85, 60) goes, and the dominated (.70,200) and (.60,300) never had a chance
    assert survivors(strategy) == sorted([(0.90, 100), (0.80, 50), (0.95, 400), (0.50, 40)])


def test_a_constraint_keeps_the_feasible_members_even_when_an_infeasible_one_is_more_accurate(space):
    strategy = make(space, constraints=[Constraint.parse("params<=100")], population_size=4, elite_size=1,
                    generations=2)
    generation(strategy, PARENTS)
    generation(strategy, CHILDREN, first_id=4)
    # exactly four trials have params <= 100, and none of them dominates another
    assert survivors(strategy) == sorted([(0.90, 100), (0.80, 50), (0.85, 60), (0.50, 40)])


def test_a_tournament_over_everyone_picks_from_the_first_front_the_least_crowded(space):
    arch = space.sample(np.random.default_rng(0))
    strategy = make(space, population_size=5, tournament_size=5)
    members = [_member(trial(i, arch, acc, params), 0, ACC_PARAMS)
               for i, (acc, params) in enumerate([(0.7, 200), (0.8, 50), (0.6, 300), (0.9, 100), (0.5, 500)])]
    strategy._set_population(members)
    # front 0 is (.8, 50) and (.9, 100): both extremes of their front (infinite distance); the first drawn wins
    assert strategy.ranking() == [(1, math.inf), (0, math.inf), (2, math.inf), (0, math.inf), (3, math.inf)]
    for _ in range(5):
        assert strategy.tournament()["score"] == 0.8


def test_failed_members_lose_every_tournament(space):
    arch = space.sample(np.random.default_rng(0))
    strategy = make(space, population_size=2, tournament_size=2, elite_size=0)
    strategy._set_population([_member(trial(0, arch, None, 10), 0, ACC_PARAMS),
                              _member(trial(1, arch, 0.1, 10**6), 0, ACC_PARAMS)])
    assert all(strategy.tournament()["trial_id"] == 1 for _ in range(5))


@pytest.mark.parametrize("results, removed", [
    # (.7, 200) is dominated: the only member of the worst front
    ([(0.9, 100), (0.8, 50), (0.7, 200), (0.85, 60)], (0.7, 200)),
    # all four on the front; crowding (accuracy range .4, parameter range 60): (.8, 50) has
    # .35/.4 + 20/60 = 1.21, (.85, 60) has .10/.4 + 50/60 = 1.08, the two extremes are infinite
    ([(0.9, 100), (0.8, 50), (0.85, 60), (0.5, 40)], (0.85, 60)),
])
def test_steady_state_removes_the_worst_front_then_the_most_crowded(space, results, removed):
    strategy = make(space, population_size=3, steady_state=True, generations=3, offspring=1)
    for tid, (acc, params) in enumerate(results):
        (proposal,) = strategy.ask(1)
        strategy.tell(trial(tid, proposal.arch, acc, params))
    assert survivors(strategy) == sorted(r for r in results if r != removed)


def test_one_objective_without_constraints_is_plain_evolution(space):
    plain = Evolutionary(space, make_options(EvolutionaryOptions, {}, "test"), np.random.default_rng(3))
    scored = make(space, objectives=(Objective("score", "max"),), seed=3)
    assert not scored.pareto and make(space).pareto
    assert make(space, objectives=(Objective("score", "max"),), constraints=[Constraint.parse("params<=5")]).pareto
    rng = np.random.default_rng(7)
    for first in (0, 10, 18):
        a, b = plain.ask(10**6), scored.ask(10**6)
        assert [p.arch for p in a] == [p.arch for p in b]
        values = rng.random(len(a))
        for i, (pa, pb, v) in enumerate(zip(a, b, values)):
            plain.tell(trial(first + i, pa.arch, float(v), 10))
            scored.tell(trial(first + i, pb.arch, float(v), 10))


def test_a_minimized_single_objective_is_what_evolution_selects_on(space):
    strategy = make(space, objectives=(Objective("params", "min"),), population_size=3, tournament_size=3)
    arch = space.sample(np.random.default_rng(0))
    strategy._set_population([_member(trial(i, arch, 0.9 - i / 10, p), 0, strategy.objectives)
                              for i, p in enumerate([300, 100, 200])])
    assert strategy.tournament()["trial_id"] == 1  # the fewest parameters, not the best accuracy


def test_the_state_round_trip_continues_exactly_with_objectives_and_constraints(space):
    constraints = [Constraint.parse("params<=250")]
    rng = np.random.default_rng(11)

    def respond(strategy, first):
        proposals = strategy.ask(10**6)
        out = [trial(first + i, p.arch, float(rng.random()), int(rng.integers(10, 500)))
               for i, p in enumerate(proposals)]
        return proposals, out

    a = make(space, constraints=constraints, seed=5, population_size=6, generations=4)
    first = 0
    for _ in range(2):
        _, trials = respond(a, first)
        for t in trials:
            a.tell(t)
        first += len(trials)
    state = a.state_dict()
    b = make(space, constraints=constraints, seed=99, population_size=6, generations=4)
    b.load_state_dict(state)
    assert [p.arch for p in a.ask(10**6)] == [p.arch for p in b.ask(10**6)]
    assert a.progress() == b.progress() and a.progress()["front_size"] >= 1


# -- search quality ------------------------------------------------------------------------------


@pytest.mark.slow
def test_nsga2_finds_a_larger_hypervolume_than_random_search_on_nb201(nb201_table, tmp_path):
    """30 paired seeds of 60 lookups, accuracy against parameters: NSGA-II's front is larger
    (docs/benchmarks.md: on 29 of 30 seeds at 100 lookups; one-sided Wilcoxon p = 2e-7)."""
    from scipy.stats import wilcoxon

    import snas

    def hypervolume(strategy: str, seed: int, options: dict) -> float:
        result = snas.search("nb201_table", strategy, max_trials=60, seed=seed, run_dir=tmp_path / f"{strategy}{seed}",
                             evaluator="nb201", network_types=["nb201"], config={"max_complexity": 3},
                             objectives=["val_accuracy:max", "params:min"], strategy_options=options)
        return hypervolume_2d([(t.metrics["val_accuracy"], math.log10(1.6e6 / t.metrics["params"]))
                               for t in result.trials if t.ok], (0.0, 0.0))

    nsga = [hypervolume("evolutionary", s, {"population_size": 20, "offspring": 20, "generations": 100})
            for s in range(30)]
    rand = [hypervolume("random", s, {}) for s in range(30)]
    assert wilcoxon(nsga, rand, alternative="greater").pvalue < 0.01
