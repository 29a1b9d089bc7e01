"""What both built-in pruners keep of the trials told so far: each step's values, sorted."""

from __future__ import annotations

import bisect

from snas import Trial


class StepValues:
    """Per step, the sorted running-best values of the trials told so far (larger is better)."""

    def __init__(self, metric: str, maximize: bool, statuses: tuple[str, ...]):
        self.metric, self.sign, self.statuses = metric, 1.0 if maximize else -1.0, statuses
        self.by_step: list[list[float]] = []

    def add(self, trial: Trial) -> None:
        """Fold in a told trial's curve (trials of other statuses, or without the curve, are skipped)."""
        curve = trial.curves.get(self.metric) or []
        if trial.status not in self.statuses or trial.cached_from is not None:
            return
        best = float("-inf")
        for step, value in enumerate(curve):
            if value is None:
                break
            best = max(best, self.sign * float(value))
            while len(self.by_step) <= step:
                self.by_step.append([])
            bisect.insort(self.by_step[step], best)

    def kth_best(self, step: int, k: int) -> float | None:
        """The ``k``-th best value at ``step`` (from 1); ``None`` with fewer than ``k`` values."""
        if step < 1 or step > len(self.by_step) or len(self.by_step[step - 1]) < k:
            return None
        return self.by_step[step - 1][-k]

    def count(self, step: int) -> int:
        """How many told trials reached ``step``."""
        return len(self.by_step[step - 1]) if 1 <= step <= len(self.by_step) else 0

    def quantile(self, step: int, q: float, minimum: int) -> float | None:
        """The ``q`` quantile (0..1, lower value) of the values at ``step`` (from 1); ``None`` with fewer than ``minimum``."""
        if step < 1 or step > len(self.by_step) or len(self.by_step[step - 1]) < max(1, minimum):
            return None
        values = self.by_step[step - 1]
        return values[min(len(values) - 1, int(q * (len(values) - 1)))]


def oriented(value: float, maximize: bool) -> float:
    """``value`` turned so that larger is better."""
    return float(value) if maximize else -float(value)


__all__ = ["StepValues", "oriented"]
