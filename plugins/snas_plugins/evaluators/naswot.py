"""The ``naswot`` evaluator: NASWOT score of the untrained network (Mellor et al., ICML 2021).

"Neural Architecture Search without Training": pass one mini-batch of real
training images through the untrained network and record, for every image,
the binary code of which rectifier units are active (input > 0). Networks
whose codes differ more between images separate inputs better. With ``c_i``
the code of image ``i`` and ``N_A`` the number of units,

    K[i, j] = N_A - hamming(c_i, c_j),    score = log |det K|

BatchNorm runs in training mode (batch statistics), as in the reference code;
dropout is off.
Two images with the same code make ``K`` singular (``-inf`` in the reference
code): the score is then the floor value.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
from torch import nn

from snas import Architecture, DataBundle, Evaluator, NetworkFamily, TrialResult, hookimpl, option
from snas_plugins.evaluators.proxy import FLOOR, RECTIFIERS, run_proxy


@attrs.frozen
class NaswotOptions:
    """Number of training images in the scoring batch."""

    batch_size: int = option(64, low=2, help="Real training images whose activation codes are compared.")


def naswot_score(model: nn.Module, images: torch.Tensor) -> tuple[float, int]:
    """``(log |det K|, number of rectifier units)`` of ``model`` on ``images``."""
    codes: list[torch.Tensor] = []

    def hook(_module: nn.Module, args: tuple) -> None:
        codes.append((args[0].detach().flatten(1) > 0).double())

    handles = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, RECTIFIERS)]
    was_training = model.training
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()  # random masks would make the codes noise
    try:
        with torch.no_grad():
            model(images)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if not codes:
        return FLOOR, 0
    c = torch.cat(codes, dim=1)
    k = c @ c.T + (1.0 - c) @ (1.0 - c).T
    sign, logdet = torch.linalg.slogdet(k)
    value = float(logdet) if float(sign) > 0 and torch.isfinite(logdet) else FLOOR
    return max(value, FLOOR), int(c.shape[1])


class Naswot(Evaluator):
    """Score = NASWOT log-determinant of the untrained network's activation-pattern kernel."""

    name = "naswot"
    description = "zero-cost proxy: NASWOT activation-pattern score (Mellor et al. 2021), untrained"
    Options = NaswotOptions

    def evaluate(self, arch: Architecture, family: NetworkFamily, data: DataBundle, *, seed: int,
                 device: torch.device, protocol: str = "full") -> TrialResult:
        opts: NaswotOptions = self.options
        generator = torch.Generator().manual_seed(seed)
        images, _ = next(iter(data.train.batches(opts.batch_size, shuffle=True, generator=generator, device=device)))

        def score(model: nn.Module) -> tuple[float, dict[str, Any]]:
            value, units = naswot_score(model, images)
            return value, {"naswot_units": units}

        return run_proxy(self.name, score, arch, family, data, seed, device)


@hookimpl
def snas_register_evaluators():
    return [Naswot]
