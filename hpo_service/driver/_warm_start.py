"""Warm starts: queue given configurations, or import already-evaluated results.

Both check every input against the study's space before writing anything (unknown
labels, values outside the space, parameters of inactive branches, missing active
ones), so a bad file changes nothing.

- :func:`enqueue` queues params as new trials; workers run them next (a running
  driver counts them as pending).
- :func:`import_results` inserts finished trials (never run here) in the state they
  ended in: ``done`` (its result), ``pruned`` (its result and reports: pruners count
  them), ``error`` (its error), ``cancelled``; the algorithm learns from them at
  once. Each keeps where it came from as ``imported_from`` (``"<source>#<tid>"``,
  for the record only) in its result, or in its error for an error or cancelled
  trial. Imported trials count toward ``max_evals``. The objectives' names an
  export gives (a CSV's header, a JSON record's ``objectives``) become the study's
  (a study that has names of its own takes the losses by name).

Identity of an evaluated trial (what an import is deduplicated by): its params (as
the space checks them: a choice's option index, ints for integer parameters) and
its outcome: status and loss (or losses) of a done trial; state, status, last step
and reports of a pruned one; state and error type and message of an error or
cancelled one. A record is skipped when the study already holds a finished trial
with the same identity, whatever file or study it came from, and when it repeats an
earlier record of the same import. So importing the same records twice, from one
file or a copy of it, or a study's own export into itself, adds nothing; a point
evaluated again with another loss (a noisy objective) is a new trial.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpo_service._common.processes import certainly_dead
from hpo_service._common.settings import (
    StudySettings,
    budget_of,
    counted_finished,
    record_constraint_count,
    record_objective_count,
)
from hpo_service._common.stop_signals import pause_point
from hpo_service._common.trial_rows import default_names, each_trial
from hpo_service._common.words import counted, tids_text
from hpo_service.driver._import_lease import ImportLease
from hpo_service.driver._lease import (
    IMPORT_KIND,
    default_owner,
    holder_text,
)
from hpo_service.driver._space_errors import given_config
from hpo_service.driver._study import (
    check_study_name,
    create_without_space,
    kept_config_fits,
    study_space,
)
from hpo_service.driver._suggest import check_storable
from hpo_service.exceptions import (
    InvalidResultError,
    SpaceError,
    StoreError,
    StudyExistsError,
    StudyNotFoundError,
)
from hpo_service.objective._result import (
    STATUS_FAIL,
    STATUS_OK,
    check_constraint_count,
    check_objective_count,
    constraints_count,
    losses_of,
    normalise_result,
    objective_count,
)
from hpo_service.space import compile_space, validate_params
from hpo_service.space._eval import misfit_point
from hpo_service.store import BaseTrialStore, FinishedTrial, NewTrial, TrialState

_logger = logging.getLogger(__name__)

#: The states an import brings in (an export's new and running trials have no
#: outcome yet: they are left out).
_IMPORTED = (TrialState.DONE, TrialState.PRUNED, TrialState.ERROR, TrialState.CANCELLED)


IMPORT_LEASE_SECONDS = 300.0
"""How long the driver lease an import takes on a study without a space lasts (it
is given back as soon as the trials are in; a SIGKILLed import's lease is taken
over at once on its host, elsewhere when it runs out)."""
_LEASE_ENV = "HPO_TEST_IMPORT_LEASE_SECONDS"
IMPORT_WAIT_SECONDS = 60.0
"""How long an import into a study without a space waits for another holder of
its driver lease (another import, a start checking the imported trials)."""


@dataclass(frozen=True)
class Evaluated:
    """One already-evaluated point to import: its params, how it ended, its origin.

    Attributes:
        params: ``{label: value}``, a choice's option index.
        result: A done trial's ``{"loss": ..., "status": "ok"}`` or ``{"status":
            "fail", ...}``; a pruned one's ``{"status": "pruned", "loss": last
            value, "step": last step, ...}``; None for error and cancelled.
        origin: Where it comes from (``"<file>#<tid>"``), kept with the trial.
        state: ``done``, ``pruned``, ``error`` or ``cancelled``.
        error: An error (or cancelled) trial's ``{type, message[, traceback]}``.
        intermediate: step -> value the objective reported.
        names: The objectives' names the file gives (a CSV header's
            ``objective.<name>`` columns, a JSON record's ``objectives``), in the
            order of the losses; () if none.
        config: What the source's space made of ``params`` (the value its
            objective was called with), where the source keeps it: a JSON export's
            ``config``. None for a CSV export (its columns are the params) and for
            hyperopt's trials, which keep only ``misc.vals`` (the params, a
            choice's option index): the config needs the space.
    """

    params: dict[str, Any]
    result: dict[str, Any] | None
    origin: str
    state: str = "done"
    error: dict[str, Any] | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    names: tuple[str, ...] = ()
    config: Any = None


@dataclass
class ImportReport:
    """What :func:`import_results` did.

    Attributes:
        imported: Tids of the trials inserted.
        states: How many of them are in each state (``"done"``, ``"pruned"``...).
        failed: How many of the done ones returned status ``fail``.
        already: Records skipped because the study already holds a finished trial
            with the same params and outcome (or the import repeats them).
        skipped: Why other records were left out (not finished, no result), by origin.
        created: The import created the study (``create=True``, without a space).
    """

    imported: list[int] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    already: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    created: bool = False


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
            (naming the point and the label), or the space's own code raised for
            one (a :class:`SpaceCodeError` naming the point and where the space
            raised); nothing is queued then.
    """
    space, compiled = _space_of(_settings_of(store, study), study)
    if not points:
        raise ValueError("give at least one point (a {label: value} dict) to enqueue")
    trials = []
    for i, point in enumerate(points):
        params = _checked(compiled, point, f"point {i}")
        config = given_config(space, params, f"point {i}")
        trials.append(NewTrial(params=params, config=config))
    check_storable(trials)  # the rule of the driver's own suggestions
    tids = store.insert_trials(study, trials)
    _logger.info(
        "study %r: queued %s: %s",
        study,
        counted(len(tids), "given point"),
        tids_text(tids),
    )
    return tids


def import_results(
    store: BaseTrialStore,
    study: str,
    records: Sequence[Evaluated],
    *,
    create: bool = False,
) -> ImportReport:
    """Insert already-evaluated ``records`` into ``study`` as finished trials, each
    in the state it ended in (see the module's docstring).

    Args:
        store: The trials store.
        study: The study to import into.
        records: The evaluated points (:func:`~._warm_sources.read_results`).
        create: Create the study when it does not exist, without an objective,
            space or budget (see :func:`~._study.create_without_space`); its
            trials' params are then checked for their shape only (``{label:
            number}``), and the first start that gives the space checks every one
            of them against it. A trial's config is what the study's space makes
            of its params (the value an objective is called with), or without a
            space the source's (:attr:`Evaluated.config`: a JSON export's; None
            from hyperopt's trials and CSV exports).

    Raises:
        StudyNotFoundError: No such study, and ``create`` is False.
        ValueError: A record does not fit the study's space, has an invalid result
            or error, another number of losses than the study's objectives (or
            than the other records, while the study has none recorded), or
            objectives' names the study does not have, naming it; nothing is
            imported (or created) then.
    """
    settings, new = _target(store, study, create)  # read once: the checks share it
    if settings.has_space():
        return _fill(store, study, records, settings, ImportReport())
    return _fill_spaceless(store, study, records, settings, new)


def _fill(
    store: BaseTrialStore,
    study: str,
    records: Sequence[Evaluated],
    settings: StudySettings,
    report: ImportReport,
    *,
    confirm: Callable[[], None] | None = None,
) -> ImportReport:
    """Check ``records`` against the study's ``settings`` and insert the ones the
    study does not hold yet; ``confirm()`` (the import's lease still held, or it
    raises) is called right before the first write."""
    study_names, new_names = _named_objectives(settings, records)
    seen = _finished_identities(store, study)
    trials = _new_trials(settings, study, records, study_names, seen, report)
    count = _objective_count(settings, trials)
    constraints = _constraint_count(settings, trials)
    if confirm is not None:
        confirm()
    _record_objectives(store, study, settings, count, new_names if trials else None)
    _record_constraints(store, study, settings, constraints)
    report.imported = store.insert_finished(study, trials) if trials else []
    for trial in trials:
        state = TrialState(trial.state).value
        report.states[state] = report.states.get(state, 0) + 1
        if state == "done" and (trial.result or {}).get("status") == STATUS_FAIL:
            report.failed += 1
    return report


def _fill_spaceless(
    store: BaseTrialStore,
    study: str,
    records: Sequence[Evaluated],
    settings: StudySettings,
    new: bool,
) -> ImportReport:
    """Import into a study without a space (``new``: one to create), holding the
    study's driver lease from its creation until the trials are in.

    A start that gives the study its space takes the same lease before it checks
    the imported trials, so the two never overlap: the start is refused while the
    import holds the lease (saying so), and an import that comes second finds the
    space and checks its trials against it, as an import into any study does. A
    study created meanwhile by another process is joined the same way.
    """
    if new:  # every record is checked before the study is made
        names, new_names = _named_objectives(settings, records)
        trials = _new_trials(settings, study, records, names, set(), ImportReport())
        count = _objective_count(settings, trials)
        _constraint_count(settings, trials)  # checked before the study is made
        try:
            _create(store, study, trials, names=new_names, count=count)
        except StudyExistsError:  # created meanwhile (a start, another import)
            return import_results(store, study, records)
        pause_point("import-created")
        report = ImportReport(created=True)
    else:
        report = ImportReport()
    owner = default_owner(IMPORT_KIND)
    lease: ImportLease | None = None
    try:
        fresh, lease = _import_lease(store, study, owner)
        if lease is not None:
            lease.start()
        pause_point("import-filling")
        confirm = None if lease is None else lease.confirm
        return _fill(store, study, records, fresh, report, confirm=confirm)
    finally:
        if lease is not None:
            lease.stop()
        _give_back(store, study, owner)


def _give_back(store: BaseTrialStore, study: str, owner: str) -> None:
    """Release the import's lease, or say when it ends by itself: a store failing
    at that moment (the outage that ended the import, or one after its trials went
    in) must neither hide the import's own error nor turn an import done into a
    failure."""
    try:
        store.release_driver_lease(study, owner)
    except (ConnectionError, StoreError) as e:
        _logger.warning(
            "study %r: the import's driver lease was not given back (%s); a start "
            "can take it once it runs out, within %.0f s",
            study, e, _lease_seconds(),
        )  # fmt: skip


def _lease_seconds() -> float:
    """:data:`IMPORT_LEASE_SECONDS`, or a test's shorter one
    (``HPO_TEST_IMPORT_LEASE_SECONDS``)."""
    return float(os.environ.get(_LEASE_ENV) or IMPORT_LEASE_SECONDS)


def _import_lease(
    store: BaseTrialStore, study: str, owner: str
) -> tuple[StudySettings, ImportLease | None]:
    """Take the driver lease of ``study`` (one without a space) for ``owner`` and
    return its settings then, with the lease (not renewing yet); return them at
    once, without a lease, if a start gave the study a space meanwhile.

    Waits while another holds the lease on a study still without a space (another
    import, or a start checking the imported trials), at most
    :data:`IMPORT_WAIT_SECONDS`.

    Raises:
        ValueError: The lease is still held after that wait (naming the holder).
    """
    deadline = time.monotonic() + IMPORT_WAIT_SECONDS
    while True:
        seconds, asked = _lease_seconds(), time.monotonic()
        leased = store.acquire_driver_lease(study, owner, seconds)
        held = store.get_study(study)
        settings = StudySettings.from_dict(held.settings)
        if leased:
            return settings, ImportLease(store, study, owner, seconds, taken_at=asked)
        if settings.has_space():
            return settings, None
        holder = held.driver_owner
        if holder is not None and certainly_dead(holder):
            store.release_driver_lease(study, holder)
        elif time.monotonic() > deadline:
            raise ValueError(
                f"an import into study {study!r} (no search space yet) "
                f"must take its driver lease within {IMPORT_WAIT_SECONDS:.0f} s, but "
                f"got holder={holder_text(holder)} throughout, so nothing was "
                "imported: import again once it ends"
            )
        else:
            time.sleep(0.1)


def _target(
    store: BaseTrialStore, study: str, create: bool
) -> tuple[StudySettings, bool]:
    """The settings of the study to import into, and whether it is to be created
    (then the settings it will have: no space yet)."""
    try:
        return _settings_of(store, study), False
    except StudyNotFoundError:
        if not create:
            raise
    check_study_name(study)
    return StudySettings(None, None, None, None), True


def _new_trials(
    settings: StudySettings,
    study: str,
    records: Sequence[Evaluated],
    names: list[str] | None,
    seen: set[str],
    report: ImportReport,
) -> list[FinishedTrial]:
    """The checked trials of ``records`` that are not in ``seen`` (the identities
    of the study's finished trials, which it extends; ``report`` counts the rest)."""
    space, compiled = _space_of(settings, study, required=False)
    trials = []
    for record in records:
        params = _checked(compiled, record.params, record.origin)
        trial = _finished(record, params, _config(space, params, record), names)
        key = identity(params, trial.result, trial.state, trial.error,
                       trial.intermediate)  # fmt: skip
        if key in seen:
            report.already += 1
            continue
        seen.add(key)
        _mark_origin(trial, record.origin)
        trials.append(trial)
    return trials


def _config(space: Any, params: dict[str, Any], record: Evaluated) -> Any:
    """The config of an imported trial: what the study's space makes of its checked
    ``params``; without a space, the source's (:attr:`Evaluated.config`).

    Raises:
        ValueError: The source kept a config that the space does not make of the
            params (:func:`~._study.kept_config_fits`): its loss is another
            configuration's.
    """
    if space is None:
        return record.config
    made = given_config(space, params, record.origin, "nothing was imported")
    if not kept_config_fits(made, record.config):
        raise ValueError(
            f"{record.origin}'s config must be what the study's space makes of its "
            f"params, but got config={record.config!r:.120} where the space makes "
            f"{made!r:.120} of params={params!r:.120} (the source's space gives "
            "them other values: its loss is not this configuration's)"
        )
    return made


def _create(
    store: BaseTrialStore,
    study: str,
    trials: Sequence[FinishedTrial],
    *,
    names: list[str] | None,
    count: int | None,
) -> None:
    """Create the study the import fills (``import --create``), once every record
    passed its checks.

    Raises:
        ValueError: There is no finished trial to import (nothing is created).
        StudyExistsError: Another process created the study meanwhile.
    """
    if not trials:
        raise ValueError(
            f"there is no finished trial to import, so study {study!r} was not created"
        )
    create_without_space(store, study, objective_names=names, n_objectives=count)


def _finished(
    record: Evaluated, params: dict[str, Any], config: Any, names: list[str] | None
) -> FinishedTrial:
    """The trial to insert for ``record``, its outcome checked (its losses in the
    order of the study's objectives ``names``).

    Raises:
        ValueError: The outcome is not one its state may have (naming the record).
    """
    state = TrialState(record.state)
    result = None if record.result is None else dict(record.result)
    if state is TrialState.DONE:
        result = _checked_result(_by_name(result, record, names), record.origin)
    elif state is TrialState.PRUNED and not isinstance(result, dict):
        raise ValueError(f"{record.origin}: a pruned trial must have its result")
    error = record.error
    if error is not None or state is TrialState.ERROR:
        error = _checked_error(error, record.origin)
    return FinishedTrial(params, config, result, state, error, record.intermediate)


def _checked_error(error: Any, what: str) -> dict[str, Any]:
    if (
        not isinstance(error, dict)
        or not error.get("type")
        or not isinstance(error.get("message"), str)
    ):
        raise ValueError(
            f"{what}: an error trial must have its error's type and message, but "
            f"got error={error!r:.120}"
        )
    return {"traceback": None, **error}


def _mark_origin(trial: FinishedTrial, origin: str) -> None:
    """Keep ``origin`` in the trial's result, else in its error (if it has one)."""
    if trial.result is not None:
        trial.result["imported_from"] = origin
    elif trial.error is not None:
        trial.error["imported_from"] = origin


def _named_objectives(
    settings: StudySettings, records: Sequence[Evaluated]
) -> tuple[list[str] | None, list[str] | None]:
    """The study's objectives' names once the records' are taken in, and the names
    to record (the records', when the study has none), written by the caller once
    every record is checked.

    Raises:
        ValueError: Records give names the study does not have (other names, or
            other ones than other records give).
    """
    names = list(settings.objective_names or []) or None
    given = {record.names for record in records if _real_names(record.names)}
    if not given:
        return names, None
    if len({frozenset(g) for g in given}) > 1:
        raise ValueError(
            "the files to import must name the same objectives, but they name "
            + " and ".join(", ".join(g) for g in sorted(given))
        )
    first = list(sorted(given)[0])
    if names is not None and len(names) > 1:
        if set(names) != set(first):
            raise ValueError(
                f"the study's objectives are {', '.join(names)}, so an import must "
                f"name those, but the file names {', '.join(first)}"
            )
        return names, None
    if settings.n_objectives not in (None, len(first)):
        return names, None  # the count check names the difference
    return first, first


def _record_names(store: BaseTrialStore, study: str, names: list[str]) -> None:
    """Record ``names`` as the study's objectives' names unless it has some.

    Raises:
        ValueError: Other names were recorded meanwhile (the losses were ordered
            by ``names``).
    """
    kept = store.patch_study_settings(
        study, {"objective_names": names}, only_unset=True
    ).settings.get("objective_names")
    if kept and list(kept) != names:
        raise ValueError(
            f"the study's objectives were named {', '.join(kept)} meanwhile, but "
            f"the file names {', '.join(names)}: import it again"
        )


def _real_names(names: tuple[str, ...]) -> bool:
    """Whether ``names`` are an export's names of several objectives, not the
    ``loss.0``, ``loss.1``... of a study without names."""
    return len(names) > 1 and list(names) != default_names(len(names))


def _by_name(
    result: dict[str, Any] | None, record: Evaluated, names: list[str] | None
) -> dict[str, Any] | None:
    """``result`` with its losses in the order of ``names`` (a file may list the
    study's objectives in another order)."""
    loss = (result or {}).get("loss")
    if not names or not _real_names(record.names) or not isinstance(loss, list):
        return result
    if list(record.names) == names or len(loss) != len(record.names):
        return result
    by_name = dict(zip(record.names, loss, strict=True))
    return {**(result or {}), "loss": [by_name[name] for name in names]}


def _objective_count(
    settings: StudySettings, trials: Sequence[FinishedTrial]
) -> int | None:
    """The number of losses of the imported done results: the study's, which each
    one must have, else the first result's (a pruned trial's loss is its last
    report, not a loss vector); None without any.

    Raises:
        ValueError: A result's count differs (naming its origin and both counts).
    """
    results = [t.result for t in trials if t.state is TrialState.DONE and t.result]
    expected = settings.n_objectives or objective_count(results)
    if expected is None:
        return None
    names = settings.objective_names or ()
    for result in results:
        try:
            check_objective_count(result, expected, names)
        except InvalidResultError as e:
            raise ValueError(f"{result['imported_from']}: {e}") from None
    return expected


def _constraint_count(
    settings: StudySettings, trials: Sequence[FinishedTrial]
) -> int | None:
    """The number of constraints of the imported done results, in file order: the
    study's, else fixed by the first one that carries constraints (one without any
    before it stays as it is, as in a search); None without any.

    Raises:
        ValueError: A later result's count differs (naming its origin and both
            counts).
    """
    expected = settings.n_constraints
    for trial in trials:
        if trial.state is not TrialState.DONE or not trial.result:
            continue
        if expected is None:
            expected = constraints_count(trial.result) or None
            continue
        try:
            check_constraint_count(trial.result, expected)
        except InvalidResultError as e:
            raise ValueError(f"{trial.result['imported_from']}: {e}") from None
    return expected


def _record_constraints(
    store: BaseTrialStore, study: str, settings: StudySettings, count: int | None
) -> None:
    """Record the imported results' number of constraints where the study
    (``settings``, as read before the import) had none.

    Raises:
        ValueError: A worker recorded another count meanwhile.
    """
    if count is None or settings.n_constraints is not None:
        return
    kept = record_constraint_count(store, study, count)
    if kept != count:
        raise ValueError(
            f"the study has {counted(kept, 'constraint')}, but the imported "
            f"results have {counted(count, 'constraint')} each"
        )


def _record_objectives(
    store: BaseTrialStore,
    study: str,
    settings: StudySettings,
    count: int | None,
    names: list[str] | None,
) -> None:
    """Record the imported results' number of losses and objectives' names where
    the study (``settings``, as read before the import) had none.

    Raises:
        ValueError: A worker recorded another count, or another import other
            names, meanwhile.
    """
    if count is not None and settings.n_objectives is None:
        kept = record_objective_count(store, study, count)
        if kept != count:  # a worker recorded another count meanwhile
            raise ValueError(
                f"the study has {counted(kept, 'objective')}, but the imported "
                f"results have {counted(count, 'loss', 'losses')} each"
            )
    if names:
        _record_names(store, study, names)


def _settings_of(store: BaseTrialStore, study: str) -> StudySettings:
    return StudySettings.from_dict(store.get_study(study).settings)


def _space_of(
    settings: StudySettings, study: str, *, required: bool = True
) -> tuple[Any, Any]:
    """The study's space and its compiled form; (None, None) for a study without
    one (an import made it) unless ``required``.

    Raises:
        StudyWithoutSpaceError: The study has no space and ``required`` is True.
    """
    if not required and not settings.has_space():
        return None, None
    space = study_space(settings, study)
    return space, compile_space(space)


def _checked(compiled: Any, params: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``params`` checked against the compiled space; without one (a study made by
    an import) only their shape: ``{label: number}``."""
    if not isinstance(params, Mapping):
        raise ValueError(
            f"{what} must be a {{label: value}} dict, but got {params!r:.120}"
        )
    if compiled is None:
        return _plain_point(params, what)
    try:
        return validate_params(compiled, params)
    except SpaceError as e:
        raise SpaceError(misfit_point(what, e)) from None


def _plain_point(params: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``params`` as a dict of finite numbers by label (what any space's params
    are: a choice's option index, a number), for a study without a space.

    Raises:
        ValueError: A label is not a non-empty string or a value not a finite
            number (naming them).
    """
    for label, value in params.items():
        if not (isinstance(label, str) and label):
            raise ValueError(
                f"{what}: each param must be a finite number by label, but got "
                f"{label!r}: {value!r:.60}"
            )
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (number and math.isfinite(value)):  # as a space's check says it
            problem = (
                f"params[{label!r}] must be a finite number, but got {value!r:.60}"
            )
            raise SpaceError(misfit_point(what, problem, "any space"))
    return dict(params)


def _checked_result(result: Any, what: str) -> dict[str, Any]:
    try:
        checked = normalise_result(result)
    except ValueError as e:
        raise ValueError(f"{what} has no valid result: {e}") from None
    if checked["status"] not in (STATUS_OK, STATUS_FAIL):  # pragma: no cover
        raise ValueError(f"{what}: status must be ok or fail")
    return checked


def identity(
    params: Mapping[str, Any],
    result: Mapping[str, Any] | None,
    state: TrialState = TrialState.DONE,
    error: Mapping[str, Any] | None = None,
    intermediate: Mapping[int, float] | None = None,
) -> str:
    """The identity of an evaluated trial: its checked params and its outcome.

    Args:
        params: ``{label: value}`` as :func:`validate_params` returns them.
        result: The trial's result (``status``, ``loss`` a float or a list), or None.
        state: How it ended: done (identified by status and losses, as before
            other states were imported), pruned (also by its reports), error or
            cancelled (by its error's type and message).
        error: Its error, if any.
        intermediate: step -> value it reported.

    Returns:
        A canonical JSON text; equal for equal params and outcomes (a param equal
        as a number is equal whether it is stored as ``1`` or ``1.0``).
    """
    result = result or {}
    key: dict[str, Any] = {
        "params": {label: _whole(value) for label, value in params.items()},
        "status": result.get("status"),
        "losses": losses_of(result),
    }
    if state is not TrialState.DONE:
        error = error or {}
        key.update(
            state=state.value,
            error=[error.get("type"), error.get("message")],
            reports=sorted((int(k), v) for k, v in (intermediate or {}).items()),
        )
    return json.dumps(key, sort_keys=True, default=str)


def _whole(value: Any) -> Any:
    """``value``, a whole float as an int: a choice's index or a randint's value
    read back as ``1.0`` (a CSV export's cell, in a study without a space) is the
    ``1`` a JSON export of the same trial holds."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _finished_identities(store: BaseTrialStore, study: str) -> set[str]:
    """The identities of the study's finished trials (run here or imported), read
    a window of trials at a time (a long study does not fit in memory whole)."""
    return {
        identity(t.params, t.result, t.state, t.error, t.intermediate)
        for t in each_trial(store, study, list(_IMPORTED))
        if t.state is not TrialState.DONE
        or (t.result and t.result.get("status") in (STATUS_OK, STATUS_FAIL))
    }


def loss_or_none(value: Any) -> float | None:
    """A loss read from a file cell: a float, or None for empty / NaN."""
    if value is None or value == "":
        return None
    number = float(value)
    return None if math.isnan(number) else number
