"""Warm starts: queue given configurations, or import already-evaluated results.

Both check every input against the study's space before writing anything (unknown
labels, values outside the space, parameters of inactive branches, missing active
ones), so a bad file changes nothing.

- :func:`enqueue` queues params as new trials; workers run them next (a running
  driver counts them as pending).
- :func:`import_results` inserts finished trials (``done``, never run here): the
  algorithm learns from them at once. Each keeps where it came from in
  ``result["imported_from"]`` (``"<source>#<tid>"``, for the record only).
  Imported trials count toward ``max_evals``.

Identity of an evaluated trial (what an import is deduplicated by): its params (as
the space checks them: a choice's option index, ints for integer parameters) and
its outcome (status and loss, or losses). A record is skipped when the study already
holds a finished trial with the same identity, whatever file or study it came from,
and when it repeats an earlier record of the same import. So importing the same
records twice, from one file or a copy of it, or a study's own export into itself,
adds nothing; a point evaluated again with another loss (a noisy objective) is a new
trial.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpo_service._common.settings import (
    StudySettings,
    budget_of,
    counted_finished,
    record_objective_count,
)
from hpo_service._common.trial_rows import each_trial
from hpo_service._common.words import counted
from hpo_service.driver._study import study_space
from hpo_service.exceptions import InvalidResultError, SpaceError
from hpo_service.objective._result import (
    STATUS_FAIL,
    STATUS_OK,
    check_objective_count,
    losses_of,
    normalise_result,
    objective_count,
)
from hpo_service.space import compile_space, space_eval, validate_params
from hpo_service.store import BaseTrialStore, FinishedTrial, NewTrial

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluated:
    """One already-evaluated point to import: its params and result, and its origin.

    Attributes:
        params: ``{label: value}``, a choice's option index.
        result: ``{"loss": ..., "status": "ok"}`` or ``{"status": "fail", ...}``.
        origin: Where it comes from (``"<file>#<tid>"``), kept with the trial.
    """

    params: dict[str, Any]
    result: dict[str, Any]
    origin: str


@dataclass
class ImportReport:
    """What :func:`import_results` did.

    Attributes:
        imported: Tids of the trials inserted.
        already: Records skipped because the study already holds a finished trial
            with the same params and outcome (or the import repeats them).
        skipped: Why other records were left out (not finished, no result), by origin.
    """

    imported: list[int] = field(default_factory=list)
    already: int = 0
    skipped: dict[str, str] = field(default_factory=dict)


def spent_budget(store: BaseTrialStore, study: str) -> tuple[int, int] | None:
    """``(finished, max_evals)`` when the study already finished its budget (points
    queued now are cancelled by the first worker that claims them, unless a resume
    raises the budget first), else None.

    Raises:
        StudyNotFoundError: No such study.
    """
    budget = budget_of(store.get_study(study).settings)
    counts = store.count_by_state(study)
    finished = counted_finished(counts)
    return None if budget is None or finished < budget else (finished, budget)


def enqueue(
    store: BaseTrialStore, study: str, points: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Queue ``points`` (params dicts) as new trials of ``study``.

    Raises:
        StudyNotFoundError: No such study (start it once first).
        ValueError: ``points`` is empty, or a point does not fit the study's space
            (naming the point and the label); nothing is queued then.
    """
    space, compiled = _space_of(store, study)
    if not points:
        raise ValueError("give at least one point (a {label: value} dict) to enqueue")
    trials = []
    for i, point in enumerate(points):
        params = _checked(compiled, point, f"point {i}")
        trials.append(NewTrial(params=params, config=space_eval(space, params)))
    tids = store.insert_trials(study, trials)
    _logger.info(
        "study %r: queued %s: tids %s", study, counted(len(tids), "given point"), tids
    )
    return tids


def import_results(
    store: BaseTrialStore, study: str, records: Sequence[Evaluated]
) -> ImportReport:
    """Insert already-evaluated ``records`` into ``study`` as finished trials.

    Raises:
        StudyNotFoundError: No such study (start it once first).
        ValueError: A record does not fit the study's space, has an invalid result,
            or another number of losses than the study's objectives (or than the
            other records, while the study has none recorded), naming it; nothing is
            imported then.
    """
    space, compiled = _space_of(store, study)
    seen = _finished_identities(store, study)
    report = ImportReport()
    trials = []
    for record in records:
        params = _checked(compiled, record.params, record.origin)
        result = {**_checked_result(record.result, record.origin)}
        key = identity(params, result)
        if key in seen:
            report.already += 1
            continue
        seen.add(key)
        result["imported_from"] = record.origin
        trials.append(FinishedTrial(params, space_eval(space, params), result))
    _check_objective_counts(store, study, trials)
    report.imported = store.insert_finished(study, trials) if trials else []
    return report


def _check_objective_counts(
    store: BaseTrialStore, study: str, trials: Sequence[FinishedTrial]
) -> None:
    """Refuse results whose number of losses is not the study's; record it if new.

    Raises:
        ValueError: A result's count differs (naming its origin and both counts).
    """
    settings = StudySettings.from_dict(store.get_study(study).settings)
    results = [t.result for t in trials]
    expected = settings.n_objectives or objective_count(results)
    if expected is None:
        return
    names = settings.objective_names or ()
    for result in results:
        try:
            check_objective_count(result, expected, names)
        except InvalidResultError as e:
            raise ValueError(f"{result['imported_from']}: {e}") from None
    if settings.n_objectives is None:
        kept = record_objective_count(store, study, expected)
        if kept != expected:  # a worker recorded another count meanwhile
            raise ValueError(
                f"the study has {counted(kept, 'objective')}, but the imported "
                f"results have {counted(expected, 'loss', 'losses')} each"
            )


def _space_of(store: BaseTrialStore, study: str) -> tuple[Any, Any]:
    settings = StudySettings.from_dict(store.get_study(study).settings)
    space = study_space(settings)
    return space, compile_space(space)


def _checked(compiled: Any, params: Mapping[str, Any], what: str) -> dict[str, Any]:
    if not isinstance(params, Mapping):
        raise ValueError(
            f"{what} must be a {{label: value}} dict, but got {params!r:.120}"
        )
    try:
        return validate_params(compiled, params)
    except SpaceError as e:
        raise ValueError(f"{what} does not fit the study's space: {e}") from None


def _checked_result(result: Any, what: str) -> dict[str, Any]:
    try:
        checked = normalise_result(result)
    except ValueError as e:
        raise ValueError(f"{what} has no valid result: {e}") from None
    if checked["status"] not in (STATUS_OK, STATUS_FAIL):  # pragma: no cover
        raise ValueError(f"{what}: status must be ok or fail")
    return checked


def identity(params: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    """The identity of an evaluated trial: its checked params and its outcome.

    Args:
        params: ``{label: value}`` as :func:`validate_params` returns them.
        result: The trial's result (``status``, ``loss`` a float or a list).

    Returns:
        A canonical JSON text; equal for equal params, status and losses.
    """
    status = result.get("status")
    return json.dumps(
        {"params": dict(params), "status": status, "losses": losses_of(result)},
        sort_keys=True,
        default=str,
    )


def _finished_identities(store: BaseTrialStore, study: str) -> set[str]:
    """The identities of the study's finished trials (run here or imported), read
    a window of trials at a time (a long study does not fit in memory whole)."""
    return {
        identity(t.params, t.result)
        for t in each_trial(store, study)
        if t.result and t.result.get("status") in (STATUS_OK, STATUS_FAIL)
    }


def loss_or_none(value: Any) -> float | None:
    """A loss read from a file cell: a float, or None for empty / NaN."""
    if value is None or value == "":
        return None
    number = float(value)
    return None if math.isnan(number) else number
