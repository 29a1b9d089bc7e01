"""The NAS-Bench-201 cell space as a network family.

A NAS-Bench-201 cell is a DAG of 4 nodes; each of its 6 edges ``i -> j``
(``i < j``) carries one of 5 operations, so the space holds 5**6 = 15,625
cells. The family declares one :class:`~snas.Choice` per edge, named
``edge_<i>_<j>``, in the benchmark's own edge order (plus the fixed optimizer
and learning rate of the benchmark's training, single-valued), and builds the
benchmark's macro network around the cell (stem, three stages of cells
separated by residual reduction blocks, global pooling, linear head) so a cell
can also be trained for real. Looking a cell up in the benchmark table is the
``nb201`` evaluator's job; :func:`to_nb201_string` gives the table's key.

The space is the same at every complexity level: the benchmark's space is
fixed, and restricting it would change what the benchmark measures.
"""

from __future__ import annotations

import re

from torch import nn

from snas import Architecture, Choice, InvalidArchitecture, NetworkFamily, SearchSpace, hookimpl

#: the five operations, in the benchmark's order
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: the six edges ``(from, to)`` in the order of the benchmark's string notation
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
#: parameter name of each edge
EDGE_NAMES = tuple(f"edge_{i}_{j}" for i, j in EDGES)

#: NAS-Bench-201's training setting, declared as single-valued parameters so the ``train``
#: evaluator can train a cell (it reads the optimizer and learning rate from the architecture)
TRAINING = {"optimizer": "sgd", "learning_rate": 0.1}

#: the benchmark network's channels in the first stage and cells per stage (NAS-Bench-201 uses 16 and 5)
BENCHMARK_CHANNELS = 16
BENCHMARK_CELLS = 5


def to_nb201_string(arch: Architecture) -> str:
    """The benchmark's notation of a cell: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
    nodes = []
    for j in (1, 2, 3):
        nodes.append("|" + "|".join(f"{arch[f'edge_{i}_{j}']}~{i}" for i in range(j)) + "|")
    return "+".join(nodes)


_NODE = re.compile(r"^\|(.*)\|$")


def from_nb201_string(text: str, family: str = "nb201") -> Architecture:
    """The architecture written in the benchmark's notation (the inverse of :func:`to_nb201_string`)."""
    nodes = text.strip().split("+")
    if len(nodes) != 3:
        raise InvalidArchitecture(f"NAS-Bench-201 cell {text!r}: expected 3 nodes separated by '+'")
    params = {}
    for j, node in enumerate(nodes, start=1):
        match = _NODE.match(node)
        edges = match.group(1).split("|") if match else []
        if len(edges) != j:
            raise InvalidArchitecture(f"NAS-Bench-201 cell {text!r}: node {j} needs {j} inputs, got {node!r}")
        for edge in edges:
            op, _, src = edge.partition("~")
            if op not in OPS or not src.isdigit() or int(src) >= j:
                raise InvalidArchitecture(f"NAS-Bench-201 cell {text!r}: bad edge {edge!r} into node {j}")
            params[f"edge_{int(src)}_{j}"] = op
    if len(params) != len(EDGES):
        raise InvalidArchitecture(f"NAS-Bench-201 cell {text!r}: repeated input on a node")
    return Architecture(family, {**params, **TRAINING})


def make_cell(ops: "list[str] | tuple[str, ...]", family: str = "nb201") -> Architecture:
    """The cell with operation ``ops[k]`` on edge ``EDGES[k]``."""
    if len(ops) != len(EDGES):
        raise InvalidArchitecture(f"a NAS-Bench-201 cell has {len(EDGES)} edges, got {len(ops)} operations")
    return Architecture(family, {**dict(zip(EDGE_NAMES, ops)), **TRAINING})


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution, batch norm: the benchmark's ``nor_conv`` operation."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class Zero(nn.Module):
    """The ``none`` operation: the edge carries nothing."""

    def forward(self, x):
        return x.mul(0.0)


def make_op(name: str, channels: int) -> nn.Module:
    """The module of operation ``name`` on ``channels`` channels (stride 1)."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NAS-Bench-201 operation {name!r}; expected one of {OPS}")


class Cell(nn.Module):
    """One NAS-Bench-201 cell: node ``j`` is the sum of its input edges, node 3 is the output."""

    def __init__(self, ops: dict[tuple[int, int], str], channels: int):
        super().__init__()
        self.edges = nn.ModuleDict({f"{i}_{j}": make_op(ops[(i, j)], channels) for i, j in EDGES})

    def forward(self, x):
        nodes = [x]
        for j in (1, 2, 3):
            nodes.append(sum(self.edges[f"{i}_{j}"](nodes[i]) for i in range(j)))
        return nodes[3]


class ResidualReduction(nn.Module):
    """The benchmark's reduction block: a stride-2 residual block that doubles the channels."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x):
        out = self.conv_b(self.conv_a(x))
        shortcut = self.shortcut(x)
        if shortcut.shape[-2:] != out.shape[-2:]:  # odd sizes: AvgPool floors, the conv rounds up
            shortcut = nn.functional.interpolate(shortcut, size=out.shape[-2:])
        return out + shortcut


def build_network(arch: Architecture, input_shape: tuple[int, int, int], num_classes: int,
                  channels: int = BENCHMARK_CHANNELS, cells_per_stage: int = BENCHMARK_CELLS) -> nn.Module:
    """The NAS-Bench-201 macro network around ``arch``'s cell.

    Stem (3x3 conv, batch norm), three stages of ``cells_per_stage`` cells at
    ``channels``, ``2*channels`` and ``4*channels`` separated by residual
    reduction blocks, then batch norm, ReLU, global average pooling and a
    linear classifier. The defaults are the benchmark's own network.
    """
    ops = {(i, j): arch[f"edge_{i}_{j}"] for i, j in EDGES}
    layers: list[nn.Module] = [nn.Conv2d(input_shape[0], channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)]
    c = channels
    for stage in range(3):
        if stage:
            layers.append(ResidualReduction(c, 2 * c))
            c *= 2
        layers.extend(Cell(ops, c) for _ in range(cells_per_stage))
    layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)


class NB201(NetworkFamily):
    """The NAS-Bench-201 cell: six edges, five operations each (15,625 cells)."""

    name = "nb201"
    benchmark_only = True
    description = "NAS-Bench-201 cell: 6 edges x 5 operations, in the benchmark's macro network"
    #: the built network is smaller than the benchmark's (1 cell per stage instead of 5) so
    #: it trains in seconds on small data; use :func:`build_network` for the full size
    channels = BENCHMARK_CHANNELS
    cells_per_stage = 1

    def space(self) -> SearchSpace:
        return SearchSpace(
            family=self.name,
            parameters=[
                *(Choice(name, OPS, doc=f"operation on edge {i} -> {j}") for name, (i, j) in zip(EDGE_NAMES, EDGES)),
                Choice("optimizer", (TRAINING["optimizer"],), doc="training only: SGD, as in NAS-Bench-201"),
                Choice("learning_rate", (TRAINING["learning_rate"],), doc="training only: as in NAS-Bench-201"),
            ],
            min_level=1,
        )

    def build(self, arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        return build_network(arch, input_shape, num_classes, self.channels, self.cells_per_stage)

    def describe(self, arch: Architecture) -> list[str]:
        lines = [f"nb201: {to_nb201_string(arch)}"]
        for j in (1, 2, 3):
            lines.append(f"  node {j} = " + " + ".join(f"{arch[f'edge_{i}_{j}']}(node {i})" for i in range(j)))
        return lines


@hookimpl
def snas_register_families():
    return [NB201]
