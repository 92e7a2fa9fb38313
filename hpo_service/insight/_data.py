"""A study's trials as plots read them, built from a store or a hyperopt ``Trials``.

:class:`StudyData` keeps one :class:`TrialRow` per tid and applies changes by tid, so a
dashboard feeds it ``changes_since`` batches instead of rereading the study.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo_service._common.outcomes import FAILED, outcome_counts
from hpo_service._common.settings import (
    COUNTED_STATES,
    budget_of,
    started_in_python,
)
from hpo_service._common.trial_rows import default_names
from hpo_service.algorithms.pruners._ladder import (
    PruningLadder,
    last_step,
    pruning_ladder,
)
from hpo_service.insight._params import (
    ParamInfo,
    infer_params,
    params_from_space_document,
)
from hpo_service.objective._result import (
    STATUS_FAIL,
    STATUS_PRUNED,
    loss_of,
    losses_of,
    violation_of,
)

if TYPE_CHECKING:
    from hpo_service.store import BaseTrialStore, Study, Trial
    from hpo_service.trials import TrialsView

_logger = logging.getLogger(__name__)

_JOB_STATES = {0: "new", 1: "running", 2: "done", 3: "error", 4: "cancelled"}


@dataclass
class TrialRow:
    """One trial, flattened for plotting. Times are epoch seconds.

    Attributes:
        loss: The single-objective loss of a successful trial, or the last value a
            pruned trial of a single-objective study reported (None otherwise: a
            pruned trial has no loss vector, so in a multi-objective study its
            loss is None, as in ``Trials.losses()``).
        losses: The loss vector of a successful multi-objective trial, else None.
        violation: The result's total constraint violation (sum of its positive
            ``constraints``; 0.0 when feasible or without constraints).
        intermediate: ``{step: value}`` the objective reported (pruning).
        duration: Seconds the objective's call took (the result's ``duration``,
            else the error's), as ``hpo-driver trials`` shows it; None when
            unknown (running, cancelled, or not a number).
    """

    tid: int
    state: str
    params: dict[str, Any]
    loss: float | None = None
    losses: tuple[float, ...] | None = None
    status: str | None = None
    owner: str | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    violation: float = 0.0
    intermediate: dict[int, float] = field(default_factory=dict)
    duration: float | None = None

    @property
    def score(self) -> float | None:
        """What single-loss plots show: the loss, or a multi-objective trial's first
        loss."""
        if self.loss is not None or self.losses is None:
            return self.loss
        return self.losses[0]

    @functools.cached_property
    def last_step(self) -> int | None:
        """The highest step the trial reported, or None (a row is replaced, not
        changed, when its trial changes)."""
        return last_step(self.intermediate)


def row_from_trial(trial: Trial) -> TrialRow:
    """Flatten one stored :class:`~hpo_service.store.Trial`."""
    result = trial.result or {}
    error = trial.error or {}
    loss, losses = _losses(result)
    if trial.state.value == "pruned":
        loss = _pruned_loss(result, trial.intermediate)
    return TrialRow(
        tid=trial.tid,
        state=trial.state.value,
        params=dict(trial.params),
        loss=loss,
        losses=losses,
        status=result.get("status"),
        owner=trial.owner,
        created_at=trial.created_at,
        started_at=trial.started_at,
        finished_at=trial.finished_at,
        error_type=error.get("type"),
        error_message=_first_line(error.get("message")),
        intermediate=dict(trial.intermediate),
        violation=_violation(result),
        duration=_seconds(result.get("duration", error.get("duration"))),
    )


def _seconds(value: Any) -> float | None:
    """A stored duration as a float of seconds, or None for anything but a finite
    number (an objective's own ``duration`` key may hold anything)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _losses(result: Mapping[str, Any]) -> tuple[float | None, tuple[float, ...] | None]:
    """(single loss, loss vector of 2+ losses) of a successful result, as the driver
    reads them (:func:`~hpo_service.objective._result.loss_of`, ``losses_of``); a
    NaN or an unreadable loss counts as none."""
    try:
        loss = loss_of(result)
    except (TypeError, ValueError):
        return None, None
    if loss is not None:
        return loss, None
    vector = losses_of(result)
    return None, (tuple(vector) if vector is not None and len(vector) > 1 else None)


def _pruned_loss(
    result: Mapping[str, Any], intermediate: Mapping[int, float]
) -> float | None:
    """A pruned trial's loss: its result's ``loss`` (the worker stores the last value
    reported), else its last intermediate value; None when neither is a number."""
    for value in (result.get("loss"), intermediate.get(max(intermediate, default=-1))):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and not math.isnan(value):
            return float(value)
    return None


def _violation(result: Mapping[str, Any]) -> float:
    try:
        return violation_of(result)
    except (TypeError, ValueError):
        return 0.0


def _first_line(message: Any) -> str | None:
    if message is None:
        return None
    text = str(message).strip()
    return text.splitlines()[0][:300] if text else ""


class StudyData:
    """The trials of one study, by tid, with what plots need about its parameters.

    Args:
        name: The study name.
        params: The parameters, or None to infer them from the values seen.
        settings: The study's settings (as stored), for objective names and budget.
    """

    def __init__(
        self,
        name: str,
        params: list[ParamInfo] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.settings = dict(settings or {})
        self._params = params
        self.rows: dict[int, TrialRow] = {}
        self.cursor = 0
        #: The store's clock when it was last read (epoch seconds), which running
        #: trials are drawn up to; None for a study not read from a store.
        self.read_at: float | None = None
        self._cache: dict[str, Any] = {}  # derived from rows; emptied by apply

    @property
    def max_evals(self) -> int | None:
        """The study's trial budget; None when it has none."""
        return budget_of(self.settings)

    @classmethod
    def from_store(cls, store: BaseTrialStore, study: str) -> StudyData:
        """Read every trial of ``study`` (one ``changes_since(study, 0)`` call).

        Raises:
            StudyNotFoundError: No such study.
        """
        data = cls.for_study(store.get_study(study))
        data.refresh(store)
        return data

    @classmethod
    def for_study(cls, study: Study) -> StudyData:
        """An empty :class:`StudyData` for a stored study (fill it with refresh)."""
        document = study.settings.get("space")
        params = None
        if isinstance(document, Mapping):
            try:
                params = params_from_space_document(document)
            except Exception:  # a space of a newer version: infer from the values
                _logger.warning("cannot read the space of study %r", study.name)
        return cls(study.name, params, study.settings)

    def refresh(self, store: BaseTrialStore) -> int:
        """Apply the trials changed since the last refresh; return how many."""
        self.read_at = store.now()
        trials, self.cursor = store.changes_since(self.name, self.cursor)
        self.apply(row_from_trial(t) for t in trials)
        return len(trials)

    @classmethod
    def from_trials(cls, trials: TrialsView, name: str = "trials") -> StudyData:
        """Convert a hyperopt-style ``Trials`` (or a ``StoreTrials``), error trials
        included (from ``_dynamic_trials``, as in a store).

        A ``StoreTrials`` is read from its store, with its space; an in-memory
        ``Trials`` has no space, so choices show as their indices (its objective
        names, ``Trials(objectives=...)``, label the objectives).
        """
        store = getattr(trials, "store", None)
        if store is not None and hasattr(trials, "study"):
            return cls.from_store(store, trials.study)
        names = getattr(trials, "objective_names", None)
        data = cls(name, settings={"objective_names": names} if names else None)
        # Every trial, as a store gives them: error trials are outside .trials.
        docs = getattr(trials, "_dynamic_trials", None) or trials.trials
        data.apply(_row_from_doc(doc) for doc in docs)
        return data

    def apply(self, rows: Iterable[TrialRow]) -> None:
        """Insert or replace rows by tid (idempotent).

        Rows reach the study only through here: what is derived from them (the tid
        order, inferred parameters, the parameter matrix: :meth:`derived`) is
        cached until the next call. In a multi-objective study every pruned row's
        ``loss`` becomes None (see :class:`TrialRow`).
        """
        for row in rows:
            self.rows[row.tid] = row
        self._cache.clear()
        if self.n_objectives > 1:  # also for rows applied before the count was known
            for row in self.rows.values():
                if row.state == "pruned":
                    row.loss = None

    def derived(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, computed once per version of the rows (until the next
        :meth:`apply`) and kept under ``key``: what several figures or notes need
        of the same rows (the contour's pair, the parameter matrix) is computed
        once."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    @property
    def has_space(self) -> bool:
        """Whether the parameters come from the study's stored space (else they are
        inferred from the values: :func:`~hpo_service.insight._params.infer_params`,
        every number on a linear scale)."""
        return self._params is not None

    @property
    def params(self) -> list[ParamInfo]:
        """The study's parameters (from the space, or inferred from the values)."""
        if self._params is None:
            return self.derived(
                "params", lambda: infer_params(r.params for r in self.sorted_rows())
            )
        return self._params

    def sorted_rows(self) -> list[TrialRow]:
        """The rows ordered by tid (a new list; the rows themselves are shared)."""
        ordered = self.derived(
            "sorted", lambda: [self.rows[tid] for tid in sorted(self.rows)]
        )
        return list(ordered)

    def pruning(self) -> PruningLadder | None:
        """What the study's pruner did, per rung or per step (see
        :func:`~hpo_service.algorithms.pruners._ladder.pruning_ladder`); None
        without a pruner that stops trials (or a study not read from a store). Its
        advice names settings as the study's latest start took them: ``fmin``'s
        keyword arguments or ``hpo-driver start``'s flags (``started_by``)."""
        pruner = self.settings.get("pruner")
        if pruner in (None, "none"):
            return None
        return self.derived(
            "pruning",
            lambda: pruning_ladder(
                pruner,
                self.settings.get("pruner_settings"),
                ((r.tid, r.state, r.last_step) for r in self.rows.values()),
                python=started_in_python(self.settings),
            ),
        )

    def counts(self) -> dict[str, int]:
        """Number of trials per state (states absent from the study are omitted)."""
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[row.state] = counts.get(row.state, 0) + 1
        return counts

    def unscored_done(self) -> int:
        """Done trials without a loss (their objective returned ``STATUS_FAIL``):
        ``counts()["done"]`` holds them, but no figure, importance or contour can
        use them."""
        return sum(r.state == "done" and r.score is None for r in self.rows.values())

    @property
    def n_objectives(self) -> int:
        """The study's number of objectives: its ``n_objectives`` setting (stored by
        the driver), else the length of the first loss vector seen, else 1."""
        stored = self.settings.get("n_objectives")
        if isinstance(stored, int) and stored >= 1:
            return stored
        for row in self.rows.values():
            if row.losses is not None:
                return len(row.losses)
        return 1

    @property
    def objective_names(self) -> list[str]:
        """The ``objective_names`` setting (``hpo-driver start --objectives``), else
        ``loss`` or ``loss.0``, ``loss.1``... (as ``hpo-driver best`` and the
        exports' ``objective.loss.0`` columns name them)."""
        n = self.n_objectives
        names = self.settings.get("objective_names")
        if isinstance(names, (list, tuple)) and len(names) == n:
            return [str(x) for x in names]
        return ["loss"] if n == 1 else default_names(n)

    def infeasible_count(self) -> int:
        """``done`` trials that break a constraint (a positive ``constraints``
        value), as ``hpo-driver status`` counts them."""
        return sum(
            1 for r in self.rows.values() if r.state == "done" and r.violation > 0
        )

    def failed_count(self) -> int:
        """``done`` trials whose objective returned status ``fail``, as ``hpo-driver
        status`` counts them."""
        return sum(
            1
            for r in self.rows.values()
            if r.state == "done" and r.status == STATUS_FAIL
        )

    def outcomes(self) -> dict[str, int]:
        """:meth:`counts` in the words of ``hpo-driver start`` and ``status``:
        ``done`` (status ok) then ``failed`` (status fail; left out when 0, as
        states no trial is in are), the other states as counted.
        """
        counts = dict(sorted(self.counts().items()))
        shown = outcome_counts(counts, self.failed_count())
        return {k: n for k, n in shown.items() if k != FAILED or n}

    def infinite_count(self) -> int:
        """``done`` trials with an infinite loss (or an infinite loss in the vector),
        which the plots, importances and histogram leave out (a result had to be
        finite only from 2026-11-29; a hyperopt ``Trials`` may hold one too)."""
        return sum(
            1
            for r in self.rows.values()
            if r.state == "done"
            and any(math.isinf(v) for v in (r.losses or (r.loss,)) if v is not None)
        )

    def objective_rows(self) -> list[TrialRow]:
        """``done`` trials with one loss per objective (multi-objective), by tid."""
        n = self.n_objectives
        return [
            r
            for r in self.sorted_rows()
            if r.state == "done" and r.losses is not None and len(r.losses) == n
        ]

    def pareto_rows(self) -> list[TrialRow]:
        """The Pareto front ``hpo-driver best`` shows: the feasible
        :meth:`objective_rows` (no positive constraint) that no other feasible one
        dominates, by tid; empty for a single-objective study."""
        rows = [r for r in self.objective_rows() if r.violation <= 0]
        if not rows:
            return []
        front = pareto_front(np.array([r.losses for r in rows], dtype=float))
        return [rows[i] for i in front]

    def best_row(self) -> TrialRow | None:
        """The ``done`` trial with the lowest single-objective loss, feasible first.

        As ``Trials.best_trial``: a trial that violates its constraints is the best
        only while no trial satisfies them (then the least violating one).
        """
        rows = [
            r for r in self.rows.values() if r.loss is not None and r.state == "done"
        ]
        return min(rows, key=lambda r: (r.violation, r.loss, r.tid)) if rows else None

    def param_matrix(
        self, rows: list[TrialRow], params: list[ParamInfo]
    ) -> dict[str, np.ndarray]:
        """``{label: float array}`` over ``rows``: value or choice index, NaN if off.

        Args:
            rows: Rows of this study (any order, any subset).
            params: The parameters wanted (of :attr:`params`).

        Returns:
            One array of ``len(rows)`` floats per label, aligned with ``rows``.
        """
        tids = self.derived(
            "tids", lambda: np.fromiter(sorted(self.rows), int, len(self.rows))
        )
        at = np.searchsorted(tids, np.fromiter((r.tid for r in rows), int, len(rows)))
        return {info.label: self._column(info)[at] for info in params}

    def _column(self, info: ParamInfo) -> np.ndarray:
        """One parameter over every row in tid order (computed once per version)."""
        return self.derived(
            f"column {info!r}", lambda: param_column(info, self.sorted_rows())
        )


def param_column(info: ParamInfo, rows: list[TrialRow]) -> np.ndarray:
    """A parameter's value (or choice index) in each row, NaN where it is inactive."""
    values = [row.params.get(info.label) for row in rows]
    if info.type != "choice" or not info.by_value:
        try:  # plain numbers (the common case) convert in one call
            return np.array([math.nan if v is None else v for v in values], dtype=float)
        except (TypeError, ValueError):
            pass
    return np.array(
        [math.nan if v is None else info.code(v) for v in values], dtype=float
    )


def pareto_front(points: np.ndarray) -> np.ndarray:
    """Indices (ascending) of the non-dominated rows of ``points`` (n x m, minimised).

    A row dominates another when it is no worse in every objective and better in one;
    equal rows do not dominate each other. The multi-objective search's own
    :func:`~hpo_service.algorithms._pareto.pareto_mask` decides (one pass in
    lexicographic order against the front found so far).

    Args:
        points: ``(n, m)`` losses, lower is better in each column; no NaN.

    Returns:
        The indices of the Pareto front, ascending.
    """
    from hpo_service.algorithms._pareto import pareto_mask

    return np.flatnonzero(pareto_mask(points))


def finished_count(counts: Mapping[str, int]) -> int:
    """Trials in a state that counts toward ``max_evals`` (done, error, pruned).

    Args:
        counts: Trials per state value (``"done"``...), as :meth:`StudyData.counts`.
    """
    return sum(counts.get(state.value, 0) for state in COUNTED_STATES)


def _row_from_doc(doc: Mapping[str, Any]) -> TrialRow:
    """Flatten a hyperopt trial dict (``misc.vals``, integer job ``state``)."""
    result = doc.get("result") or {}
    loss, losses = _losses(result)
    vals = (doc.get("misc") or {}).get("vals") or {}
    error = (doc.get("misc") or {}).get("error")
    state = _JOB_STATES.get(doc.get("state"), str(doc.get("state")))
    intermediate = {int(k): v for k, v in (doc.get("intermediate") or {}).items()}
    if state == "done" and result.get("status") == STATUS_PRUNED:  # as in a store
        state, loss = "pruned", _pruned_loss(result, intermediate)
    return TrialRow(
        tid=int(doc["tid"]),
        state=state,
        params={k: v[0] for k, v in vals.items() if v},
        loss=loss,
        losses=losses,
        status=result.get("status"),
        owner=_owner_text(doc.get("owner")),
        started_at=_epoch(doc.get("book_time")),
        finished_at=_epoch(doc.get("refresh_time")),
        error_type=str(error[0]) if error else None,
        error_message=_first_line(error[1]) if error else None,
        intermediate=intermediate,
        violation=_violation(result),
        duration=_seconds(result.get("duration")),
    )


def _owner_text(owner: Any) -> str | None:
    if owner is None:
        return None
    if isinstance(owner, (list, tuple)):
        return ":".join(str(o) for o in owner)
    return str(owner)


def _epoch(value: Any) -> float | None:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return None
