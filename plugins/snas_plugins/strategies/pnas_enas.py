"""The ``pnas_enas`` strategy: PNAS's progressive beam ranked by surrogate and shared weights together.

Each candidate's ranking score is ``(1 - w) * surrogate + w * shared`` where
both predictors are standardized over the round's candidates (they live on
different scales) and ``w`` is ``shared_weights_importance``. The shared
weights are a supernet per supported family (``cnn``, ``mlp``) trained once,
on uniformly sampled paths, before the first surrogate-ranked round.
Candidates of a family without a supernet use the surrogate alone.

With ``adapt_importance`` (default on) ``w`` moves by ``importance_step``
after every round toward whichever predictor ranked that round's trained
candidates better (Kendall tau against the measured scores); each round's
``w`` and both taus are in ``progress()`` and so in the run file.

Resume: the supernet is not stored; it is retrained from the stored seed when
first needed after a resume, which gives the same weights, so a resumed run
continues exactly.
"""

from __future__ import annotations

from typing import Any, Mapping

import attrs
import numpy as np

from snas import Architecture, hookimpl, option
from snas_plugins.strategies.pnas import PNAS, PNASOptions
from snas_plugins.strategies.supernet import SharedWeights, load_bound_data, seeded_generator, support, timed

_gt0 = attrs.validators.gt(0)
_unit = attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.le(1.0))


@attrs.frozen
class PNASENASOptions(PNASOptions):
    """PNAS's options plus the shared-weight predictor (the CLI's --shared-weights-importance)."""

    shared_weights_importance: float = option(0.5, low=0, high=1,
                                              help="Weight w of shared-weight accuracy in the ranking score.")
    adapt_importance: bool = option(True, help="Move w each round towards the better predictor so far.")
    importance_step: float = option(0.1, low=0, high=1, help="How far w moves each round.")
    shared_epochs: int = option(10, low=1, help="Epochs of supernet training.")
    shared_batch_size: int = option(64, low=1, help="Batch size of supernet training.")
    shared_lr: float = option(0.001, low=0, low_open=True, help="Learning rate of supernet training.")
    supernet_max_layers: int = option(6, low=1, help="Most layers a supernet holds.")
    supernet_max_width: int = option(128, low=1, help="Most channels or units per supernet layer.")
    dataset: str = option("digits", cli=False, help="Data set the supernet loads when used outside a run.")


def _standardize(values: np.ndarray) -> np.ndarray:
    std = float(values.std())
    return (values - values.mean()) / (std if std > 0 else 1.0)


class PNASENAS(PNAS):
    """PNAS whose candidates are ranked by a mix of surrogate prediction and shared-weight accuracy."""

    name = "pnas_enas"
    description = "PNAS beam ranked by surrogate and ENAS-style shared-weight accuracy, weight adapted per round"
    Options = PNASENASOptions

    def __init__(self, space: Any, options: PNASENASOptions, rng: np.random.Generator):
        super().__init__(space, options, rng)
        self.importance = options.shared_weights_importance
        self._shared: SharedWeights | None = None
        self._spaces: dict[str, Any] = {}
        self._val: list | None = None
        self.shared_seconds: float | None = None

    def setup(self, context: Any) -> None:
        """Keep the run's data set and training device: the supernet trains on them."""
        self._bound_data, self._bound_device = context.data, context.device

    def shared_weights(self) -> SharedWeights | None:
        """The trained supernets (trained on first use from the stored seed); ``None`` if no family has one."""
        if self._val is not None:  # already built (or found that no family has a supernet)
            return self._shared
        opts = self.options
        self._spaces = support(self.space, self.max_level, opts.supernet_max_layers, opts.supernet_max_width)
        data, device = load_bound_data(self, opts.dataset)
        self._val = list(data.val.batches(512, device=device))
        if not self._spaces:
            return None
        gen = seeded_generator(self.seed + 7919)
        shared = SharedWeights(self._spaces, data.input_shape, data.num_classes, device, lr=opts.shared_lr)
        families = list(self._spaces)

        def train() -> None:
            for _epoch in range(opts.shared_epochs):
                for xb, yb in data.train.batches(opts.shared_batch_size, shuffle=True, generator=gen, device=device):
                    family = families[int(self.rng_for_paths.integers(len(families)))]
                    shared.train_step(self._spaces[family].sample(self.rng_for_paths), xb, yb)

        self.rng_for_paths = np.random.default_rng(self.seed + 7919)
        _, seconds = timed(train)
        if self.shared_seconds is None:
            self.shared_seconds = seconds
        self._shared = shared
        return shared

    def shared_accuracy(self, arch: Architecture) -> float | None:
        """Validation accuracy of ``arch``'s path under the shared weights (``None`` without a supernet)."""
        shared = self.shared_weights()
        if shared is None or arch.family not in self._spaces:
            return None
        return shared.accuracy(self._spaces[arch.family].project(arch), self._val)

    def score_candidates(self, cands: list[Architecture], surrogate: Any, level: int) -> dict[str, np.ndarray]:
        base = super().score_candidates(cands, surrogate, level)
        pred = base["surrogate"]
        shared = [self.shared_accuracy(a) for a in cands]
        z_sur = _standardize(pred)
        have = np.asarray([s is not None for s in shared])
        z_sh = z_sur.copy()
        if have.sum() > 1:
            vals = np.asarray([s for s in shared if s is not None], dtype=np.float64)
            z_sh[have] = _standardize(vals)
        w = self.importance
        rank = (1.0 - w) * z_sur + w * z_sh
        return {"rank": rank, "surrogate": pred, "shared": np.asarray([np.nan if s is None else s for s in shared])}

    def ask_batch(self) -> list:
        proposals = super().ask_batch()
        for p in proposals:  # NaN is not JSON: a missing shared accuracy is None
            if "predicted_shared" in p.meta and not np.isfinite(p.meta["predicted_shared"]):
                p.meta["predicted_shared"] = None
        for entry in self.pending.values():
            if "shared" in entry and not np.isfinite(entry["shared"]):
                entry["shared"] = None
        return proposals

    def after_round(self, entry: dict[str, Any], measured: list) -> None:
        entry["shared_weights_importance"] = self.importance
        entry["shared_phase_seconds"] = self.shared_seconds
        sur, sh = entry.get("kendall_tau_surrogate"), entry.get("kendall_tau_shared")
        if self.options.adapt_importance and sur is not None and sh is not None and sur != sh:
            step = self.options.importance_step
            self.importance = float(min(1.0, self.importance + step)) if sh > sur else float(max(0.0, self.importance - step))
        entry["next_shared_weights_importance"] = self.importance

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "importance": self.importance, "shared_seconds": self.shared_seconds}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.importance = float(state["importance"])
        self.shared_seconds = state.get("shared_seconds")


@hookimpl
def snas_register_strategies():
    return [PNASENAS]
