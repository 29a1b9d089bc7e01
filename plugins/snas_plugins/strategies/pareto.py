"""NSGA-II's building blocks: non-dominated sorting, crowding distance, and the 2-D hypervolume.

Points are tuples of objective values oriented so that *larger is better*
(``min`` objectives negated); a key is ``(violation, values)``, compared
by Deb's constrained domination (:func:`snas.constrained_dominates`): the smaller total
violation wins, and between equal violations the objectives decide.
"""

from __future__ import annotations

import math
from typing import Sequence

from snas import constrained_dominates

Key = tuple[float, Sequence[float]]


def nondominated_sort(keys: Sequence[Key]) -> list[list[int]]:
    """The fronts of ``keys`` (indices, ascending within a front): front 0 is dominated by none,
    front 1 only by front 0, and so on (Deb et al. 2002's fast non-dominated sort)."""
    n = len(keys)
    beats: list[list[int]] = [[] for _ in range(n)]  # the points each point dominates
    beaten_by = [0] * n
    for i in range(n):
        for j in range(i + 1, n):
            if constrained_dominates(keys[i], keys[j]):
                beats[i].append(j)
                beaten_by[j] += 1
            elif constrained_dominates(keys[j], keys[i]):
                beats[j].append(i)
                beaten_by[i] += 1
    fronts: list[list[int]] = []
    current = [i for i in range(n) if beaten_by[i] == 0]
    while current:
        fronts.append(current)
        following = []
        for i in current:
            for j in beats[i]:
                beaten_by[j] -= 1
                if beaten_by[j] == 0:
                    following.append(j)
        current = sorted(following)
    return fronts


def crowding_distance(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II's crowding distance of each point of one front.

    Per objective, the points are sorted by value; the two extremes get an
    infinite distance, every other point the gap between its two neighbours
    divided by the objective's range; a point's distance is the sum over the
    objectives. An objective on which all points are equal adds nothing.
    """
    n = len(points)
    distance = [0.0] * n
    if n == 0:
        return distance
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: (points[i][m], i))
        low, high = points[order[0]][m], points[order[-1]][m]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        for before, at, after in zip(order, order[1:], order[2:]):
            distance[at] += (points[after][m] - points[before][m]) / (high - low)
    return distance


def rank_and_crowding(keys: Sequence[Key | None]) -> list[tuple[int, float]]:
    """``(front index, crowding distance)`` of each key; ``None`` keys (no objective values) rank last, distance 0.

    A smaller front index is better; within a front, a larger distance is.
    """
    present = [i for i, k in enumerate(keys) if k is not None]
    fronts = nondominated_sort([keys[i] for i in present])
    out: list[tuple[int, float]] = [(len(fronts), 0.0)] * len(keys)
    for rank, front in enumerate(fronts):
        members = [present[i] for i in front]
        for i, d in zip(members, crowding_distance([keys[i][1] for i in members])):
            out[i] = (rank, d)
    return out


def hypervolume_2d(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The area that ``points`` (two objectives, larger is better) dominate beyond ``reference``.

    Points not better than the reference in both objectives add nothing.
    """
    rx, ry = reference
    inside = sorted(((x, y) for x, y in points if x > rx and y > ry), key=lambda p: (-p[0], -p[1]))
    area, top = 0.0, ry
    for x, y in inside:
        if y > top:
            area += (x - rx) * (y - top)
            top = y
    return area
