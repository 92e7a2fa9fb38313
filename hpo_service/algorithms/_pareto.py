"""Pareto dominance, non-dominated sorting, exact hypervolume and subset selection.

Every objective is minimised. Points are rows of a ``(n, m)`` float array.

- :func:`non_dominated_ranks`: front numbers (0 = the Pareto front), by peeling one
  front at a time (Deb et al. 2002, "A fast and elitist multiobjective genetic
  algorithm: NSGA-II", IEEE TEVC 6(2), define the ranks; the peeling is the simple
  "keep the points no kept point dominates" sweep over lexicographically sorted rows);
- :func:`hypervolume`: the exact volume dominated by a set and bounded by a reference
  point, by a sweep for two objectives and by the WFG algorithm beyond (While,
  Bradstreet and Barone 2012, "A fast way of calculating exact hypervolumes", IEEE
  TEVC 16(1)):
  the volume is the sum over points of their *exclusive* volume, each computed as a box
  minus the hypervolume of the later points limited to that box;
- :func:`greedy_hypervolume_subset`: greedy hypervolume subset selection (pick, one at a
  time, the point adding the most volume; a (1 - 1/e)-approximation since hypervolume is
  submodular), evaluated lazily (Minoux 1978; Chen et al. 2020, "Lazy greedy hypervolume
  subset selection from large candidate solution sets", CEC).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

__all__ = [
    "ParetoArchive",
    "dominates",
    "greedy_hypervolume_subset",
    "hypervolume",
    "non_dominated_ranks",
    "pareto_mask",
]


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` Pareto-dominates ``b``: no worse anywhere, better somewhere."""
    return bool(np.all(a <= b) and np.any(a < b))


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Which rows of ``points`` (``(n, m)``) no other row dominates.

    Equal rows do not dominate each other, so duplicates of a front point are all on
    the front.

    Returns:
        A boolean array ``(n,)``.
    """
    return non_dominated_ranks(points, max_points=1) == 0


def non_dominated_ranks(
    points: np.ndarray, max_points: int | None = None
) -> np.ndarray:
    """The non-domination rank of each row: 0 for the front, 1 for the next front, ...

    Args:
        points: Objective vectors ``(n, m)``, all minimised; NaN is not allowed.
        max_points: Stop peeling fronts once this many points are ranked; the rest get
            rank ``n`` (a rank larger than any real one). None ranks every point.

    Returns:
        Integer ranks ``(n,)``.
    """
    points = np.asarray(points, dtype=float)
    n = points.shape[0]
    ranks = np.full(n, n, dtype=np.intp)
    order = np.lexsort(points.T[::-1])  # sorted by the first objective, then the next
    remaining = order
    limit = n if max_points is None else min(max_points, n)
    rank, ranked = 0, 0
    while remaining.size and ranked < limit:
        front = _first_front(points[remaining])
        ranks[remaining[front]] = rank
        ranked += int(front.sum())
        remaining = remaining[~front]
        rank += 1
    return ranks


def _first_front(sorted_points: np.ndarray) -> np.ndarray:
    """Front membership of lexicographically sorted rows.

    A row can be dominated only by rows before it, and if it is dominated at all, some
    front row dominates it, so each row is checked against the front found so far.
    """
    n = sorted_points.shape[0]
    on_front = np.zeros(n, dtype=bool)
    front_rows: list[int] = []
    for i in range(n):
        p = sorted_points[i]
        if front_rows:
            kept = sorted_points[front_rows]
            if np.any(np.all(kept <= p, axis=1) & np.any(kept < p, axis=1)):
                continue
        on_front[i] = True
        front_rows.append(i)
    return on_front


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """The exact volume dominated by ``points`` and bounded above by ``reference``.

    Points that do not dominate the reference point strictly in every objective add
    nothing.

    Args:
        points: Objective vectors ``(n, m)``, minimised.
        reference: The reference point ``(m,)``.

    Returns:
        The hypervolume (0.0 for no useful point).
    """
    reference = np.asarray(reference, dtype=float)
    points = np.asarray(points, dtype=float).reshape(-1, reference.size)
    points = points[np.all(points < reference, axis=1)]
    if points.shape[0] == 0:
        return 0.0
    return _wfg(_front(points), reference)


def _front(points: np.ndarray) -> np.ndarray:
    """The non-dominated rows, duplicates removed."""
    unique = np.unique(points, axis=0)
    return unique[pareto_mask(unique)]


def _wfg(front: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume of a non-dominated set (WFG; see the module docstring)."""
    n, m = front.shape
    if n == 0:
        return 0.0
    if m == 1:
        return float(reference[0] - front[:, 0].min())
    if m == 2:
        return _hv2(front, reference)
    if n == 1:
        return float(np.prod(reference - front[0]))
    # Sorting by the last objective keeps the limited sets small.
    front = front[np.argsort(front[:, -1])]
    total = 0.0
    for i in range(n):
        total += _exclusive(front[i], front[i + 1 :], reference)
    return total


def _exclusive(point: np.ndarray, others: np.ndarray, reference: np.ndarray) -> float:
    """Volume that ``point`` dominates and none of ``others`` does."""
    box = float(np.prod(reference - point))
    if others.shape[0] == 0:
        return box
    limited = np.maximum(others, point)
    limited = limited[np.all(limited < reference, axis=1)]
    if limited.shape[0] == 0:
        return box
    return box - _wfg(_front(limited), reference)


def _hv2(front: np.ndarray, reference: np.ndarray) -> float:
    """Two-objective hypervolume by a sweep along the first objective."""
    front = front[np.argsort(front[:, 0])]
    # On a sorted non-dominated set the second objective decreases.
    widths = np.diff(np.append(front[:, 0], reference[0]))
    return float(np.sum(widths * (reference[1] - front[:, 1])))


def greedy_hypervolume_subset(
    points: np.ndarray,
    k: int,
    reference: np.ndarray,
    first: Sequence[int] = (),
) -> np.ndarray:
    """Greedily choose ``k`` rows that together dominate the most volume.

    Each step adds the row whose exclusive volume with respect to the rows chosen so
    far is largest. Contributions only shrink as rows are
    added, so stale ones are upper bounds and are recomputed lazily.

    Args:
        points: Objective vectors ``(n, m)``, minimised.
        k: How many rows to choose, ``0 <= k <= n``.
        reference: The reference point ``(m,)``; rows not strictly better than it
            in every objective contribute nothing and are chosen last.
        first: Distinct rows chosen before the greedy steps, in this order (at most
            ``k``); the greedy steps add the rest given them.

    Returns:
        The chosen row indices ``(k,)``, in the order they were chosen.

    Raises:
        ValueError: ``k`` is out of range, or ``first`` holds more than ``k`` rows,
            a repeated row or a row outside ``points``.
    """
    points = np.asarray(points, dtype=float)
    reference = np.asarray(reference, dtype=float)
    n = points.shape[0]
    if not 0 <= k <= n:
        raise ValueError(f"`0 <= k <= n` must hold, but got k={k}, n={n}")
    chosen = [int(i) for i in first]
    if len(set(chosen)) != len(chosen) or len(chosen) > k:
        raise ValueError(
            f"`first` must hold distinct rows, at most k={k}, but got first={first}"
        )
    if chosen and not 0 <= min(chosen) <= max(chosen) < n:
        raise ValueError(
            f"`first` must hold rows of `points` (n={n}), but got first={first}"
        )
    boxes = np.prod(np.clip(reference - points, 0.0, None), axis=1)
    taken = set(chosen)
    heap = [(-float(b), i) for i, b in enumerate(boxes) if i not in taken]
    heapq.heapify(heap)
    while len(chosen) < k:
        _, i = heapq.heappop(heap)
        gain = _gain(points[i], points[chosen], reference, float(boxes[i]))
        if not heap or -gain <= heap[0][0]:
            chosen.append(i)  # no other row's upper bound beats its fresh gain
        else:
            heapq.heappush(heap, (-gain, i))
    return np.array(chosen, dtype=np.intp)


def _gain(
    point: np.ndarray, chosen: np.ndarray, reference: np.ndarray, box: float
) -> float:
    """Volume ``point`` adds to the set ``chosen``."""
    if box <= 0.0:
        return 0.0
    return _exclusive(point, chosen, reference)


class ParetoArchive:
    """The Pareto front of the loss vectors added so far, kept incrementally.

    Attributes:
        points: The distinct loss vectors on the front.
        size: How many added vectors are on the front: trials with equal loss
            vectors dominate none of each other, so all of them are on it (as
            ``Trials.best_trials`` and ``hpo-driver best`` list them).
    """

    def __init__(self) -> None:
        self.points: list[np.ndarray] = []
        self._ties: list[int] = []  # vectors added equal to each point (itself too)

    @property
    def size(self) -> int:
        """The number of added vectors on the front, ties included."""
        return sum(self._ties)

    def add(self, losses: Sequence[float]) -> bool:
        """Add one loss vector; True if it joined the front as a new point.

        A vector joins when no vector of the front is at least as good in every
        objective; the ones it dominates leave. A vector equal to a point of the
        front is on the front too (counted in :attr:`size`), but improves nothing:
        False.
        """
        point = np.asarray(losses, dtype=float)
        for i, p in enumerate(self.points):
            if p.shape == point.shape and np.all(p <= point):
                self._ties[i] += bool(np.array_equal(p, point))
                return False
        kept = [i for i, p in enumerate(self.points) if not dominates(point, p)]
        self.points = [self.points[i] for i in kept] + [point]
        self._ties = [self._ties[i] for i in kept] + [1]
        return True
