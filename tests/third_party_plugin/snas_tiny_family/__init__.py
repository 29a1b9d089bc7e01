"""A third-party snas plugin, packaged on its own: the ``tiny_mlp`` family."""

from torch import nn

from snas import Choice, NetworkFamily, SearchSpace, hookimpl


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
