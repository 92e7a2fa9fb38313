"""Expression nodes of a search space: labelled hyperparameters and arithmetic on them.

A space is any nesting of dicts, lists and tuples whose leaves are constants or
expressions. Expressions are immutable; reusing one object in several places shares
one hyperparameter. Build them with :mod:`hpo_service.space.hp`, not directly.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable
from typing import Any

# Argument names of every labelled distribution, in the order ``hp.<dist>`` takes them.
DIST_ARGS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "quniform": ("low", "high", "q"),
    "qloguniform": ("low", "high", "q"),
    "uniformint": ("low", "high"),
    "normal": ("mu", "sigma"),
    "lognormal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "qlognormal": ("mu", "sigma", "q"),
    "randint": ("low", "high"),
}

# Functions that an :class:`Op` node may apply (arithmetic and ``scope`` casts).
OPS: dict[str, Callable[..., Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "pow": operator.pow,
    "neg": operator.neg,
    "pos": operator.pos,
    "abs": abs,
    "int": int,
    "float": float,
}


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (bools excluded), Python's or NumPy's."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Expr:
    """Base of every expression node; arithmetic on it builds an :class:`Op`."""

    __slots__ = ()

    def __add__(self, other: object) -> Op:
        return _binary("add", self, other)

    def __radd__(self, other: object) -> Op:
        return _binary("add", other, self)

    def __sub__(self, other: object) -> Op:
        return _binary("sub", self, other)

    def __rsub__(self, other: object) -> Op:
        return _binary("sub", other, self)

    def __mul__(self, other: object) -> Op:
        return _binary("mul", self, other)

    def __rmul__(self, other: object) -> Op:
        return _binary("mul", other, self)

    def __truediv__(self, other: object) -> Op:
        return _binary("truediv", self, other)

    def __rtruediv__(self, other: object) -> Op:
        return _binary("truediv", other, self)

    def __floordiv__(self, other: object) -> Op:
        return _binary("floordiv", self, other)

    def __rfloordiv__(self, other: object) -> Op:
        return _binary("floordiv", other, self)

    def __pow__(self, other: object) -> Op:
        return _binary("pow", self, other)

    def __rpow__(self, other: object) -> Op:
        return _binary("pow", other, self)

    def __neg__(self) -> Op:
        return Op("neg", (self,))

    def __pos__(self) -> Op:
        return Op("pos", (self,))

    def __abs__(self) -> Op:
        return Op("abs", (self,))


def _binary(name: str, left: object, right: object) -> Op:
    for operand in (left, right):
        if not isinstance(operand, Expr) and not is_number(operand):
            return NotImplemented
    return Op(name, (left, right))


class Op(Expr):
    """``OPS[name](*args)`` where args are numbers or expressions."""

    __slots__ = ("args", "name")

    def __init__(self, name: str, args: tuple[Any, ...]) -> None:
        self.name = name
        self.args = args

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(map(repr, self.args))})"


class Param(Expr):
    """A labelled numeric hyperparameter: ``hp.<dist>(label, *args)``."""

    __slots__ = ("args", "dist", "label")

    def __init__(self, label: str, dist: str, args: tuple[float, ...]) -> None:
        self.label = label
        self.dist = dist
        self.args = args

    @property
    def named_args(self) -> dict[str, float]:
        """The arguments by name, e.g. ``{"low": 0.0, "high": 1.0}``."""
        return dict(zip(DIST_ARGS[self.dist], self.args, strict=True))

    def __repr__(self) -> str:
        args = "".join(f", {a!r}" for a in self.args)
        return f"hp.{self.dist}({self.label!r}{args})"


class Choice(Expr):
    """A labelled choice among options (``probs`` None means equally likely)."""

    __slots__ = ("label", "options", "probs")

    def __init__(
        self, label: str, options: tuple[Any, ...], probs: tuple[float, ...] | None
    ) -> None:
        self.label = label
        self.options = options
        self.probs = probs

    def __repr__(self) -> str:
        name = "choice" if self.probs is None else "pchoice"
        return f"hp.{name}({self.label!r}, <{len(self.options)} options>)"


Labelled = Param | Choice
