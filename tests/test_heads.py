"""The classifier head of the convolutional families: part of each space, built as declared."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from snas import Architecture
from snas_plugins.families.common import HEADS

CONV_FAMILIES = ("cnn", "resnet", "mobilenet", "densenet", "shufflenetv2", "efficientnet")


def _cnn(head: str, layers: int = 1) -> Architecture:
    return Architecture("cnn", {"num_layers": layers, "filters": [32] * layers, "kernel_sizes": [3] * layers,
                                "activation": "relu", "skip_connections": False, "use_batch_norm": True,
                                "dropout": 0.0, "head": head, "learning_rate": 0.001, "optimizer": "adam"})


def _linear(model: nn.Module) -> nn.Linear:
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


@pytest.mark.parametrize("family", CONV_FAMILIES)
def test_every_conv_family_searches_every_head(family, manager):
    space = manager.get_family(family).space()
    assert space.parameter("head").values == HEADS
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    for head in HEADS:
        model = manager.get_family(family).build(arch.replace(head=head), (3, 32, 32), 7)
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize("head, features", [("global_pool", 32), ("pool_2x2", 32 * 4), ("pool_4x4", 32 * 16),
                                            ("flatten", 32 * 14 * 14)])
def test_the_head_decides_what_the_linear_layer_sees(head, features, manager):
    # one convolution on 28x28, one pooling: a 32 x 14 x 14 feature map
    model = manager.get_family("cnn").build(_cnn(head), (1, 28, 28), 10)
    assert _linear(model).in_features == features


def test_a_grid_is_never_finer_than_the_feature_map(manager):
    # three layers on 8x8 pool twice: the last map is 2x2, so the 4x4 grid is 2x2 too
    model = manager.get_family("cnn").build(_cnn("pool_4x4", layers=3), (1, 8, 8), 10)
    assert _linear(model).in_features == 32 * 2 * 2


def test_levels_offer_the_heads_that_measured_best(manager):
    cnn = manager.get_family("cnn").space()
    assert cnn.at_level(1).parameter("head").values == ("pool_4x4",)
    assert cnn.at_level(2).parameter("head").values == ("global_pool", "pool_4x4")
    # an architecture saved before heads existed is projected to the head it was built with
    old = {k: v for k, v in _cnn("global_pool").params.items() if k != "head"}
    assert cnn.project(Architecture("cnn", old))["head"] == "global_pool"
