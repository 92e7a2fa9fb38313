"""Creating a study, or resuming one and checking that it is still the same study."""

from __future__ import annotations

import contextlib
import logging
import secrets
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from hpo_service.driver._lease import take_driver_lease
from hpo_service.driver._settings import (
    COUNTED_STATES,
    StudySettings,
    record_objective_count,
)
from hpo_service.exceptions import (
    DriverLeaseError,
    HPOServiceError,
    StudyExistsError,
    StudyMismatchError,
    StudyNotFoundError,
)
from hpo_service.space import compile_space, fingerprint, from_document, to_document
from hpo_service.store import BaseTrialStore

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
)
_REQUIRED_TO_CREATE = ("objective", "space", "max_evals")
# What users call a setting in messages, and the flag that sets it, where it differs.
_WHAT = {
    "space_fingerprint": "space",
    "algorithm_settings": "algorithm settings",
    "pruner_settings": "pruner settings",
}
_FLAGS = {"algorithm": "algo", "space_fingerprint": "space"}


def space_settings(space: Any) -> dict[str, Any]:
    """The ``space`` and ``space_fingerprint`` settings of a live space object."""
    return {"space": to_document(space), "space_fingerprint": fingerprint(space)}


def open_study(
    store: BaseTrialStore,
    name: str,
    given: dict[str, Any],
    *,
    override: bool = False,
) -> tuple[StudySettings, bool]:
    """Create study ``name`` from ``given`` settings, or resume it.

    Args:
        store: The trials store.
        name: The study name.
        given: Settings the user gave (keys of :class:`StudySettings`); on resume, run
            settings (``max_evals``, leases, stop rules, ...) replace the stored ones.
        override: Accept a changed objective, space or pruner on resume. A changed
            algorithm is accepted without it (its settings are then those given,
            not the old algorithm's).

    Returns:
        The study's settings now in force, and whether the study was created.

    Raises:
        StudyMismatchError: The study exists with a different objective, space or
            pruner and ``override`` is False.
        ValueError: The study does not exist and ``given`` lacks what creating it
            needs, or the algorithm does not accept its settings or the space;
            nothing is written then.
    """
    _check_known_keys(given)
    given = _with_objective_count(given)
    try:
        study = store.get_study(name)
    except StudyNotFoundError:
        try:
            return _create(store, name, given), True
        except StudyExistsError:  # another driver created it meanwhile
            study = store.get_study(name)
    stored = StudySettings.from_dict(study.settings)
    finished = sum(store.count_by_state(name)[state] for state in COUNTED_STATES)
    _check_objective_count(name, stored.n_objectives, given)
    merged = _merge(
        name,
        stored,
        _algorithm_change(name, stored, given),
        override=override,
        finished=finished,
    )
    check_algorithm(merged)
    return _write_changes(store, name, study.settings, merged), False


def open_driven_study(
    store: BaseTrialStore,
    name: str,
    given: dict[str, Any],
    *,
    override: bool,
    options: DriverOptions,
) -> tuple[StudySettings, bool]:
    """:func:`open_study` holding the study's driver lease, which is taken first.

    A second driver is refused before it changes the stored settings, says
    "resuming" or starts workers; on any failure the lease is given back.

    Args:
        store: The trials store.
        name: The study name.
        given: As :func:`open_study`.
        override: As :func:`open_study`.
        options: The driver's options (its owner id and lease length).

    Returns:
        As :func:`open_study`.

    Raises:
        DriverLeaseError: Another live driver runs the study.
        StudyMismatchError: See :func:`open_study`.
        ValueError: See :func:`open_study`.
    """
    owner, seconds = options.owner, options.lease_seconds
    try:
        if _exists(store, name):
            take_driver_lease(store, name, owner, seconds)
        settings, created = open_study(store, name, given, override=override)
        if created:
            take_driver_lease(store, name, owner, seconds)
    except DriverLeaseError:
        raise
    except BaseException:
        with contextlib.suppress(HPOServiceError):
            store.release_driver_lease(name, owner)
        raise
    return settings, created


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
    """``given``; a new algorithm without settings gets none (not the old one's)."""
    algorithm = given.get("algorithm")
    if algorithm is None or algorithm == stored.algorithm:
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


def study_space(settings: StudySettings) -> Any:
    """The live search space stored with a study."""
    return from_document(settings.space)


def _create(store: BaseTrialStore, name: str, given: dict[str, Any]) -> StudySettings:
    missing = [k for k in _REQUIRED_TO_CREATE if given.get(k) is None]
    if missing:
        raise ValueError(
            f"study {name!r} does not exist yet; to create it give "
            + ", ".join(_flag(k) for k in missing)
        )
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
    finished: int,
) -> StudySettings:
    changed = [
        key
        for key in IDENTITY_KEYS
        if given.get(key) is not None and given[key] != getattr(stored, key)
    ]
    if changed and not override:
        what = ", ".join(_WHAT.get(key, key) for key in changed)
        details = "; ".join(_difference(key, stored, given) for key in changed)
        raise StudyMismatchError(
            f"study {name!r} exists with a different {what} ({details}); use "
            "another study name, or pass --override (override=True) to continue it "
            "with the new settings"
        )
    for key in changed:
        _logger.warning("study %r: overriding stored %s", name, _WHAT.get(key, key))
    given = dict(given)
    _check_budget(name, given, finished)
    values = stored.to_dict()
    values.update({k: v for k, v in given.items() if v is not None and k != "seed"})
    values["cancelled"] = False  # starting a study again resumes a cancelled one
    return StudySettings.from_dict(values)


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
    store: BaseTrialStore, name: str, raw: dict[str, Any], merged: StudySettings
) -> StudySettings:
    """Store the settings of ``merged`` that differ from the ``raw`` stored ones.

    Only the changed keys are written, atomically, so a concurrent writer's change
    (``hpo-driver cancel``, a worker recording the objective count) is kept; keys of
    newer versions stay too. Objective names record their count only where none is
    recorded yet, and refuse a count that was recorded meanwhile.
    """
    if merged.n_objectives is not None and raw.get("n_objectives") is None:
        count = record_objective_count(store, name, merged.n_objectives)
        _check_objective_count(name, count, merged.to_dict())
    changes = {
        key: value
        for key, value in merged.to_dict().items()
        if key != "n_objectives" and raw.get(key) != value
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
    name: str, stored: int | None, given: dict[str, Any]
) -> None:
    """Refuse objective names whose number differs from the study's objectives."""
    count = given.get("n_objectives")
    if count is None or stored is None or count == stored:
        return
    raise StudyMismatchError(
        f"study {name!r} has {stored} objective(s), but "
        f"{count} objective names were given ({', '.join(given['objective_names'])})"
    )


def _difference(key: str, stored: StudySettings, given: dict[str, Any]) -> str:
    if key == "space_fingerprint":
        return space_difference(stored.space, given.get("space"))
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


def space_difference(stored: dict[str, Any], given: dict[str, Any] | None) -> str:
    """Which labels a changed space added, removed or changed, in words.

    Args:
        stored: The stored space document.
        given: The new space document.
    """
    try:
        old = compile_space(from_document(stored)).by_label
        new = compile_space(from_document(given)).by_label
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
        parts.append(f"{label} changed from {_spec(old[label])} to {_spec(new[label])}")
    if not parts:
        parts.append("same labels, but its constants or nesting changed")
    return "space: " + "; ".join(parts)


def _spec(spec: Any) -> str:
    """``uniform(low=-5, high=5)``: a parameter's kind and its non-default fields."""
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
