"""``scope``: deferred function calls inside a search space, as hyperopt's pyll has.

``scope.int(hp.quniform(...))``, ``scope.exp(x)``, ``scope.maximum(a, 10)``,
``scope.switch(i, *options)`` or a function
registered with ``@scope.define`` build an :class:`~hpo_service.space._expr.Op` node
when any argument is an expression (so the call runs when a trial's config is
evaluated), and call the function at once otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hpo_service.exceptions import SpaceError
from hpo_service.space._expr import OPS, Choice, Expr, Op, Param

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

    def switch(self, index: Any, *options: Any) -> Any:
        """``options[index]``, as hyperopt's ``scope.switch``.

        hyperopt's ``hp.choice(label, options)`` is ``scope.switch(hp.randint(label,
        len(options)), *options)``, and a switch written that way is that choice here
        too: only the option drawn is evaluated, so the parameters of the others are
        inactive. Over ``hp.randint(label, n)`` with more than ``n`` options holding
        parameters, the options past ``n`` are never drawn (nor in hyperopt): it is
        the choice of the first ``n``, so several switches over one randint may have
        different numbers of options. Over any other index, the options must be
        constants.

        Args:
            index: An int, or an expression giving one (0-based).
            *options: The values to pick from.

        Raises:
            SpaceError: ``index`` is ``hp.randint`` with a value past the last
                option (hyperopt raises IndexError when it draws one), or the
                options hold parameters and ``index`` is not ``hp.randint(label,
                n)``.
        """
        _check_in_range(index, len(options))
        return stored_switch(index, *options)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__") or name not in OPS:
            raise AttributeError(
                f"scope.{name} is not defined: use one of {', '.join(sorted(OPS))}, "
                "or decorate a top-level function with @scope.define"
            )
        return lambda *args, **kwargs: apply(name, *args, **kwargs)


def stored_switch(index: Any, *options: Any) -> Any:
    """:meth:`Scope.switch` without its check that ``hp.randint`` draws no value
    past the last option: how a stored space reads its switches back, so that a
    study stored before that check still reads as it was written.

    Raises:
        SpaceError: As :meth:`Scope.switch`, but for that check.
    """
    if _is_choice_index(index, len(options)):
        return Choice(index.label, options, None, switch=True)
    if any(_has_expr(option) for option in options):
        drawn = _values_of(index)
        if drawn is not None:  # hp.randint(label, n): options past n never drawn
            return Choice(index.label, options[:drawn], None, switch=True)
        raise SpaceError(
            "`scope.switch(index, *options)` with parameters among its options "
            "must have index=hp.randint(label, n), but got "
            f"index={index!r} for {len(options)} options: write "
            "hp.choice(label, options) (only the option drawn is evaluated)"
        )
    return apply("switch", index, *options)


def apply(name: str, *args: Any, **kwargs: Any) -> Any:
    """``OPS[name](*args, **kwargs)``, deferred if any argument is an expression."""
    if any(_has_expr(a) for a in (*args, *kwargs.values())):
        return Op(name, args, tuple(kwargs.items()))
    return OPS[name](*args, **kwargs)


def as_apply(value: Any) -> Expr:
    """``value`` as an expression (hyperopt's ``pyll.as_apply``), e.g. to index it by
    a choice: ``as_apply([1.0, 2.0])[hp.choice("i", [0, 1])]``."""
    return value if isinstance(value, Expr) else Op("identity", (value,))


def _check_in_range(index: Any, n_options: int) -> None:
    """Refuse ``hp.randint`` as a switch's index when it can draw a value past the
    last option.

    Raises:
        SpaceError: It can.
    """
    if isinstance(index, Param) and index.dist == "randint":
        high = index.args[1]
        if high > n_options:
            raise SpaceError(
                "`scope.switch(index, *options)` must have an option for every "
                f"value of index, but got index={index!r} (up to {high - 1}) for "
                f"{n_options} options; hyperopt raises IndexError when it draws one "
                "past the last"
            )


def _values_of(index: Any) -> int | None:
    """``n`` when ``index`` is ``hp.randint(label, n)`` (values ``0..n-1``)."""
    if isinstance(index, Param) and index.dist == "randint" and index.args[0] == 0:
        return int(index.args[1])
    return None


def _is_choice_index(index: Any, n_options: int) -> bool:
    """Whether ``index`` is ``hp.randint(label, n_options)``: hyperopt's choice."""
    return (
        isinstance(index, Param)
        and index.dist == "randint"
        and tuple(index.args) == (0, n_options)
    )


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
