"""The ``zen`` evaluator: Zen-score of the untrained network (Lin et al., ICCV 2021).

Zen-NAS measures a network's expressivity without training: with Gaussian
weights, Gaussian inputs ``x`` and a small perturbation ``alpha * eps``,

    zen = log E ||f(x) - f(x + alpha * eps)||_1  +  sum over BN layers of log sqrt(mean running_var)

where ``f`` is the feature map before global pooling and BatchNorm layers run
in training mode (batch statistics, momentum 1 so ``running_var`` is exactly
the batch variance). The BN term undoes the normalization so that networks
with and without BN are comparable. Averaged over ``repeat`` draws.
"""

from __future__ import annotations

import copy
from typing import Any

import attrs
import torch
from torch import nn

from snas import Architecture, DataBundle, Evaluator, NetworkFamily, TrialResult, hookimpl, option
from snas_plugins.evaluators.proxy import feature_module, finite_log, run_proxy


@attrs.frozen
class ZenOptions:
    """Batch of Gaussian inputs, perturbation size, repeats, and whether to re-draw Gaussian weights."""

    batch_size: int = option(16, low=1, help="Random inputs per forward pass.")
    alpha: float = option(0.01, low=0, low_open=True, help="Size of the input perturbation.")
    repeat: int = option(1, low=1, help="Forward passes averaged.")
    gaussian_init: bool = option(True, help="Re-initialize the network's weights from a Gaussian first.")


def gaussian_init(model: nn.Module) -> None:
    """Zen-NAS's initialization: N(0, 1) conv/linear weights, zero biases, BN weight 1 and bias 0."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                if m.affine:
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)


def zen_score(model: nn.Module, input_shape: tuple[int, ...], device: torch.device, *, batch_size: int = 16,
              alpha: float = 0.01, repeat: int = 1, reinit: bool = True,
              generator: torch.Generator | None = None) -> float:
    """The Zen-score of ``model`` (a copy is scored; ``model`` is left untouched)."""
    model = copy.deepcopy(model)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.momentum = 1.0
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    target, _ = feature_module(model)
    captured: list[torch.Tensor] = []
    handle = target.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach()))
    scores = []
    try:
        with torch.no_grad():
            for _ in range(repeat):
                if reinit:
                    gaussian_init(model)
                x = torch.randn(batch_size, *input_shape, generator=generator).to(device)
                eps = torch.randn(batch_size, *input_shape, generator=generator).to(device)
                captured.clear()
                model(x)
                model(x + alpha * eps)
                a, b = captured[0].double(), captured[1].double()
                delta = (a - b).abs().flatten(1).sum(1).mean().item()
                # the BN statistics are those of the perturbed pass, as in the reference code
                log_bn = sum(0.5 * finite_log(float(bn.running_var.double().mean())) for bn in bns
                             if bn.running_var is not None)
                scores.append(finite_log(delta / alpha) + log_bn)
    finally:
        handle.remove()
    return float(sum(scores) / len(scores))


class Zen(Evaluator):
    """Score = Zen-score of the untrained network (higher = more expressive); nothing is trained."""

    name = "zen"
    description = "zero-cost proxy: Zen-score (Lin et al. 2021) of the untrained network"
    Options = ZenOptions

    def evaluate(self, arch: Architecture, family: NetworkFamily, data: DataBundle, *, seed: int,
                 device: torch.device, protocol: str = "full") -> TrialResult:
        opts: ZenOptions = self.options

        def score(model: nn.Module) -> tuple[float, dict[str, Any]]:
            generator = torch.Generator().manual_seed(seed)
            value = zen_score(model, data.input_shape, device, batch_size=opts.batch_size, alpha=opts.alpha,
                              repeat=opts.repeat, reinit=opts.gaussian_init, generator=generator)
            return value, {}

        return run_proxy(self.name, score, arch, family, data, seed, device)


@hookimpl
def snas_register_evaluators():
    return [Zen]
