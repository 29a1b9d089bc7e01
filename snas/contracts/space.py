"""Architectures and the search-space description that families declare.

A network family describes its space as data: a tuple of parameters
(:class:`Choice`, :class:`IntRange`, :class:`LayerList`,
:class:`ConditionalChoice`) plus, per complexity
level, the restricted values allowed at that level. From that description the
kernel derives everything a strategy needs — sampling, mutation, crossover,
validation, projection into a level and a numeric encoding — so no family
writes that code itself.
"""

from __future__ import annotations

import hashlib
import json
import types
from typing import Any, Iterable, Mapping, Sequence

import attrs
import cattrs
import numpy as np

from snas.contracts.errors import InvalidArchitecture

#: The complexity levels a space can be asked for; the last one is the full space.
COMPLEXITY_LEVELS = (1, 2, 3)
MAX_LEVEL = COMPLEXITY_LEVELS[-1]


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _freeze_params(params: Mapping[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType({str(k): _freeze(params[k]) for k in sorted(params)})


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


@attrs.define(frozen=True, eq=False, repr=False)
class Architecture:
    """One point of a search space: a family name and its parameter values.

    Architectures are immutable and compare and hash by their
    :attr:`fingerprint`, so two architectures with the same family and values
    are the same trial everywhere (cache, store, de-duplication).
    """

    family: str
    params: Mapping[str, Any] = attrs.field(converter=_freeze_params, factory=dict)
    _memo: dict = attrs.field(init=False, factory=dict, repr=False)  # canonical form and fingerprint, once

    def canonical(self) -> str:
        """The canonical JSON encoding: sorted keys, no whitespace, lists for tuples."""
        text = self._memo.get("canonical")
        if text is None:
            payload = {"family": self.family, "params": {k: _jsonable(v) for k, v in self.params.items()}}
            text = self._memo["canonical"] = json.dumps(payload, sort_keys=True, separators=(",", ":"),
                                                        allow_nan=False)
        return text

    @property
    def fingerprint(self) -> str:
        """A stable 16-hex-digit hash of :meth:`canonical`, the same on every machine."""
        fp = self._memo.get("fingerprint")
        if fp is None:
            fp = self._memo["fingerprint"] = hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()[:16]
        return fp

    def replace(self, **changes: Any) -> "Architecture":
        """A copy with some parameters changed."""
        return Architecture(self.family, {**self.params, **changes})

    def to_dict(self) -> dict[str, Any]:
        """``{"family": ..., "params": {...}}`` with lists for per-layer values: JSON-able."""
        return converter.unstructure(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Architecture":
        """The inverse of :meth:`to_dict`; a clear :class:`InvalidArchitecture` for bad input."""
        return converter.structure(data, cls)

    def to_json(self, indent: int | None = 2) -> str:
        """This architecture as JSON (the form ``best_architecture.json`` holds)."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Architecture":
        """Read an architecture written by :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArchitecture(f"architecture JSON is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    def __reduce__(self) -> tuple:
        # lets worker processes receive architectures (the params mapping is read-only)
        return (Architecture, (self.family, dict(self.params)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Architecture):
            return NotImplemented
        return self.canonical() == other.canonical()

    def __hash__(self) -> int:
        return hash(self.canonical())

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Architecture({self.family!r}, {inner})"


converter = cattrs.Converter()


def _unstructure_architecture(arch: Architecture) -> dict:
    return {"family": arch.family, "params": {k: _jsonable(v) for k, v in arch.params.items()}}


def _structure_architecture(data: Any, _type: type) -> Architecture:
    if not isinstance(data, Mapping) or "family" not in data:
        raise InvalidArchitecture(
            "architecture JSON must be an object with keys 'family' and 'params', "
            f"got {type(data).__name__}"
        )
    params = data.get("params", {})
    if not isinstance(params, Mapping):
        raise InvalidArchitecture("architecture JSON: 'params' must be an object")
    return Architecture(str(data["family"]), dict(params))


converter.register_unstructure_hook(Architecture, _unstructure_architecture)
converter.register_structure_hook(Architecture, _structure_architecture)


# --------------------------------------------------------------------------
# parameter types


def _rng_choice(rng: np.random.Generator, values: Sequence[Any]) -> Any:
    return values[int(rng.integers(len(values)))]


@attrs.frozen
class Choice:
    """A categorical parameter: one of ``values`` (ints, floats, strings, bools)."""

    name: str
    values: tuple = attrs.field(converter=tuple)
    doc: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"parameter {self.name!r}: a Choice needs at least one value")

    def restrict(self, allowed: Iterable[Any]) -> "Choice":
        """The same parameter limited to ``allowed`` (kept in declaration order)."""
        allowed = tuple(allowed)
        kept = tuple(v for v in self.values if v in allowed)
        if not kept:
            raise ValueError(f"parameter {self.name!r}: restriction {allowed!r} leaves no value")
        return attrs.evolve(self, values=kept)

    def contains(self, value: Any) -> bool:
        return any(_same(value, v) for v in self.values)

    def sample(self, rng: np.random.Generator) -> Any:
        return _rng_choice(rng, self.values)

    def mutate(self, value: Any, rng: np.random.Generator) -> Any:
        others = [v for v in self.values if not _same(v, value)]
        return _rng_choice(rng, others) if others else value

    def project(self, value: Any) -> Any:
        """The allowed value nearest to ``value`` (numeric distance, else the first)."""
        if self.contains(value):
            return value
        if _is_number(value) and all(_is_number(v) for v in self.values):
            return min(self.values, key=lambda v: abs(v - value))
        return self.values[0]

    @property
    def encoding_size(self) -> int:
        return len(self.values)

    def encode(self, value: Any) -> list[float]:
        return [1.0 if _same(value, v) else 0.0 for v in self.values]

    def describe(self) -> str:
        return "{" + ", ".join(map(repr, self.values)) + "}"


@attrs.frozen
class IntRange:
    """An integer parameter in ``[low, high]`` (both ends included)."""

    name: str
    low: int
    high: int
    doc: str = ""

    def __attrs_post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"parameter {self.name!r}: low {self.low} > high {self.high}")

    def restrict(self, bounds: Sequence[int]) -> "IntRange":
        """The same parameter limited to ``(low, high)``, intersected with its range."""
        low, high = max(self.low, int(bounds[0])), min(self.high, int(bounds[1]))
        if low > high:
            raise ValueError(f"parameter {self.name!r}: restriction {tuple(bounds)} leaves no value")
        return attrs.evolve(self, low=low, high=high)

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and self.low <= value <= self.high

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high + 1))

    def mutate(self, value: int, rng: np.random.Generator) -> int:
        if self.low == self.high:
            return self.low
        if rng.random() < 0.5:  # a local step keeps most of the structure
            step = int(rng.choice([-1, 1]))
            new = min(self.high, max(self.low, int(value) + step))
            if new != value:
                return new
        new = int(rng.integers(self.low, self.high))
        return new + 1 if new >= value else new

    def project(self, value: Any) -> int:
        return int(min(self.high, max(self.low, round(value))))

    @property
    def encoding_size(self) -> int:
        return 1

    def encode(self, value: int) -> list[float]:
        span = self.high - self.low
        return [0.0 if span == 0 else (int(value) - self.low) / span]

    def describe(self) -> str:
        return f"[{self.low}, {self.high}]"


def _case_items(cases: Any) -> tuple:
    items = cases.items() if isinstance(cases, Mapping) else cases
    return tuple((_freeze(key), tuple(_freeze(v) for v in values)) for key, values in items)


def _union(cases: tuple) -> tuple:
    out: list[Any] = []
    for _key, values in cases:
        out += [v for v in values if not any(_same(v, o) for o in out)]
    return tuple(out)


@attrs.frozen(init=False)
class ConditionalChoice(Choice):
    """A categorical parameter whose allowed values depend on another parameter's value.

    ``on`` names a :class:`Choice` declared before it; ``cases`` maps each of
    that parameter's values to the values allowed with it, for example the
    learning rates that suit each optimizer::

        ConditionalChoice("learning_rate", on="optimizer",
                          cases={"sgd": (0.1, 0.05, 0.02), "adam": (3e-3, 1e-3, 3e-4)})

    :class:`SearchSpace` samples, mutates, projects and validates it within
    the case its parent selects. Seen on its own it is a :class:`Choice` over
    the union of all cases (``values``), which is also what :meth:`encode`
    one-hot encodes, so strategies that treat it as a plain choice still work.
    Projection into another case keeps a value's place in its range: the
    smallest learning rate of one optimizer becomes the smallest of the other.
    """

    on: str = ""
    cases: tuple = ()

    def __init__(self, name: str, on: str, cases: Mapping[Any, Sequence[Any]] | Sequence[tuple], doc: str = ""):
        items = _case_items(cases)
        if not items:
            raise ValueError(f"parameter {name!r}: a ConditionalChoice needs at least one case")
        for key, values in items:
            if not values:
                raise ValueError(f"parameter {name!r}: case {on}={key!r} allows no value")
        self.__attrs_init__(name, _union(items), doc, on, items)

    def case(self, parent_value: Any) -> Choice:
        """The plain :class:`Choice` of the values allowed when ``on`` has ``parent_value``.

        An unknown parent value gives the union of all cases.
        """
        for key, values in self.cases:
            if _same(key, parent_value):
                return Choice(self.name, values, self.doc)
        return Choice(self.name, self.values, self.doc)

    def given(self, params: Mapping[str, Any]) -> Choice:
        """The case selected by the parent's value in ``params``."""
        return self.case(params.get(self.on))

    def restrict(self, allowed: Any) -> "ConditionalChoice":
        """Every case limited to ``allowed``; a mapping restricts case by case.

        A case left without a value is an error.
        """
        out = []
        for key, values in self.cases:
            keep = allowed.get(key, values) if isinstance(allowed, Mapping) else allowed
            kept = tuple(v for v in values if any(_same(v, a) for a in keep))
            if not kept:
                raise ValueError(f"parameter {self.name!r}: restriction {keep!r} leaves no value for {self.on}={key!r}")
            out.append((key, kept))
        return ConditionalChoice(self.name, self.on, out, self.doc)

    def project_into(self, value: Any, parent_value: Any) -> Any:
        """The value of the parent's case that takes the place of ``value``.

        A value of the case is kept. A value of another case moves to the
        same relative position in this case (first to first, last to last);
        any other value goes to the nearest allowed one.
        """
        target = self.case(parent_value)
        if target.contains(value):
            return value
        for _key, values in self.cases:
            index = next((i for i, v in enumerate(values) if _same(v, value)), None)
            if index is not None:
                position = index / (len(values) - 1) if len(values) > 1 else 0.0
                return target.values[int(round(position * (len(target.values) - 1)))]
        return target.project(value)

    def describe(self) -> str:
        return "; ".join(f"{self.on}={key!r}: {{{', '.join(map(repr, values))}}}" for key, values in self.cases)


ScalarParam = Choice | IntRange


@attrs.frozen
class LayerList:
    """A value per layer: a tuple whose length is the value of another parameter.

    ``length`` names the integer parameter that sets the length (usually
    ``num_layers``) or is a fixed int. Each element is drawn from ``item``.
    """

    name: str
    item: ScalarParam
    length: str | int = "num_layers"
    doc: str = ""

    def restrict(self, allowed: Any) -> "LayerList":
        return attrs.evolve(self, item=self.item.restrict(allowed))

    def contains(self, value: Any) -> bool:
        return isinstance(value, tuple) and all(self.item.contains(v) for v in value)

    def sample(self, rng: np.random.Generator, n: int) -> tuple:
        return tuple(self.item.sample(rng) for _ in range(n))

    def project(self, value: Sequence[Any], n: int, rng: np.random.Generator | None = None) -> tuple:
        """Project each element into the item, then cut or extend to length ``n``.

        Extension repeats the last element, so a projected network keeps its shape.
        """
        items = [self.item.project(v) for v in value]
        if len(items) >= n:
            return tuple(items[:n])
        filler = items[-1] if items else (self.item.sample(rng) if rng is not None else _first(self.item))
        return tuple(items + [filler] * (n - len(items)))

    def describe(self) -> str:
        return f"per layer ({self.length}): {self.item.describe()}"


def _first(param: ScalarParam) -> Any:
    return param.values[0] if isinstance(param, Choice) else param.low


Parameter = Choice | IntRange | LayerList | ConditionalChoice


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python, but a bool choice and an int choice are different values.
    return type(a) is type(b) and a == b or (
        _is_number(a) and _is_number(b) and not isinstance(a, bool) and not isinstance(b, bool) and a == b
    )


# --------------------------------------------------------------------------
# one family's space


@attrs.frozen
class SearchSpace:
    """The space of one network family, optionally restricted to a complexity level.

    ``levels`` maps a level to restrictions: ``{param name: allowed values}``
    for a :class:`Choice` or a per-layer Choice, ``(low, high)`` for an
    :class:`IntRange`. A level with no entry is unrestricted. ``min_level`` is
    the lowest level at which the family is offered at all.

    ``starting_point`` is a well-tried architecture of the family (its
    parameter values, inside the ``min_level`` restrictions): strategies with
    an initial design propose it before their random samples, as Optuna's
    ``enqueue_trial`` or SMAC's default configuration do, so a short search
    has one sound network among its first results.
    """

    family: str
    parameters: tuple = attrs.field(converter=tuple)
    levels: Mapping[int, Mapping[str, Any]] = attrs.field(factory=dict)
    min_level: int = 1
    level: int = MAX_LEVEL
    declared: "SearchSpace | None" = attrs.field(default=None, eq=False, repr=False)
    starting_point: Mapping[str, Any] | None = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError(f"family {self.family!r}: duplicate parameter names in {names}")
        by_name = {p.name: p for p in self.parameters}
        for p in self.parameters:
            if isinstance(p, LayerList) and isinstance(p.length, str):
                if not isinstance(by_name.get(p.length), IntRange):
                    raise ValueError(
                        f"family {self.family!r}: {p.name!r} takes its length from {p.length!r}, "
                        "which must be an IntRange parameter declared before it"
                    )
                if names.index(p.length) > names.index(p.name):
                    raise ValueError(f"family {self.family!r}: declare {p.length!r} before {p.name!r}")
            if isinstance(p, ConditionalChoice):
                parent = by_name.get(p.on)
                if not isinstance(parent, Choice) or names.index(p.on) > names.index(p.name):
                    raise ValueError(
                        f"family {self.family!r}: {p.name!r} depends on {p.on!r}, "
                        "which must be a Choice parameter declared before it"
                    )
                missing = [v for v in parent.values if not any(_same(v, key) for key, _ in p.cases)]
                if missing:
                    raise ValueError(f"family {self.family!r}: {p.name!r} has no case for {p.on}={missing[0]!r}")
        for lvl, restrictions in self.levels.items():
            for name in restrictions:
                if name not in by_name:
                    raise ValueError(f"family {self.family!r}: level {lvl} restricts unknown parameter {name!r}")
        if self.starting_point is not None and self.declared is None:
            try:
                self.at_level(self.min_level).validate(Architecture(self.family, self.starting_point))
            except InvalidArchitecture as exc:
                raise ValueError(f"family {self.family!r}: its starting point does not fit its lowest level: "
                                 f"{exc}") from None

    # -- structure --------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def parameter(self, name: str) -> Parameter:
        """The parameter called ``name``."""
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"family {self.family!r} has no parameter {name!r}; it has {self.names}")

    def available_at(self, level: int) -> bool:
        """Whether the family takes part in a search at ``level``."""
        return level >= self.min_level

    @property
    def full(self) -> "SearchSpace":
        """The declared space, without any level restriction."""
        return self.declared if self.declared is not None else self

    def at_level(self, level: int | None) -> "SearchSpace":
        """This space restricted to complexity ``level`` (``None`` means the full space)."""
        full = self.full
        if level is None:
            return full
        if level not in COMPLEXITY_LEVELS:
            raise InvalidArchitecture(f"complexity level must be one of {COMPLEXITY_LEVELS}, got {level}")
        if not full.available_at(level):
            raise InvalidArchitecture(
                f"family {self.family!r} is not available at complexity level {level} "
                f"(it starts at level {full.min_level})"
            )
        restrictions = full.levels.get(level, {})
        params = tuple(p.restrict(restrictions[p.name]) if p.name in restrictions else p for p in full.parameters)
        return attrs.evolve(full, parameters=params, level=level, declared=full)

    def start(self) -> Architecture | None:
        """The family's :attr:`starting_point` if it lies inside this space's level, else ``None``."""
        if self.starting_point is None:
            return None
        arch = Architecture(self.family, self.starting_point)
        return arch if self.is_valid(arch) else None

    def _length(self, p: LayerList, values: Mapping[str, Any]) -> int:
        return int(values[p.length]) if isinstance(p.length, str) else int(p.length)

    @staticmethod
    def _scalar(p: ScalarParam, values: Mapping[str, Any]) -> ScalarParam:
        """``p`` itself, or for a conditional parameter the case its parent's value in ``values`` selects."""
        return p.given(values) if isinstance(p, ConditionalChoice) else p

    # -- operations -------------------------------------------------------

    def sample(self, rng: np.random.Generator) -> Architecture:
        """A uniformly random architecture of this (possibly restricted) space."""
        values: dict[str, Any] = {}
        for p in self.parameters:
            if isinstance(p, LayerList):
                values[p.name] = p.sample(rng, self._length(p, values))
            else:
                values[p.name] = self._scalar(p, values).sample(rng)
        return Architecture(self.family, values)

    def validate(self, arch: Architecture) -> None:
        """Raise :class:`InvalidArchitecture` naming the first parameter that does not fit."""
        if arch.family != self.family:
            raise InvalidArchitecture(f"architecture is of family {arch.family!r}, space is {self.family!r}")
        missing = [n for n in self.names if n not in arch.params]
        extra = [n for n in arch.params if n not in self.names]
        if missing or extra:
            raise InvalidArchitecture(
                f"{self.family} architecture: missing parameters {missing}, unknown parameters {extra}"
                if missing and extra
                else f"{self.family} architecture: "
                + (f"missing parameters {missing}" if missing else f"unknown parameters {extra}")
            )
        for p in self.parameters:
            value = arch.params[p.name]
            if isinstance(p, LayerList):
                n = self._length(p, arch.params)
                if not isinstance(value, tuple) or len(value) != n:
                    raise InvalidArchitecture(
                        f"{self.family} parameter {p.name!r}: expected a list of {n} values, got {_jsonable(value)!r}"
                    )
            allowed = p if isinstance(p, LayerList) else self._scalar(p, arch.params)
            if not allowed.contains(value):
                where = f"{p.on}={arch.params[p.on]!r}, " if isinstance(p, ConditionalChoice) else ""
                raise InvalidArchitecture(
                    f"{self.family} parameter {p.name!r}: {_jsonable(value)!r} is not in "
                    f"{allowed.describe()} ({where}complexity level {self.level})"
                )

    def is_valid(self, arch: Architecture) -> bool:
        try:
            self.validate(arch)
        except InvalidArchitecture:
            return False
        return True

    def project(self, arch: Architecture, rng: np.random.Generator | None = None) -> Architecture:
        """The nearest architecture of this space: each value clamped into what is allowed.

        Used to move an architecture between complexity levels and to repair
        the children of crossover. Missing parameters are sampled (or take the
        first allowed value when no ``rng`` is given).
        """
        values: dict[str, Any] = {}
        for p in self.parameters:
            if isinstance(p, LayerList):
                n = self._length(p, values)
                current = arch.params.get(p.name)
                values[p.name] = (
                    p.project(current, n, rng) if isinstance(current, tuple) else p.project((), n, rng)
                )
            elif p.name in arch.params:
                if isinstance(p, ConditionalChoice):
                    values[p.name] = p.project_into(arch.params[p.name], values[p.on])
                else:
                    values[p.name] = p.project(arch.params[p.name])
            else:
                case = self._scalar(p, values)
                values[p.name] = case.sample(rng) if rng is not None else _first(case)
        return Architecture(self.family, values)

    def mutate(self, arch: Architecture, rng: np.random.Generator, rate: float = 0.2) -> Architecture:
        """Change each parameter (and each per-layer element) with probability ``rate``.

        At least one value always changes when the space allows it, so a
        mutation never silently returns its parent.
        """
        arch = self.project(arch, rng)
        for _attempt in range(10):
            values = dict(arch.params)
            for p in self.parameters:
                if isinstance(p, LayerList):
                    n = self._length(p, values)
                    old = p.project(values[p.name], n, rng)
                    values[p.name] = tuple(p.item.mutate(v, rng) if rng.random() < rate else v for v in old)
                elif rng.random() < rate:
                    values[p.name] = self._scalar(p, values).mutate(values[p.name], rng)
            child = self.project(Architecture(self.family, values), rng)
            if child != arch:
                return child
            rate = max(rate, 1.0 / max(1, len(self.parameters)))
        mutable = [p for p in self.parameters if _cardinality(p) > 1]
        if not mutable:
            return arch
        return self.mutate_parameter(arch, _rng_choice(rng, mutable).name, rng)

    def mutate_parameter(self, arch: Architecture, name: str, rng: np.random.Generator) -> Architecture:
        """``arch`` with only parameter ``name`` changed (one element, for a per-layer list).

        Changing a length parameter (``num_layers``) cuts or extends the lists
        that follow it. Returns ``arch`` unchanged when the parameter has a
        single allowed value.
        """
        p = self.parameter(name)
        arch = self.project(arch, rng)
        values = dict(arch.params)
        if isinstance(p, LayerList):
            old = list(values[name])
            if not old:
                return arch
            i = int(rng.integers(len(old)))
            old[i] = p.item.mutate(old[i], rng)
            values[name] = tuple(old)
        else:
            values[name] = self._scalar(p, values).mutate(values[name], rng)
        return self.project(Architecture(self.family, values), rng)

    def crossover(self, a: Architecture, b: Architecture, rng: np.random.Generator) -> Architecture:
        """A child of two parents of this family.

        Scalar parameters are taken from either parent with equal chance;
        per-layer lists are cut at one point (single-point crossover), then
        fitted to the child's layer count.
        """
        a, b = self.project(a, rng), self.project(b, rng)
        values: dict[str, Any] = {}
        for p in self.parameters:
            if isinstance(p, LayerList):
                la, lb = a.params[p.name], b.params[p.name]
                longest = max(len(la), len(lb))
                cut = int(rng.integers(0, longest + 1))
                merged = list(la[:cut]) + list(lb[cut:])
                if len(merged) < longest:  # the cut lay past the end of b
                    merged += list(la[len(merged):])
                values[p.name] = p.project(merged, self._length(p, values), rng)
            else:
                values[p.name] = a.params[p.name] if rng.random() < 0.5 else b.params[p.name]
        return self.project(Architecture(self.family, values), rng)

    # -- encoding ---------------------------------------------------------

    def _max_length(self, p: LayerList) -> int:
        if isinstance(p.length, int):
            return p.length
        return self.full.parameter(p.length).high  # type: ignore[union-attr]

    @property
    def encoding_size(self) -> int:
        """Length of :meth:`encode`'s vector; fixed for the family at every level."""
        full = self.full
        size = 0
        for p in full.parameters:
            if isinstance(p, LayerList):
                size += full._max_length(p) * (p.item.encoding_size + 1)
            else:
                size += p.encoding_size
        return size

    def encode(self, arch: Architecture) -> np.ndarray:
        """A fixed-length float vector for surrogate models.

        One-hot for choices, ``(v - low) / (high - low)`` for integers; per-layer
        lists are padded to the longest possible list, each slot with a
        presence flag. Always encoded against the declared (full) space.
        """
        full = self.full
        out: list[float] = []
        for p in full.parameters:
            value = arch.params[p.name]
            if isinstance(p, LayerList):
                width = p.item.encoding_size
                for i in range(full._max_length(p)):
                    out += [1.0] + p.item.encode(value[i]) if i < len(value) else [0.0] * (width + 1)
            else:
                out += p.encode(value)
        return np.asarray(out, dtype=np.float32)

    def describe_levels(self) -> dict[int, dict[str, str]]:
        """``{level: {parameter: allowed values}}`` for every level the family takes part in."""
        full = self.full
        return {
            level: {row["name"]: row["values"] for row in full.at_level(level).describe()}
            for level in COMPLEXITY_LEVELS
            if full.available_at(level)
        }

    def describe(self) -> list[dict[str, Any]]:
        """A row per parameter: name, kind, allowed values at this level, doc."""
        return [
            {"name": p.name, "kind": type(p).__name__, "values": p.describe(), "doc": p.doc}
            for p in self.parameters
        ]


def _cardinality(p: Parameter) -> int:
    if isinstance(p, ConditionalChoice):
        return max(len(values) for _key, values in p.cases)
    if isinstance(p, Choice):
        return len(p.values)
    if isinstance(p, IntRange):
        return p.high - p.low + 1
    return _cardinality(p.item)


# --------------------------------------------------------------------------
# several families at once


@attrs.frozen
class JointSpace:
    """The union of several families' spaces: what a strategy searches.

    Operations take an optional complexity ``level``: only the families
    available at that level are sampled, and every result lies inside that
    level's restrictions.
    """

    spaces: Mapping[str, SearchSpace] = attrs.field(converter=lambda d: types.MappingProxyType(dict(d)))
    max_level: int = MAX_LEVEL

    def __attrs_post_init__(self) -> None:
        if not self.spaces:
            raise InvalidArchitecture("a search needs at least one network family")
        if self.max_level not in COMPLEXITY_LEVELS:
            raise InvalidArchitecture(f"complexity level must be one of {COMPLEXITY_LEVELS}, got {self.max_level}")
        if not any(s.available_at(self.max_level) for s in self.spaces.values()):
            raise InvalidArchitecture(
                f"none of the families {list(self.spaces)} is available at complexity level {self.max_level}"
            )

    def cap(self, level: int | None) -> int:
        """``level`` limited to :attr:`max_level` (``None`` means the cap itself)."""
        return self.max_level if level is None else min(int(level), self.max_level)

    @property
    def family_names(self) -> list[str]:
        return list(self.spaces)

    def families(self, level: int | None = None) -> list[str]:
        """The families that take part at ``level`` (all of them for ``None``)."""
        level = self.cap(level)
        names = [n for n, s in self.spaces.items() if s.available_at(level)]
        if not names:
            raise InvalidArchitecture(
                f"none of the families {self.family_names} is available at complexity level {level}"
            )
        return names

    def space(self, family: str, level: int | None = None) -> SearchSpace:
        """The space of ``family``, restricted to ``level``."""
        if family not in self.spaces:
            raise InvalidArchitecture(f"family {family!r} is not part of this search; it searches {self.family_names}")
        return self.spaces[family].at_level(self.cap(level))

    def sample(self, rng: np.random.Generator, level: int | None = None) -> Architecture:
        """Pick a family uniformly, then an architecture of it."""
        return self.space(_rng_choice(rng, self.families(level)), level).sample(rng)

    def starting_points(self, level: int | None = None) -> list[Architecture]:
        """The families' starting points that lie inside ``level``, in family order."""
        points = (self.space(name, level).start() for name in self.families(level))
        return [arch for arch in points if arch is not None]

    def validate(self, arch: Architecture, level: int | None = None) -> None:
        self.space(arch.family, level).validate(arch)

    def is_valid(self, arch: Architecture, level: int | None = None) -> bool:
        try:
            self.validate(arch, level)
        except InvalidArchitecture:
            return False
        return True

    def project(self, arch: Architecture, rng: np.random.Generator | None = None, level: int | None = None) -> Architecture:
        """Move ``arch`` into ``level``; a family not offered there is resampled."""
        if arch.family not in self.families(level):
            if rng is None:
                raise InvalidArchitecture(f"family {arch.family!r} is not available at level {level}")
            return self.sample(rng, level)
        return self.space(arch.family, level).project(arch, rng)

    def mutate(
        self,
        arch: Architecture,
        rng: np.random.Generator,
        rate: float = 0.2,
        level: int | None = None,
        family_rate: float | None = None,
    ) -> Architecture:
        """Mutate parameters with probability ``rate``; switch family with ``family_rate``.

        ``family_rate`` defaults to ``0.2 * rate``: changing the family
        replaces the whole network, so it happens less often than a parameter
        change. A family switch samples a fresh architecture of another family.
        """
        family_rate = 0.2 * rate if family_rate is None else family_rate
        families = self.families(level)
        if len(families) > 1 and rng.random() < family_rate:
            others = [f for f in families if f != arch.family]
            return self.space(_rng_choice(rng, others), level).sample(rng)
        if arch.family not in families:
            return self.sample(rng, level)
        return self.space(arch.family, level).mutate(arch, rng, rate)

    def crossover(
        self, a: Architecture, b: Architecture, rng: np.random.Generator, level: int | None = None, rate: float = 0.2
    ) -> Architecture:
        """Crossover within a family; parents of different families give a mutant of one of them."""
        if a.family == b.family and a.family in self.families(level):
            return self.space(a.family, level).crossover(a, b, rng)
        parent = a if rng.random() < 0.5 else b
        return self.mutate(parent, rng, rate, level=level, family_rate=0.0)

    @property
    def encoding_size(self) -> int:
        return len(self.spaces) + sum(s.encoding_size for s in self.spaces.values())

    def encode(self, arch: Architecture) -> np.ndarray:
        """One-hot family, then each family's block (zeros for the other families)."""
        parts = [np.asarray([1.0 if n == arch.family else 0.0 for n in self.spaces], dtype=np.float32)]
        for name, space in self.spaces.items():
            parts.append(space.encode(arch) if name == arch.family else np.zeros(space.encoding_size, np.float32))
        return np.concatenate(parts)


def describe_architecture(arch: Architecture, space: SearchSpace | None = None) -> list[str]:
    """Readable lines: one for the whole-network parameters, then one per layer."""
    lists = {k: v for k, v in arch.params.items() if isinstance(v, tuple)}
    scalars = {k: v for k, v in arch.params.items() if not isinstance(v, tuple)}
    lines = [f"{arch.family}: " + ", ".join(f"{k}={v}" for k, v in scalars.items())]
    if space is not None:
        per_layer = [p.name for p in space.parameters if isinstance(p, LayerList) and p.length == "num_layers"]
    else:
        n = scalars.get("num_layers")
        per_layer = [k for k, v in lists.items() if n is not None and len(v) == n]
    n_layers = max((len(lists[k]) for k in per_layer), default=0)
    for i in range(n_layers):
        lines.append(f"  layer {i + 1}: " + ", ".join(f"{k}={lists[k][i]}" for k in per_layer if i < len(lists[k])))
    for k, v in lists.items():
        if k not in per_layer:
            lines.append(f"  {k}: {list(v)}")
    return lines
