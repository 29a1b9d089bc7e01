"""ShuffleNet V2: channel split, a cheap branch of pointwise/depthwise convolutions, concat and channel shuffle.

Stage widths per width multiplier follow the paper where it gives them (0.5,
1.0, 1.5) and are rounded to multiples of 4 in between (0.75, 1.25), so every
unit splits its channels into two even halves and the two-group shuffle is
always valid.
"""

from __future__ import annotations

import torch
from torch import nn

from snas import Architecture, Choice, NetworkFamily, SearchSpace, hookimpl
from snas_plugins.families.common import head_parameter, min_level, training_parameters, with_head

#: output channels of stages 2, 3, 4 for each width multiplier (all divisible by 4)
STAGE_CHANNELS = {
    0.5: (48, 96, 192),
    0.75: (88, 176, 352),
    1.0: (116, 232, 464),
    1.25: (144, 288, 576),
    1.5: (176, 352, 704),
}
WIDTH_MULTIPLIERS = tuple(STAGE_CHANNELS)
#: units in stages 2, 3, 4 ("4-8-4" is the paper's arrangement)
STAGE_BLOCKS = ("1-2-1", "2-4-2", "3-7-3", "4-8-4")
STEM_CHANNELS = 24
HEAD_CHANNELS = 1024


def parse_blocks(text: str) -> tuple[int, ...]:
    """``"4-8-4"`` -> ``(4, 8, 4)``."""
    return tuple(int(part) for part in text.split("-"))


def conv_norm(c_in: int, c_out: int, kernel: int, stride: int, batch_norm: bool, relu: bool,
              groups: int = 1) -> nn.Sequential:
    """Convolution, then batch norm (or a conv bias without it), then ReLU if asked."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    """Interleave the channels of ``groups`` equal groups."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


#: proposed first by a search of this family (see snas.SearchSpace.starting_point):
#: the half-width network with 1-2-1 blocks per stage, Adam at 1e-3
STARTING_POINT = {"width_multiplier": 0.5, "stage_blocks": "1-2-1", "head": "global_pool", "use_batch_norm": True,
                  "dropout": 0.1, "optimizer": "adam", "learning_rate": 0.001}


class ShuffleUnit(nn.Module):
    """One ShuffleNet V2 unit.

    Basic unit (``first=False``): split the channels in half, transform one half,
    concat, shuffle. First unit of a stage: both branches see the whole input
    (stride 1 or 2), each gives half of the output channels, concat, shuffle.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, first: bool, batch_norm: bool):
        super().__init__()
        if c_out % 2 or (not first and c_in != c_out):
            raise ValueError(f"shufflenetv2: invalid unit channels {c_in} -> {c_out}")
        half = c_out // 2
        self.first = first
        branch_in = c_in if first else half
        self.branch1 = (
            nn.Sequential(
                conv_norm(c_in, c_in, 3, stride, batch_norm, relu=False, groups=c_in),
                conv_norm(c_in, half, 1, 1, batch_norm, relu=True),
            )
            if first
            else None
        )
        self.branch2 = nn.Sequential(
            conv_norm(branch_in, half, 1, 1, batch_norm, relu=True),
            conv_norm(half, half, 3, stride, batch_norm, relu=False, groups=half),
            conv_norm(half, half, 1, 1, batch_norm, relu=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.first:
            out = torch.cat([self.branch1(x), self.branch2(x)], dim=1)
        else:
            keep, work = x.chunk(2, dim=1)
            out = torch.cat([keep, self.branch2(work)], dim=1)
        return channel_shuffle(out, 2)


def stem_reduction(size: int) -> bool:
    """Whether the stem halves the resolution twice (stride-2 conv and max pool): inputs of 64 and up."""
    return size >= 64


class ShuffleNetV2(NetworkFamily):
    """ShuffleNet V2 with a searchable width multiplier and units per stage."""

    name = "shufflenetv2"
    description = "ShuffleNet V2: width multiplier and units per stage"

    def space(self) -> SearchSpace:
        return SearchSpace(
            family=self.name,
            parameters=[
                Choice("width_multiplier", WIDTH_MULTIPLIERS, doc="scales stage widths (table in the docs)"),
                Choice("stage_blocks", STAGE_BLOCKS, doc="units in stages 2-3-4"),
                head_parameter(),
                *training_parameters(),
            ],
            min_level=min_level(self.name),
            starting_point=STARTING_POINT,
        )

    def build(self, arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        c, h, w = input_shape
        size = min(h, w)
        bn = arch["use_batch_norm"]
        reduce = stem_reduction(size)
        layers: list[nn.Module] = [conv_norm(c, STEM_CHANNELS, 3, 2 if reduce else 1, bn, relu=True)]
        if reduce:
            layers.append(nn.MaxPool2d(3, 2, 1))
            size = (size + 1) // 2
            size = (size + 1) // 2
        c_in = STEM_CHANNELS
        for c_out, units in zip(STAGE_CHANNELS[arch["width_multiplier"]], parse_blocks(arch["stage_blocks"])):
            # halve the resolution at each stage while it stays at least 2x2
            stride = 2 if size >= 4 else 1
            size = (size + 1) // 2 if stride == 2 else size
            for i in range(units):
                layers.append(ShuffleUnit(c_in if i == 0 else c_out, c_out, stride if i == 0 else 1, i == 0, bn))
            c_in = c_out
        layers.append(conv_norm(c_in, HEAD_CHANNELS, 1, 1, bn, relu=True))
        return with_head(layers, arch, HEAD_CHANNELS, input_shape, num_classes)


@hookimpl
def snas_register_families():
    return [ShuffleNetV2]
