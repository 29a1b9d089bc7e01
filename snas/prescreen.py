"""Zero-cost pre-screening: train only the proposals a proxy ranks best.

With ``RunConfig.prescreen`` naming an evaluator (``zen``, ``naswot``,
``synflow`` or any other that scores an untrained network cheaply), every
batch a strategy proposes is first scored by that evaluator; the best
``ceil(prescreen_keep * len(batch))`` proposals (at least one) are trained,
the others become trials with status ``"pruned"``: no score, the proxy score
in their metrics, not counted in the trial budget, and told to the strategy
like failed trials. Every proposal of a screened batch carries
``meta["prescreen"] = {"proxy", "score", "rank", "kept"}``, saved with the
batch before anything is recorded, so a resumed run prunes exactly the same
proposals.

A batch needs more than ``1 / prescreen_keep`` proposals for anything to be
pruned: the random strategy proposes one architecture per batch unless its
``batch_size`` option is raised (``-S batch_size=8``), the evolutionary one a
whole population per generation.
"""

from __future__ import annotations

import math
import time
from typing import Any

from snas.config import make_options
from snas.interfaces import Proposal, Trial

#: the trial status of a proposal the proxy screened out
PRUNED = "pruned"


def keep_count(batch: int, keep: float) -> int:
    """How many of ``batch`` proposals are trained when keeping the fraction ``keep``."""
    return min(batch, max(1, math.ceil(batch * keep - 1e-9)))


def _proxy(engine: Any) -> Any:
    evaluator = getattr(engine, "_prescreen_evaluator", None)
    if evaluator is None:
        name = engine.config.prescreen
        cls = engine.manager.get_evaluator(name)
        evaluator = cls(make_options(cls.Options, {}, f"options of pre-screening evaluator {name!r}"))
        engine._prescreen_evaluator = evaluator
    return evaluator


def screen(engine: Any, state: Any, proposals: list[Proposal]) -> list[Proposal]:
    """Score ``proposals`` with the run's proxy and mark which are kept (in ``meta["prescreen"]``).

    Returns the same proposals, in the same order. Does nothing when the run
    has no proxy or the batch is too small to prune anything.
    """
    from snas.engine import trial_seed

    cfg = engine.config
    if not cfg.prescreen or keep_count(len(proposals), cfg.prescreen_keep) >= len(proposals):
        return proposals
    evaluator = _proxy(engine)
    _, data, families, device = engine.job.prepare()
    first = engine._next_trial_id(state, [])
    scores: list[float] = []
    for i, p in enumerate(proposals):
        try:
            result = evaluator.evaluate(p.arch, families[p.arch.family], data,
                                        seed=trial_seed(cfg.seed, first + i), device=device)
            score = float(result.score) if result.ok else -math.inf
        except Exception:  # a proxy that cannot score a network ranks it last
            score = -math.inf
        scores.append(score)
    order = sorted(range(len(proposals)), key=lambda i: (-scores[i], i))
    kept = set(order[: keep_count(len(proposals), cfg.prescreen_keep)])
    for rank, i in enumerate(order):
        proposals[i].meta = {
            **proposals[i].meta,
            "prescreen": {
                "proxy": cfg.prescreen,
                "score": scores[i] if math.isfinite(scores[i]) else None,
                "rank": rank + 1,
                "kept": i in kept,
            },
        }
    return proposals


def record_pruned(engine: Any, state: Any, pending: list[dict[str, Any]]) -> None:
    """Record the screened-out proposals of ``pending`` that are not recorded yet as pruned trials."""
    from snas.engine import trial_seed
    from snas.space import Architecture

    done = {t.trial_id for t in state.trials}
    batch = len(pending)
    for p in pending:
        info = (p.get("meta") or {}).get("prescreen")
        tid = int(p["trial_id"])
        if not info or info.get("kept", True) or tid in done:
            continue
        trial = Trial(
            trial_id=tid,
            arch=Architecture.from_dict(p["architecture"]),
            status=PRUNED,
            score=None,
            protocol=p["protocol"],
            metrics={"prescreen_proxy": info["proxy"], "prescreen_score": info["score"],
                     "prescreen_rank": info["rank"]},
            error=f"pruned by {info['proxy']} pre-screening: rank {info['rank']} of {batch}",
            started=time.time(),
            seed=trial_seed(engine.config.seed, tid),
            meta=dict(p.get("meta") or {}),
        )
        engine._record(state, trial, None)
