"""Vision Transformers: patch embedding, pre-norm transformer encoder blocks, class-token head.

The ``patch_size`` parameter is the patch side for a 32x32 input. For other
inputs :func:`effective_patch` scales it with the image so that the token grid
stays about the same size (16x16, 8x8 or 4x4 patches) and picks the nearest
patch side that divides the image, so every input size works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from snas import Architecture, Choice, IntRange, NetworkFamily, SearchSpace, hookimpl
from snas_plugins.families.common import min_level, training_parameters

#: patch sides for a 32x32 input (16x16, 8x8 and 4x4 token grids)
PATCH_SIZES = (2, 4, 8)
EMBED_DIMS = (64, 96, 128, 192)
#: every value divides every embedding dimension, so any (dim, heads) pair is valid
NUM_HEADS = (1, 2, 4, 8)
MLP_RATIOS = (1, 2, 4)
MAX_DEPTH = 8
REFERENCE_SIZE = 32


def effective_patch(patch_size: int, size: int, reference: int = REFERENCE_SIZE) -> int:
    """The patch side used for an image of side ``size``.

    The divisor of ``size`` nearest to ``patch_size * size / reference`` (ties go
    to the larger patch, i.e. fewer tokens), keeping at least 2 patches per side
    when the image has more than one pixel. Examples for patch sizes (2, 4, 8):
    8x8 -> (1, 1, 2), 28x28 -> (2, 4, 7), 32x32 -> (2, 4, 8), 96x96 -> (6, 12, 24).
    """
    target = patch_size * size / reference
    divisors = [d for d in range(1, size + 1) if size % d == 0 and (size // d >= 2 or size == 1)]
    return min(divisors, key=lambda d: (abs(d - target), -d))


#: proposed first by a search of this family (see snas.SearchSpace.starting_point):
#: four transformer layers on 4x4 patches, 96 dimensions and 4 heads, AdamW at 1e-3
STARTING_POINT = {"num_layers": 4, "patch_size": 4, "embed_dim": 96, "num_heads": 4, "mlp_ratio": 2,
                  "use_batch_norm": False, "dropout": 0.1, "optimizer": "adamw", "learning_rate": 0.001}


class PatchEmbedding(nn.Module):
    """Non-overlapping patches projected to ``dim`` channels (optional batch norm), as a token sequence."""

    def __init__(self, channels: int, dim: int, patch: int, batch_norm: bool):
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, patch, stride=patch, bias=not batch_norm)
        self.norm = nn.BatchNorm2d(dim) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x)).flatten(2).transpose(1, 2)


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention over a token sequence ``(N, T, dim)``."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"vit: {heads} heads do not divide the embedding dimension {dim}")
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def extra_repr(self) -> str:
        return f"heads={self.heads}, dropout={self.dropout}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(n, t, d))


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim * mlp_ratio, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """Patch embedding + class token + learned positions, encoder blocks, linear head on the class token."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, patch: int, dim: int, depth: int,
                 heads: int, mlp_ratio: int, dropout: float, batch_norm: bool):
        super().__init__()
        c, h, w = input_shape
        self.patch = patch
        self.embed = PatchEmbedding(c, dim, patch, batch_norm)
        tokens = (h // patch) * (w // patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*(EncoderBlock(dim, heads, mlp_ratio, dropout) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, num_classes))

    def extra_repr(self) -> str:
        return f"patch={self.patch}, tokens={self.pos.shape[1] - 1}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


class ViT(NetworkFamily):
    """Vision Transformer with searchable patch size, width, depth, heads and MLP ratio."""

    name = "vit"
    description = "vision transformer: patch size, embedding dim, depth, heads, MLP ratio"

    def space(self) -> SearchSpace:
        return SearchSpace(
            family=self.name,
            parameters=[
                IntRange("num_layers", 1, MAX_DEPTH, doc="transformer encoder blocks (depth)"),
                Choice("patch_size", PATCH_SIZES, doc="patch side for a 32x32 input, scaled with the image"),
                Choice("embed_dim", EMBED_DIMS, doc="token embedding dimension"),
                Choice("num_heads", NUM_HEADS, doc="attention heads (each divides every embed_dim)"),
                Choice("mlp_ratio", MLP_RATIOS, doc="MLP hidden size / embedding dimension"),
                *training_parameters(),
            ],
            min_level=min_level(self.name),
            starting_point=STARTING_POINT,
        )

    def build(self, arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        _, h, w = input_shape
        patch = effective_patch(arch["patch_size"], min(h, w))
        return VisionTransformer(
            input_shape, num_classes, patch, arch["embed_dim"], arch["num_layers"], arch["num_heads"],
            arch["mlp_ratio"], arch["dropout"], arch["use_batch_norm"],
        )


@hookimpl
def snas_register_families():
    return [ViT]
