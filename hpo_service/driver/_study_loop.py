"""The study loop: keep the queue filled with suggestions until the study is complete.

The driver holds no state of its own that matters: it rebuilds everything from the
store on start (a resume is the same code path as a fresh start), so a killed driver is
simply started again.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpo_service.algorithms import resolve
from hpo_service.algorithms._pareto import ParetoArchive
from hpo_service.driver._progress import Progress
from hpo_service.driver._queue import QueuePolicy
from hpo_service.driver._serial import check_loss_threshold
from hpo_service.driver._settings import (
    COUNTED_STATES,
    StudySettings,
    record_objective_count,
)
from hpo_service.driver._suggest import Suggester
from hpo_service.exceptions import DriverLeaseError, SearchExhausted
from hpo_service.objective._result import best_key, loss_of, losses_of, violation_of
from hpo_service.store import BaseTrialStore, Trial, TrialState

_logger = logging.getLogger(__name__)

_FINISHED = COUNTED_STATES
_PENDING = (TrialState.NEW, TrialState.RUNNING)
_CANCEL_CHECK_SECONDS = 2.0
_MAX_SUGGESTIONS_PER_POLL = 32


@dataclass(frozen=True)
class DriverOptions:
    """How the driver behaves (not part of the study).

    Attributes:
        owner: Driver id used for the study's driver lease.
        lease_seconds: Length of the driver lease; renewed every third of it.
        min_poll: Shortest pause between store polls, seconds.
        max_poll: Longest pause when nothing changes, seconds.
        progress: Show a progress bar (or log lines when not on a terminal).
        local_workers: Workers this process started (counted for the queue depth).
    """

    owner: str = field(default_factory=lambda: default_owner("driver"))
    lease_seconds: float = 30.0
    min_poll: float = 0.02
    max_poll: float = 0.5
    progress: bool = True
    local_workers: int = 0


@dataclass
class StudyOutcome:
    """How a driver run ended."""

    reason: str
    counts: dict[TrialState, int]
    best: Trial | None


def default_owner(kind: str) -> str:
    """A readable unique id: ``kind@host:pid:random``."""
    return f"{kind}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _is_dead_local_process(owner: str | None) -> bool:
    """Whether ``owner`` (from :func:`default_owner`) names a dead process on this host.

    A driver killed with SIGKILL leaves its lease behind; on the same machine we can
    tell that it is gone instead of waiting for the lease to expire.
    """
    try:
        host, pid, _ = owner.split("@", 1)[1].rsplit(":", 2)  # type: ignore[union-attr]
        if host != socket.gethostname():
            return False
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (AttributeError, IndexError, ValueError, PermissionError):
        return False
    return False


class Driver:
    """Runs one study to completion against a store."""

    def __init__(
        self,
        store: BaseTrialStore,
        name: str,
        settings: StudySettings,
        space: Any,
        *,
        options: DriverOptions | None = None,
        should_stop: Callable[[], str | None] | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.settings = settings
        self.options = options or DriverOptions()
        self._should_stop = should_stop
        algorithm = resolve(settings.algorithm, settings.algorithm_settings)
        self._suggester = Suggester(space, algorithm)
        self._states: dict[int, TrialState] = {}
        self._counts = dict.fromkeys(TrialState, 0)
        self._pending: dict[int, Trial] = {}
        self._cursor = 0
        self._best: Trial | None = None  # several objectives: newest on the front
        self._front = ParetoArchive()
        self._last_improvement = 0
        self._stop_reason: str | None = None
        self._started = time.monotonic()
        self._last_done: dict[str, float] = {}
        self._cancelled = False
        self._exhausted = False  # the algorithm has no new point left (grid)
        self._queue_policy = QueuePolicy(self.options.local_workers)
        self._replaying = True  # the first read replays what finished before this run

    # ---- public ------------------------------------------------------------------

    def run(self) -> StudyOutcome:
        """Drive the study until it completes or a stop rule fires.

        Raises:
            DriverLeaseError: Another live driver runs this study.
        """
        check_loss_threshold(self.settings.loss_threshold, self.settings.n_objectives)
        self._housekeeping()  # takes the driver lease first, then requeues dead ones
        self._started = time.monotonic()
        total = self.settings.max_evals
        progress = Progress(
            total if total < sys.maxsize else None, enabled=self.options.progress
        )
        try:
            reason = self._loop(progress)
        finally:
            progress.close()
            self.store.release_driver_lease(self.name, self.options.owner)
        return StudyOutcome(reason, self.counts(), self._best)

    def counts(self) -> dict[TrialState, int]:
        """Trials in each state, as last read from the store."""
        return dict(self._counts)

    # ---- the loop ------------------------------------------------------------------

    def _loop(self, progress: Progress) -> str:
        pause = self.options.min_poll
        while True:
            self._housekeeping()
            changed = self._read_changes()
            self._show(progress)
            if self._stop_reason is None:
                self._stop_reason = self._check_stop_rules()
            if self._stop_reason is not None:
                if self._drain():
                    return self._stop_reason
            elif self._complete():
                return "exhausted" if self._exhausted else "max_evals"
            else:
                inserted = self._fill_queue()
                if inserted == _MAX_SUGGESTIONS_PER_POLL:
                    continue  # the queue is still short: fill it before pausing
                changed |= inserted > 0
            pause = self._next_pause(pause, changed)
            time.sleep(pause)

    def _show(self, progress: Progress) -> None:
        several = (self.settings.n_objectives or 1) > 1
        progress.update(
            self._n_finished(),
            self._best_loss(),
            pruned=self._counts[TrialState.PRUNED],
            front=len(self._front.points) if several else None,
            feasible=self._best_is_feasible(),
        )

    def _next_pause(self, pause: float, changed: bool) -> float:
        """Poll fast while anything changes or runs; back off while all is quiet."""
        if changed or self._counts[TrialState.RUNNING] > 0:
            return self.options.min_poll
        return min(pause * 1.5, self.options.max_poll)

    def _housekeeping(self) -> None:
        if self._due("lease", self.options.lease_seconds / 3):
            self._renew_driver_lease()
        if self._due("requeue", min(1.0, self.settings.lease_seconds / 4)):
            self._requeue_expired()

    def _due(self, what: str, interval: float) -> bool:
        """Whether ``interval`` seconds passed since ``what`` was last due."""
        now = time.monotonic()
        if now - self._last_done.get(what, -float("inf")) < interval:
            return False
        self._last_done[what] = now
        return True

    def _requeue_expired(self) -> None:
        report = self.store.requeue_expired(
            max_attempts=self.settings.max_attempts, study=self.name
        )
        for study, tid in report.requeued:
            _logger.warning("study %r: trial %s lease expired, requeued", study, tid)
        for study, tid in report.failed:
            _logger.error(
                "study %r: trial %s quarantined after %s attempts",
                study,
                tid,
                self.settings.max_attempts,
            )

    def _renew_driver_lease(self) -> None:
        owner, seconds = self.options.owner, self.options.lease_seconds
        if self.store.acquire_driver_lease(self.name, owner, seconds):
            return
        study = self.store.get_study(self.name)
        holder, expires = study.driver_owner, study.driver_lease_expires_at
        if holder is None or expires is None or _is_dead_local_process(holder):
            if holder is not None:
                _logger.warning("taking over from dead driver %s", holder)
                self.store.release_driver_lease(self.name, holder)
            if self.store.acquire_driver_lease(self.name, owner, seconds):
                return
            study = self.store.get_study(self.name)
            holder, expires = study.driver_owner, study.driver_lease_expires_at
        left = "?" if expires is None else f"{expires - self.store.now():.0f}"
        raise DriverLeaseError(
            f"study {self.name!r} is driven by {holder} (lease expires in {left} s); "
            "stop that driver first, or wait for its lease to expire"
        )

    def _read_changes(self) -> bool:
        changes, self._cursor = self.store.changes_since(self.name, self._cursor)
        for trial in changes:
            self._apply(trial)
        self._replaying = False
        return bool(changes)

    def _apply(self, trial: Trial) -> None:
        previous = self._states.get(trial.tid)
        if previous is not None:
            self._counts[previous] -= 1
        self._states[trial.tid] = trial.state
        self._counts[trial.state] += 1
        if trial.state in _PENDING:
            self._pending[trial.tid] = trial
            return
        self._pending.pop(trial.tid, None)
        if trial.state == TrialState.CANCELLED and self._stop_reason is None:
            self._last_done.pop("cancel", None)  # cancelled by someone: look now
        if trial.state not in _FINISHED or previous in _FINISHED:
            return
        if not self._replaying:
            self._queue_policy.completions.count()
        result = trial.result if trial.state != TrialState.ERROR else None
        self._suggester.observe(trial.params, result)
        losses = None if result is None else losses_of(result)
        if losses is None:
            return
        count = self._note_objective_count(len(losses))
        if count > 1:
            self._note_front(trial, losses)
        elif len(losses) == 1 and self._improves(trial):
            self._best = trial
            if self._best_is_feasible():  # as on the front: infeasible never improves
                self._last_improvement = self._n_finished()

    def _improves(self, trial: Trial) -> bool:
        """Whether a single-objective trial beats the best so far (feasible first)."""
        if self._best is None:
            return True
        mine, best = best_key(trial.result), best_key(self._best.result)
        return mine is not None and (best is None or mine < best)

    def _note_front(self, trial: Trial, losses: list[float]) -> None:
        """Several objectives: a trial improves the study when it joins the front."""
        feasible = violation_of(trial.result or {}) <= 0
        right_count = len(losses) == self.settings.n_objectives
        if right_count and feasible and self._front.add(losses):
            self._best = trial
            self._last_improvement = self._n_finished()

    def _note_objective_count(self, count: int) -> int:
        """Record the study's number of objectives from its first result; return it.

        Raises:
            MultiObjectiveError: The study has a loss threshold and several objectives.
        """
        if self.settings.n_objectives is not None:
            return self.settings.n_objectives
        count = record_objective_count(self.store, self.name, count)
        self.settings = dataclasses.replace(self.settings, n_objectives=count)
        check_loss_threshold(self.settings.loss_threshold, count)
        return count

    # ---- decisions -----------------------------------------------------------------

    def _check_stop_rules(self) -> str | None:
        s = self.settings
        if self._due("cancel", _CANCEL_CHECK_SECONDS):
            study = self.store.get_study(self.name)
            self._cancelled = bool(study.settings.get("cancelled"))
        if self._cancelled:
            return "cancelled"
        best = self._best_loss()
        if (
            s.loss_threshold is not None
            and best is not None
            and self._best_is_feasible()
            and best <= s.loss_threshold
        ):
            return "loss_threshold"
        if s.timeout is not None and time.monotonic() - self._started >= s.timeout:
            return "timeout"
        stale = self._n_finished() - self._last_improvement
        if s.no_improvement is not None and self._best and stale >= s.no_improvement:
            return "no_improvement"
        if self._should_stop is not None:
            return self._should_stop()
        return None

    def _complete(self) -> bool:
        done = self._exhausted or self._n_finished() >= self.settings.max_evals
        return done and not self._pending

    def _drain(self) -> bool:
        """Cancel queued trials after a stop rule; True once nothing runs any more."""
        queued = [t.tid for t in self._pending.values() if t.state == TrialState.NEW]
        if queued:
            self.store.cancel(self.name, queued)
        return self._counts[TrialState.RUNNING] == 0

    def _fill_queue(self) -> int:
        """Queue new suggestions up to the queue depth; return how many."""
        total = self._n_finished() + len(self._pending)
        room = min(
            self._queue_depth() - self._counts[TrialState.NEW],
            self.settings.max_evals - total,
            _MAX_SUGGESTIONS_PER_POLL,
        )
        if room <= 0 or self._exhausted or self._cancelled_while_queue_empty():
            return 0
        pending = [t.params for t in self._pending.values()]
        rng = np.random.default_rng([self.settings.seed or 0, len(self._states)])
        try:
            new = self._suggester.suggest(rng, room, pending)
        except SearchExhausted as e:
            _logger.info("study %r: %s; finishing the running trials", self.name, e)
            self._exhausted = True
            return 0
        self.store.insert_trials(self.name, new)
        return len(new)

    def _cancelled_while_queue_empty(self) -> bool:
        """Whether the study was cancelled, read now if nothing is queued.

        A cancel shows up as cancelled queued trials, which the next read reports; with
        an empty queue there are none, so look at the study itself before queueing.
        """
        if self._counts[TrialState.NEW] == 0:
            study = self.store.get_study(self.name)
            self._cancelled = bool(study.settings.get("cancelled"))
        return self._cancelled

    def _queue_depth(self) -> int:
        """The configured depth, or the automatic one (see :class:`QueuePolicy`)."""
        if self.settings.queue_depth is not None:
            return self.settings.queue_depth
        counts = self._counts
        return self._queue_policy.depth(
            counts[TrialState.RUNNING], counts[TrialState.NEW]
        )

    def _n_finished(self) -> int:
        """Finished trials that count toward ``max_evals`` (done, error, pruned)."""
        return sum(self._counts[state] for state in _FINISHED)

    def _best_loss(self) -> float | None:
        return None if self._best is None else loss_of(self._best.result or {})

    def _best_is_feasible(self) -> bool:
        return self._best is None or violation_of(self._best.result or {}) <= 0
