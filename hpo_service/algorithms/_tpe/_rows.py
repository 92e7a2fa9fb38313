"""Which recorded trials feed a group's two densities, at a cost that does not grow.

For each group TPE needs the rows in which the group was active, the best ``n_below``
of them (the "good" set) and a weighted subsample of the rest (the "bad" set, capped
at ``max_above_kernels`` components, older rows fading linearly). Recomputing those from
scratch is O(n) per suggestion; here they are kept per ``History`` object and brought up
to date with the rows appended since the last call, so a suggestion after 50,000 trials
costs about what it costs after 500. This relies on ``History`` rows being append-only.

The good set is the ``n_below`` smallest losses, ties broken by the earlier row (failed
trials, NaN, count as ``+inf``); the above subsample is systematic (stratified) sampling
of the forgetting weights, one random offset per call.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field

import numpy as np

from hpo_service.algorithms._history import History

_logger = logging.getLogger(__name__)

_CACHE: weakref.WeakKeyDictionary[History, dict[tuple, GroupRows]] = (
    weakref.WeakKeyDictionary()
)


@dataclass
class GroupRows:
    """Incremental state of one group in one history."""

    seen: int = 0  # history rows scanned for activity
    merged: int = 0  # active rows already merged into the best rows
    rows: np.ndarray = field(default_factory=lambda: np.empty(64, dtype=np.intp))
    count: int = 0  # active rows in ``rows[:count]``
    top_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.intp))
    top_losses: np.ndarray = field(default_factory=lambda: np.empty(0))

    def extend(self, new: np.ndarray) -> None:
        if self.count + new.size > self.rows.size:
            grown = np.empty(max(2 * self.rows.size, self.count + new.size), np.intp)
            grown[: self.count] = self.rows[: self.count]
            self.rows = grown
        self.rows[self.count : self.count + new.size] = new
        self.count += new.size

    @property
    def active(self) -> np.ndarray:
        return self.rows[: self.count]


def group_rows(
    history: History, labels: tuple[str, ...], ignore_failures: bool
) -> GroupRows:
    """The group's active rows, brought up to date with ``history`` (cached)."""
    per_history = _CACHE.setdefault(history, {})
    key = (labels, ignore_failures)
    state = per_history.get(key)
    n = len(history)
    if state is None or state.seen > n:
        state = per_history[key] = GroupRows()
    if state.seen < n:
        active = ~np.isnan(history.values(labels[0])[state.seen :])
        if ignore_failures:
            active &= ~np.isnan(history.losses[state.seen :])
        state.extend(np.flatnonzero(active) + state.seen)
        state.seen = n
    return state


def below_rows(history: History, state: GroupRows, n_below: int) -> np.ndarray:
    """The ``n_below`` active rows with the smallest losses, in row order.

    Updates ``state``: the best rows found so far plus the rows appended since then
    hold the best ``n_below`` whenever ``n_below`` did not grow beyond the kept set.
    """
    if n_below <= state.top_rows.size:
        fresh = state.active[state.merged :]
        if fresh.size == 0 and n_below == state.top_rows.size:
            return np.sort(state.top_rows)  # nothing new: the kept rows are the best
        rows = np.concatenate([state.top_rows, fresh])
        losses = np.concatenate([state.top_losses, _losses(history, fresh)])
    else:
        rows = state.active
        losses = _losses(history, rows)
    order = np.lexsort((rows, losses))[:n_below]
    state.top_rows, state.top_losses = rows[order], losses[order]
    state.merged = state.count
    return np.sort(state.top_rows)


def study_best_rows(history: History, n_best: int, ignore_failures: bool) -> np.ndarray:
    """The ``n_best`` rows of the whole study with the smallest losses, ascending.

    Ties go to the earlier row; failed trials (NaN) count as ``+inf``, and with
    ``ignore_failures`` are never among them. O(n) per call (no cache: it serves
    ``below_rule="sqrt"``, an option).
    """
    losses = np.nan_to_num(history.losses, nan=np.inf)
    if ignore_failures:
        n_best = min(n_best, int(np.count_nonzero(~np.isnan(history.losses))))
    if n_best <= 0:
        return np.empty(0, dtype=np.intp)
    order = np.lexsort((np.arange(losses.size), losses))[:n_best]
    return np.sort(order).astype(np.intp)


def _losses(history: History, rows: np.ndarray) -> np.ndarray:
    return np.nan_to_num(history.losses[rows], nan=np.inf)


def above_rows(
    state: GroupRows,
    below: np.ndarray,
    linear_forgetting: int,
    cap: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and weights of the "above" density: every active row not in ``below``.

    Rows are weighted by linear forgetting (the newest ``linear_forgetting`` at 1,
    older ones fading to ``1 / m``); beyond ``cap`` rows a systematic sample of ``cap``
    draws proportional to those weights is taken (a row drawn twice weighs 2).

    Args:
        state: The group's active rows.
        below: The good rows (sorted, all active).
        linear_forgetting: Number of most recent rows at full weight.
        cap: Most components to return.
        rng: Random generator (one uniform draw when subsampling).

    Returns:
        Rows (ascending) and their weights.
    """
    active = state.active
    m = active.size - below.size
    if m <= cap:
        rows = np.setdiff1d(active, below, assume_unique=True)
        return rows, _forgetting_weights(m, linear_forgetting)
    positions, counts = _runs(_systematic(m, linear_forgetting, cap, rng))
    # The j-th active row that is not below: skip the below rows at or before it.
    below_at = np.searchsorted(active, below)
    shifted = below_at - np.arange(below.size)
    index = positions + np.searchsorted(shifted, positions, "right")
    return active[index], counts.astype(float)


def _runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and their counts (``np.unique``'s, cheaper)."""
    new = np.empty(sorted_values.size, dtype=bool)
    new[:1] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1:] = sorted_values.size
    return sorted_values[starts], ends - starts


def _forgetting_weights(n: int, linear_forgetting: int) -> np.ndarray:
    """Weights of ``n`` chronological observations: old ones fade linearly."""
    weights = np.ones(n)
    n_ramp = n - linear_forgetting
    if n_ramp > 0:
        weights[:n_ramp] = np.linspace(1.0 / n, 1.0, n_ramp)
    return weights


def _systematic(
    m: int, linear_forgetting: int, size: int, rng: np.random.Generator
) -> np.ndarray:
    """``size`` positions in ``[0, m)``, systematic sampling of the forgetting weights.

    The weights are treated as the continuous ramp ``a + b x`` on ``[0, r)`` (``r = m -
    linear_forgetting``, from ``1 / m`` to 1) followed by 1 on ``[r, m)``, whose
    cumulative weight is inverted in closed form: O(size), not O(m).
    """
    r = max(m - linear_forgetting, 0)
    a = 1.0 / m
    b = (1.0 - a) / r if r > 0 else 0.0
    ramp_total = a * r + 0.5 * b * r * r
    total = ramp_total + (m - r)
    u = (rng.random() + np.arange(size)) * (total / size)
    in_ramp = u < ramp_total
    # No invalid value or division by zero: u >= 0, a > 0 and b > 0 where used.
    x_ramp = (np.sqrt(a * a + 2.0 * b * u) - a) / b if b > 0 else u / a
    x = np.where(in_ramp, x_ramp, r + (u - ramp_total))
    return np.minimum(x.astype(np.intp), m - 1)


__all__ = ["GroupRows", "above_rows", "below_rows", "group_rows", "study_best_rows"]
