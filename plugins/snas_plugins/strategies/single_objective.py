"""The check single-objective strategies (PNAS, ENAS, PNAS+ENAS) make before a run starts."""

from __future__ import annotations

from typing import Any

from snas import ConfigError


def require_single_objective(strategy: str, context: Any) -> None:
    """Raise :class:`ConfigError` unless the run's one objective is the evaluator's score and it has no constraints.

    These strategies rank architectures by the score alone (a surrogate's or
    a controller's reward); a run that asks for more would silently get less.
    """
    objectives = [str(o) for o in context.objectives]
    constraints = [str(c) for c in getattr(context, "constraints", ())]
    if objectives in ([], ["score:max"]) and not constraints:
        return
    asked = []
    if objectives != ["score:max"]:
        asked.append(f"objectives {', '.join(objectives)}")
    if constraints:
        asked.append(f"constraints {', '.join(constraints)}")
    raise ConfigError(
        f"search method {strategy!r} is single-objective: it maximizes the evaluator's score, but this run has "
        f"{' and '.join(asked)}; search with 'evolutionary' (NSGA-II) or 'random' instead, or drop --objective "
        "and --constraint")
