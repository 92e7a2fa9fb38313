"""Multi-objective TPE (MOTPE), and TPE under constraints.

Use it like TPE: ``algo=motpe.suggest`` (``tpe.suggest`` hands multi-objective and
constrained studies to it by itself). It accepts the settings of
:mod:`~hpo_service.algorithms.tpe`; for several objectives ``gamma`` defaults to
``0.10``, ``max_below`` to ``100``, ``multivariate`` to False (one density per
parameter, as in the paper and in Optuna: on ``benchmarks/multi_objective.py`` the
joint kernels lose hypervolume with 8 workers on the 30-variable ZDT problems) and
``whole_end_bins`` to True (quantised end values get whole rounding bins in the
densities, as in Optuna; since 2026-11-30: on the decision-tree problem it adds about
1.0-1.5 hypervolume sequentially and with 8 workers, and it changes nothing on
continuous spaces); pass ``whole_end_bins=False`` for hyperopt's half end bins.
With parallel workers ``avoid_repeats`` defaults to ``"pending"`` (since 2026-11-30:
a proposal that repeats a pending trial's configuration is re-picked; with 8 workers
it was at least level with ``"none"`` on every problem and seed range measured, and it
never changes a sequential run); pass ``avoid_repeats="none"`` for the plain liar.

The method follows Ozaki, Tanigaki, Watanabe, Nomura and Onishi, "Multiobjective
Tree-Structured Parzen Estimator", JAIR 73 (2022) (first: Ozaki et al., "Multiobjective
tree-structured Parzen estimator for computationally expensive optimization problems",
GECCO 2020): TPE's good set :math:`l(x)` holds the ``ceil(gamma * n)`` best trials,
where *best* means a lower non-domination rank, and within the rank that does not fit
whole, a larger hypervolume contribution (greedy hypervolume subset selection); the next
point maximises :math:`l(x) / g(x)` as in TPE, with pending trials of parallel workers
counted among the bad ones (constant liar).

Constraints follow the feasibility-first ranking of Optuna's ``constraints_func``
(after Deb 2000, "An efficient constraint handling method for genetic algorithms"): a
trial is feasible when every constraint value is ``<= 0``; every feasible trial ranks
before every infeasible one, and infeasible ones rank by their total violation (the sum
of their positive constraint values). So the good set holds infeasible trials only
while fewer feasible ones than its size exist, and the sampler moves towards, then
within, the feasible region.

Differences from the paper and from Optuna 5's ``TPESampler`` on several objectives:

- the densities are our TPE's (:mod:`~hpo_service.algorithms._tpe`: truncated normal
  kernels with Scott bandwidths, prior component, linear forgetting of old bad trials);
  univariate by default as in the paper and Optuna, joint with ``multivariate=True``;
- every good trial's kernel has the same weight (as in Optuna 5); the paper weights
  them by hypervolume contribution (measured with a reference point of 2.0 in scaled
  units: better on the decision-tree problem sequentially, worse on ZDT with 8 workers,
  so not adopted; see ``benchmarks/README.md``);
- for the subset selection each objective is scaled to ``[0, 1]`` over the rank being
  split and the reference point is ``1.1`` in every objective, so shifting or scaling
  an objective (seconds vs milliseconds, error vs accuracy offset) changes nothing;
  Optuna puts the reference point at ``1.1`` (or ``0.9``) times the raw worst values;
- the end values of quantised parameters (``uniformint``, ``q*``) get a whole rounding
  bin in the densities, as Optuna's ``suggest_int`` gives them, but the startup trials
  still draw them from the space's prior (hyperopt's definition: half a bin at each
  end), as random search does;
- the good set is capped at ``max_below`` trials (Optuna does not cap it on several
  objectives), which keeps long studies selective and the ranking cheap;
- with ``keep_extremes=True`` (default False) the rank being split first gives the
  good set its best trial in each objective (the ends of the front), then the greedy
  selection fills the rest; scaled to ``[0, 1]`` with the reference at ``1.1``, the
  end of a front that flattens (error against model size: the lowest-error trees)
  owns a thin strip of volume and is left out of the good set for much of a study
  (neither the paper nor Optuna has it; measured in ``benchmarks/README.md``);
- failed trials rank after every infeasible one (Optuna leaves them out);
- a trial whose losses equal an earlier trial's exactly is a tie, as in the paper and
  Optuna: repeats of a front point are all non-dominated and all join the good set
  while the front fits in it. With ``duplicate_losses="last"`` (default ``"keep"``)
  each loss vector counts once: later copies rank after every first arrival (neither
  the paper nor Optuna has it; measured in ``benchmarks/README.md``);
- with ``good_weights="copies"`` (default ``"uniform"``) a good trial's kernel weighs
  ``1 / c`` for the ``c`` finished trials that gave exactly its loss vector, so a
  front point that keeps being reproduced draws less of the good density (neither the
  paper nor Optuna has it; measured in ``benchmarks/README.md``);
- with parallel workers, a proposal whose discrete values equal a pending trial's and
  whose continuous ones lie within a tenth of their range is re-picked where that costs
  the least score (``avoid_repeats="pending"``; neither the paper nor Optuna has it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._pareto import (
    greedy_hypervolume_subset,
    non_dominated_ranks,
)
from hpo_service.algorithms._tpe.sampler import TPESettings
from hpo_service.space._spec import CompiledSpace

NAME = "motpe"

#: Defaults that replace TPE's when a study has several objectives.
MULTI_OBJECTIVE_DEFAULTS: dict[str, Any] = {
    "gamma": 0.10,
    "max_below": 100,
    "multivariate": False,
    # TPE's liar for parallel workers was chosen on single-objective problems only
    # (benchmarks/parallel_efficiency.py); MOTPE keeps the plain constant liar.
    "liar_width": "above",
    "pending_widen": 0.0,
    "prior_gate": "none",
    # Optuna's integer bins: quantised end values get whole bins in the densities
    # (the startup trials keep the space's prior); see benchmarks/README.md, tree.
    "whole_end_bins": True,
    # With parallel workers, a proposal that repeats a pending trial's configuration
    # is re-picked (never changes a sequential run); see benchmarks/README.md, tree.
    "avoid_repeats": "pending",
}
_REFERENCE = 1.1


def suggest(
    space: CompiledSpace,
    history: History,
    rng: np.random.Generator,
    n: int = 1,
    **settings: Any,
) -> list[dict[str, Any]]:
    """Suggest ``n`` new points with MOTPE (see the module docstring).

    Args:
        space: The compiled search space.
        history: Finished trials (loss vectors, violations) and pending params.
        rng: Random generator; the same seed and history give the same output.
        n: Number of suggestions.
        **settings: TPE settings (see :mod:`~hpo_service.algorithms.tpe`).

    Returns:
        ``n`` params dicts ``{label: value}`` holding the active parameters only.

    Raises:
        ValueError: If ``n < 1`` or a setting is out of range.
        TypeError: If a setting name is unknown.
    """
    settings = tpe.canonical_settings(settings)
    if history.n_objectives > 1:
        settings = {**MULTI_OBJECTIVE_DEFAULTS, **settings}
    config = TPESettings.from_kwargs(settings)
    weights = None
    if config.good_weights == "copies" and history.n_objectives > 1:
        weights = copy_weights(history.objectives)
    ranked = history.scalarised(rank_trials(history, config), weights)
    return tpe.suggest(space, ranked, rng, n, **settings)


def copy_weights(objectives: np.ndarray) -> np.ndarray:
    """``good_weights="copies"``: each trial's good-kernel weight, ``1 / c`` for the
    ``c`` finished trials (itself included) whose loss vector equals its own exactly.

    Args:
        objectives: Loss vectors ``(n, m)``; NaN rows (failed trials) weigh 1.

    Returns:
        Weights ``(n,)`` in ``(0, 1]``.
    """
    weights = np.ones(objectives.shape[0])
    ok = ~np.isnan(objectives).any(axis=1)
    if ok.any():
        _, inverse, counts = np.unique(
            objectives[ok], axis=0, return_inverse=True, return_counts=True
        )
        weights[ok] = 1.0 / counts[inverse.reshape(-1)]
    return weights


def rank_trials(history: History, settings: TPESettings) -> np.ndarray:
    """Each trial's place in MOTPE's order, best first (NaN for failed trials).

    Feasible trials come first, by non-domination rank, the rank that the good set
    cuts through ordered by greedy hypervolume subset selection; then infeasible
    trials by total violation.

    Args:
        history: The trials.
        settings: TPE settings (``gamma``, ``max_below``, ``ignore_failures`` fix the
            size of the good set).

    Returns:
        Float places ``0, 1, ...`` per trial ``(len(history),)``, NaN for failures.
    """
    objectives, violations = history.objectives, history.violations
    ok = ~np.isnan(objectives).any(axis=1)
    rows = int(ok.sum()) if settings.ignore_failures else len(history)
    n_below = min(math.ceil(settings.gamma * rows), settings.max_below, rows)
    feasible = np.flatnonzero(ok & (violations <= 0))
    infeasible = np.flatnonzero(ok & (violations > 0))
    if settings.duplicate_losses == "last" and objectives.shape[1] > 1:
        feasible = _first_arrivals_order(
            objectives[feasible], feasible, n_below, settings
        )
    else:
        feasible = feasible[
            _feasible_order(objectives[feasible], n_below, settings.keep_extremes)
        ]
    order = np.concatenate(
        [feasible, infeasible[np.argsort(violations[infeasible], kind="stable")]]
    )
    places = np.full(len(history), np.nan)
    places[order] = np.arange(order.size, dtype=float)
    return places


def _first_arrivals_order(
    points: np.ndarray, rows: np.ndarray, n_below: int, settings: TPESettings
) -> np.ndarray:
    """``duplicate_losses="last"``: ``rows`` (the trials of ``points``, in arrival
    order) ordered first arrivals of each loss vector first, then the later copies,
    each part in :func:`_feasible_order`'s order."""
    _, first_index = np.unique(points, axis=0, return_index=True)
    first = np.zeros(rows.size, dtype=bool)
    first[first_index] = True
    parts = []
    for part in (np.flatnonzero(first), np.flatnonzero(~first)):
        n_part = max(0, n_below - sum(p.size for p in parts))
        order = _feasible_order(points[part], n_part, settings.keep_extremes)
        parts.append(rows[part[order]])
    return np.concatenate(parts)


def _feasible_order(
    points: np.ndarray, n_below: int, keep_extremes: bool = False
) -> np.ndarray:
    """Row order of feasible trials: by rank, the cut rank by hypervolume greed
    (after its extremes, with ``keep_extremes``)."""
    if points.shape[1] == 1:
        return np.argsort(points[:, 0], kind="stable")
    n_below = min(n_below, points.shape[0])
    ranks = non_dominated_ranks(points, max_points=n_below)
    order = np.lexsort((np.arange(ranks.size), ranks))
    if n_below == 0:
        return order
    before = int(np.sum(ranks < ranks[order[n_below - 1]]))
    cut = ranks[order[before]]
    members = order[ranks[order] == cut]
    if members.size == n_below - before:
        return order
    scaled = _normalised(points[members])
    k = n_below - before
    first = _extremes(scaled, k) if keep_extremes else []
    chosen = greedy_hypervolume_subset(
        scaled, k, np.full(points.shape[1], _REFERENCE), first
    )
    rest = np.setdiff1d(np.arange(members.size), chosen, assume_unique=True)
    order[before : before + members.size] = members[np.concatenate([chosen, rest])]
    return order


def _extremes(points: np.ndarray, k: int) -> list[int]:
    """``keep_extremes``: for each objective in turn, the row best in it (ties: best
    in the next objectives), each row once, at most ``k`` rows.

    For two objectives these are the two ends of the front being split.
    """
    rows: list[int] = []
    m = points.shape[1]
    for j in range(m):
        keys = [points[:, (j + i) % m] for i in range(m)]  # j first, then the rest
        best = int(np.lexsort(keys[::-1])[0])
        if best not in rows and len(rows) < k:
            rows.append(best)
    return rows


def _normalised(points: np.ndarray) -> np.ndarray:
    """Each objective scaled to ``[0, 1]`` over the finite values of ``points``.

    Infinite losses sit at the reference point (``+inf``, adding no volume) or just
    beyond the best end (``-inf``).
    """
    finite = np.where(np.isfinite(points), points, np.nan)
    with np.errstate(all="ignore"):
        low = np.nan_to_num(np.nanmin(finite, axis=0), nan=0.0)
        span = np.nan_to_num(np.nanmax(finite, axis=0), nan=0.0) - low
    span[span <= 0] = 1.0
    scaled = (points - low) / span
    return np.nan_to_num(scaled, posinf=_REFERENCE, neginf=1.0 - _REFERENCE)


def check_settings(settings: dict[str, Any]) -> None:
    """Check settings: MOTPE takes TPE's (hyperopt's spellings too).

    Raises:
        TypeError: An unknown setting name.
        ValueError: A setting out of range.
    """
    tpe.check_settings(settings)


def canonical_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` as a study stores them: see :func:`.tpe.canonical_settings`."""
    return tpe.canonical_settings(settings)


__all__ = [
    "MULTI_OBJECTIVE_DEFAULTS",
    "NAME",
    "canonical_settings",
    "check_settings",
    "copy_weights",
    "rank_trials",
    "suggest",
]
