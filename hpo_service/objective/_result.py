"""What an objective may return, and how it becomes a stored result.

As in hyperopt, an objective returns a number (the loss) or a dict with ``status``
(``"ok"`` or ``"fail"``) and, when ok, a numeric ``loss``; other keys are kept.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

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


def normalise_result(value: Any, *, storable: bool = True) -> dict[str, Any]:
    """Turn an objective's return value into a result dict.

    Args:
        value: What the objective returned.
        storable: Whether the result goes to a store: numpy values become plain
            JSON values and anything else JSON cannot hold is refused, naming its
            key. In process (``storable=False``) values are kept as they are (a
            fitted model, an array), as hyperopt keeps them.

    Returns:
        ``{"loss": float, "status": "ok", ...}`` or ``{"status": "fail", ...}``.

    Raises:
        InvalidLoss: The loss is missing (status ok), not a number, or NaN.
        InvalidResultStatus: The status is not ``"ok"`` or ``"fail"``.
        InvalidResultError: The value is not a number or a dict, or (``storable``)
            a value is not JSON-able.
    """
    if _as_real(value) is not None:
        return {"loss": _checked_loss(value), "status": STATUS_OK}
    if not isinstance(value, Mapping):
        raise InvalidResultError(
            "the objective must return a number or a dict with 'loss' and 'status', "
            f"but got {type(value).__name__}: {value!r:.200}"
        )
    result = {str(k): (_plain(v) if storable else v) for k, v in value.items()}
    status = result.setdefault("status", STATUS_OK if "loss" in result else None)
    if status not in (STATUS_OK, STATUS_FAIL):
        raise InvalidResultStatus(
            f"result 'status' must be 'ok' or 'fail', but got status={status!r}",
            dict(value),
        )
    if status == STATUS_OK or result.get("loss") is not None:
        result["loss"] = _checked_loss(result.get("loss"), dict(value))
    if storable:
        _check_json(result)
    return result


def is_nan_loss(value: Any) -> bool:
    """Whether an objective's return value is a NaN loss (bare, or a dict's ``loss``).

    A diverged configuration returns NaN; callers record such a trial as failed
    (with the reason) and go on, whatever else they do with invalid results.
    """
    if isinstance(value, Mapping):
        value = value.get("loss")
    number = _as_real(value)
    return number is not None and math.isnan(number)


def _as_real(value: Any) -> float | None:
    """``value`` as a float if it is a real number (or a 0-d numpy array of one)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def _checked_loss(value: Any, result: Any = None) -> float:
    loss = _as_real(value)
    if loss is None:
        raise InvalidLoss(
            f"result 'loss' must be a number, but got loss={value!r:.200}", result
        )
    if math.isnan(loss):
        raise InvalidLoss("result 'loss' must not be NaN, but got loss=nan", result)
    return loss


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
    """Refuse a value JSON cannot hold, naming its key (the first one found)."""
    for key, value in result.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError) as e:
            raise InvalidResultError(
                f"result[{key!r}] must be JSON-serialisable to be stored (None, bool, "
                f"numbers, str, lists and dicts of them; numpy values are converted), "
                f"but got {type(value).__name__} {value!r:.80} ({e}); keep large or "
                "binary data in result['attachments'] as bytes, or run in process"
            ) from e


def loss_of(result: Mapping[str, Any]) -> float | None:
    """The loss of a successful result, or None (failed, missing or NaN)."""
    if result.get("status") != STATUS_OK:
        return None
    loss = result.get("loss")
    if loss is None:
        return None
    loss = float(loss)
    return None if math.isnan(loss) else loss
