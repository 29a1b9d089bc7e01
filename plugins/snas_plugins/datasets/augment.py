"""Batched image augmentations for in-memory splits: random crops with padding, horizontal flips.

Each is a ``(images, generator) -> images`` function over a whole batch on its
device (:data:`snas.contracts.data.BatchAugment`), seeded by the trainer's
generator, so augmented training stays reproducible and costs no per-image
Python work.
"""

from __future__ import annotations

import torch

from snas.contracts.data import BatchAugment


def _uniform_ints(high: int, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``n`` integers in ``[0, high)`` drawn from ``generator`` (on its own device), then moved."""
    return torch.randint(0, high, (n,), generator=generator, device=generator.device).to(device)


def random_crop(padding: int) -> BatchAugment:
    """Random crop with zero padding, per image, on a whole ``(N, C, H, W)`` batch.

    Each image is padded by ``padding`` pixels on every side and cropped back
    to ``H x W`` at an offset drawn from the generator. Zero is the mean colour
    once the images are normalized.
    """
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")

    def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if padding == 0 or images.shape[0] == 0:
            return images
        n, _c, h, w = images.shape
        padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
        dy = _uniform_ints(2 * padding + 1, n, generator, images.device)
        dx = _uniform_ints(2 * padding + 1, n, generator, images.device)
        rows = dy[:, None] + torch.arange(h, device=images.device)  # (N, H)
        cols = dx[:, None] + torch.arange(w, device=images.device)  # (N, W)
        batch = torch.arange(n, device=images.device)[:, None, None]
        out = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
        return out.permute(0, 3, 1, 2).contiguous()

    return augment


def horizontal_flip(probability: float = 0.5) -> BatchAugment:
    """Mirror each image of a ``(N, C, H, W)`` batch left-right with ``probability``."""

    def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if images.shape[0] == 0:
            return images
        draw = torch.rand(images.shape[0], generator=generator, device=generator.device).to(images.device)
        flip = (draw < probability)[:, None, None, None]
        return torch.where(flip, images.flip(3), images)

    return augment


def compose_augment(*augments: BatchAugment | None) -> BatchAugment | None:
    """Apply several batched augmentations in order; ``None`` entries are skipped."""
    steps = [a for a in augments if a is not None]
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for step in steps:
            images = step(images, generator)
        return images

    return augment
