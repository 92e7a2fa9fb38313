"""What every pruner implements, and the checks their settings share."""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hpo_service.store._base import TrialState

#: Returns the intermediate values of the study's running trials, ``{tid: {step: v}}``.
#: A pruner calls it only when it needs them (ASHA at a rung), as it reads the store.
RunningReports = Callable[[], Mapping[int, Mapping[int, float]]]


@dataclass
class TrialProgress:
    """The attempt being judged.

    Attributes:
        tid: The trial's id.
        intermediate: This attempt's reports so far, ``{step: value}``, the newest
            last.
        memo: The pruner's notes about this attempt (rungs passed, decisions); the
            caller keeps it for the attempt's life, so a requeued trial starts afresh.
    """

    tid: int
    intermediate: dict[int, float] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def last_step(self) -> int | None:
        """The newest reported step, or None."""
        return next(reversed(self.intermediate), None) if self.intermediate else None


class BasePruner(abc.ABC):
    """Decides at each report whether a trial should stop early.

    A pruner object holds what it learned from the study's finished trials (fed by
    :meth:`observe`, once per trial), so deciding for one trial costs no scan of the
    study. Its settings (:meth:`settings`) rebuild an equal, empty pruner anywhere:
    that is what a study stores, and what each worker builds its own pruner from.
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def settings(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this pruner (JSON-able)."""

    def observe(  # noqa: B027 - optional: a pruner may learn nothing
        self, tid: int, state: TrialState, intermediate: Mapping[int, float]
    ) -> None:
        """Learn from a finished trial (called once per trial, in any order).

        Args:
            tid: The trial's id.
            state: Its finished state (done, pruned, error or cancelled).
            intermediate: Its reports, ``{step: value}``.
        """

    def first_decision(self, tid: int) -> int | None:
        """The first step at which this pruner may stop trial ``tid``.

        A running trial that reported at or past this step was judged there and kept
        (a stopped trial does not run on): a survivor, which TPE's constant liar
        counts as a lighter pending point (see
        :func:`hpo_service.driver._suggest.survivor_weights`). None when the pruner
        never stops the trial (the default).
        """
        return None

    @abc.abstractmethod
    def prune(self, trial: TrialProgress, running: RunningReports) -> bool:
        """Whether ``trial`` should stop, judged at its newest report.

        Args:
            trial: The attempt, with its reports so far.
            running: Reads the other running trials' reports (they include
                ``trial``'s own, already written).

        Returns:
            True to stop the trial.
        """

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BasePruner)
            and other.name == self.name
            and other.settings() == self.settings()
        )

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.settings().items()))))


def check_int(value: Any, name: str, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``, else raise."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or value < minimum:
        auto = isinstance(value, str) and value == "auto"
        hint = _AUTO_HINTS.get(name, _AUTO_HINTS["max_resource"]) if auto else ""
        raise ValueError(
            f"`{name}` must be an int >= {minimum}, but got {name}={value!r:.50}{hint}"
        )
    return int(value)


_AUTO_HINTS = {
    "max_resource": (
        " (Optuna's 'auto', a guess from the first trials, is not offered: give the"
        " number of steps, e.g. the epochs of a complete trial)"
    ),
    "min_resource": (
        " (Optuna's 'auto', max(1, steps of the longest completed trial // 100), is"
        " not offered: give the steps of the first rung, e.g. 1 for trials of fewer"
        " than 200 steps)"
    ),
}


def check_percentile(value: Any) -> float:
    """Return ``value`` as a float if it is a number in [0, 100], else raise."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or math.isnan(value) or not 0 <= value <= 100:
        raise ValueError(
            f"`percentile` must be a number in [0, 100], but got percentile={value!r}"
        )
    return float(value)


_OPTUNA_ONLY = {
    "bootstrap_count": (
        "Optuna's count of trials that must reach a rung before any trial there is "
        "judged; hpo-service has no counterpart: a trial is judged against the values "
        "recorded at the rung so far, as with Optuna's default bootstrap_count=0, so "
        "leave it out"
    ),
}
"""Keyword arguments of Optuna's pruners that ours do not take, and what to do."""

_OPTUNA_DEFAULTS = {"bootstrap_count": 0}
"""Values of those arguments that mean what our pruners do: accepted, not stored."""


def _is_default(value: Any, default: int) -> bool:
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and (value == default)
    )


def refuse_extra_settings(cls_name: str, extra: Mapping[str, Any]) -> None:
    """Refuse keyword arguments a pruner's ``__init__`` does not take.

    An Optuna-only one (``bootstrap_count``) is named with what it is in Optuna and
    what hpo-service offers instead, unless it has Optuna's default (0), which means
    what ours do; any other gets Python's usual message.

    Args:
        cls_name: The pruner class, as the user typed it (e.g. ``"HyperbandPruner"``).
        extra: The keyword arguments left over, by name.

    Raises:
        TypeError: ``extra`` is not empty.
    """
    for name, value in extra.items():
        if name in _OPTUNA_DEFAULTS and _is_default(value, _OPTUNA_DEFAULTS[name]):
            continue
        if name in _OPTUNA_ONLY:
            raise TypeError(
                f"{cls_name}() takes no `{name}`, but got {name}={value!r}: it is "
                f"{_OPTUNA_ONLY[name]}"
            )
        raise TypeError(
            f"{cls_name}.__init__() got an unexpected keyword argument {name!r}"
        )
