"""Importing an objective by reference and turning one call into a result or an error.

Runs inside the worker's child process (see :mod:`hpo_service.worker._child`): nothing
here is ever handed anything unpickled; the objective receives the trial's JSON config.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from hpo_service.exceptions import (
    InvalidResultError,
    NoActiveTrialError,
    ObjectiveImportError,
    TrialPruned,
)
from hpo_service.objective._reference import import_reference, not_callable
from hpo_service.objective._report import (
    TrialContext,
    current_context,
    ignored_prune,
    pruned_result,
)
from hpo_service.objective._result import (
    encode_attachments,
    normalise_result,
    split_attachments,
)

Objective = Callable[[Any], Any]

#: Where :func:`evaluate` puts a result's attachments for the worker to store.
ATTACHMENTS_KEY = "__attachments__"

_cache: dict[str, Objective] = {}

#: Whether this process already said that its objective ignores the pruner.
_said_ignored_prune = False


def load_objective(ref: str) -> Objective:
    """Import the objective ``ref`` (cached per reference).

    The current working directory is put on ``sys.path`` (as ``python -m`` does), so
    a module next to where the worker runs can be imported.

    Args:
        ref: ``package.module:function``; a dotted attribute path after the colon is
            allowed.

    Returns:
        The callable.

    Raises:
        ObjectiveImportError: The reference is malformed, the module cannot be imported
            (whatever it raised), the attribute is missing or is not callable. Its
            ``__cause__`` is the original error, when there is one.
    """
    objective = _cache.get(ref)
    if objective is not None:
        return objective
    try:
        obj = import_reference(ref)
    except ValueError as e:
        raise ObjectiveImportError(str(e)) from e
    if not callable(obj):
        raise ObjectiveImportError(not_callable(ref, obj))
    _cache[ref] = obj
    return obj


def is_loaded(ref: str) -> bool:
    """Whether :func:`load_objective` has ``ref`` already (a lookup, nothing to
    import).

    Args:
        ref: ``package.module:function``.
    """
    return ref in _cache


def evaluate(objective: Objective, config: Any) -> tuple[str, dict[str, Any]]:
    """Call ``objective(config)`` and judge what it returned.

    Args:
        objective: The imported objective.
        config: The trial's config (JSON value).

    Returns:
        ``("result", result)`` with the normalised result plus ``duration`` (and
        the result's attachments, base64-encoded, under :data:`ATTACHMENTS_KEY`),
        ``("pruned", result)`` when the objective raised ``TrialPruned`` (see
        :func:`~hpo_service.objective._report.pruned_result`), or
        ``("error", error)`` with ``type``, ``message``, ``traceback`` and ``duration``
        when the objective raised (anything, even ``SystemExit``) or returned something
        invalid (NaN or non-numeric loss, missing loss, non-JSON-able dict, ...).
    """
    start = time.perf_counter()
    try:
        value = objective(config)
    except TrialPruned:
        return "pruned", pruned_result(_context(), time.perf_counter() - start)
    except BaseException as e:  # the objective's failure is the trial's, not ours
        error = describe_exception(e, skip_frames=1)
        error["duration"] = time.perf_counter() - start
        return "error", error
    duration = time.perf_counter() - start
    _say_ignored_prune()
    value, attachments = split_attachments(value)
    try:
        result = normalise_result(value)
        if attachments is not None:
            result[ATTACHMENTS_KEY] = encode_attachments(attachments)
    except InvalidResultError as e:
        return "error", {
            "type": type(e).__name__,
            "message": str(e),
            "traceback": None,
            "duration": duration,
        }
    result.setdefault("duration", duration)  # the objective's own key stays
    return "result", result


def _say_ignored_prune() -> None:
    """Write to the trial's output, once per process, that the objective never
    checks the pruner's decision (see :func:`.ignored_prune`)."""
    global _said_ignored_prune
    problem = ignored_prune(_context())
    if problem is not None and not _said_ignored_prune:
        _said_ignored_prune = True
        print(f"hpo-worker warning (shown once): {problem}", file=sys.stderr)


def _context() -> TrialContext:
    """The running trial's reports (an empty context when none was opened)."""
    try:
        return current_context("TrialPruned")
    except NoActiveTrialError:
        return TrialContext(reporter=lambda step, value: False)


def describe_exception(exc: BaseException, *, skip_frames: int = 0) -> dict[str, Any]:
    """The ``{type, message, traceback}`` dict stored for a failed trial.

    Args:
        exc: The exception.
        skip_frames: Leading traceback frames to leave out (the caller's own).

    Returns:
        The error dict.
    """
    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    return {
        "type": type(exc).__name__,
        "message": _message(exc),
        "traceback": "".join(lines),
    }


def describe_import_failure(exc: ObjectiveImportError) -> dict[str, Any]:
    """The ``{type, message, traceback}`` dict of an objective that cannot be
    imported: the type and traceback of what the import raised (``ModuleNotFoundError``,
    ``AttributeError``, ...) with the message that says more (where modules are looked
    for, the closest names to a typo), without the reference it repeats.

    Args:
        exc: The failure :func:`load_objective` raised.

    Returns:
        The error dict.
    """
    data = describe_exception(exc.__cause__ or exc)
    text = _message(exc)
    if text.startswith("cannot import ") and ": " in text:  # "cannot import 'REF': "
        text = text.split(": ", 1)[1].removeprefix(f"{data['type']}: ")
    return {**data, "message": text}


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not hide the failure
        return f"<{type(exc).__name__}: str() failed>"
