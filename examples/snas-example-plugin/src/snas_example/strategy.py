"""The ``local_search`` strategy: hill climbing from the best architecture found so far.

Local search is a strong baseline on NAS benchmarks (White, Nolen, Savani:
"Exploring the loss landscape in neural architecture search", UAI 2021).
It implements snas's asynchronous interface directly: :meth:`ask` returns up
to ``n`` proposals whenever workers are free, :meth:`tell` receives each
finished trial in trial-id order.
"""

from __future__ import annotations

from typing import Any, Mapping

import attrs

from snas import Architecture, Proposal, Strategy, Trial, hookimpl, option


@attrs.frozen
class LocalSearchOptions:
    """How many random architectures come first, and how far a neighbour moves."""

    initial: int = option(4, low=1, help="Random architectures proposed before the climb starts.")
    mutation_rate: float = option(0.3, low=0.0, high=1.0, low_open=True,
                                  help="Probability that each parameter of the best architecture changes "
                                       "in a neighbour (at least one always does).")
    tries: int = option(20, low=1, help="Attempts at an unseen neighbour before a random architecture is used.")


class LocalSearch(Strategy):
    """Propose neighbours of the best architecture so far; never propose the same architecture twice."""

    name = "local_search"
    description = "hill climbing: neighbours of the best architecture so far"
    Options = LocalSearchOptions

    def __init__(self, space: Any, options: LocalSearchOptions, rng: Any):
        super().__init__(space, options, rng)
        self.best: dict[str, Any] | None = None  # trial id, architecture (as a dict) and score of the best trial
        self.proposed = 0
        self.seen: set[str] = set()

    def _neighbour(self) -> tuple[Architecture, int | None]:
        """A new architecture and the trial it was derived from (``None`` for a random one)."""
        for _ in range(self.options.tries):
            if self.best is None or self.proposed < self.options.initial:
                arch, parent = self.space.sample(self.rng), None
            else:
                incumbent = Architecture.from_dict(self.best["architecture"])
                arch, parent = self.space.mutate(incumbent, self.rng, rate=self.options.mutation_rate), \
                    self.best["trial_id"]
            if arch.fingerprint not in self.seen:
                return arch, parent
        return self.space.sample(self.rng), None

    def ask(self, n: int) -> list[Proposal]:
        proposals = []
        for _ in range(n):
            arch, parent = self._neighbour()
            self.seen.add(arch.fingerprint)
            self.proposed += 1
            proposals.append(Proposal(arch, meta={"parent": parent}))
        return proposals

    def tell(self, trial: Trial) -> None:
        if trial.ok and (self.best is None or trial.score > self.best["score"]):
            self.best = {"trial_id": trial.trial_id, "architecture": trial.arch.to_dict(), "score": trial.score}
            self.generation += 1  # one "generation" per improvement: the engine records progress() each time

    def progress(self) -> dict[str, Any]:
        return {"best": self.best["score"] if self.best else None, "improvements": self.generation}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "best": self.best, "proposed": self.proposed, "seen": sorted(self.seen)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.best = state["best"]
        self.proposed = int(state["proposed"])
        self.seen = set(state["seen"])


@hookimpl
def snas_register_strategies():
    return [LocalSearch]
