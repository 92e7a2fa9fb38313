"""The completed trials' curves that :class:`~._percentile.PercentilePruner` compares
a running trial with, kept in numpy arrays (a module of its own, so that importing
the pruners does not import numpy: every ``hpo-driver`` and ``hpo-worker`` start
does that).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class CompletedCurves:
    """Completed trials' curves, and per step asked for, their sorted summaries.

    A summary at step ``s`` is the running mean up to ``s`` (or the last value at or
    before ``s``) of a trial that reported at ``s`` or later. The curves are kept end
    to end in flat arrays; sorted summaries are kept per step and extended only by
    the trials completed since the step was last asked for, in one vectorised pass
    over their values (no Python loop over trials), so the first check at a step
    costs O(values of the study) in numpy and later ones O(new trials + n).
    """

    def __init__(self, running_average: bool) -> None:
        self._running_average = running_average
        self._count = 0  # completed trials, with or without reports
        self._steps = _Growing(np.int64)  # every reported curve, end to end
        self._values = _Growing(np.float64)
        self._starts = _Growing(np.int64)  # where each reported curve starts
        self._last_steps = _Growing(np.int64)  # each reported curve's last step
        self._by_step: dict[int, tuple[int, np.ndarray]] = {}

    def __len__(self) -> int:
        return self._count

    def add(self, intermediate: Mapping[int, float]) -> None:
        self._count += 1
        if not intermediate:
            return
        steps = np.array(sorted(intermediate), dtype=np.int64)
        values = np.array([intermediate[s] for s in steps.tolist()], dtype=float)
        if self._running_average:
            with np.errstate(invalid="ignore"):  # inf - inf in a cumulative sum
                values = np.cumsum(values) / np.arange(1, values.size + 1)
        self._starts.append(np.array([len(self._steps)]))
        self._last_steps.append(steps[-1:])
        self._steps.append(steps)
        self._values.append(values)

    def at(self, step: int) -> np.ndarray:
        folded, summaries = self._by_step.get(step, (0, np.empty(0)))
        curves = len(self._starts)
        if folded < curves:
            new = np.sort(self._summaries(step, folded, curves))
            summaries = np.insert(summaries, np.searchsorted(summaries, new), new)
        self._by_step[step] = (curves, summaries)
        return summaries

    def _summaries(self, step: int, first: int, end: int) -> np.ndarray:
        """The summaries at ``step`` of reported curves ``first`` .. ``end - 1``."""
        base = int(self._starts.view[first])
        steps, values = self._steps.view[base:], self._values.view[base:]
        offsets = self._starts.view[first:end] - base
        at_or_before = np.where(steps <= step, np.arange(steps.size), -1)
        last = np.maximum.reduceat(at_or_before, offsets)  # per curve: index or -1
        keep = (last >= offsets) & (self._last_steps.view[first:end] >= step)
        found = values[last[keep]]
        return found[~np.isnan(found)]


class _Growing:
    """A numpy array that grows by appending (amortised doubling)."""

    def __init__(self, dtype: Any) -> None:
        self._data = np.empty(64, dtype=dtype)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def view(self) -> np.ndarray:
        """The appended values (a view: valid until the next append)."""
        return self._data[: self._size]

    def append(self, values: np.ndarray) -> None:
        size = self._size + values.size
        if size > self._data.size:
            grown = np.empty(max(size, 2 * self._data.size), dtype=self._data.dtype)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : size] = values
        self._size = size
