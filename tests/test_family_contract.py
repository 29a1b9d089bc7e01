"""The contract every registered network family must meet (third-party ones too).

For each complexity level and each supported input shape, sampled
architectures build, run forward and backward, give logits of the right
shape, and survive mutation and crossover with valid results.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snas import COMPLEXITY_LEVELS, JointSpace
from snas.runtime.plugins import get_plugin_manager

FAMILIES = sorted(get_plugin_manager().components("family"))
#: (family, level) for every level at which the family takes part in a search
FAMILY_LEVELS = [
    (name, level)
    for name in FAMILIES
    for level in COMPLEXITY_LEVELS
    if get_plugin_manager().get_family(name).space().available_at(level)
]
INPUT_SHAPES = [(1, 8, 8), (3, 28, 28), (1, 32, 32), (3, 64, 64), (3, 96, 96)]
SAMPLES = 50
BUILTIN_FAMILIES = ("cnn", "densenet", "efficientnet", "enhanced_mlp", "mlp", "mlp_mixer", "mobilenet", "nb201",
                    "resnet", "shufflenetv2", "vit")


def _forward_backward(model: torch.nn.Module, shape: tuple[int, int, int], classes: int) -> None:
    model.train()
    x = torch.randn(2, *shape)
    logits = model(x)
    assert logits.shape == (2, classes)
    logits.float().sum().backward()


@pytest.mark.slow
@pytest.mark.parametrize("family, level", FAMILY_LEVELS)
def test_sampled_architectures_build_and_train(family, level, manager):
    fam = manager.get_family(family)
    space = fam.space().at_level(level)
    rng = np.random.default_rng(level)
    for i in range(SAMPLES):
        arch = space.sample(rng)
        space.validate(arch)
        shape = INPUT_SHAPES[i % len(INPUT_SHAPES)]
        # the largest networks of the full space are too slow to run 50 times on a CPU:
        # build every sample, run the forward/backward pass on the smallest input
        classes = 2 + i % 9
        model = fam.build(arch, shape, classes)
        small = (shape[0], 8, 8) if level == 3 and i % 5 else shape
        if small != shape:
            model = fam.build(arch, small, classes)
        _forward_backward(model, small, classes)


#: the families that declare a starting point (every built-in one but NAS-Bench-201's cells)
STARTING = [name for name in FAMILIES if get_plugin_manager().get_family(name).space().starting_point is not None]


def test_every_builtin_searchable_family_declares_a_starting_point():
    assert set(FAMILIES) - set(STARTING) == {"nb201"} | (set(FAMILIES) - set(BUILTIN_FAMILIES))


@pytest.mark.parametrize("family", STARTING)
def test_a_starting_point_builds_and_trains_on_every_input_shape(family, manager):
    fam = manager.get_family(family)
    space = fam.space()
    arch = space.at_level(space.min_level).start()
    assert arch is not None
    for shape in INPUT_SHAPES[:3]:
        _forward_backward(fam.build(arch, shape, 10), shape, 10)


@pytest.mark.parametrize("family, level", FAMILY_LEVELS)
def test_mutation_and_crossover_stay_valid(family, level, manager):
    space = manager.get_family(family).space()
    joint = JointSpace({family: space}, max_level=level)
    rng = np.random.default_rng(0)
    for _ in range(SAMPLES):
        a, b = joint.sample(rng), joint.sample(rng)
        child = joint.crossover(a, b, rng)
        mutant = joint.mutate(a, rng, rate=0.3)
        joint.validate(child)
        joint.validate(mutant)
        assert mutant != a
        assert joint.encode(child).shape == (joint.encoding_size,)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_parameter_changes_the_network(family, manager):
    """A parameter that is sampled but ignored by build() is a defect."""
    fam = manager.get_family(family)
    space = fam.space()
    rng = np.random.default_rng(1)
    shape = (3, 32, 32)
    # training-only parameters change how the network is trained, not its modules
    training_only = {"learning_rate", "optimizer"}
    for param in space.parameters:
        if param.name in training_only:
            continue
        changed = False
        for _ in range(20):
            arch = space.at_level(None).sample(rng)
            other = space.project(space.mutate_parameter(arch, param.name, rng), rng)
            if other == arch:
                continue
            torch.manual_seed(0)
            m1 = fam.build(arch, shape, 10)
            torch.manual_seed(0)
            m2 = fam.build(other, shape, 10)
            if repr(m1) != repr(m2) or _state_differs(m1, m2):
                changed = True
                break
        assert changed, f"{family}: changing {param.name!r} never changed the built network"


def _state_differs(m1: torch.nn.Module, m2: torch.nn.Module) -> bool:
    s1, s2 = m1.state_dict(), m2.state_dict()
    if s1.keys() != s2.keys():
        return True
    return any(s1[k].shape != s2[k].shape or not torch.equal(s1[k], s2[k]) for k in s1)
