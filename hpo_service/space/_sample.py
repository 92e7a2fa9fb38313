"""Random draws from the prior of a space."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hpo_service.space._compile import compile_space
from hpo_service.space._eval import space_eval
from hpo_service.space._spec import CompiledSpace, ParamSpec


def sample_params(compiled: CompiledSpace, rng: np.random.Generator) -> dict[str, Any]:
    """Draw one point from the prior: a value for every active parameter.

    Args:
        compiled: The space, from :func:`compile_space`.
        rng: The source of randomness; the same state gives the same draw.

    Returns:
        ``{label: value}``: an ``int`` index for a choice, an ``int`` for ``randint``
        and ``uniformint``, a ``float`` otherwise.
    """
    params: dict[str, Any] = {}
    for spec in compiled.draw_order:  # hyperopt's order: its values for a seed
        if spec.is_active(params):
            params[spec.label] = draw(spec, rng)
    return params


def sample(
    space: Any, rng: np.random.Generator | np.random.RandomState | int | None = None
) -> Any:
    """Draw one config from ``space``: the nested value an objective would receive.

    Equivalent of hyperopt's ``pyll.stochastic.sample``.

    Args:
        space: A search space.
        rng: A numpy ``Generator`` (advanced by the draw), a ``RandomState``, a seed,
            or None for fresh entropy.

    Returns:
        ``space_eval(space, params)`` for randomly drawn params.
    """
    generator = as_generator(rng)
    return space_eval(space, sample_params(compile_space(space), generator))


def as_generator(
    rng: np.random.Generator | np.random.RandomState | int | None,
) -> np.random.Generator:
    """A numpy ``Generator`` from what hyperopt users pass as ``rstate`` / ``rng``.

    Raises:
        TypeError: ``rng`` is none of a Generator, RandomState, int or None.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.RandomState):
        return np.random.default_rng(rng.randint(2**31 - 1))
    if rng is None or (isinstance(rng, int | np.integer) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"`rstate` must be a numpy Generator, RandomState or int, but got {rng!r}"
    )


def draw(spec: ParamSpec, rng: np.random.Generator) -> int | float:
    """One value of one parameter from its prior (conditions ignored)."""
    if spec.kind == "choice":
        return draw_category(spec.weights, rng)
    if spec.kind == "randint":
        return int(rng.integers(spec.low, spec.high))  # type: ignore[arg-type]
    if spec.kind == "uniform":
        value = rng.uniform(spec.low, spec.high)  # type: ignore[arg-type]
    else:
        value = rng.normal(spec.mu, spec.sigma)  # type: ignore[arg-type]
    return finish(spec, float(value))


def draw_category(weights: Any, rng: np.random.Generator) -> int:
    """An index drawn with probabilities ``weights``.

    Drawn as hyperopt's samplers draw (``integers(n)`` for equal weights, else a
    one-trial multinomial), so that a seed gives hyperopt's values on simple spaces.
    """
    p = np.asarray(weights, dtype=float)
    if np.all(p == p[0]):
        return int(rng.integers(p.size))
    return int(np.argmax(rng.multinomial(1, p)))


def finish(spec: ParamSpec, base: float) -> int | float:
    """Turn a draw of the base distribution into the parameter's value."""
    value = math.exp(base) if spec.log else base
    if spec.q is not None:
        value = round(value / spec.q) * spec.q
    return round(value) if spec.is_int else float(value)
