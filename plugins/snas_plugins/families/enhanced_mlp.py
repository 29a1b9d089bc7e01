"""Multi-layer perceptrons with GELU, layer normalization and residual connections.

``flatten → [LayerNorm → Linear → BatchNorm → act → Dropout (+ residual)] x num_layers → [LayerNorm] → Linear``

Bounds: up to 50 hidden layers (residuals keep deep stacks trainable) of 64 to
1024 units. The residual is the identity where widths match and a linear
projection elsewhere; gelu is offered from level 3 (levels 1-2 allow only the
activations of the level table).
"""

from __future__ import annotations

import math

from torch import nn

from snas import Architecture, Choice, IntRange, LayerList, NetworkFamily, SearchSpace, hookimpl
from snas_plugins.families.common import (
    ACTIVATIONS,
    LEVELS,
    activation,
    level_restrictions,
    min_level,
    training_parameters,
)

UNITS = (64, 128, 256, 512, 1024)
MAX_LAYERS = 50


#: proposed first by a search of this family (see snas.SearchSpace.starting_point):
#: two hidden layers of 256 and 128 units with batch norm, Adam at 1e-3
STARTING_POINT = {"num_layers": 2, "hidden_units": (256, 128), "activation": "relu", "layer_norm": False,
                  "residual": False, "use_batch_norm": True, "dropout": 0.2, "optimizer": "adam",
                  "learning_rate": 0.001}


class MLPBlock(nn.Module):
    """``[LayerNorm] → Linear → [BatchNorm] → activation → [Dropout]``, plus an optional residual.

    The residual is the identity where widths match and a linear projection elsewhere.
    """

    def __init__(self, d_in: int, d_out: int, act: str, batch_norm: bool, layer_norm: bool, residual: bool,
                 dropout: float):
        super().__init__()
        self.norm_in = nn.LayerNorm(d_in) if layer_norm else nn.Identity()
        self.linear = nn.Linear(d_in, d_out, bias=not batch_norm)
        self.norm_out = nn.BatchNorm1d(d_out) if batch_norm else nn.Identity()
        self.act = activation(act)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.residual = residual
        self.project = nn.Linear(d_in, d_out, bias=False) if residual and d_in != d_out else None

    def extra_repr(self) -> str:
        return f"residual={self.residual}"

    def forward(self, x):
        out = self.drop(self.act(self.norm_out(self.linear(self.norm_in(x)))))
        if not self.residual:
            return out
        return out + (x if self.project is None else self.project(x))


class EnhancedMLP(NetworkFamily):
    """An MLP with GELU among its activations and optional layer norm and residual connections."""

    name = "enhanced_mlp"
    description = "MLP with gelu, optional layer normalization and residual connections"

    def space(self) -> SearchSpace:
        levels = level_restrictions("hidden_units", UNITS, skip_param="residual")
        for level in levels:  # layer normalization is a normalization: allowed where batch norm is
            levels[level]["layer_norm"] = LEVELS[level]["batch_norm"]
        return SearchSpace(
            family=self.name,
            parameters=[
                IntRange("num_layers", 1, MAX_LAYERS, doc="hidden layers"),
                LayerList("hidden_units", Choice("hidden_units", UNITS), doc="units per hidden layer"),
                Choice("activation", ACTIVATIONS + ("gelu",), doc="activation function"),
                Choice("layer_norm", (False, True), doc="layer normalization before each hidden layer"),
                Choice("residual", (False, True), doc="residual connection around each hidden layer"),
                *training_parameters(),
            ],
            levels=levels,
            min_level=min_level(self.name),
            starting_point=STARTING_POINT,
        )

    def build(self, arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for units in arch["hidden_units"]:
            layers.append(MLPBlock(width, units, arch["activation"], arch["use_batch_norm"], arch["layer_norm"],
                                   arch["residual"], arch["dropout"]))
            width = units
        if arch["layer_norm"]:
            layers.append(nn.LayerNorm(width))
        layers.append(nn.Linear(width, num_classes))
        return nn.Sequential(*layers)


@hookimpl
def snas_register_families():
    return [EnhancedMLP]
