"""hyperopt's ``pyll.base`` module path: ``scope`` and ``as_apply``."""

from __future__ import annotations

from hpo_service.space._expr import Expr as Apply
from hpo_service.space._scope import as_apply, scope

__all__ = ["Apply", "as_apply", "scope"]
