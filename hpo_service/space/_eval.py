"""Turn flat params into the nested config an objective receives, and check params."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hpo_service.exceptions import SpaceError
from hpo_service.space._expr import Choice, Op, Param, call_op, is_number
from hpo_service.space._spec import CompiledSpace, ParamSpec, plain_values

_INT_DISTS = frozenset({"randint", "uniformint"})
_TOLERANCE = 1e-9


_MISSING: Any = object()


def space_eval(
    space: Any, hp_assignment: Mapping[str, Any] = _MISSING, *, params: Any = _MISSING
) -> Any:
    """Compute the config that ``hp_assignment`` selects in ``space``, like hyperopt's.

    Only the options that the choices select are evaluated, so the point needs
    values for the active parameters only; other keys are ignored. A value may also
    be a one-element list (hyperopt's ``trial["misc"]["vals"]`` format), and an
    empty list counts as absent. Unlike hyperopt, lists stay lists (not tuples).

    Args:
        space: The search space.
        hp_assignment: ``{label: value}``, the index of the option for a choice
            (hyperopt's argument name, so ``space_eval(space=s, hp_assignment=p)``
            works as there).
        params: The same point by this module's earlier name (keyword only).

    Returns:
        The space with every expression replaced by its value.

    Raises:
        SpaceError: An active parameter has no value, or a choice index is invalid.
        TypeError: The point is not a mapping (anything with ``get``, such as a
            pandas Series, is taken), e.g. the list of points ``fmin`` returns for a
            study of several objectives (its Pareto front); or it is given by both
            names, or by neither.
    """
    params = _one_point(hp_assignment, params)
    if isinstance(params, list | tuple) or not hasattr(params, "get"):
        raise TypeError(_not_a_point(params))
    return _evaluate(space, params)


def _one_point(hp_assignment: Any, params: Any) -> Any:
    """The point given by either name (exactly one of them)."""
    given = [p for p in (hp_assignment, params) if p is not _MISSING]
    if len(given) != 1:
        raise TypeError(
            "`space_eval` must be given one point, as hp_assignment (or params=), "
            f"but got {len(given)} points"
        )
    return given[0]


def _not_a_point(params: Any) -> str:
    """Why ``params`` (not a mapping) is no point of a space, and what to pass."""
    got = f"params={params!r:.80} ({type(params).__name__})"
    if isinstance(params, list | tuple) and all(hasattr(p, "get") for p in params):
        return (
            f"`params` must be one point {{label: value}}, but got {got}, a list of "
            f"{len(params)} points (fmin returns the Pareto front's points for a "
            "study of several objectives): evaluate each, "
            "[space_eval(space, point) for point in front]"
        )
    return f"`params` must be a mapping {{label: value}}, but got {got}"


def _evaluate(node: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        return {key: _evaluate(value, params) for key, value in node.items()}
    if isinstance(node, Param):
        return _param_value(node, _lookup(params, node.label))
    if isinstance(node, Choice):
        return _evaluate(node.options[_index(node, params)], params)
    if isinstance(node, list):
        return [_evaluate(value, params) for value in node]
    if isinstance(node, tuple):
        return tuple(_evaluate(value, params) for value in node)
    if isinstance(node, Op):
        args = [_evaluate(arg, params) for arg in node.args]
        kwargs = {key: _evaluate(value, params) for key, value in node.kwargs}
        return call_op(node, args, kwargs)
    return node


def _lookup(params: Mapping[str, Any], label: str) -> Any:
    value = _unwrapped(params.get(label))
    if value is None:
        raise SpaceError(
            f"params must hold a value for every active parameter, but {label!r} "
            f"has none (got labels {sorted(params)})"
        )
    return value


def _unwrapped(value: Any) -> Any:
    """A one-element list becomes its element; an empty one becomes None."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)) and len(value) <= 1:
        return value[0] if value else None
    return value


def _param_value(node: Param, value: Any) -> int | float:
    try:
        return int(float(value)) if node.dist in _INT_DISTS else float(value)
    except (TypeError, ValueError):
        raise SpaceError(
            f"params[{node.label!r}] must be a number, but got {value!r}"
        ) from None


def _index(node: Choice, params: Mapping[str, Any]) -> int:
    value = _lookup(params, node.label)
    n = len(node.options)
    if not _is_integral(value) or not 0 <= value < n:
        raise SpaceError(
            f"params[{node.label!r}] must be an option index in [0, {n}), "
            f"but got {value!r}" + _option_hint(node.label, node.options, value)
        )
    return int(value)


def _is_integral(value: Any) -> bool:
    return is_number(value) and math.isfinite(value) and float(value).is_integer()


def validate_params(
    compiled: CompiledSpace, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Check that ``params`` holds exactly the active labels, with valid values.

    Args:
        compiled: The space, from :func:`compile_space`.
        params: ``{label: value}`` from the store, an algorithm or the user.

    Returns:
        A normalised copy: plain ``int`` for choices, ``randint`` and ``uniformint``,
        plain ``float`` otherwise; one-element lists unwrapped.

    Raises:
        SpaceError: A label is unknown, missing while active, present while
            inactive, or its value is out of range.
    """
    unknown = sorted(set(params) - set(compiled.by_label))
    if unknown:
        raise SpaceError(
            f"params must only hold labels of the space, but got {unknown}"
        )
    checked: dict[str, Any] = {}
    for spec in compiled:
        value = _unwrapped(params.get(spec.label))
        active = spec.is_active(checked)
        if active and value is None:
            raise SpaceError(f"params must hold active parameter {spec.label!r}")
        if not active and value is not None:
            raise SpaceError(
                f"params must not hold inactive parameter {spec.label!r}, "
                f"but got {spec.label}={value!r}"
            )
        if active:
            checked[spec.label] = _checked(spec, value)
    return checked


def non_finite_param(compiled: CompiledSpace, params: Mapping[str, Any]) -> str | None:
    """Why a user's point holds a value that no parameter of the space takes and
    no store holds (NaN, an infinity, anything but a number), or None.

    The first parameter (in the space's order) given such a value, other than a
    choice (whose option index :func:`validate_params` and ``space_eval`` check
    with a hint, for an option given in its place), in
    :func:`validate_params`' words: ``"params['x'] must be a finite number, but
    got nan"``. A value merely outside a parameter's range is no such value: in
    process it is evaluated as given (as hyperopt does).

    Args:
        compiled: The space, from :func:`compile_space`.
        params: ``{label: value}`` as the user gave it (one-element lists too).
    """
    for spec in compiled:
        value = _unwrapped(params.get(spec.label))
        if spec.kind == "choice" or value is None:
            continue
        if not is_number(value) or not math.isfinite(value):
            return f"params[{spec.label!r}] must be a finite number, but got {value!r}"
    return None


def misfit_point(what: str, problem: object, space: str = "the study's space") -> str:
    """What every path that takes a user's point (``hpo-driver enqueue``,
    ``StoreTrials.enqueue``, ``fmin(points_to_evaluate=...)``, an import) says of
    one that does not fit: ``"point 0 does not fit the study's space: params['x']
    must be a finite number, but got nan"``.

    Args:
        what: The point: ``"point 0"`` (its index among those given) or where an
            imported trial came from (``"a.csv#3"``).
        problem: What is wrong (a :class:`SpaceError` or its text).
        space: ``"the study's space"`` on a store, ``"the space"`` in process.
    """
    return f"{what} does not fit {space}: {problem}"


def _checked(spec: ParamSpec, value: Any) -> int | float:
    label = spec.label
    if spec.kind == "choice" and not (
        _is_integral(value) and 0 <= value < spec.n_options
    ):  # a user may give the option itself: say what a choice's value is
        raise SpaceError(
            f"params[{label!r}] must be the index of an option of choice {label!r}, "
            f"an integer from 0 to {spec.n_options - 1}, but got {value!r}"
            + _option_hint(label, spec.values, value)
        )
    if not is_number(value) or not math.isfinite(value):
        raise SpaceError(
            f"params[{label!r}] must be a finite number, but got {value!r}"
        )
    integral = spec.kind in ("choice", "randint") or spec.is_int
    if integral and not float(value).is_integer():
        raise SpaceError(f"params[{label!r}] must be an integer, but got {value!r}")
    if spec.q is not None and spec.kind != "randint":
        _check_multiple(label, value, spec.q)
    low, high, slack = _bounds(spec)
    if not low - slack <= value <= high + slack:
        raise SpaceError(
            f"params[{label!r}]: `{low} <= {label} <= {high}` must hold, "
            f"but got {label}={value!r}"
        )
    return int(value) if integral else float(value)


def _option_hint(label: str, options: Sequence[Any] | None, value: Any) -> str:
    """``; 'hinge' is option 1 of sgd_loss: give 1`` when ``value`` (no valid
    index) is one of the options of choice ``label`` and these are plain values
    (:func:`plain_values`), else ``""``."""
    for index, option in enumerate(plain_values(options or ()) or ()):
        if isinstance(option, bool) == isinstance(value, bool) and option == value:
            return f"; {value!r} is option {index} of {label}: give {index}"
    return ""


def _check_multiple(label: str, value: float, q: float) -> None:
    """A quantised parameter (``q``) takes multiples of ``q`` only, as it draws them
    (``round(x / q) * q``); float error of the division is tolerated."""
    steps = value / q
    if abs(steps - round(steps)) > _TOLERANCE * max(1.0, abs(steps)):
        raise SpaceError(
            f"params[{label!r}] must be a multiple of q={q:g}, the only values the "
            f"space gives {label!r}, but got {label}={value!r}"
        )


#: :func:`_bounds` of the specs seen, by ``id`` (with the spec, so that a reused id
#: of a spec since freed is not taken for it); cleared when it grows large.
_BOUNDS: dict[int, tuple[ParamSpec, tuple[float, float, float]]] = {}


def _bounds(spec: ParamSpec) -> tuple[float, float, float]:
    """``(low, high, slack)``: :func:`_value_range` and the float tolerance a value
    may stray beyond it, kept per spec (every suggested point is checked, each of
    its parameters against the same bounds)."""
    kept = _BOUNDS.get(id(spec))
    if kept is not None and kept[0] is spec:
        return kept[1]
    low, high = _value_range(spec)
    slack = _TOLERANCE * max([1.0, *(abs(b) for b in (low, high) if math.isfinite(b))])
    if len(_BOUNDS) > 4096:
        _BOUNDS.clear()
    _BOUNDS[id(spec)] = (spec, (low, high, slack))
    return low, high, slack


def _value_range(spec: ParamSpec) -> tuple[float, float]:
    """The closed interval of values ``spec`` can take (after exp and rounding)."""
    if spec.kind == "choice":
        return 0.0, float(spec.n_options - 1)
    if spec.kind == "randint":
        assert spec.low is not None and spec.high is not None
        return float(spec.low), float(spec.high - 1)
    if spec.kind == "normal":
        low, high = (0.0, math.inf) if spec.log else (-math.inf, math.inf)
    else:
        assert spec.low is not None and spec.high is not None
        low, high = spec.low, spec.high
        if spec.log:
            low, high = math.exp(low), math.exp(high)
    if spec.q is not None:
        low, high = (_rounded(low, spec.q), _rounded(high, spec.q))
    return low, high


def _rounded(value: float, q: float) -> float:
    return value if math.isinf(value) else round(value / q) * q
