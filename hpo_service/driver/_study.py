"""Creating a study, or resuming one and checking that it is still the same study."""

from __future__ import annotations

import logging
import secrets
from dataclasses import fields
from typing import Any

from hpo_service.driver._settings import StudySettings, record_objective_count
from hpo_service.exceptions import (
    StudyExistsError,
    StudyMismatchError,
    StudyNotFoundError,
)
from hpo_service.space import compile_space, fingerprint, from_document, to_document
from hpo_service.store import BaseTrialStore

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
    _check_objective_count(name, stored.n_objectives, given)
    merged = _merge(
        name, stored, _algorithm_change(name, stored, given), override=override
    )
    check_algorithm(merged)
    return _write_changes(store, name, study.settings, merged), False


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
            + ", ".join(k.replace("_", "-") for k in missing)
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
    name: str, stored: StudySettings, given: dict[str, Any], *, override: bool
) -> StudySettings:
    changed = [
        key
        for key in IDENTITY_KEYS
        if given.get(key) is not None and given[key] != getattr(stored, key)
    ]
    if changed and not override:
        details = "; ".join(_difference(key, stored, given) for key in changed)
        raise StudyMismatchError(
            f"study {name!r} exists with a different {', '.join(changed)} ({details}); "
            "use another study name, or pass --override (override=True) to continue "
            "it with the new settings"
        )
    for key in changed:
        _logger.warning("study %r: overriding stored %s", name, key)
    values = stored.to_dict()
    values.update({k: v for k, v in given.items() if v is not None and k != "seed"})
    values["cancelled"] = False  # starting a study again resumes a cancelled one
    return StudySettings.from_dict(values)


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
    return f"{key}: stored {getattr(stored, key)!r:.80}, given {given[key]!r:.80}"


def _check_known_keys(given: dict[str, Any]) -> None:
    known = {f.name for f in fields(StudySettings)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"unknown study settings: {', '.join(unknown)}")
