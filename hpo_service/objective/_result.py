"""What an objective may return, and how it becomes a stored result.

As in hyperopt, an objective returns a number (the loss) or a dict with ``status``
(``"ok"`` or ``"fail"``) and, when ok, a numeric ``loss``; other keys are kept.

Several objectives (all minimised): ``loss`` is a list of numbers (or the objective
returns a list or tuple); a one-element list is the plain loss. A result may carry
``constraints``, a number or a list of numbers, each satisfied when ``<= 0``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import numbers
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hpo_service._common.words import counted
from hpo_service.exceptions import (
    InvalidLoss,
    InvalidResultError,
    InvalidResultStatus,
)

STATUS_NEW = "new"
STATUS_RUNNING = "running"
STATUS_SUSPENDED = "suspended"
STATUS_OK = "ok"
STATUS_FAIL = "fail"
STATUS_STRINGS = (STATUS_NEW, STATUS_RUNNING, STATUS_SUSPENDED, STATUS_OK, STATUS_FAIL)
STATUS_PRUNED = "pruned"
"""The ``status`` of a pruned trial's result (not in hyperopt's ``STATUS_STRINGS``)."""


# numpy is not imported here: the worker's objective process loads this module at
# every start, and an objective that does not use numpy should not pay for it. No
# numpy value can exist before numpy is imported, so the checks below look for its
# types only once it is (``sys.modules``).


def _numpy() -> Any:
    """The numpy module if something imported it, else None."""
    return sys.modules.get("numpy")


def _is_array(value: Any) -> bool:
    np = _numpy()
    return np is not None and isinstance(value, np.ndarray)


def _is_sequence(value: Any) -> bool:
    """A list, tuple or numpy array."""
    return isinstance(value, list | tuple) or _is_array(value)


def normalise_result(value: Any, *, storable: bool = True) -> dict[str, Any]:
    """Turn an objective's return value into a result dict.

    Args:
        value: What the objective returned.
        storable: Whether the result goes to a store: numpy values become plain
            JSON values, date-times ISO 8601 strings, and anything else JSON cannot
            hold is refused, naming its key. In process (``storable=False``) values
            are kept as they are (a fitted model, an array), as hyperopt keeps them.

    Returns:
        ``{"loss": float, "status": "ok", ...}`` (``loss`` a list of floats for
        several objectives) or ``{"status": "fail", ...}``.

    Raises:
        InvalidLoss: The loss is missing (status ok), not a number or a non-empty
            list of numbers, or NaN.
        InvalidResultStatus: The status is not ``"ok"`` or ``"fail"``.
        InvalidResultError: The value is not a number, a list or a dict, the
            constraints are not numbers, or (``storable``) a value is not JSON-able.
    """
    if _as_real(value) is not None or _is_sequence(value):
        return {"loss": _checked_loss(value), "status": STATUS_OK}
    if not isinstance(value, Mapping):
        raise InvalidResultError(
            "the objective must return a number or a dict with 'loss' and 'status' "
            "(or a list of numbers, one loss per objective), "
            f"but got {type(value).__name__}: {value!r:.200}"
        )
    result = {str(k): (_plain(v) if storable else v) for k, v in value.items()}
    if "loss" not in result and result.get("status", STATUS_OK) == STATUS_OK:
        keys = ", ".join(map(repr, result)) or "no key"
        raise InvalidLoss(
            "a result must have a 'loss' (a number, or a list of numbers: one per "
            f"objective), but it has only {keys:.200}",
            dict(value),
        )
    status = result.setdefault("status", STATUS_OK)
    if status not in (STATUS_OK, STATUS_FAIL):
        raise InvalidResultStatus(
            f"result 'status' must be 'ok' or 'fail', but got status={status!r}",
            dict(value),
        )
    if status == STATUS_OK or result.get("loss") is not None:
        result["loss"] = _checked_loss(result.get("loss"), dict(value))
    if result.get("constraints") is not None:
        result["constraints"] = _checked_constraints(result["constraints"])
    if storable:
        _check_json(result)
    return result


def unrankable_loss(value: Any) -> str | None:
    """Why an objective's return value has a loss no search can rank, or None.

    A NaN loss (bare, a dict's ``loss``, or among several losses), or an infinite
    loss among several objectives (a Pareto front cannot order it, and JSON cannot
    hold it), is a diverged configuration: callers record the trial as an error with
    this reason and go on, whatever else they do with invalid results. A single
    infinite loss stays allowed (hyperopt's usual "worst possible" value).

    Args:
        value: What the objective returned.
    """
    if isinstance(value, Mapping):
        value = value.get("loss")
    if _is_sequence(value) and _ndim(value) == 1:
        shown = [_as_real(v) if _as_real(v) is not None else v for v in value]
        if any(_is_nan(v) for v in value):
            return f"result 'loss' must not be NaN, but got loss={shown!r:.200}"
        if len(shown) > 1 and any(_is_infinite(v) for v in value):
            return _INFINITE.format(shown=f"{shown!r:.200}")
        return None
    return "result 'loss' must not be NaN, but got loss=nan" if _is_nan(value) else None


_INFINITE = (
    "result 'loss' must hold finite numbers when there are several objectives, "
    "but got loss={shown}"
)


def _ndim(value: Any) -> int:
    """The number of dimensions numpy sees in ``value``; -1 for a ragged nesting
    (``[[0.1], 2.0]``), which numpy refuses and no loss can be."""
    import numpy as np

    try:
        return int(np.ndim(value))
    except ValueError:  # inhomogeneous shape: left for _checked_loss to name
        return -1


def _is_infinite(value: Any) -> bool:
    number = _as_real(value)
    return number is not None and math.isinf(number)


def _is_nan(value: Any) -> bool:
    number = _as_real(value)
    return number is not None and math.isnan(number)


def _as_real(value: Any) -> float | None:
    """``value`` as a float if it is a real number (or a 0-d numpy array of one)."""
    np = _numpy()
    if np is not None and isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if np is not None and isinstance(value, np.bool_):
        return None
    return float(value)


def _checked_loss(value: Any, result: Any = None) -> float | list[float]:
    """A float, or a list of at least two floats (a one-element list is unpacked)."""
    if _is_array(value) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, list | tuple):
        if not value:
            raise InvalidLoss(
                "result 'loss' must be a number or a non-empty list of numbers, "
                "but got loss=[]",
                result,
            )
        losses = [_checked_number(v, value, result) for v in value]
        if len(losses) > 1 and not all(map(math.isfinite, losses)):
            raise InvalidLoss(_INFINITE.format(shown=f"{value!r:.200}"), result)
        return losses[0] if len(losses) == 1 else losses
    return _checked_number(value, value, result)


def _checked_number(value: Any, shown: Any, result: Any) -> float:
    loss = _as_real(value)
    if isinstance(value, Mapping):  # named losses: the study knows their order
        raise InvalidLoss(
            "result 'loss' must be a number or a list of numbers (one per objective, "
            f"in the study's order), but got loss={shown!r:.200}",
            result,
        )
    if loss is None:
        raise InvalidLoss(
            f"result 'loss' must be a number, but got loss={shown!r:.200}", result
        )
    if math.isnan(loss):
        raise InvalidLoss(
            f"result 'loss' must not be NaN, but got loss={shown}", result
        )
    return loss


def _checked_constraints(constraints: Any) -> list[float]:
    """Constraint values as a list of floats (one number becomes a list of one)."""
    if _is_array(constraints):
        constraints = constraints.tolist()
    if not isinstance(constraints, list | tuple):
        constraints = [constraints]
    out = []
    for value in constraints:
        number = _as_real(value)
        if number is None or math.isnan(number):
            raise InvalidResultError(
                "result 'constraints' must be numbers (each satisfied when <= 0), "
                f"but got constraints={constraints!r:.200}"
            )
        out.append(number)
    return out


def _plain(value: Any) -> Any:
    """Numpy scalars and arrays as plain Python values, and date-times (which
    hyperopt's docs allow in a result) as ISO 8601 text, recursively."""
    np = _numpy()
    if np is not None and isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, _dt.date | _dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _check_json(result: dict[str, Any]) -> None:
    """Refuse a value JSON cannot hold, naming its key (the first one found)."""
    for key, value in result.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError) as e:
            raise InvalidResultError(
                f"result[{key!r}] must be JSON-serialisable to be stored (None, bool, "
                f"numbers, str, lists and dicts of them; numpy values and date-times "
                f"are converted), "
                f"but got {type(value).__name__} {value!r:.80} ({e}); keep large or "
                "binary data in result['attachments'] as bytes, or run in process"
            ) from e


def split_attachments(value: Any) -> tuple[Any, Any]:
    """``(value without "attachments", the attachments)`` of an objective's return.

    hyperopt's objectives return large or binary data under ``result["attachments"]``
    (``{name: bytes or str}``); the rest of the result stays a small JSON document.
    A value that is not a dict, or has no attachments, gives ``(value, None)``.
    """
    if not isinstance(value, Mapping) or "attachments" not in value:
        return value, None
    rest = {k: v for k, v in value.items() if k != "attachments"}
    return rest, value["attachments"]


def encode_attachments(attachments: Any) -> dict[str, str]:
    """Attachments as ``{name: base64 text}``, to cross a JSON pipe.

    ``str`` values are stored as their UTF-8 bytes (and read back as bytes).

    Raises:
        InvalidResultError: Not a dict of names to bytes or str, or larger than
            :data:`~hpo_service.store.MAX_ATTACHMENT_BYTES` in total.
    """
    from hpo_service.store._common import check_attachments

    if isinstance(attachments, Mapping):
        attachments = {
            k: v.encode() if isinstance(v, str) else v for k, v in attachments.items()
        }
    try:
        blobs = check_attachments(attachments)
    except ValueError as e:
        raise InvalidResultError(f"result['attachments']: {e}") from None
    return {
        name: base64.b64encode(data).decode("ascii") for name, data in blobs.items()
    }


def decode_attachments(encoded: Mapping[str, str]) -> dict[str, bytes]:
    """The inverse of :func:`encode_attachments`."""
    return {name: base64.b64decode(text) for name, text in encoded.items()}


def loss_of(result: Mapping[str, Any]) -> float | None:
    """The loss of a successful single-objective result, or None (failed, missing,
    NaN, or a list of losses: see :func:`losses_of`)."""
    if result.get("status") != STATUS_OK:
        return None
    loss = result.get("loss")
    if type(loss) is float:  # the common case, without the checks below
        return None if math.isnan(loss) else loss
    if loss is None or _is_sequence(loss):
        return None
    loss = float(loss)
    return None if math.isnan(loss) else loss


def losses_of(result: Mapping[str, Any]) -> list[float] | None:
    """The loss vector of a successful result (``[loss]`` for a single objective).

    Returns:
        One float per objective, or None if the result failed or its loss is missing
        or holds NaN.
    """
    if result.get("status") != STATUS_OK:
        return None
    loss = result.get("loss")
    if loss is None:
        return None
    if type(loss) is float:  # the common case, answered without the checks below
        return None if math.isnan(loss) else [loss]
    values = loss if _is_sequence(loss) else [loss]
    try:
        losses = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    return None if not losses or any(math.isnan(v) for v in losses) else losses


def violation_of(result: Mapping[str, Any]) -> float:
    """Total constraint violation of a result: the sum of its positive ``constraints``.

    Returns:
        0.0 for a feasible result (or one without constraints), else the violation.
    """
    constraints = result.get("constraints")
    if constraints is None:
        return 0.0
    if not _is_sequence(constraints):
        constraints = [constraints]
    return float(sum(max(0.0, float(c)) for c in constraints))


def best_key(result: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """Where a single-objective result ranks among others: smaller is better.

    ``(total violation, loss)``: every feasible result (violation 0) comes before
    every infeasible one, feasible ones by loss, infeasible ones by violation, then
    loss. This is the order :func:`best_position` and every "best so far" use, and
    the order in which (MO)TPE ranks trials (feasibility first, after Deb 2000).

    Returns:
        The key, or None for a result without a single numeric loss (failed, or
        several losses).
    """
    loss = None if result is None else loss_of(result)
    return None if loss is None else (violation_of(result or {}), loss)


def best_position(results: Sequence[Mapping[str, Any] | None]) -> int | None:
    """Position of the best result of a single-objective study.

    The successful, feasible result (all constraints ``<= 0``) with the lowest loss;
    only when no successful result is feasible, the one with the least total
    violation (then the lowest loss). Ties go to the earliest. Results with several
    losses are left out (their study has a Pareto front, see :func:`pareto_front`).

    Args:
        results: Result dicts (None for trials without one).

    Returns:
        An index into ``results``, or None if no result has a single loss.
    """
    best, best_so_far = None, None
    for i, result in enumerate(results):
        key = best_key(result)
        if key is not None and (best_so_far is None or key < best_so_far):
            best, best_so_far = i, key
    return best


def shown_result(
    result: Mapping[str, Any], n_objectives: int | None
) -> Mapping[str, Any]:
    """``result`` as a study with ``n_objectives`` objectives shows it.

    Within one study every loss has one shape. In a multi-objective study a pruned
    trial's result holds the one value it last reported as ``loss`` (that is how
    the worker stores it, before the study's count may be known), which is no loss
    vector: it is shown with ``loss`` None (the value stays in the trial's
    intermediate values). Every other result is returned as it is.

    Args:
        result: A stored or in-process result dict.
        n_objectives: The study's number of objectives, None while unknown.

    Returns:
        ``result`` itself, or a copy with ``loss`` None.
    """
    if (n_objectives or 1) <= 1 or result.get("status") != STATUS_PRUNED:
        return result
    loss = result.get("loss")
    if loss is None or _is_sequence(loss):
        return result
    return {**result, "loss": None}


def objective_count(results: Iterable[Mapping[str, Any] | None]) -> int | None:
    """Number of losses of the first successful result, None if none succeeded."""
    for result in results:
        losses = None if result is None else losses_of(result)
        if losses is not None:
            return len(losses)
    return None


def check_objective_count(
    result: Mapping[str, Any], expected: int | None, names: Sequence[str] = ()
) -> None:
    """Refuse a successful result whose number of losses is not ``expected``.

    Args:
        result: A normalised result.
        expected: The study's number of objectives, None while unknown.
        names: The objectives' names, if the study has them (for the message).

    Raises:
        InvalidLoss: The counts differ.
    """
    losses = losses_of(result)
    if expected is None or losses is None or len(losses) == expected:
        return
    named = f" ({', '.join(names)})" if names else ""
    raise InvalidLoss(
        f"the study has {counted(expected, 'objective')}{named}, so a result must "
        f"have {counted(expected, 'loss', 'losses')}, but got {len(losses)}: "
        f"loss={result.get('loss')!r:.200}",
        dict(result),
    )


def constraints_count(result: Mapping[str, Any]) -> int | None:
    """Number of constraints a successful result carries (0 for none), None for a
    result that is not successful (failed, pruned, or without a usable loss)."""
    if losses_of(result) is None:
        return None
    constraints = result.get("constraints")
    if constraints is None:
        return 0
    return len(constraints) if _is_sequence(constraints) else 1


def constraint_count(results: Iterable[Mapping[str, Any] | None]) -> int | None:
    """Number of constraints of the first successful result that carries any,
    None if none does (the study's constraint count is fixed there)."""
    for result in results:
        count = None if result is None else constraints_count(result)
        if count:
            return count
    return None


def check_constraint_count(result: Mapping[str, Any], expected: int | None) -> None:
    """Refuse a successful result whose number of constraints is not ``expected``.

    A study's number of constraints is fixed by its first successful result that
    carries constraints; from then on every successful result must carry that many.
    A result with no constraints after that is refused too (it would otherwise
    count as feasible, and could join the front unchecked); successful results
    without constraints before that one stay as they are (feasible).

    Args:
        result: A normalised result.
        expected: The study's number of constraints, None while unknown.

    Raises:
        InvalidResultError: The counts differ.
    """
    count = constraints_count(result)
    if expected is None or count is None or count == expected:
        return
    shown = result.get("constraints")
    got = f"{count}: constraints={shown!r:.200}" if count else "none"
    raise InvalidResultError(
        f"the study has {counted(expected, 'constraint')} (from its first result "
        f"that carries constraints), so a result must have "
        f"{counted(expected, 'constraint')}, but got {got}"
    )


def pareto_front(results: Sequence[Mapping[str, Any] | None]) -> list[int]:
    """Positions of the results on the Pareto front, in order.

    The front is every successful, feasible result (all constraints ``<= 0``) that no
    other such result dominates (no worse in every loss and better in one); results
    whose number of losses differs from the first successful one's are left out. With
    one objective it is every result with the lowest loss.

    Args:
        results: Result dicts (None for trials without one).

    Returns:
        Indices into ``results``.
    """
    import numpy as np

    from hpo_service.algorithms._pareto import pareto_mask

    count = objective_count(results)
    rows, vectors = [], []
    for i, result in enumerate(results):
        losses = None if result is None else losses_of(result)
        if losses is None or len(losses) != count or violation_of(result) > 0:
            continue
        rows.append(i)
        vectors.append(losses)
    if not rows:
        return []
    mask = pareto_mask(np.array(vectors, dtype=float))
    return [row for row, keep in zip(rows, mask, strict=True) if keep]
