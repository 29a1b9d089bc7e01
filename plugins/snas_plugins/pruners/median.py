"""The ``median`` pruner: stop a trial whose best value so far is below the median of earlier trials at that step.

Optuna's ``MedianPruner`` rule: from the ``n_startup_trials``-th finished
trial on, a trial past ``n_warmup_steps`` is stopped at the first report
where its best value so far is worse than the median of the finished
trials' best values up to the same step.
"""

from __future__ import annotations

from typing import Any

import attrs

from snas import Pruner, Trial, hookimpl, option
from snas_plugins.pruners.curves import StepValues, oriented


@attrs.frozen
class MedianOptions:
    """When the median pruner starts to prune, and what it watches."""

    n_startup_trials: int = option(5, low=0, help="Finished trials before any trial is pruned.")
    n_warmup_steps: int = option(1, low=0, help="Steps (epochs) every trial runs before it can be pruned.")
    metric: str = option("val_acc", help="The reported metric (and curve) the pruner watches.")
    maximize: bool = option(True, help="Whether larger values of the metric are better.")


class MedianPruner(Pruner):
    """Stop trials whose best value so far is below the median of finished trials at the same step."""

    name = "median"
    description = "stop trials below the median of finished trials at the same step (Optuna's MedianPruner)"
    Options = MedianOptions

    def __init__(self, options: MedianOptions):
        super().__init__(options)
        self.values = StepValues(self.metric, self.maximize, ("ok",))
        self.finished = 0

    def tell(self, trial: Trial) -> None:
        if trial.status == "ok" and trial.cached_from is None and trial.curves.get(self.metric):
            self.values.add(trial)
            self.finished += 1

    def rule(self) -> Any:
        if self.finished < self.options.n_startup_trials:
            return None
        return [self.values.quantile(step, 0.5, 1) for step in range(1, len(self.values.by_step) + 1)]

    def prune(self, rule: Any, step: int, value: float) -> bool:
        if not rule or step <= self.options.n_warmup_steps or step > len(rule) or rule[step - 1] is None:
            return False
        return oriented(value, self.maximize) < rule[step - 1]


@hookimpl
def snas_register_pruners():
    return [MedianPruner]
