"""Tree-structured Parzen Estimator (TPE) suggestions.

Usage mirrors hyperopt: pass ``tpe.suggest`` as the algorithm, and tune it with
``functools.partial(tpe.suggest, n_startup_jobs=20, gamma=0.15)``. Settings (all
JSON-able, see :class:`~hpo_service.algorithms._tpe.sampler.TPESettings` for the full
list and the defaults):

- ``n_startup_jobs`` (10): random trials before modelling starts;
- ``n_ei_candidates`` (24): candidates drawn from the "good" density per suggestion;
- ``gamma`` (0.07): share of trials forming the "good" set, at most ``max_below``
  (25); note hyperopt's rule is ``ceil(gamma * sqrt(n))`` with gamma 0.25;
- ``prior_weight`` (1.5): weight of the prior component;
- ``multivariate`` (True): model parameters that are active together jointly;
- ``constant_liar`` (True): pending trials count as bad observations;
- ``bandwidth`` ("scott"), ``bandwidth_floor`` (0.3): kernel width rule and its floor;
- ``ignore_failures`` (False): failed trials (NaN loss) count as the worst ones.

The defaults and why: ``benchmarks/README.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.sampler import TPESettings, sample_prior, suggest_one
from hpo_service.space._spec import CompiledSpace

NAME = "tpe"


def suggest(
    space: CompiledSpace,
    history: History,
    rng: np.random.Generator,
    n: int = 1,
    **settings: Any,
) -> list[dict[str, Any]]:
    """Suggest ``n`` new points with TPE.

    The first ``n_startup_jobs`` trials come from the prior. After that each suggestion
    maximises ``l(x) / g(x)`` over candidates drawn from ``l``, where ``l`` models the
    best trials and ``g`` the rest plus (with ``constant_liar``) the pending trials and
    the earlier suggestions of this call.

    Args:
        space: The compiled search space.
        history: Finished trials and pending params.
        rng: Random generator; the same seed and history give the same output.
        n: Number of suggestions.
        **settings: TPE settings (see the module docstring).

    Returns:
        ``n`` params dicts ``{label: value}`` holding the active parameters only.

    Raises:
        ValueError: If ``n < 1`` or a setting is out of range.
        TypeError: If a setting name is unknown.
    """
    if n < 1:
        raise ValueError(f"`n >= 1` must hold, but got n={n!r}")
    config = TPESettings.from_kwargs(settings)
    pending = list(history.pending) if config.constant_liar else []
    out: list[dict[str, Any]] = []
    for _ in range(n):
        if len(history) < config.n_startup_jobs:
            params = sample_prior(space, rng)
        else:
            params = suggest_one(space, history, pending, rng, config)
        out.append(params)
        if config.constant_liar:
            pending.append(params)
    return out


__all__ = ["NAME", "TPESettings", "suggest"]
