"""Median and percentile stopping: compare a trial with the completed trials.

The median stopping rule of Golovin et al. 2017, "Google Vizier: A Service for
Black-Box Optimization" (KDD, section 3.2.2): stop a trial at step ``s`` if its best
value by step ``s`` is strictly worse than the median of the running averages, up to
step ``s``, of the completed trials. :class:`PercentilePruner` is the same rule with
another percentile than the median (as Optuna's ``PercentilePruner``).

Differences from Optuna's ``MedianPruner``/``PercentilePruner``:

- with ``running_average=True`` (the default, as Vizier) a completed trial counts with
  the mean of its values up to step ``s``; Optuna uses its value at exactly step ``s``
  (``running_average=False`` here, where a completed trial without a report at ``s``
  counts with its last value before ``s``);
- only completed trials that got at least as far as step ``s`` are compared (Optuna:
  those with a report at exactly ``s``);
- the completed trials are read incrementally, never rescanned (Optuna reads every
  completed trial at every check).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpo_service.algorithms.pruners._base import (
    BasePruner,
    RunningReports,
    TrialProgress,
    check_int,
    check_percentile,
)
from hpo_service.store._base import TrialState

if TYPE_CHECKING:
    import numpy as np


class PercentilePruner(BasePruner):
    """Stop a trial whose best value is worse than a percentile of completed trials.

    The first four arguments may be given by position, in the order of Optuna's
    ``PercentilePruner`` (so an Optuna script's call means the same here).

    Args:
        percentile: Keep trials at or better than this percentile of the completed
            trials at the same step, in [0, 100] (25 keeps the best quarter).
        n_startup_trials: No pruning until this many trials completed.
        n_warmup_steps: No pruning at steps below this.
        interval_steps: Judge only every this many steps after the warm-up (the first
            report at or after each such step).
        n_min_trials: No pruning at a step fewer than this many completed trials
            reached.
        running_average: Compare with each completed trial's mean of its values up to
            the step (Vizier), instead of its value at the step (Optuna).

    Raises:
        ValueError: A setting is out of range.
    """

    name = "percentile"

    def __init__(
        self,
        percentile: float = 25.0,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_min_trials: int = 1,
        running_average: bool = True,
    ) -> None:
        self._percentile = check_percentile(percentile)
        self._n_startup_trials = check_int(n_startup_trials, "n_startup_trials", 0)
        self._n_warmup_steps = check_int(n_warmup_steps, "n_warmup_steps", 0)
        self._interval_steps = check_int(interval_steps, "interval_steps", 1)
        self._n_min_trials = check_int(n_min_trials, "n_min_trials", 1)
        if not isinstance(running_average, bool):
            raise ValueError(
                "`running_average` must be True or False, but got "
                f"running_average={running_average!r}"
            )
        self._running_average = running_average
        # numpy comes with the first median or percentile pruner, not with this
        # module: every hpo-driver and hpo-worker start imports the pruners
        from hpo_service.algorithms.pruners._curves import CompletedCurves

        self._completed = CompletedCurves(running_average)

    def settings(self) -> dict[str, Any]:
        return {
            "percentile": self._percentile,
            "n_startup_trials": self._n_startup_trials,
            "n_warmup_steps": self._n_warmup_steps,
            "interval_steps": self._interval_steps,
            "n_min_trials": self._n_min_trials,
            "running_average": self._running_average,
        }

    def observe(
        self, tid: int, state: TrialState, intermediate: Mapping[int, float]
    ) -> None:
        if state == TrialState.DONE:
            self._completed.add(intermediate)

    def first_decision(self, tid: int) -> int | None:
        """The end of the warm-up (checks wait for ``n_startup_trials`` completed
        trials too, which a trial alone does not tell)."""
        return self._n_warmup_steps

    def prune(self, trial: TrialProgress, running: RunningReports) -> bool:
        step = trial.last_step
        if step is None:
            return False
        memo = trial.memo  # called at every report: keep the best and the last step
        previous, memo["previous_step"] = memo.get("previous_step"), step
        memo["best"] = best = min(memo.get("best", math.inf), trial.intermediate[step])
        if len(self._completed) < self._n_startup_trials:
            return False
        if not self._is_check_step(step, previous):
            return False
        others = self._completed.at(step)
        if len(others) < self._n_min_trials:
            return False
        return best > _percentile(others, self._percentile)

    def _is_check_step(self, step: int, previous: int | None) -> bool:
        """Whether ``step`` is the first report at or after a checkpoint."""
        warmup, interval = self._n_warmup_steps, self._interval_steps
        if step < warmup:
            return False
        checkpoint = warmup + (step - warmup) // interval * interval
        return previous is None or previous < checkpoint


class MedianPruner(PercentilePruner):
    """Vizier's median stopping rule: :class:`PercentilePruner` at the 50th percentile.

    The first three arguments may be given by position, in the order of Optuna's
    ``MedianPruner``.

    Args:
        n_startup_trials: No pruning until this many trials completed.
        n_warmup_steps: No pruning at steps below this.
        interval_steps: Judge only every this many steps after the warm-up.
        n_min_trials: No pruning at a step fewer than this many completed trials
            reached.
        running_average: See :class:`PercentilePruner`.

    Raises:
        ValueError: A setting is out of range.
    """

    name = "median"
    #: The percentile it compares with.
    PERCENTILE = 50.0

    def __init__(
        self,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_min_trials: int = 1,
        running_average: bool = True,
    ) -> None:
        super().__init__(
            self.PERCENTILE,
            n_startup_trials=n_startup_trials,
            n_warmup_steps=n_warmup_steps,
            interval_steps=interval_steps,
            n_min_trials=n_min_trials,
            running_average=running_average,
        )

    def settings(self) -> dict[str, Any]:
        settings = super().settings()
        del settings["percentile"]
        return settings


def _percentile(ordered: np.ndarray, q: float) -> float:
    """The ``q``-th percentile of sorted values, interpolated linearly (as numpy)."""
    position = q / 100 * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    a, b = float(ordered[low]), float(ordered[high])
    return a if a == b else a + (b - a) * (position - low)
