"""Suggestion algorithms, one module each, and the registry that names them.

Every algorithm module has ``NAME`` and
``suggest(space, history, rng, n=1, **settings)`` returning ``n`` params dicts.
Users pick one the hyperopt way: ``algo=tpe.suggest`` or
``algo=functools.partial(tpe.suggest, n_startup_jobs=10)``. A study stores the
algorithm's name and settings, so a driver can rebuild it on resume.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ALGORITHMS", "Algorithm", "canonical", "check", "describe", "resolve"]

ALGORITHMS: dict[str, str] = {
    "tpe": "hpo_service.algorithms.tpe",
    "rand": "hpo_service.algorithms.rand",
    "motpe": "hpo_service.algorithms.motpe",
    "anneal": "hpo_service.algorithms.anneal",
    "grid": "hpo_service.algorithms.grid",
    "mix": "hpo_service.algorithms.mix",
}

Algorithm = Callable[..., list[dict[str, Any]]]


def resolve(name: str, settings: dict[str, Any] | None = None) -> Algorithm:
    """Return the suggest function registered as ``name``, bound to ``settings``.

    Raises:
        ValueError: ``name`` is not a registered algorithm.
    """
    if name not in ALGORITHMS:
        known = ", ".join(sorted(ALGORITHMS))
        raise ValueError(f"`algorithm` must be one of {known}, but got {name!r}")
    suggest = importlib.import_module(ALGORITHMS[name]).suggest
    return functools.partial(suggest, **(settings or {}))


def check(name: str, settings: Mapping[str, Any], space: Any = None) -> None:
    """Check ``settings`` (and a compiled ``space``) against algorithm ``name``.

    Each algorithm module may define ``check_settings(settings)`` (names and values
    it accepts) and ``check_space(space)`` (grid search refuses continuous
    parameters); this runs them, so that bad input is refused before a study is
    created or changed.

    Raises:
        ValueError: ``name`` is unknown, or a setting or the space is not accepted
            (``SpaceError``, a ValueError, for the space).
    """
    if name not in ALGORITHMS:
        known = ", ".join(ALGORITHMS)
        raise ValueError(f"`algorithm` must be one of {known}, but got {name!r}")
    module = importlib.import_module(ALGORITHMS[name])
    try:
        getattr(module, "check_settings", _takes_none)(dict(settings))
    except TypeError as e:
        raise ValueError(f"{name} settings: {e}") from e
    if space is not None and hasattr(module, "check_space"):
        module.check_space(space)


def canonical(name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` of algorithm ``name`` in the form a study stores (hyperopt's
    spellings renamed, ``mix``'s algorithms by name), via the module's
    ``canonical_settings``; unchanged for an unknown name or malformed settings
    (:func:`check` reports those)."""
    if name not in ALGORITHMS:
        return dict(settings)
    module = importlib.import_module(ALGORITHMS[name])
    try:
        return getattr(module, "canonical_settings", dict)(dict(settings))
    except (TypeError, ValueError):
        return dict(settings)


def _takes_none(settings: Mapping[str, Any]) -> None:
    if settings:
        raise TypeError(f"this algorithm takes no settings, but got {sorted(settings)}")


def describe(algo: Callable[..., Any]) -> tuple[str, dict[str, Any]]:
    """Return the registered name and settings of ``algo`` (a suggest, or a partial).

    The settings are in the form a study stores: hyperopt's spellings renamed (the
    module's ``canonical_settings``), JSON-able.

    Raises:
        ValueError: ``algo`` is not one of hpo-service's algorithms.
    """
    settings: dict[str, Any] = {}
    while isinstance(algo, functools.partial):
        if algo.args:
            raise ValueError(
                "`algo` partials may bind keyword settings only, "
                f"but got positional arguments {algo.args!r}"
            )
        settings = {**algo.keywords, **settings}
        algo = algo.func
    for name, path in ALGORITHMS.items():
        module = importlib.import_module(path)
        if module.suggest is algo:
            return name, getattr(module, "canonical_settings", dict)(settings)
    known = ", ".join(f"{name}.suggest" for name in ALGORITHMS)
    raise ValueError(
        f"`algo` must be one of hpo_service's {known} (optionally wrapped in "
        f"functools.partial), but got {algo!r}"
    )
