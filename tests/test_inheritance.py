"""Weight inheritance: what transfers between networks, the pool and parent choice, and runs that inherit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import snas
from snas import Architecture, ConfigError, Trial, hookimpl
from snas.contracts.space import JointSpace
from snas.runtime.inheritance import TRAINED, WeightPool, distance
from snas_plugins.evaluators.inherit import align, transfer

from test_engine import nb201_search

TRAINING = {"learning_rate": 0.01, "optimizer": "adam", "dropout": 0.0}


def mlp(*widths: int, batch_norm: bool = False) -> Architecture:
    return Architecture("mlp", {"num_layers": len(widths), "hidden_units": tuple(widths), "activation": "relu",
                                "use_batch_norm": batch_norm, **TRAINING})


def cnn(filters: tuple, kernels: tuple, batch_norm: bool = False, skip: bool = False,
        head: str = "global_pool") -> Architecture:
    return Architecture("cnn", {"num_layers": len(filters), "filters": tuple(filters), "kernel_sizes": tuple(kernels),
                                "activation": "relu", "skip_connections": skip, "use_batch_norm": batch_norm,
                                "head": head, **TRAINING})


def trained_like(model: nn.Module, seed: int = 1) -> nn.Module:
    """Give a fresh network non-trivial weights and batch-norm statistics, as training would."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                if name.endswith("running_var"):
                    tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
                else:
                    tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.3)
    return model.eval()


def pair(manager, parent: Architecture, child: Architecture, shape=(1, 8, 8)):
    family = manager.get_family(parent.family)
    torch.manual_seed(0)
    source = trained_like(family.build(parent, shape, 10))
    target = family.build(child, shape, 10).eval()
    report = transfer(source, target, seed=3)
    x = torch.randn(16, *shape, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return source(x), target(x), report


# -- what transfers -----------------------------------------------------------------------------


def test_the_same_architecture_is_copied_exactly(manager):
    before, after, report = pair(manager, cnn((16, 32), (3, 5), batch_norm=True), cnn((16, 32), (3, 5), batch_norm=True))
    assert torch.equal(before, after)
    assert report.fraction == 1.0 and report.exact == report.params
    assert report.fresh_layers == report.identity_layers == report.resized_layers == 0


@pytest.mark.parametrize("parent,child", [
    (mlp(64, 64), mlp(128, 64)),  # a wider first layer
    (mlp(64, 64), mlp(128, 256, batch_norm=False)),  # both wider, the head reads the wider one
    (mlp(64), mlp(64, 64)),  # one layer deeper (the mutation operator adds it at the end)
    (mlp(64, 64, batch_norm=True), mlp(128, 64, batch_norm=True)),  # per-channel norms follow the copies
], ids=["wider", "both-wider", "deeper", "wider-with-batch-norm"])
def test_widening_and_deepening_an_mlp_keep_its_function(manager, parent, child):
    before, after, report = pair(manager, parent, child)
    assert torch.allclose(before, after, atol=1e-5), (before - after).abs().max()
    assert report.fraction > 0.5


@pytest.mark.parametrize("parent,child,shape", [
    (cnn((16, 32), (3, 3)), cnn((32, 32), (3, 3)), (1, 8, 8)),
    (cnn((16, 32), (3, 3)), cnn((16, 32), (5, 7)), (1, 8, 8)),  # bigger kernels, zero-padded around the centre
    (cnn((16, 32), (3, 3), batch_norm=True, skip=True), cnn((32, 64), (3, 5), batch_norm=True, skip=True),
     (1, 8, 8)),
    # a head that flattens a 4x4 grid: its inputs are channel-major, so copying channel c to c + n copies them
    (cnn((16, 32), (3, 3), head="pool_4x4"), cnn((16, 64), (3, 3), head="pool_4x4"), (1, 16, 16)),
    # the family moves its poolings with the depth: only an image too small to pool keeps them in place
    (cnn((16, 16), (3, 3)), cnn((16, 16, 16), (3, 3, 3)), (1, 3, 3)),
], ids=["wider", "bigger-kernels", "residual-wider", "flatten-head-wider", "deeper"])
def test_widening_convolutions_keeps_the_function(manager, parent, child, shape):
    before, after, report = pair(manager, parent, child, shape)
    assert torch.allclose(before, after, atol=1e-4), (before - after).abs().max()


def test_a_deeper_child_starts_its_new_layer_as_the_identity(manager):
    _, _, report = pair(manager, mlp(64), mlp(64, 64))
    assert report.identity_layers == 1 and report.fresh_layers == 0
    assert report.transferred < report.params  # the identity layer is not inherited


def test_copied_units_are_not_exact_twins(manager):
    """Net2Net's copies get split outgoing weights with noise, or they would train as one unit."""
    family = manager.get_family("mlp")
    source = trained_like(family.build(mlp(4), (1, 8, 8), 10))
    target = family.build(mlp(8), (1, 8, 8), 10)
    transfer(source, target, seed=0)
    head = target[-1].weight  # 10 x 8: unit j and its copy j + 4 share the parent's weight between them
    assert torch.allclose(head[:, :4] + head[:, 4:], source[-1].weight, atol=1e-6)
    assert not torch.allclose(head[:, :4], head[:, 4:])


def test_a_narrower_child_keeps_a_slice(manager):
    family = manager.get_family("mlp")
    source = trained_like(family.build(mlp(128, 64), (1, 8, 8), 10))
    target = family.build(mlp(64, 64), (1, 8, 8), 10)
    report = transfer(source, target)
    assert torch.equal(target[1].weight, source[1].weight[:64])
    assert report.resized_layers >= 2 and 0 < report.fraction <= 1


def test_layers_pair_by_type_with_heads_together():
    linear, norm = nn.Linear(2, 2), nn.BatchNorm1d(2)
    assert align([linear, linear, linear], [linear, linear, linear, linear]) == [(0, 0), (1, 1), (2, 3)]
    assert align([linear, linear, linear, linear], [linear, linear, linear]) == [(0, 0), (1, 1), (3, 2)]
    assert align([linear, norm, linear], [linear, linear]) == [(0, 0), (2, 1)]


FAMILIES = ["cnn", "mlp", "enhanced_mlp", "resnet", "mobilenet", "densenet", "shufflenetv2", "efficientnet", "vit",
            "mlp_mixer"]


@pytest.mark.parametrize("name", FAMILIES)
def test_any_child_of_a_family_can_inherit_from_any_parent(manager, name):
    """Mutants of every built-in family take what fits from a parent and still run."""
    family = manager.get_family(name)
    space = family.space()
    rng = np.random.default_rng(4)
    shape = (3, 16, 16)
    for _ in range(3):
        parent = space.at_level(3).sample(rng)
        child = space.at_level(3).mutate(parent, rng, rate=0.5)
        torch.manual_seed(0)
        source = trained_like(family.build(parent, shape, 10))
        target = family.build(child, shape, 10).eval()
        report = transfer(source, target)
        assert 0 < report.fraction <= 1
        with torch.no_grad():
            assert target(torch.randn(2, *shape)).shape == (2, 10)


# -- the pool and the choice of parents -------------------------------------------------------------


def _trial(tid, arch, score, **meta):
    return Trial(tid, arch, "ok", score, meta={TRAINED: True, **meta})


@pytest.fixture
def space(manager):
    return JointSpace({n: manager.get_family(n).space() for n in ("mlp", "cnn")}, max_level=3)


def test_the_pool_keeps_the_best_of_each_family(space):
    pool = WeightPool(space, max_models=2)
    for tid, score in enumerate([0.5, 0.9, 0.7, 0.9]):
        pool.tell(_trial(tid, mlp(64 * (tid + 1)), score))
    pool.tell(_trial(4, cnn((16,), (3,)), 0.1))
    assert [t.trial_id for t in pool.members("mlp")] == [1, 3]  # a tie goes to the earlier trial
    assert pool.ids() == {1, 3, 4}
    assert not pool.would_join(_trial(5, mlp(32), 0.8))
    assert not pool.would_join(Trial(6, mlp(32), "ok", 0.99))  # no weights came back: not a candidate


def test_a_child_starts_from_its_parent_in_the_pool_else_the_nearest(space):
    pool = WeightPool(space, max_models=2)
    pool.tell(_trial(0, mlp(64, 64), 0.9))
    assert pool.choose(mlp(512, 64), {"parents": [0]})["from"] == 0
    assert pool.choose(mlp(512, 64), {}) is None  # no parent, and a pool not yet full: from scratch
    pool.tell(_trial(1, mlp(512), 0.8))
    pool.tell(Trial(2, mlp(64, 64), "ok", 0.9, cached_from=0))
    assert pool.choose(mlp(512, 64), {"parents": [1]})["from"] == 1
    assert pool.choose(mlp(512, 64), {"parents": [2]}) == {"from": 0, "by": "parent", "distance": pytest.approx(
        distance(space, mlp(512, 64), mlp(64, 64)))}  # a cache hit stands for the trial it came from
    nearest = pool.choose(mlp(512, 128), {"parents": [7]})
    assert nearest["from"] == 1 and nearest["by"] == "nearest" and nearest["wanted"] == [7]
    assert pool.choose(cnn((16,), (3,)), {}) is None  # nothing of its family trained yet


# -- runs that inherit -------------------------------------------------------------------------------------


def _search(tmp_path, name, **kwargs):
    options = {"max_epochs": 3, "patience": None, "full_metrics": False, "inherited_epochs": 2}
    return snas.search(network_types=["mlp"], max_trials=10, seed=5, run_dir=tmp_path / name,
                       strategy_options={"population_size": 4, "generations": 3},
                       evaluator_options=options, weight_inheritance=True, retrain_top=2,
                       config={"threads_per_trial": 1, **kwargs.pop("config", {})}, **kwargs)


def _inheritance(result):
    return [(t.trial_id, t.fingerprint, t.protocol, t.score, t.meta.get("inherit"), t.metrics.get("inherited_from"),
             t.metrics.get("inherited_fraction")) for t in result.trials]


@pytest.mark.slow
def test_children_inherit_and_the_winners_are_retrained_from_scratch(tmp_path):
    counts = []

    class CountWeightFiles:
        @hookimpl
        def snas_trial_finished(self, run, trial):
            counts.append(len(list((Path(run.path).parent / "weights").glob("*.h5"))))

    result = _search(tmp_path, "run", weight_sharing_max_models=2, observers=[CountWeightFiles()])
    search = [t for t in result.trials if not t.meta.get("final")]
    heirs = [t for t in search if t.meta.get("inherit")]
    # the first two random networks train from scratch; then everything inherits (from the nearest, or a parent)
    assert [t.protocol for t in search[:2]] == ["full", "full"] and not any("inherit" in t.meta for t in search[:2])
    assert len(heirs) == len(search) - 2
    for t in heirs:
        assert t.protocol == snas.INHERITED and t.metrics["max_epochs"] == 2
        assert t.metrics["inherited_from"] == t.meta["inherit"]["from"] < t.trial_id
        assert 0 < t.metrics["inherited_fraction"] <= 1
    assert any(t.meta["inherit"]["by"] == "parent" for t in heirs)  # evolution's children name their parents
    final = [t for t in result.trials if t.meta.get("final")]
    assert len(final) == 2 and all(t.protocol == "full" and "inherit" not in t.meta for t in final)
    assert result.best.protocol == "full"  # the result is a training from scratch
    assert max(counts) <= 2 + 2 * 1 + 1  # the pool, a trial not told yet and a pending parent, the best


@pytest.mark.slow
def test_inheritance_is_identical_inline_and_on_two_workers(tmp_path):
    inline = _search(tmp_path, "inline", config={"max_in_flight": 2})
    pooled = _search(tmp_path, "pool", executor="process", num_workers=2, config={"max_in_flight": 2})
    assert _inheritance(inline) == _inheritance(pooled)
    children = [t for t in pooled.trials if not t.meta.get("final")][4:]  # after the population of 4
    assert len(children) >= 4 and all(t.metrics.get("inherited_fraction", 0) > 0 for t in children)


def test_an_evaluator_that_cannot_inherit_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="weight-inheritance"):
        nb201_search(tmp_path, "nb201", max_trials=2, weight_inheritance=True)
    assert not (tmp_path / "nb201").exists()
