"""The shufflenetv2, efficientnet, vit and mlp_mixer families: what their parameters build."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from snas import Architecture, JointSpace
from snas_plugins.families import efficientnet as eff
from snas_plugins.families import mlp_mixer as mixer
from snas_plugins.families import shufflenetv2 as shuffle
from snas_plugins.families import vit

FAMILIES = ("shufflenetv2", "efficientnet", "vit", "mlp_mixer")
SIZES = (8, 28, 32, 64, 96)


def _arch(manager, family: str, **changes) -> Architecture:
    """The first value of every parameter, with ``changes`` applied."""
    space = manager.get_family(family).space()
    return space.project(Architecture(family, {})).replace(**changes)


def _count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


@pytest.mark.parametrize("family", FAMILIES)
def test_families_join_at_level_3_only(family, manager):
    space = manager.get_family(family).space()
    assert space.min_level == 3
    assert not space.available_at(1) and not space.available_at(2)
    joint = JointSpace({family: space, "cnn": manager.get_family("cnn").space()}, max_level=3)
    rng = np.random.default_rng(0)
    assert {joint.sample(rng, level=2).family for _ in range(30)} == {"cnn"}
    assert family in {joint.sample(rng, level=3).family for _ in range(30)}


# ---------------------------------------------------------------- vit / mlp_mixer


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("patch", vit.PATCH_SIZES)
def test_effective_patch_divides_every_input(size, patch):
    p = vit.effective_patch(patch, size)
    assert size % p == 0
    assert size // p >= 2


def test_effective_patch_follows_the_documented_rule():
    # the examples given in vit.effective_patch's docstring and docs/families_part2.md
    table = {8: (1, 1, 2), 28: (2, 4, 7), 32: (2, 4, 8), 64: (4, 8, 16), 96: (6, 12, 24)}
    for size, expected in table.items():
        assert tuple(vit.effective_patch(p, size) for p in vit.PATCH_SIZES) == expected


@pytest.mark.parametrize("size", (28, 96))
def test_vit_token_count_follows_the_patch(size, manager):
    fam = manager.get_family("vit")
    for patch in vit.PATCH_SIZES:
        model = fam.build(_arch(manager, "vit", patch_size=patch), (3, size, size), 5)
        grid = size // vit.effective_patch(patch, size)
        assert model.pos.shape[1] == grid * grid + 1  # tokens plus the class token
        assert model(torch.randn(2, 3, size, size)).shape == (2, 5)


def test_vit_heads_divide_every_embedding_dim(manager):
    space = manager.get_family("vit").space()
    assert all(d % h == 0 for d in space.parameter("embed_dim").values for h in space.parameter("num_heads").values)
    with pytest.raises(ValueError, match="heads"):
        vit.MultiHeadSelfAttention(96, 5, 0.0)


def test_vit_attention_matches_reference_multihead_attention():
    """The attention module computes standard multi-head attention (checked against torch's)."""
    torch.manual_seed(0)
    dim, heads = 64, 4
    ours = vit.MultiHeadSelfAttention(dim, heads, 0.0).eval()
    ref = nn.MultiheadAttention(dim, heads, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv.weight)
        ref.in_proj_bias.copy_(ours.qkv.bias)
        ref.out_proj.weight.copy_(ours.out.weight)
        ref.out_proj.bias.copy_(ours.out.bias)
    x = torch.randn(2, 10, dim)
    expected, _ = ref(x, x, x, need_weights=False)
    torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=1e-4)


def test_vit_depth_and_mlp_ratio_shape_the_blocks(manager):
    fam = manager.get_family("vit")
    model = fam.build(_arch(manager, "vit", num_layers=3, embed_dim=96, mlp_ratio=4), (1, 32, 32), 10)
    assert len(model.blocks) == 3
    assert model.blocks[0].mlp[0].out_features == 96 * 4


def test_mixer_mixing_dims_and_tokens(manager):
    fam = manager.get_family("mlp_mixer")
    arch = _arch(manager, "mlp_mixer", num_layers=2, patch_size=4, hidden_dim=128, token_mixing_dim=64,
                 channel_mixing_dim=256)
    model = fam.build(arch, (3, 96, 96), 7)
    block = model.blocks[0]
    assert len(model.blocks) == 2
    tokens = (96 // vit.effective_patch(4, 96)) ** 2
    assert (block.token_mixing[0].in_features, block.token_mixing[0].out_features) == (tokens, 64)
    assert (block.channel_mixing[0].in_features, block.channel_mixing[0].out_features) == (128, 256)
    assert model(torch.randn(2, 3, 96, 96)).shape == (2, 7)


def test_mixer_token_mixing_mixes_across_tokens():
    """Changing one patch changes the output of every token after one block (tokens are mixed)."""
    torch.manual_seed(0)
    block = mixer.MixerBlock(tokens=16, dim=8, token_hidden=32, channel_hidden=32, dropout=0.0)
    x = torch.randn(1, 16, 8)
    y = x.clone()
    y[0, 3] += torch.randn(8)  # not a constant: layer norm would remove a constant shift
    changed = (block(x) - block(y)).abs().sum(dim=2)[0]
    assert bool((changed > 0).all())


# ---------------------------------------------------------------- shufflenetv2


@pytest.mark.parametrize("width", shuffle.WIDTH_MULTIPLIERS)
def test_shufflenet_every_width_has_valid_channel_counts(width, manager):
    fam = manager.get_family("shufflenetv2")
    model = fam.build(_arch(manager, "shufflenetv2", width_multiplier=width, stage_blocks="2-4-2"), (3, 32, 32), 10)
    units = [m for m in model.modules() if isinstance(m, shuffle.ShuffleUnit)]
    assert len(units) == 8
    for unit in units:
        c_out = unit.branch2[-1][0].out_channels * 2
        assert c_out % 2 == 0 and c_out in shuffle.STAGE_CHANNELS[width]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_shufflenet_widths_grow_with_the_multiplier():
    widths = [shuffle.STAGE_CHANNELS[w] for w in shuffle.WIDTH_MULTIPLIERS]
    for smaller, larger in zip(widths, widths[1:]):
        assert all(a < b for a, b in zip(smaller, larger))


def test_channel_shuffle_interleaves_the_two_halves():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert shuffle.channel_shuffle(x, 2).flatten().tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]


@pytest.mark.parametrize("blocks", shuffle.STAGE_BLOCKS)
def test_shufflenet_stage_blocks_set_units_per_stage(blocks, manager):
    model = manager.get_family("shufflenetv2").build(_arch(manager, "shufflenetv2", stage_blocks=blocks), (1, 8, 8), 3)
    units = [m for m in model.modules() if isinstance(m, shuffle.ShuffleUnit)]
    assert len(units) == sum(shuffle.parse_blocks(blocks))
    assert sum(u.first for u in units) == 3  # one stage-opening unit per stage
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)


# ---------------------------------------------------------------- efficientnet


def test_efficientnet_se_ratio_zero_means_no_se_block(manager):
    fam = manager.get_family("efficientnet")
    none = fam.build(_arch(manager, "efficientnet", se_ratio=0.0), (3, 32, 32), 10)
    assert _count(none, eff.SqueezeExcite) == 0
    for ratio in (0.125, 0.25):
        model = fam.build(_arch(manager, "efficientnet", se_ratio=ratio), (3, 32, 32), 10)
        assert _count(model, eff.SqueezeExcite) == _count(model, eff.MBConv) > 0
    quarter = fam.build(_arch(manager, "efficientnet", se_ratio=0.25), (3, 32, 32), 10)
    eighth = fam.build(_arch(manager, "efficientnet", se_ratio=0.125), (3, 32, 32), 10)
    se_q = [m.reduce.out_channels for m in quarter.modules() if isinstance(m, eff.SqueezeExcite)]
    se_e = [m.reduce.out_channels for m in eighth.modules() if isinstance(m, eff.SqueezeExcite)]
    assert all(q >= e for q, e in zip(se_q, se_e)) and sum(se_q) > sum(se_e)


def test_efficientnet_depth_factor_adds_blocks(manager):
    fam = manager.get_family("efficientnet")
    counts = [
        _count(fam.build(_arch(manager, "efficientnet", depth_factor=d), (1, 8, 8), 10), eff.MBConv)
        for d in eff.DEPTH_FACTORS
    ]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    assert counts[eff.DEPTH_FACTORS.index(1.0)] == sum(stage[2] for stage in eff.BASELINE)


def test_efficientnet_width_factor_scales_channels(manager):
    fam = manager.get_family("efficientnet")
    heads = []
    for w in eff.WIDTH_FACTORS:
        model = fam.build(_arch(manager, "efficientnet", width_factor=w), (1, 8, 8), 10)
        linear = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        heads.append(linear.in_features)
        # without SE blocks every convolution's width is a multiple of 8
        assert all(m.out_channels % 8 == 0 for m in model.modules() if isinstance(m, nn.Conv2d))
    assert heads == sorted(heads) and len(set(heads)) == len(heads)


def test_mbconv_residual_only_when_shapes_match():
    assert eff.MBConv(16, 16, 6, 3, 1, 0.25, True).residual
    assert not eff.MBConv(16, 24, 6, 3, 1, 0.25, True).residual
    assert not eff.MBConv(16, 16, 6, 3, 2, 0.25, True).residual


# ---------------------------------------------------------------- all four


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("size", SIZES)
def test_batch_norm_flag_adds_batch_norm(family, size, manager):
    fam = manager.get_family(family)
    with_bn = fam.build(_arch(manager, family, use_batch_norm=True), (1, size, size), 4)
    without = fam.build(_arch(manager, family, use_batch_norm=False), (1, size, size), 4)
    assert _count(with_bn, nn.BatchNorm2d) > 0 and _count(without, nn.BatchNorm2d) == 0
    for model in (with_bn, without):
        assert model(torch.randn(2, 1, size, size)).shape == (2, 4)


@pytest.mark.parametrize("family", FAMILIES)
def test_dropout_reaches_the_network(family, manager):
    model = manager.get_family(family).build(_arch(manager, family, dropout=0.3), (3, 32, 32), 4)
    rates = {m.p for m in model.modules() if isinstance(m, nn.Dropout)}
    assert rates == {0.3}


#: epochs (Adam at 3e-3, cosine decay) and the validation accuracy each small network is held to.
#: Measured (seed 0): mlp_mixer 0.93 after 8 epochs, shufflenetv2 0.99 after 6, efficientnet 0.96
#: after 6. A ViT learns slowly from 1,078 images of 8x8 pixels: five configurations of the space
#: trained 20-30 epochs all levelled off between 0.87 and 0.90, so it is held to 0.85 (chance: 0.10).
LEARNING = {"vit": (30, 0.85), "mlp_mixer": (10, 0.9), "shufflenetv2": (6, 0.9), "efficientnet": (6, 0.9)}


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_small_networks_learn_digits(family, manager, digits):
    """A small network of each family reaches what a correct implementation reaches on digits."""
    small = {
        "vit": dict(num_layers=2, patch_size=8, embed_dim=64, num_heads=4, mlp_ratio=4),
        "mlp_mixer": dict(num_layers=2, patch_size=8, hidden_dim=64, token_mixing_dim=32, channel_mixing_dim=128),
        "shufflenetv2": dict(width_multiplier=0.5, stage_blocks="1-2-1"),
        "efficientnet": dict(width_factor=0.5, depth_factor=0.8, se_ratio=0.25),
    }[family]
    epochs, target = LEARNING[family]
    torch.manual_seed(0)
    arch = _arch(manager, family, use_batch_norm=True, dropout=0.0, **small)
    manager.get_family(family).space().validate(arch)
    model = manager.get_family(family).build(arch, digits.input_shape, digits.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    x, y = digits.train.x, digits.train.y
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(y)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        schedule.step()
    model.eval()
    with torch.no_grad():
        acc = (model(digits.val.x).argmax(1) == digits.val.y).float().mean().item()
    assert acc >= target, f"{family}: validation accuracy {acc:.3f} after {epochs} epochs"
