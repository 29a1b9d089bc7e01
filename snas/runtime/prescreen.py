"""Zero-cost pre-screening: train only the proposals a proxy ranks best.

With ``RunConfig.prescreen`` naming an evaluator (``zen``, ``naswot``,
``synflow`` or any other that scores an untrained network cheaply), the
engine asks the strategy for ``ceil(1 / prescreen_keep)`` proposals per free
place, scores each group one ask returned with that evaluator, and trains the
best ``ceil(prescreen_keep * len(group))`` (at least one). The others become
trials with status ``"pruned"``: no score, the proxy's verdict in
``metrics["prescreen_proxy"]``, ``["prescreen_score"]`` and ``["prescreen_rank"]``, not counted in the trial budget, and told to the
strategy like failed trials. Every screened proposal carries
``meta["prescreen"] = {"proxy", "score", "rank", "kept"}``, recorded with the
proposal before anything is evaluated, so a resumed run prunes exactly the
same proposals.
"""

from __future__ import annotations

import math
import time
from typing import Any

from snas.runtime.config import RunConfig, make_options
from snas.contracts.records import PendingTrial, Proposal, Trial, trial_seed

#: the trial status of a proposal the proxy screened out
PRUNED = "pruned"


def keep_count(batch: int, keep: float) -> int:
    """How many of ``batch`` proposals are trained when keeping the fraction ``keep``."""
    return min(batch, max(1, math.ceil(batch * keep - 1e-9)))


def group_size(config: RunConfig) -> int:
    """Proposals asked per free place, so that screening keeps about one of them."""
    return max(1, math.ceil(1 / config.prescreen_keep - 1e-9))


def _proxy(engine: Any) -> Any:
    evaluator = getattr(engine, "_prescreen_evaluator", None)
    if evaluator is None:
        name = engine.config.prescreen
        cls = engine.manager.get_evaluator(name)
        evaluator = cls(make_options(cls.Options, {}, f"options of pre-screening evaluator {name!r}"))
        engine._prescreen_evaluator = evaluator
    return evaluator


def screen(engine: Any, proposals: list[Proposal], first_id: int) -> list[Proposal]:
    """Score ``proposals`` (to become trials ``first_id``, ``first_id + 1``, …) and mark which are kept.

    Returns the same proposals, in the same order, each with ``meta["prescreen"]``.
    Does nothing when the group is too small to prune anything.
    """
    cfg = engine.config
    if keep_count(len(proposals), cfg.prescreen_keep) >= len(proposals):
        return proposals
    evaluator = _proxy(engine)
    _, data, families, device, _ = engine.job.prepare()
    scores: list[float] = []
    for i, p in enumerate(proposals):
        try:
            result = evaluator.evaluate(p.arch, families[p.arch.family], data,
                                        seed=trial_seed(cfg.seed, first_id + i), device=device)
            score = float(result.score) if result.ok else -math.inf
        except Exception:  # a proxy that cannot score a network ranks it last
            score = -math.inf
        scores.append(score)
    order = sorted(range(len(proposals)), key=lambda i: (-scores[i], i))
    kept = set(order[: keep_count(len(proposals), cfg.prescreen_keep)])
    for rank, i in enumerate(order):
        proposals[i].meta = {
            **proposals[i].meta,
            "prescreen": {"proxy": cfg.prescreen, "score": scores[i] if math.isfinite(scores[i]) else None,
                          "rank": rank + 1, "of": len(proposals), "kept": i in kept},
        }
    return proposals


def evaluated(trial: Trial) -> bool:
    """Whether ``trial`` was evaluated (not a cache hit, not screened out): what the trial budget counts."""
    return trial.cached_from is None and "prescreen_proxy" not in trial.metrics


def pruned_trial(pending: PendingTrial, info: dict[str, Any]) -> Trial:
    """The trial recorded for a proposal the proxy screened out."""
    return Trial(
        trial_id=pending.trial_id,
        arch=pending.arch,
        status=PRUNED,
        score=None,
        protocol=pending.protocol,
        metrics={"prescreen_proxy": info["proxy"], "prescreen_score": info["score"], "prescreen_rank": info["rank"]},
        error=f"pruned by {info['proxy']} pre-screening: rank {info['rank']} of {info.get('of', '?')}",
        started=time.time(),
        seed=pending.seed,
        meta=dict(pending.meta),
    )
