"""The ``enas`` strategy: shared-weight search with an RNN controller (Pham et al. 2018).

On the first ask the strategy runs the whole shared-weight phase: it builds a
supernet per supported family (``cnn``, ``mlp``), then for ``shared_epochs``
epochs alternates (1) one pass over the training split, each batch training
the shared weights along a path the controller samples, and (2)
``controller_steps`` REINFORCE updates of the LSTM controller, rewarded with
the validation accuracy of its sampled path under the shared weights
(moving-average baseline, entropy bonus ``controller_entropy_weight``). It
then samples ``controller_sample_count`` distinct architectures, ranks them by
validation accuracy under the shared weights and proposes the best
``final_count`` to the engine, best first, ``batch_size`` (1) per ask, which
trains them from scratch with the normal evaluator. One per batch means the
figures are recorded after every trained architecture, even when the trial
budget ends before the list does.

The state saved in the run file is the ranked list and the phase's figures,
not the supernet: the phase completes inside the first ``ask``, so a run
killed during it has saved nothing of it and simply reruns it, with the same
seed, on resume (see ``docs/strategies_pnas_enas.md``).
"""

from __future__ import annotations

from typing import Any, Mapping

import attrs
import numpy as np
import torch

from snas import Architecture, BatchStrategy, ConfigError, Proposal, Trial, hookimpl, option
from snas_plugins.strategies.surrogate import kendall_tau
from snas_plugins.strategies.supernet import (
    Controller, Reinforce, SharedWeights, load_bound_data, path_params, seeded_generator, support, timed,
)

_gt0 = attrs.validators.gt(0)
_ge0 = attrs.validators.ge(0)


@attrs.frozen
class ENASOptions:
    """Shared-weight phase and controller settings (the CLI's --controller-sample-count, …)."""

    controller_sample_count: int = option(50, low=1, help="Architectures sampled and ranked by shared weights.")
    controller_entropy_weight: float = option(1e-4, low=0, help="Entropy bonus of the controller's REINFORCE loss.")
    controller_steps: int = option(20, low=0, help="Controller updates after each supernet epoch.")
    controller_lr: float = option(0.0035, low=0, low_open=True, help="Learning rate of the controller.")
    baseline_decay: float = option(0.95, low=0, high=1, high_open=True, help="Decay of the reward's moving baseline.")
    shared_epochs: int = option(10, low=1, help="Epochs of supernet training.")
    shared_batch_size: int = option(64, low=1, help="Batch size of supernet training.")
    shared_lr: float = option(0.001, low=0, low_open=True, help="Learning rate of supernet training.")
    final_count: int = option(10, low=1, help="Best-ranked architectures trained from scratch.")
    batch_size: int = option(1, low=1, flag="--proposals-per-batch",
                             help="Ranked architectures proposed per batch.")
    supernet_max_layers: int = option(6, low=1, help="Most layers a supernet holds.")
    supernet_max_width: int = option(128, low=1, help="Most channels or units per supernet layer.")
    learning_rate: float = option(0.001, low=0, low_open=True, help="Learning rate of the trained architectures.")
    optimizer: str = option("adam", choices=("sgd", "adam", "adamw"), help="Optimizer of the trained architectures.")
    dataset: str = option("digits", cli=False, help="Data set the supernet loads when used outside a run.")
    complexity_level: int | None = option(None, choices=(None, 1, 2, 3),
                                          help="Complexity level of the supernet (default: the run's cap).")


class ENAS(BatchStrategy):
    """Train shared weights and a controller, rank sampled paths, propose the best for full training."""

    name = "enas"
    description = "ENAS: supernet with shared weights, LSTM controller trained by REINFORCE"
    Options = ENASOptions

    def __init__(self, space: Any, options: ENASOptions, rng: np.random.Generator):
        super().__init__(space, options, rng)
        self.seed = int(rng.integers(2**31 - 1))
        self.ranked: list[dict[str, Any]] = []
        self.phase: dict[str, Any] | None = None
        self.next_index = 0
        self.durations: list[float] = []
        self.measured: list[list[float]] = []
        self.scratch: dict[str, Any] = {}

    @classmethod
    def default_budget(cls, options: ENASOptions) -> int:
        return options.final_count

    def setup(self, context: Any) -> None:
        """Keep the run's data set and training device: the supernet trains on them."""
        self._bound_data, self._bound_device = context.data, context.device

    # -- the shared-weight phase ---------------------------------------------

    def _spaces(self) -> dict[str, Any]:
        level = self.space.cap(self.options.complexity_level)
        spaces = support(self.space, level, self.options.supernet_max_layers, self.options.supernet_max_width)
        if not spaces:
            raise ConfigError(
                f"search method 'enas' needs a family with a supernet (cnn or mlp); this run searches "
                f"{self.space.family_names}"
            )
        return spaces

    def shared_phase(self) -> dict[str, Any]:
        """Run the whole shared-weight phase; returns its figures and fills :attr:`ranked`."""
        opts = self.options
        data, device = load_bound_data(self, opts.dataset)
        spaces = self._spaces()
        gen = seeded_generator(self.seed)
        shared = SharedWeights(spaces, data.input_shape, data.num_classes, device, lr=opts.shared_lr)
        controller = Controller(spaces)
        reinforce = Reinforce(controller, opts.controller_lr, opts.controller_entropy_weight, opts.baseline_decay)
        rewards: list[float] = []

        def val_batch() -> tuple[torch.Tensor, torch.Tensor]:
            return next(iter(data.val.batches(256, shuffle=True, generator=gen, device=device)))

        def run() -> None:
            for _epoch in range(opts.shared_epochs):
                for xb, yb in data.train.batches(opts.shared_batch_size, shuffle=True, generator=gen, device=device):
                    with torch.no_grad():
                        arch, _, _, _ = controller.sample(gen)
                    shared.train_step(arch, xb, yb)
                for _ in range(opts.controller_steps):
                    arch, log_prob, entropy, _ = controller.sample(gen)
                    reward = shared.accuracy(arch, [val_batch()])
                    reinforce.update(log_prob, entropy, reward)
                    rewards.append(reward)

        _, train_seconds = timed(run)

        def rank() -> list[dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            val = list(data.val.batches(512, device=device))
            # distinct architectures: a trained controller repeats its favourites, so draw up to 5x as many
            for _ in range(5 * opts.controller_sample_count):
                if len(found) >= opts.controller_sample_count:
                    break
                with torch.no_grad():
                    arch, _, _, _ = controller.sample(gen)
                arch = path_params(arch, spaces[arch.family], opts.learning_rate, opts.optimizer)
                if arch.fingerprint not in found:
                    found[arch.fingerprint] = {"architecture": arch.to_dict(),
                                               "shared_accuracy": shared.accuracy(arch, val)}
            return sorted(found.values(), key=lambda r: r["shared_accuracy"], reverse=True)

        self.ranked, rank_seconds = timed(rank)
        return {
            "shared_phase_seconds": train_seconds + rank_seconds,
            "shared_training_seconds": train_seconds,
            "ranking_seconds": rank_seconds,
            "paths_trained": shared.paths_trained,
            "controller_updates": len(rewards),
            "controller_reward_first": float(np.mean(rewards[:10])) if rewards else None,
            "controller_reward_last": float(np.mean(rewards[-10:])) if rewards else None,
            "architectures_ranked": len(self.ranked),
            "architectures_sampled": opts.controller_sample_count,
        }

    # -- ask / tell ----------------------------------------------------------------

    def ask_batch(self) -> list[Proposal]:
        if self.phase is None:
            self.phase = self.shared_phase()
        end = min(self.next_index + self.options.batch_size, self.options.final_count, len(self.ranked))
        batch = [
            Proposal(Architecture.from_dict(r["architecture"]), meta={"rank": i, "shared_accuracy": r["shared_accuracy"]})
            for i, r in enumerate(self.ranked[self.next_index:end], start=self.next_index)
        ]
        self.next_index = end
        return batch

    def tell_batch(self, trials: list[Trial]) -> None:
        self.durations += [t.duration for t in trials if t.cached_from is None and t.duration > 0]
        self.measured += [[t.meta["shared_accuracy"], t.score] for t in trials if t.ok and "shared_accuracy" in t.meta]
        if self.durations and self.phase is not None:
            per_arch = float(np.mean(self.durations))
            estimate = per_arch * self.phase["architectures_ranked"]
            self.scratch = {
                "scratch_seconds_per_architecture": per_arch,
                "scratch_seconds_for_ranked": estimate,
                "shared_vs_scratch_ratio": self.phase["shared_phase_seconds"] / estimate if estimate else None,
            }
        self.scratch["trained_from_scratch"] = len(self.measured)
        self.scratch["kendall_tau_shared"] = kendall_tau([m[0] for m in self.measured], [m[1] for m in self.measured])

    def progress(self) -> dict[str, Any]:
        return {**(self.phase or {}), **self.scratch}

    # -- state -----------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "seed": self.seed, "ranked": self.ranked, "phase": self.phase,
                "next_index": self.next_index, "durations": self.durations, "measured": self.measured,
                "scratch": self.scratch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.seed = int(state["seed"])
        self.ranked = [dict(r) for r in state["ranked"]]
        self.phase = dict(state["phase"]) if state.get("phase") is not None else None
        self.next_index = int(state["next_index"])
        self.durations = [float(d) for d in state["durations"]]
        self.measured = [list(m) for m in state["measured"]]
        self.scratch = dict(state.get("scratch") or {})


@hookimpl
def snas_register_strategies():
    return [ENAS]
