"""A mixture of algorithms: each new point comes from one algorithm drawn at random.

hyperopt's ``mix.suggest`` (reference: ``hyperopt/mix.py``), used the same way::

    algo = functools.partial(
        mix.suggest,
        p_suggest=[(0.1, rand.suggest), (0.2, anneal.suggest), (0.7, tpe.suggest)],
    )

``p_suggest`` lists ``(probability, algorithm)`` pairs; the probabilities are
non-negative and sum to 1, and each algorithm is one of hpo-service's (``tpe``,
``rand``, ``anneal``, ``motpe``; optionally a ``functools.partial`` binding its
settings; a grid, which is enumerated in order, cannot be mixed). For every new
point one algorithm is drawn with those probabilities. The points drawn for one
algorithm in one call are asked of it together, so TPE's constant liar spreads them
as usual, with a generator seeded from ``rng`` after the draws. For one point (what
``fmin`` asks) this is hyperopt's draw for the same seed, so ``fmin(...,
rstate=...)`` gives hyperopt's points with ``rand`` and TPE's startup trials;
``anneal`` draws differently inside a mixture (hyperopt seeds it with the trial id,
which a mixture does not see).

A study stores the mixture as JSON, ``{"p_suggest": [[0.1, "rand", {}], [0.7,
"tpe", {"gamma": 0.1}], ...]}``, the form ``hpo-driver start --algo mix
--algo-settings`` takes too (the settings object may be left out).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from hpo_service.algorithms._history import History
from hpo_service.space._spec import CompiledSpace

NAME = "mix"

__all__ = ["NAME", "canonical_settings", "check_settings", "suggest"]

_Entry = tuple[float, str, dict[str, Any]]
_REFUSED = {
    "mix": "a mixture of mixtures is one mixture",
    "grid": "a grid is enumerated in order and ends the study when exhausted",
}


def suggest(
    space: CompiledSpace,
    history: History,
    rng: np.random.Generator,
    n: int = 1,
    **settings: Any,
) -> list[dict[str, Any]]:
    """Suggest ``n`` points, each from an algorithm drawn from ``p_suggest``.

    Args:
        space: The compiled search space.
        history: Finished trials and pending params, passed on to the algorithms.
        rng: Random generator; picks the algorithms and is passed on to them.
        n: Number of points.
        **settings: ``p_suggest``: ``[(probability, algorithm), ...]`` (see the
            module docstring).

    Returns:
        ``n`` params dicts, in the order the algorithms were drawn.

    Raises:
        ValueError: ``n < 1``, or ``p_suggest`` is missing or malformed.
    """
    if n < 1:
        raise ValueError(f"`n >= 1` must hold, but got n={n!r}")
    entries = _entries(settings)
    p = [p for p, _, _ in entries]
    picks = rng.multinomial(1, p, size=n).argmax(axis=1).tolist()
    points: dict[int, list[dict[str, Any]]] = {}
    for index in sorted(set(picks)):  # hyperopt: seed = rng.integers(2**31)
        own = np.random.default_rng(int(rng.integers(2**31)))
        points[index] = _algorithm(entries[index])(
            space, history, own, picks.count(index)
        )
    return [points[index].pop(0) for index in picks]


def canonical_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of the settings: ``{"p_suggest": [[p, name, settings], ...]}``.

    Raises:
        ValueError: ``p_suggest`` is missing or malformed.
    """
    return {"p_suggest": [list(entry) for entry in _entries(settings)]}


def check_settings(settings: dict[str, Any]) -> None:
    """Check ``p_suggest`` and every algorithm's settings in it.

    Raises:
        ValueError: ``p_suggest`` is missing or malformed, or an algorithm's settings
            are not accepted.
    """
    from hpo_service.algorithms import check

    for _, name, algo_settings in _entries(settings):
        check(name, algo_settings)


def _entries(settings: dict[str, Any]) -> list[_Entry]:
    """``p_suggest`` as ``(probability, name, settings)`` triples, checked."""
    unknown = sorted(set(settings) - {"p_suggest"})
    if unknown:
        raise ValueError(f"mix settings must be p_suggest only, but got {unknown}")
    given = settings.get("p_suggest")
    if isinstance(given, str | bytes) or not isinstance(given, Sequence) or not given:
        raise ValueError(
            "`p_suggest` must be a non-empty list of (probability, algorithm) "
            f"pairs, but got p_suggest={given!r}"
        )
    entries = [_entry(item) for item in given]
    total = sum(p for p, _, _ in entries)
    if not math.isclose(total, 1.0, rel_tol=0, abs_tol=1e-6):
        raise ValueError(
            "the probabilities of `p_suggest` must sum to 1, but got "
            f"{[p for p, _, _ in entries]} (sum {total})"
        )
    return entries


def _entry(item: Any) -> _Entry:
    from hpo_service.algorithms import canonical, describe

    if isinstance(item, str | bytes) or not isinstance(item, Sequence):
        item = (item,)
    if len(item) not in (2, 3):
        raise ValueError(
            f"each `p_suggest` entry must be (probability, algorithm), but got {item!r}"
        )
    probability, algo = item[0], item[1]
    if isinstance(probability, bool) or not isinstance(
        probability, int | float | np.floating | np.integer
    ):
        raise ValueError(
            f"a `p_suggest` probability must be a number, but got {item!r}"
        )
    if not 0 <= probability <= 1:
        raise ValueError(f"`0 <= probability <= 1` must hold, but got {item!r}")
    if isinstance(algo, str):
        given = item[2] if len(item) == 3 else {}
        if not isinstance(given, Mapping):
            raise ValueError(
                f"a `p_suggest` entry's settings must be a dict, but got {item!r}"
            )
        name, algo_settings = algo, canonical(algo, given)
    else:
        name, algo_settings = describe(algo)
    if name in _REFUSED:
        raise ValueError(f"`p_suggest` must not hold {name}.suggest ({_REFUSED[name]})")
    return float(probability), name, algo_settings


def _algorithm(entry: _Entry) -> Callable[..., list[dict[str, Any]]]:
    from hpo_service.algorithms import resolve

    _, name, algo_settings = entry
    return functools.partial(resolve(name), **algo_settings)
