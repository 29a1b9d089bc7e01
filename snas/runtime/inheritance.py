"""Weight inheritance, the driver's half: the pool of trained networks and each proposal's parent.

With ``--weight-inheritance`` the engine keeps, per network family, the
``--weight-sharing-max-models`` best trials told so far (by score; the
earlier trial wins a tie) whose evaluator returned trained weights: the
*pool*. When a proposal is numbered, :meth:`WeightPool.choose` picks the
trial it will start from, from the pool as it stands then:

* among the proposal's ``meta["parents"]`` (the trials a strategy mutated
  or crossed over) that are in the pool, the one nearest to the child;
* else, once the family's pool is full, its member nearest to the child
  (:func:`distance`; the better one on a tie). Before that the child trains
  from scratch: the first networks of a run are random, and starting one
  random network from another that happened to train badly (diverged, or
  stuck at chance) costs more than it saves;
* else none: the child trains from scratch.

The choice is recorded with the proposal, like the pruner's rule, so it
depends only on the trials told before it, never on timing, the executor or
a resume. Moving the weights into the child's network is the evaluator's
half (it builds both networks; see ``Evaluator.inherits_weights``).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from snas.contracts.records import Trial
from snas.contracts.space import Architecture, JointSpace

#: the key of ``Trial.meta`` marking a trial whose evaluator returned trained weights (a pool candidate)
TRAINED = "trained_weights"


def distance(space: JointSpace, a: Architecture, b: Architecture) -> float:
    """How far apart two architectures of one family are: the L1 distance of their encodings.

    A changed choice counts 2 (its one-hot moves), a changed integer its
    change over its range, a layer present in one and not the other one
    more than its values. Different families are infinitely far apart.
    """
    if a.family != b.family:
        return float("inf")
    family = space.spaces[a.family]
    return float(np.abs(family.encode(a) - family.encode(b)).sum())


class WeightPool:
    """The best ``max_models`` trained trials of each family among those told so far; picks parents."""

    def __init__(self, space: JointSpace, max_models: int):
        self.space = space
        self.max_models = max_models
        self._ranked: dict[str, list[tuple[tuple[float, int], Trial]]] = {}
        self._origin: dict[int, int] = {}  # a cache hit's id -> the trial that trained it

    @staticmethod
    def candidate(trial: Trial) -> bool:
        """Whether a told trial may join the pool: trained by its evaluator, finished, weights returned."""
        return trial.ok and trial.cached_from is None and bool(trial.meta.get(TRAINED)) \
            and not trial.meta.get("final")

    def would_join(self, trial: Trial) -> bool:
        """Whether ``trial`` would enter the pool if told now; a trial that would not, never will."""
        if not self.candidate(trial):
            return False
        ranked = self._ranked.get(trial.arch.family, [])
        return len(ranked) < self.max_models or self._key(trial) < ranked[-1][0]

    @staticmethod
    def _key(trial: Trial) -> tuple[float, int]:
        return (-float(trial.score), trial.trial_id)

    def tell(self, trial: Trial) -> None:
        """Account for a trial told to the strategy (in trial-id order)."""
        if trial.cached_from is not None:
            self._origin[trial.trial_id] = self._origin.get(trial.cached_from, trial.cached_from)
            return
        if not self.would_join(trial):
            return
        ranked = self._ranked.setdefault(trial.arch.family, [])
        ranked.append((self._key(trial), trial))
        ranked.sort(key=lambda entry: entry[0])
        del ranked[self.max_models:]

    def ids(self) -> set[int]:
        """The trial ids in the pool, every family."""
        return {t.trial_id for ranked in self._ranked.values() for _, t in ranked}

    def members(self, family: str) -> list[Trial]:
        """The pool of ``family``, best first."""
        return [t for _, t in self._ranked.get(family, [])]

    def choose(self, arch: Architecture, meta: Mapping[str, Any]) -> dict[str, Any] | None:
        """The trial ``arch`` should start from, as recorded with its proposal (``None``: from scratch).

        See the module's docstring for the rule.

        ``{"from": trial id, "by": "parent" | "nearest", "distance": d}``;
        ``"wanted"`` names the parents that were not in the pool any more.
        """
        members = self.members(arch.family)
        parents = [self._origin.get(int(p), int(p)) for p in meta.get("parents") or ()]
        by_id = {t.trial_id: t for t in members}
        listed = [by_id[p] for p in dict.fromkeys(parents) if p in by_id]
        if not listed and len(members) < self.max_models:
            return None
        pick = listed or members
        ranked = sorted(((distance(self.space, arch, t.arch), rank, t) for rank, t in enumerate(pick)),
                        key=lambda entry: entry[:2])
        gap, _, source = ranked[0]
        choice: dict[str, Any] = {"from": source.trial_id, "by": "parent" if listed else "nearest",
                                  "distance": round(gap, 6)}
        if parents and not listed:
            choice["wanted"] = parents
        return choice


__all__ = ["TRAINED", "WeightPool", "distance"]
