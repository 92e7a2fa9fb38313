"""Early-stopping rules for ``fmin(early_stop_fn=...)``, as in hyperopt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hpo_service.exceptions import MultiObjectiveError
from hpo_service.objective._result import loss_of, losses_of, violation_of

__all__ = ["no_progress_loss"]


def no_progress_loss(
    iteration_stop_count: int = 20, percent_increase: float = 0.0
) -> Callable[..., tuple[bool, list[Any]]]:
    """Stop after ``iteration_stop_count`` trials in a row without enough improvement.

    A trial improves when its loss is below the best so far by more than
    ``percent_increase`` percent of the best's magnitude. Failed trials, and trials
    that violate their constraints, never improve; the first trial counts as one
    without improvement, as in hyperopt.

    With several objectives a trial improves when it joins the Pareto front: it is
    successful, feasible, and no earlier such trial is at least as good in every loss.
    ``percent_increase`` must then be 0.

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
        trials: Any, best_loss: Any = None, stale: int = 0
    ) -> tuple[bool, list[Any]]:
        result = trials.trials[-1]["result"]
        losses = losses_of(result)
        if isinstance(best_loss, list) or (losses is not None and len(losses) > 1):
            if percent_increase:
                raise MultiObjectiveError(
                    "`percent_increase` needs a single loss, but got several "
                    f"objectives and percent_increase={percent_increase}"
                )
            front = [] if best_loss is None else best_loss
            if violation_of(result) > 0 or not _joins_front(front, losses):
                return stale + 1 >= iteration_stop_count, [front, stale + 1]
            # As with one loss, the first trial sets the bar and counts as stale.
            stale = stale + 1 if best_loss is None else 0
            front = _with_point(front, losses)  # type: ignore[arg-type]
            return stale >= iteration_stop_count, [front, stale]
        loss = loss_of(result) if violation_of(result) <= 0 else None
        if best_loss is None:  # the first trial sets the bar and counts, as in hyperopt
            return False, [loss, stale + 1]
        margin = abs(best_loss) * percent_increase / 100
        if loss is not None and loss < best_loss - margin:
            return False, [loss, 0]
        stale += 1
        return stale >= iteration_stop_count, [best_loss, stale]

    return stop_fn


def _joins_front(front: list[list[float]], losses: list[float] | None) -> bool:
    """Whether ``losses`` is a success that no point of ``front`` weakly dominates."""
    if losses is None:
        return False
    return not any(
        len(p) == len(losses) and all(a <= b for a, b in zip(p, losses, strict=True))
        for p in front
    )


def _with_point(front: list[list[float]], losses: list[float]) -> list[list[float]]:
    """``front`` plus ``losses``, without the points ``losses`` now dominates."""
    kept = [p for p in front if not all(b <= a for a, b in zip(p, losses, strict=True))]
    return [*kept, losses]
