"""Weight sharing for ENAS and PNAS+ENAS (not a plugin): supernets, an LSTM controller, training loops.

A supernet holds the weights of every choice of a family's (level-restricted)
space once; an architecture is a *path* through it. Convolutions are stored at
the largest width and sliced for smaller ones (``weight[:c_out, :c_in]``, a
view of the same storage), with one convolution per kernel size per layer, so
two architectures that make the same choice at a layer read the same tensor.
Batch norm uses batch statistics (no running averages), as in ENAS, because
one set of running statistics cannot fit every path.

Supported families: ``cnn`` and ``mlp`` (see :data:`SUPERNETS`). Training
hyper-parameters (``learning_rate``, ``optimizer``) are not part of a path:
the shared weights are trained with one optimizer, and the architectures the
strategy proposes carry that optimizer's settings.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterable, Mapping

import attrs
import torch
from torch import nn
from torch.nn import functional as F

from snas import Architecture, Choice, IntRange, LayerList, SearchSpace
from snas_plugins.families.cnn import downsample_positions
from snas_plugins.families.common import activation

#: parameters that are training settings, not part of a path through a supernet
TRAINING_PARAMS = ("learning_rate", "optimizer")
#: parameters every path has the same value of: the supernets end in a global-average-pool head
FIXED_PARAMS = {"head": "global_pool"}


def capped_space(space: SearchSpace, max_layers: int, max_width: int) -> SearchSpace:
    """``space`` with the layer count and per-layer widths limited to what a supernet holds."""
    params = []
    for p in space.parameters:
        if isinstance(p, IntRange) and p.name == "num_layers":
            p = p.restrict((p.low, max(p.low, min(p.high, max_layers))))
        elif isinstance(p, LayerList) and p.name in ("filters", "hidden_units"):
            allowed = [v for v in p.item.values if v <= max_width] or [min(p.item.values)]
            p = p.restrict(allowed)
        params.append(p)
    return attrs.evolve(space, parameters=tuple(params))


def path_params(arch: Architecture, space: SearchSpace, learning_rate: float, optimizer: str) -> Architecture:
    """``arch`` with the training settings the supernet used, projected into ``space``."""
    values = dict(arch.params)
    names = space.names
    if "learning_rate" in names:
        values["learning_rate"] = learning_rate
    if "optimizer" in names:
        values["optimizer"] = optimizer
    values.update({k: v for k, v in FIXED_PARAMS.items() if k in names})
    return space.project(Architecture(arch.family, values))


def _param(*shape: int, fan_in: int) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape) * math.sqrt(2.0 / max(1, fan_in)))


class CNNSupernet(nn.Module):
    """Every layer of the ``cnn`` family at once: per layer one max-width conv per kernel size."""

    def __init__(self, space: SearchSpace, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        self.space = space
        self.input_shape = tuple(input_shape)
        self.max_layers = space.parameter("num_layers").high
        self.widths = tuple(space.parameter("filters").item.values)
        self.kernels = tuple(space.parameter("kernel_sizes").item.values)
        self.width = max(self.widths)
        c = input_shape[0]
        self.weights = nn.ParameterDict()
        for i in range(self.max_layers):
            c_in = c if i == 0 else self.width
            for k in self.kernels:
                self.weights[f"conv{i}_k{k}"] = _param(self.width, c_in, k, k, fan_in=c_in * k * k)
            self.weights[f"bias{i}"] = nn.Parameter(torch.zeros(self.width))
            self.weights[f"bn_weight{i}"] = nn.Parameter(torch.ones(self.width))
            self.weights[f"bn_bias{i}"] = nn.Parameter(torch.zeros(self.width))
            self.weights[f"proj{i}"] = _param(self.width, c_in, 1, 1, fan_in=c_in)
        self.weights["head_weight"] = _param(num_classes, self.width, fan_in=self.width)
        self.weights["head_bias"] = nn.Parameter(torch.zeros(num_classes))
        self._acts: dict[str, nn.Module] = {}

    def _act(self, name: str) -> nn.Module:
        if name not in self._acts:
            self._acts[name] = activation(name)
        return self._acts[name]

    def path(self, arch: Architecture) -> list[tuple[str, torch.Tensor]]:
        """``(name, tensor)`` for every slice of shared weight ``arch`` reads, in forward order."""
        out = []
        c_in = self.input_shape[0]
        for i in range(arch["num_layers"]):
            c_out, k = arch["filters"][i], arch["kernel_sizes"][i]
            out.append((f"conv{i}_k{k}", self.weights[f"conv{i}_k{k}"][:c_out, :c_in]))
            if arch["use_batch_norm"]:
                out.append((f"bn_weight{i}", self.weights[f"bn_weight{i}"][:c_out]))
                out.append((f"bn_bias{i}", self.weights[f"bn_bias{i}"][:c_out]))
            else:
                out.append((f"bias{i}", self.weights[f"bias{i}"][:c_out]))
            if arch["skip_connections"] and c_in != c_out:
                out.append((f"proj{i}", self.weights[f"proj{i}"][:c_out, :c_in]))
            c_in = c_out
        out.append(("head_weight", self.weights["head_weight"][:, :c_in]))
        out.append(("head_bias", self.weights["head_bias"]))
        return out

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        n = arch["num_layers"]
        pools = downsample_positions(n, min(self.input_shape[1], self.input_shape[2]))
        w = self.weights
        c_in = x.shape[1]
        bn = arch["use_batch_norm"]
        for i in range(n):
            c_out, k = arch["filters"][i], arch["kernel_sizes"][i]
            out = F.conv2d(x, w[f"conv{i}_k{k}"][:c_out, :c_in], None if bn else w[f"bias{i}"][:c_out], padding=k // 2)
            if bn:
                out = F.batch_norm(out, None, None, w[f"bn_weight{i}"][:c_out], w[f"bn_bias{i}"][:c_out], training=True)
            out = self._act(arch["activation"])(out)
            if arch["skip_connections"]:
                out = out + (x if c_in == c_out else F.conv2d(x, w[f"proj{i}"][:c_out, :c_in]))
            if i in pools:
                out = F.max_pool2d(out, 2)
            x, c_in = out, c_out
        x = x.mean(dim=(2, 3))
        x = F.dropout(x, arch["dropout"], training=self.training)
        return F.linear(x, w["head_weight"][:, :c_in], w["head_bias"])


class MLPSupernet(nn.Module):
    """Every layer of the ``mlp`` family at once: max-width linear layers sliced per path."""

    def __init__(self, space: SearchSpace, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        self.space = space
        self.input_shape = tuple(input_shape)
        self.max_layers = space.parameter("num_layers").high
        self.width = max(space.parameter("hidden_units").item.values)
        d = math.prod(input_shape)
        self.weights = nn.ParameterDict()
        for i in range(self.max_layers):
            d_in = d if i == 0 else self.width
            self.weights[f"linear{i}"] = _param(self.width, d_in, fan_in=d_in)
            self.weights[f"bias{i}"] = nn.Parameter(torch.zeros(self.width))
            self.weights[f"bn_weight{i}"] = nn.Parameter(torch.ones(self.width))
            self.weights[f"bn_bias{i}"] = nn.Parameter(torch.zeros(self.width))
            # one head per depth: the last hidden layer differs per path
            self.weights[f"head{i}_weight"] = _param(num_classes, self.width, fan_in=self.width)
            self.weights[f"head{i}_bias"] = nn.Parameter(torch.zeros(num_classes))
        self._acts: dict[str, nn.Module] = {}

    def path(self, arch: Architecture) -> list[tuple[str, torch.Tensor]]:
        """``(name, tensor)`` for every slice of shared weight ``arch`` reads."""
        out, d_in = [], math.prod(self.input_shape)
        for i, units in enumerate(arch["hidden_units"]):
            out.append((f"linear{i}", self.weights[f"linear{i}"][:units, :d_in]))
            d_in = units
        n = arch["num_layers"]
        out.append((f"head{n - 1}_weight", self.weights[f"head{n - 1}_weight"][:, :d_in]))
        return out

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        w = self.weights
        x = x.flatten(1)
        d_in = x.shape[1]
        act = self._acts.setdefault(arch["activation"], activation(arch["activation"]))
        bn = arch["use_batch_norm"]
        for i, units in enumerate(arch["hidden_units"]):
            x = F.linear(x, w[f"linear{i}"][:units, :d_in], None if bn else w[f"bias{i}"][:units])
            if bn:
                x = F.batch_norm(x, None, None, w[f"bn_weight{i}"][:units], w[f"bn_bias{i}"][:units], training=True)
            x = F.dropout(act(x), arch["dropout"], training=self.training)
            d_in = units
        n = arch["num_layers"]
        return F.linear(x, w[f"head{n - 1}_weight"][:, :d_in], w[f"head{n - 1}_bias"])


#: family name -> supernet class
SUPERNETS: dict[str, Callable[..., nn.Module]] = {"cnn": CNNSupernet, "mlp": MLPSupernet}


# --------------------------------------------------------------------------
# the controller


@attrs.frozen
class Decision:
    """One categorical decision of the controller: a scalar parameter or one layer slot of a list."""

    param: str
    slot: int | None
    values: tuple
    length: str | None = None


def decisions(space: SearchSpace) -> list[Decision]:
    """The controller's decisions for ``space``, in declaration order (training settings excluded)."""
    out = []
    for p in space.parameters:
        if p.name in TRAINING_PARAMS or p.name in FIXED_PARAMS:
            continue
        if isinstance(p, LayerList):
            n = p.length if isinstance(p.length, int) else space.parameter(p.length).high
            values = tuple(p.item.values) if isinstance(p.item, Choice) else tuple(range(p.item.low, p.item.high + 1))
            for i in range(n):
                out.append(Decision(p.name, i, values, p.length if isinstance(p.length, str) else None))
        elif isinstance(p, Choice):
            out.append(Decision(p.name, None, tuple(p.values)))
        else:
            out.append(Decision(p.name, None, tuple(range(p.low, p.high + 1))))
    return out


class Controller(nn.Module):
    """An LSTM that emits an architecture one decision at a time (ENAS's RNN controller).

    With several families the first decision is the family. Each decision
    has its own softmax head and an embedding that feeds the choice made into
    the next step. Layer slots beyond the sampled layer count are skipped.
    """

    def __init__(self, spaces: Mapping[str, SearchSpace], hidden: int = 64, tanh_constant: float = 2.5,
                 temperature: float = 5.0):
        super().__init__()
        # ENAS bounds the logits (c * tanh(l / T)) so the policy cannot collapse onto one path
        self.tanh_constant, self.temperature = tanh_constant, temperature
        self.spaces = dict(spaces)
        self.families = list(self.spaces)
        self.hidden = hidden
        self.decisions = {f: decisions(s) for f, s in self.spaces.items()}
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.cell = nn.LSTMCell(hidden, hidden)
        self.family_head = nn.Linear(hidden, len(self.families))
        self.family_embed = nn.Embedding(len(self.families), hidden)
        self.heads = nn.ModuleDict()
        self.embeds = nn.ModuleDict()
        for f, ds in self.decisions.items():
            for j, d in enumerate(ds):
                self.heads[f"{f}_{j}"] = nn.Linear(hidden, len(d.values))
                self.embeds[f"{f}_{j}"] = nn.Embedding(len(d.values), hidden)

    def _step(self, inp, state, head, generator, forced):
        h, c = self.cell(inp, state)
        logits = self.tanh_constant * torch.tanh(head(h) / self.temperature)
        log_probs = F.log_softmax(logits, dim=-1)
        probs = log_probs.exp()
        if forced is None:
            idx = int(torch.multinomial(probs.detach(), 1, generator=generator))
        else:
            idx = int(forced)
        entropy = -(probs * log_probs).sum()
        return idx, log_probs[0, idx], entropy, (h, c)

    def sample(self, generator: torch.Generator, forced: list[int] | None = None) -> tuple[Architecture, torch.Tensor, torch.Tensor, list[int]]:
        """Sample an architecture: ``(arch, log-probability, entropy, choice indices)``.

        ``forced`` replays given choice indices instead of sampling (to score
        an architecture the controller emitted before).
        """
        forced = list(forced) if forced is not None else None
        choices: list[int] = []
        state = (torch.zeros(1, self.hidden), torch.zeros(1, self.hidden))
        inp = self.start
        log_prob = torch.zeros(())
        entropy = torch.zeros(())

        def nxt():
            return forced[len(choices)] if forced is not None else None

        if len(self.families) > 1:
            idx, lp, ent, state = self._step(inp, state, self.family_head, generator, nxt())
            choices.append(idx)
            log_prob, entropy = log_prob + lp, entropy + ent
            inp = self.family_embed(torch.tensor([idx]))
            family = self.families[idx]
        else:
            family = self.families[0]
        values: dict[str, Any] = {}
        lists: dict[str, list] = {}
        for j, d in enumerate(self.decisions[family]):
            if d.slot is not None and d.length is not None and d.slot >= int(values[d.length]):
                continue
            key = f"{family}_{j}"
            idx, lp, ent, state = self._step(inp, state, self.heads[key], generator, nxt())
            choices.append(idx)
            log_prob, entropy = log_prob + lp, entropy + ent
            inp = self.embeds[key](torch.tensor([idx]))
            if d.slot is None:
                values[d.param] = d.values[idx]
            else:
                lists.setdefault(d.param, []).append(d.values[idx])
        values.update({k: tuple(v) for k, v in lists.items()})
        space = self.spaces[family]
        return space.project(Architecture(family, values)), log_prob, entropy, choices

    def first_distribution(self) -> torch.Tensor:
        """The probabilities of the first decision (what a controller update visibly moves)."""
        with torch.no_grad():
            h, _ = self.cell(self.start, (torch.zeros(1, self.hidden), torch.zeros(1, self.hidden)))
            head = self.family_head if len(self.families) > 1 else self.heads[f"{self.families[0]}_0"]
            return F.softmax(self.tanh_constant * torch.tanh(head(h) / self.temperature), dim=-1)[0]


class Reinforce:
    """REINFORCE for the controller: moving-average baseline and an entropy bonus."""

    def __init__(self, controller: Controller, lr: float = 0.0035, entropy_weight: float = 1e-4,
                 baseline_decay: float = 0.95):
        self.controller = controller
        self.optimizer = torch.optim.Adam(controller.parameters(), lr=lr)
        self.entropy_weight = entropy_weight
        self.decay = baseline_decay
        self.baseline: float | None = None

    def update(self, log_prob: torch.Tensor, entropy: torch.Tensor, reward: float) -> float:
        """One policy-gradient step for a sampled architecture and its reward; returns the advantage."""
        self.baseline = reward if self.baseline is None else self.decay * self.baseline + (1 - self.decay) * reward
        advantage = reward - self.baseline
        loss = -advantage * log_prob - self.entropy_weight * entropy
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return advantage


# --------------------------------------------------------------------------
# training and scoring with shared weights


class SharedWeights:
    """The supernets of several families and the optimizer that trains them on sampled paths."""

    def __init__(self, spaces: Mapping[str, SearchSpace], input_shape: tuple[int, int, int], num_classes: int,
                 device: torch.device, lr: float = 0.001):
        self.device = device
        self.nets = {f: SUPERNETS[f](s, input_shape, num_classes).to(device) for f, s in spaces.items()}
        params = [p for net in self.nets.values() for p in net.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=lr)
        self.paths_trained = 0

    def train_step(self, arch: Architecture, xb: torch.Tensor, yb: torch.Tensor) -> float:
        """One gradient step of the shared weights along ``arch``'s path."""
        net = self.nets[arch.family]
        net.train()
        loss = F.cross_entropy(net(xb, arch), yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        self.optimizer.step()
        self.paths_trained += 1
        return float(loss.detach())

    @torch.no_grad()
    def accuracy(self, arch: Architecture, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
        """Accuracy of ``arch``'s path under the shared weights."""
        net = self.nets[arch.family]
        net.eval()
        correct = total = 0
        for xb, yb in batches:
            correct += int((net(xb, arch).argmax(1) == yb).sum())
            total += int(yb.numel())
        return correct / max(total, 1)


def load_bound_data(strategy: Any, dataset: str) -> tuple[Any, torch.device]:
    """The strategy's data and device: what the engine bound, else ``dataset`` loaded through the plugin manager."""
    from snas import get_plugin_manager, resolve_device
    from snas import make_options

    data = getattr(strategy, "_bound_data", None)
    device = getattr(strategy, "_bound_device", None)
    if data is None:
        cls = get_plugin_manager().get_dataset(dataset)
        data = cls(make_options(cls.Options, {}, f"options of dataset {dataset!r}")).load(seed=0)
    if device is None:
        device = resolve_device("auto")
    return data.to(device), device


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(fn(), seconds)``."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (also seeds torch's global generator for dropout/init)."""
    torch.manual_seed(int(seed))
    return torch.Generator().manual_seed(int(seed))


def support(space: Any, level: int, max_layers: int, max_width: int) -> dict[str, SearchSpace]:
    """The families of a :class:`~snas.JointSpace` that have a supernet, capped for it, at ``level``."""
    return {
        f: capped_space(space.space(f, level), max_layers, max_width)
        for f in space.families(level)
        if f in SUPERNETS
    }


__all__ = [
    "CNNSupernet", "Controller", "Decision", "MLPSupernet", "Reinforce", "SUPERNETS", "SharedWeights",
    "capped_space", "decisions", "load_bound_data", "path_params", "seeded_generator", "support", "timed",
]
