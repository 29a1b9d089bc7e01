"""The ``evolutionary`` strategy: a genetic search with an optional regularized-evolution mode.

Three modes share one set of variation operators:

* **generational** (default): every generation the ``elite_size`` best
  survive and the rest of the population is replaced by children of
  tournament winners; a generation is a batch, so workers wait for its
  slowest trial before the next starts;
* **aging** (``aging=true``, regularized evolution, Real et al. 2019): a
  first-in-first-out population; each child, proposed as soon as there is
  room, removes the *oldest* member when its result comes;
* **steady state** (``steady_state=true``): like aging, but each child
  removes the *worst* member.

Aging and steady-state searches keep every worker busy; their generation
counts ``offspring`` children (default 1 in aging mode).

With several objectives, or with constraints, selection is NSGA-II's (Deb et
al. 2002): members are ranked by non-dominated sorting under Deb's
constrained domination (feasible first, then the smaller violation, then
Pareto dominance), and within a front by crowding distance. Tournaments pick
the lowest rank, then the largest distance; generational survival keeps the
best ``population_size`` of parents and children together by rank and
distance (``elite_size`` then only sets the default number of children);
steady state removes the member with the highest rank and, within it, the
smallest distance. With one objective and no constraints, members compare by
that objective (the evaluator's score unless ``--objective`` names another).

A child is, with probability ``crossover_rate``, the crossover of two
tournament winners (parameter-wise within a family, single-point for
per-layer lists, a mutant of one parent when the families differ), otherwise
a mutant of one winner (its proposal's ``meta["parents"]`` holds their trial
ids, for ``--weight-inheritance``); mutation changes each parameter with probability
``mutation_rate`` and the family with ``0.2 * mutation_rate``. Children avoid
architectures already proposed in the run.

With ``progressive`` (default) the complexity level rises from the lowest
level to the run's ``--max-complexity`` on an even schedule over
``generations``. The first ``fast_generations`` generations are proposed with
the reduced ``fast`` training protocol. After every generation
:meth:`Evolutionary.progress` reports the population's diversity: the Shannon
entropy (bits) of each architecture parameter's values across the population,
averaged over the parameters.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Iterable, Mapping

import attrs

from snas import Architecture, BatchStrategy, ConfigError, Objective, Proposal, Trial, hookimpl, option
from snas_plugins.strategies.pareto import rank_and_crowding


@attrs.frozen
class EvolutionaryOptions:
    """Population and variation settings (the CLI's --population-size, --generations, …).

    ``generations`` counts batches: the initial population is generation 0,
    each later generation proposes ``offspring`` children (default
    ``population_size - elite_size``, or 1 in aging mode; with fewer, more of
    the best members survive in generational mode). ``tournament_size``
    is also the sample size of regularized evolution. ``elite_size`` has no
    effect in aging mode. ``complexity_level`` fixes the level (and turns
    ``progressive`` off). ``single_mutation`` makes every mutant differ from
    its parent in exactly one parameter (one element of a per-layer list),
    the operator of regularized evolution, instead of each parameter changing
    with probability ``mutation_rate``. ``steady_state`` turns the
    generational search into a steady-state one: each child, proposed as soon
    as a worker is free, replaces the worst member when its result comes
    (aging mode is always steady state, replacing the oldest).
    """

    population_size: int = option(10, low=2, help="Individuals in the population.")
    generations: int = option(5, low=1, help="Generations, the initial population included.")
    mutation_rate: float = option(0.2, low=0, high=1, help="Probability that a child changes each parameter.")
    crossover_rate: float = option(0.5, low=0, high=1, help="Probability that a child is the crossover of two parents.")
    tournament_size: int = option(3, low=1, help="Members drawn for each tournament (the sample size of aging).")
    elite_size: int = option(2, low=0, help="Best members kept each generation (generational mode).")
    complexity_level: int | None = option(None, choices=(None, 1, 2, 3),
                                          help="Search this complexity level only (turns progressive off).")
    aging: bool = option(False, help="Regularized evolution: each child replaces the oldest member.")
    offspring: int | None = option(None, low=1, help="Children per generation (default: population minus "
                                                     "elites; 1 in aging mode).")
    progressive: bool = option(True, help="Raise the complexity level from 1 to the run's cap over the generations.")
    fast_generations: int = option(0, low=0, help="First generations trained with the reduced fast protocol.")
    single_mutation: bool = option(False, help="Every mutant differs from its parent in exactly one parameter.")
    steady_state: bool = option(False, help="Propose each child as soon as a worker is free; it replaces the worst "
                                            "member (keeps every worker busy).")
    starting_points: bool = option(True, help="The first population begins with each family's starting point (a "
                                              "well-tried network, e.g. cnn's 32-64-64 filters, batch norm, Adam "
                                              "1e-3); the rest is random.")

    def __attrs_post_init__(self) -> None:
        if not self.aging and self.elite_size >= self.population_size:
            raise ConfigError(
                f"elite_size ({self.elite_size}) must be smaller than population_size ({self.population_size})"
            )

    @property
    def children_per_generation(self) -> int:
        """Children proposed in every generation after the first."""
        if self.offspring is not None:
            return self.offspring
        return 1 if self.aging else self.population_size - self.elite_size


# --------------------------------------------------------------------------
# diversity


def entropy(values: Iterable[Any]) -> float:
    """Shannon entropy in bits of the empirical distribution of ``values``."""
    counts = Counter(values)
    total = sum(counts.values())
    if total == 0:
        return 0.0
    return float(-sum(c / total * math.log2(c / total) for c in counts.values()) + 0.0)


def population_entropy(archs: list[Architecture], fixed: Iterable[str] = ()) -> dict[str, float]:
    """Diversity of a population of architectures.

    ``entropy`` is the mean, over the architecture parameters, of the Shannon
    entropy (bits) of that parameter's values across the members that have it;
    every element of a per-layer list counts as its own parameter, and
    parameters are kept apart per family. ``family_entropy`` is the entropy of
    the families themselves. ``fixed`` names ``family.parameter`` keys to
    leave out (parameters with a single allowed value carry no diversity).
    """
    skip = set(fixed)
    columns: dict[str, list[Any]] = {}
    for arch in archs:
        for name, value in arch.params.items():
            if isinstance(value, tuple):
                for i, v in enumerate(value):
                    columns.setdefault(f"{arch.family}.{name}[{i}]", []).append(v)
            else:
                columns.setdefault(f"{arch.family}.{name}", []).append(value)
    per_param = [entropy(map(repr, column)) for key, column in columns.items() if key.split("[")[0] not in skip]
    return {
        "entropy": sum(per_param) / len(per_param) if per_param else 0.0,
        "family_entropy": entropy(a.family for a in archs),
    }


# --------------------------------------------------------------------------
# the strategy


def _choices(param: Any) -> int:
    """How many values a parameter (or each element of a per-layer list) can take."""
    item = getattr(param, "item", param)
    values = getattr(item, "values", None)
    return len(values) if values is not None else item.high - item.low + 1


def _oriented(trial: Trial, objectives: tuple[Objective, ...]) -> list[float] | None:
    """The trial's objective values, larger is better; ``None`` for a failed trial or a missing value."""
    out = []
    for objective in objectives:
        value = objective.value(trial) if trial.ok else None
        if value is None:
            return None
        out.append(value if objective.direction == "max" else -value)
    return out


def _member(trial: Trial, born: int, objectives: tuple[Objective, ...] = (),
            constraints: tuple[Any, ...] = ()) -> dict[str, Any]:
    violation = sum(c.violation(trial) for c in constraints)
    return {
        "trial_id": trial.trial_id,
        "architecture": trial.arch.to_dict(),
        "score": trial.score if trial.ok else None,
        "protocol": trial.protocol,
        "born": born,
        "values": _oriented(trial, objectives or (Objective("score", "max"),)),
        "violation": violation if math.isfinite(violation) else None,  # None: a constrained metric is missing
    }


def _values(member: Mapping[str, Any]) -> list[float] | None:
    """A member's oriented objective values (members saved before objectives existed have their score)."""
    if "values" in member:
        return member["values"]
    return None if member["score"] is None else [member["score"]]


def _arch(member: Mapping[str, Any]) -> Architecture:
    return Architecture.from_dict(member["architecture"])


class Evolutionary(BatchStrategy):
    """Evolution with tournament selection, crossover, mutation, elitism or aging, progressive levels."""

    name = "evolutionary"
    description = "genetic search: tournaments, crossover, mutation, elitism or aging, progressive levels"
    Options = EvolutionaryOptions
    default = True

    def __init__(self, space: Any, options: EvolutionaryOptions, rng: Any):
        super().__init__(space, options, rng)
        self.population: list[dict[str, Any]] = []
        self.history: set[str] = set()  # fingerprints told
        self.proposed: set[str] = set()  # fingerprints proposed (steady state: in flight too)
        self.asked = self.told = 0
        self.objectives: tuple[Objective, ...] = (Objective("score", "max"),)
        self.constraints: tuple[Any, ...] = ()
        self._ranking: tuple[tuple[int, int], list[tuple[int, float]]] | None = None  # cached ranking()
        self.flops: Any = None  # the run's FLOP count (StrategyContext.flops), when the engine offers one
        self._points: dict[int | None, list[Architecture]] = {}

    def setup(self, context: Any) -> None:
        """Keep the run's objectives and constraints (they decide how members compare) and its FLOP count."""
        self.objectives = tuple(context.objectives) or self.objectives
        self.constraints = tuple(getattr(context, "constraints", ()))
        self.flops = getattr(context, "flops", None)

    @property
    def pareto(self) -> bool:
        """Whether members compare by NSGA-II's rank and crowding (several objectives, or constraints)."""
        return len(self.objectives) > 1 or bool(self.constraints)

    @classmethod
    def default_budget(cls, options: EvolutionaryOptions) -> int:
        return options.population_size + (options.generations - 1) * options.children_per_generation

    # -- schedule -----------------------------------------------------------------

    def _start_level(self) -> int:
        return min(s.min_level for s in self.space.spaces.values())

    def level_at(self, generation: int) -> int | None:
        """The complexity level generation ``generation`` searches (``None``: the run's cap)."""
        opts = self.options
        if opts.complexity_level is not None:
            return self.space.cap(opts.complexity_level)
        top = self.space.max_level
        if not opts.progressive:
            return top
        start = min(self._start_level(), top)
        steps = top - start + 1
        per_level = max(1, math.ceil(opts.generations / steps))
        return min(top, start + generation // per_level)

    def protocol_at(self, generation: int) -> str:
        """``"fast"`` for the first ``fast_generations`` generations, then ``"full"``."""
        return "fast" if generation < self.options.fast_generations else "full"

    # -- selection and variation ------------------------------------------------

    @staticmethod
    def _fitness(member: Mapping[str, Any]) -> float:
        values = _values(member)
        return values[0] if values is not None else float("-inf")

    def _member(self, trial: Trial) -> dict[str, Any]:
        return _member(trial, self.generation, self.objectives, self.constraints)

    @staticmethod
    def _key(member: Mapping[str, Any]) -> tuple[float, list[float]] | None:
        values = _values(member)
        if values is None:
            return None
        violation = member.get("violation", 0.0)
        return (math.inf if violation is None else float(violation), values)

    def ranking(self, members: list[dict[str, Any]] | None = None) -> list[tuple[int, float]]:
        """``(front, crowding distance)`` of each member (of the population by default), NSGA-II's order."""
        if members is not None:
            return rank_and_crowding([self._key(m) for m in members])
        which = (id(self.population), len(self.population))
        if self._ranking is None or self._ranking[0] != which:
            self._ranking = (which, rank_and_crowding([self._key(m) for m in self.population]))
        return self._ranking[1]

    def _set_population(self, members: list[dict[str, Any]]) -> None:
        self.population = members
        self._ranking = None

    def tournament(self) -> dict[str, Any]:
        """The best of ``tournament_size`` members drawn without replacement.

        Best: the highest fitness; in NSGA-II mode the lowest front, then the
        largest crowding distance. The earlier drawn index wins ties.
        """
        size = min(self.options.tournament_size, len(self.population))
        picks = sorted(int(i) for i in self.rng.choice(len(self.population), size=size, replace=False))
        if self.pareto:
            ranking = self.ranking()
            return self.population[min(picks, key=lambda i: (ranking[i][0], -ranking[i][1]))]
        return max((self.population[i] for i in picks), key=self._fitness)

    def make_child(self, level: int | None, seen: set[str]) -> Architecture:
        """A new child at ``level``; tries to avoid the fingerprints in ``seen``."""
        return self.breed(level, seen)[0]

    def breed(self, level: int | None, seen: set[str]) -> tuple[Architecture, list[int]]:
        """A new child at ``level`` and the trial ids of its parents (none for a fresh sample)."""
        opts = self.options
        child = None
        for _ in range(20):
            first = self.tournament()
            a = _arch(first)
            parents = [first["trial_id"]]
            if self.rng.random() < opts.crossover_rate:
                second = self.tournament()
                b = _arch(second)
                parents.append(second["trial_id"])
                child = self.space.crossover(a, b, self.rng, level=level, rate=opts.mutation_rate)
                if child in (a, b):  # crossover of near-identical parents: mutate to move on
                    child = self._mutate(child, level)
            else:
                child = self._mutate(a, level)
            if child.fingerprint not in seen:
                return child, list(dict.fromkeys(parents))
        fresh = self.space.sample(self.rng, level)
        for _ in range(100):
            if fresh.fingerprint not in seen:
                break
            fresh = self.space.sample(self.rng, level)
        return fresh, []

    def _mutate(self, arch: Architecture, level: int | None) -> Architecture:
        rate = self.options.mutation_rate
        if not self.options.single_mutation:
            return self.space.mutate(arch, self.rng, rate, level=level, family_rate=0.2 * rate)
        families = self.space.families(level)
        if arch.family not in families or (len(families) > 1 and self.rng.random() < 0.2 * rate):
            return self.space.mutate(arch, self.rng, rate, level=level, family_rate=1.0)
        space = self.space.space(arch.family, level)
        mutable = [p.name for p in space.parameters if _choices(p) > 1]
        if not mutable:
            return arch
        return space.mutate_parameter(arch, mutable[int(self.rng.integers(len(mutable)))], self.rng)

    def _elites(self, count: int | None = None) -> list[dict[str, Any]]:
        """The ``count`` (default ``elite_size``) best scored members; none in aging and NSGA-II modes."""
        if self.options.aging or self.pareto:
            return []
        count = self.options.elite_size if count is None else count
        ranked = sorted(self.population, key=self._fitness, reverse=True)
        return [m for m in ranked[:count] if m["score"] is not None]

    # -- ask / tell: generational (a batch per generation) ---------------------------

    def ask_batch(self) -> list[Proposal]:
        if self.generation >= self.options.generations:
            return []
        level = self.level_at(self.generation)
        meta = {"generation": self.generation, "level": self.space.cap(level)}
        protocol = self.protocol_at(self.generation)
        seen = set(self.history) | {_arch(m).fingerprint for m in self.population}
        if not self.population:
            return [Proposal(self._initial(i, level, seen), protocol=protocol, meta=dict(meta))
                    for i in range(self.options.population_size)]
        count = min(self.options.children_per_generation, self.options.population_size - len(self._elites()))
        proposals = []
        for _ in range(count):
            child, parents = self.breed(level, seen)
            seen.add(child.fingerprint)
            proposals.append(Proposal(child, protocol=protocol, meta={**meta, "parents": parents}))
        return proposals

    def tell_batch(self, trials: list[Trial]) -> None:
        members = [self._member(t) for t in trials]
        self.history.update(t.fingerprint for t in trials)
        if self.pareto:  # NSGA-II: the best population_size of parents and children, by front and crowding
            union = self.population + members
            ranking = self.ranking(union)
            best = sorted(range(len(union)), key=lambda i: (ranking[i][0], -ranking[i][1], i))
            self._set_population([union[i] for i in sorted(best[:self.options.population_size])])
            return
        # the best survive: the elites, or more when fewer children than places were asked for
        keep = max(self.options.elite_size, self.options.population_size - len(members))
        self._set_population(self._elites(keep) + members)

    def starting_points(self, level: int | None) -> list[Architecture]:
        """The families' starting points at ``level``, the cheapest first (by FLOPs, when the run counts them)."""
        if level not in self._points:
            points = self.space.starting_points(level) if self.options.starting_points else []
            self._points[level] = sorted(points, key=self.flops) if self.flops is not None else points
        return self._points[level]

    def _initial(self, index: int, level: int | None, seen: set[str]) -> Architecture:
        """Member ``index`` of the first population: the starting points first (the first result comes soon
        after the cheapest of them has trained), then random samples."""
        points = self.starting_points(level)
        if index < len(points) and points[index].fingerprint not in seen:
            seen.add(points[index].fingerprint)
            return points[index]
        return self._sample(level, seen)

    def _sample(self, level: int | None, seen: set[str]) -> Architecture:
        arch = self.space.sample(self.rng, level)
        for _retry in range(100):
            if arch.fingerprint not in seen:
                break
            arch = self.space.sample(self.rng, level)
        seen.add(arch.fingerprint)
        return arch

    # -- ask / tell: steady state (aging or replace-worst), one child at a time --------

    @property
    def steady(self) -> bool:
        """Whether children are proposed one at a time from the current population."""
        return self.options.aging or self.options.steady_state

    def ask(self, n: int) -> list[Proposal]:
        if not self.steady:
            return super().ask(n)
        opts = self.options
        children = (opts.generations - 1) * opts.children_per_generation
        proposals = []
        while len(proposals) < n:
            level = self.level_at(self.generation)
            meta = {"generation": self.generation, "level": self.space.cap(level)}
            protocol = self.protocol_at(self.generation)
            if self.asked < opts.population_size:
                arch = self._initial(self.asked, level, self.proposed)
            elif self.asked - opts.population_size < children and self.population:
                arch, parents = self.breed(level, self.proposed | {_arch(m).fingerprint for m in self.population})
                meta["parents"] = parents
                self.proposed.add(arch.fingerprint)
            else:
                break  # finished, or waiting for the first member of the population
            self.asked += 1
            proposals.append(Proposal(arch, protocol=protocol, meta=meta))
        return proposals

    def tell(self, trial: Trial) -> None:
        if not self.steady:
            return super().tell(trial)
        opts = self.options
        self.history.add(trial.fingerprint)
        population = self.population + [self._member(trial)]
        self.told += 1
        if len(population) > opts.population_size:
            if opts.aging:  # regularized evolution: the oldest dies
                population.pop(0)
            elif self.pareto:  # the highest front, the most crowded in it, the oldest among equals
                ranking = self.ranking(population)
                population.pop(min(range(len(population)), key=lambda i: (-ranking[i][0], ranking[i][1], i)))
            else:  # steady-state genetic search: the worst dies (the oldest among equals)
                worst = min(range(len(population)), key=lambda i: (self._fitness(population[i]), i))
                population.pop(worst)
        self._set_population(population)
        if self.told == opts.population_size or (
                self.told > opts.population_size
                and (self.told - opts.population_size) % opts.children_per_generation == 0):
            self.generation += 1

    def progress(self) -> dict[str, Any]:
        scores = [m["score"] for m in self.population if m["score"] is not None]
        diversity = population_entropy([_arch(m) for m in self.population], self._fixed_parameters())
        out: dict[str, Any] = {
            "generation": max(0, self.generation - 1),
            "level": self.space.cap(self.level_at(max(0, self.generation - 1))),
            "entropy": round(diversity["entropy"], 6),
            "best": max(scores) if scores else None,
        }
        if len(self.space.family_names) > 1:
            out["family_entropy"] = round(diversity["family_entropy"], 6)
        if self.pareto:
            out["front_size"] = sum(1 for m, (rank, _) in zip(self.population, self.ranking())
                                    if rank == 0 and _values(m) is not None)
        return out

    def _fixed_parameters(self) -> list[str]:
        """``family.parameter`` of every parameter with one allowed value in the full space."""
        return [f"{family}.{p.name}" for family, space in self.space.spaces.items()
                for p in space.full.parameters if _choices(p) == 1]

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "population": self.population,
            "history": sorted(self.history),
            "proposed": sorted(self.proposed),
            "asked": self.asked,
            "told": self.told,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self._set_population([dict(m) for m in state["population"]])
        self.history = set(state.get("history", []))
        self.proposed = set(state.get("proposed", [])) or set(self.history)
        self.asked = int(state.get("asked", len(self.history)))
        self.told = int(state.get("told", len(self.history)))


@hookimpl
def snas_register_strategies():
    return [Evolutionary]
