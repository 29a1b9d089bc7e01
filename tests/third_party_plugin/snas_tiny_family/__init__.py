"""A third-party snas plugin, packaged on its own: the ``tiny_mlp`` family and the ``widest_first`` strategy."""

import attrs
from torch import nn

from snas import Choice, NetworkFamily, Proposal, SearchSpace, Strategy, hookimpl, option


class TinyMLP(NetworkFamily):
    """One hidden layer of a chosen width."""

    name = "tiny_mlp"
    description = "one hidden layer (third-party example)"

    def space(self):
        return SearchSpace(
            family=self.name,
            parameters=[
                Choice("width", (16, 32, 64)),
                Choice("learning_rate", (0.01, 0.001)),
                Choice("optimizer", ("adam",)),
            ],
        )

    def build(self, arch, input_shape, num_classes):
        c, h, w = input_shape
        return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, arch["width"]), nn.ReLU(),
                             nn.Linear(arch["width"], num_classes))


@hookimpl
def snas_register_families():
    return [TinyMLP]


@attrs.frozen
class WidestFirstOptions:
    """How many of the widest architectures come first."""

    warm_up: int = option(2, low=1, help="Widest architectures proposed before random ones.")


class WidestFirst(Strategy):
    """Proposes the widest tiny_mlp architectures first, then random ones (a third-party strategy)."""

    name = "widest_first"
    description = "widest architectures first, then random (third-party example)"
    Options = WidestFirstOptions

    def __init__(self, space, options, rng):
        super().__init__(space, options, rng)
        self.asked = 0

    def ask(self, n):
        out = []
        for _ in range(n):
            if self.asked < self.options.warm_up:
                arch = self.space.sample(self.rng).replace(width=64, learning_rate=(0.01, 0.001)[self.asked % 2])
            else:
                arch = self.space.sample(self.rng)
            self.asked += 1
            out.append(Proposal(arch, meta={"warm_up": self.asked <= self.options.warm_up}))
        return out

    def tell(self, trial):
        pass

    def state_dict(self):
        return {**super().state_dict(), "asked": self.asked}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.asked = state["asked"]


@hookimpl
def snas_register_strategies():
    return [WidestFirst]
