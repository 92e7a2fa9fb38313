"""hyperopt-shaped trial records: the in-memory :class:`Trials` and the shared view.

Trial dicts look like hyperopt's (``tid``, ``state`` as hyperopt's integer job state,
``result``, ``misc.vals`` / ``misc.idxs`` as one-element-or-empty lists per label), so
analysis code written against ``hyperopt.Trials`` runs unchanged.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hpo_service.exceptions import AllTrialsFailed, MultiObjectiveError
from hpo_service.objective._result import (  # noqa: F401 - public names
    STATUS_FAIL,
    STATUS_NEW,
    STATUS_OK,
    STATUS_RUNNING,
    STATUS_STRINGS,
    STATUS_SUSPENDED,
    loss_of,
    objective_count,
    pareto_front,
)

JOB_STATE_NEW = 0
JOB_STATE_RUNNING = 1
JOB_STATE_DONE = 2
JOB_STATE_ERROR = 3
JOB_STATE_CANCEL = 4
JOB_STATES = (
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_CANCEL,
)


def make_trial_doc(
    tid: int,
    *,
    state: int,
    params: Mapping[str, Any],
    labels: Sequence[str],
    result: dict[str, Any],
    error: tuple[str, str] | None = None,
    book_time: _dt.datetime | None = None,
    refresh_time: _dt.datetime | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """Build one hyperopt-shaped trial dict.

    Args:
        tid: The trial id.
        state: One of the ``JOB_STATE_*`` integers.
        params: Values of the active parameters, ``{label: value}``.
        labels: Every label of the space (inactive ones get empty lists).
        result: The result dict (``{"status": ..., "loss": ...}``).
        error: ``(type, message)`` for trials whose objective raised.
        book_time: When the trial started.
        refresh_time: When the trial last changed.
        owner: Who ran it (a worker id), if known.

    Returns:
        The trial dict.
    """
    misc: dict[str, Any] = {
        "tid": tid,
        "cmd": None,
        "workdir": None,
        "idxs": {k: ([tid] if k in params else []) for k in labels},
        "vals": {k: ([params[k]] if k in params else []) for k in labels},
    }
    if error is not None:
        misc["error"] = error
    return {
        "state": state,
        "tid": tid,
        "spec": None,
        "result": result,
        "misc": misc,
        "exp_key": None,
        "owner": owner,
        "version": 0,
        "book_time": book_time,
        "refresh_time": refresh_time,
    }


def check_objective_names(names: Sequence[str] | str | None) -> list[str] | None:
    """Validate objective names: distinct, non-empty strings (None: no names).

    Raises:
        ValueError: A name is empty, repeated or not a string, or the list is empty.
    """
    if names is None:
        return None
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    names = list(names)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(
            f"`objectives` must be non-empty names, but got objectives={names!r}"
        )
    if len(set(names)) != len(names):
        raise ValueError(
            f"`objectives` must be distinct names, but got objectives={names!r}"
        )
    return names


class TrialsView:
    """Read-only analysis helpers over ``self.trials`` (a list of trial dicts)."""

    @property
    def trials(self) -> list[dict[str, Any]]:
        """The trial dicts, ordered by tid."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.trials)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.trials)

    def __getitem__(self, item: int) -> dict[str, Any]:
        return self.trials[item]

    @property
    def tids(self) -> list[int]:
        return [t["tid"] for t in self.trials]

    @property
    def miscs(self) -> list[dict[str, Any]]:
        return [t["misc"] for t in self.trials]

    @property
    def specs(self) -> list[Any]:
        return [t["spec"] for t in self.trials]

    @property
    def results(self) -> list[dict[str, Any]]:
        return [t["result"] for t in self.trials]

    @property
    def idxs(self) -> dict[str, list[int]]:
        return self._column("idxs")

    @property
    def vals(self) -> dict[str, list[Any]]:
        return self._column("vals")

    @property
    def idxs_vals(self) -> tuple[dict[str, list[int]], dict[str, list[Any]]]:
        return self.idxs, self.vals

    def count_by_state_unsynced(self, states: int | Sequence[int]) -> int:
        """How many trials are in ``JOB_STATE_*`` ``states`` (hyperopt's name)."""
        wanted = {states} if isinstance(states, int) else set(states)
        return sum(1 for doc in self.trials if doc["state"] in wanted)

    def losses(self) -> list[float | None]:
        """Each trial's loss, None where it has none."""
        return [r.get("loss") for r in self.results]

    def statuses(self) -> list[str | None]:
        """Each trial's result status."""
        return [r.get("status") for r in self.results]

    @property
    def objective_names(self) -> list[str] | None:
        """Names of the study's objectives, if it was given any."""
        return None

    @property
    def n_objectives(self) -> int | None:
        """Number of objectives: of the names, else of the first successful result's
        losses; None while neither is known."""
        names = self.objective_names
        return len(names) if names else objective_count(self.results)

    @property
    def best_trials(self) -> list[dict[str, Any]]:
        """The Pareto front: every successful trial with all constraints satisfied
        (``<= 0``) that no other such trial dominates, in tid order.

        Dominating means no worse in every loss and better in at least one (all
        losses are minimised); with one objective these are the trials with the
        lowest loss.
        """
        trials = self.trials
        return [trials[i] for i in pareto_front([t["result"] for t in trials])]

    @property
    def best_trial(self) -> dict[str, Any]:
        """The successful trial with the lowest loss.

        Raises:
            AllTrialsFailed: No trial succeeded.
            MultiObjectiveError: The study has several objectives (use
                :attr:`best_trials`, the Pareto front).
        """
        count = self.n_objectives
        if count is not None and count > 1:
            raise MultiObjectiveError(
                f"the study has {count} objectives, so it has no single best trial; "
                "use best_trials (the Pareto front) instead"
            )
        best, best_loss = None, math.inf
        for trial in self.trials:
            loss = loss_of(trial["result"])
            if loss is not None and (best is None or loss < best_loss):
                best, best_loss = trial, loss
        if best is None:
            raise AllTrialsFailed("no trial has status 'ok' and a numeric loss")
        return best

    @property
    def argmin(self) -> dict[str, Any]:
        """The best trial's active params (choices as indices), as hyperopt returns."""
        vals = self.best_trial["misc"]["vals"]
        return {k: v[0] for k, v in vals.items() if v}

    def average_best_error(self) -> float:
        """The best successful loss (hyperopt's name; no loss variance is modelled)."""
        return float(self.best_trial["result"]["loss"])

    def _column(self, key: str) -> dict[str, list[Any]]:
        column: dict[str, list[Any]] = {}
        for misc in self.miscs:
            for label, value in misc[key].items():
                column.setdefault(label, []).extend(value)
        return column


class Trials(TrialsView):
    """In-memory trials of one ``fmin`` run, as in hyperopt.

    Args:
        exp_key: hyperopt's experiment key (kept on every trial).
        objectives: Names of the objectives of a multi-objective search, e.g.
            ``["error", "latency_ms"]``; every result must then have that many losses.
    """

    def __init__(
        self, exp_key: str | None = None, *, objectives: Sequence[str] | None = None
    ) -> None:
        self.exp_key = exp_key
        self._trials: list[dict[str, Any]] = []
        self.attachments: dict[str, Any] = {}
        self._objective_names = check_objective_names(objectives)

    @property
    def objective_names(self) -> list[str] | None:
        """Names of the objectives (``Trials(objectives=[...])``), or None."""
        return self._objective_names

    @property
    def trials(self) -> list[dict[str, Any]]:
        return self._trials

    def append(self, doc: dict[str, Any]) -> None:
        """Add one finished trial dict (built with :func:`make_trial_doc`)."""
        doc["exp_key"] = self.exp_key
        self._trials.append(doc)

    def new_trial_ids(self, n: int) -> list[int]:
        """The next ``n`` unused tids."""
        start = self._trials[-1]["tid"] + 1 if self._trials else 0
        return list(range(start, start + n))

    def refresh(self) -> None:
        """Nothing to refresh in memory (kept for hyperopt compatibility)."""

    def delete_all(self) -> None:
        """Forget every trial."""
        self._trials.clear()
