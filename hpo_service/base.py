"""hyperopt's ``base`` module path: trial states, statuses, ``Trials``,
``trials_from_docs`` and ``Domain``.

``from hyperopt.base import JOB_STATE_ERROR, Trials`` becomes
``from hpo_service.base import ...``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hpo_service.objective._result import loss_of
from hpo_service.space import compile_space
from hpo_service.space._compile import labelled_nodes
from hpo_service.trials import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    JOB_STATES,
    JOB_VALID_STATES,
    STATUS_FAIL,
    STATUS_NEW,
    STATUS_OK,
    STATUS_RUNNING,
    STATUS_STRINGS,
    STATUS_SUSPENDED,
    Trials,
    trials_from_docs,
)

__all__ = [
    "JOB_STATES",
    "JOB_STATE_CANCEL",
    "JOB_STATE_DONE",
    "JOB_STATE_ERROR",
    "JOB_STATE_NEW",
    "JOB_STATE_RUNNING",
    "JOB_VALID_STATES",
    "STATUS_FAIL",
    "STATUS_NEW",
    "STATUS_OK",
    "STATUS_RUNNING",
    "STATUS_STRINGS",
    "STATUS_SUSPENDED",
    "Domain",
    "Trials",
    "trials_from_docs",
]


class Domain:
    """An objective and its search space, as hyperopt's ``Domain`` bundles them.

    Args:
        fn: The objective, called with a config drawn from ``expr``.
        expr: The search space.
        workdir: Accepted for hyperopt's signature; not used.
        pass_expr_memo_ctrl: Must be falsy (pyll's memo protocol is not supported).
        name: A name for the problem.
        loss_target: The best reachable loss, if known (test problems set it).

    Raises:
        SpaceError: ``expr`` is not a valid space (``DuplicateLabel`` for a label
            used by two expressions).
        ValueError: ``pass_expr_memo_ctrl`` is set.
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        expr: Any,
        workdir: str | None = None,
        pass_expr_memo_ctrl: Any = None,
        name: str | None = None,
        loss_target: float | None = None,
    ) -> None:
        if pass_expr_memo_ctrl:
            raise ValueError("`pass_expr_memo_ctrl` is not supported by hpo-service")
        self.fn = fn
        self.expr = expr
        self.workdir = workdir
        self.name = name
        self.loss_target = loss_target
        self.compiled = compile_space(expr)
        self.params = labelled_nodes(expr)

    def loss(self, result: Mapping[str, Any], config: Any = None) -> float | None:
        """The loss of a successful result, None otherwise."""
        return loss_of(result)

    def status(self, result: Mapping[str, Any], config: Any = None) -> Any:
        """The status of a result."""
        return result.get("status")

    def true_loss(self, result: Mapping[str, Any], config: Any = None) -> Any:
        """``result["true_loss"]`` if present, else the loss (hyperopt's rule)."""
        return result.get("true_loss", self.loss(result, config))
