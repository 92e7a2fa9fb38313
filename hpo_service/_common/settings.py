"""The settings of a study, as kept in the store's study document."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from hpo_service._common.stop_words import setting_name, setting_said
from hpo_service.store._base import TrialState

if TYPE_CHECKING:
    from hpo_service.store._base import BaseTrialStore

DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_MAX_ATTEMPTS = 3
SEED_LIMIT = 2**32
"""Seeds are ``0 <= seed < SEED_LIMIT`` (what numpy's generators and hyperopt take)."""

COUNTED_STATES = (TrialState.DONE, TrialState.ERROR, TrialState.PRUNED)
"""Finished states that count toward ``max_evals`` (a pruned trial used budget)."""


def counted_finished(counts: Mapping[TrialState, int]) -> int:
    """How many trials of ``counts`` (``count_by_state``'s) count toward
    ``max_evals``."""
    return sum(counts.get(state, 0) for state in COUNTED_STATES)


BEYOND_BUDGET = "BeyondBudget"
"""The ``error`` type of a trial cancelled before it ran because it did not fit its
study's budget (by a worker, or by the driver's trimming of its queue)."""


def beyond_budget_error(
    max_evals: int, *, spent: bool, python: bool = False
) -> dict[str, Any]:
    """The ``error`` recorded on a trial cancelled because it does not fit the budget.

    Args:
        max_evals: The study's budget.
        spent: The study had already finished ``max_evals`` trials (a worker's
            cancel), rather than holding that many finished, running or queued
            before this trial (the driver's).
        python: The study was started by ``fmin``: name its ``max_evals=``
            argument, not ``hpo-driver start``'s ``--max-evals`` flag.
    """
    budget = setting_said("max_evals", max_evals, python=python)
    if spent:
        why = f"the study had already finished its {budget} trials"
    else:
        why = f"beyond {budget} (earlier trials fill the budget)"
    larger = setting_name("max_evals", python=python)
    return {
        "type": BEYOND_BUDGET,
        "message": f"cancelled before it ran: {why}; to run it, resume the study "
        f"with a larger {larger}, then queue the point again",
        "traceback": None,
    }


STUDY_STOPPED = "StudyStopped"
"""The ``error`` type of a queued trial cancelled because its study stopped (a stop
rule, ``early_stop_fn``, the budget) before a worker claimed it."""

CANCELLED = "Cancelled"
"""The ``error`` type of a trial cancelled by ``hpo-driver cancel``."""


def stopped_error(said: str) -> dict[str, Any]:
    """The ``error`` recorded on a queued trial the driver cancels when its study
    stops; ``said``: what stopped it, in the words of how the rule was set
    (``"--loss-threshold 0.1 reached"``, ``"early_stop_fn asked to stop"``: see
    :func:`hpo_service._common.stop_words.stop_said`)."""
    return {
        "type": STUDY_STOPPED,
        "message": f"cancelled before it ran: the study stopped ({said}); the "
        "trials running then finished and count",
        "traceback": None,
    }


def cancelled_error(command: str, *, queued_after: bool = False) -> dict[str, Any]:
    """The ``error`` recorded on a trial cancelled by ``command`` (as typed), or,
    with ``queued_after``, on one a worker claimed from the study it cancelled."""
    if queued_after:
        message = (
            f"cancelled before it ran: it was queued after `{command}` stopped its "
            "study (`hpo-driver start` resumes the study)"
        )
    else:
        message = (
            f"cancelled by `{command}` (a trial running then was stopped and its "
            "result not kept)"
        )
    return {"type": CANCELLED, "message": message, "traceback": None}


def budget_of(settings: Mapping[str, Any]) -> int | None:
    """A study's ``max_evals`` from its stored settings; None when it has none (a
    study run with another stop rule only stores ``sys.maxsize``)."""
    budget = settings.get("max_evals")
    return None if budget is None or budget >= sys.maxsize else int(budget)


@dataclass(frozen=True)
class StudySettings:
    """Everything a driver or worker needs to know about a study.

    A study that ``hpo-driver import --create`` made from imported trials has no
    objective, space and budget yet (None): see :meth:`has_space`.

    Attributes:
        objective: Import reference of the objective, ``package.module:function``.
        space: The serialised search space (``hpo_service.space.to_document``).
        space_fingerprint: Stable hash of ``space``; a resume compares it.
        max_evals: Number of finished trials that completes the study.
        algorithm: Registered algorithm name (``"tpe"``, ``"rand"``).
        algorithm_settings: Keyword settings of the algorithm (JSON-able).
        seed: Seed of the suggestion sequence, or None for a random one.
        queue_depth: How many trials the driver keeps queued (``new``), or None for
            automatic: what finishes before the next refill lands, plus a margin
            (at least 1), more while new workers appear.
        lease_seconds: Lease a worker takes on claim and extends by heartbeat.
        max_attempts: Attempts after which an expiring trial becomes an ``error``.
        trial_timeout: Seconds an objective may run before it is killed, or None.
        loss_threshold: Stop once a loss at or below this is found, or None.
        timeout: Stop suggesting after this many seconds of driver time, or None.
        no_improvement: Stop after this many finished trials without a better loss
            (with several objectives: without a trial joining the Pareto front); a
            trial that violates its constraints never improves.
        cancelled: Set by ``hpo-driver cancel``; a running driver stops when it sees it.
        pruner: Name of the study's pruner (``"none"``, ``"median"``, ``"percentile"``,
            ``"asha"``, ``"hyperband"``; see :mod:`hpo_service.algorithms.pruners`).
        pruner_settings: Keyword settings of the pruner (JSON-able).
        objective_names: Names of the objectives (``--objectives error,latency``),
            or None.
        n_objectives: Number of losses every result must have: from the names, else
            recorded by the driver from the first successful result; None until then.
        n_constraints: Number of constraints every successful result must carry:
            recorded (by the worker) from the first successful result that carries
            constraints; None until then. A later result with another number, or
            with none, becomes an error trial naming both counts.
        configs_pending: Set, together with the space, by the start that gives a
            study made by an import its space: the imported trials (params only)
            are still to get the configs the space makes of them. Cleared once
            every one has its config; a start finding it set (the last one died
            while writing them) writes the rest first.
        started_by: How the study's latest start was given: ``"fmin"`` (Python:
            ``fmin`` with ``StoreTrials`` or ``MongoTrials``) or ``"hpo-driver"``
            (``hpo-driver start``); None for a study stored before it was recorded
            (or made by an import and not started yet). Advice names settings as
            that start took them (:func:`started_in_python`).
        space_mark: Which tids ran with which space, written by each start whose
            ``--override`` changed the space: ``{"fingerprint", "first_tid",
            "kept", "segments"}``, ``segments`` a list of ``{"fingerprint",
            "first_tid", "kept"}`` by ``first_tid`` (one per run of a space), the
            top-level keys those of the last (a mark stored before segments has
            only them): see :mod:`hpo_service._common.space_mark`; None for a
            study whose space never changed (or changed before marks).
    """

    objective: str | None
    space: dict[str, Any] | None
    space_fingerprint: str | None
    max_evals: int | None
    algorithm: str = "tpe"
    algorithm_settings: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    queue_depth: int | None = None
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    trial_timeout: float | None = None
    loss_threshold: float | None = None
    timeout: float | None = None
    no_improvement: int | None = None
    cancelled: bool = False
    pruner: str = "none"
    pruner_settings: dict[str, Any] = field(default_factory=dict)
    objective_names: list[str] | None = None
    n_objectives: int | None = None
    n_constraints: int | None = None
    configs_pending: bool = False
    started_by: str | None = None
    space_mark: dict[str, Any] | None = None

    def has_space(self) -> bool:
        """Whether the study has a search space (one made by ``hpo-driver import
        --create`` has none until ``hpo-driver start --space`` gives it)."""
        return self.space is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict for the store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudySettings:
        """Rebuild from :meth:`to_dict` output, ignoring keys of newer versions."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def started_in_python(settings: Mapping[str, Any]) -> bool:
    """Whether a study's stored settings say its latest start was ``fmin``'s: then
    advice (the report's, the dashboard's, ``hpo-driver status``'s) names a
    setting as the keyword argument the user passed (``max_resource=9``), else as
    ``hpo-driver start``'s flag (``--max-resource 9``)."""
    return settings.get("started_by") == "fmin"


def record_objective_count(store: BaseTrialStore, study: str, count: int) -> int:
    """Record ``count`` as the study's number of objectives unless one is recorded.

    One atomic write (:meth:`~hpo_service.store.BaseTrialStore.patch_study_settings`
    with ``only_unset``): when the first results of a study (several workers, or a
    worker and the driver) race with different numbers of losses, exactly one count
    is kept, and every caller gets that one back.

    Args:
        study: The study's name.
        count: The number of losses of a successful result, >= 1.

    Returns:
        The study's number of objectives now in force (``count`` if it was first).

    Raises:
        StudyNotFoundError: No such study.
    """
    return _record_first(store, study, "n_objectives", count)


def record_constraint_count(store: BaseTrialStore, study: str, count: int) -> int:
    """Record ``count`` as the study's number of constraints unless one is recorded.

    As :func:`record_objective_count`: one atomic first-writer-wins write, so
    workers racing with different counts all get the one that was kept.

    Args:
        study: The study's name.
        count: The number of constraints of a successful result, >= 1.

    Returns:
        The study's number of constraints now in force (``count`` if it was first).

    Raises:
        StudyNotFoundError: No such study.
    """
    return _record_first(store, study, "n_constraints", count)


def _record_first(store: BaseTrialStore, study: str, key: str, count: int) -> int:
    """Set the study setting ``key`` to ``count`` unless it is set (one atomic
    first-writer-wins write), and return the value in force."""
    study_doc = store.patch_study_settings(study, {key: count}, only_unset=True)
    return int(study_doc.settings[key])
