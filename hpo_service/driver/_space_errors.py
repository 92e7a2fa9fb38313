"""Sampled points whose config the space's own code cannot make, in a driver.

In-process ``fmin`` ends such a trial as an error trial (hyperopt's
``Domain.evaluate`` makes the config inside the trial) and goes on with
``catch_eval_exceptions=True``, or raises :class:`SpaceCodeError` after recording
it. A driver (``hpo-driver start``, ``fmin`` on ``StoreTrials``) makes configs
itself, before queueing: here each sampled point's config is made on its own, a
point the space raises for becomes a finished ``error`` trial in the store (its
type ``SpaceCodeError``, its message saying where the space raised), and the
driver goes on or raises as ``fmin`` would.

A point the user gives (``points_to_evaluate``, ``enqueue``,
``generate_trials_to_calculate`` on a store, ``hpo-driver enqueue``) is checked
before anything is written, as for one that does not fit the space: one the space
raises for is refused with :func:`refused_point`'s error, naming the point and
where the space raised, and nothing is queued.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from typing import Any

from hpo_service.driver._suggest import Suggester
from hpo_service.exceptions import SpaceCodeError, SpaceError
from hpo_service.space import space_eval
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


def refused_point(
    error: SpaceCodeError, what: str, nothing: str = "nothing was queued"
) -> SpaceCodeError:
    """The error refusing a given point that the space raised for: ``"point 1:
    the space raised ValueError for the point {'d': 0.0}: math domain error (in f
    at FILE:LINE); nothing was queued: ..."``.

    Args:
        error: What the space raised for the point, as a :class:`SpaceCodeError`
            (:meth:`Suggester.config`'s).
        what: The point as the user knows it: ``"point 1"`` (0-based, among
            those given), or an imported record's origin (``"a.csv#0"``).
        nothing: What was not done, ``"nothing was imported"`` for an import.

    Returns:
        A :class:`SpaceCodeError` of the same point and original error, whose
        message says all of that (raise it from ``error.error``).
    """
    refused = SpaceCodeError(dict(error.params), error.error, point="point")
    refused.args = (
        f"{what}: {error}{error.where()}; {nothing}: a given point whose config the "
        "space's own code cannot make is refused (a sampled one ends as an error "
        "trial)",
    )
    return refused


def given_config(
    space: Any, params: dict[str, Any], what: str, nothing: str = "nothing was queued"
) -> Any:
    """The config ``space`` makes of a given point's checked ``params``.

    Raises:
        SpaceError: The space cannot be evaluated on the params (as
            :func:`~hpo_service.space.space_eval` says it).
        SpaceCodeError: The space's own code raised (:func:`refused_point`).
    """
    try:
        return space_eval(space, params)
    except SpaceError:
        raise
    except Exception as e:
        error = SpaceCodeError(dict(params), e, point="point")
        raise refused_point(error, what, nothing) from e
