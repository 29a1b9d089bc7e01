"""The ``synflow`` evaluator: synaptic-flow score of the untrained network.

SynFlow (Tanaka et al., NeurIPS 2020), used as a zero-cost NAS proxy by
Abdelfattah et al. (ICLR 2021): take the network with every parameter
replaced by its absolute value, in double precision, with BatchNorm removed
and dropout off (a "linearized" positive network), feed one all-ones input
``1``, and with ``R = sum(f(1))`` sum ``|theta * dR/dtheta|`` over all
parameters. The score is ``log`` of that sum (ranking is unchanged; the raw
sum spans many orders of magnitude); a network with no path from input to
output scores the floor value.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from snas import Architecture, DataBundle, Evaluator, NetworkFamily, NoOptions, TrialResult, hookimpl
from snas_plugins.evaluators.proxy import finite_log, run_proxy


def _without_batch_norm(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.Identity())
        else:
            _without_batch_norm(child)
    return module


def synflow_sum(model: nn.Module, input_shape: tuple[int, ...], device: torch.device) -> float:
    """``sum |theta * dR/dtheta|`` of the linearized, BN-free, float64 copy of ``model``."""
    net = _without_batch_norm(copy.deepcopy(model)).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad(set_to_none=True)
    output = net(torch.ones(1, *input_shape, dtype=torch.float64, device=device))
    output.sum().backward()
    with torch.no_grad():
        total = sum(float((p * p.grad).abs().sum()) for p in net.parameters() if p.grad is not None)
    return float(total)


class Synflow(Evaluator):
    """Score = log synflow of the untrained network (data-free: an all-ones input)."""

    name = "synflow"
    description = "zero-cost proxy: log synaptic flow (Tanaka et al. 2020) of the untrained network"
    Options = NoOptions

    def evaluate(self, arch: Architecture, family: NetworkFamily, data: DataBundle, *, seed: int,
                 device: torch.device, protocol: str = "full") -> TrialResult:
        def score(model: nn.Module) -> tuple[float, dict[str, Any]]:
            raw = synflow_sum(model, data.input_shape, device)
            return finite_log(raw), {"synflow_raw": raw}

        return run_proxy(self.name, score, arch, family, data, seed, device)


@hookimpl
def snas_register_evaluators():
    return [Synflow]
