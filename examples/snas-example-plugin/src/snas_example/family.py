"""The ``gap_cnn`` network family: a stack of same-width convolutions, global average pooling, a linear head."""

from __future__ import annotations

from torch import nn

from snas import Choice, IntRange, NetworkFamily, SearchSpace, hookimpl


class GapCNN(NetworkFamily):
    """Convolutions of one width and kernel size, then global average pooling.

    Global pooling makes the network independent of the image size, so it
    builds for every ``(C, H, W)``.
    """

    name = "gap_cnn"
    description = "convolutions of one width, global average pooling, linear head"

    def space(self) -> SearchSpace:
        return SearchSpace(
            family=self.name,
            parameters=[
                IntRange("num_layers", 1, 4, doc="convolutions in the stack"),
                Choice("width", (8, 16, 32, 64), doc="output channels of every convolution"),
                Choice("kernel_size", (3, 5), doc="square kernel of every convolution"),
                Choice("use_batch_norm", (False, True), doc="batch norm after every convolution"),
                Choice("learning_rate", (0.01, 0.003, 0.001), doc="Adam's learning rate"),
                Choice("optimizer", ("adam",), doc="training optimizer"),
            ],
            # complexity level 1 offers at most two layers of at most 32 channels
            levels={1: {"num_layers": (1, 2), "width": (8, 16, 32)}},
        )

    def build(self, arch, input_shape, num_classes):
        channels, layers = input_shape[0], []
        for _ in range(arch["num_layers"]):
            layers.append(nn.Conv2d(channels, arch["width"], arch["kernel_size"], padding="same"))
            if arch["use_batch_norm"]:
                layers.append(nn.BatchNorm2d(arch["width"]))
            layers.append(nn.ReLU())
            channels = arch["width"]
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


@hookimpl
def snas_register_families():
    return [GapCNN]
