"""Intermediate reports from inside an objective: ``report``, ``should_prune``.

Whoever runs an objective (in-process ``fmin``, the worker's child process) opens a
:func:`trial_context` around the call with a :class:`Reporter` that records a report
where the trial lives (a ``Trials`` object, or the store through the worker) and
answers with the study pruner's decision. The objective itself only calls::

    for epoch in range(100):
        loss = train_one_epoch(model)
        hpo_service.report(loss, step=epoch)
        if hpo_service.should_prune():
            raise hpo_service.TrialPruned()

The context is found through a context variable (the thread that runs the objective)
and, from other threads the objective starts, as the process's only open context.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import numbers
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from hpo_service.exceptions import NoActiveTrialError
from hpo_service.objective._result import STATUS_PRUNED, _as_real, _is_array

#: The largest step a report may carry: stores keep steps as signed 64-bit ints.
MAX_STEP = 2**63 - 1

_logger = logging.getLogger(__name__)


class Reporter(Protocol):
    """Records one report of the running trial and returns the pruner's decision."""

    def __call__(self, step: int, value: float) -> bool:
        """Record ``value`` at ``step``; return True if the trial should stop."""
        ...


@dataclass
class TrialContext:
    """The reports of the trial being run (what :func:`report` updates).

    Attributes:
        reporter: Where reports go.
        last_step: The last reported step, or None before the first report.
        last_value: The value reported at ``last_step``.
        prune: The pruner's decision at the last report.
        prune_step: The first step at which the pruner said stop, or None.
        asked: Whether the objective called :func:`should_prune` during the trial.
    """

    reporter: Reporter
    last_step: int | None = None
    last_value: float | None = None
    prune: bool = False
    prune_step: int | None = None
    asked: bool = False


_current: contextvars.ContextVar[TrialContext | None] = contextvars.ContextVar(
    "hpo_service_trial", default=None
)
_open: list[TrialContext] = []
_open_lock = threading.Lock()


@contextlib.contextmanager
def trial_context(reporter: Reporter) -> Iterator[TrialContext]:
    """Route :func:`report` calls to ``reporter`` while the objective runs.

    Args:
        reporter: Records a report and returns whether to prune.

    Yields:
        The trial's context (its last report and decision, once the call returns).
    """
    context = TrialContext(reporter)
    token = _current.set(context)
    with _open_lock:
        _open.append(context)
    try:
        yield context
    finally:
        with _open_lock:
            _open.remove(context)
        _current.reset(token)


def current_context(what: str) -> TrialContext:
    """The context of the trial being run in this thread (or the process's only one).

    Args:
        what: The call that needs it, for the error message (``"report(0.5, step=3)"``).

    Raises:
        NoActiveTrialError: No objective is being run.
    """
    context = _current.get()
    if context is not None:
        return context
    with _open_lock:
        if len(_open) == 1:
            return _open[0]
    raise NoActiveTrialError(
        f"`{what}` must be called inside an objective run by fmin or an hpo-worker, "
        "but no trial is being run here; to run the objective on one point outside "
        "a search (the best config again, a test), call Domain(fn, space).evaluate("
        "point, None) (from hpo_service.base import Domain): its reports are checked "
        "and never prune"
    )


def report(value: float, step: int) -> None:
    """Record an intermediate loss of the running trial (lower is better).

    The study's pruner judges the trial at each report; :func:`should_prune` then
    says whether to stop. In a study without a pruner reports are only recorded.

    Args:
        value: The loss at this step, a finite float (NaN and +-inf are refused,
            and so are several values: one is compared per step); a 0-d numpy
            array is taken as its number (as for a result's loss).
        step: Epoch, iteration or budget units used so far; an int >= 0 that grows
            from one report to the next.

    Raises:
        NoActiveTrialError: Called outside an objective being run.
        ValueError: ``value`` is not a finite number, or ``step`` is not an int >= 0
            greater than the last reported step.
    """
    context = current_context(f"report({value!r:.50}, step={step!r:.50})")
    value, step = _checked(value, step, context.last_step)
    context.prune = bool(context.reporter(step, value))
    if context.prune and context.prune_step is None:
        context.prune_step = step
    context.last_step, context.last_value = step, value


def should_prune() -> bool:
    """Whether the study's pruner wants the running trial stopped.

    Judged at the last :func:`report` (False before the first one). When it is True,
    raise :class:`~hpo_service.TrialPruned` to end the trial as pruned.

    Raises:
        NoActiveTrialError: Called outside an objective being run.
    """
    context = current_context("should_prune()")
    context.asked = True
    return context.prune


def ignored_prune(context: TrialContext) -> str | None:
    """Why the trial of ``context`` ran on although its pruner said stop, or None.

    A trial whose objective returned normally after the pruner had said stop at some
    report, and which never called :func:`should_prune`, cannot be stopped early by
    any pruner: the objective is missing the check (reports alone stop nothing).

    Args:
        context: The context of a trial whose objective returned (not pruned).

    Returns:
        A message naming the step and the missing call, or None when the objective
        asked (it may check every few steps and go on on purpose) or the pruner
        never said stop.
    """
    if context.prune_step is None or context.asked:
        return None
    return (
        f"the study's pruner said stop at step {context.prune_step}, but the "
        "objective never calls hpo_service.should_prune(), so the trial ran to the "
        "end: no trial stops early unless the objective checks after report(value, "
        "step): `if should_prune(): raise TrialPruned()`"
    )


def pruned_result(context: TrialContext, duration: float) -> dict[str, Any]:
    """The result stored for a trial whose objective raised ``TrialPruned``.

    Args:
        context: The trial's context.
        duration: Seconds the objective ran.

    Returns:
        ``{"status": "pruned", "loss": last value, "step": last step, "duration"}``;
        without any report, ``loss`` and ``step`` are None.
    """
    return {
        "status": STATUS_PRUNED,
        "loss": context.last_value,
        "step": context.last_step,
        "duration": duration,
    }


#: What a report of several values is told: the pruner compares one per step.
_ONE_VALUE = (
    ": the pruner compares one value per step with the other trials' at that step, "
    "so in a study of several objectives report the one to prune on (e.g. the "
    "validation error)"
)
#: What a report of NaN or infinity is told: how to end a diverged trial instead.
_NOT_FINITE = (
    ": a pruner cannot rank it; to stop a trial that diverged, raise TrialPruned() "
    "(it keeps its last finite report) or return {'status': 'fail'}"
)


def _checked(value: Any, step: Any, last_step: int | None) -> tuple[float, int]:
    number = _as_real(value)  # a result's loss follows the same rule
    if number is None:
        several = _ONE_VALUE if _several(value) else ""
        raise ValueError(
            f"`value` must be a number, but got value={value!r:.100} (step={step!r})"
            + several
        )
    if not math.isfinite(number):
        raise ValueError(
            f"`value` must be a finite number, but got value={number!r} (step={step!r})"
            + _NOT_FINITE
        )
    integral = isinstance(step, numbers.Integral) and not isinstance(step, bool)
    if not integral or not 0 <= step <= MAX_STEP:
        raise ValueError(
            f"`step` must be an int in [0, 2**63 - 1], but got step={step!r:.50}"
        )
    if last_step is not None and step <= last_step:
        raise ValueError(
            f"`step` must grow from one report to the next, but got step={step} "
            f"after step={last_step}"
        )
    return number, int(step)


def _several(value: Any) -> bool:
    """Whether ``value`` is a list, tuple or 1-d array of more than one item."""
    if _is_array(value):
        return bool(value.ndim == 1 and value.size > 1)
    return isinstance(value, list | tuple) and len(value) > 1
