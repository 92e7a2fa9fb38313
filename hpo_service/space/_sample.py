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
    for spec in compiled:
        if spec.is_active(params):
            params[spec.label] = draw(spec, rng)
    return params


def sample(space: Any, rng: np.random.Generator | int | None = None) -> Any:
    """Draw one config from ``space``: the nested value an objective would receive.

    Equivalent of hyperopt's ``pyll.stochastic.sample``.

    Args:
        space: A search space.
        rng: A generator, a seed, or None for fresh entropy.

    Returns:
        ``space_eval(space, params)`` for randomly drawn params.
    """
    generator = np.random.default_rng(rng)
    return space_eval(space, sample_params(compile_space(space), generator))


def draw(spec: ParamSpec, rng: np.random.Generator) -> int | float:
    """One value of one parameter from its prior (conditions ignored)."""
    if spec.kind == "choice":
        assert spec.weights is not None
        return int(rng.choice(len(spec.weights), p=spec.weights))
    if spec.kind == "randint":
        return int(rng.integers(spec.low, spec.high))  # type: ignore[arg-type]
    if spec.kind == "uniform":
        value = rng.uniform(spec.low, spec.high)  # type: ignore[arg-type]
    else:
        value = rng.normal(spec.mu, spec.sigma)  # type: ignore[arg-type]
    return finish(spec, float(value))


def finish(spec: ParamSpec, base: float) -> int | float:
    """Turn a draw of the base distribution into the parameter's value."""
    value = math.exp(base) if spec.log else base
    if spec.q is not None:
        value = round(value / spec.q) * spec.q
    return round(value) if spec.is_int else float(value)
