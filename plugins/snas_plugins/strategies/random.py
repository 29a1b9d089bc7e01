"""The ``random`` strategy: uniform samples of the space, never the same one twice."""

from __future__ import annotations

from typing import Any, Mapping

import attrs

from snas import Architecture, Proposal, Strategy, Trial, hookimpl, option

@attrs.frozen
class RandomOptions:
    """Architectures are sampled at ``complexity_level`` (default: the run's cap)."""

    complexity_level: int | None = option(None, choices=(None, 1, 2, 3),
                                          help="Sample at this complexity level (default: the run's cap).")


class RandomSearch(Strategy):
    """Sample architectures uniformly (a family, then its parameters), skipping repeats; never waits."""

    name = "random"
    description = "uniform random sampling, no repeats"
    Options = RandomOptions

    def __init__(self, space: Any, options: RandomOptions, rng: Any):
        super().__init__(space, options, rng)
        self.seen: set[str] = set()

    def _fresh(self) -> Architecture:
        for _ in range(100):
            arch = self.space.sample(self.rng, self.options.complexity_level)
            if arch.fingerprint not in self.seen:
                break
        self.seen.add(arch.fingerprint)
        return arch

    def ask(self, n: int) -> list[Proposal]:
        return [Proposal(self._fresh()) for _ in range(n)]

    def tell(self, trial: Trial) -> None:
        self.seen.add(trial.fingerprint)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "seen": sorted(self.seen)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.seen = set(state.get("seen", []))


@hookimpl
def snas_register_strategies():
    return [RandomSearch]
