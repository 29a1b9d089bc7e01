"""Parameters, level table and layers shared by the built-in families (not a plugin).

:data:`LEVELS` is the one table of complexity levels: each family derives its
per-level restrictions from it, and the docs print it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from snas import Choice, ConditionalChoice, IntRange

DROPOUTS = (0.0, 0.1, 0.2, 0.3, 0.5)
OPTIMIZERS = ("sgd", "adam", "adamw")
#: the learning rates drawn with each optimizer (evidence: docs/benchmarks.md, "Learning rate per optimizer")
LEARNING_RATES: dict[str, tuple[float, ...]] = {
    "sgd": (0.1, 0.05, 0.03, 0.01),
    "adam": (0.01, 0.003, 0.001),
    "adamw": (0.01, 0.003, 0.001),
}
ACTIVATIONS = ("relu", "leaky_relu", "elu", "selu")

#: complexity levels: what each level allows (level 3 is the full space)
LEVELS: dict[int, dict[str, Any]] = {
    1: {"max_layers": 3, "max_width": 64, "batch_norm": (False, True), "skip": (False,), "activations": ("relu",),
        "heads": ("pool_4x4",)},
    2: {
        "max_layers": 5,
        "max_width": 256,
        "batch_norm": (False, True),
        "skip": (False, True),
        "activations": ("relu", "leaky_relu", "elu"),
        "heads": ("global_pool", "pool_4x4"),
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
    """Parameters every family shares: batch norm, dropout, optimizer, and a learning rate that suits it."""
    return [
        Choice("use_batch_norm", (False, True), doc="batch normalization after each layer"),
        Choice("dropout", DROPOUTS, doc="dropout rate"),
        Choice("optimizer", OPTIMIZERS, doc="optimizer (SGD with Nesterov momentum 0.9, Adam, AdamW)"),
        ConditionalChoice("learning_rate", on="optimizer", cases=LEARNING_RATES,
                          doc="initial learning rate, from the values that suit the optimizer"),
    ]


def level_restrictions(widths_param: str | None, widths: tuple, activation_params: tuple[str, ...] = ("activation",),
                       skip_param: str | None = None, layers_param: str = "num_layers",
                       head: bool = False) -> dict[int, dict[str, Any]]:
    """Per-level restrictions for a family, derived from :data:`LEVELS` (``head``: it has a ``head`` parameter)."""
    out: dict[int, dict[str, Any]] = {}
    for level, rules in LEVELS.items():
        r: dict[str, Any] = {layers_param: (1, rules["max_layers"]), "use_batch_norm": rules["batch_norm"]}
        if head:
            r["head"] = rules["heads"]
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


#: classifier heads of the convolutional families: how the last feature map becomes the logits
HEADS = ("global_pool", "pool_2x2", "pool_4x4", "flatten")


def head_parameter() -> Choice:
    """The ``head`` parameter of a convolutional family (values: :data:`HEADS`)."""
    return Choice("head", HEADS, doc="classifier head: global average pool, average pool to a 2x2 or 4x4 grid, "
                                     "or flatten the whole last feature map; then dropout and a linear layer")


def feature_shape(body: nn.Module, input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """``(C, H, W)`` of what ``body`` makes of one input of ``input_shape`` (computed in eval mode)."""
    was_training = body.training
    body.eval()
    try:
        with torch.no_grad():
            return tuple(body(torch.zeros(1, *input_shape)).shape[1:])  # type: ignore[return-value]
    finally:
        body.train(was_training)


def conv_head(channels: int, dropout: float, num_classes: int, head: str = "global_pool",
              spatial: tuple[int, int] = (1, 1)) -> list[nn.Module]:
    """The classifier after a convolutional body whose output is ``channels x spatial``.

    ``global_pool`` averages each channel over the whole map; ``pool_2x2`` /
    ``pool_4x4`` average it over a grid of that size (never finer than the
    map itself), keeping where on the image a feature was; ``flatten`` keeps
    the whole map. Then dropout and one linear layer.
    """
    h, w = spatial
    if head == "global_pool":
        pool: list[nn.Module] = [nn.AdaptiveAvgPool2d(1)]
        features = channels
    elif head in ("pool_2x2", "pool_4x4"):
        grid = int(head[-1])
        size = (min(grid, h), min(grid, w))
        pool = [nn.AdaptiveAvgPool2d(size)]
        features = channels * size[0] * size[1]
    elif head == "flatten":
        pool = []
        features = channels * h * w
    else:
        raise ValueError(f"unknown head {head!r}; expected one of {', '.join(HEADS)}")
    return [*pool, nn.Flatten(), nn.Dropout(dropout), nn.Linear(features, num_classes)]


def with_head(body: list[nn.Module], arch: Any, channels: int, input_shape: tuple[int, int, int],
              num_classes: int, dropout: float | None = None) -> nn.Sequential:
    """``body`` followed by the head ``arch["head"]`` with ``dropout`` (default ``arch["dropout"]``), as one network."""
    spatial = (1, 1)
    if arch["head"] != "global_pool":
        spatial = feature_shape(nn.Sequential(*body), input_shape)[1:]
    dropout = arch["dropout"] if dropout is None else dropout
    return nn.Sequential(*body, *conv_head(channels, dropout, num_classes, arch["head"], spatial))
