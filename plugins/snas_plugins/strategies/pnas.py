"""The ``pnas`` strategy: progressive search guided by a learned score predictor (Liu et al. 2018).

Round 0 trains ``initial_samples`` random architectures at the start level.
Every later round retrains the surrogate on all results so far, expands each
of the ``beam_size`` best architectures into ``num_expansions`` neighbours at
the next complexity level (one parameter changed, with the level's newly
allowed values available), adds ``random_candidates`` fresh samples, ranks
them all by predicted score and trains the ``top_k`` best. Once the level cap
is reached, rounds go on at that level (neighbours by single-parameter
mutation), which is also how the search works on a one-level space such as
NAS-Bench-201.

Before each round's results reach the surrogate, its Kendall tau between
predicted and measured scores is recorded; ``progress()`` returns it, so the
run file holds it per round under ``/generations``.
"""

from __future__ import annotations

from typing import Any, Mapping

import attrs
import numpy as np

from snas import Architecture, BatchStrategy, Choice, IntRange, LayerList, Proposal, Trial, hookimpl, option
from snas_plugins.strategies.surrogate import kendall_tau, make_surrogate

_gt0 = attrs.validators.gt(0)
_ge0 = attrs.validators.ge(0)
_level = attrs.validators.optional(attrs.validators.in_((1, 2, 3)))


@attrs.frozen
class PNASOptions:
    """Beam, expansion and surrogate settings (the CLI's --beam-size, --num-expansions)."""

    beam_size: int = option(5, low=1, help="Best architectures expanded each round.")
    num_expansions: int = option(20, low=1, help="Neighbours generated per beam member.")
    top_k: int = option(5, low=1, help="Candidates trained each round (the surrogate's best).")
    initial_samples: int = option(10, low=2, help="Random architectures trained in round 0.")
    random_candidates: int = option(20, low=0, help="Fresh random candidates added to each round's expansions.")
    start_level: int = option(1, choices=(1, 2, 3), help="Complexity level of round 0.")
    max_complexity: int | None = option(None, choices=(None, 1, 2, 3), cli=False,
                                        help="Highest level the rounds climb to (default: the run's cap).")
    rounds: int | None = option(None, low=1, help="Rounds to run (default: until the budget ends).")
    surrogate: str = option("auto", choices=("auto", "mlp_ensemble", "lstm"),
                            help="Score predictor: an LSTM over the encoding, or an ensemble of MLPs.")
    family_rate: float = option(0.05, low=0, high=1, help="Probability that a neighbour switches family.")


def _cardinality(p: Any) -> int:
    if isinstance(p, Choice):
        return len(p.values)
    if isinstance(p, IntRange):
        return p.high - p.low + 1
    if isinstance(p, LayerList):
        return _cardinality(p.item)
    return 1


class PNAS(BatchStrategy):
    """Progressive beam search: expand the best, rank by a surrogate, train the top K, repeat."""

    name = "pnas"
    description = "progressive NAS: surrogate-ranked expansion of the best architectures, level by level"
    Options = PNASOptions

    def __init__(self, space: Any, options: PNASOptions, rng: np.random.Generator):
        super().__init__(space, options, rng)
        self.seed = int(rng.integers(2**31 - 1))
        self.round = 0
        self.level = self._cap(options.start_level)
        self.history: list[dict[str, Any]] = []
        self.pending: dict[str, dict[str, Any]] = {}
        self.rounds_log: list[dict[str, Any]] = []

    @classmethod
    def default_budget(cls, options: PNASOptions) -> int | None:
        if options.rounds is None:
            return None
        return options.initial_samples + (options.rounds - 1) * options.top_k

    # -- helpers ---------------------------------------------------------------

    @property
    def max_level(self) -> int:
        return self._cap(self.options.max_complexity)

    def _cap(self, level: int | None) -> int:
        return self.space.cap(level)

    def _ok_history(self) -> list[dict[str, Any]]:
        return [h for h in self.history if h["score"] is not None]

    def _seen(self) -> set[str]:
        return {Architecture.from_dict(h["architecture"]).fingerprint for h in self.history}

    def _neighbour(self, arch: Architecture, level: int) -> Architecture:
        families = self.space.families(level)
        if len(families) > 1 and self.rng.random() < self.options.family_rate:
            other = [f for f in families if f != arch.family]
            return self.space.space(other[int(self.rng.integers(len(other)))], level).sample(self.rng)
        base = self.space.project(arch, self.rng, level)
        sp = self.space.space(base.family, level)
        names = [p.name for p in sp.parameters if _cardinality(p) > 1]
        if not names:
            return base
        return sp.mutate_parameter(base, names[int(self.rng.integers(len(names)))], self.rng)

    def fit_surrogate(self) -> Any:
        """A surrogate trained on every successful result so far (``None`` with fewer than 2)."""
        ok = self._ok_history()
        if len(ok) < 2:
            return None
        x = np.stack([self.space.encode(Architecture.from_dict(h["architecture"])) for h in ok])
        y = np.asarray([h["score"] for h in ok], dtype=np.float64)
        model = make_surrogate(self.options.surrogate, self.space)
        model.fit(x, y, seed=self.seed + self.round)
        return model

    def candidates(self, level: int) -> list[Architecture]:
        """Neighbours of the beam at ``level`` plus fresh samples, none of them seen before."""
        seen = self._seen()
        beam = sorted(self._ok_history(), key=lambda h: h["score"], reverse=True)[: self.options.beam_size]
        out: dict[str, Architecture] = {}
        for h in beam:
            parent = Architecture.from_dict(h["architecture"])
            for _ in range(self.options.num_expansions):
                for _retry in range(5):
                    child = self._neighbour(parent, level)
                    if child.fingerprint not in seen and child.fingerprint not in out:
                        out[child.fingerprint] = child
                        break
        for _ in range(self.options.random_candidates):
            child = self.space.sample(self.rng, level)
            if child.fingerprint not in seen:
                out.setdefault(child.fingerprint, child)
        return list(out.values())

    def score_candidates(self, cands: list[Architecture], surrogate: Any, level: int) -> dict[str, np.ndarray]:
        """Predicted scores of ``cands``: ``{"rank": ..., "surrogate": ...}`` (subclasses add predictors)."""
        pred = surrogate.predict(np.stack([self.space.encode(a) for a in cands]))
        return {"rank": pred, "surrogate": pred}

    # -- ask / tell ------------------------------------------------------------

    def _initial(self) -> list[Proposal]:
        seen: set[str] = set()
        proposals = []
        for _ in range(self.options.initial_samples):
            for _retry in range(20):
                arch = self.space.sample(self.rng, self.level)
                if arch.fingerprint not in seen:
                    break
            if arch.fingerprint in seen:
                continue
            seen.add(arch.fingerprint)
            proposals.append(Proposal(arch, meta={"round": 0, "level": self.level}))
        self.pending = {p.arch.fingerprint: {"level": self.level} for p in proposals}
        return proposals

    def ask_batch(self) -> list[Proposal]:
        if self.options.rounds is not None and self.round >= self.options.rounds:
            return []
        if self.round == 0:
            return self._initial()
        surrogate = self.fit_surrogate()
        level = min(self.level + 1, self.max_level)
        cands = self.candidates(level)
        if not cands:
            return []
        if surrogate is None:
            order = self.rng.permutation(len(cands))
            chosen = [(cands[int(i)], {}) for i in order[: self.options.top_k]]
            loss = None
        else:
            scores = self.score_candidates(cands, surrogate, level)
            order = np.argsort(-scores["rank"], kind="stable")[: self.options.top_k]
            chosen = [(cands[int(i)], {k: float(v[int(i)]) for k, v in scores.items()}) for i in order]
            loss = [surrogate.loss_history[0], surrogate.loss_history[-1]]
        self.pending = {a.fingerprint: {"level": level, **pred} for a, pred in chosen}
        self._surrogate_loss = loss
        return [
            Proposal(a, meta={"round": self.round, "level": level, **{f"predicted_{k}": v for k, v in pred.items()}})
            for a, pred in chosen
        ]

    def tell_batch(self, trials: list[Trial]) -> None:
        entry: dict[str, Any] = {"round": self.round, "trained": len(trials)}
        measured = [(self.pending.get(t.fingerprint, {}), t.score) for t in trials if t.ok]
        for key in ("surrogate", "shared", "rank"):
            pairs = [(p[key], s) for p, s in measured if p.get(key) is not None]
            if pairs:
                entry[f"kendall_tau_{key}"] = kendall_tau([p for p, _ in pairs], [s for _, s in pairs])
        entry["kendall_tau"] = entry.get("kendall_tau_surrogate")
        entry["surrogate_loss"] = getattr(self, "_surrogate_loss", None)
        levels = [self.pending.get(t.fingerprint, {}).get("level", self.level) for t in trials]
        for t, lvl in zip(trials, levels):
            self.history.append(
                {"architecture": t.arch.to_dict(), "score": t.score if t.ok else None, "round": self.round,
                 "level": lvl}
            )
        if levels:
            self.level = max(levels)
        entry["level"] = self.level
        self.after_round(entry, measured)
        self.rounds_log.append(entry)
        self.pending = {}
        self.round += 1

    def after_round(self, entry: dict[str, Any], measured: list[tuple[dict[str, Any], float]]) -> None:
        """Hook for subclasses: adjust settings from the round just measured."""

    def progress(self) -> dict[str, Any]:
        scores = [h["score"] for h in self._ok_history()]
        last = self.rounds_log[-1] if self.rounds_log else {}
        return {**last, "best": max(scores) if scores else None, "rounds": self.round}

    # -- state -----------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "seed": self.seed,
            "round": self.round,
            "level": self.level,
            "history": self.history,
            "pending": self.pending,
            "rounds_log": self.rounds_log,
            "surrogate_loss": getattr(self, "_surrogate_loss", None),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.seed = int(state["seed"])
        self.round = int(state["round"])
        self.level = int(state["level"])
        self.history = [dict(h) for h in state["history"]]
        self.pending = {k: dict(v) for k, v in state["pending"].items()}
        self.rounds_log = [dict(e) for e in state["rounds_log"]]
        self._surrogate_loss = state.get("surrogate_loss")


@hookimpl
def snas_register_strategies():
    return [PNAS]
