"""snas.memory: the training-step memory estimate (meta device, nothing allocated) and the free memory."""

from __future__ import annotations

import os
import resource
import weakref

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from snas import Architecture
from snas.memory import available_memory, describe_bytes, estimate_memory

HUGE_CNN = {"num_layers": 50, "filters": [512] * 50, "kernel_sizes": [7] * 50, "activation": "relu",
            "skip_connections": False, "use_batch_norm": True, "dropout": 0.0, "learning_rate": 0.001,
            "optimizer": "adam", "head": "global_pool"}


class PeakLiveTensors(TorchDispatchMode):
    """The measured size: peak bytes of live tensor storages (not meta ones) while operators run."""

    def __init__(self, *tensors: torch.Tensor):
        super().__init__()
        self.live: dict[int, int] = {}
        self.refs: list[weakref.ref] = []
        self.current = self.peak = 0
        for t in tensors:
            self.track(t)

    def track(self, t: torch.Tensor) -> None:
        if t.device.type == "meta":
            return
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self.live or storage.nbytes() == 0:
            return
        self.live[key] = storage.nbytes()
        self.current += storage.nbytes()
        self.peak = max(self.peak, self.current)
        self.refs.append(weakref.ref(storage, lambda _ref, key=key: self._free(key)))

    def _free(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in torch.utils._pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.track(t)
        return out


def measured_training_step(family, arch, shape, classes, batch, optimizer) -> int:
    """Peak live tensor bytes over two real CPU training steps (the second has optimizer state)."""
    torch.manual_seed(0)
    model = family.build(arch, shape, classes).train()
    x, y = torch.randn(batch, *shape), torch.randint(0, classes, (batch,))
    opt = {"sgd": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
           "adam": lambda p: torch.optim.Adam(p, lr=1e-3)}[optimizer](model.parameters())
    with PeakLiveTensors(*model.parameters(), *model.buffers(), x, y) as tracker:
        for _ in range(2):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    return tracker.peak


CASES = [  # family, level, input shape, optimizer
    ("cnn", 2, (3, 32, 32), "adam"),
    ("mlp", 2, (1, 8, 8), "sgd"),
    ("enhanced_mlp", 2, (1, 8, 8), "adam"),
    ("resnet", 2, (3, 32, 32), "sgd"),
    ("mobilenet", 2, (3, 32, 32), "adam"),
    ("densenet", 2, (3, 32, 32), "sgd"),
    ("vit", 2, (3, 32, 32), "adam"),
    ("nb201", 1, (3, 16, 16), "sgd"),
]


@pytest.mark.parametrize("name,level,shape,optimizer", CASES)
def test_small_models_are_estimated_within_a_factor_of_the_measured_size(manager, name, level, shape, optimizer):
    family = manager.get_family(name)
    space = family.space()
    arch = space.at_level(max(level, space.min_level)).sample(np.random.default_rng(3))
    estimate = estimate_memory(family, arch, shape, 10, 16, optimizer)
    measured = measured_training_step(family, arch, shape, 10, 16, optimizer)
    # the estimate may err high (it is used to refuse), by less than 2x; at most a fifth low
    assert 0.8 * measured <= estimate <= 2.0 * measured, f"{name}: estimate {estimate}, measured {measured}"


def test_estimate_grows_with_batch_and_optimizer_state(manager):
    family = manager.get_family("cnn")
    arch = family.space().at_level(1).sample(np.random.default_rng(0))
    small, large = (estimate_memory(family, arch, (3, 32, 32), 10, b, "sgd") for b in (8, 64))
    assert large > small
    params = sum(p.numel() * 4 for p in family.build(arch, (3, 32, 32), 10).parameters())
    adam = estimate_memory(family, arch, (3, 32, 32), 10, 8, "adam")
    assert adam - small == params  # Adam keeps one more parameter-sized tensor than SGD with momentum
    assert estimate_memory("cnn", arch, (3, 32, 32), 10, 8, "sgd") == small  # a family's name works too


def test_a_630m_parameter_level_3_cnn_is_estimated_without_allocating(manager):
    arch = Architecture("cnn", HUGE_CNN)
    manager.get_family("cnn").space().at_level(3).validate(arch)  # inside the level-3 space
    # convolutions without bias (batch norm follows), 50 batch norms, the linear head
    params = 3 * 512 * 49 + 49 * (512 * 512 * 49) + 50 * 2 * 512 + 512 * 10 + 10
    assert params == 629_539_338
    with PeakLiveTensors() as real:  # sees every tensor an operator creates, factories included
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        estimate = estimate_memory("cnn", arch, (3, 32, 32), 10, 64, "adam")
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
    # parameters, gradients and two Adam states alone are 4x the float32 weights (10 GB)
    assert estimate > 4 * 4 * params
    # nothing real was allocated: the weights alone would be 2.5 GB
    assert real.peak < 2**20 and grew < 2**30


def test_available_memory_on_the_cpu_is_plausible():
    free = available_memory("cpu")
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < free <= total
    meminfo = dict(line.split(":", 1) for line in open("/proc/meminfo").read().splitlines())
    assert free <= int(meminfo["MemTotal"].split()[0]) * 1024


def test_available_memory_reads_the_device_on_cuda(monkeypatch):
    calls = []

    def fake(device):
        calls.append(device)
        return 123, 456

    monkeypatch.setattr(torch.cuda, "mem_get_info", fake)
    assert available_memory("cuda:0") == 123 and calls == [torch.device("cuda:0")]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_available_memory_on_a_real_gpu_falls_when_memory_is_taken():
    before = available_memory("cuda")
    block = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
    after = available_memory("cuda")
    del block
    assert before - after >= 200 * 2**20


def test_describe_bytes():
    assert describe_bytes(512) == "512 B"
    assert describe_bytes(3 * 2**30 // 2) == "1.5 GiB"
