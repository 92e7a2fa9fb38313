"""``scope``: deferred function calls inside a search space, as hyperopt's pyll has.

``scope.int(hp.quniform(...))``, ``scope.exp(x)``, ``scope.min(a, 10)`` or a function
registered with ``@scope.define`` build an :class:`~hpo_service.space._expr.Op` node
when any argument is an expression (so the call runs when a trial's config is
evaluated), and call the function at once otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hpo_service.space._expr import OPS, Expr, Op

F = TypeVar("F", bound=Callable[..., Any])


class Scope:
    """The namespace of functions usable inside a space (hyperopt's ``pyll.scope``)."""

    def define(self, function: F) -> F:
        """Register ``function`` as ``scope.<its name>``; return it unchanged.

        ``@scope.define`` on a top-level function of an importable module lets a
        stored study rebuild the space (the function is stored by import reference);
        other functions work in process only.

        Raises:
            ValueError: Another function is already registered under that name.
        """
        name = function.__name__
        if OPS.get(name, function) is not function and not _same(OPS[name], function):
            raise ValueError(
                f"`scope.{name}` must name one function, but it is already defined "
                f"as {OPS[name]!r}"
            )
        OPS[name] = function
        return function

    define_pure = define
    define_info = define

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__") or name not in OPS:
            raise AttributeError(
                f"scope.{name} is not defined: use one of {', '.join(sorted(OPS))}, "
                "or decorate a top-level function with @scope.define"
            )
        return lambda *args, **kwargs: apply(name, *args, **kwargs)


def apply(name: str, *args: Any, **kwargs: Any) -> Any:
    """``OPS[name](*args, **kwargs)``, deferred if any argument is an expression."""
    if any(_has_expr(a) for a in (*args, *kwargs.values())):
        return Op(name, args, tuple(kwargs.items()))
    return OPS[name](*args, **kwargs)


def as_apply(value: Any) -> Expr:
    """``value`` as an expression (hyperopt's ``pyll.as_apply``), e.g. to index it by
    a choice: ``as_apply([1.0, 2.0])[hp.choice("i", [0, 1])]``."""
    return value if isinstance(value, Expr) else Op("identity", (value,))


def _has_expr(value: Any) -> bool:
    if isinstance(value, Expr):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_expr(v) for v in value)
    if isinstance(value, dict):
        return any(_has_expr(v) for v in value.values())
    return False


def _same(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    """Whether two functions are one definition (a module imported twice)."""
    return (getattr(a, "__module__", None), getattr(a, "__qualname__", None)) == (
        getattr(b, "__module__", None),
        getattr(b, "__qualname__", None),
    )


scope = Scope()
