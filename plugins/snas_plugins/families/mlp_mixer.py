"""MLP-Mixer: patch embedding, then blocks that mix across tokens and across channels with MLPs.

Patch sizes follow the same rule as the ``vit`` family
(:func:`snas_plugins.families.vit.effective_patch`): ``patch_size`` is the
patch side for a 32x32 input, scaled with the image to a side that divides it.
"""

from __future__ import annotations

import torch
from torch import nn

from snas import Architecture, Choice, IntRange, NetworkFamily, SearchSpace, hookimpl
from snas_plugins.families.common import min_level, training_parameters
from snas_plugins.families.vit import PATCH_SIZES, PatchEmbedding, effective_patch

HIDDEN_DIMS = (64, 128, 192, 256)
TOKEN_MIXING_DIMS = (32, 64, 128, 256)
CHANNEL_MIXING_DIMS = (128, 256, 512)
MAX_DEPTH = 8


def mlp(dim: int, hidden: int, dropout: float) -> nn.Sequential:
    """Linear -> GELU -> dropout -> Linear -> dropout."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim),
                         nn.Dropout(dropout))


#: proposed first by a search of this family (see snas.SearchSpace.starting_point):
#: four mixer layers on 4x4 patches, 128 channels, Adam at 1e-3
STARTING_POINT = {"num_layers": 4, "patch_size": 4, "hidden_dim": 128, "token_mixing_dim": 64,
                  "channel_mixing_dim": 256, "use_batch_norm": False, "dropout": 0.1, "optimizer": "adam",
                  "learning_rate": 0.001}


class MixerBlock(nn.Module):
    """x + token-MLP(LN(x)) over the token axis, then x + channel-MLP(LN(x)) over the channel axis."""

    def __init__(self, tokens: int, dim: int, token_hidden: int, channel_hidden: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mixing = mlp(tokens, token_hidden, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.channel_mixing = mlp(dim, channel_hidden, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.token_mixing(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mixing(self.norm2(x))


class Mixer(nn.Module):
    """Patch embedding, mixer blocks, layer norm, global average over tokens, linear head."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, patch: int, dim: int, depth: int,
                 token_hidden: int, channel_hidden: int, dropout: float, batch_norm: bool):
        super().__init__()
        c, h, w = input_shape
        tokens = (h // patch) * (w // patch)
        self.embed = PatchEmbedding(c, dim, patch, batch_norm)
        self.blocks = nn.Sequential(
            *(MixerBlock(tokens, dim, token_hidden, channel_hidden, dropout) for _ in range(depth))
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.blocks(self.embed(x)))
        return self.head(x.mean(dim=1))


class MLPMixer(NetworkFamily):
    """MLP-Mixer with searchable patch size, hidden dimension, mixing MLP sizes and depth."""

    name = "mlp_mixer"
    description = "MLP-Mixer: patch size, hidden dim, token- and channel-mixing dims, depth"

    def space(self) -> SearchSpace:
        return SearchSpace(
            family=self.name,
            parameters=[
                IntRange("num_layers", 1, MAX_DEPTH, doc="mixer blocks (depth)"),
                Choice("patch_size", PATCH_SIZES, doc="patch side for a 32x32 input, scaled with the image"),
                Choice("hidden_dim", HIDDEN_DIMS, doc="channels per token"),
                Choice("token_mixing_dim", TOKEN_MIXING_DIMS, doc="hidden size of the token-mixing MLP"),
                Choice("channel_mixing_dim", CHANNEL_MIXING_DIMS, doc="hidden size of the channel-mixing MLP"),
                *training_parameters(),
            ],
            min_level=min_level(self.name),
            starting_point=STARTING_POINT,
        )

    def build(self, arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        _, h, w = input_shape
        patch = effective_patch(arch["patch_size"], min(h, w))
        return Mixer(
            input_shape, num_classes, patch, arch["hidden_dim"], arch["num_layers"], arch["token_mixing_dim"],
            arch["channel_mixing_dim"], arch["dropout"], arch["use_batch_norm"],
        )


@hookimpl
def snas_register_families():
    return [MLPMixer]
