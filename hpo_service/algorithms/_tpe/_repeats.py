"""TPE's ``avoid_repeats``: re-pick a proposal that repeats a taken configuration.

With parallel workers a TPE whose discrete parameters (choices, integers, ``q*``
values) have narrow kernels proposes again and again the discrete values of trials
that are running or finished, i.e. it re-runs a model it already has. With this rule a
proposal *repeats* a taken point (a pending one, or with ``"all"`` a finished one too)
when every discrete parameter has the same value (or both are inactive) and every
continuous one lies within ``repeat_radius`` of the other's, in units of the
parameter's range (log-scaled for ``log*`` parameters; a ``normal`` one's range is 4
prior sigmas). A repeating proposal is changed in one group: among the groups'
other candidates, the one that costs the least in the group's ``log l - log g``
score (for independent groups the point's score is the sum over groups, so this is the
cheapest single change) and makes the point a non-repeat. Groups whose choices
activate other parameters are left as they are, and when no single change helps the
best candidate stays (the rule never fails a suggestion). The pending points are the
constant liar's (the pending trials and the earlier points of the same call), so with
``constant_liar=False`` only ``"all"``'s finished trials are avoided.

There is no such rule in hyperopt's or Optuna's TPE; see ``benchmarks/README.md``
(multi-objective, ``tree``) for what it was measured against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo_service.algorithms._history import History
from hpo_service.space._spec import CompiledSpace, ParamSpec

#: ``avoid_repeats`` values: off, against pending points, against every taken point.
CHOICES = ("none", "pending", "all")


@dataclass
class GroupDraw:
    """One group's candidates for some rows of a batch, with their scores.

    Attributes:
        labels: The group's parameter labels.
        rows: The batch rows the group was sampled for.
        params: ``params(i)`` gives candidate ``i``'s ``{label: value}``.
        scores: ``(len(rows), n_ei)`` ``log l - log g`` of the candidates.
        offset: Candidate index of a row's first candidate is ``offset * position``.
    """

    labels: tuple[str, ...]
    rows: list[int]
    params: Any
    scores: np.ndarray
    offset: int


def _is_discrete(spec: ParamSpec) -> bool:
    return spec.kind in ("choice", "randint") or spec.q is not None or spec.is_int


def _unit(spec: ParamSpec, values: np.ndarray) -> np.ndarray:
    """Continuous values in units of the parameter's range (NaN stays NaN)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.log(values) if spec.log else values
    if spec.kind == "uniform":
        return (x - spec.low) / (spec.high - spec.low)  # type: ignore[operator]
    return x / (4.0 * spec.sigma)  # type: ignore[operator]


class Taken:
    """The points a proposal must not repeat, as arrays (one row per point).

    Args:
        space: The compiled space.
        history: Finished trials (used with ``include_finished``).
        pending: Params of pending points.
        radius: ``repeat_radius``.
        include_finished: Whether finished trials count (``avoid_repeats="all"``).
    """

    def __init__(
        self,
        space: CompiledSpace,
        history: History,
        pending: Sequence[Mapping[str, Any]],
        radius: float,
        include_finished: bool,
    ) -> None:
        self._is_discrete = np.array([_is_discrete(s) for s in space], dtype=bool)
        self._specs = list(space)
        self.radius = radius
        self.table = np.empty((0, len(self._specs)))
        if include_finished and len(history):
            self.table = self._columns([history.values(s.label) for s in self._specs])
        for point in pending:
            self.add(point)

    def _columns(self, columns: Sequence[Any]) -> np.ndarray:
        """``(n, n_params)``: discrete values as they are, continuous ones in units
        of their range."""
        kinds = zip(self._specs, columns, self._is_discrete, strict=True)
        cols = [
            np.asarray(c, dtype=float) if discrete else _unit(s, np.asarray(c, float))
            for s, c, discrete in kinds
        ]
        return np.stack(cols, axis=1).reshape(-1, len(self._specs))

    def _row(self, point: Mapping[str, Any]) -> np.ndarray:
        values = [point.get(s.label) for s in self._specs]
        return self._columns([[np.nan if v is None else float(v)] for v in values])[0]

    def add(self, point: Mapping[str, Any]) -> None:
        """Count ``point`` (a params dict) as taken."""
        self.table = np.vstack([self.table, self._row(point)])

    def repeats(self, point: Mapping[str, Any]) -> bool:
        """Whether ``point`` repeats a taken point."""
        row = self._row(point)
        both_nan = np.isnan(self.table) & np.isnan(row)
        discrete = self._is_discrete
        same = (self.table == row) | both_nan
        near = (np.abs(self.table - row) <= self.radius) | both_nan
        match = np.where(discrete, same, near)
        return bool(np.any(match.all(axis=1)))


def parent_labels(space: CompiledSpace) -> set[str]:
    """Labels of the parameters that activate others (never re-picked)."""
    return {label for s in space for c in s.conditions for label, _ in c}


def resolve(
    chosen: list[dict[str, Any]],
    draws: Sequence[GroupDraw],
    taken: Taken,
    parents: set[str],
) -> None:
    """Re-pick, in place, the rows of ``chosen`` that repeat a taken point.

    Rows are visited in order and each one, once settled, counts as taken for the
    rows after it.
    """
    for row, point in enumerate(chosen):
        if taken.repeats(point):
            _change_one_group(point, row, draws, taken, parents)
        taken.add(point)


def _change_one_group(
    point: dict[str, Any],
    row: int,
    draws: Sequence[GroupDraw],
    taken: Taken,
    parents: set[str],
) -> None:
    """The cheapest single-group change that makes ``point`` a non-repeat."""
    options = []  # (score lost, draw, candidate index)
    for draw in draws:
        if row not in draw.rows or parents.intersection(draw.labels):
            continue
        pos = draw.rows.index(row)
        scores = draw.scores[pos]
        best = float(np.max(scores))
        for i in np.argsort(-scores, kind="stable"):
            options.append((best - float(scores[i]), draw, pos * draw.offset + int(i)))
    options.sort(key=lambda o: o[0])
    for _, draw, index in options:
        trial = {**point, **draw.params(index)}
        if trial != point and not taken.repeats(trial):
            point.update(trial)
            return
