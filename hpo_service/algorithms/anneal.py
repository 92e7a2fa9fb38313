"""Annealing search: sample near one of the best trials, ever closer as trials accrue.

hyperopt's ``anneal.suggest`` with its semantics and settings (reference:
``hyperopt/anneal.py``, J. Bergstra). For each new point, parameter by parameter in
the space's order:

1. if no trial used the parameter yet, draw it from the prior;
2. otherwise take an *anchor* trial: the anchor already picked for this point when it
   used the parameter too, else the ``k``-th best trial that used it, with
   ``k ~ Geometric(1 / avg_best_idx) - 1`` (0 is the best; failed trials rank
   last);
3. draw near the anchor's value from the prior narrowed by
   ``shrink = 1 / (1 + T * shrink_coef)``, ``T`` the number of trials that used the
   parameter: uniforms from a window ``shrink`` times the range wide, centred on the
   value and shifted to stay in bounds (in log space for ``log*``); normals from
   ``N(value, shrink * sigma)``; choices and ``randint`` from
   ``(1 - shrink) * onehot(value) + shrink * prior``.

Settings: ``avg_best_idx`` (2.0), ``shrink_coef`` (0.1). Use as
``algo=anneal.suggest`` or ``functools.partial(anneal.suggest, shrink_coef=0.2)``.

With several objectives or constraints, "best" is MOTPE's order
(:func:`~hpo_service.algorithms.motpe.rank_trials`): trials that satisfy their
constraints first, by non-domination rank, then the others by total violation; so the
search anneals inside the feasible region and along the Pareto front.

Unlike hyperopt, queued and running trials are not observations (hyperopt anchors on
them too, so parallel workers would crowd around points nobody has scored); several
points asked for at once are independent draws from the same narrowed priors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from hpo_service._common.words import did_you_mean_each
from hpo_service.algorithms._history import History
from hpo_service.space._sample import draw, finish
from hpo_service.space._spec import CompiledSpace, ParamSpec

NAME = "anneal"

__all__ = ["NAME", "AnnealSettings", "check_settings", "suggest"]

_TINY = 1e-16  # keeps log() of a quantised zero finite, as hyperopt's qlognormal


@dataclass(frozen=True)
class AnnealSettings:
    """Settings of :func:`suggest` (hyperopt's ``AnnealingAlgo`` arguments).

    Attributes:
        avg_best_idx: Mean rank (0 = best) of the trial to sample around.
        shrink_coef: How fast the sampling neighbourhood narrows per observation.
    """

    avg_best_idx: float = 2.0
    shrink_coef: float = 0.1

    @classmethod
    def from_kwargs(cls, settings: Mapping[str, Any]) -> AnnealSettings:
        """Check and build the settings.

        Raises:
            TypeError: An unknown setting name.
            ValueError: ``avg_best_idx < 1`` or ``shrink_coef < 0``.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise TypeError(
                f"`settings` must be among {sorted(known)}, but got unknown={unknown}"
                + did_you_mean_each(unknown, known)
            )
        config = cls(**{k: float(v) for k, v in settings.items()})
        if not config.avg_best_idx >= 1:
            raise ValueError(
                "`avg_best_idx >= 1` must hold, "
                f"but got avg_best_idx={config.avg_best_idx}"
            )
        if not config.shrink_coef >= 0:
            raise ValueError(
                "`shrink_coef >= 0` must hold, "
                f"but got shrink_coef={config.shrink_coef}"
            )
        return config


def suggest(
    space: CompiledSpace,
    history: History,
    rng: np.random.Generator,
    n: int = 1,
    **settings: Any,
) -> list[dict[str, Any]]:
    """Suggest ``n`` points by annealing around the best trials.

    Args:
        space: The compiled search space.
        history: Finished trials (pending ones are ignored: they carry no loss).
        rng: Random generator; the same seed and history give the same output.
        n: Number of points.
        **settings: ``avg_best_idx``, ``shrink_coef`` (see :class:`AnnealSettings`).

    Returns:
        ``n`` params dicts holding the active parameters only.

    Raises:
        ValueError: ``n < 1`` or a setting out of range.
        TypeError: An unknown setting.
    """
    if n < 1:
        raise ValueError(f"`n >= 1` must hold, but got n={n!r}")
    config = AnnealSettings.from_kwargs(settings)
    if history.n_objectives > 1 or history.has_violations:
        history = _ranked(history)
    observed = _Observations(space, history)
    return [_Point(observed, config, rng).draw() for _ in range(n)]


def _ranked(history: History) -> History:
    """``history`` with each trial's place in MOTPE's order as its loss."""
    from hpo_service.algorithms import motpe
    from hpo_service.algorithms._tpe.sampler import TPESettings

    settings = TPESettings.from_kwargs(motpe.MULTI_OBJECTIVE_DEFAULTS)
    return history.scalarised(motpe.rank_trials(history, settings))


#: ``fmin`` seeds each point of this algorithm with ``seed + tid``, as hyperopt's
#: anneal does, so that a seed gives hyperopt's points on one-parameter spaces.
suggest.seed_per_tid = True  # type: ignore[attr-defined]


def check_settings(settings: dict[str, Any]) -> None:
    """Check anneal settings without suggesting (see :class:`AnnealSettings`).

    Raises:
        TypeError: An unknown setting name.
        ValueError: A setting out of range.
    """
    AnnealSettings.from_kwargs(settings)


class _Observations:
    """Per-parameter values and the losses of the trials that used them."""

    def __init__(self, space: CompiledSpace, history: History) -> None:
        self.space = space
        losses = np.where(np.isnan(history.losses), np.inf, history.losses)
        self.losses = losses.tolist()
        self.values = {
            spec.label: history.values(spec.label).tolist() for spec in space
        }
        for params in history.pending:
            self.add_pending(params)

    def add_pending(self, params: Mapping[str, Any]) -> None:
        """A trial without a loss yet: ranked last."""
        self.losses.append(math.inf)
        for label, column in self.values.items():
            value = params.get(label)
            column.append(math.nan if value is None else float(value))

    def rows(self, label: str) -> list[int]:
        """The trials (row numbers) that used ``label``."""
        return [i for i, v in enumerate(self.values[label]) if not math.isnan(v)]


class _Point:
    """Draws one new point, parameter by parameter, keeping its anchors."""

    def __init__(
        self,
        observed: _Observations,
        config: AnnealSettings,
        rng: np.random.Generator,
    ) -> None:
        self.observed = observed
        self.config = config
        self.rng = rng
        self.anchors: list[int] = []

    def draw(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for spec in self.observed.space.draw_order:  # hyperopt's order
            if spec.is_active(params):
                params[spec.label] = self._value(spec)
        return params

    def _value(self, spec: ParamSpec) -> int | float:
        rows = self.observed.rows(spec.label)
        if not rows:
            return draw(spec, self.rng)
        anchor = self._anchor(rows)
        value = self.observed.values[spec.label][anchor]
        shrink = 1.0 / (1.0 + len(rows) * self.config.shrink_coef)
        return _near(spec, value, shrink, self.rng)

    def _anchor(self, rows: list[int]) -> int:
        """An anchor of this point that used the parameter, else a new good one."""
        usable = set(rows)
        for row in self.anchors:
            if row in usable:
                return row
        rank = int(self.rng.geometric(1.0 / self.config.avg_best_idx)) - 1
        rank = min(max(rank, 0), len(rows) - 1)
        losses = [self.observed.losses[r] for r in rows]
        row = rows[int(np.argsort(losses)[rank])]  # hyperopt's (default) sort
        self.anchors.append(row)
        return row


def _near(
    spec: ParamSpec, value: float, shrink: float, rng: np.random.Generator
) -> int | float:
    """A draw from the prior of ``spec`` narrowed around ``value`` by ``shrink``."""
    if spec.kind in ("choice", "randint"):
        return _near_category(spec, int(value), shrink, rng)
    if spec.kind == "uniform":
        assert spec.low is not None and spec.high is not None
        centre = math.log(max(value, _TINY)) if spec.log else value
        half = 0.5 * (spec.high - spec.low) * shrink
        centre = min(max(centre, spec.low + half), spec.high - half)
        return finish(spec, float(rng.uniform(centre - half, centre + half)))
    assert spec.sigma is not None
    centre = (
        math.log(value + _TINY if spec.q else max(value, _TINY)) if spec.log else value
    )
    return finish(spec, float(rng.normal(centre, spec.sigma * shrink)))


def _near_category(
    spec: ParamSpec, value: int, shrink: float, rng: np.random.Generator
) -> int:
    n = spec.n_options
    offset = 0 if spec.kind == "choice" else int(spec.low)  # type: ignore[arg-type]
    onehot = np.zeros(n)
    onehot[value - offset] = 1.0
    weights = np.asarray(spec.weights) if spec.kind == "choice" else None
    if weights is None or np.all(weights == weights[0]):
        # hyperopt's randint (hp.choice's index): shrink / n, not shrink * (1 / n);
        # the last bit of p changes the multinomial's draw (1/3 is inexact)
        p = (1.0 - shrink) * onehot + shrink / n
    else:
        p = (1.0 - shrink) * onehot + shrink * weights  # hyperopt's pchoice
    return offset + int(np.argmax(rng.multinomial(1, p)))
