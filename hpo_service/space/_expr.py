"""Expression nodes of a search space: labelled hyperparameters and arithmetic on them.

A space is any nesting of dicts, lists and tuples whose leaves are constants or
expressions. Expressions are immutable; reusing one object in several places shares
one hyperparameter. Build them with :mod:`hpo_service.space.hp`, not directly.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

# Argument names of every labelled distribution, in the order ``hp.<dist>`` takes them.
DIST_ARGS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "quniform": ("low", "high", "q"),
    "qloguniform": ("low", "high", "q"),
    "uniformint": ("low", "high", "q"),
    "normal": ("mu", "sigma"),
    "lognormal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "qlognormal": ("mu", "sigma", "q"),
    "randint": ("low", "high"),
}

# Functions that an :class:`Op` node may apply: arithmetic, indexing, ``scope`` casts,
# math and comparisons (hyperopt's ``scope.exp``, ``scope.maximum``, ``scope.lt``
# etc.), ``scope.switch`` over constants, and unlabelled random draws
# (``scope.normal(mu, sigma, rng=rng)``). ``scope.define`` adds user functions.
OPS: dict[str, Callable[..., Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "pow": operator.pow,
    "neg": operator.neg,
    "pos": operator.pos,
    "abs": abs,
    "getitem": operator.getitem,
    "identity": lambda value: value,
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    "len": len,
    "round": round,
    "min": min,
    "max": max,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "eq": operator.eq,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "switch": lambda index, *options: options[index],
    "str_join": lambda separator, items: separator.join(items),
    "dict": dict,
    "sum": sum,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "arctan": np.arctan,
    "tanh": np.tanh,
    "uniform": lambda low, high, rng=None, size=None: _rng(rng).uniform(
        low, high, size
    ),
    "normal": lambda mu, sigma, rng=None, size=None: _rng(rng).normal(mu, sigma, size),
    "loguniform": lambda low, high, rng=None, size=None: np.exp(
        _rng(rng).uniform(low, high, size)
    ),
    "lognormal": lambda mu, sigma, rng=None, size=None: np.exp(
        _rng(rng).normal(mu, sigma, size)
    ),
    "randint": lambda low, high=None, rng=None, size=None: _rng(rng).integers(
        low, high, size
    ),
}

#: The names in :data:`OPS` that ship with hpo-service (the rest came from
#: ``scope.define`` and are stored by import reference).
BUILTIN_OPS = frozenset(OPS)


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return np.random.default_rng() if rng is None else rng


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (bools excluded), Python's or NumPy's."""
    kind = type(value)
    if kind is float or kind is int:  # the common case, without the ABC's check
        return True
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

    def __mod__(self, other: object) -> Op:
        return _binary("mod", self, other)

    def __rmod__(self, other: object) -> Op:
        return _binary("mod", other, self)

    def __getitem__(self, key: object) -> Op:
        """``expr[key]``: the item of the value (``choice(...)[0]``, ``a[idx]``)."""
        return Op("getitem", (self, key))

    def __iter__(self) -> NoReturn:
        """Refused: with ``__getitem__``, iteration would never end."""
        raise TypeError(
            f"an hp expression is not iterable ({self!r}); index it (expr[0]) or "
            "build the structure of the space from lists, tuples and dicts"
            + _FOREIGN_SEARCH
        )

    def __float__(self) -> NoReturn:
        """Refused: an expression has no value until a search draws one."""
        raise TypeError(f"float() of an hp expression ({self!r})" + _NO_VALUE)

    def __int__(self) -> NoReturn:
        """Refused: an expression has no value until a search draws one."""
        raise TypeError(f"int() of an hp expression ({self!r})" + _NO_VALUE)


#: Where an objective that meets an hp expression went wrong: only a search of
#: another library (hyperopt's fmin, given a space of hpo_service.hp) passes one on.
_FOREIGN_SEARCH = (
    "; an objective gets values, never expressions: if one got this, the space "
    "went to another library's search (hyperopt's fmin?): import fmin, tpe and "
    "Trials from hpo_service too"
)
_NO_VALUE = ": an expression has no value until a search draws one" + _FOREIGN_SEARCH


def _binary(name: str, left: object, right: object) -> Op:
    for operand in (left, right):
        if not isinstance(operand, Expr) and not is_number(operand):
            return NotImplemented
    return Op(name, (left, right))


def call_op(node: Op, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Apply the function of ``node`` to evaluated arguments.

    Raises:
        SpaceError: ``node`` names a function that is not defined in this process.
    """
    try:
        function = OPS[node.name]
    except KeyError:
        from hpo_service.exceptions import SpaceError

        raise SpaceError(
            f"scope.{node.name} is not defined in this process; import the module "
            "that defines it with @scope.define"
        ) from None
    return function(*args, **kwargs)


class Op(Expr):
    """``OPS[name](*args, **kwargs)``; arguments may be constants or expressions.

    ``kwargs`` is a tuple of ``(name, value)`` pairs (kept hashable and ordered).
    """

    __slots__ = ("args", "kwargs", "name")

    def __init__(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        self.name = name
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        shown = [*map(repr, self.args), *(f"{k}={v!r}" for k, v in self.kwargs)]
        return f"{self.name}({', '.join(shown)})"


class Param(Expr):
    """A labelled numeric hyperparameter: ``hp.<dist>(label, *args)``."""

    __slots__ = ("args", "dist", "label")

    def __init__(self, label: str, dist: str, args: tuple[float, ...]) -> None:
        self.label = label
        self.dist = dist
        self.args = args

    @property
    def named_args(self) -> dict[str, float]:
        """The arguments by name, e.g. ``{"low": 0.0, "high": 1.0}``.

        ``uniformint`` holds ``q`` only when it is not 1 (so that spaces stored
        before ``q`` was accepted keep their fingerprint).
        """
        names = DIST_ARGS[self.dist]
        if self.dist == "uniformint" and len(self.args) == 2:
            names = names[:2]
        return dict(zip(names, self.args, strict=True))

    def __repr__(self) -> str:
        args = "".join(f", {a!r}" for a in self.args)
        return f"hp.{self.dist}({self.label!r}{args})"


class Choice(Expr):
    """A labelled choice among options (``probs`` None means equally likely).

    ``switch``: made by ``scope.switch(hp.randint(label, n), *options)`` (hyperopt's
    ``hp.choice``; options past ``n`` are dropped, never drawn), whose randint may
    index several switches: such choices of one label (each of ``n`` options) are
    one parameter (see :func:`~hpo_service.space.compile_space`).
    """

    __slots__ = ("label", "options", "probs", "switch")

    def __init__(
        self,
        label: str,
        options: tuple[Any, ...],
        probs: tuple[float, ...] | None,
        *,
        switch: bool = False,
    ) -> None:
        self.label = label
        self.options = options
        self.probs = probs
        self.switch = switch

    def __repr__(self) -> str:
        name = "choice" if self.probs is None else "pchoice"
        return f"hp.{name}({self.label!r}, <{len(self.options)} options>)"


Labelled = Param | Choice
