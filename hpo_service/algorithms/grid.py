"""Grid search: every combination of the space's discrete values, each once.

Use ``algo=grid.suggest`` (``--algo grid``). The grid holds every point the space
can produce when each parameter takes each of its values:

- ``hp.choice`` / ``hp.pchoice``: each option (the options' own parameters are
  enumerated within that option only, so conditional spaces give no duplicates);
- ``hp.randint``: ``low, low + 1, ..., high - 1``;
- quantised uniforms (``hp.quniform``, ``hp.qloguniform``, ``hp.uniformint``): each
  multiple of ``q`` that rounding can give, from ``round(low / q) * q`` to
  ``round(high / q) * q`` (for ``qloguniform``, of ``exp(low)`` and ``exp(high)``).

Continuous (``uniform``, ``loguniform``, ``normal``, ``lognormal``) and unbounded
(``qnormal``, ``qlognormal``) parameters have no finite grid and are refused with a
:class:`~hpo_service.exceptions.SpaceError` naming them.

Order: like nested loops over the parameters in the order they first appear in the
space (a choice before the parameters its options hold), the last parameter varying
fastest, each parameter's values in increasing order (options in the order given).
Points already tried (finished, queued or running trials, whatever suggested them)
are skipped, so a resumed or warm-started study continues the grid. When every point
has been tried, :class:`~hpo_service.exceptions.SearchExhausted` is raised and the
study ends (``fmin`` returns, ``hpo-driver start`` reports ``exhausted``) once the
last trials finish. Settings: none.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from hpo_service.algorithms._history import History
from hpo_service.exceptions import SearchExhausted, SpaceError
from hpo_service.space._spec import CompiledSpace, ParamSpec

NAME = "grid"

__all__ = ["NAME", "check_settings", "check_space", "grid_size", "points", "suggest"]

Key = tuple[tuple[str, float], ...]


def suggest(
    space: CompiledSpace,
    history: History,
    rng: np.random.Generator,
    n: int = 1,
    **settings: Any,
) -> list[dict[str, Any]]:
    """The next ``n`` grid points not tried yet (fewer when the grid runs out).

    Args:
        space: The compiled search space (discrete parameters only).
        history: Finished trials and pending params; their points are skipped.
        rng: Unused: the grid's order is fixed.
        n: Number of points.
        **settings: None are accepted.

    Returns:
        Up to ``n`` params dicts, in grid order.

    Raises:
        SearchExhausted: Every grid point has been tried.
        SpaceError: The space has a continuous or unbounded parameter.
        TypeError: A setting was given.
        ValueError: ``n < 1``.
    """
    check_settings(settings)
    if n < 1:
        raise ValueError(f"`n >= 1` must hold, but got n={n!r}")
    check_space(space)
    out = _state_for(space, history).take(n, {_key(space, p) for p in history.pending})
    if not out:
        raise SearchExhausted(
            f"every one of the {grid_size(space)} grid points has been tried"
        )
    return out


def check_settings(settings: Mapping[str, Any]) -> None:
    """Grid search takes no settings.

    Raises:
        TypeError: Any setting is given.
    """
    if settings:
        raise TypeError(f"grid search takes no settings, but got {sorted(settings)}")


def check_space(space: CompiledSpace) -> None:
    """Refuse parameters without a finite set of values.

    Raises:
        SpaceError: Naming each continuous or unbounded parameter.
    """
    bad = [f"{spec.label!r} ({_kind(spec)})" for spec in space if _values(spec) is None]
    if bad:
        raise SpaceError(
            "grid search needs parameters with finitely many values (hp.choice, "
            "hp.randint, hp.quniform, hp.qloguniform, hp.uniformint), but "
            f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not: quantise them "
            "(e.g. hp.quniform(label, low, high, q)) or use tpe, rand or anneal"
        )


def points(space: CompiledSpace) -> Iterator[dict[str, Any]]:
    """Every grid point, in grid order (see the module docstring).

    Raises:
        SpaceError: As :func:`check_space`.
    """
    check_space(space)
    return _walk(space.params, 0, {})


def grid_size(space: CompiledSpace) -> int:
    """The number of grid points (counted without listing them).

    Raises:
        SpaceError: As :func:`check_space`.
    """
    check_space(space)
    return _count(space.params, 0, {})


# ---- enumeration --------------------------------------------------------------------


def _walk(
    specs: tuple[ParamSpec, ...], i: int, chosen: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    if i == len(specs):
        yield dict(chosen)
        return
    spec = specs[i]
    if not spec.is_active(chosen):
        yield from _walk(specs, i + 1, chosen)
        return
    for value in _values(spec) or ():
        chosen[spec.label] = value
        yield from _walk(specs, i + 1, chosen)
    del chosen[spec.label]


def _count(specs: tuple[ParamSpec, ...], i: int, chosen: dict[str, Any]) -> int:
    """Grid points below ``chosen``; only choices change what is active below."""
    if i == len(specs):
        return 1
    spec = specs[i]
    if not spec.is_active(chosen):
        return _count(specs, i + 1, chosen)
    values = _values(spec) or []
    if spec.kind != "choice":
        return len(values) * _count(specs, i + 1, chosen)
    total = 0
    for value in values:
        chosen[spec.label] = value
        total += _count(specs, i + 1, chosen)
    del chosen[spec.label]
    return total


def _values(spec: ParamSpec) -> list[int | float] | None:
    """The values of one parameter, or None if they are not finitely many."""
    if spec.kind in ("choice", "randint"):
        low = 0 if spec.kind == "choice" else int(spec.low)  # type: ignore[arg-type]
        return list(range(low, low + spec.n_options))
    if spec.kind != "uniform" or spec.q is None:
        return None
    assert spec.low is not None and spec.high is not None
    low, high = spec.low, spec.high
    if spec.log:
        low, high = math.exp(low), math.exp(high)
    steps = range(round(low / spec.q), round(high / spec.q) + 1)
    if spec.is_int:
        return [round(k * spec.q) for k in steps]
    return [k * spec.q for k in steps]


def _kind(spec: ParamSpec) -> str:
    if spec.q is not None:
        return f"q{'log' if spec.log else ''}{spec.kind}: unbounded"
    return f"{'log' if spec.log else ''}{spec.kind}: continuous"


def _key(space: CompiledSpace, params: Mapping[str, Any]) -> Key:
    return tuple(
        (spec.label, float(params[spec.label]))
        for spec in space
        if params.get(spec.label) is not None
    )


# ---- per-history state (so that a long study does not rescan its history) ---------


class _State:
    """Where one history is in the grid, kept up to date incrementally.

    ``tried`` holds the points of finished trials; ``walk`` continues the grid where
    the last call stopped; ``in_flight`` holds points handed out (or passed over as
    pending) that have not finished yet: they are checked again on every call, so a
    point whose trial was cancelled is handed out again.
    """

    def __init__(self, space: CompiledSpace) -> None:
        self.space = space
        self.tried: set[Key] = set()
        self.rows = 0
        self.walk = _walk(space.params, 0, {})
        self.in_flight: dict[Key, dict[str, Any]] = {}

    def update(self, history: History) -> None:
        columns = {spec.label: history.values(spec.label) for spec in self.space}
        for row in range(self.rows, len(history)):
            params = {
                label: value
                for label, column in columns.items()
                if not math.isnan(value := float(column[row]))
            }
            self.tried.add(_key(self.space, params))
        self.rows = len(history)

    def take(self, n: int, pending: set[Key]) -> list[dict[str, Any]]:
        """Up to ``n`` untried points that are not ``pending``, in grid order."""
        out: list[dict[str, Any]] = []
        for key, params in list(self.in_flight.items()):
            if key in self.tried:
                del self.in_flight[key]
            elif key not in pending and len(out) < n:
                out.append(params)
                pending.add(key)
        for params in self.walk if len(out) < n else ():
            key = _key(self.space, params)
            if key in self.tried:
                continue
            self.in_flight[key] = params
            if key not in pending:
                out.append(params)
                pending.add(key)
                if len(out) == n:
                    break
        return out


_STATES: weakref.WeakKeyDictionary[History, _State] = weakref.WeakKeyDictionary()


def _state_for(space: CompiledSpace, history: History) -> _State:
    state = _STATES.get(history)
    if state is None or state.space is not space or state.rows > len(history):
        state = _STATES[history] = _State(space)
    state.update(history)
    return state
