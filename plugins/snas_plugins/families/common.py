"""Parameters, level table and layers shared by the built-in families (not a plugin).

:data:`LEVELS` is the one table of complexity levels: each family derives its
per-level restrictions from it, and the docs print it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from snas import Choice, IntRange

DROPOUTS = (0.0, 0.1, 0.2, 0.3, 0.5)
LEARNING_RATES = (0.1, 0.01, 0.001, 0.0001)
OPTIMIZERS = ("sgd", "adam", "adamw")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "selu")

#: complexity levels: what each level allows (level 3 is the full space)
LEVELS: dict[int, dict[str, Any]] = {
    1: {"max_layers": 3, "max_width": 128, "batch_norm": (False,), "skip": (False,), "activations": ("relu",)},
    2: {
        "max_layers": 5,
        "max_width": 256,
        "batch_norm": (False, True),
        "skip": (False, True),
        "activations": ("relu", "leaky_relu", "elu"),
    },
}


#: the lowest complexity level at which each built-in family is offered
#: (level 1: cnn and mlp; level 2 adds resnet, mobilenet, enhanced_mlp; the rest join at level 3)
FAMILY_MIN_LEVEL: dict[str, int] = {
    "cnn": 1,
    "mlp": 1,
    "enhanced_mlp": 2,
    "resnet": 2,
    "mobilenet": 2,
    "densenet": 3,
    "shufflenetv2": 3,
    "efficientnet": 3,
    "vit": 3,
    "mlp_mixer": 3,
}

#: the widest convolution (filters) the full space (level 3) offers where a family uses them
MAX_WIDTH = 512


def min_level(family: str) -> int:
    """The level at which ``family`` joins a search (level 3 for a family not in the table)."""
    return FAMILY_MIN_LEVEL.get(family, 3)


def training_parameters() -> list:
    """Parameters every family shares: dropout, learning rate, optimizer, batch norm."""
    return [
        Choice("use_batch_norm", (False, True), doc="batch normalization after each layer"),
        Choice("dropout", DROPOUTS, doc="dropout rate"),
        Choice("learning_rate", LEARNING_RATES, doc="initial learning rate"),
        Choice("optimizer", OPTIMIZERS, doc="optimizer"),
    ]


def level_restrictions(widths_param: str | None, widths: tuple, activation_params: tuple[str, ...] = ("activation",),
                       skip_param: str | None = None, layers_param: str = "num_layers") -> dict[int, dict[str, Any]]:
    """Per-level restrictions for a family, derived from :data:`LEVELS`."""
    out: dict[int, dict[str, Any]] = {}
    for level, rules in LEVELS.items():
        r: dict[str, Any] = {layers_param: (1, rules["max_layers"]), "use_batch_norm": rules["batch_norm"]}
        if widths_param is not None:
            r[widths_param] = tuple(w for w in widths if w <= rules["max_width"])
        for name in activation_params:
            r[name] = rules["activations"]
        if skip_param is not None:
            r[skip_param] = rules["skip"]
        out[level] = r
    return out


def downsample_positions(num_layers: int, size: int) -> set[int]:
    """Layers after which to halve the resolution: spread evenly, never below 2x2."""
    budget = max(0, int(math.log2(max(size, 1))) - 1)
    count = min(budget, num_layers)
    if count == 0:
        return set()
    return {int((i + 1) * num_layers / (count + 1)) for i in range(count)}


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (never below it, never 10% under ``value``)."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


def norm2d(channels: int, batch_norm: bool) -> nn.Module:
    """A ``BatchNorm2d`` when ``batch_norm`` is set, else the identity."""
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


def activation(name: str) -> nn.Module:
    """The activation module called ``name``."""
    return {
        "relu": nn.ReLU,
        "leaky_relu": lambda: nn.LeakyReLU(0.1),
        "elu": nn.ELU,
        "selu": nn.SELU,
        "gelu": nn.GELU,
    }[name]()


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def flatten_size(module: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Features ``module`` produces for one input of ``input_shape``."""
    with torch.no_grad():
        return int(module(torch.zeros(1, *input_shape)).numel())


def conv_head(channels: int, dropout: float, num_classes: int) -> list[nn.Module]:
    """The classifier after a convolutional body: global average pool, dropout, linear."""
    return [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_classes)]
