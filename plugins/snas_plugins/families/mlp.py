"""Multi-layer perceptrons over the flattened image."""

from __future__ import annotations

import math

from torch import nn

from snas import Architecture, Choice, IntRange, LayerList, NetworkFamily, SearchSpace, hookimpl
from snas_plugins.families.common import ACTIVATIONS, activation, level_restrictions, min_level, training_parameters

UNITS = (64, 128, 256, 512, 1024)
MAX_LAYERS = 20
#: proposed first by the default search: two batch-normalized hidden layers, Adam at 1e-3
STARTING_POINT = {"num_layers": 2, "hidden_units": (64, 64), "activation": "relu", "use_batch_norm": True,
                  "dropout": 0.1, "optimizer": "adam", "learning_rate": 0.001}


class MLP(NetworkFamily):
    """Fully connected layers with per-layer widths on the flattened image."""

    name = "mlp"
    default = True  # searched when a run names no family: quick to train, strong on small images
    description = "multi-layer perceptron on the flattened image: per-layer widths"

    def space(self) -> SearchSpace:
        return SearchSpace(
            family=self.name,
            parameters=[
                IntRange("num_layers", 1, MAX_LAYERS, doc="hidden layers"),
                LayerList("hidden_units", Choice("hidden_units", UNITS), doc="units per hidden layer"),
                Choice("activation", ACTIVATIONS, doc="activation function"),
                *training_parameters(),
            ],
            levels=level_restrictions("hidden_units", UNITS),
            min_level=min_level(self.name),
            starting_point=STARTING_POINT,
        )

    def build(self, arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for units in arch["hidden_units"]:
            layers.append(nn.Linear(width, units, bias=not arch["use_batch_norm"]))
            if arch["use_batch_norm"]:
                layers.append(nn.BatchNorm1d(units))
            layers.append(activation(arch["activation"]))
            if arch["dropout"] > 0:
                layers.append(nn.Dropout(arch["dropout"]))
            width = units
        layers.append(nn.Linear(width, num_classes))
        return nn.Sequential(*layers)


@hookimpl
def snas_register_families():
    return [MLP]
