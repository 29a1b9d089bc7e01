"""MobileNet-style networks: depthwise-separable blocks, optionally inverted residuals, and a width multiplier.

``conv 3x3 → [expansion 1: dw kxk → pw 1x1 | expansion e: pw 1x1 (e·c) → dw kxk → linear pw 1x1 (+ residual)] x num_layers → pool → Linear``

Bounds: up to 50 blocks; block widths 16 to 512 before the width multiplier
(0.5 to 1.25, rounded to multiples of 8), so level 3 reaches 640 channels;
levels 1 and 2 offer only the multipliers that keep every block within the
level's widest layer. Strides are spread over the blocks as in resnet.
"""

from __future__ import annotations

from torch import nn

from snas import Architecture, Choice, IntRange, LayerList, NetworkFamily, SearchSpace, hookimpl
from snas_plugins.families.common import (
    ACTIVATIONS,
    LEVELS,
    activation,
    downsample_positions,
    head_parameter,
    level_restrictions,
    make_divisible,
    min_level,
    norm2d,
    training_parameters,
    with_head,
)

FILTERS = (16, 32, 64, 128, 256, 512)
KERNEL_SIZES = (3, 5, 7)
#: 1 is a MobileNetV1 depthwise-separable block; larger values are MobileNetV2 inverted residuals
EXPANSIONS = (1, 3, 6)
WIDTH_MULTIPLIERS = (0.5, 0.75, 1.0, 1.25)
MAX_BLOCKS = 50
#: output channels of the stem convolution before the width multiplier (as in MobileNet)
STEM_CHANNELS = 32


#: proposed first by a search of this family (see snas.SearchSpace.starting_point):
#: three inverted-residual blocks of 32-64-128 filters (expansion 1, 6, 6), Adam at 1e-3
STARTING_POINT = {"num_layers": 3, "filters": (32, 64, 128), "kernel_sizes": (3, 3, 3), "expansions": (1, 6, 6),
                  "width_multiplier": 1.0, "activation": "relu", "skip_connections": True, "head": "global_pool",
                  "use_batch_norm": True, "dropout": 0.1, "optimizer": "adam", "learning_rate": 0.001}


class SeparableBlock(nn.Module):
    """A depthwise-separable block.

    Expansion 1: ``depthwise k x k → act → pointwise 1x1 → act`` (MobileNetV1).
    Expansion ``e > 1``: ``pointwise 1x1 to e*c_in → act → depthwise k x k → act →
    linear pointwise 1x1`` (MobileNetV2). The depthwise convolution carries the
    stride; with ``residual`` the input is added where the shape is kept.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expansion: int, act: str, batch_norm: bool,
                 residual: bool):
        super().__init__()
        bias = not batch_norm
        mid = c_in * expansion
        layers: list[nn.Module] = []
        if expansion > 1:
            layers += [nn.Conv2d(c_in, mid, 1, bias=bias), norm2d(mid, batch_norm), activation(act)]
        layers += [
            nn.Conv2d(mid, mid, kernel, stride=stride, padding=kernel // 2, groups=mid, bias=bias),
            norm2d(mid, batch_norm),
            activation(act),
            nn.Conv2d(mid, c_out, 1, bias=bias),
            norm2d(c_out, batch_norm),
        ]
        if expansion == 1:
            layers.append(activation(act))
        self.body = nn.Sequential(*layers)
        self.residual = residual and stride == 1 and c_in == c_out

    def extra_repr(self) -> str:
        return f"residual={self.residual}"

    def forward(self, x):
        out = self.body(x)
        return out + x if self.residual else out


class MobileNet(NetworkFamily):
    """A stem convolution, then depthwise-separable blocks with per-block widths, kernels and expansions."""

    name = "mobilenet"
    description = "MobileNet: depthwise-separable blocks, inverted residuals, width multiplier"

    def space(self) -> SearchSpace:
        levels = level_restrictions("filters", FILTERS, skip_param="skip_connections", head=True)
        for level, rules in LEVELS.items():  # keep the widest block within the level's width
            widest = max(levels[level]["filters"])
            levels[level]["width_multiplier"] = tuple(
                m for m in WIDTH_MULTIPLIERS if make_divisible(widest * m) <= rules["max_width"]
            )
        return SearchSpace(
            family=self.name,
            parameters=[
                IntRange("num_layers", 1, MAX_BLOCKS, doc="depthwise-separable blocks"),
                LayerList("filters", Choice("filters", FILTERS), doc="output channels per block (before the multiplier)"),
                LayerList("kernel_sizes", Choice("kernel_size", KERNEL_SIZES), doc="depthwise kernel size per block"),
                LayerList("expansions", Choice("expansion", EXPANSIONS),
                          doc="expansion ratio per block (1: separable, >1: inverted residual)"),
                Choice("width_multiplier", WIDTH_MULTIPLIERS, doc="scales every width (rounded to multiples of 8)"),
                Choice("activation", ACTIVATIONS, doc="activation function"),
                Choice("skip_connections", (False, True), doc="residual where a block keeps its shape"),
                head_parameter(),
                *training_parameters(),
            ],
            levels=levels,
            min_level=min_level(self.name),
            starting_point=STARTING_POINT,
        )

    def build(self, arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        c, h, w = input_shape
        n = arch["num_layers"]
        bn = arch["use_batch_norm"]
        act = arch["activation"]
        mult = arch["width_multiplier"]
        strided = downsample_positions(n, min(h, w))
        c_in = make_divisible(STEM_CHANNELS * mult)
        layers: list[nn.Module] = [nn.Conv2d(c, c_in, 3, padding=1, bias=not bn), norm2d(c_in, bn), activation(act)]
        for i in range(n):
            c_out = make_divisible(arch["filters"][i] * mult)
            layers.append(SeparableBlock(c_in, c_out, arch["kernel_sizes"][i], 2 if i in strided else 1,
                                         arch["expansions"][i], act, bn, arch["skip_connections"]))
            c_in = c_out
        return with_head(layers, arch, c_in, input_shape, num_classes)


@hookimpl
def snas_register_families():
    return [MobileNet]
