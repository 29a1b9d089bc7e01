"""EfficientNet: MBConv blocks (expand, depthwise, squeeze-and-excitation, project) scaled in width and depth.

The baseline is EfficientNet-B0's block table with a narrower head (640
channels instead of 1280) to keep small-image networks cheap. The width factor
scales every channel count (rounded to a multiple of 8), the depth factor
every stage's repeat count (rounded half up, at least 1).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from snas import Architecture, Choice, NetworkFamily, SearchSpace, hookimpl
from snas_plugins.families.common import head_parameter, min_level, training_parameters, with_head

WIDTH_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5)
DEPTH_FACTORS = (0.8, 1.0, 1.2, 1.4)
SE_RATIOS = (0.0, 0.125, 0.25)
#: EfficientNet-B0 stages: (expansion, output channels, repeats, stride, kernel)
BASELINE = (
    (1, 16, 1, 1, 3),
    (6, 24, 2, 2, 3),
    (6, 40, 2, 2, 5),
    (6, 80, 3, 2, 3),
    (6, 112, 3, 1, 5),
    (6, 192, 4, 2, 5),
    (6, 320, 1, 1, 3),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 640


def scale_width(channels: int, factor: float, divisor: int = 8) -> int:
    """``channels * factor`` rounded to the nearest multiple of ``divisor``, never down by more than 10%."""
    scaled = channels * factor
    out = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * scaled else out


def scale_depth(repeats: int, factor: float) -> int:
    """``repeats * factor`` rounded half up, at least 1."""
    return max(1, math.floor(repeats * factor + 0.5))


#: proposed first by a search of this family (see snas.SearchSpace.starting_point):
#: the baseline network at half width and 0.8 depth with squeeze-excitation, Adam at 1e-3
STARTING_POINT = {"width_factor": 0.5, "depth_factor": 0.8, "se_ratio": 0.25, "head": "global_pool",
                  "use_batch_norm": True, "dropout": 0.2, "optimizer": "adam", "learning_rate": 0.001}


class SqueezeExcite(nn.Module):
    """Channel attention: global pool, reduce, SiLU, expand, sigmoid gate."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(nn.functional.silu(self.reduce(s))))


def conv_norm(c_in: int, c_out: int, kernel: int, stride: int, batch_norm: bool, act: bool,
              groups: int = 1) -> nn.Sequential:
    """Convolution, batch norm (or a conv bias without it), SiLU if ``act``."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    if act:
        layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise k x k, optional SE, 1x1 project; identity skip when shapes match."""

    def __init__(self, c_in: int, c_out: int, expansion: int, kernel: int, stride: int, se_ratio: float,
                 batch_norm: bool):
        super().__init__()
        mid = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_norm(c_in, mid, 1, 1, batch_norm, act=True))
        layers.append(conv_norm(mid, mid, kernel, stride, batch_norm, act=True, groups=mid))
        if se_ratio > 0:
            layers.append(SqueezeExcite(mid, max(1, int(c_in * se_ratio))))
        layers.append(conv_norm(mid, c_out, 1, 1, batch_norm, act=False))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def extra_repr(self) -> str:
        return f"residual={self.residual}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + x if self.residual else out


class EfficientNet(NetworkFamily):
    """EfficientNet (B0 block table) with searchable width factor, depth factor and SE ratio."""

    name = "efficientnet"
    description = "EfficientNet MBConv network: width factor, depth factor, squeeze-excitation ratio"

    def space(self) -> SearchSpace:
        return SearchSpace(
            family=self.name,
            parameters=[
                Choice("width_factor", WIDTH_FACTORS, doc="scales every channel count"),
                Choice("depth_factor", DEPTH_FACTORS, doc="scales every stage's block count"),
                Choice("se_ratio", SE_RATIOS, doc="squeeze-and-excitation ratio (0.0: no SE block)"),
                head_parameter(),
                *training_parameters(),
            ],
            min_level=min_level(self.name),
            starting_point=STARTING_POINT,
        )

    def build(self, arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        c, h, w = input_shape
        size = min(h, w)
        bn, wf, df = arch["use_batch_norm"], arch["width_factor"], arch["depth_factor"]
        # the stem halves the resolution for inputs of 64 and up; stages halve it while it stays >= 2x2
        stem_stride = 2 if size >= 64 else 1
        size = (size + 1) // 2 if stem_stride == 2 else size
        c_in = scale_width(STEM_CHANNELS, wf)
        layers: list[nn.Module] = [conv_norm(c, c_in, 3, stem_stride, bn, act=True)]
        for expansion, channels, repeats, stride, kernel in BASELINE:
            c_out = scale_width(channels, wf)
            if stride == 2 and size < 4:
                stride = 1
            size = (size + 1) // 2 if stride == 2 else size
            for i in range(scale_depth(repeats, df)):
                layers.append(MBConv(c_in, c_out, expansion, kernel, stride if i == 0 else 1, arch["se_ratio"], bn))
                c_in = c_out
        head = scale_width(HEAD_CHANNELS, wf)
        layers.append(conv_norm(c_in, head, 1, 1, bn, act=True))
        return with_head(layers, arch, head, input_shape, num_classes)


@hookimpl
def snas_register_families():
    return [EfficientNet]
