"""What samplers learn from: finished trials as columnar arrays, plus pending points.

Callers (``fmin``, the driver) feed a :class:`History` incrementally, so a suggestion
after 10,000 trials does not rebuild 10,000 rows. Samplers read the arrays directly.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hpo_service.space._spec import CompiledSpace

_INITIAL_CAPACITY = 64


class History:
    """Observed trials of one study, stored column by column.

    ``values(label)`` is a float array with one entry per recorded trial, NaN where the
    parameter was inactive; ``losses`` holds each trial's loss (NaN for a failed trial).
    ``pending`` lists the params of trials that are queued or running.

    A multi-objective history (:attr:`n_objectives` > 1, fixed by the first successful
    trial) keeps each trial's loss vector in ``objectives`` (NaN rows for failed
    trials) and NaN in ``losses``; a pruned trial's one value recorded before that
    (``add(..., provisional=True)``) then counts as a failure too. ``violations``
    holds each trial's total constraint violation (the sum of its positive
    constraint values; 0 means feasible).
    """

    def __init__(self, space: CompiledSpace) -> None:
        self.space = space
        self._n = 0
        self._columns = {
            spec.label: np.full(_INITIAL_CAPACITY, np.nan) for spec in space
        }
        self._losses = np.full(_INITIAL_CAPACITY, np.nan)
        self._objectives: np.ndarray | None = None  # (capacity, m) once m > 1
        self._violations = np.zeros(_INITIAL_CAPACITY)
        self._n_violating = 0  # trials with a positive violation
        self._n_objectives = 0  # 0 until a successful trial fixes it
        self.pending: list[Mapping[str, Any]] = []
        self.pending_weights: list[float] | None = None
        self._good_weights: np.ndarray | None = None

    def __len__(self) -> int:
        return self._n

    def add(
        self,
        params: Mapping[str, Any],
        loss: float | Sequence[float] | None,
        *,
        violation: float = 0.0,
        provisional: bool = False,
    ) -> None:
        """Record one finished trial.

        Args:
            params: The trial's active parameters ``{label: value}``.
            loss: Its loss, or its losses (one per objective, all minimised), or
                None (or NaN anywhere) for a failed trial.
            violation: Its total constraint violation (>= 0; 0 means feasible).
            provisional: ``loss`` is one value that counts only if the study has one
                objective (a pruned trial's last reported value): it does not fix
                the number of objectives, and it is a failure in a history that has
                (or later gets) several.

        Raises:
            ValueError: ``loss`` has another number of objectives than the trials
                recorded before.
        """
        if provisional and loss is not None:
            loss = None if self._n_objectives > 1 else float(loss)
        vector = self._vector(loss, fix_count=not provisional)
        self._grow_if_full()
        for label, column in self._columns.items():
            value = params.get(label)
            column[self._n] = np.nan if value is None else float(value)
        if vector is not None and vector.size > 1:
            self._objectives_column(vector.size)[self._n] = vector
        elif vector is not None:
            self._losses[self._n] = vector[0]
        self._violations[self._n] = max(0.0, float(violation))
        self._n_violating += int(self._violations[self._n] > 0)
        self._n += 1

    def _vector(
        self, loss: float | Sequence[float] | None, *, fix_count: bool = True
    ) -> np.ndarray | None:
        """The loss as a float vector, None for a failure; fixes the objective count
        (unless ``fix_count`` is False)."""
        if loss is None:
            return None
        vector = np.atleast_1d(np.asarray(loss, dtype=float)).ravel()
        if vector.size == 0 or np.isnan(vector).any():
            return None
        if self._n_objectives and vector.size != self._n_objectives:
            raise ValueError(
                f"every loss must have {self._n_objectives} objective(s) like the "
                f"earlier trials, but got {vector.size}: {list(vector)!r:.200}"
            )
        if fix_count and not self._n_objectives:
            self._n_objectives = vector.size
            if vector.size > 1:  # earlier rows: failures and provisional values
                self._losses[: self._n] = np.nan
        return vector

    def _objectives_column(self, m: int) -> np.ndarray:
        if self._objectives is None:
            self._objectives = np.full((self._losses.size, m), np.nan)
        return self._objectives

    @property
    def n_objectives(self) -> int:
        """Number of objectives; 0 until a successful trial fixes it."""
        return self._n_objectives

    @property
    def objectives(self) -> np.ndarray:
        """Loss vectors ``(n, max(1, n_objectives))``, NaN rows for failures, read-only
        view."""
        if self._objectives is None:
            return self.losses[:, None]
        view = self._objectives[: self._n]
        view.flags.writeable = False
        return view

    @property
    def has_violations(self) -> bool:
        """Whether any trial violated a constraint (``violations.any()``, in O(1))."""
        return self._n_violating > 0

    @property
    def violations(self) -> np.ndarray:
        """Total constraint violation of each trial (0 = feasible), read-only view."""
        view = self._violations[: self._n]
        view.flags.writeable = False
        return view

    def scalarised(
        self, losses: np.ndarray, good_weights: np.ndarray | None = None
    ) -> History:
        """A single-objective, unconstrained view with the given per-trial losses.

        The view shares the parameter columns and pending points (do not add to it);
        multi-objective samplers use it to hand a single-objective sampler a ranking.

        Args:
            losses: One loss per recorded trial ``(len(self),)``; NaN for failures.
            good_weights: Optional weight of each trial's kernel in TPE's good
                density ``(len(self),)``, each finite and > 0; None: every kernel
                weighs 1.

        Returns:
            The view.

        Raises:
            ValueError: ``good_weights`` has another length or a weight that is
                not finite and positive.
        """
        view = copy.copy(self)
        view._losses = np.array(losses, dtype=float).reshape(self._n)
        view._objectives = None
        view._violations = np.zeros(self._n)
        view._n_violating = 0
        view._n_objectives = 1
        view._good_weights = None
        if good_weights is not None:
            weights = np.asarray(good_weights, dtype=float)
            if weights.shape != (self._n,) or not np.all(
                np.isfinite(weights) & (weights > 0)
            ):
                raise ValueError(
                    "`good_weights` must hold one finite weight > 0 per trial "
                    f"({self._n}), but got good_weights={good_weights!r}"
                )
            view._good_weights = weights
        return view

    @property
    def good_weights(self) -> np.ndarray | None:
        """Per-trial kernel weights for TPE's good density (see :meth:`scalarised`),
        or None when every kernel weighs 1."""
        return self._good_weights

    def set_pending(
        self,
        pending: Sequence[Mapping[str, Any]],
        weights: Sequence[float] | None = None,
    ) -> None:
        """Replace the list of queued-or-running trials' params.

        Args:
            pending: The pending trials' params.
            weights: One weight per pending point (how much TPE's constant liar
                counts it, 1.0 = a full liar), or None (every point counts fully).

        Raises:
            ValueError: ``weights`` and ``pending`` differ in length, or a weight is
                not a finite positive number (a point that should not count is left
                out of ``pending``).
        """
        if weights is not None and len(weights) != len(pending):
            raise ValueError(
                "`len(weights) == len(pending)` must hold, but got "
                f"{len(weights)} weights for {len(pending)} pending points"
            )
        for weight in weights or ():
            if not (math.isfinite(weight) and weight > 0):
                raise ValueError(
                    f"`0 < weight < inf` must hold for every weight, but got {weight!r}"
                )
        self.pending = list(pending)
        self.pending_weights = None if weights is None else list(weights)

    def values(self, label: str) -> np.ndarray:
        """The recorded values of ``label`` (NaN where inactive), read-only view."""
        view = self._columns[label][: self._n]
        view.flags.writeable = False
        return view

    @property
    def losses(self) -> np.ndarray:
        """Recorded losses, NaN for failed trials, read-only view."""
        view = self._losses[: self._n]
        view.flags.writeable = False
        return view

    def _grow_if_full(self) -> None:
        if self._n < self._losses.size:
            return
        size = self._losses.size * 2
        self._losses = _grown(self._losses, size)
        self._violations = _grown(self._violations, size, fill=0.0)
        if self._objectives is not None:
            self._objectives = _grown(self._objectives, size)
        self._columns = {k: _grown(v, size) for k, v in self._columns.items()}


def _grown(array: np.ndarray, size: int, fill: float = np.nan) -> np.ndarray:
    bigger = np.full((size, *array.shape[1:]), fill)
    bigger[: array.shape[0]] = array
    return bigger
