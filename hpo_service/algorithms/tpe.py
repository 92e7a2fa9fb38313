"""Tree-structured Parzen Estimator (TPE) suggestions.

Usage mirrors hyperopt: pass ``tpe.suggest`` as the algorithm, and tune it with
``functools.partial(tpe.suggest, n_startup_jobs=20, gamma=0.15)``. Settings (all
JSON-able, see :class:`~hpo_service.algorithms._tpe.sampler.TPESettings` for the full
list and the defaults):

- ``n_startup_jobs`` (10): random trials before modelling starts;
- ``n_ei_candidates`` (24): candidates drawn from the "good" density per suggestion;
- ``gamma`` (0.07): share of trials forming the "good" set, at most ``max_below``
  (25); note hyperopt's rule is ``ceil(gamma * sqrt(n))`` with gamma 0.25;
- ``below_rule`` ("share"; "sqrt"): "sqrt" is hyperopt's rule, the best
  ``ceil(gamma * sqrt(n))`` trials of the whole study form every group's good set
  (those of them in which the group is active), to be used with ``gamma=0.25``;
- ``prior_weight`` (1.5): weight of the prior component;
- ``multivariate`` (True): model parameters that are active together jointly;
- ``branch_joint`` (False): model each conditional group jointly with the unconditional
  numeric parameters, on its branch's trials (e.g. an rbf SVM's ``C`` with ``gamma``);
  it needs ``multivariate``: with ``multivariate=False`` (MOTPE's default on several
  objectives) it changes nothing;
- ``constant_liar`` (True): pending trials count as bad observations;
- ``bandwidth`` ("scott"), ``bandwidth_floor`` (0.3): kernel width rule and its floor;
  ``quantised_floor`` (0: ``bandwidth_floor``): the floor of the quantised parameters'
  kernels (hyperopt's and Optuna's "magic clip" is 1.0); ``quantised_kernels``
  ("same"; "gaps_above" or "gaps"): the quantised parameters' kernels in the bad
  density (with "gaps" in both) as wide as the larger gap to a sorted neighbour, as in
  Optuna, so a value tried many times gets narrow kernels on its own bin; ``log_floor``
  (0: ``bandwidth_floor``): the floor of the log-scaled parameters' kernels
  (``loguniform``, ``qloguniform``, ``lognormal``; a quantised one takes the larger);
  ``continuous_kernels`` ("same"; "gaps"): the continuous parameters' kernels in both
  densities as wide as the larger gap to a sorted neighbour, as in Optuna (pending
  points in the bad density get narrow kernels of their own);
- ``ignore_failures`` (False): failed trials (NaN loss) count as the worst ones.
- parallel workers: ``liar_width`` ("good": pending points are kernels of the good
  density's width in the bad density; "above": they share the bad trials' widths;
  "gaps": as "above", but a pending point's continuous kernels are as wide as its
  larger gap to a sorted neighbour there, as Optuna gives its running trials),
  ``liar_floor`` (0.0; with "gaps": those kernels at least ``liar_floor / min(100,
  k + 1)`` of the range, 1.0 being Optuna's clip),
  ``liar_weight`` (1.0), ``pending_widen`` (1.0: the good density widens by
  ``1 + pending / finished``), ``max_widen`` (2.0: at most that factor),
  ``prior_gate`` ("count": no candidates from the good density's prior while
  ``n_startup_jobs`` or more points are pending; "none": always some),
  ``marginal_gate`` ("none"; "count": while ``n_startup_jobs`` or more points are
  pending, each parameter of a candidate is drawn from its own good component, as
  with ``marginal_draws``), ``marginal_share`` (1.0: while per-parameter draws are
  on, that share of the candidates is drawn so and the rest as whole points, the
  score picking among both).
- ``whole_end_bins`` (False; True on several objectives, see
  :mod:`~hpo_service.algorithms.motpe`): the densities give the end values of
  ``uniformint`` / ``quniform`` / ``qloguniform`` parameters whole rounding bins, as
  Optuna's ``suggest_int`` does (hyperopt's definition gives them half a bin); the
  startup trials still draw from the space's prior.
- ``avoid_repeats`` ("none"; "pending" or "all") with ``repeat_radius`` (0.1): a
  proposal whose discrete values equal a pending point's (with "all" also a finished
  trial's) and whose continuous values lie within ``repeat_radius`` of that point's
  (in units of each parameter's range) is changed in the group where that costs the
  least score; it needs ``constant_liar`` (which passes the pending points).
- ``keep_extremes`` (False; several objectives only): MOTPE's good set always holds
  the best trial in each objective of the non-domination rank it splits (the ends of
  the front), see :mod:`~hpo_service.algorithms.motpe`.
- ``duplicate_losses`` ("keep"; "last"; several objectives only): with "last" MOTPE
  counts each loss vector once when it splits good from bad: a trial giving exactly
  an earlier trial's losses ranks after every first arrival, so repeats of a
  Pareto-front point no longer fill the good set (see
  :mod:`~hpo_service.algorithms.motpe`).
- ``good_weights`` ("uniform"; "copies"; several objectives only): with "copies" a
  good trial's kernel weighs ``1 / c`` for the ``c`` finished trials that gave
  exactly its loss vector (see :mod:`~hpo_service.algorithms.motpe`).

hyperopt's spellings are accepted too, so hyperopt code ports unchanged:
``n_EI_candidates`` is ``n_ei_candidates``, and ``verbose`` (hyperopt's logging switch)
is accepted and ignored. The other hyperopt arguments (``prior_weight``,
``n_startup_jobs``, ``gamma``, ``linear_forgetting``) have the same names here.

The defaults and why: ``benchmarks/README.md``.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.sampler import (
    TPESettings,
    sample_prior,
    suggest_batch,
)
from hpo_service.space._spec import CompiledSpace

NAME = "tpe"
_MAX_POINTS_PER_FIT = 8
#: hyperopt's names of TPE arguments that are spelt differently here.
HYPEROPT_NAMES = {"n_EI_candidates": "n_ei_candidates"}
#: hyperopt arguments that change nothing here (``verbose`` only switched logging).
IGNORED_SETTINGS = ("verbose",)


def suggest(
    space: CompiledSpace,
    history: History,
    rng: np.random.Generator,
    n: int = 1,
    **settings: Any,
) -> list[dict[str, Any]]:
    """Suggest ``n`` new points with TPE.

    The first ``n_startup_jobs`` trials come from the prior. After that each suggestion
    maximises ``l(x) / g(x)`` over candidates drawn from ``l``, where ``l`` models the
    best trials and ``g`` the rest plus (with ``constant_liar``) the pending trials and
    the earlier suggestions of this call. A large call (``n >= 8``) draws several
    points from each fit (see :func:`points_per_fit`). A history with several
    objectives or with constraint violations goes to :func:`.motpe.suggest`.

    Args:
        space: The compiled search space.
        history: Finished trials and pending params.
        rng: Random generator; the same seed and history give the same output.
        n: Number of suggestions.
        **settings: TPE settings (see the module docstring).

    Returns:
        ``n`` params dicts ``{label: value}`` holding the active parameters only.

    Raises:
        ValueError: If ``n < 1`` or a setting is out of range.
        TypeError: If a setting name is unknown.
    """
    if n < 1:
        raise ValueError(f"`n >= 1` must hold, but got n={n!r}")
    settings = canonical_settings(settings)
    if history.n_objectives > 1 or history.has_violations:
        from hpo_service.algorithms import motpe  # several objectives, or constraints

        return motpe.suggest(space, history, rng, n, **settings)
    config = _settings(settings)
    pending = list(history.pending) if config.constant_liar else []
    weights = history.pending_weights if config.constant_liar else None
    weights = None if weights is None else list(weights)
    per_fit = points_per_fit(n)
    out: list[dict[str, Any]] = []
    while len(out) < n:
        if len(history) < config.n_startup_jobs:
            batch = [sample_prior(space, rng)]
        else:
            size = min(per_fit, n - len(out))
            batch = suggest_batch(space, history, pending, rng, config, size, weights)
        out.extend(batch)
        if config.constant_liar:
            pending.extend(batch)
            if weights is not None:
                weights.extend([1.0] * len(batch))
    return out


def _settings(settings: dict[str, Any]) -> TPESettings:
    """``TPESettings.from_kwargs(settings)``, kept for repeated calls (a driver passes
    the same settings to every suggestion)."""
    try:
        key = tuple((name, type(v), v) for name, v in sorted(settings.items()))
        return _cached_settings(key)
    except TypeError:  # an unhashable value: let from_kwargs judge it
        return TPESettings.from_kwargs(settings)


@functools.lru_cache(maxsize=64)
def _cached_settings(key: tuple[tuple[str, type, Any], ...]) -> TPESettings:
    return TPESettings.from_kwargs({name: value for name, _, value in key})


def check_settings(settings: dict[str, Any]) -> None:
    """Check TPE settings (names and values) without suggesting.

    Raises:
        TypeError: An unknown setting name.
        ValueError: A setting out of range.
    """
    TPESettings.from_kwargs(canonical_settings(settings))


def canonical_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with hyperopt's spellings renamed and ignored ones dropped.

    Raises:
        TypeError: A setting is given under both spellings.
    """
    out: dict[str, Any] = {}
    for name, value in settings.items():
        if name in IGNORED_SETTINGS:
            continue
        ours = HYPEROPT_NAMES.get(name, name)
        if ours in out:
            raise TypeError(f"`{ours}` must be given once, but got it also as {name}")
        out[ours] = value
    return out


def points_per_fit(n: int) -> int:
    """How many of ``n`` points one fit of the densities serves.

    Up to 7 points, one each: every point sees the earlier ones as pending (the
    constant liar). Larger calls, which a driver makes only when workers finish trials
    faster than it can refit, refit about four times, and at least once per 8 points.
    """
    return max(1, min(_MAX_POINTS_PER_FIT, n // 4))


__all__ = ["NAME", "TPESettings", "canonical_settings", "check_settings", "suggest"]
