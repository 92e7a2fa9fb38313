"""Light reads of a study: what ``status`` and ``best`` need without every trial.

A done trial's result is kept whole (its ``output`` alone may be 10 kB) and its params
and config may be large (a wide space); counting states, failures and infeasible
trials, finding the best trial or the Pareto front needs none of that. Backends store
beside each done trial its *light result* (``status``, ``loss`` and ``constraints``
only) and its *rank* (:func:`rank_of`), which an index orders, and answer
:meth:`~hpo_service.store.BaseTrialStore.summarise`,
:meth:`~hpo_service.store.BaseTrialStore.best_trial` and
:meth:`~hpo_service.store.BaseTrialStore.done_results` from them.

No NumPy here: a worker's store need not load it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hpo_service.objective._result import best_key, violation_of
from hpo_service.store._base import Trial, TrialState

#: The result keys a light result keeps.
LIGHT_KEYS = ("status", "loss", "constraints")

#: At most this many running trials are listed by :meth:`summarise` (the lowest
#: tids): what ``status`` lists, whatever the number running (``counts`` has it).
RUNNING_SHOWN = 100

#: At most this many distinct codes are counted by :meth:`summarise` (the first to
#: run trials), so that its answer does not grow with a long study either.
CODES_SHOWN = 100


@dataclass(frozen=True)
class RunningTrial:
    """A running trial as :meth:`summarise` lists it: who runs it and since when,
    without its params, config or reports (a wide space's are kilobytes).

    Attributes:
        tid: The trial.
        owner: The worker that claimed it.
        token: Its attempt's token.
        attempts: Attempts so far, this one included.
        started_at: When this attempt began (seconds since the epoch, store clock).
        lease_expires_at: When its lease runs out unless heartbeats extend it.
    """

    tid: int
    owner: str | None
    token: str | None
    attempts: int
    started_at: float | None
    lease_expires_at: float | None

    @classmethod
    def of(cls, trial: Trial) -> RunningTrial:
        """The fields of ``trial`` (a whole one) that a listing keeps."""
        return cls(
            tid=trial.tid,
            owner=trial.owner,
            token=trial.token,
            attempts=trial.attempts,
            started_at=trial.started_at,
            lease_expires_at=trial.lease_expires_at,
        )


#: The fields of :class:`RunningTrial`, as both backends name their columns.
RUNNING_FIELDS = ("tid", "owner", "token", "attempts", "started_at", "lease_expires_at")


@dataclass
class StudySummary:
    """A study's state at one moment, as :meth:`summarise` reads it.

    Attributes:
        counts: Trials per state (every state a key, zeros too).
        running: The running trials of the lowest tids, by tid: all of them
            up to :data:`RUNNING_SHOWN` (``counts`` counts every one).
        failed: Done trials whose result has status ``"fail"``.
        infeasible: Done trials whose ``constraints`` are violated (a positive one).
        codes: ``(code, trials)`` for each distinct ``code`` that ran trials, in the
            order of the first trial each ran, the first :data:`CODES_SHOWN` only.
        best: The best single-objective done trial (:func:`rank_of` order), or None.
    """

    counts: dict[TrialState, int]
    running: list[RunningTrial] = field(default_factory=list)
    failed: int = 0
    infeasible: int = 0
    codes: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    best: Trial | None = None


def light_result(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The keys of ``result`` (a stored, JSON-normalised one) that ranking needs."""
    if result is None:
        return None
    return {k: result[k] for k in LIGHT_KEYS if k in result}


def violation(result: Mapping[str, Any]) -> float | None:
    """:func:`~hpo_service.objective._result.violation_of` of a stored result, None
    when its ``constraints`` are not numbers, or are integers beyond a float's range
    (the raw store API does not check them).
    """
    try:
        return violation_of(result)
    except (TypeError, ValueError, OverflowError):
        return None


def rank_of(result: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """``(violation, loss)`` of a successful single-objective result, else None.

    :func:`hpo_service.objective._result.best_key` (feasible first, then the lowest
    loss) of a stored result; None also where the raw store API let through a loss
    or constraints that are not numbers, or integers beyond a float's range (JSON
    holds them; ``float()`` raises OverflowError).
    """
    if result is None or isinstance(result.get("loss"), str):
        return None
    try:
        return best_key(result)
    except (TypeError, ValueError, OverflowError):
        return None


def count_failed_infeasible(
    results: Iterable[Mapping[str, Any] | None],
) -> tuple[int, int]:
    """``(failed, infeasible)`` among done trials' (light) results."""
    failed = infeasible = 0
    for result in results:
        if result is None:
            continue
        failed += result.get("status") == "fail"
        infeasible += (violation(result) or 0.0) > 0
    return failed, infeasible


def earliest_best(candidates: Iterable[Trial]) -> Trial | None:
    """The candidate with the smallest :func:`rank_of`, the lowest tid on ties."""
    ranked = [(rank_of(t.result), t.tid, t) for t in candidates]
    ranked = [r for r in ranked if r[0] is not None]
    return min(ranked, key=lambda r: (r[0], r[1]))[2] if ranked else None
