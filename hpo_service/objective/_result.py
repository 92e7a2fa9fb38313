"""What an objective may return, and how it becomes a stored result.

As in hyperopt, an objective returns a number (the loss) or a dict with ``status``
(``"ok"`` or ``"fail"``) and, when ok, a numeric ``loss``; other keys are kept.

Several objectives (all minimised): ``loss`` is a list of numbers (or the objective
returns a list or tuple); a one-element list is the plain loss. A result may carry
``constraints``, a number or a list of numbers, each satisfied when ``<= 0``.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from hpo_service.exceptions import InvalidResultError

STATUS_NEW = "new"
STATUS_RUNNING = "running"
STATUS_SUSPENDED = "suspended"
STATUS_OK = "ok"
STATUS_FAIL = "fail"
STATUS_STRINGS = (STATUS_NEW, STATUS_RUNNING, STATUS_SUSPENDED, STATUS_OK, STATUS_FAIL)


def normalise_result(value: Any) -> dict[str, Any]:
    """Turn an objective's return value into a JSON-able result dict.

    Args:
        value: What the objective returned.

    Returns:
        ``{"loss": float, "status": "ok", ...}`` or ``{"status": "fail", ...}``.

    Raises:
        InvalidResultError: The value is not a number or a valid result dict, the
            loss is NaN or not numeric, the status is unknown, or it is not JSON-able.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return {"loss": _checked_loss(value), "status": STATUS_OK}
    if isinstance(value, list | tuple | np.ndarray):
        return {"loss": _checked_loss(_plain(value)), "status": STATUS_OK}
    if not isinstance(value, Mapping):
        raise InvalidResultError(
            "the objective must return a number or a dict with 'loss' and 'status' "
            "(or a list of numbers, one loss per objective), "
            f"but got {type(value).__name__}: {value!r:.200}"
        )
    result = {str(k): _plain(v) for k, v in value.items()}
    status = result.setdefault("status", STATUS_OK if "loss" in result else None)
    if status not in (STATUS_OK, STATUS_FAIL):
        raise InvalidResultError(
            f"result 'status' must be 'ok' or 'fail', but got status={status!r}"
        )
    if status == STATUS_OK or result.get("loss") is not None:
        result["loss"] = _checked_loss(result.get("loss"))
    if result.get("constraints") is not None:
        result["constraints"] = _checked_constraints(result["constraints"])
    _check_json(result)
    return result


def _checked_loss(loss: Any) -> float | list[float]:
    """A float, or a list of at least two floats (a one-element list is unpacked)."""
    if isinstance(loss, list | tuple):
        if not loss:
            raise InvalidResultError(
                "result 'loss' must be a number or a non-empty list of numbers, "
                "but got loss=[]"
            )
        losses = _checked_numbers("loss", loss)
        return losses[0] if len(losses) == 1 else losses
    if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
        raise InvalidResultError(
            f"result 'loss' must be a number, but got loss={loss!r:.200}"
        )
    if math.isnan(loss):
        raise InvalidResultError("result 'loss' must not be NaN, but got loss=nan")
    return float(loss)


def _checked_constraints(constraints: Any) -> list[float]:
    if not isinstance(constraints, list | tuple):
        constraints = [constraints]
    return _checked_numbers("constraints", constraints)


def _checked_numbers(key: str, values: list[Any] | tuple[Any, ...]) -> list[float]:
    """Each value as a float; refuses non-numbers and NaN, naming ``key``."""
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidResultError(
                f"result {key!r} must hold numbers only, but got {key}={values!r:.200}"
            )
        if math.isnan(value):
            raise InvalidResultError(
                f"result {key!r} must not hold NaN, but got {key}={values!r:.200}"
            )
        out.append(float(value))
    return out


def _plain(value: Any) -> Any:
    """Numpy scalars and arrays as plain Python values, recursively."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _check_json(result: dict[str, Any]) -> None:
    try:
        json.dumps(result)
    except (TypeError, ValueError) as e:
        raise InvalidResultError(f"the result dict must be JSON-able: {e}") from e


def loss_of(result: Mapping[str, Any]) -> float | None:
    """The loss of a successful single-objective result, or None (failed, missing,
    NaN, or a list of losses: see :func:`losses_of`)."""
    if result.get("status") != STATUS_OK:
        return None
    loss = result.get("loss")
    if loss is None or isinstance(loss, list | tuple):
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
    try:
        losses = [
            float(v) for v in (loss if isinstance(loss, list | tuple) else [loss])
        ]
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
    if not isinstance(constraints, list | tuple):
        constraints = [constraints]
    return float(sum(max(0.0, float(c)) for c in constraints))


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
        InvalidResultError: The counts differ.
    """
    losses = losses_of(result)
    if expected is None or losses is None or len(losses) == expected:
        return
    named = f" ({', '.join(names)})" if names else ""
    raise InvalidResultError(
        f"the study has {expected} objective(s){named}, so a result must have "
        f"{expected} loss(es), but got {len(losses)}: loss={result.get('loss')!r:.200}"
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
