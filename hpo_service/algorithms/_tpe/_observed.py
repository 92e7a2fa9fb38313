"""Every recorded trial of a group in the densities' internal form, kept incrementally.

:meth:`GroupLayout.observations` maps recorded values to normalised numeric columns
and option indices. The good and bad sets change at every suggestion, but each row's
normalised form does not, so it is computed once per row (when the row is first seen)
and kept per ``History`` object and group layout; the sets are then gathered by row
number. This relies on ``History`` rows being append-only, as :mod:`._rows` does.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.parzen_estimator import GroupLayout

_CACHE: weakref.WeakKeyDictionary[History, dict[GroupLayout, _Observed]] = (
    weakref.WeakKeyDictionary()
)


@dataclass
class _Observed:
    """The normalised rows of one group in one history (zeros where inactive)."""

    seen: int = 0
    numeric: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    options: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.intp))

    def grow(self, n: int) -> None:
        """Make room for ``n`` rows (doubling, so appends cost O(1) on average)."""
        if n <= self.numeric.shape[0]:
            return
        size = max(n, 2 * self.numeric.shape[0], 64)
        for name in ("numeric", "options"):
            old = getattr(self, name)
            new = np.zeros((size, old.shape[1]), dtype=old.dtype)
            new[: self.seen] = old[: self.seen]
            setattr(self, name, new)


def observed(history: History, layout: GroupLayout) -> tuple[np.ndarray, np.ndarray]:
    """Normalised numeric values and option indices of every row of ``history``.

    Args:
        history: The recorded trials (append-only).
        layout: The group's layout; its first parameter tells where it is active.

    Returns:
        ``(numeric, options)``, at least ``len(history)`` rows each (``numeric`` is
        ``(rows, n_numeric)``, ``options`` ``(rows, n_categorical)``), indexed by row
        number; rows where the group is inactive hold zeros. Read them, do not write.
    """
    per_history = _CACHE.setdefault(history, {})
    state = per_history.get(layout)
    n = len(history)
    if state is None or state.seen > n:
        state = per_history[layout] = _Observed(
            numeric=np.zeros((0, len(layout.numeric))),
            options=np.zeros((0, len(layout.categorical)), dtype=np.intp),
        )
    if state.seen < n:
        _append(state, history, layout, n)
    return state.numeric, state.options


def _append(state: _Observed, history: History, layout: GroupLayout, n: int) -> None:
    """Normalise the rows ``state.seen .. n`` in which the group is active."""
    state.grow(n)
    first = history.values(layout.specs[0].label)[state.seen : n]
    rows = np.flatnonzero(~np.isnan(first)) + state.seen
    if rows.size:
        columns = [history.values(spec.label)[rows] for spec in layout.specs]
        state.numeric[rows], state.options[rows] = layout.observations(columns)
    state.seen = n


__all__ = ["observed"]
