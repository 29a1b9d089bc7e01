"""Score predictors for PNAS (not a plugin): an MLP ensemble and an LSTM over parameter tokens.

Both read the kernel's numeric encoding (:meth:`snas.JointSpace.encode`) and
are retrained from scratch on every result so far, with a seed the caller
gives, so the same history always gives the same model (exact resume).

:func:`make_surrogate` with ``"auto"`` (PNAS's default) picks the LSTM for
short token sequences and the MLP ensemble for long ones, by measured ranking
quality (``docs/strategies_pnas_enas.md``, ``benchmarks/pnas_surrogate.py``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from snas import JointSpace, LayerList


def kendall_tau(predicted: Sequence[float], measured: Sequence[float]) -> float | None:
    """Kendall's tau-b between two score lists; ``None`` with fewer than 2 points or a constant list."""
    if len(predicted) < 2 or len(set(predicted)) < 2 or len(set(measured)) < 2:
        return None
    from scipy.stats import kendalltau

    tau = kendalltau(predicted, measured).statistic
    return None if tau is None or not np.isfinite(tau) else float(tau)


def token_layout(space: JointSpace) -> list[tuple[int, int]]:
    """``(start, width)`` of each token of :meth:`JointSpace.encode`'s vector.

    The family one-hot is the first token; then, per family, each scalar
    parameter is a token and each per-layer list gives one token per layer
    slot, so an LSTM reads the network layer by layer.
    """
    tokens = [(0, len(space.spaces))]
    offset = len(space.spaces)
    for family in space.spaces.values():
        full = family.full
        for p in full.parameters:
            if isinstance(p, LayerList):
                width = p.item.encoding_size + 1
                length = p.length if isinstance(p.length, int) else full.parameter(p.length).high
                for _ in range(length):
                    tokens.append((offset, width))
                    offset += width
            else:
                tokens.append((offset, p.encoding_size))
                offset += p.encoding_size
    return tokens


class _Standardizer:
    def __init__(self, y: np.ndarray):
        self.mean = float(y.mean())
        self.std = float(y.std()) or 1.0

    def forward(self, y: np.ndarray) -> np.ndarray:
        return (y - self.mean) / self.std

    def backward(self, z: np.ndarray) -> np.ndarray:
        return z * self.std + self.mean


class MLPEnsemble:
    """``members`` small MLPs trained together (batched weights), each on a bootstrap of the data.

    The prediction is the members' mean. Full-batch Adam, ``epochs`` steps.
    ``loss_history`` holds the mean training loss per step of the last fit.
    """

    def __init__(self, input_size: int, members: int = 5, hidden: int = 64, epochs: int = 200, lr: float = 0.01,
                 weight_decay: float = 1e-4):
        self.input_size, self.members, self.hidden = input_size, members, hidden
        self.epochs, self.lr, self.weight_decay = epochs, lr, weight_decay
        self.params: list[torch.Tensor] | None = None
        self.scale: _Standardizer | None = None
        self.loss_history: list[float] = []

    def _forward(self, params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2, w3, b3 = params
        h = torch.relu(torch.einsum("ni,eih->enh", x, w1) + b1)
        h = torch.relu(torch.bmm(h, w2) + b2)
        return (torch.bmm(h, w3) + b3).squeeze(-1)  # (members, n)

    def fit(self, x: np.ndarray, y: np.ndarray, seed: int) -> "MLPEnsemble":
        """Train on encodings ``x`` (n, d) and scores ``y`` (n,) from a fresh initialization."""
        gen = torch.Generator().manual_seed(int(seed))
        e, d, h = self.members, self.input_size, self.hidden
        self.scale = _Standardizer(np.asarray(y, dtype=np.float64))
        xt = torch.as_tensor(x, dtype=torch.float32)
        yt = torch.as_tensor(self.scale.forward(np.asarray(y, dtype=np.float64)), dtype=torch.float32)
        n = xt.shape[0]
        # bootstrap weights: each member sees a resample of the data (counts per point)
        idx = torch.randint(0, n, (e, n), generator=gen)
        counts = torch.zeros(e, n).scatter_add_(1, idx, torch.ones(e, n))

        def init(*shape: int, fan_in: int) -> torch.Tensor:
            return (torch.randn(*shape, generator=gen) / np.sqrt(fan_in)).requires_grad_()

        params = [
            init(e, d, h, fan_in=d), torch.zeros(e, 1, h, requires_grad=True),
            init(e, h, h, fan_in=h), torch.zeros(e, 1, h, requires_grad=True),
            init(e, h, 1, fan_in=h), torch.zeros(e, 1, 1, requires_grad=True),
        ]
        try:
            opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay, fused=True)
        except (RuntimeError, TypeError):  # no fused Adam for this build or device
            opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        self.loss_history = []
        for _ in range(self.epochs):
            pred = self._forward(params, xt)
            loss = ((pred - yt) ** 2 * counts).sum() / counts.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            self.loss_history.append(float(loss.detach()))
        self.params = [p.detach() for p in params]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Mean prediction of the members, in the scale of the training scores."""
        if self.params is None or self.scale is None:
            raise RuntimeError("the surrogate has not been fitted")
        with torch.no_grad():
            z = self._forward(self.params, torch.as_tensor(x, dtype=torch.float32)).mean(0).double().numpy()
        return self.scale.backward(z)


class _LSTMNet(nn.Module):
    def __init__(self, tokens: list[tuple[int, int]], hidden: int):
        super().__init__()
        self.tokens = tokens
        self.width = max(w for _, w in tokens)
        self.lstm = nn.LSTM(self.width + len(tokens), hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[0], len(self.tokens)
        seq = torch.zeros(n, t, self.width + t)
        for i, (start, width) in enumerate(self.tokens):
            seq[:, i, :width] = x[:, start:start + width]
            seq[:, i, self.width + i] = 1.0  # which token this is
        return seq

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(seq)
        return self.head(out[:, -1]).squeeze(-1)


class LSTMSurrogate:
    """The PNAS paper's predictor: an LSTM reading one token per parameter / layer slot."""

    def __init__(self, space: JointSpace, hidden: int = 32, epochs: int = 200, lr: float = 0.01):
        self.tokens = token_layout(space)
        self.hidden, self.epochs, self.lr = hidden, epochs, lr
        self.net: _LSTMNet | None = None
        self.scale: _Standardizer | None = None
        self.loss_history: list[float] = []

    def fit(self, x: np.ndarray, y: np.ndarray, seed: int) -> "LSTMSurrogate":
        """Train from a fresh initialization seeded by ``seed``."""
        torch.manual_seed(int(seed))
        self.net = _LSTMNet(self.tokens, self.hidden)
        self.scale = _Standardizer(np.asarray(y, dtype=np.float64))
        seq = self.net.sequence(torch.as_tensor(x, dtype=torch.float32))
        yt = torch.as_tensor(self.scale.forward(np.asarray(y, dtype=np.float64)), dtype=torch.float32)
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr, weight_decay=1e-4)
        self.loss_history = []
        for _ in range(self.epochs):
            loss = nn.functional.mse_loss(self.net(seq), yt)
            opt.zero_grad()
            loss.backward()
            opt.step()
            self.loss_history.append(float(loss.detach()))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.net is None or self.scale is None:
            raise RuntimeError("the surrogate has not been fitted")
        with torch.no_grad():
            z = self.net(self.net.sequence(torch.as_tensor(x, dtype=torch.float32))).double().numpy()
        return self.scale.backward(z)


#: ``auto`` picks the LSTM up to this many tokens per architecture, the MLP ensemble above
LSTM_MAX_TOKENS = 16


def make_surrogate(kind: str, space: JointSpace) -> MLPEnsemble | LSTMSurrogate:
    """The surrogate called ``kind`` (``"auto"``, ``"mlp_ensemble"`` or ``"lstm"``) for ``space``.

    ``auto``: the LSTM for short token sequences (NAS-Bench-201 cells: 7
    tokens), where it ranks better; the MLP ensemble for long ones (the
    built-in families: hundreds of layer-slot tokens), where the LSTM learns
    poorly. Measurements in ``docs/benchmarks.md``.
    """
    if kind == "auto":
        kind = "lstm" if len(token_layout(space)) <= LSTM_MAX_TOKENS else "mlp_ensemble"
    if kind == "lstm":
        return LSTMSurrogate(space)
    return MLPEnsemble(space.encoding_size)
