"""Early-stopping rules for ``fmin(early_stop_fn=...)``, as in hyperopt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hpo_service.objective._result import loss_of

__all__ = ["no_progress_loss"]


def no_progress_loss(
    iteration_stop_count: int = 20, percent_increase: float = 0.0
) -> Callable[..., tuple[bool, list[Any]]]:
    """Stop after ``iteration_stop_count`` trials in a row without enough improvement.

    A trial improves when its loss is below the best so far by more than
    ``percent_increase`` percent of the best's magnitude. Failed trials never improve;
    the first trial counts as one without improvement, as in hyperopt.

    Args:
        iteration_stop_count: Trials without improvement that stop the search.
        percent_increase: Required relative improvement, in percent.

    Returns:
        An ``early_stop_fn(trials, best_loss=None, stale=0) -> (stop, [best, stale])``.
    """
    if iteration_stop_count < 1:
        raise ValueError(
            "`iteration_stop_count >= 1` must hold, "
            f"but got iteration_stop_count={iteration_stop_count}"
        )

    def stop_fn(
        trials: Any, best_loss: float | None = None, stale: int = 0
    ) -> tuple[bool, list[Any]]:
        loss = loss_of(trials.trials[-1]["result"])
        if best_loss is None:  # the first trial sets the bar and counts, as in hyperopt
            return False, [loss, stale + 1]
        margin = abs(best_loss) * percent_increase / 100
        if loss is not None and loss < best_loss - margin:
            return False, [loss, 0]
        stale += 1
        return stale >= iteration_stop_count, [best_loss, stale]

    return stop_fn
