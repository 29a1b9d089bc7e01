"""What the zero-cost proxy evaluators share (not a plugin).

A proxy evaluator builds the untrained network with a fixed seed, scores it
in one or a few passes, and returns a :class:`snas.TrialResult` whose score is
the proxy (higher is better) and whose metrics name the proxy and hold the
parameter count. Scores are always finite: a degenerate network whose proxy
is ``-inf`` (a log of zero) gets :data:`FLOOR`.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import torch
from torch import nn

from snas import Architecture, DataBundle, NetworkFamily, TrialResult

#: the score of a network the proxy cannot tell apart from a dead one
FLOOR = -1.0e9

#: activation modules whose input sign defines NASWOT's binary codes
RECTIFIERS = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.ReLU6, nn.SiLU, nn.PReLU, nn.CELU)


def finite_log(value: float) -> float:
    """``log(value)``, or :data:`FLOOR` when ``value`` is zero, negative or not finite."""
    if value == math.inf:
        return -FLOOR
    if not math.isfinite(value) or value <= 0:
        return FLOOR
    return max(math.log(value), FLOOR)


def build_untrained(arch: Architecture, family: NetworkFamily, data: DataBundle, seed: int, device: torch.device) -> nn.Module:
    """The network of ``arch`` initialized from ``seed``, on ``device``."""
    torch.manual_seed(seed)
    return family.build(arch, data.input_shape, data.num_classes).to(device)


def run_proxy(name: str, score_fn: Callable[[nn.Module], tuple[float, dict[str, Any]]], arch: Architecture,
              family: NetworkFamily, data: DataBundle, seed: int, device: torch.device) -> TrialResult:
    """Build the network, call ``score_fn(model) -> (score, extra metrics)``, wrap the result."""
    start = time.perf_counter()
    model = build_untrained(arch, family, data, seed, device)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    score, extra = score_fn(model)
    return TrialResult(
        status="ok",
        score=float(score),
        metrics={"proxy": name, name: float(score), "params": params, "protocol": "proxy", **extra},
        duration=time.perf_counter() - start,
    )


def feature_module(model: nn.Module) -> tuple[nn.Module, str]:
    """The module whose *input* holds the network's final features, and where that is.

    The last global pooling layer (Zen-NAS scores the pre-pooling feature map)
    if there is one, else the last linear layer (the classifier's input).
    """
    pools = [m for m in model.modules() if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d))]
    if pools:
        return pools[-1], "pre_pool"
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if linears:
        return linears[-1], "pre_classifier"
    return model, "output"
