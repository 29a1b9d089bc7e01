"""ENAS: shared weights really shared, controller learning, deterministic phase and exact resume, end to end."""

from __future__ import annotations

import snas

import json

import numpy as np
import pytest
import torch

from snas import Architecture, JointSpace, Trial
from snas.runtime.config import make_options


def _cnn_space(manager, level=1):
    from snas_plugins.strategies.supernet import capped_space

    return capped_space(manager.get_family("cnn").space().at_level(level), 3, 64)


def _cnn(filters, kernels, **extra):
    params = {"num_layers": len(filters), "filters": tuple(filters), "kernel_sizes": tuple(kernels),
              "activation": "relu", "skip_connections": False, "use_batch_norm": False, "dropout": 0.0,
              "learning_rate": 0.001, "optimizer": "adam", **extra}
    return Architecture("cnn", params)


def test_two_paths_with_the_same_choice_read_the_same_tensor(manager):
    from snas_plugins.strategies.supernet import CNNSupernet

    net = CNNSupernet(_cnn_space(manager), (1, 8, 8), 10)
    a = dict(net.path(_cnn([32, 64], [3, 5])))
    b = dict(net.path(_cnn([16, 64], [3, 3])))
    c = dict(net.path(_cnn([32], [5])))
    # layer 0, kernel 3: a and b slice the same parameter (same storage, same first element)
    assert a["conv0_k3"].data_ptr() == b["conv0_k3"].data_ptr()
    assert a["conv0_k3"].untyped_storage().data_ptr() == net.weights["conv0_k3"].untyped_storage().data_ptr()
    # another kernel size is another tensor
    assert c["conv0_k5"].untyped_storage().data_ptr() != a["conv0_k3"].untyped_storage().data_ptr()


@pytest.mark.slow
def test_training_one_path_changes_what_another_path_reads(manager, digits):
    from snas_plugins.strategies.supernet import SharedWeights

    spaces = {"cnn": _cnn_space(manager)}
    shared = SharedWeights(spaces, digits.input_shape, digits.num_classes, torch.device("cpu"))
    net = shared.nets["cnn"]
    a, b, other = _cnn([32, 64], [3, 5]), _cnn([16, 32], [3, 3]), _cnn([32], [7])
    read_b = dict(net.path(b))["conv0_k3"].detach().clone()
    read_other = dict(net.path(other))["conv0_k7"].detach().clone()
    xb, yb = next(iter(digits.train.batches(32)))
    shared.train_step(a, xb, yb)
    assert not torch.equal(dict(net.path(b))["conv0_k3"], read_b)  # b shares a's layer-0 3x3 conv
    assert torch.equal(dict(net.path(other))["conv0_k7"], read_other)  # a never touched the 7x7 conv


def test_mlp_supernet_slices_shared_linear_layers(manager):
    from snas_plugins.strategies.supernet import MLPSupernet, capped_space

    space = capped_space(manager.get_family("mlp").space().at_level(1), 3, 64)
    net = MLPSupernet(space, (1, 8, 8), 10)
    params = {"num_layers": 2, "activation": "relu", "use_batch_norm": True, "dropout": 0.0,
              "learning_rate": 0.001, "optimizer": "adam"}
    a = dict(net.path(Architecture("mlp", {**params, "hidden_units": (64, 32)})))
    b = dict(net.path(Architecture("mlp", {**params, "hidden_units": (32, 32)})))
    assert a["linear0"].data_ptr() == b["linear0"].data_ptr()
    assert net(torch.zeros(4, 1, 8, 8), Architecture("mlp", {**params, "hidden_units": (64, 32)})).shape == (4, 10)


def test_controller_update_changes_its_sampling_distribution(manager):
    from snas_plugins.strategies.supernet import Controller, Reinforce

    torch.manual_seed(0)
    space = _cnn_space(manager)
    controller = Controller({"cnn": space})
    reinforce = Reinforce(controller, lr=0.05, entropy_weight=0.0)
    gen = torch.Generator().manual_seed(0)
    before = controller.first_distribution().clone()
    # reward architectures with 3 layers: the first decision is num_layers (values 1..3)
    for _ in range(30):
        arch, log_prob, entropy, _ = controller.sample(gen)
        assert space.is_valid(arch)
        reinforce.update(log_prob, entropy, 1.0 if arch["num_layers"] == 3 else 0.0)
    after = controller.first_distribution()
    assert after[2] > before[2] + 0.1
    assert torch.isclose(after.sum(), torch.tensor(1.0))


def _enas(manager, seed=0, **opts):
    cls = manager.get_strategy("enas")
    space = JointSpace({"cnn": manager.get_family("cnn").space()}, max_level=1)
    defaults = {"shared_epochs": 1, "controller_steps": 3, "controller_sample_count": 6, "final_count": 3,
                "supernet_max_layers": 2, "supernet_max_width": 32}
    return cls(space, make_options(cls.Options, {**defaults, **opts}, "enas"), np.random.default_rng(seed))


def test_enas_phase_is_deterministic_and_state_round_trips(manager, digits):
    a, b = _enas(manager, batch_size=3), _enas(manager, batch_size=3)
    for s in (a, b):
        s.setup(snas.StrategyContext(digits, torch.device("cpu")))
    pa, pb = a.ask_batch(), b.ask_batch()
    # a resumed run that reruns the phase gets the same ranking
    assert [p.arch for p in pa] == [p.arch for p in pb] and len(pa) == 3
    assert [p.meta["shared_accuracy"] for p in pa] == sorted((p.meta["shared_accuracy"] for p in pa), reverse=True)
    assert a.progress()["paths_trained"] > 0 and a.progress()["shared_phase_seconds"] > 0
    state = json.loads(json.dumps(a.state_dict()))
    c = _enas(manager, seed=5, batch_size=3)
    c.load_state_dict(state)
    trials = [Trial(i, p.arch, "ok", 0.5 + 0.1 * i, duration=2.0, meta=dict(p.meta)) for i, p in enumerate(pa)]
    a.tell_batch(trials)
    c.tell_batch(trials)
    assert a.ask_batch() == [] and c.ask_batch() == []  # final_count=3 proposed: finished
    assert a.progress() == c.progress()
    assert a.progress()["scratch_seconds_for_ranked"] == pytest.approx(2.0 * a.progress()["architectures_ranked"])


def test_enas_proposes_one_ranked_architecture_per_batch(manager, digits):
    strategy = _enas(manager, final_count=2)
    strategy.setup(snas.StrategyContext(digits, torch.device("cpu")))
    first = strategy.ask_batch()
    strategy.tell_batch([Trial(0, first[0].arch, "ok", 0.7, duration=1.0, meta=dict(first[0].meta))])
    assert strategy.progress()["trained_from_scratch"] == 1  # recorded even if the budget ends here
    second = strategy.ask_batch()
    assert [p.meta["rank"] for p in first + second] == [0, 1]
    strategy.tell_batch([Trial(1, second[0].arch, "ok", 0.6, duration=1.0, meta=dict(second[0].meta))])
    assert strategy.ask_batch() == []


def test_enas_without_a_supernet_family_says_so(manager, digits):
    from snas import ConfigError

    cls = manager.get_strategy("enas")
    space = JointSpace({"nb201": manager.get_family("nb201").space()}, max_level=1)
    strategy = cls(space, cls.Options(), np.random.default_rng(0))
    strategy.setup(snas.StrategyContext(digits, torch.device("cpu")))
    with pytest.raises(ConfigError, match="supernet"):
        strategy.ask_batch()


@pytest.mark.slow
def test_enas_end_to_end_on_digits(tmp_path):
    import snas

    result = snas.search(strategy="enas", max_trials=2, network_types=["cnn"], run_dir=tmp_path / "run",
                         evaluator_options={"max_epochs": 1},
                         strategy_options={"shared_epochs": 1, "controller_steps": 3, "controller_sample_count": 5,
                                           "supernet_max_width": 32})
    assert len(result.trials) == 2 and result.best.score > 0.1
    progress = snas.load_run(tmp_path / "run").generations[0]["progress"]
    assert progress["shared_phase_seconds"] > 0 and progress["shared_vs_scratch_ratio"] > 0
