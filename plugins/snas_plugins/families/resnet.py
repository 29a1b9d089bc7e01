"""Residual networks: a stem convolution, then residual blocks of two or three convolutions.

``conv 3x3 → [block: basic (kxk, kxk) or bottleneck (1x1, kxk, 1x1) + shortcut] x num_layers → pool → Linear``

Bounds: up to 50 blocks (ResNet-152 has 50 bottleneck blocks), widths 16 to
256 per block. Widths stop at 256, not 512: a deep stack of 512-wide 7x7
basic blocks has hundreds of millions of parameters (a 40-block one has 525M),
too large to build and train as one trial; with 256 the largest of 50 sampled
level-3 networks had 38M. Stride-2 blocks are spread evenly over the network,
as many as the input allows without going below 2x2 (two for 8x8 inputs).
"""

from __future__ import annotations

from torch import nn

from snas import Architecture, Choice, IntRange, LayerList, NetworkFamily, SearchSpace, hookimpl
from snas_plugins.families.common import (
    ACTIVATIONS,
    activation,
    downsample_positions,
    head_parameter,
    level_restrictions,
    min_level,
    norm2d,
    training_parameters,
    with_head,
)

FILTERS = (16, 32, 64, 128, 256)
KERNEL_SIZES = (3, 5, 7)
BLOCK_TYPES = ("basic", "bottleneck")
#: blocks, as in ResNet-152 (3 + 8 + 36 + 3 bottleneck blocks)
MAX_BLOCKS = 50
#: a bottleneck block's inner width is its output width divided by this (as in ResNet-50)
BOTTLENECK_REDUCTION = 4


#: proposed first by a search of this family (see snas.SearchSpace.starting_point):
#: a small ResNet: three basic stages of 32-64-128 filters, Adam at 1e-3
STARTING_POINT = {"num_layers": 3, "filters": (32, 64, 128), "kernel_sizes": (3, 3, 3), "block_type": "basic",
                  "activation": "relu", "head": "global_pool", "use_batch_norm": True, "dropout": 0.1,
                  "optimizer": "adam", "learning_rate": 0.001}


class ResidualBlock(nn.Module):
    """``out = act(body(x) + shortcut(x))``.

    ``basic``: two ``k x k`` convolutions. ``bottleneck``: ``1x1`` reduce, ``k x k``,
    ``1x1`` expand. The first convolution carries the stride; the shortcut is the
    identity when shape is kept and a strided ``1x1`` projection otherwise.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, block_type: str, act: str, batch_norm: bool):
        super().__init__()
        pad = kernel // 2
        bias = not batch_norm
        if block_type == "basic":
            convs = [(c_in, c_out, kernel, stride, pad), (c_out, c_out, kernel, 1, pad)]
        else:
            mid = max(8, c_out // BOTTLENECK_REDUCTION)
            convs = [(c_in, mid, 1, 1, 0), (mid, mid, kernel, stride, pad), (mid, c_out, 1, 1, 0)]
        body: list[nn.Module] = []
        for i, (a, b, k, s, p) in enumerate(convs):
            body += [nn.Conv2d(a, b, k, stride=s, padding=p, bias=bias), norm2d(b, batch_norm)]
            if i < len(convs) - 1:
                body.append(activation(act))
        self.body = nn.Sequential(*body)
        self.shortcut = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=bias), norm2d(c_out, batch_norm))
        )
        self.act = activation(act)

    def forward(self, x):
        return self.act(self.body(x) + self.shortcut(x))


class ResNet(NetworkFamily):
    """Residual blocks with per-block widths and kernels; strides placed to fit the input."""

    name = "resnet"
    description = "residual network: blocks of 2 (basic) or 3 (bottleneck) convolutions"

    def space(self) -> SearchSpace:
        return SearchSpace(
            family=self.name,
            parameters=[
                IntRange("num_layers", 1, MAX_BLOCKS, doc="residual blocks"),
                LayerList("filters", Choice("filters", FILTERS), doc="output channels per block"),
                LayerList("kernel_sizes", Choice("kernel_size", KERNEL_SIZES), doc="kernel size per block"),
                Choice("block_type", BLOCK_TYPES, doc="basic: 2 convolutions; bottleneck: 1x1, kxk, 1x1"),
                Choice("activation", ACTIVATIONS, doc="activation function"),
                head_parameter(),
                *training_parameters(),
            ],
            levels=level_restrictions("filters", FILTERS, head=True),
            min_level=min_level(self.name),
            starting_point=STARTING_POINT,
        )

    def build(self, arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        c, h, w = input_shape
        n = arch["num_layers"]
        bn = arch["use_batch_norm"]
        strided = downsample_positions(n, min(h, w))  # these blocks halve the resolution
        c0 = arch["filters"][0]
        layers: list[nn.Module] = [
            nn.Conv2d(c, c0, 3, padding=1, bias=not bn),
            norm2d(c0, bn),
            activation(arch["activation"]),
        ]
        c_in = c0
        for i in range(n):
            c_out = arch["filters"][i]
            layers.append(ResidualBlock(c_in, c_out, arch["kernel_sizes"][i], 2 if i in strided else 1,
                                        arch["block_type"], arch["activation"], bn))
            c_in = c_out
        return with_head(layers, arch, c_in, input_shape, num_classes)


@hookimpl
def snas_register_families():
    return [ResNet]
