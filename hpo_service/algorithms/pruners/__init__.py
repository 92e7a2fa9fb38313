"""Pruners: stop unpromising trials early, from the values they report.

An objective reports ``hpo_service.report(loss, step)``; the study's pruner judges the
trial at each report and ``hpo_service.should_prune()`` tells the objective to stop.
Choose a pruner per study by name and settings (``hpo-driver start --pruner asha
--max-resource 81``) or by object (``fmin(..., pruner=ASHAPruner(max_resource=81))``):

- ``none`` (default): :class:`NopPruner`;
- ``median``: :class:`MedianPruner`, Vizier's median stopping rule;
- ``percentile``: :class:`PercentilePruner`, the same rule at another percentile;
- ``asha``: :class:`ASHAPruner`, asynchronous successive halving;
- ``hyperband``: :class:`HyperbandPruner`, ASHA brackets of several aggressiveness.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Mapping
from typing import Any

from hpo_service.algorithms.pruners._asha import ASHAPruner, SuccessiveHalvingPruner
from hpo_service.algorithms.pruners._base import BasePruner, TrialProgress
from hpo_service.algorithms.pruners._hyperband import HyperbandPruner
from hpo_service.algorithms.pruners._nop import NopPruner
from hpo_service.algorithms.pruners._percentile import MedianPruner, PercentilePruner

PRUNERS: dict[str, type[BasePruner]] = {
    cls.name: cls
    for cls in (NopPruner, MedianPruner, PercentilePruner, ASHAPruner, HyperbandPruner)
}
"""Pruner classes by the name a study stores (``--pruner``)."""

_OTHER_NAMES = {
    "successive_halving": "asha",
    "successivehalving": "asha",
    "successivehalvingpruner": "asha",
    "sha": "asha",
    **{cls.__name__.lower(): cls.name for cls in PRUNERS.values()},
    **{cls.name: cls.name for cls in PRUNERS.values()},  # in other letter case
}
"""Names, lower case, that a user (of Optuna, say) may give ``pruner=`` for ours."""

_OFFERED = (
    "MedianPruner, PercentilePruner, ASHAPruner (and SuccessiveHalvingPruner, the "
    "same with Optuna's argument order), HyperbandPruner and NopPruner"
)


def __getattr__(name: str) -> Any:
    """Refuse an Optuna pruner this module does not offer, saying what it offers.

    Raises:
        ImportError: For ``from hpo_service.pruners import ThresholdPruner`` (Python
            would replace an AttributeError with its own "cannot import name").
        AttributeError: For ``pruners.ThresholdPruner`` and any other name.
    """
    if name.endswith("Pruner"):
        raise missing_pruner(name, "hpo_service.pruners")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def missing_pruner(name: str, module: str) -> ImportError | AttributeError:
    """The error for pruner class ``name`` that ``module`` lacks, saying where our
    pruners are (or, for an Optuna pruner not offered, which ones are).

    Call it from the module's ``__getattr__`` only: it tells ``from module import
    name`` (an ImportError, which Python would otherwise replace with its generic
    "cannot import name") from ``module.name`` (an AttributeError).
    """
    if name in __all__:
        message = (
            f"{module} has no {name}: the pruners are in hpo_service.pruners, as "
            f"Optuna's are in optuna.pruners; write `from hpo_service.pruners import "
            f"{name}`"
        )
    else:
        message = (
            f"{module} has no {name}: hpo_service.pruners has {_OFFERED}; an objective "
            "can also stop itself by raising TrialPruned() after report()"
        )
    if _from_import():
        return ImportError(message, name=module)
    return AttributeError(message)


def _from_import() -> bool:
    """Whether the caller of a module's ``__getattr__`` (that called
    :func:`missing_pruner`) is the import system resolving ``from <module> import
    NAME`` (its ``hasattr`` in ``_handle_fromlist``)."""
    caller = sys._getframe(3)  # 0: here, 1: missing_pruner, 2: __getattr__, 3: caller
    return caller.f_globals.get("__name__") == "importlib._bootstrap"


def make_pruner(name: str, settings: dict[str, Any] | None = None) -> BasePruner:
    """A fresh pruner from the name and settings a study stores.

    Args:
        name: One of :data:`PRUNERS` (``"none"``, ``"median"``, ...).
        settings: Keyword arguments of the pruner's class.

    Raises:
        ValueError: Unknown name, unknown setting, or a setting out of range.
    """
    cls = PRUNERS.get(name) if isinstance(name, str) else None
    if cls is None:
        alias = _OTHER_NAMES.get(name.lower()) if isinstance(name, str) else None
        hint = f" (did you mean {alias!r}?)" if alias else ""
        raise ValueError(
            f"`pruner` must be one of {', '.join(PRUNERS)}, but got "
            f"pruner={name!r}{hint}"
        )
    try:
        return cls(**(settings or {}))
    except TypeError as e:
        raise ValueError(f"invalid settings for pruner {name!r}: {e}") from None


def with_defaults(name: str, settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """A pruner's settings with its class's defaults where unset, without building
    it (building a median pruner loads numpy, which ``hpo-driver status`` does not
    need): the one place advice and rules read a default from.

    Args:
        name: A key of :data:`PRUNERS`.
        settings: Settings as a study stores them (any subset), or None.

    Returns:
        Every keyword setting of the pruner's class, the given ones as given (the
        median pruner has ``percentile`` too: :attr:`MedianPruner.PERCENTILE`).

    Raises:
        KeyError: ``name`` is not a key of :data:`PRUNERS`.
    """
    cls = PRUNERS[name]
    defaults = {
        key: p.default
        for key, p in inspect.signature(cls).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    if cls is MedianPruner:
        defaults["percentile"] = MedianPruner.PERCENTILE
    return {**defaults, **(settings or {})}


def kept_settings(
    name: str, stored: tuple[str, Mapping[str, Any]] | None
) -> dict[str, Any]:
    """The stored settings that pruner ``name``, given by its name only (which
    gives no setting), keeps on a resumed study: those its class takes when the
    study's pruner is ``name`` (so a default changed since, as ASHA's
    ``reduction_factor`` 3 -> 2, does not count as a change), else none. A stored
    setting the class no longer takes (a study of an older version) is left out,
    so that it stays a difference the resume names, not the class's TypeError.

    Args:
        name: A key of :data:`PRUNERS`.
        stored: The resumed study's pruner name and settings; None for a new study.
    """
    if stored is None or stored[0] != name:
        return {}
    known = with_defaults(name, None)
    return {key: value for key, value in stored[1].items() if key in known}


def describe_pruner(name: str, settings: dict[str, Any] | None = None) -> str:
    """A pruner and its settings in one line: ``asha(max_resource=27, ...)``.

    Args:
        name: The pruner's name (a key of :data:`PRUNERS`).
        settings: Its keyword settings, as a study stores them.
    """
    shown = ", ".join(f"{key}={value!r}" for key, value in (settings or {}).items())
    return f"{name}({shown})" if shown else name


def resolve_pruner(pruner: Any) -> BasePruner:
    """A pruner from what a user passes: None, a name, or a pruner object.

    Returns:
        A fresh pruner (with nothing learned) equal to the one described.

    Raises:
        ValueError: Unknown name or bad settings.
        TypeError: ``pruner`` is none of the accepted kinds.
    """
    if pruner is None:
        return NopPruner()
    if isinstance(pruner, str):
        return make_pruner(pruner)
    if isinstance(pruner, BasePruner):
        return make_pruner(pruner.name, pruner.settings())
    if isinstance(pruner, type) and issubclass(pruner, BasePruner):
        raise TypeError(
            f"`pruner` must be a pruner object, e.g. {pruner.__name__}(), or a name, "
            f"but got the class pruner={pruner.__name__}"
        )
    raise TypeError(
        "`pruner` must be None, a name (e.g. 'asha') or a pruner from "
        f"hpo_service.pruners, but got pruner={pruner!r:.100}"
    )


__all__ = [
    "PRUNERS",
    "ASHAPruner",
    "BasePruner",
    "HyperbandPruner",
    "MedianPruner",
    "NopPruner",
    "PercentilePruner",
    "SuccessiveHalvingPruner",
    "TrialProgress",
    "describe_pruner",
    "make_pruner",
    "missing_pruner",
    "resolve_pruner",
    "with_defaults",
]
