"""Creating a study, or resuming one and checking that it is still the same study."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from hpo_service._common.settings import (
    SEED_LIMIT,
    StudySettings,
    counted_finished,
    record_objective_count,
    started_in_python,
)
from hpo_service._common.space_mark import new_mark
from hpo_service._common.stop_signals import pause_point
from hpo_service._common.words import counted
from hpo_service.algorithms.pruners import describe_pruner
from hpo_service.driver._lease import take_driver_lease
from hpo_service.exceptions import (
    DriverLeaseError,
    HPOServiceError,
    SpaceError,
    StudyExistsError,
    StudyMismatchError,
    StudyNotFoundError,
    StudyWithoutSpaceError,
)
from hpo_service.space import compile_space, fingerprint, from_document, to_document
from hpo_service.space._compile import labelled_nodes
from hpo_service.store import BaseTrialStore, TrialState

if TYPE_CHECKING:
    from hpo_service.driver._study_loop import DriverOptions

_logger = logging.getLogger(__name__)

# Settings that define what a study searches; changing one on resume needs --override.
# The algorithm is not one of them: any algorithm learns from the whole history, so
# switching (say from rand to tpe) on resume is allowed and logged.
IDENTITY_KEYS = (
    "objective",
    "space_fingerprint",
    "pruner",
    "pruner_settings",
    "objective_names",  # renaming or reordering relabels every stored result
)
# Stop rules belong to the run that gives them (as the arguments of hyperopt's fmin):
# a resume without one runs to --max-evals, whatever an earlier run was told.
RUN_ONLY_KEYS = ("loss_threshold", "timeout", "no_improvement")
_REQUIRED_TO_CREATE = ("objective", "space", "max_evals")
NAME_LIMIT = 200
"""The longest study name, in characters."""
# What users call a setting in messages, and the flag that sets it, where it differs.
_WHAT = {
    "space_fingerprint": "space",
    "algorithm_settings": "algorithm settings",
    "pruner_settings": "pruner settings",
    "objective_names": "objective names",
}
_PLURAL = {"algorithm settings", "pruner settings", "objective names"}
_FLAGS = {
    "algorithm": "algo",
    "space_fingerprint": "space",
    "objective_names": "objectives",
}


def space_settings(space: Any) -> dict[str, Any]:
    """The ``space`` and ``space_fingerprint`` settings of a live space object."""
    return {"space": to_document(space), "space_fingerprint": fingerprint(space)}


def open_study(
    store: BaseTrialStore,
    name: str,
    given: dict[str, Any],
    *,
    override: bool = False,
    override_flag: str = "override=True",
    before_resume: Callable[[], None] | None = None,
    made: dict[int, Any] | None = None,
) -> tuple[StudySettings, bool]:
    """Create study ``name`` from ``given`` settings, or resume it.

    Args:
        store: The trials store.
        name: The study name.
        given: Settings the user gave (keys of :class:`StudySettings`); on resume, run
            settings (``max_evals``, leases, ...) replace the stored ones, and the
            stop rules (:data:`RUN_ONLY_KEYS`) are the given ones only: a rule of an
            earlier run is dropped unless given again.
        override: Accept a changed objective, space, pruner or objective names on
            resume. A changed algorithm is accepted without it (its settings are
            then those given, not the old algorithm's).
        override_flag: How the refusal names ``override`` to the user (the CLI
            passes ``"--override"``).
        before_resume: Called before a study that exists is read and changed,
            also one another process created while this call tried to (the
            driver takes its lease there: :func:`open_driven_study`).
        made: Gets ``{tid: config}``, the configs the space makes of the params
            of the imported trials that kept none, when this call gives a study
            made by an import its space (see :func:`check_imported_fit`).

    Returns:
        The study's settings now in force, and whether the study was created.

    Raises:
        StudyMismatchError: The study exists with a different objective, space,
            pruner or objective names and ``override`` is False.
        ValueError: The study does not exist and ``given`` lacks what creating it
            needs, or the algorithm does not accept its settings or the space;
            nothing is written then.
    """
    _check_known_keys(given)
    check_seed(given.get("seed"))
    given = _with_objective_count(given)
    if not _exists(store, name):
        pause_point("study-missing")  # a test's hook: another process may create it
        try:
            return _create(store, name, _canonical_algorithm(given, "tpe")), True
        except StudyExistsError:  # another process created it meanwhile
            pass
    if before_resume is not None:
        before_resume()
    study = store.get_study(name)
    stored = StudySettings.from_dict(study.settings)
    given = _canonical_algorithm(given, stored.algorithm)
    finished = counted_finished(store.count_by_state(name))
    names_as = "--objectives" if override_flag.startswith("--") else "objectives"
    _check_objective_count(name, stored.n_objectives, given, names_as)
    merged = _merge(
        name,
        stored,
        _algorithm_change(name, stored, given),
        override=override,
        override_flag=override_flag,
        finished=finished,
    )
    if not stored.has_space():  # made by an import: this start completes it
        merged = _completed(store, name, merged, given.get("seed"), made)
    check_algorithm(merged)
    stale: list[int] = []
    if stored.has_space() and merged.space_fingerprint != stored.space_fingerprint:
        stale, kept = stale_queue(store, name, merged)
        assert merged.space_fingerprint is not None  # stored with its space
        mark = new_mark(study.settings, merged.space_fingerprint, study.next_tid, kept)
        merged = dataclasses.replace(merged, space_mark=mark)
    settings = _write_changes(store, name, study.settings, merged, names_as)
    if stale:
        cancel_stale(store, name, stale)
    return settings, False


def create_without_space(
    store: BaseTrialStore,
    name: str,
    *,
    objective_names: list[str] | None = None,
    n_objectives: int | None = None,
) -> StudySettings:
    """Create study ``name`` to hold imported trials only: it has no objective,
    space or budget until a start gives them (see :func:`open_study`), so nothing
    can be suggested or queued before; ``status``, ``best``, ``trials``, ``report``
    and the dashboard read it as any study.

    Args:
        store: The trials store.
        name: The new study's name.
        objective_names: The objectives' names the imported files give, or None.
        n_objectives: The imported results' number of losses, or None.

    Raises:
        ValueError: ``name`` is not a valid study name.
        StudyExistsError: The study exists.
    """
    check_study_name(name)
    settings = StudySettings(
        objective=None,
        space=None,
        space_fingerprint=None,
        max_evals=None,
        objective_names=objective_names,
        n_objectives=n_objectives,
    )
    store.create_study(name, settings.to_dict())
    _logger.debug("created study %r without a space (for imported trials)", name)
    return settings


def _completed(
    store: BaseTrialStore,
    name: str,
    merged: StudySettings,
    seed: int | None,
    made: dict[int, Any] | None = None,
) -> StudySettings:
    """The settings of a study made by an import once a start gives it an objective,
    a space and a budget (its seed: the given one, else a random one); ``made``:
    see :func:`check_imported_fit`.

    Raises:
        StudyWithoutSpaceError: One of them is still missing (naming the flags).
        StudyMismatchError: An imported trial does not fit the space; nothing is
            written then.
    """
    missing = [k for k in _REQUIRED_TO_CREATE if getattr(merged, k) is None]
    if missing:
        raise StudyWithoutSpaceError(name, [_flag(k) for k in missing])
    python = started_in_python(merged.to_dict())
    check_imported_fit(store, name, study_space(merged), python=python, made=made)
    if seed is None:
        seed = secrets.randbelow(2**31)
    # written with the space; the imported trials' configs follow (see the caller)
    completed = {**merged.to_dict(), "seed": seed, "configs_pending": True}
    return StudySettings.from_dict(completed)


def check_imported_fit(
    store: BaseTrialStore,
    name: str,
    space: Any,
    *,
    python: bool = False,
    made: dict[int, Any] | None = None,
) -> None:
    """Check every finished trial of study ``name`` (imported without a space)
    against ``space``: each one's params must be a point the space can give.

    ``python``: the space was given to ``fmin`` (its ``space`` argument), not as
    ``hpo-driver start``'s ``--space``; the message names it so. ``made`` (if
    given) gets ``{tid: config}`` of the trials that kept no config: the config
    the space makes of each one's params, evaluated here once, which
    :func:`~._imported_configs.fill_imported_configs` then writes without
    evaluating it again.

    Raises:
        StudyMismatchError: Some do not fit; the first five are named, with their
            origin (``imported_from``) and what is wrong.
    """
    from hpo_service._common.trial_rows import each_trial

    compiled = compile_space(space)
    misfits = []
    for trial in each_trial(store, name, [s for s in TrialState if s.is_finished()]):
        try:
            config = config_made(space, compiled, trial.params)
        except SpaceError as e:
            problem: str | None = str(e)
        else:
            problem = None if kept_config_fits(config, trial.config) else (
                f"its config {trial.config!r:.120} is not what the space makes of "
                f"its params {trial.params!r:.120}, {config!r:.120}"
            )  # fmt: skip
            if made is not None and trial.config is None:
                made[trial.tid] = config
        if problem is not None:
            origin = (trial.result or trial.error or {}).get("imported_from")
            where = f"trial {trial.tid}{f' ({origin})' if origin else ''}"
            misfits.append(f"{where}: {problem}")
    if misfits:
        shown = "; ".join(misfits[:5]) + ("; ..." if len(misfits) > 5 else "")
        given = "fmin's `space`" if python else "`--space`"
        raise StudyMismatchError(
            f"every imported trial of study {name!r} must fit the given space "
            f"({given}), but got misfits={len(misfits)} (the study was not "
            f"changed): {shown}"
        )


def config_made(space: Any, compiled: Any, params: dict[str, Any]) -> Any:
    """The config ``space`` makes of a trial's ``params`` (``{label: value}``), as
    the store gives it back (JSON: tuples as lists, ...); ``compiled`` is
    ``compile_space(space)``.

    A space may run the user's own code (``scope`` functions), so whatever that
    raises on these params (say a ``ZeroDivisionError``) means the same as a label
    the space does not have: the space does not give this point. So does a config
    the store cannot hold (``x ** 0.5`` at a negative ``x`` is a complex number):
    no trial can be stored with it.

    Raises:
        SpaceError: The params are not a point of the space (see
            ``validate_params``), evaluating the space on them raised, or the
            config is not one every store can hold (``STORABLE``); the original
            error is the cause.
    """
    from hpo_service.driver._suggest import STORABLE
    from hpo_service.space import space_eval, validate_params
    from hpo_service.store._common import storable

    try:
        made = space_eval(space, validate_params(compiled, params))
    except SpaceError:
        raise
    except Exception as e:
        raise SpaceError(
            f"the space must make a config of params {params!r:.120}, but it "
            f"raised {type(e).__name__}: {e}"
        ) from e
    try:
        return storable(made, "config")
    except ValueError as e:
        raise SpaceError(
            f"the space must make a config {STORABLE} of params "
            f"{params!r:.120}, but it made {made!r:.120}"
        ) from e


def kept_config_fits(made: Any, config: Any) -> bool:
    """Whether a finished trial's ``config`` (the value its objective was called
    with, as its source kept it) is ``made``, what the study's space makes of its
    params; True when the source kept none (hyperopt's trials, a CSV export).

    A space whose choice lists its options in another order (or whose constants
    differ) makes other values of the same params: the trial's loss is then that
    of another configuration than the space names, and must not be taken for it.
    """
    from hpo_service.store._common import normalise

    return config is None or normalise(made, "config") == normalise(config, "config")


def stale_queue(
    store: BaseTrialStore, name: str, settings: StudySettings
) -> tuple[list[int], list[int]]:
    """The queued trials of study ``name`` that its new space (of ``settings``)
    would not give, and those it gives unchanged: ``(stale, kept)`` tids.

    After ``--override`` with a new space, trials queued before (suggested from the
    old space, or enqueued against it) must not run: a ``new`` trial whose params
    do not fit the new space, or whose config the new space evaluates differently,
    is stale (:func:`cancel_stale`); the driver suggests new trials from the new
    space in their place. Queued trials the new space gives unchanged are kept (the
    mark of the new space names them: :mod:`hpo_service._common.space_mark`).
    """
    space = study_space(settings, name)
    compiled = compile_space(space)
    stale, kept = [], []
    for trial in store.get_trials(name, [TrialState.NEW]):
        try:  # config_made: a SpaceError for whatever the space's code raises
            same = config_made(space, compiled, trial.params) == trial.config
        except SpaceError:  # the space does not give it, or makes it unstorable
            same = False
        (kept if same else stale).append(trial.tid)
    return stale, kept


def cancel_stale(store: BaseTrialStore, name: str, stale: list[int]) -> int:
    """Cancel the queued trials ``stale`` (:func:`stale_queue`) with a warning
    naming them; one a worker claimed meanwhile runs to its end.

    Returns:
        How many trials were cancelled.
    """
    cancelled = store.cancel(name, stale, queued_only=True)  # claimed ones finish
    shown = ", ".join(map(str, stale[:20])) + (" ..." if len(stale) > 20 else "")
    if cancelled < len(stale):  # claimed since the read
        shown += f", of which a worker claimed {len(stale) - cancelled} first"
    _logger.warning(
        "study %r: the space changed, so it cancelled %s suggested from the old "
        "space (%s %s); new ones are suggested from the new space",
        name, counted(cancelled, "queued trial"),
        "tid" if len(stale) == 1 else "tids", shown,
    )  # fmt: skip
    return cancelled


def open_driven_study(
    store: BaseTrialStore,
    name: str,
    given: dict[str, Any],
    *,
    override: bool,
    options: DriverOptions,
    on_create: Callable[[], object] | None = None,
    on_lease: Callable[[], object] | None = None,
) -> tuple[StudySettings, bool]:
    """:func:`open_study` holding the study's driver lease, taken once: before the
    study is read (also one another process created meanwhile), or right after this
    call created it. A study made by an import and given its space by this start
    (or by one that died before it finished) then gets its imported trials' configs
    (:func:`~._imported_configs.fill_imported_configs`), the lease renewed as it goes.

    A second driver is refused before it changes the stored settings, says
    "resuming" or starts workers; on any failure the lease is given back.

    Args:
        store: The trials store.
        name: The study name.
        given: As :func:`open_study`.
        override: As :func:`open_study`.
        options: The driver's options (its owner id and lease length).
        on_create: Called once this call created the study, before the lease is
            taken: a caller retrying a failed lease then knows the study is new.
        on_lease: Called once the lease is taken: from then on the caller gives it
            back if it ends before its driver runs (a signal, an error).

    Returns:
        As :func:`open_study`.

    Raises:
        DriverLeaseError: Another live driver runs the study.
        StudyMismatchError: See :func:`open_study`.
        ValueError: See :func:`open_study`.
    """
    owner, seconds = options.owner, options.lease_seconds

    def lease() -> None:
        take_driver_lease(store, name, owner, seconds, watch=True)
        if on_lease is not None:
            on_lease()

    made: dict[int, Any] = {}  # the imported trials' configs, if the fit check ran
    with _lease_given_back_on_failure(store, name, owner):
        settings, created = open_study(
            store,
            name,
            given,
            override=override,
            override_flag=options.override_flag,
            before_resume=lease,  # also a study created meanwhile: never unleased
            made=made,
        )
        if created:
            if on_create is not None:
                on_create()
            lease()
        if settings.configs_pending:  # given its space by this start or the last
            settings = _fill_configs_leased(store, name, settings, owner, seconds, made)
    return settings, created


@contextlib.contextmanager
def _lease_given_back_on_failure(
    store: BaseTrialStore, name: str, owner: str
) -> Iterator[None]:
    """Give ``owner``'s driver lease on ``name`` back when the block fails, unless
    with a :class:`DriverLeaseError` (the lease is another's). Store errors while
    giving it back are ignored: the lease then runs out by itself."""
    try:
        yield
    except DriverLeaseError:
        raise
    except BaseException:
        with contextlib.suppress(HPOServiceError):
            store.release_driver_lease(name, owner)
        raise


def _fill_configs_leased(
    store: BaseTrialStore,
    name: str,
    settings: StudySettings,
    owner: str,
    seconds: float,
    made: dict[int, Any],
) -> StudySettings:
    """Give the imported trials their configs
    (:func:`~._imported_configs.fill_imported_configs`; ``made``: those the fit
    check already evaluated), renewing ``owner``'s lease (``seconds`` long) as it
    goes; return the settings then stored."""
    from hpo_service.driver._imported_configs import fill_imported_configs

    return fill_imported_configs(
        store, name, settings,
        between=lambda: take_driver_lease(store, name, owner, seconds),
        made=made,
    )  # fmt: skip


def _exists(store: BaseTrialStore, name: str) -> bool:
    try:
        store.get_study(name)
    except StudyNotFoundError:
        return False
    return True


def check_algorithm(settings: StudySettings, space: Any = None) -> None:
    """Check the study's algorithm settings (and space) against its algorithm.

    Raises:
        ValueError: The algorithm is unknown, a setting is not accepted, or the space
            does not suit it (grid search and continuous parameters).
    """
    from hpo_service.algorithms import check

    live = study_space(settings) if space is None else space
    check(settings.algorithm, settings.algorithm_settings, compile_space(live))


def _algorithm_change(
    name: str, stored: StudySettings, given: dict[str, Any]
) -> dict[str, Any]:
    """``given``; a new algorithm without settings gets none (not the old one's).

    Settings given for the same algorithm replace the stored ones as a whole (a
    setting not given again is back at its default); the change is logged.
    """
    algorithm = given.get("algorithm")
    if algorithm is None or algorithm == stored.algorithm:
        settings = given.get("algorithm_settings")
        if settings is not None and settings != stored.algorithm_settings:
            _logger.warning(
                "study %r: %s settings %s -> %s from now on (given settings replace "
                "the stored ones; a setting not given is at its default)",
                name,
                stored.algorithm,
                stored.algorithm_settings,
                settings,
            )
        return given
    settings = given.get("algorithm_settings")
    _logger.warning(
        "study %r: algorithm %s -> %s (settings %s) from now on; it learns from the "
        "%s trials' history",
        name,
        stored.algorithm,
        algorithm,
        settings or {},
        stored.algorithm,
    )
    return {**given, "algorithm_settings": settings or {}}


def _canonical_algorithm(given: dict[str, Any], current: str) -> dict[str, Any]:
    """``given`` with its algorithm settings as a study stores them (hyperopt's
    spellings renamed); ``current`` is the algorithm when ``given`` names none."""
    from hpo_service.algorithms import canonical

    settings = given.get("algorithm_settings")
    if not settings:
        return given
    name = given.get("algorithm") or current
    return {**given, "algorithm_settings": canonical(name, settings)}


def study_space(settings: StudySettings, name: str = "") -> Any:
    """The live search space stored with study ``name`` (named in the error).

    Raises:
        StudyWithoutSpaceError: The study has none yet (an import made it).
    """
    if settings.space is None:
        raise StudyWithoutSpaceError(name, ["--space"])
    return from_document(settings.space)


def check_creatable(name: str, given: Mapping[str, Any]) -> None:
    """Refuse to create study ``name`` from ``given`` (settings by key:
    ``objective``, ``space``, ``max_evals``) when one of them is missing.

    Raises:
        ValueError: Naming the flags to give (``--space``, ``--max-evals``).
    """
    missing = [k for k in _REQUIRED_TO_CREATE if given.get(k) is None]
    if missing:
        flags = [_flag(k) for k in missing]
        raise ValueError(
            f"{' and '.join(f'`{flag}`' for flag in flags)} must be given to create "
            f"study {name!r} (it does not exist yet), but got "
            + ", ".join(f"no {flag}" for flag in flags)
        )


def _create(store: BaseTrialStore, name: str, given: dict[str, Any]) -> StudySettings:
    check_study_name(name)
    check_creatable(name, given)
    values = {k: v for k, v in given.items() if v is not None}
    if values.get("seed") is None:
        values["seed"] = secrets.randbelow(2**31)
    settings = StudySettings(**values)
    check_algorithm(settings)
    store.create_study(name, settings.to_dict())
    _logger.debug("created study %r (seed %s)", name, settings.seed)
    return settings


def _merge(
    name: str,
    stored: StudySettings,
    given: dict[str, Any],
    *,
    override: bool,
    override_flag: str,
    finished: int,
) -> StudySettings:
    changed = [key for key in IDENTITY_KEYS if _changes(key, stored, given)]
    # another pruner has other settings: one "pruner" difference says both
    shown = [k for k in changed if k != "pruner_settings" or "pruner" not in changed]
    if shown and not override:
        details = "; ".join(_difference(key, stored, given) for key in shown)
        raise StudyMismatchError(
            f"study {name!r} exists with {_different(shown)} ({details}); use "
            f"another study name, or pass {override_flag} to continue it "
            "with the new settings"
        )
    for key in shown:
        _logger.warning(
            "study %r: overriding stored %s (%s)",
            name, _WHAT.get(key, key), _difference(key, stored, given),
        )  # fmt: skip
    given = dict(given)
    _check_budget(name, given, finished)
    values = stored.to_dict()
    values.update({k: v for k, v in given.items() if v is not None and k != "seed"})
    values.update(_run_only(name, stored, given))
    values["cancelled"] = False  # starting a study again resumes a cancelled one
    values["seed"] = _usable_seed(name, stored.seed, given.get("seed"))
    return StudySettings.from_dict(values)


def _changes(key: str, stored: StudySettings, given: dict[str, Any]) -> bool:
    """Whether ``given`` changes identity setting ``key`` (naming the objectives of a
    study that had no names is not a change)."""
    old, new = getattr(stored, key), given.get(key)
    if new is None or old is None:  # naming what the study had not (objectives,
        return False  # or an imported study's objective and space) changes nothing
    return bool(new != old)


def _run_only(
    name: str, stored: StudySettings, given: dict[str, Any]
) -> dict[str, Any]:
    """The stop rules of this run: the given ones, each other one unset (logged)."""
    rules = {key: given.get(key) for key in RUN_ONLY_KEYS}
    for key, value in rules.items():
        old = getattr(stored, key)
        if value is None and old is not None:
            _logger.info(
                "study %r: %s %s of an earlier run does not apply to this one",
                name, _flag(key), old,
            )  # fmt: skip
    return rules


def _usable_seed(name: str, stored: Any, given: int | None) -> int | None:
    """The stored seed; one that numpy refuses (stored by an older version, which
    made every start fail) is replaced by the given seed or a random one."""
    try:
        check_seed(stored)
    except ValueError:
        seed = secrets.randbelow(2**31) if given is None else given
        _logger.warning(
            "study %r: its stored seed %r cannot seed a generator; using %s",
            name, stored, seed,
        )  # fmt: skip
        return seed
    return stored


def _flag(key: str) -> str:
    """The command-line flag of a setting: ``max_evals`` -> ``--max-evals``."""
    return "--" + _FLAGS.get(key, key).replace("_", "-")


def _check_budget(name: str, given: dict[str, Any], finished: int) -> None:
    """Raise a resumed budget below the trials already finished to that number.

    As hyperopt's ``fmin`` does with a smaller ``max_evals``, there is then nothing
    more to run; the stored budget never drops below what finished (which would
    show as "160/100 finished").
    """
    max_evals = given.get("max_evals")
    if max_evals is not None and max_evals < finished:
        _logger.warning(
            "study %r already finished %d trials, more than %s %d: nothing more to "
            "run (give a larger %s to run more trials)",
            name, finished, _flag("max_evals"), max_evals, _flag("max_evals"),
        )  # fmt: skip
        given["max_evals"] = finished


def _write_changes(
    store: BaseTrialStore,
    name: str,
    raw: dict[str, Any],
    merged: StudySettings,
    names_as: str = "objectives",
) -> StudySettings:
    """Store the settings of ``merged`` that differ from the ``raw`` stored ones.

    Only the changed keys are written, atomically, so a concurrent writer's change
    (``hpo-driver cancel``, a worker recording the objective count) is kept; keys of
    newer versions stay too. Objective names record their count only where none is
    recorded yet, and refuse a count that was recorded meanwhile.
    """
    if merged.n_objectives is not None and raw.get("n_objectives") is None:
        count = record_objective_count(store, name, merged.n_objectives)
        _check_objective_count(name, count, merged.to_dict(), names_as)
    changes = {
        key: value
        for key, value in merged.to_dict().items()
        if key not in ("n_objectives", "n_constraints") and raw.get(key) != value
    }
    if changes:
        store.patch_study_settings(name, changes)
    return merged


def _with_objective_count(given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with ``n_objectives`` from ``objective_names`` when names are given."""
    names = given.get("objective_names")
    if not names:
        return given
    return {**given, "n_objectives": len(names)}


def _check_objective_count(
    name: str, stored: int | None, given: dict[str, Any], names_as: str
) -> None:
    """Refuse objective names whose number differs from the study's objectives
    (``names_as``: how the caller gave them, ``--objectives`` or ``objectives``)."""
    count = given.get("n_objectives")
    if count is None or stored is None or count == stored:
        return
    names = given["objective_names"]
    shown = ",".join(names) if names_as.startswith("--") else repr(names)
    raise StudyMismatchError(
        f"`{names_as}` must name each objective of study {name!r}, which has "
        f"{counted(stored, 'objective')}, but got {count} names: {names_as}={shown}"
    )


def _different(keys: list[str]) -> str:
    """``a different objective, a different space and different objective names``."""
    words = [_WHAT.get(key, key) for key in keys]
    parts = [f"different {w}" if w in _PLURAL else f"a different {w}" for w in words]
    return " and ".join([", ".join(parts[:-1]), parts[-1]] if parts[1:] else parts)


def _difference(key: str, stored: StudySettings, given: dict[str, Any]) -> str:
    if key == "space_fingerprint":  # both fingerprints set (see _changes), and a
        # fingerprint is only ever stored or given with its space (space_settings)
        assert stored.space is not None
        return space_difference(stored.space, given["space"])
    if key == "pruner":
        old = describe_pruner(stored.pruner, stored.pruner_settings)
        new = describe_pruner(given["pruner"], given.get("pruner_settings"))
        return f"pruner: stored {old}, given {new}"
    label = _WHAT.get(key, key)
    old, new = getattr(stored, key), given[key]
    if isinstance(old, dict) and isinstance(new, dict):
        return f"{label}: {settings_difference(old, new)}"
    return f"{label}: stored {old!r:.80}, given {new!r:.80}"


def settings_difference(stored: dict[str, Any], given: dict[str, Any]) -> str:
    """Two settings dicts' difference in words, every differing key named.

    Differing keys read ``stored -> given: max_resource 9 -> 27, eta (unset) -> 3``;
    with no key in common (another pruner's settings) each side is listed whole.

    Args:
        stored: The stored settings.
        given: The new settings.
    """
    if stored.keys().isdisjoint(given.keys()):
        return f"stored {_items(stored)}, given {_items(given)}"
    parts = []
    for key in [*stored, *(k for k in given if k not in stored)]:
        old, new = stored.get(key, _UNSET), given.get(key, _UNSET)
        if old != new:
            parts.append(f"{key} {_value(old)} -> {_value(new)}")
    return "stored -> given: " + ", ".join(parts)


_UNSET = object()


def _items(settings: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={_value(v)}" for k, v in settings.items()) + "}"


def _value(value: Any) -> str:
    return "(unset)" if value is _UNSET else f"{value!r:.40}"


def space_difference(stored: dict[str, Any], given: dict[str, Any]) -> str:
    """Which labels a changed space added, removed or changed, in words.

    Args:
        stored: The stored space document.
        given: The new space document.
    """
    try:
        old_space, new_space = from_document(stored), from_document(given)
        old = compile_space(old_space).by_label
        new = compile_space(new_space).by_label
        old_nodes, new_nodes = labelled_nodes(old_space), labelled_nodes(new_space)
    except (HPOServiceError, KeyError, TypeError, ValueError):
        return "space: the stored space cannot be compared"
    added = sorted(new.keys() - old.keys())
    removed = sorted(old.keys() - new.keys())
    changed = sorted(k for k in old.keys() & new.keys() if old[k] != new[k])
    parts = []
    if added:
        parts.append("labels added: " + ", ".join(added))
    if removed:
        parts.append("labels removed: " + ", ".join(removed))
    for label in changed:
        before, after = repr(old_nodes[label]), repr(new_nodes[label])
        if before == after:  # the same expression, moved or reweighted
            before, after = _spec(old[label]), _spec(new[label])
        parts.append(f"{label} changed from {before} to {after}")
    if not parts:
        parts.append("same labels, but its constants or nesting changed")
    return "space: " + "; ".join(parts)


def _spec(spec: Any) -> str:
    """``uniform(low=-5, high=5)``: a parameter's kind and its non-default fields
    (where it is active, ``conditions``, and a choice's ``weights`` included), for a
    change the ``hp.*`` expression alone does not show."""
    shown = {
        f.name: getattr(spec, f.name)
        for f in fields(spec)
        if f.name not in ("label", "kind")
        and getattr(spec, f.name) is not None
        and getattr(spec, f.name) is not False
        and getattr(spec, f.name) != ()
    }
    return f"{spec.kind}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def _check_known_keys(given: dict[str, Any]) -> None:
    known = {f.name for f in fields(StudySettings)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"unknown study settings: {', '.join(unknown)}")


def check_seed(seed: Any) -> None:
    """Refuse a seed that numpy cannot seed a generator with, before it is stored.

    Args:
        seed: The given seed, or None (a random one is drawn).

    Raises:
        ValueError: ``seed`` is not an integer in ``[0, 2**32)``.
    """
    if seed is None:
        return
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"`--seed` must be an integer, but got seed={seed!r}")
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"`0 <= --seed < 2**32` must hold, but got seed={seed}")


def check_study_name(name: str) -> None:
    """Refuse a study name that commands, logs and file names cannot show plainly.

    A name is 1 to :data:`NAME_LIMIT` printable characters without leading or
    trailing blanks. ``/`` is allowed (hyperopt's ``exp_key`` may hold one): the
    stores keep a name as a value, a worker's ``--workdir`` makes one path
    component of it, the dashboard's URLs percent-encode it, and a trial shown as
    ``study/tid`` has its tid after the last ``/``. Only new studies are checked:
    existing ones (of older versions) stay usable.

    Raises:
        ValueError: The name breaks one of these rules.
    """
    problem = _name_problem(name)
    if problem:
        raise ValueError(
            f"`--study` must be 1 to {NAME_LIMIT} printable characters without "
            f"leading or trailing blanks, but got study={name!r:.120} ({problem})"
        )


def _name_problem(name: str) -> str:
    if not name:
        return "empty"
    if len(name) > NAME_LIMIT:
        return f"{len(name)} characters"
    if name != name.strip():
        return "leading or trailing blanks"
    if not name.isprintable():
        return "holds a control character"
    return ""
