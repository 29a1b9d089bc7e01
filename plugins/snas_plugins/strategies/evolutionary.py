"""The ``evolutionary`` strategy: tournament selection, crossover, mutation, elitism."""

from __future__ import annotations

from typing import Any, Mapping

import attrs

from snas import Architecture, Proposal, Strategy, Trial, hookimpl

_gt0 = attrs.validators.gt(0)
_ge0 = attrs.validators.ge(0)
_unit = attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.le(1.0))


@attrs.frozen
class EvolutionaryOptions:
    """Population and variation settings (the CLI's --population-size, --generations, …)."""

    population_size: int = attrs.field(default=10, validator=attrs.validators.ge(2))
    generations: int = attrs.field(default=5, validator=_gt0)
    mutation_rate: float = attrs.field(default=0.2, validator=_unit)
    crossover_rate: float = attrs.field(default=0.5, validator=_unit)
    tournament_size: int = attrs.field(default=3, validator=_gt0)
    elite_size: int = attrs.field(default=2, validator=_ge0)
    complexity_level: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_((1, 2, 3)))
    )

    def __attrs_post_init__(self) -> None:
        from snas import ConfigError

        if self.elite_size >= self.population_size:
            raise ConfigError(
                f"elite_size ({self.elite_size}) must be smaller than population_size ({self.population_size})"
            )


def _member(trial: Trial) -> dict[str, Any]:
    return {
        "trial_id": trial.trial_id,
        "architecture": {"family": trial.arch.family, "params": dict(trial.arch.params)},
        "score": trial.score if trial.ok else None,
    }


def _arch(member: Mapping[str, Any]) -> Architecture:
    return Architecture(member["architecture"]["family"], member["architecture"]["params"])


class Evolutionary(Strategy):
    """Generational evolution: the elites survive, the rest are children of tournament winners."""

    name = "evolutionary"
    description = "genetic search: tournament selection, crossover, mutation, elitism"
    Options = EvolutionaryOptions

    def __init__(self, space: Any, options: EvolutionaryOptions, rng: Any):
        super().__init__(space, options, rng)
        self.population: list[dict[str, Any]] = []
        self.generation = 0

    @classmethod
    def default_budget(cls, options: EvolutionaryOptions) -> int:
        return options.population_size + (options.generations - 1) * (options.population_size - options.elite_size)

    # -- selection and variation ------------------------------------------------

    def _fitness(self, member: Mapping[str, Any]) -> float:
        return member["score"] if member["score"] is not None else float("-inf")

    def _tournament(self) -> dict[str, Any]:
        size = min(self.options.tournament_size, len(self.population))
        picks = self.rng.choice(len(self.population), size=size, replace=False)
        return max((self.population[int(i)] for i in picks), key=self._fitness)

    def _child(self, seen: set[str]) -> Architecture:
        level = self.options.complexity_level
        for _ in range(20):
            a = _arch(self._tournament())
            if self.rng.random() < self.options.crossover_rate:
                b = _arch(self._tournament())
                child = self.space.crossover(a, b, self.rng, level=level, rate=self.options.mutation_rate)
                if self.rng.random() < self.options.mutation_rate:
                    child = self.space.mutate(child, self.rng, self.options.mutation_rate, level=level)
            else:
                child = self.space.mutate(a, self.rng, self.options.mutation_rate, level=level)
            if child.fingerprint not in seen:
                return child
        return self.space.sample(self.rng, level)

    def _elites(self) -> list[dict[str, Any]]:
        ranked = sorted(self.population, key=self._fitness, reverse=True)
        return [m for m in ranked[: self.options.elite_size] if m["score"] is not None]

    # -- ask / tell ---------------------------------------------------------------

    def ask(self) -> list[Proposal]:
        if self.generation >= self.options.generations:
            return []
        meta = {"generation": self.generation}
        if not self.population:
            seen: set[str] = set()
            proposals = []
            for _ in range(self.options.population_size):
                arch = self.space.sample(self.rng, self.options.complexity_level)
                for _retry in range(20):
                    if arch.fingerprint not in seen:
                        break
                    arch = self.space.sample(self.rng, self.options.complexity_level)
                seen.add(arch.fingerprint)
                proposals.append(Proposal(arch, meta=meta))
            return proposals
        seen = {_arch(m).fingerprint for m in self.population}
        proposals = []
        for _ in range(self.options.population_size - len(self._elites())):
            child = self._child(seen)
            seen.add(child.fingerprint)
            proposals.append(Proposal(child, meta=meta))
        return proposals

    def tell(self, trials: list[Trial]) -> None:
        self.population = self._elites() + [_member(t) for t in trials]
        self.generation += 1

    def progress(self) -> dict[str, Any]:
        scores = [m["score"] for m in self.population if m["score"] is not None]
        return {"generation": self.generation, "best": max(scores) if scores else None}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "population": self.population, "generation": self.generation}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.population = [dict(m) for m in state["population"]]
        self.generation = int(state["generation"])


@hookimpl
def snas_register_strategies():
    return [Evolutionary]
