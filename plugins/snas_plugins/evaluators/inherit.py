"""Weight inheritance, the evaluator's half: move a parent's trained weights into a child network.

:func:`inherit_weights` is what an evaluator calls after building the child
(the trainer does): it reads the parent that travelled with the task
(``snas.current_trial().parent``), builds the parent's network with its
weights and :func:`transfer`\\ s them. The driver's half (the pool, which
parent) is :mod:`snas.runtime.inheritance`.

How the layers of the two networks are paired: the modules that hold
parameters or buffers, in the order the networks register them, are aligned
like two sequences (a match needs the same module type; as many matches as
possible; the last modules — the classifier heads — always pair; ties put
inserted layers after the ones that match, which is where mutation grows a
network). Then, per paired tensor:

* **same shape**: copied;
* **wider** (more output units or input channels): Net2Net's widening.
  Child unit ``j`` copies parent unit ``j mod n``; a layer reading widened
  inputs divides each input's weights among its copies (with a little
  noise that sums to zero, to break the copies' symmetry). As the rule
  depends only on the two widths, every layer agrees on it, residual sums
  and per-channel norms included: a network only widened computes exactly
  what its parent did;
* **narrower**: the first units are kept (slicing);
* **bigger or smaller kernel**: zero-padded around, or cropped to, the
  centre (a padded kernel computes what the smaller one did).

A child layer with no partner starts as the identity when it is a square
convolution or linear layer (Net2Net's deepening: in a ReLU network without
skips, the deeper child computes what its parent did); everything else keeps
its fresh initialisation.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
from torch import nn

import snas

#: relative size of the noise that breaks the symmetry of copied units (their outgoing weights)
SPLIT_NOISE = 0.1
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


@attrs.frozen
class TransferReport:
    """What a transfer moved: parameter counts of the child, and layer counts by kind of transfer."""

    params: int
    transferred: int
    exact: int
    copied_layers: int
    resized_layers: int
    identity_layers: int
    fresh_layers: int

    @property
    def fraction(self) -> float:
        """Fraction of the child's parameters that took their value from the parent."""
        return self.transferred / self.params if self.params else 0.0

    def metrics(self, parent_id: int) -> dict[str, Any]:
        """The trial metrics that record the inheritance."""
        return {
            "inherited_from": parent_id,
            "inherited_fraction": round(self.fraction, 6),
            "inherited_exact_fraction": round(self.exact / self.params if self.params else 0.0, 6),
            "inherited_layers": {"copied": self.copied_layers, "resized": self.resized_layers,
                                 "identity": self.identity_layers, "fresh": self.fresh_layers},
        }


def inherit_weights(model: nn.Module, family: Any, data: Any, seed: int) -> dict[str, Any]:
    """Start ``model`` from the parent that travelled with the current trial; the metrics to record.

    Returns ``{}`` when nothing travelled (the trial starts from scratch).
    """
    parent = snas.current_trial().parent
    if parent is None:
        return {}
    source = family.build(parent.arch, data.input_shape, data.num_classes)
    source.load_state_dict(parent.weights)
    return transfer(source, model, seed).metrics(parent.trial_id)


# --------------------------------------------------------------------------
# pairing layers


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules that hold parameters or buffers of their own, in registration order."""
    return [(name, module) for name, module in model.named_modules()
            if next(module.parameters(recurse=False), None) is not None
            or next(module.buffers(recurse=False), None) is not None]


def align(parent: list[nn.Module], child: list[nn.Module]) -> list[tuple[int, int]]:
    """Pairs ``(parent index, child index)`` of same-type modules: the most pairs, heads paired, insertions late."""
    n, m = len(parent), len(child)
    if not n or not m:
        return []
    tail = [(n - 1, m - 1)] if type(parent[-1]) is type(child[-1]) else []
    if tail:
        n, m = n - 1, m - 1
    same = [[type(parent[i]) is type(child[j]) for j in range(m)] for i in range(n)]
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        row, above = best[i], best[i - 1]
        for j in range(1, m + 1):
            row[j] = max(above[j], row[j - 1], above[j - 1] + 1 if same[i - 1][j - 1] else 0)
    pairs: list[tuple[int, int]] = []
    i, j = n, m
    while i and j:  # from the end: drop a parent layer, else a child layer, before pairing (extra layers go late)
        if best[i - 1][j] == best[i][j]:
            i -= 1
        elif best[i][j - 1] == best[i][j]:
            j -= 1
        else:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
    return pairs[::-1] + tail


# --------------------------------------------------------------------------
# moving tensors


def _roles(module: nn.Module, name: str, ndim: int) -> list[str]:
    """What each dimension of a module's tensor is: ``out`` and ``copy`` replicate, ``in`` splits, ``space`` pads."""
    if ndim >= 2 and name == "weight" and isinstance(module, _CONV):
        return ["out", "in" if module.groups == 1 else "copy"] + ["space"] * (ndim - 2)
    if ndim == 2 and (name == "weight" and isinstance(module, nn.Linear) or name == "in_proj_weight"):
        return ["out", "in"]
    return ["out"] + ["copy"] * (ndim - 1)


def _resize(source: torch.Tensor, shape: torch.Size, roles: list[str], generator: torch.Generator
            ) -> tuple[torch.Tensor, int]:
    """``source`` reshaped to ``shape`` by the rule of each dimension; with the number of elements from it."""
    out = source
    kept = 1
    for dim, (role, size) in enumerate(zip(roles, shape)):
        have = out.shape[dim]
        if role == "space":
            kept *= min(have, size)
            if size > have:
                pad = [0, 0] * (out.ndim - dim - 1) + [(size - have) // 2, size - have - (size - have) // 2]
                out = nn.functional.pad(out, pad)
            elif size < have:
                out = out.narrow(dim, (have - size) // 2, size)
            continue
        kept *= size
        if size == have:
            continue
        index = torch.arange(size) % have
        out = out.index_select(dim, index)
        if role == "in" and size > have:
            out = out * _split_factors(out.shape, dim, index, have, generator)
    return out, kept


def _split_factors(shape: torch.Size, dim: int, index: torch.Tensor, have: int, generator: torch.Generator
                   ) -> torch.Tensor:
    """Factors that divide each input's weight among its copies: they sum to one over the copies."""
    counts = torch.bincount(index, minlength=have).float()
    noise = torch.randn(shape, generator=generator)
    means = torch.zeros(shape[:dim] + (have,) + shape[dim + 1:]).index_add_(dim, index, noise)
    view = [1] * len(shape)
    view[dim] = have
    means = means / counts.view(view)
    view[dim] = len(index)
    per_copy = counts[index].view(view)
    return (1 + SPLIT_NOISE * (noise - means.index_select(dim, index))) / per_copy


def _identity(module: nn.Module) -> bool:
    """Make a new square convolution or linear layer the identity; whether it was one."""
    weight = getattr(module, "weight", None)
    if isinstance(module, _CONV) and module.in_channels == module.out_channels \
            and module.groups in (1, module.in_channels):
        nn.init.dirac_(weight.data, groups=module.groups) if module.groups == 1 else _dirac_depthwise(weight.data)
    elif isinstance(module, nn.Linear) and module.in_features == module.out_features:
        nn.init.eye_(weight.data)
    else:
        return False
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias.data)
    return True


def _dirac_depthwise(weight: torch.Tensor) -> None:
    weight.zero_()
    centre = tuple(k // 2 for k in weight.shape[2:])
    weight[(slice(None), 0, *centre)] = 1.0


@torch.no_grad()
def transfer(parent: nn.Module, child: nn.Module, seed: int = 0) -> TransferReport:
    """Move ``parent``'s weights into ``child`` (in place) as the module docstring describes."""
    generator = torch.Generator().manual_seed(seed)
    parent_layers, child_layers = _layers(parent), _layers(child)
    pairs = dict((j, i) for i, j in align([m for _, m in parent_layers], [m for _, m in child_layers]))
    params = sum(p.numel() for p in child.parameters())
    transferred = exact = copied = resized = identity = fresh = 0
    for j, (_, module) in enumerate(child_layers):
        if j not in pairs:
            if _identity(module):
                identity += 1
            else:
                fresh += 1
            continue
        source = parent_layers[pairs[j]][1]
        theirs = {**dict(source.named_parameters(recurse=False)), **dict(source.named_buffers(recurse=False))}
        same = True
        own = [(name, tensor, True) for name, tensor in module.named_parameters(recurse=False)]
        own += [(name, tensor, False) for name, tensor in module.named_buffers(recurse=False)]
        for name, tensor, is_param in own:
            if tensor is None or name not in theirs or theirs[name] is None or theirs[name].ndim != tensor.ndim:
                same = False
                continue
            value = theirs[name].detach().cpu()
            if value.shape == tensor.shape:
                moved, kept = value, tensor.numel()
                exact += tensor.numel() if is_param else 0
            else:
                same = False
                moved, kept = _resize(value.float(), tensor.shape, _roles(module, name, tensor.ndim), generator)
            tensor.copy_(moved.to(device=tensor.device, dtype=tensor.dtype))
            transferred += kept if is_param else 0
        copied += same
        resized += not same
    return TransferReport(params, transferred, exact, copied, resized, identity, fresh)


__all__ = ["TransferReport", "align", "inherit_weights", "transfer"]
