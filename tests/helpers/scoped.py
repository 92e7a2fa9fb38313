"""A ``scope.define`` function in an importable module, for stored spaces."""

from __future__ import annotations

from hpo_service.pyll import scope


@scope.define
def half_plus(a: float, b: float = 0) -> float:
    """``a + b / 2`` (hyperopt's documentation example)."""
    return a + b / 2
