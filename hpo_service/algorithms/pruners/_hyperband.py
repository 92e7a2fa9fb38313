"""Hyperband: several ASHA brackets of different aggressiveness.

Li et al. 2018, "Hyperband: A Novel Bandit-Based Approach to Hyperparameter
Optimization" (JMLR 18), Algorithm 1, run asynchronously as in Li et al. 2020
(section 3.3, "asynchronous Hyperband"): bracket b (b = 0 .. s_max, with
s_max = floor(log_eta(R / r))) is an ASHA whose first rung is at ``r * eta**b``
steps. Bracket 0 judges trials from the first rung on (most aggressive); bracket
s_max runs every trial to ``R``.

Trials are assigned to brackets by tid, in the proportions of the paper's bracket
sizes ``n_s = ceil((s_max + 1) * eta**s / (s + 1))`` (s = s_max - b: the aggressive
brackets get more trials), interleaved evenly over consecutive tids and the same in
every worker. A trial competes only with trials of its own bracket.

Differences from Optuna's ``HyperbandPruner``:

- bracket assignment is a fixed, interleaved schedule over tids, not a hash of the
  trial number; over any ``sum(n_s)`` consecutive trials the proportions are exact;
- ``max_resource`` must be given (no "auto" from the first completed trial);
- the sampler is not split by bracket: TPE learns from every trial (Optuna's TPE sees
  only the trial's own bracket when this pruner is used). Per-bracket sampling
  (``Suggester(groups=HyperbandPruner.bracket_of)``) was measured against this over
  100 seeds (``benchmarks/README.md``, "Hyperband: one TPE or one per bracket"):
  not better (worse on ``synthetic`` with 1 worker, p = 0.02; level elsewhere), so
  one TPE over all trials stays;
- each bracket is our :class:`ASHAPruner` (see its differences).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hpo_service.algorithms.pruners._asha import (
    ASHAPruner,
    _Rungs,
    check_max_resource,
    judge_rungs,
)
from hpo_service.algorithms.pruners._base import (
    BasePruner,
    RunningReports,
    TrialProgress,
    check_int,
    refuse_extra_settings,
)
from hpo_service.store._base import TrialState


class HyperbandPruner(BasePruner):
    """Hyperband over ASHA brackets, trials assigned to brackets by tid.

    The arguments may be given by position, in the order of Optuna's
    ``HyperbandPruner`` (``bootstrap_count`` only as 0, Optuna's default).

    Args:
        min_resource: Steps of the first rung of the most aggressive bracket (r).
        max_resource: Steps of a complete trial (R); must be given (Optuna's
            default, ``"auto"``, is not offered).
        reduction_factor: eta, >= 2.

    Raises:
        ValueError: A setting is out of range or missing (``max_resource``), or
            ``min_resource > max_resource``.
        TypeError: Optuna's ``bootstrap_count`` other than 0, named with what to do
            instead.
    """

    name = "hyperband"

    def __init__(
        self,
        min_resource: int = 1,
        max_resource: int | None = None,
        reduction_factor: int = 3,
        bootstrap_count: int = 0,
    ) -> None:
        refuse_extra_settings(type(self).__name__, {"bootstrap_count": bootstrap_count})
        self._min_resource = check_int(min_resource, "min_resource", 1)
        if max_resource is None:
            raise ValueError(
                "`max_resource` must be given for hyperband: the steps of a complete "
                "trial, e.g. HyperbandPruner(max_resource=100) for 100 epochs (Optuna's"
                " 'auto', the last step of the first trials, is not offered), but got "
                "max_resource=None"
            )
        self._max_resource = check_max_resource(max_resource, self._min_resource)
        self._eta = check_int(reduction_factor, "reduction_factor", 2)
        s_max = _floor_log(self._max_resource / self._min_resource, self._eta)
        self._brackets = [
            ASHAPruner(
                min_resource=self._min_resource,
                max_resource=self._max_resource,
                reduction_factor=self._eta,
                min_early_stopping_rate=b,
            )
            for b in range(s_max + 1)
        ]
        self._rungs = [_Rungs(b.rung_steps()) for b in self._brackets]
        self._schedule = bracket_schedule(self.bracket_sizes())
        self._finished: set[int] = set()

    def settings(self) -> dict[str, Any]:
        return {
            "min_resource": self._min_resource,
            "max_resource": self._max_resource,
            "reduction_factor": self._eta,
        }

    def bracket_sizes(self) -> list[int]:
        """Trials per bracket in one round of the schedule, bracket 0 first."""
        s_max = len(self._brackets) - 1
        return [
            math.ceil((s_max + 1) * self._eta**s / (s + 1))
            for s in (s_max - b for b in range(s_max + 1))
        ]

    def bracket_rungs(self) -> list[list[int]]:
        """Each bracket's rung steps, lowest first (bracket 0, the most aggressive,
        first; the last bracket has none: it runs every trial to ``max_resource``)."""
        return [list(rungs.steps) for rungs in self._rungs]

    def bracket_of(self, tid: int) -> int:
        """The bracket (0 = most aggressive) that trial ``tid`` belongs to."""
        return self._schedule[tid % len(self._schedule)]

    def observe(
        self, tid: int, state: TrialState, intermediate: Mapping[int, float]
    ) -> None:
        if tid not in self._finished:
            self._finished.add(tid)
            self._rungs[self.bracket_of(tid)].record(intermediate)

    def first_decision(self, tid: int) -> int | None:
        """The first rung of the trial's bracket (None in the bracket without rungs)."""
        steps = self._rungs[self.bracket_of(tid)].steps
        return steps[0] if steps else None

    def prune(self, trial: TrialProgress, running: RunningReports) -> bool:
        bracket = self.bracket_of(trial.tid)

        def others() -> list[Mapping[int, float]]:
            return [
                r
                for t, r in running().items()
                if t != trial.tid
                and t not in self._finished
                and self.bracket_of(t) == bracket
            ]

        return judge_rungs(trial, self._rungs[bracket], self._eta, others)


def bracket_schedule(sizes: list[int]) -> list[int]:
    """Bracket ids, ``sizes[b]`` times each, spread evenly over one round.

    Each bracket's i-th slot sits at position ``(i + 0.5) / sizes[b]`` of the round;
    sorting the slots interleaves the brackets.
    """
    slots = [((i + 0.5) / n, b) for b, n in enumerate(sizes) for i in range(n)]
    return [b for _, b in sorted(slots)]


def _floor_log(x: float, base: int) -> int:
    """``floor(log_base(x))`` for x >= 1, exact for powers of ``base``."""
    n = 0
    while base ** (n + 1) <= x * (1 + 1e-12):
        n += 1
    return n
