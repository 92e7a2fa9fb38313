"""Hyperparameter expressions with hyperopt's names and semantics.

``from hpo_service import hp`` replaces ``from hyperopt import hp``. Every function
checks its arguments at once and raises :class:`~hpo_service.exceptions.SpaceError`
naming the label. Bounds of ``log*`` distributions are in log space, ``q*``
distributions round the value to a multiple of ``q``, as in hyperopt.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

import numpy as np

from hpo_service.exceptions import SpaceError
from hpo_service.space._expr import Choice, Param, is_number

__all__ = [
    "choice",
    "lognormal",
    "loguniform",
    "normal",
    "pchoice",
    "qlognormal",
    "qloguniform",
    "qnormal",
    "quniform",
    "quniformint",
    "randint",
    "uniform",
    "uniformint",
]

PCHOICE_TOLERANCE = 1e-6
_MAX_LOG = 709.0  # exp(high) must be a finite float


def uniform(label: str, low: float, high: float) -> Param:
    """A float drawn uniformly from ``[low, high]``."""
    return _param("uniform", label, low=low, high=high)


def loguniform(label: str, low: float, high: float) -> Param:
    """``exp(uniform(low, high))``: a positive float whose log is uniform.

    ``low`` and ``high`` are in log space, as in hyperopt: values from 1e-5 to 0.1
    are ``loguniform(label, np.log(1e-5), np.log(0.1))``. Bounds that look like the
    values' own range (see :func:`_warn_log_bounds`) give a ``UserWarning``.
    """
    param = _param("loguniform", label, low=low, high=high)
    _warn_log_bounds("loguniform", label, low, high, "")
    return param


def quniform(label: str, low: float, high: float, q: float) -> Param:
    """``round(uniform(low, high) / q) * q``, a float."""
    return _param("quniform", label, low=low, high=high, q=q)


def qloguniform(label: str, low: float, high: float, q: float) -> Param:
    """``round(exp(uniform(low, high)) / q) * q``, a float (bounds in log space,
    warned about as :func:`loguniform`'s)."""
    param = _param("qloguniform", label, low=low, high=high, q=q)
    _warn_log_bounds("qloguniform", label, low, high, f", {q}")
    return param


def quniformint(label: str, low: float, high: float, q: float = 1.0) -> Param:
    """The name hyperopt's documentation gives :func:`uniformint` (hyperopt itself
    lacks it): an int in ``[low, high]`` on a grid of step ``q``."""
    return uniformint(label, low, high, q)


def uniformint(label: str, low: float, high: float, q: float = 1.0) -> Param:
    """An int in ``[low, high]``: ``quniform(low, high, q)`` handed over as an int.

    ``q`` must be a whole number; hyperopt accepts ``q`` but ignores it (always 1),
    here it is honoured: ``uniformint("a", 0, 10, q=2)`` gives 0, 2, ..., 10.
    """
    _check_label("uniformint", label)
    step = _real("uniformint", label, "q", q)
    _require(
        step > 0 and step.is_integer(),
        "uniformint",
        label,
        "q is a whole number > 0",
        f"q={q!r}",
    )
    if step == 1:
        return _param("uniformint", label, low=low, high=high)
    return _param("uniformint", label, low=low, high=high, q=step)


def normal(label: str, mu: float, sigma: float) -> Param:
    """A float drawn from a normal distribution."""
    return _param("normal", label, mu=mu, sigma=sigma)


def lognormal(label: str, mu: float, sigma: float) -> Param:
    """``exp(normal(mu, sigma))``: a positive float whose log is normal."""
    return _param("lognormal", label, mu=mu, sigma=sigma)


def qnormal(label: str, mu: float, sigma: float, q: float) -> Param:
    """``round(normal(mu, sigma) / q) * q``, a float."""
    return _param("qnormal", label, mu=mu, sigma=sigma, q=q)


def qlognormal(label: str, mu: float, sigma: float, q: float) -> Param:
    """``round(exp(normal(mu, sigma)) / q) * q``, a float."""
    return _param("qlognormal", label, mu=mu, sigma=sigma, q=q)


def randint(label: str, low: int, high: int | None = None) -> Param:
    """An int in ``[0, low)`` (one bound, hyperopt's ``upper``) or in ``[low, high)``.

    The integers are unordered categories to samplers, as in hyperopt.
    """
    _check_label("randint", label)
    if high is None:
        upper = _integer("randint", label, "upper", low)
        _require(upper > 0, "randint", label, "upper > 0", f"upper={low}")
        return Param(label, "randint", (0, upper))
    values = (
        _integer("randint", label, "low", low),
        _integer("randint", label, "high", high),
    )
    _require(values[0] < values[1], "randint", label, "low < high", _shown(low, high))
    return Param(label, "randint", values)


def choice(label: str, options: Sequence[Any]) -> Choice:
    """One of ``options`` (each may be a nested space), equally likely.

    The params of a trial hold the option's index; the config holds the option.
    """
    _check_label("choice", label)
    return Choice(label, _options("choice", label, options), None)


def pchoice(label: str, p_options: Sequence[tuple[float, Any]]) -> Choice:
    """One option of ``[(probability, option), ...]``; probabilities sum to 1."""
    _check_label("pchoice", label)
    pairs = _options("pchoice", label, p_options)
    for i, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            _fail(
                "pchoice", label, f"option {i} must be a (p, option) pair, not {pair!r}"
            )
    probs = tuple(_probability(label, i, p) for i, (p, _) in enumerate(pairs))
    total = math.fsum(probs)
    _require(
        abs(total - 1.0) <= PCHOICE_TOLERANCE,
        "pchoice",
        label,
        f"sum(p) == 1 (within {PCHOICE_TOLERANCE:g})",
        f"sum(p)={total!r}",
    )
    return Choice(label, tuple(option for _, option in pairs), probs)


def _param(dist: str, label: str, **args: Any) -> Param:
    _check_label(dist, label)
    values = {name: _real(dist, label, name, value) for name, value in args.items()}
    if "low" in values:
        _require(
            values["low"] < values["high"],
            dist,
            label,
            "low < high",
            _shown(args["low"], args["high"]),
        )
    if dist in ("loguniform", "qloguniform"):
        shown = f"high={args['high']}"
        _require(values["high"] <= _MAX_LOG, dist, label, f"high <= {_MAX_LOG}", shown)
    for positive in ("sigma", "q"):
        if positive in values:
            shown = f"{positive}={args[positive]}"
            _require(values[positive] > 0, dist, label, f"{positive} > 0", shown)
    return Param(label, dist, tuple(values.values()))


def _warn_log_bounds(dist: str, label: str, low: float, high: float, rest: str) -> None:
    """Warn when log-space bounds look like the values' own range: both in (0, 1]
    (``loguniform("lr", 1e-5, 0.1)``: every value between 1 and e, a log scale
    narrower than a factor of e that starts above 1), or from 1 up to 40 or more
    (``loguniform("units", 1, 100)``: values up to 1e17 and beyond). Legitimate
    log-space bounds, such as ``np.log(1e-5)`` (negative), 0, or a narrow positive
    range like (1, 5), are not warned about. hyperopt does not check this."""
    if not (0 < low < high <= 1 or 1 <= low < 40 <= high):
        return
    warnings.warn(
        f"hp.{dist}({label!r}, {low!r}, {high!r}{rest}): bounds are in log space, as "
        f"in hyperopt, so values run from exp({low!r}) = {math.exp(low):.6g} to "
        f"exp({high!r}) = {math.exp(high):.6g}; for values from {low!r} to {high!r} "
        f"write hp.{dist}({label!r}, np.log({low!r}), np.log({high!r}){rest})",
        UserWarning,
        stacklevel=3,
    )


_STORED_LABELS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "stored_labels", default=False
)


@contextlib.contextmanager
def stored_labels() -> Iterator[None]:
    """Take labels as a stored space has them: a study written before labels had
    to be visible text (an empty label, say) still loads."""
    token = _STORED_LABELS.set(True)
    try:
        yield
    finally:
        _STORED_LABELS.reset(token)


def _check_label(dist: str, label: object) -> None:
    """A label names a CSV column (``param.<label>``) and a key of ``--params``
    JSON: it must be visible text, told apart from the others at a glance."""
    if not isinstance(label, str):
        raise SpaceError(
            f"hp.{dist}: `label` must be a str, but got label={label!r} "
            f"({type(label).__name__})"
        )
    if _STORED_LABELS.get():
        return
    if not label.strip() or label != label.strip():
        raise SpaceError(
            f"hp.{dist}: `label` must be non-empty text with no leading or trailing "
            f"whitespace (it names the CSV column param.<label>), but got "
            f"label={label!r}"
        )
    if not label.isprintable():
        raise SpaceError(
            f"hp.{dist}: `label` must hold no control characters (newline, tab, ...), "
            f"but got label={label!r}"
        )


def _real(dist: str, label: str, name: str, value: object) -> float:
    if not is_number(value) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        _fail(
            dist, label, f"`{name}` must be a finite number, but got {name}={value!r}"
        )
    return float(value)  # type: ignore[arg-type]


def _integer(dist: str, label: str, name: str, value: object) -> int:
    number = _real(dist, label, name, value)
    if not number.is_integer():
        _fail(dist, label, f"`{name}` must be an integer, but got {name}={value!r}")
    return int(number)


def _probability(label: str, index: int, p: object) -> float:
    shown = f"p={p!r} for option {index}"
    if not is_number(p) or not math.isfinite(float(p)):  # type: ignore[arg-type]
        _fail("pchoice", label, f"`p` must be a finite number, but got {shown}")
    _require(float(p) >= 0, "pchoice", label, "p >= 0", shown)  # type: ignore[arg-type]
    return float(p)  # type: ignore[arg-type]


def _options(dist: str, label: str, options: object) -> tuple[Any, ...]:
    if isinstance(options, np.ndarray):
        options = list(options)
    if not isinstance(options, (list, tuple, range)):
        _fail(dist, label, f"`options` must be a list or tuple, but got {options!r}")
    _require(len(options) > 0, dist, label, "len(options) > 0", "no options")
    return tuple(options)


def _shown(low: object, high: object) -> str:
    return f"low={low}, high={high}"


def _require(ok: bool, dist: str, label: str, condition: str, got: str) -> None:
    if not ok:
        _fail(dist, label, f"`{condition}` must hold, but got {got}")


def _fail(dist: str, label: str, message: str) -> NoReturn:
    raise SpaceError(f"hp.{dist}({label!r}): {message}")
