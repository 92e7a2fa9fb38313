"""Random draws from the prior of a space."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hpo_service.space._compile import compile_space
from hpo_service.space._eval import space_eval
from hpo_service.space._expr import Choice, Op, Param
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
    compiled = compile_space(space)
    params: dict[str, Any] = {}
    _draw_as_evaluated(space, compiled, generator, params)
    return space_eval(space, params)


def _draw_as_evaluated(
    node: Any, compiled: CompiledSpace, rng: np.random.Generator, params: dict[str, Any]
) -> None:
    """Draw the labels ``node`` uses, in the order hyperopt's ``pyll`` evaluates a
    space (so ``sample`` gives ``hyperopt.pyll.stochastic.sample``'s values for a
    seed): an expression's inputs last to first, depth first, a dict's values by
    sorted key (pyll sorts them), a choice's index before the option it picks (the
    others are not evaluated), each label once.

    (``sample_params`` draws in another order, that of hyperopt's ``rand.suggest``,
    which evaluates a vectorised copy of the space.)
    """
    if isinstance(node, (Param, Choice)) and node.label not in params:
        params[node.label] = draw(compiled[node.label], rng)
    if isinstance(node, Choice):
        _draw_as_evaluated(node.options[params[node.label]], compiled, rng, params)
        return
    if isinstance(node, dict):
        try:
            inputs = [node[key] for key in sorted(node)]
        except TypeError:  # keys of mixed types: no order pyll would give either
            inputs = list(node.values())
    elif isinstance(node, (list, tuple)):
        inputs = list(node)
    elif isinstance(node, Op):
        inputs = [*node.args, *(value for _, value in node.kwargs)]
    else:
        return
    for child in reversed(inputs):
        _draw_as_evaluated(child, compiled, rng, params)


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
        return draw_category(spec.weights, rng, categorical=spec.categorical)
    if spec.kind == "randint":
        return int(rng.integers(spec.low, spec.high))  # type: ignore[arg-type]
    if spec.kind == "uniform":
        value = rng.uniform(spec.low, spec.high)  # type: ignore[arg-type]
    else:
        value = rng.normal(spec.mu, spec.sigma)  # type: ignore[arg-type]
    return finish(spec, float(value))


def draw_category(
    weights: Any, rng: np.random.Generator, *, categorical: bool = False
) -> int:
    """An index drawn with probabilities ``weights``.

    Drawn as hyperopt's samplers draw (``integers(n)`` for ``hp.choice``'s equal
    weights, else, and always for ``hp.pchoice`` (``categorical``), a one-trial
    multinomial), so that a seed gives hyperopt's values.
    """
    p = np.asarray(weights, dtype=float)
    if not categorical and np.all(p == p[0]):
        return int(rng.integers(p.size))
    return int(np.argmax(rng.multinomial(1, p)))


def finish(spec: ParamSpec, base: float) -> int | float:
    """Turn a draw of the base distribution into the parameter's value (a rounded
    zero is ``0.0``, never ``-0.0``)."""
    value = math.exp(base) if spec.log else base
    if spec.q is not None:
        value = round(value / spec.q) * spec.q
    return round(value) if spec.is_int else float(value) + 0.0
