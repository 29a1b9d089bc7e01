"""The ``asha`` pruner: asynchronous successive halving (Li et al. 2020, as in Ray Tune's ASHA).

Rungs sit at steps ``min_steps * reduction_factor**k``. A trial reaching a
rung goes on only if its best value so far is among the top
``1 / reduction_factor`` of the values every earlier trial had at that rung
(finished, pruned or cut short: all that reached it); with fewer than
``reduction_factor`` such values the rung lets everyone through.
"""

from __future__ import annotations

from typing import Any

import attrs

from snas import Pruner, Trial, hookimpl, option
from snas_plugins.pruners.curves import StepValues, oriented


@attrs.frozen
class ASHAOptions:
    """Where the rungs are and how many trials each lets through."""

    min_steps: int = option(1, low=1, help="The first rung: the step (epoch) every trial reaches.")
    reduction_factor: int = option(3, low=2, help="Each rung keeps the best 1/reduction_factor of trials.")
    metric: str = option("val_acc", help="The reported metric (and curve) the pruner watches.")
    maximize: bool = option(True, help="Whether larger values of the metric are better.")


class ASHAPruner(Pruner):
    """Asynchronous successive halving: at each rung, continue only the top 1/η of trials so far."""

    name = "asha"
    description = "asynchronous successive halving: each rung keeps the best 1/reduction_factor (Ray Tune's ASHA)"
    Options = ASHAOptions

    def __init__(self, options: ASHAOptions):
        super().__init__(options)
        self.values = StepValues(self.metric, self.maximize, ("ok", "pruned", "cut_short"))

    def rungs(self, up_to: int) -> list[int]:
        """The rung steps not beyond ``up_to``."""
        out, step = [], self.options.min_steps
        while step <= up_to:
            out.append(step)
            step *= self.options.reduction_factor
        return out

    def tell(self, trial: Trial) -> None:
        self.values.add(trial)

    def rule(self) -> Any:
        eta = self.options.reduction_factor
        cutoffs = {}
        for step in self.rungs(len(self.values.by_step)):
            reached = self.values.count(step)
            if reached >= eta:  # the top floor(reached / eta) go on: a trial must match the worst of them
                cutoffs[str(step)] = self.values.kth_best(step, reached // eta)
        return cutoffs or None

    def prune(self, rule: Any, step: int, value: float) -> bool:
        cutoff = (rule or {}).get(str(step))
        return cutoff is not None and oriented(value, self.maximize) < cutoff


@hookimpl
def snas_register_pruners():
    return [ASHAPruner]
