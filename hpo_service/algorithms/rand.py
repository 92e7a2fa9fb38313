"""Random search: independent draws from the prior (hyperopt's ``rand.suggest``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpo_service.space import sample_params

if TYPE_CHECKING:
    import numpy as np

    from hpo_service.algorithms._history import History
    from hpo_service.space import CompiledSpace

NAME = "rand"


def suggest(
    space: CompiledSpace,
    history: History,
    rng: np.random.Generator,
    n: int = 1,
    **settings: Any,
) -> list[dict[str, Any]]:
    """Draw ``n`` independent points from the prior of ``space``.

    Args:
        space: The compiled search space.
        history: Finished and pending trials (unused: random search ignores them).
        rng: The source of randomness.
        n: Number of points to return.
        **settings: Accepted for the common algorithm interface; none are used.

    Returns:
        ``n`` params dicts, each holding the active parameters only.
    """
    return [sample_params(space, rng) for _ in range(n)]


#: Each point is drawn independently of the others and of the history: the driver
#: seeds each with its place in the study, so a seed gives the same points however
#: many are queued at a time.
suggest.independent_points = True  # type: ignore[attr-defined]
