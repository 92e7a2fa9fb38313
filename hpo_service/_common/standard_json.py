"""Standard JSON out of trial data that may hold NaN or infinite floats.

Python's ``json`` writes non-finite floats as the bare tokens ``NaN``, ``Infinity``
and ``-Infinity``, which no JSON standard allows (jq and JavaScript's ``JSON.parse``
refuse them). Every command and the dashboard write them as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` instead: the same spelling, quoted, which
``float()`` in Python and ``Number()`` in JavaScript read back. ``hpo-driver import``
reads such a loss back as a number.
"""

from __future__ import annotations

import json
import math
from typing import Any

NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
"""The strings written for non-finite floats, and the floats they stand for."""


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (in any dict or list) as its string.

    Args:
        value: JSON-able data (dicts, lists, tuples, str, numbers, bool, None).

    Returns:
        A copy where needed: ``nan`` -> ``"NaN"``, ``inf`` -> ``"Infinity"``,
        ``-inf`` -> ``"-Infinity"``; everything else as it is.
    """
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return (
            "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        )
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any, **options: Any) -> str:
    """Standard JSON text of ``value`` (see :func:`json_safe`); ``options`` go to
    :func:`json.dumps` (``indent``...)."""
    return json.dumps(json_safe(value), allow_nan=False, **options)


def number_or_text(value: Any) -> Any:
    """A float for one of the :data:`NON_FINITE` strings, else ``value`` as it is."""
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    return value
