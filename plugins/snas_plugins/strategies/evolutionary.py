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

A child is, with probability ``crossover_rate``, the crossover of two
tournament winners (parameter-wise within a family, single-point for
per-layer lists, a mutant of one parent when the families differ), otherwise
a mutant of one winner; mutation changes each parameter with probability
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

from snas import Architecture, BatchStrategy, ConfigError, Proposal, Trial, hookimpl, option


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


def _member(trial: Trial, born: int) -> dict[str, Any]:
    return {
        "trial_id": trial.trial_id,
        "architecture": trial.arch.to_dict(),
        "score": trial.score if trial.ok else None,
        "protocol": trial.protocol,
        "born": born,
    }


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
        return member["score"] if member["score"] is not None else float("-inf")

    def tournament(self) -> dict[str, Any]:
        """The best of ``tournament_size`` members drawn without replacement."""
        size = min(self.options.tournament_size, len(self.population))
        picks = self.rng.choice(len(self.population), size=size, replace=False)
        return max((self.population[int(i)] for i in sorted(picks)), key=self._fitness)

    def make_child(self, level: int | None, seen: set[str]) -> Architecture:
        """A new child at ``level``; tries to avoid the fingerprints in ``seen``."""
        opts = self.options
        child = None
        for _ in range(20):
            a = _arch(self.tournament())
            if self.rng.random() < opts.crossover_rate:
                b = _arch(self.tournament())
                child = self.space.crossover(a, b, self.rng, level=level, rate=opts.mutation_rate)
                if child in (a, b):  # crossover of near-identical parents: mutate to move on
                    child = self._mutate(child, level)
            else:
                child = self._mutate(a, level)
            if child.fingerprint not in seen:
                return child
        fresh = self.space.sample(self.rng, level)
        for _ in range(100):
            if fresh.fingerprint not in seen:
                break
            fresh = self.space.sample(self.rng, level)
        return fresh

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
        """The ``count`` (default ``elite_size``) best scored members; none in aging mode."""
        if self.options.aging:
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
            return [Proposal(self._sample(level, seen), protocol=protocol, meta=dict(meta))
                    for _ in range(self.options.population_size)]
        count = min(self.options.children_per_generation, self.options.population_size - len(self._elites()))
        proposals = []
        for _ in range(count):
            child = self.make_child(level, seen)
            seen.add(child.fingerprint)
            proposals.append(Proposal(child, protocol=protocol, meta=dict(meta)))
        return proposals

    def tell_batch(self, trials: list[Trial]) -> None:
        members = [_member(t, self.generation) for t in trials]
        self.history.update(t.fingerprint for t in trials)
        # the best survive: the elites, or more when fewer children than places were asked for
        keep = max(self.options.elite_size, self.options.population_size - len(members))
        self.population = self._elites(keep) + members

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
                arch = self._sample(level, self.proposed)
            elif self.asked - opts.population_size < children and self.population:
                arch = self.make_child(level, self.proposed | {_arch(m).fingerprint for m in self.population})
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
        self.population.append(_member(trial, self.generation))
        self.told += 1
        if len(self.population) > opts.population_size:
            if opts.aging:  # regularized evolution: the oldest dies
                self.population.pop(0)
            else:  # steady-state genetic search: the worst dies (the oldest among equals)
                worst = min(range(len(self.population)), key=lambda i: (self._fitness(self.population[i]), i))
                self.population.pop(worst)
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
        self.population = [dict(m) for m in state["population"]]
        self.history = set(state.get("history", []))
        self.proposed = set(state.get("proposed", [])) or set(self.history)
        self.asked = int(state.get("asked", len(self.history)))
        self.told = int(state.get("told", len(self.history)))


@hookimpl
def snas_register_strategies():
    return [Evolutionary]
