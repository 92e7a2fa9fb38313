"""Compatibility shim for ``from hyperopt.pyll import scope``.

Only the casts that search spaces commonly use: ``scope.int(hp.quniform(...))`` and
``scope.float(...)``.
"""

from __future__ import annotations

from typing import Any

from hpo_service.space._expr import Expr, Op

__all__ = ["scope"]


class _Scope:
    """``scope.int(x)`` / ``scope.float(x)``: the cast, applied when ``x`` is known."""

    @staticmethod
    def int(value: Any) -> Any:
        """``int(value)``, deferred to evaluation if ``value`` is an expression."""
        return Op("int", (value,)) if isinstance(value, Expr) else int(value)

    @staticmethod
    def float(value: Any) -> Any:
        """``float(value)``, deferred to evaluation if ``value`` is an expression."""
        return Op("float", (value,)) if isinstance(value, Expr) else float(value)


scope = _Scope()
