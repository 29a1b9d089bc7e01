"""Plain convolutional networks: conv → (batch norm) → activation blocks, then a linear head."""

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
    training_parameters,
    with_head,
)

FILTERS = (16, 32, 64, 128, 256, 512)
KERNEL_SIZES = (3, 5, 7)
MAX_LAYERS = 50
#: proposed first by the default search: a small VGG-style network that trains well on 8x8 to 32x32 images
#: (evidence: docs/benchmarks.md, "Starting points")
STARTING_POINT = {"num_layers": 3, "filters": (32, 64, 64), "kernel_sizes": (3, 3, 3), "activation": "relu",
                  "skip_connections": False, "head": "pool_4x4", "use_batch_norm": True, "dropout": 0.2,
                  "optimizer": "adam", "learning_rate": 0.001}


class ConvBlock(nn.Module):
    """One convolution layer with optional batch norm, activation and skip connection.

    The skip is the identity where channels match and a 1x1 projection elsewhere.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, act: str, batch_norm: bool, skip: bool):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=not batch_norm)
        self.norm = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()
        self.act = activation(act)
        self.skip = skip
        self.project = nn.Conv2d(c_in, c_out, 1, bias=False) if skip and c_in != c_out else None

    def extra_repr(self) -> str:
        return f"skip={self.skip}"

    def forward(self, x):
        out = self.act(self.norm(self.conv(x)))
        if not self.skip:
            return out
        return out + (x if self.project is None else self.project(x))


class CNN(NetworkFamily):
    """Stacked convolutions with per-layer filters, kernel sizes and pooling placed to fit the input."""

    name = "cnn"
    default = True  # searched when a run names no family: quick to train, strong on small images
    description = "plain convolutional network: per-layer filters and kernels, optional skips"

    def space(self) -> SearchSpace:
        return SearchSpace(
            family=self.name,
            parameters=[
                IntRange("num_layers", 1, MAX_LAYERS, doc="convolution layers"),
                LayerList("filters", Choice("filters", FILTERS), doc="output channels per layer"),
                LayerList("kernel_sizes", Choice("kernel_size", KERNEL_SIZES), doc="kernel size per layer"),
                Choice("activation", ACTIVATIONS, doc="activation function"),
                Choice("skip_connections", (False, True), doc="identity skips where channels match"),
                head_parameter(),
                *training_parameters(),
            ],
            levels=level_restrictions("filters", FILTERS, skip_param="skip_connections", head=True),
            min_level=min_level(self.name),
            starting_point=STARTING_POINT,
        )

    def build(self, arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        c, h, w = input_shape
        n = arch["num_layers"]
        pools = downsample_positions(n, min(h, w))
        layers: list[nn.Module] = []
        c_in = c
        for i in range(n):
            c_out = arch["filters"][i]
            layers.append(
                ConvBlock(c_in, c_out, arch["kernel_sizes"][i], arch["activation"], arch["use_batch_norm"],
                          arch["skip_connections"])
            )
            if i in pools:
                layers.append(nn.MaxPool2d(2))
            c_in = c_out
        return with_head(layers, arch, c_in, input_shape, num_classes)


@hookimpl
def snas_register_families():
    return [CNN]
