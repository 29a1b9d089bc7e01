"""DenseNets: dense blocks whose layers see every earlier feature map, joined by compressing transitions.

``conv 3x3 (2·growth channels) → [dense block: (norm → act → 1x1 → norm → act → kxk, concatenated) x L → transition: 1x1 compress + avg pool] → norm → act → pool → Linear``

Bounds: block arrangements from 12 dense layers (``4-4-4``) to DenseNet-121's
58 (``6-12-24-16``); growth rate 12 to 48; a dense layer's 1x1 bottleneck is
2 or 4 times the growth rate. Transitions pool only while the feature map is
4x4 or larger; inputs of 64 and up start with a stride-2 stem and a pool, as
in DenseNet's ImageNet stem. Offered only at level 3.
"""

from __future__ import annotations

import torch
from torch import nn

from snas import Architecture, Choice, NetworkFamily, SearchSpace, hookimpl
from snas_plugins.families.common import (
    ACTIVATIONS,
    activation,
    head_parameter,
    min_level,
    norm2d,
    training_parameters,
    with_head,
)

GROWTH_RATES = (12, 24, 32, 48)
#: dense layers per block; named by their counts. "6-12-24-16" is DenseNet-121's arrangement.
BLOCK_CONFIGS: dict[str, tuple[int, ...]] = {
    "4-4-4": (4, 4, 4),
    "6-6-6": (6, 6, 6),
    "6-12-8": (6, 12, 8),
    "4-8-12-8": (4, 8, 12, 8),
    "6-12-24-16": (6, 12, 24, 16),
}
COMPRESSIONS = (0.5, 0.7, 0.8)
BOTTLENECK_SIZES = (2, 4)
KERNEL_SIZES = (3, 5)


#: proposed first by a search of this family (see snas.SearchSpace.starting_point):
#: a small DenseNet-BC: blocks of 4-4-4 layers, growth rate 12, Adam at 1e-3
STARTING_POINT = {"block_config": "4-4-4", "growth_rate": 12, "compression": 0.5, "bottleneck_size": 4,
                  "kernel_size": 3, "activation": "relu", "head": "global_pool", "use_batch_norm": True,
                  "dropout": 0.1, "optimizer": "adam", "learning_rate": 0.001}


class DenseLayer(nn.Module):
    """``norm → act → 1x1 conv to bottleneck*growth → norm → act → k x k conv to growth``, concatenated to its input."""

    def __init__(self, c_in: int, growth: int, bottleneck: int, kernel: int, act: str, batch_norm: bool,
                 dropout: float):
        super().__init__()
        mid = bottleneck * growth
        self.body = nn.Sequential(
            norm2d(c_in, batch_norm),
            activation(act),
            nn.Conv2d(c_in, mid, 1, bias=not batch_norm),
            norm2d(mid, batch_norm),
            activation(act),
            nn.Conv2d(mid, growth, kernel, padding=kernel // 2, bias=False),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
        )

    def forward(self, x):
        return torch.cat([x, self.body(x)], 1)


def transition(c_in: int, c_out: int, pool: bool, act: str, batch_norm: bool) -> nn.Module:
    """``norm → act → 1x1 conv`` that compresses the channels, then a 2x2 average pool where the input allows it."""
    return nn.Sequential(
        norm2d(c_in, batch_norm),
        activation(act),
        nn.Conv2d(c_in, c_out, 1, bias=not batch_norm),
        nn.AvgPool2d(2) if pool else nn.Identity(),
    )


class DenseNet(NetworkFamily):
    """DenseNet-BC: growth rate, block arrangement, compression and bottleneck size."""

    name = "densenet"
    description = "DenseNet-BC: dense blocks of bottleneck layers joined by compressing transitions"

    def space(self) -> SearchSpace:
        return SearchSpace(
            family=self.name,
            parameters=[
                Choice("block_config", tuple(BLOCK_CONFIGS), doc="dense layers per block"),
                Choice("growth_rate", GROWTH_RATES, doc="channels each dense layer adds"),
                Choice("compression", COMPRESSIONS, doc="channel fraction a transition keeps"),
                Choice("bottleneck_size", BOTTLENECK_SIZES, doc="1x1 bottleneck width, in multiples of the growth rate"),
                Choice("kernel_size", KERNEL_SIZES, doc="kernel size of each dense layer's convolution"),
                Choice("activation", ACTIVATIONS, doc="activation function"),
                head_parameter(),
                *training_parameters(),
            ],
            min_level=min_level(self.name),
            starting_point=STARTING_POINT,
        )

    def build(self, arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        c, h, w = input_shape
        bn = arch["use_batch_norm"]
        act = arch["activation"]
        growth = arch["growth_rate"]
        blocks = BLOCK_CONFIGS[arch["block_config"]]
        channels = 2 * growth  # the stem width, as in DenseNet-BC
        size = min(h, w)
        # like DenseNet's ImageNet stem, large inputs (64 and up) start with a strided convolution and a pool
        large = size >= 64
        layers: list[nn.Module] = [nn.Conv2d(c, channels, 3, stride=2 if large else 1, padding=1, bias=False)]
        if large:
            layers.append(nn.MaxPool2d(2))
            size = size // 4
        for b, count in enumerate(blocks):
            for _ in range(count):
                layers.append(DenseLayer(channels, growth, arch["bottleneck_size"], arch["kernel_size"], act, bn,
                                         arch["dropout"]))
                channels += growth
            if b < len(blocks) - 1:
                out = max(1, int(channels * arch["compression"]))
                pool = size >= 4  # never below 2x2
                layers.append(transition(channels, out, pool, act, bn))
                size = size // 2 if pool else size
                channels = out
        # dropout acts inside the dense layers, as in DenseNet; the head has none
        return with_head([*layers, norm2d(channels, bn), activation(act)], arch, channels, input_shape, num_classes,
                         dropout=0.0)


@hookimpl
def snas_register_families():
    return [DenseNet]
