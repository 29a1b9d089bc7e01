"""Device choice, mixed precision and the FLOP count, shared by every training path."""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

from snas.contracts.errors import ConfigError


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` into a device that exists.

    ``auto`` picks the first CUDA device when one is present, else the CPU.
    Asking for CUDA where there is none is a :class:`ConfigError`.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"--device must be auto, cpu or cuda:N, got {spec!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {spec}: CUDA is not available on this machine (use --device cpu)")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) are present"
            )
        return torch.device("cuda", index)
    if device.type != "cpu":
        raise ConfigError(f"--device must be auto, cpu or cuda:N, got {spec!r}")
    return device


def autocast(device: torch.device, enabled: bool = True) -> ContextManager:
    """Mixed precision for ``device``: bfloat16 autocast on CUDA, nothing on the CPU.

    bfloat16 needs no loss scaling, so the training loop stays the same on
    every device.
    """
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def count_flops(model: torch.nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu") -> int:
    """FLOPs of one forward pass of ``model`` on one input of ``input_shape`` (``FlopCounterMode``'s count)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_shape, device=device))
        return int(counter.get_total_flops())
    finally:
        model.train(was_training)
