"""What the figures of a run show, computed from its :class:`snas.RunResult` (no drawing here).

Every function raises :class:`FigureUnavailable`, with a message that says
what the run lacks, when it cannot answer: no successful trial, metrics not
recorded, too few trials, a family that is no longer installed.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import attrs
import numpy as np

from snas import COMPLEXITY_LEVELS, Choice, IntRange, JointSpace, LayerList, SnasError, get_plugin_manager

#: fewest distinct successful architectures parameter importance is computed from
MIN_IMPORTANCE_TRIALS = 8
#: trees of the random forest behind parameter importance
IMPORTANCE_TREES = 100
#: shuffles of each parameter in permutation importance
IMPORTANCE_REPEATS = 10
#: fewest distinct architectures the 2-D map of the search space is drawn for
MIN_MAP_ARCHITECTURES = 3
#: an integer parameter with more values than this is shown in bins
MAX_INTEGER_CELLS = 16


class FigureUnavailable(SnasError):
    """A figure cannot be drawn from this run; the message says what the run lacks."""


def accuracy_of(trial: Any) -> float:
    """A trial's validation accuracy (its score when the evaluator records no accuracy)."""
    value = trial.metrics.get("val_accuracy")
    return float(trial.score if value is None else value)


def successful(result: Any) -> list[Any]:
    """The run's successful trials, in trial-id order."""
    return sorted((t for t in result.trials if t.ok), key=lambda t: t.trial_id)


def require_successful(result: Any, what: str) -> list[Any]:
    """:func:`successful`, or :class:`FigureUnavailable` naming ``what`` needs them."""
    trials = successful(result)
    if not trials:
        failed = sum(1 for t in result.trials if not t.ok)
        raise FigureUnavailable(
            f"{what} needs a successful trial; run {result.path} has none "
            f"({len(result.trials)} trials, {failed} failed)"
        )
    return trials


def require_best(result: Any, what: str) -> Any:
    """The run's best trial, or :class:`FigureUnavailable`."""
    require_successful(result, what)
    if result.best is None:
        raise FigureUnavailable(f"{what} needs the best trial; run {result.path} records none")
    return result.best


def distinct(trials: Iterable[Any]) -> list[Any]:
    """One trial per architecture (the first; cache hits repeat an earlier trial)."""
    seen: dict[str, Any] = {}
    for t in trials:
        seen.setdefault(t.fingerprint, t)
    return list(seen.values())


# --------------------------------------------------------------------------
# progress


def generation_of(result: Any) -> dict[int, int]:
    """``{trial id: generation}`` from the run's generation records, else each trial's ``meta``."""
    generations: dict[int, int] = {}
    for record in result.generations:
        for trial_id in record.get("trials", []):
            generations[int(trial_id)] = int(record["generation"])
    for t in result.trials:
        if t.trial_id not in generations and isinstance(t.meta.get("generation"), int):
            generations[t.trial_id] = t.meta["generation"]
    return generations


@attrs.frozen
class Progress:
    """Scores against trials, and per generation: what the progress figure draws."""

    trial_ids: list[int]
    scores: list[float]
    best_so_far: list[float]
    failed_ids: list[int]
    generations: list[int]
    generation_mean: list[float]
    generation_best: list[float]


def search_progress(result: Any) -> Progress:
    """Each successful trial's score, the best score so far, and mean and best per generation."""
    trials = require_successful(result, "the progress figure")
    scores = [float(t.score) for t in trials]
    by_generation: dict[int, list[float]] = {}
    generations = generation_of(result)
    for t in trials:
        if t.trial_id in generations:
            by_generation.setdefault(generations[t.trial_id], []).append(float(t.score))
    order = sorted(by_generation)
    return Progress(
        trial_ids=[t.trial_id for t in trials],
        scores=scores,
        best_so_far=list(np.maximum.accumulate(scores)),
        failed_ids=sorted(t.trial_id for t in result.trials if not t.ok),
        generations=order,
        generation_mean=[float(np.mean(by_generation[g])) for g in order],
        generation_best=[max(by_generation[g]) for g in order],
    )


# --------------------------------------------------------------------------
# Pareto front


def pareto_front(costs: Sequence[float], values: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats (lower cost and higher value), by rising cost."""
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -values[i]))
    front: list[int] = []
    best = -math.inf
    for i in order:
        if values[i] > best:
            front.append(i)
            best = values[i]
    return front


@attrs.frozen
class Tradeoff:
    """Accuracy against one cost (parameters or FLOPs) for the trials that record it."""

    cost: str
    trial_ids: list[int]
    costs: list[float]
    accuracies: list[float]
    front: list[int]  # indices into the lists above


def tradeoff(result: Any, cost: str) -> Tradeoff:
    """Validation accuracy against ``cost`` (a metric: ``params`` or ``flops``), with its Pareto front."""
    trials = [t for t in distinct(require_successful(result, "the Pareto figure"))
              if isinstance(t.metrics.get(cost), (int, float)) and t.metrics[cost] > 0]
    costs = [float(t.metrics[cost]) for t in trials]
    accuracies = [accuracy_of(t) for t in trials]
    return Tradeoff(cost, [t.trial_id for t in trials], costs, accuracies, pareto_front(costs, accuracies))


# --------------------------------------------------------------------------
# the run's search space and its encodings


def search_level(result: Any, spaces: dict[str, Any]) -> int:
    """The highest complexity level the run searched: its configured cap, else the engine's default."""
    level = result.config.get("max_complexity")
    if level is None:
        level = max(space.min_level for space in spaces.values())
    levels = [t.meta["level"] for t in result.trials if isinstance(t.meta.get("level"), int)]
    return int(min(max([int(level), *levels]), COMPLEXITY_LEVELS[-1]))


def run_space(result: Any, manager: Any = None) -> JointSpace:
    """The run's :class:`snas.JointSpace`, built from its stored configuration and installed families."""
    names = list(result.config.get("network_types") or [])
    names += sorted({t.arch.family for t in result.trials} - set(names))
    if not names:
        raise FigureUnavailable(f"run {result.path} names no network family")
    manager = manager or get_plugin_manager()
    try:
        spaces = {name: manager.get_family(name).space() for name in names}
        return JointSpace(spaces, max_level=search_level(result, spaces))
    except SnasError as exc:
        raise FigureUnavailable(f"the search space of run {result.path} cannot be rebuilt: {exc}") from None


@attrs.frozen
class EncodingGroup:
    """The columns of :meth:`snas.JointSpace.encode` that belong to one parameter."""

    name: str
    family: str | None
    parameter: str
    start: int
    stop: int


def _param_width(space: Any, p: Any) -> int:
    if not isinstance(p, LayerList):
        return p.encoding_size
    length = p.length if isinstance(p.length, int) else space.parameter(p.length).high
    return length * (p.item.encoding_size + 1)  # each slot: a presence flag, then the value


def encoding_groups(space: JointSpace) -> list[EncodingGroup]:
    """Which parameter each encoding column belongs to (the family one-hot is ``family``).

    With one family the names are its parameter names; with several,
    ``family.parameter``.
    """
    qualify = len(space.spaces) > 1
    groups = [EncodingGroup("family", None, "family", 0, len(space.spaces))]
    start = len(space.spaces)
    for family, family_space in space.spaces.items():
        full = family_space.full
        for p in full.parameters:
            width = _param_width(full, p)
            name = f"{family}.{p.name}" if qualify else p.name
            groups.append(EncodingGroup(name, family, p.name, start, start + width))
            start += width
    if start != space.encoding_size:
        raise FigureUnavailable(
            f"the encoding layout of snas {space.encoding_size} columns differs from the "
            f"{start} this report expects; parameter names cannot be given to its columns"
        )
    return groups


def encode_trials(space: JointSpace, trials: Sequence[Any]) -> np.ndarray:
    """The encodings of ``trials``' architectures, one row each."""
    rows = []
    for t in trials:
        try:
            rows.append(space.encode(t.arch))
        except (SnasError, KeyError, IndexError, TypeError) as exc:
            raise FigureUnavailable(
                f"trial {t.trial_id}'s architecture does not fit the {t.arch.family!r} family installed now: {exc}"
            ) from None
    return np.stack(rows) if rows else np.zeros((0, space.encoding_size), np.float32)


# --------------------------------------------------------------------------
# parameter importance


@attrs.frozen
class Importance:
    """Parameter importance: mean and spread of the drop in R² when a parameter is shuffled."""

    names: list[str]
    mean: list[float]
    std: list[float]
    n_trials: int
    r2: float  # the forest's R² on the trials it was fitted on
    method: str


def importance_method(n_trials: int) -> str:
    """How :func:`parameter_importance` computes its numbers, in words (for figures and reports)."""
    return (
        f"A random forest (scikit-learn RandomForestRegressor, {IMPORTANCE_TREES} trees) is fitted to predict "
        f"the score from the encodings of {n_trials} distinct successful architectures. A parameter's importance "
        f"is the mean drop in the forest's R\u00b2 when that parameter's values are shuffled across the trials "
        f"(sklearn.inspection.permutation_importance, {IMPORTANCE_REPEATS} shuffles, every encoding column of "
        f"the parameter shuffled together), measured on the trials the forest was fitted on. Parameters that "
        f"took a single value in every trial are left out."
    )


def comparable(trials: list[Any]) -> list[Any]:
    """The full-protocol trials when a run mixes protocols: reduced (fast) training scores are not comparable."""
    full = [t for t in trials if t.protocol == "full"]
    return full if full and len(full) != len(trials) else trials


def parameter_importance(result: Any, *, manager: Any = None, seed: int = 0) -> Importance:
    """Permutation importance of each parameter for the score, from a random forest on the encodings."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    trials = comparable(distinct(require_successful(result, "parameter importance")))
    if len(trials) < MIN_IMPORTANCE_TRIALS:
        raise FigureUnavailable(
            f"parameter importance needs at least {MIN_IMPORTANCE_TRIALS} distinct successful architectures "
            f"trained the same way; run {result.path} has {len(trials)}"
        )
    space = run_space(result, manager)
    x = encode_trials(space, trials)
    y = np.asarray([float(t.score) for t in trials])
    if np.ptp(y) == 0:
        raise FigureUnavailable(f"all {len(trials)} trials have the same score, so no parameter explains it")
    groups = [g for g in encoding_groups(space) if np.ptp(x[:, g.start:g.stop], axis=0).any()]
    # Each parameter becomes one column of codes (which distinct block of encoding values a trial has),
    # so permutation_importance shuffles a parameter's whole block at once; the pipeline expands codes.
    blocks, codes = [], []
    for g in groups:
        unique, inverse = np.unique(x[:, g.start:g.stop], axis=0, return_inverse=True)
        blocks.append(unique)
        codes.append(inverse.reshape(-1))
    coded = np.stack(codes, axis=1)

    def expand(c: np.ndarray) -> np.ndarray:
        return np.hstack([blocks[j][np.asarray(c[:, j], dtype=np.int64)] for j in range(len(blocks))])

    model = make_pipeline(
        FunctionTransformer(expand),
        RandomForestRegressor(n_estimators=IMPORTANCE_TREES, random_state=seed, n_jobs=1),
    )
    model.fit(coded, y)
    found = permutation_importance(model, coded, y, n_repeats=IMPORTANCE_REPEATS, random_state=seed)
    order = np.argsort(-found.importances_mean, kind="stable")
    return Importance(
        names=[groups[i].name for i in order],
        mean=[float(found.importances_mean[i]) for i in order],
        std=[float(found.importances_std[i]) for i in order],
        n_trials=len(trials),
        r2=float(model.score(coded, y)),
        method=importance_method(len(trials)),
    )


# --------------------------------------------------------------------------
# the search space as seen


@attrs.frozen
class Coverage:
    """How often each value of one parameter was tried (integer ranges may be binned)."""

    name: str
    labels: list[str]
    counts: list[int]

    @property
    def tried(self) -> int:
        """How many of the values were tried at least once."""
        return sum(1 for c in self.counts if c)


def _cells(param: Any, tried: list[Any]) -> tuple[list[str], list[int]]:
    if isinstance(param, IntRange):
        span = param.high - param.low + 1
        if span <= MAX_INTEGER_CELLS:
            edges = list(range(param.low, param.high + 2))
        else:
            edges = sorted(set(np.linspace(param.low, param.high + 1, 13).round().astype(int).tolist()))
        labels = [str(a) if b - a == 1 else f"{a}\u2013{b - 1}" for a, b in zip(edges, edges[1:])]
        counts = [0] * len(labels)
        outside: dict[str, int] = {}
        for v in tried:
            i = int(np.searchsorted(edges, int(v), side="right")) - 1
            if 0 <= i < len(counts):
                counts[i] += 1
            else:
                outside[str(v)] = outside.get(str(v), 0) + 1
        return labels + list(outside), counts + list(outside.values())
    labels = [str(v) for v in param.values]
    counts = dict.fromkeys(labels, 0)
    for v in tried:
        counts[str(v)] = counts.get(str(v), 0) + 1
    return list(counts), list(counts.values())


def explored_values(result: Any, space: JointSpace | None = None) -> list[Coverage]:
    """Per parameter (per family), how often each value allowed at the run's level was tried.

    Per-layer parameters count every layer's value. Values tried outside the
    level's restrictions are added at the end of their row.
    """
    space = space or run_space(result)
    trials = result.trials
    qualify = len(space.spaces) > 1
    rows: list[Coverage] = []
    if qualify:
        labels, counts = _cells(Choice("family", tuple(space.spaces)), [t.arch.family for t in trials])
        rows.append(Coverage("family", labels, counts))
    for family, family_space in space.spaces.items():
        own = [t for t in trials if t.arch.family == family]
        shown = family_space.at_level(space.max_level) if family_space.available_at(space.max_level) else family_space.full
        for p in shown.parameters:
            values = [t.arch.params[p.name] for t in own if p.name in t.arch.params]
            if isinstance(p, LayerList):
                values = [v for layer_values in values for v in layer_values]
            labels, counts = _cells(p.item if isinstance(p, LayerList) else p, values)
            rows.append(Coverage(f"{family}.{p.name}" if qualify else p.name, labels, counts))
    return rows


@attrs.frozen
class ArchitectureMap:
    """Every distinct tried architecture placed in 2-D by PCA of its encoding."""

    trial_ids: list[int]
    coords: np.ndarray
    scores: list[float | None]  # None: the trial failed
    explained: tuple[float, float]  # fraction of the encodings' variance along each axis


def architecture_map(result: Any, space: JointSpace | None = None) -> ArchitectureMap:
    """Principal-component map of the tried architectures (scikit-learn PCA on their encodings)."""
    from sklearn.decomposition import PCA

    trials = distinct(sorted(result.trials, key=lambda t: (not t.ok, t.trial_id)))
    if len(trials) < MIN_MAP_ARCHITECTURES:
        raise FigureUnavailable(
            f"the map of tried architectures needs at least {MIN_MAP_ARCHITECTURES} distinct architectures; "
            f"run {result.path} has {len(trials)}"
        )
    space = space or run_space(result)
    x = encode_trials(space, trials)
    pca = PCA(n_components=2, random_state=0)
    coords = pca.fit_transform(x)
    ratio = pca.explained_variance_ratio_
    return ArchitectureMap(
        trial_ids=[t.trial_id for t in trials],
        coords=coords,
        scores=[float(t.score) if t.ok else None for t in trials],
        explained=(float(ratio[0]), float(ratio[1])),
    )
