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

from hpo_service.exceptions import InvalidResultError

STATUS_NEW = "new"
STATUS_RUNNING = "running"
STATUS_SUSPENDED = "suspended"
STATUS_OK = "ok"
STATUS_FAIL = "fail"
STATUS_STRINGS = (STATUS_NEW, STATUS_RUNNING, STATUS_SUSPENDED, STATUS_OK, STATUS_FAIL)
STATUS_PRUNED = "pruned"
"""The ``status`` of a pruned trial's result (not in hyperopt's ``STATUS_STRINGS``)."""


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
    if not isinstance(value, Mapping):
        raise InvalidResultError(
            "the objective must return a number or a dict with 'loss' and 'status', "
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
    _check_json(result)
    return result


def _checked_loss(loss: Any) -> float:
    if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
        raise InvalidResultError(
            f"result 'loss' must be a number, but got loss={loss!r:.200}"
        )
    loss = float(loss)
    if math.isnan(loss):
        raise InvalidResultError("result 'loss' must not be NaN, but got loss=nan")
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
    try:
        json.dumps(result)
    except (TypeError, ValueError) as e:
        raise InvalidResultError(f"the result dict must be JSON-able: {e}") from e


def loss_of(result: Mapping[str, Any]) -> float | None:
    """The loss of a successful result, or None (failed, missing or NaN)."""
    if result.get("status") != STATUS_OK:
        return None
    loss = result.get("loss")
    if loss is None:
        return None
    loss = float(loss)
    return None if math.isnan(loss) else loss
