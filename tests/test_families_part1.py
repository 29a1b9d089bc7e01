"""enhanced_mlp, resnet, mobilenet and densenet: structure, levels and the generated docs page."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from snas import JointSpace
from snas_plugins.families.common import LEVELS, make_divisible

ROOT = Path(__file__).resolve().parents[1]
MINE = ("enhanced_mlp", "resnet", "mobilenet", "densenet")


def _arch(manager, family, level=None, **params):
    space = manager.get_family(family).space().at_level(level)
    arch = space.sample(np.random.default_rng(0)).replace(**params)
    arch = space.project(arch, np.random.default_rng(0))
    for key, value in params.items():
        assert arch[key] == value, f"{family}: {key}={value} did not survive projection"
    return arch


def _smallest_feature_map(model: nn.Module, shape) -> int:
    sizes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(min(out.shape[-2:])))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return min(sizes)


def test_levels_offer_the_families_the_issue_names(manager):
    spaces = {name: manager.get_family(name).space() for name in ("cnn", "mlp", *MINE)}
    assert [n for n, s in spaces.items() if s.available_at(1)] == ["cnn", "mlp"]
    assert [n for n, s in spaces.items() if s.available_at(2)] == ["cnn", "mlp", "enhanced_mlp", "resnet", "mobilenet"]
    assert all(s.available_at(3) for s in spaces.values())
    joint = JointSpace(spaces, max_level=1)
    rng = np.random.default_rng(0)
    assert {joint.sample(rng).family for _ in range(40)} == {"cnn", "mlp"}


@pytest.mark.parametrize("family", ["enhanced_mlp", "resnet", "mobilenet"])
def test_level_2_samples_stay_within_the_level_table(family, manager):
    fam = manager.get_family(family)
    space = fam.space().at_level(2)
    rules = LEVELS[2]
    rng = np.random.default_rng(3)
    for _ in range(30):
        arch = space.sample(rng)
        assert arch["num_layers"] <= rules["max_layers"]
        assert arch["activation"] in rules["activations"]
        model = fam.build(arch, (1, 8, 8), 10)
        assert max(_layer_widths(model)) <= rules["max_width"], (family, arch)


def _layer_widths(model: nn.Module) -> list[int]:
    """Each layer's (block's) output width: hidden units or output channels."""
    widths = []
    for m in model.modules():
        name = type(m).__name__
        if name == "MLPBlock":
            widths.append(m.linear.out_features)
        elif name in ("ResidualBlock", "SeparableBlock"):
            # an inverted residual widens inside the block by its expansion ratio, by design
            widths.append([c for c in m.body if isinstance(c, nn.Conv2d)][-1].out_channels)
    assert widths, "no blocks found"
    return widths


def test_gelu_layer_norm_and_residual_reach_the_enhanced_mlp(manager):
    fam = manager.get_family("enhanced_mlp")
    assert "gelu" not in fam.space().at_level(2).parameter("activation").values
    plain = _arch(manager, "enhanced_mlp", num_layers=3, hidden_units=(64, 64, 128), activation="relu",
                  layer_norm=False, residual=False, use_batch_norm=False, dropout=0.0)
    rich = plain.replace(activation="gelu", layer_norm=True, residual=True)
    m_plain, m_rich = fam.build(plain, (1, 8, 8), 5), fam.build(rich, (1, 8, 8), 5)
    assert not any(isinstance(m, (nn.GELU, nn.LayerNorm)) for m in m_plain.modules())
    assert sum(isinstance(m, nn.GELU) for m in m_rich.modules()) == 3
    assert sum(isinstance(m, nn.LayerNorm) for m in m_rich.modules()) == 4  # one per layer and one before the head
    # the residual adds the block's input: equal widths keep the identity, a change of width gets a projection
    blocks = [m for m in m_rich.modules() if hasattr(m, "residual")]
    assert [b.project is None for b in blocks] == [True, True, False]
    block = blocks[1]
    x = torch.randn(4, 64)
    block.eval()
    block.residual = False
    without = block(x)
    block.residual = True
    assert torch.allclose(block(x), without + x)


@pytest.mark.parametrize("block_type, convs", [("basic", 2), ("bottleneck", 3)])
def test_resnet_blocks_hold_two_or_three_convolutions(block_type, convs, manager):
    fam = manager.get_family("resnet")
    arch = _arch(manager, "resnet", num_layers=4, filters=(32, 32, 64, 64), kernel_sizes=(3, 5, 3, 7),
                 block_type=block_type)
    model = fam.build(arch, (3, 8, 8), 7)
    blocks = [m for m in model if type(m).__name__ == "ResidualBlock"]
    assert len(blocks) == 4
    for block in blocks:
        assert sum(isinstance(m, nn.Conv2d) for m in block.body) == convs
    kernels = [max(m.kernel_size) for b in blocks for m in b.body if isinstance(m, nn.Conv2d)]
    assert max(kernels) == 7 and 5 in kernels
    # identity shortcut where the shape is kept, a projection where channels or resolution change
    # (an 8x8 input is halved twice, by blocks 1 and 2)
    assert [isinstance(b.shortcut, nn.Identity) for b in blocks] == [True, False, False, True]
    assert [max(c.stride[0] for c in b.body if isinstance(c, nn.Conv2d)) for b in blocks] == [1, 2, 2, 1]
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 7)


@pytest.mark.parametrize("family, params", [
    ("resnet", {"num_layers": 50, "filters": (16,) * 50, "kernel_sizes": (3,) * 50, "block_type": "basic"}),
    ("mobilenet", {"num_layers": 50, "filters": (16,) * 50, "kernel_sizes": (3,) * 50, "expansions": (1,) * 50,
                   "width_multiplier": 0.5}),
    ("densenet", {"block_config": "6-12-24-16", "growth_rate": 12}),
])
@pytest.mark.parametrize("size", [8, 96])
def test_deepest_networks_fit_small_and_large_inputs(family, params, size, manager):
    fam = manager.get_family(family)
    arch = _arch(manager, family, **params)
    model = fam.build(arch, (1, size, size), 3)
    assert _smallest_feature_map(model, (1, size, size)) >= 2
    # large inputs are reduced to at most 32x32 before the last block
    final = []
    last_conv = [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1]
    last_conv.register_forward_hook(lambda _m, _i, out: final.append(out.shape[-1]))
    with torch.no_grad():
        assert model(torch.zeros(2, 1, size, size)).shape == (2, 3)
    assert final[0] <= max(2, size // 4)


def test_mobilenet_width_multiplier_and_depthwise_blocks(manager):
    fam = manager.get_family("mobilenet")
    base = dict(num_layers=4, filters=(32, 64, 64, 64), kernel_sizes=(3, 5, 3, 7), expansions=(1, 6, 3, 6),
                skip_connections=True)
    # an 8x8 input is halved by blocks 1 and 2
    narrow = fam.build(_arch(manager, "mobilenet", width_multiplier=0.5, **base), (3, 8, 8), 10)
    wide = fam.build(_arch(manager, "mobilenet", width_multiplier=1.25, **base), (3, 8, 8), 10)
    assert narrow[-1].in_features == make_divisible(64 * 0.5) and wide[-1].in_features == make_divisible(64 * 1.25)
    for model in (narrow, wide):
        depthwise = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
        assert len(depthwise) == 4
        assert all(m.groups == m.in_channels == m.out_channels for m in depthwise)
        assert [m.kernel_size[0] for m in depthwise] == [3, 5, 3, 7]
        assert [m.stride[0] for m in depthwise] == [1, 2, 2, 1]
        blocks = [m for m in model if type(m).__name__ == "SeparableBlock"]
        # expansion 1 has no 1x1 expansion; 6 and 3 widen by that factor
        assert [sum(isinstance(c, nn.Conv2d) for c in b.body) for b in blocks] == [2, 3, 3, 3]
        assert [d.in_channels // b.body[0].in_channels for d, b in zip(depthwise, blocks)] == [1, 6, 3, 6]
        # residuals only where a block keeps its shape
        assert [b.residual for b in blocks] == [True, False, False, True]
        x = torch.randn(2, 3, 8, 8)
        assert model(x).shape == (2, 10)
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in wide.parameters())
    # level 2 offers only multipliers that keep 256-wide blocks at 256 channels or fewer
    assert fam.space().at_level(2).parameter("width_multiplier").values == (0.5, 0.75, 1.0)


@pytest.mark.parametrize("config, layers", [("4-4-4", 12), ("6-12-24-16", 58)])
@pytest.mark.parametrize("growth, compression, bottleneck", [(12, 0.5, 4), (48, 0.8, 2)])
def test_densenet_channels_follow_growth_and_compression(config, layers, growth, compression, bottleneck, manager):
    fam = manager.get_family("densenet")
    arch = _arch(manager, "densenet", block_config=config, growth_rate=growth, compression=compression,
                 bottleneck_size=bottleneck)
    model = fam.build(arch, (3, 28, 28), 10)
    dense = [m for m in model if type(m).__name__ == "DenseLayer"]
    assert len(dense) == layers
    channels = 2 * growth
    counts = [int(c) for c in config.split("-")]
    for b, count in enumerate(counts):
        channels += count * growth
        if b < len(counts) - 1:
            channels = int(channels * compression)
    assert model[-1].in_features == channels
    assert all(d.body[2].out_channels == bottleneck * growth and d.body[5].out_channels == growth for d in dense)
    assert model(torch.randn(2, 3, 28, 28)).shape == (2, 10)


def test_docs_page_is_generated_from_the_families(manager):
    spec = importlib.util.spec_from_file_location("gen_families", ROOT / "docs" / "gen_families.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    text = gen.render()
    for name in ("cnn", "mlp", *MINE):
        assert f"\n## {name}\n" in text
        assert manager.get_family(name).space().describe()[0]["name"] in text
    assert f"| 1 | ≤ {LEVELS[1]['max_layers']} | ≤ {LEVELS[1]['max_width']} |" in text
    page = ROOT / "docs" / "families.md"
    assert page.read_text(encoding="utf-8") == text, "docs/families.md is stale: run python docs/gen_families.py"
