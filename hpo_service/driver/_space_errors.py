"""Sampled points whose config the space's own code cannot make, in a driver.

In-process ``fmin`` ends such a trial as an error trial (hyperopt's
``Domain.evaluate`` makes the config inside the trial) and goes on with
``catch_eval_exceptions=True``, or raises :class:`SpaceCodeError` after recording
it. A driver (``hpo-driver start``, ``fmin`` on ``StoreTrials``) makes configs
itself, before queueing: here each sampled point's config is made on its own, a
point the space raises for becomes a finished ``error`` trial in the store (its
type ``SpaceCodeError``, its message saying where the space raised), and the
driver goes on or raises as ``fmin`` would.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from typing import Any

from hpo_service.driver._suggest import Suggester
from hpo_service.exceptions import SpaceCodeError
from hpo_service.store import FinishedTrial, NewTrial, TrialState


def configured(
    suggester: Suggester, points: Sequence[dict[str, Any]]
) -> tuple[list[NewTrial], list[SpaceCodeError]]:
    """The trials of the ``points`` whose config the space makes, and the errors
    of those it raised for, each in the order given.

    Args:
        suggester: The study's suggester (its space).
        points: Sampled params, validated (:meth:`Suggester.numbered_params`).
    """
    trials, raised = [], []
    for params in points:
        try:
            trials.append(NewTrial(params=params, config=suggester.config(params)))
        except SpaceCodeError as e:
            raised.append(e)
    return trials, raised


def error_trial(error: SpaceCodeError) -> FinishedTrial:
    """The finished ``error`` trial of a point the space raised for: its params, no
    config, and the error as a worker records one (``type``, ``message`` with
    where the space raised, as ``fmin``'s error trial says it, ``traceback`` of
    the original error)."""
    cause = error.error
    return FinishedTrial(
        params=dict(error.params),
        config=None,
        state=TrialState.ERROR,
        error={
            "type": type(error).__name__,
            "message": f"{error}{error.where()}",
            "traceback": "".join(traceback.format_exception(cause)),
        },
    )
