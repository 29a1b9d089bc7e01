"""Architectures and search spaces: fingerprints, JSON, sampling, variation, levels."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snas import Architecture, Choice, IntRange, InvalidArchitecture, JointSpace, LayerList, SearchSpace
from snas.contracts.space import ConditionalChoice
from snas.runtime.plugins import get_plugin_manager

TOY = SearchSpace(
    family="toy",
    parameters=[
        IntRange("num_layers", 1, 6),
        LayerList("widths", Choice("width", (8, 16, 32, 64))),
        Choice("activation", ("relu", "elu")),
        Choice("use_bn", (False, True)),
        Choice("lr", (0.1, 0.01)),
    ],
    levels={1: {"num_layers": (1, 2), "widths": (8, 16), "use_bn": (False,)}, 2: {"num_layers": (1, 4)}},
)


def joint(level=3):
    manager = get_plugin_manager()
    return JointSpace({n: manager.get_family(n).space() for n in ("cnn", "mlp")}, max_level=level)


def test_fingerprint_is_stable_across_versions_and_key_order():
    a = Architecture("toy", {"num_layers": 2, "widths": [8, 16], "activation": "relu", "use_bn": False, "lr": 0.1})
    b = Architecture("toy", {"lr": 0.1, "use_bn": False, "activation": "relu", "widths": (8, 16), "num_layers": 2})
    assert a == b and hash(a) == hash(b)
    # the canonical encoding is part of the run-file format: it must never change silently
    assert a.canonical() == (
        '{"family":"toy","params":{"activation":"relu","lr":0.1,"num_layers":2,"use_bn":false,"widths":[8,16]}}'
    )
    assert a.fingerprint == hashlib.sha256(a.canonical().encode()).hexdigest()[:16] == "13265b14464f5014"


def test_fingerprint_separates_bool_from_int_and_values():
    base = {"num_layers": 1, "widths": [8], "activation": "relu", "lr": 0.1}
    assert Architecture("toy", {**base, "use_bn": True}).fingerprint != Architecture("toy", {**base, "use_bn": 1}).fingerprint
    assert Architecture("toy", {**base, "use_bn": True}).fingerprint != Architecture("t0y", {**base, "use_bn": True}).fingerprint


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), level=st.sampled_from([1, 2, 3]))
def test_json_round_trip_keeps_identity(seed, level):
    space = joint(level)
    arch = space.sample(np.random.default_rng(seed), level)
    again = Architecture.from_json(arch.to_json())
    assert again == arch and again.fingerprint == arch.fingerprint
    assert json.loads(arch.to_json())["family"] == arch.family


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), level=st.sampled_from([1, 2, 3]), rate=st.floats(0.0, 1.0))
def test_sample_mutate_crossover_stay_in_the_level(seed, level, rate):
    space = joint(level)
    rng = np.random.default_rng(seed)
    a, b = space.sample(rng), space.sample(rng)
    for arch in (a, b, space.mutate(a, rng, rate), space.crossover(a, b, rng)):
        space.validate(arch, level)
        if arch.family == "cnn":
            assert len(arch["filters"]) == arch["num_layers"] == len(arch["kernel_sizes"])
    assert space.mutate(a, rng, rate) != a


def test_level_restrictions_are_respected():
    rng = np.random.default_rng(0)
    level1 = TOY.at_level(1)
    for _ in range(200):
        arch = level1.sample(rng)
        assert arch["num_layers"] <= 2 and set(arch["widths"]) <= {8, 16} and arch["use_bn"] is False
    assert TOY.at_level(2).parameter("widths").item.values == (8, 16, 32, 64)
    assert TOY.at_level(None).parameter("num_layers").high == 6


def test_project_moves_an_architecture_into_a_level():
    big = Architecture("toy", {"num_layers": 6, "widths": [64] * 6, "activation": "elu", "use_bn": True, "lr": 0.01})
    small = TOY.at_level(1).project(big)
    TOY.at_level(1).validate(small)
    assert small["num_layers"] == 2 and small["widths"] == (16, 16) and small["activation"] == "elu"


def test_crossover_cuts_per_layer_lists_at_one_point():
    rng = np.random.default_rng(3)
    a = Architecture("toy", {"num_layers": 4, "widths": [8] * 4, "activation": "relu", "use_bn": False, "lr": 0.1})
    b = Architecture("toy", {"num_layers": 4, "widths": [64] * 4, "activation": "elu", "use_bn": True, "lr": 0.01})
    for _ in range(50):
        child = TOY.crossover(a, b, rng)
        widths = list(child["widths"])
        # single-point: a run of a's values followed by a run of b's values (fitted to the child's length)
        switches = sum(1 for x, y in zip(widths, widths[1:]) if x != y)
        assert switches <= 1
        TOY.validate(child)


def test_validate_names_the_parameter_and_the_allowed_values():
    bad = Architecture("toy", {"num_layers": 2, "widths": [8, 12], "activation": "relu", "use_bn": False, "lr": 0.1})
    with pytest.raises(InvalidArchitecture, match=r"'widths'.*\{8, 16, 32, 64\}"):
        TOY.validate(bad)
    with pytest.raises(InvalidArchitecture, match="missing parameters \\['lr'\\]"):
        TOY.validate(Architecture("toy", {"num_layers": 1, "widths": [8], "activation": "relu", "use_bn": False}))
    with pytest.raises(InvalidArchitecture, match="not valid JSON"):
        Architecture.from_json("{nope")


def test_encoding_has_a_fixed_length_and_separates_architectures():
    space = joint()
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(50)]
    codes = [space.encode(a) for a in archs]
    assert {c.shape for c in codes} == {(space.encoding_size,)}
    assert len({c.tobytes() for c in codes}) == len({a.fingerprint for a in archs})


def test_family_switch_is_rarer_than_parameter_mutation():
    space = joint(1)
    rng = np.random.default_rng(0)
    start = space.sample(rng)
    switches = sum(space.mutate(start, rng, rate=0.5).family != start.family for _ in range(2000))
    # family rate is 0.2 x 0.5 = 0.1
    assert 120 < switches < 290


def test_unavailable_level_is_a_clear_error():
    late = SearchSpace("late", [Choice("x", (1, 2))], min_level=3)
    with pytest.raises(InvalidArchitecture, match="starts at level 3"):
        late.at_level(1)
    with pytest.raises(InvalidArchitecture, match="available at complexity level 1"):
        JointSpace({"late": late}, max_level=1)


# -- conditional parameters -------------------------------------------------------

LR = ConditionalChoice("lr", on="opt", cases={"sgd": (0.1, 0.05, 0.01), "adam": (3e-3, 1e-3, 3e-4)})
TRAINED = SearchSpace(
    family="trained",
    parameters=[IntRange("num_layers", 1, 3), Choice("opt", ("sgd", "adam")), LR],
    levels={1: {"lr": (0.1, 0.05, 1e-3)}},
)


def test_a_conditional_value_is_always_drawn_from_its_parents_case():
    rng = np.random.default_rng(0)
    pairs = set()
    for _ in range(300):
        arch = TRAINED.sample(rng)
        TRAINED.validate(arch)
        assert arch["lr"] in dict(LR.cases)[arch["opt"]]
        pairs.add((arch["opt"], arch["lr"]))
    assert len(pairs) == 6  # every sensible pair, and only those


def test_a_value_outside_its_parents_case_is_invalid_and_named():
    with pytest.raises(InvalidArchitecture, match=r"'lr': 0.1 is not in \{0.003, 0.001, 0.0003\} \(opt='adam'"):
        TRAINED.validate(Architecture("trained", {"num_layers": 1, "opt": "adam", "lr": 0.1}))


@pytest.mark.parametrize("seed", range(5))
def test_mutation_and_crossover_keep_conditional_values_in_their_case(seed):
    rng = np.random.default_rng(seed)
    for level in (1, 3):
        space = TRAINED.at_level(level)
        a, b = space.sample(rng), space.sample(rng)
        for _ in range(40):
            a = space.mutate(a, rng, rate=0.5)
            b = space.mutate_parameter(b, "opt", rng)
            child = space.crossover(a, b, rng)
            for arch in (a, b, child):
                space.validate(arch)


def test_switching_the_parent_keeps_a_values_place_in_its_range():
    arch = Architecture("trained", {"num_layers": 2, "opt": "adam", "lr": 3e-4})
    assert TRAINED.project(arch.replace(opt="sgd"))["lr"] == 0.01  # smallest to smallest
    assert TRAINED.project(arch.replace(opt="sgd", lr=1e-3))["lr"] == 0.05  # middle to middle
    assert TRAINED.project(arch.replace(lr=0.2))["lr"] == 3e-3  # unknown value: the nearest allowed
    # a level restricts every case; projection into the level keeps the case
    assert TRAINED.at_level(1).project(arch)["lr"] == 1e-3


def test_conditional_parameters_encode_and_describe_over_all_cases():
    assert LR.values == (0.1, 0.05, 0.01, 3e-3, 1e-3, 3e-4)
    a = Architecture("trained", {"num_layers": 1, "opt": "adam", "lr": 1e-3})
    b = a.replace(opt="sgd", lr=0.05)
    assert TRAINED.encoding_size == 1 + 2 + 6
    assert TRAINED.encode(a).tolist()[3:] == [0, 0, 0, 0, 1, 0]
    assert not np.array_equal(TRAINED.encode(a), TRAINED.encode(b))
    row = {r["name"]: r for r in TRAINED.describe()}["lr"]
    assert row["kind"] == "ConditionalChoice"
    assert row["values"] == "opt='sgd': {0.1, 0.05, 0.01}; opt='adam': {0.003, 0.001, 0.0003}"
    assert TRAINED.describe_levels()[1]["lr"] == "opt='sgd': {0.1, 0.05}; opt='adam': {0.001}"


def test_a_conditional_parameter_needs_its_parent_first_and_every_case():
    with pytest.raises(ValueError, match="must be a Choice parameter declared before it"):
        SearchSpace("bad", [LR, Choice("opt", ("sgd", "adam"))])
    with pytest.raises(ValueError, match="no case for opt='adamw'"):
        SearchSpace("bad", [Choice("opt", ("sgd", "adam", "adamw")), LR])
    with pytest.raises(ValueError, match="leaves no value for opt='adam'"):
        LR.restrict((0.1,))
