"""hyperopt's ``pyll`` module paths: ``scope``, ``as_apply`` and ``stochastic.sample``.

``from hyperopt.pyll import scope`` becomes ``from hpo_service.pyll import scope``:
``scope.int(hp.quniform(...))``, math such as ``scope.exp(x)`` / ``scope.min(a, b)``,
and your own functions with ``@scope.define``. pyll's graph internals (``rec_eval``,
``Apply`` surgery, vectorisation) have no counterpart: a space here is plain
expressions that :func:`hpo_service.space_eval` evaluates.
"""

from __future__ import annotations

from hpo_service.pyll import stochastic
from hpo_service.space._expr import Expr as Apply
from hpo_service.space._scope import as_apply, scope

__all__ = ["Apply", "as_apply", "scope", "stochastic"]
