"""What samplers learn from: finished trials as columnar arrays, plus pending points.

Callers (``fmin``, the driver) feed a :class:`History` incrementally, so a suggestion
after 10,000 trials does not rebuild 10,000 rows. Samplers read the arrays directly.
"""

from __future__ import annotations

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
    """

    def __init__(self, space: CompiledSpace) -> None:
        self.space = space
        self._n = 0
        self._columns = {
            spec.label: np.full(_INITIAL_CAPACITY, np.nan) for spec in space
        }
        self._losses = np.full(_INITIAL_CAPACITY, np.nan)
        self.pending: list[Mapping[str, Any]] = []

    def __len__(self) -> int:
        return self._n

    def add(self, params: Mapping[str, Any], loss: float | None) -> None:
        """Record one finished trial; ``loss=None`` (or NaN) marks a failed trial."""
        self._grow_if_full()
        for label, column in self._columns.items():
            value = params.get(label)
            column[self._n] = np.nan if value is None else float(value)
        ok = loss is not None and not math.isnan(float(loss))
        self._losses[self._n] = float(loss) if ok else np.nan
        self._n += 1

    def set_pending(self, pending: Sequence[Mapping[str, Any]]) -> None:
        """Replace the list of queued-or-running trials' params."""
        self.pending = list(pending)

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
        self._columns = {k: _grown(v, size) for k, v in self._columns.items()}


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    bigger = np.full(size, np.nan)
    bigger[: array.size] = array
    return bigger
