"""The study loop: keep the queue filled with suggestions until the study is complete.

The driver holds no state of its own that matters: it rebuilds everything from the
store on start (a resume is the same code path as a fresh start), so a killed driver is
simply started again.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from hpo_service._common.idle_clock import IdleClock
from hpo_service._common.processes import certainly_dead, same_process_pid
from hpo_service._common.settings import (
    COUNTED_STATES,
    StudySettings,
    beyond_budget_error,
    record_objective_count,
    stopped_error,
)
from hpo_service._common.space_mark import OldSpaceBest, old_space_best
from hpo_service._common.stop_signals import pause_point
from hpo_service._common.stop_words import setting_said, stop_said
from hpo_service._common.words import counted
from hpo_service.algorithms import resolve
from hpo_service.algorithms._pareto import ParetoArchive
from hpo_service.algorithms.pruners import make_pruner
from hpo_service.algorithms.pruners._ladder import PruningLadder, short_rule
from hpo_service.driver._codes import code_key, describe_codes
from hpo_service.driver._lease import default_owner, holder_text, take_driver_lease
from hpo_service.driver._local_workers import LocalWorkers
from hpo_service.driver._output import study_ladder
from hpo_service.driver._progress import Progress
from hpo_service.driver._queue import QueuePolicy
from hpo_service.driver._serial import check_loss_threshold
from hpo_service.driver._space_errors import configured, error_trial
from hpo_service.driver._suggest import (
    SURVIVOR_WEIGHT,
    Suggester,
    check_storable,
    survivor_weights,
)
from hpo_service.exceptions import (
    DriverLeaseError,
    SearchExhausted,
    SpaceCodeError,
    StoreError,
)
from hpo_service.objective._result import (
    STATUS_FAIL,
    best_key,
    loss_of,
    losses_of,
    violation_of,
)
from hpo_service.store import (
    BaseTrialStore,
    NewTrial,
    RequeueReport,
    Trial,
    TrialState,
)
from hpo_service.store._dead_owners import requeue_dead_owners
from hpo_service.store._faults import StoreFaults, may_pass
from hpo_service.store._summary import RunningTrial

_logger = logging.getLogger(__name__)

_FINISHED = COUNTED_STATES
_PENDING = (TrialState.NEW, TrialState.RUNNING)
_CANCEL_CHECK_SECONDS = 2.0
_MAX_SUGGESTIONS_PER_POLL = 32
_DEAD_CHECK_SECONDS = 1.0  # how often running trials' workers are judged dead
IDLE_WARNING_SECONDS = 10.0
"""How long queued trials wait with no worker claiming any before the driver says
so (``DriverOptions.idle_warning``'s default)."""
_IDLE_WARNING_ENV = "HPO_TEST_IDLE_WARNING_SECONDS"


def _idle_warning() -> float:
    """:data:`IDLE_WARNING_SECONDS`, or a test's shorter wait
    (``HPO_TEST_IDLE_WARNING_SECONDS``): a test of the warning need not wait 10 s."""
    return float(os.environ.get(_IDLE_WARNING_ENV) or IDLE_WARNING_SECONDS)


@dataclass(frozen=True)
class DriverOptions:
    """How the driver behaves (not part of the study).

    Attributes:
        owner: Driver id used for the study's driver lease.
        lease_seconds: Length of the driver lease; renewed every third of it.
        min_poll: Shortest pause between store polls, seconds.
        max_poll: Longest pause when nothing changes, seconds.
        progress: Show a progress bar (or log lines when not on a terminal), or
            hyperopt's progress callback (see ``Progress``).
        local_workers: Workers this process started (counted for the queue depth).
        worker_hint: How to start a worker, said when trials wait with no worker
            (the command in backticks, prose outside them).
        idle_warning: Seconds queued trials may wait with no worker claiming any
            before the driver says so (and again every minute); time the store
            failed does not count (``_common.idle_clock``).
        errors_hint: The command that lists the study's error trials, named in that
            warning when the last finished trials ended in error (the workers may
            have stopped for it: ``--max-consecutive-failures``).
        override_flag: How a refused resume names the override (``--override``
            for ``hpo-driver``, ``override=True`` from Python).
        pruning_counts: Read what the pruner did at the end
            (:attr:`StudyOutcome.pruning`); False when nothing will show it
            (``fmin`` without its progress output), so the run ends without the read.
        in_python: The run is ``fmin``'s: what the pruner did is told in Python's
            words (``max_resource=9``, not ``--max-resource 9``).
        catch_eval_exceptions: A sampled point whose config the space's own code
            cannot make is recorded as an error trial either way; with this the
            driver then goes on (as ``fmin(catch_eval_exceptions=True)``), without
            it :class:`SpaceCodeError` is raised (``hpo-driver start
            --catch-space-errors``).
    """

    owner: str = field(default_factory=lambda: default_owner("driver"))
    lease_seconds: float = 30.0
    min_poll: float = 0.02
    max_poll: float = 0.5
    progress: bool | Callable[..., Any] = True
    local_workers: int = 0
    worker_hint: str = "`hpo-worker --db URL --study NAME`"
    idle_warning: float = field(default_factory=_idle_warning)
    override_flag: str = "override=True"
    errors_hint: str = (
        "`hpo-driver trials --db URL --study NAME --state error --format json`"
    )
    pruning_counts: bool = True
    in_python: bool = False
    catch_eval_exceptions: bool = False


@dataclass
class StudyOutcome:
    """How a driver run ended.

    Attributes:
        reason: Why: ``"max_evals"``, a stop rule, ``"cancelled"``, or the name of
            the signal that interrupted the driver.
        counts: Trials in each state.
        best: The best successful trial, or None.
        failed: ``done`` trials whose objective returned status ``fail``.
        pruning: What the study's pruner did (per rung, or where it pruned), read
            at the end; None without a pruner, when the store could not say, or
            when not asked for (``DriverOptions.pruning_counts``).
        old_space: Set when ``best`` (single objective) ran with a space before
            ``--override`` changed it (by the study's mark): with the best trial
            of the current space; None otherwise.
        said: ``reason`` in the words of how the rule was set (``"--max-evals 4
            reached"``, ``"max_evals=4 reached"`` from ``fmin``:
            :func:`~hpo_service._common.stop_words.stop_said`); None: say
            ``reason``.
    """

    reason: str
    counts: dict[TrialState, int]
    best: Trial | None
    failed: int = 0
    pruning: PruningLadder | None = None
    old_space: OldSpaceBest | None = None
    said: str | None = None


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
        self._pruner = (
            None
            if settings.pruner == "none"
            else make_pruner(settings.pruner, settings.pruner_settings)
        )
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
        self._interrupted: str | None = None
        self._failed = 0
        self._error_streak: tuple[int, dict[str, Any] | None] = (0, None)  # last's
        self._codes: dict[tuple[Any, ...], int] = {}
        self._idle = IdleClock()  # no claim or result seen, store outages aside
        self._exhausted = False  # the algorithm has no new point left (grid)
        self._queue_policy = QueuePolicy(self.options.local_workers)
        self._replaying = True  # the first read replays what finished before this run
        self._held_lease = False  # the lease was ours once: losing it is a takeover
        self._unsure = False  # an insert failed: it may have landed all the same
        self._suggested: set[int] = set()  # tids this run queued itself
        #: Whether :meth:`run` gave the driver lease back (or tried to): until
        #: then the lease ``hpo-driver start`` took is that command's to give back.
        self.lease_given_back = False
        #: Pids of the local workers (``--workers K``) this driver started, so that
        #: messages name them as such (:meth:`attach_local_workers`).
        self.local_pids: Collection[int] = ()

    # ---- public ------------------------------------------------------------------

    def run(self) -> StudyOutcome:
        """Drive the study until it completes or a stop rule fires.

        Raises:
            DriverLeaseError: Another live driver runs this study.
        """
        try:  # the lease is given back however the run ends, even before the loop
            self._check_loss_threshold()
            pause_point("driving")
            self._first_housekeeping()
            reason = self._run_loop()
        finally:
            self._release_driver_lease()
        return StudyOutcome(
            reason,
            self.counts(),
            self._best,
            failed=self._failed,
            pruning=self._pruning_ladder(),
            old_space=self._old_space_best(),
            said=self._said(reason),
        )

    def _said(self, reason: str) -> str:
        """``reason`` in the words of how its rule was set (the flag as typed, or
        ``fmin``'s argument)."""
        return stop_said(reason, self.settings, python=self.options.in_python)

    def _old_space_best(self) -> OldSpaceBest | None:
        """Whether the best trial ran with the space before ``--override``, by
        the study's mark (:mod:`hpo_service._common.space_mark`), with the best
        trial of the current space; None when it did not, with several
        objectives, or when the store cannot say at the end."""
        best = self._best
        if best is None or isinstance((best.result or {}).get("loss"), list):
            return None
        try:
            return old_space_best(self.store, self.name, self.settings.to_dict(), best)
        except (ConnectionError, StoreError) as e:
            _logger.debug("study %r: best of the current space not read: %s",
                          self.name, e)  # fmt: skip
            return None

    def _run_loop(self) -> str:
        """The loop under its progress display; returns why it stopped."""
        self._started = time.monotonic()
        total = self.settings.max_evals
        progress = Progress(
            total if total < sys.maxsize else None,
            enabled=self.options.progress,
            pruning=short_rule(self.settings.pruner, self.settings.pruner_settings),
        )
        try:
            reason = self._loop(progress)
        except BaseException:
            progress.close(last_line=False)  # its counts may be stale: the error says
            raise
        # a stop by signal says how far the study got once its trials settle;
        # fmin's end line says why it stopped (hpo-driver start's last line does)
        why = self._said(reason) if self.options.in_python else None
        progress.close(last_line=self._interrupted is None, why=why)
        return reason

    def _first_housekeeping(self) -> None:
        """Take the driver lease, then requeue dead leases, before anything else;
        ride out store failures that may pass as the loop does (before, such a
        failure here ended the driver with exit 1, where the same failure a poll
        later was waited out). Returns early when the driver is interrupted."""
        faults = StoreFaults(f"study {self.name!r}", "run the study", _logger)
        while self._interrupted is None:
            try:
                with faults.trying():
                    self._housekeeping()
            except (ConnectionError, StoreError) as e:
                self._last_done.pop("lease", None)  # both again at the next try
                self._last_done.pop("requeue", None)
                self._sleep(faults.failed(e))  # raises what cannot pass
                continue
            faults.cleared()
            return

    def _pruning_ladder(self) -> PruningLadder | None:
        """What the pruner did, read once at the end (None if the store fails, or
        when nothing shows it: not asked for, or a run stopped by a signal, which
        ends with a command to resume instead, and whose store may be the reason
        it was stopped: a read would then wait out the store's retries first)."""
        if not self.options.pruning_counts or self._interrupted is not None:
            return None
        try:
            return study_ladder(
                self.store,
                self.name,
                self.settings.pruner,
                self.settings.pruner_settings,
                python=self.options.in_python,
            )
        except (ConnectionError, StoreError) as e:
            _logger.debug("study %r: pruning counts not read: %s", self.name, e)
            return None

    def _release_driver_lease(self) -> None:
        """Give the lease back; if the store refuses, say when it frees itself."""
        self.lease_given_back = True
        try:
            self.store.release_driver_lease(self.name, self.options.owner)
        except (ConnectionError, StoreError) as e:
            if not may_pass(e):  # the store is gone: nothing holds the lease
                return
            _logger.warning(
                "study %r: could not release the driver lease (%s); the next "
                "`hpo-driver start` takes it over once it expires (%g s at most)",
                self.name, e, self.options.lease_seconds,
            )  # fmt: skip

    def interrupt(self, reason: str) -> None:
        """Stop at the next poll, leaving queued trials for a resume (safe from a
        signal handler: it only sets a flag). ``run`` then returns ``reason``.
        """
        self._interrupted = reason

    def attach_local_workers(self, local: LocalWorkers) -> None:
        """Be told when one of ``local``'s workers is killed (its trial is requeued
        at once: :meth:`requeue_dead_worker`), and name its workers as local ones."""
        local.on_dead = self.requeue_dead_worker
        self.local_pids = local.started_pids

    def requeue_dead_worker(self, pid: int) -> None:
        """Requeue at once the running trials of a local worker process known dead.

        Called for a local worker (``--workers K``) that was killed: this process
        started and reaped it, so the trials its id names (its pid, in this pid
        namespace: see :func:`~hpo_service._common.processes.same_process_pid`)
        are requeued from a fresh read, with any other certainly dead owner's.
        """
        running = self.store.running_trials(self.name)
        self._requeue_dead(
            running,
            lambda owner: same_process_pid(owner, pid) or certainly_dead(owner),
        )

    def _requeue_dead(
        self, running: list[RunningTrial], is_dead: Callable[[str | None], bool]
    ) -> None:
        """Requeue the trials of ``running`` whose worker ``is_dead``, saying so."""
        dead, report = requeue_dead_owners(
            self.store, self.name, running,
            max_attempts=self.settings.max_attempts, is_dead=is_dead,
        )  # fmt: skip
        if report is not None:
            why = {
                t.tid: f"requeued at once: its worker {self._whose(t.owner)} died"
                for t in dead
            }
            self._said_requeued(report, why)

    def _whose(self, owner: str | None) -> str:
        """A worker's name in a message: ``(local worker PID)`` for one this driver
        started (:attr:`local_pids`), else its id."""
        for pid in self.local_pids:
            if same_process_pid(owner, pid):
                return f"(local worker {pid})"
        return str(owner)

    def counts(self) -> dict[TrialState, int]:
        """Trials in each state, as last read from the store."""
        return dict(self._counts)

    # ---- the loop ------------------------------------------------------------------

    def _loop(self, progress: Progress) -> str:
        """Poll until the study ends; ride out store failures that may pass (a full
        disk, a lock, a lost connection), as the workers do."""
        pause = self.options.min_poll
        faults = StoreFaults(f"study {self.name!r}", "run the study", _logger)
        while self._interrupted is None:
            try:
                with faults.trying():
                    ended, changed, again = self._poll(progress)
            except (ConnectionError, StoreError) as e:
                self._sleep(faults.failed(e))  # raises what cannot pass
                continue
            faults.cleared()
            if ended is not None:
                return ended
            if not again:  # else the queue is still short: fill it before pausing
                pause = self._next_pause(pause, changed)
                time.sleep(pause)
        return self._interrupted or "interrupted"

    def _poll(self, progress: Progress) -> tuple[str | None, bool, bool]:
        """One round of the loop.

        Returns:
            Why the study ended (None while it runs), whether anything changed, and
            whether to poll again at once (the queue is still short).
        """
        self._housekeeping()
        changed = self._read_changes()
        if self._due("dead", _DEAD_CHECK_SECONDS):
            self._requeue_dead_owners()
        self._show(progress)
        if self._stop_reason is None:
            self._stop_reason = self._check_stop_rules()
        if self._stop_reason is None and self._over_budget():
            self._stop_reason = "max_evals"
        if self._stop_reason is not None:
            return (self._stop_reason if self._drain() else None), changed, False
        self._trim_queue()
        if self._complete():
            return ("exhausted" if self._exhausted else "max_evals"), changed, False
        inserted = self._fill_queue()
        return None, changed or inserted > 0, inserted == _MAX_SUGGESTIONS_PER_POLL

    def _sleep(self, seconds: float) -> None:
        """Sleep, waking early when the driver is interrupted."""
        deadline = time.monotonic() + seconds
        while self._interrupted is None and time.monotonic() < deadline:
            time.sleep(min(0.1, max(deadline - time.monotonic(), 0.0)))

    def _show(self, progress: Progress) -> None:
        several = (self.settings.n_objectives or 1) > 1
        progress.update(
            self._n_finished(),
            self._best_loss(),
            pruned=self._counts[TrialState.PRUNED],
            errors=self._counts[TrialState.ERROR],
            front=self._front.size if several else None,
            feasible=self._best_is_feasible(),
            failed=self._failed,
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
        self._warn_if_no_workers()

    def _note_code(self, trial: Trial) -> None:
        """Warn when the study's trials are run by more than one version of the code.

        Workers started from different checkouts (or with an edited objective module)
        would otherwise silently serve one study with different code.
        """
        identity = code_key(trial.code)
        if identity is None or identity in self._codes:
            return
        self._codes[identity] = trial.tid
        if len(self._codes) > 1:
            notes = {k: f"first in trial {t}" for k, t in self._codes.items()}
            _logger.warning(
                "study %r is run by %d different versions of the objective's code: "
                "%s; compare the workers' code (`hpo-driver trials --format json` "
                "shows each trial's)",
                self.name,
                len(self._codes),
                describe_codes(notes),
            )  # fmt: skip

    def _note_activity(self) -> None:
        self._idle.restart()
        self._last_done.pop("idle_warning", None)

    def _warn_if_no_workers(self) -> None:
        """Say so when trials wait and no worker has claimed or finished any."""
        queued = self._counts[TrialState.NEW]
        if not queued or self._counts[TrialState.RUNNING]:
            return
        idle = self._idle.seconds()  # the time the store failed does not count
        if idle < self.options.idle_warning or not self._due("idle_warning", 60.0):
            return
        hint = f"start one with {self.options.worker_hint}"
        if self.options.local_workers:
            hint = (
                f"the {self.options.local_workers} local workers may still be "
                f"starting (their errors, if any, are above); or {hint}"
            )
        _logger.warning(
            "study %r: %s queued and no worker has taken one for %.0f s: "
            "waiting for workers; %s%s",
            self.name, counted(queued, "trial"), idle, hint, self._errors_note(),
        )  # fmt: skip

    def _errors_note(self) -> str:
        """Why the workers may have stopped: the last finished trials ended in error
        (workers stop after --max-consecutive-failures of them in a row); "" if the
        last finished trial did not. Error trials no worker ran (a point the space
        raised for, recorded by the driver; an imported one) neither count nor end
        the run of errors: no worker stopped for them."""
        streak, error = self._error_streak
        if not streak:
            return ""
        last = error or {}
        what = f"{last.get('type', 'an error')}: {last.get('message', '')}".strip()
        if len(what) > 200:
            what = what[:199] + "…"
        return (
            f". The last {counted(streak, 'finished trial')} ended in error (the "
            f"last: {what}); workers stop after such errors in a row (hpo-worker "
            "--max-consecutive-failures: 4 with --mongo or --exp-key, as "
            f"hyperopt's): see {self.options.errors_hint}"
        )

    def _due(self, what: str, interval: float) -> bool:
        """Whether ``interval`` seconds passed since ``what`` was last due."""
        now = time.monotonic()
        if now - self._last_done.get(what, -float("inf")) < interval:
            return False
        self._last_done[what] = now
        return True

    def _requeue_expired(self) -> None:
        """Requeue the trials whose lease expired, saying so."""
        report = self.store.requeue_expired(
            max_attempts=self.settings.max_attempts, study=self.name
        )
        self._said_requeued(report)

    def _requeue_dead_owners(self) -> None:
        """Requeue at once the running trials (as last read) whose worker is
        certainly dead (:mod:`hpo_service.store._dead_owners`); cheap when none is:
        a few system calls per distinct worker, no store read."""
        running = [
            RunningTrial.of(t)
            for t in self._pending.values()
            if t.state is TrialState.RUNNING
        ]
        if running:
            self._requeue_dead(running, certainly_dead)

    def _said_requeued(
        self, report: RequeueReport, reasons: dict[int, str] | None = None
    ) -> None:
        """Log what ``requeue_expired`` did; ``reasons``: what to say instead of
        "lease expired, requeued" for some trials (by tid)."""
        for study, tid in report.requeued:
            why = (reasons or {}).get(tid, "lease expired, requeued")
            _logger.warning("study %r: trial %s %s", study, tid, why)
        for study, tid in report.failed:
            _logger.error(
                "study %r: trial %s quarantined after %s attempts",
                study,
                tid,
                self.settings.max_attempts,
            )

    def _renew_driver_lease(self) -> None:
        """Keep the lease; if another driver took it meanwhile, stop, saying so.

        Raises:
            DriverLeaseError: The lease ran out (this process paused, or cut off
                from the store, for longer than it) and another driver holds it.
        """
        try:
            take_driver_lease(
                self.store, self.name, self.options.owner, self.options.lease_seconds
            )
        except DriverLeaseError as refused:
            if not self._held_lease:  # refused from the start: the plain message
                raise
            holder = holder_text(refused.holder)  # as read when the lease was refused
            raise DriverLeaseError(
                f"this driver lost study {self.name!r}: its lease "
                f"({self.options.lease_seconds:g} s) ran out before it could renew "
                f"it (the process was paused, or cut off from the store) and {holder} "
                "took the study over; this driver stops, that one carries on",
                refused.holder,
            ) from None
        self._held_lease = True

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
            if trial.state == TrialState.RUNNING:
                self._note_activity()
            return
        self._pending.pop(trial.tid, None)
        if trial.state == TrialState.CANCELLED and self._stop_reason is None:
            self._last_done.pop("cancel", None)  # cancelled by someone: look now
        if trial.state not in _FINISHED or previous in _FINISHED:
            return
        if not self._replaying:
            self._queue_policy.completions.count()
        self._note_activity()
        self._note_code(trial)
        erred = trial.state == TrialState.ERROR
        if not erred or trial.owner is not None:  # a worker's outcome: its streak
            self._error_streak = (
                (self._error_streak[0] + 1, trial.error) if erred else (0, None)
            )
        if (
            trial.state == TrialState.DONE
            and (trial.result or {}).get("status") == STATUS_FAIL
        ):
            self._failed += 1
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
        self._check_loss_threshold()
        return count

    def _check_loss_threshold(self) -> None:
        """Refuse a loss threshold once the study is known to have several
        objectives, in the words of the caller (``--loss-threshold`` for the CLI)."""
        s = self.settings
        cli = self.options.override_flag.startswith("--")
        check_loss_threshold(s.loss_threshold, s.n_objectives, cli=cli)

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

    def _over_budget(self) -> bool:
        """Whether trials are still queued although ``max_evals`` already finished.

        Only after a resume with a lower ``max_evals``: those trials are cancelled.
        """
        return (
            self._counts[TrialState.NEW] > 0
            and self._n_finished() >= self.settings.max_evals
        )

    def _trim_queue(self) -> None:
        """Cancel the queued trials beyond ``max_evals``, before a worker runs them.

        The driver never queues past the budget itself, but points queued by hand
        (``hpo-driver enqueue``) or a resume with a lower ``max_evals`` can leave
        more trials queued than the budget has room for. The driver's own queued
        suggestions go first (it suggests again if room comes back), then the
        points queued last; workers claim in queue order, so the first ones run.
        """
        excess = self._accounted() - self.settings.max_evals
        queued = [tid for tid, t in self._pending.items() if t.state == TrialState.NEW]
        if excess <= 0 or not queued:
            return
        queued.sort(key=lambda tid: (tid not in self._suggested, -tid))
        surplus = sorted(queued[:excess])
        python = self.options.in_python
        budget = self.settings.max_evals
        why = beyond_budget_error(budget, spent=False, python=python)
        cancelled = self.store.cancel(self.name, surplus, error=why, queued_only=True)
        spared = len(surplus) - cancelled  # claimed since the read: they run on
        if cancelled:
            _logger.warning(
                "study %r: cancelled %s of %s: beyond %s%s",
                self.name, counted(cancelled, "queued trial"), surplus,
                setting_said("max_evals", budget, python=python),
                f" (a worker claimed {spared} meanwhile)" if spared else "",
            )  # fmt: skip
        self._read_changes()

    def _complete(self) -> bool:
        done = self._exhausted or self._n_finished() >= self.settings.max_evals
        return done and not self._pending

    def _drain(self) -> bool:
        """Cancel queued trials after a stop rule; True once nothing runs any more.

        Only trials still queued when the cancel lands: one a worker claimed since
        the last read runs to its end and counts, as the trials running already do.
        """
        queued = [t.tid for t in self._pending.values() if t.state == TrialState.NEW]
        if queued:
            why = stopped_error(self._said(self._stop_reason or "stopped"))
            self.store.cancel(self.name, queued, error=why, queued_only=True)
            self._read_changes()  # the outcome counts them as cancelled
        # a trial handed back (or requeued) since is cancelled at the next poll
        return not self._pending

    def _fill_queue(self) -> int:
        """Queue new suggestions up to the queue depth; return how many."""
        total = self._accounted()
        room = min(
            self._queue_depth() - self._counts[TrialState.NEW],
            self.settings.max_evals - total,
            _MAX_SUGGESTIONS_PER_POLL,
        )
        if room <= 0 or self._exhausted or self._cancelled_now():
            return 0
        pending, weights = self._liars()
        seed, start = self.settings.seed or 0, len(self._states)
        try:
            points = self._suggester.numbered_params(
                seed, start, room, pending, weights
            )
        except SearchExhausted as e:
            _logger.info("study %r: %s; finishing the running trials", self.name, e)
            self._exhausted = True
            return 0
        new, raised = configured(self._suggester, points)
        check_storable(new)  # a clear refusal, not the store's ValueError
        if new:
            self._insert(new)
        if raised:
            self._space_raised(raised)
        return len(new) + len(raised)

    def _space_raised(self, raised: list[SpaceCodeError]) -> None:
        """Record the sampled points the space's own code raised for as error
        trials (as in-process ``fmin`` does; :mod:`._space_errors`), then go on
        with ``catch_eval_exceptions``, else raise the first error.

        Raises:
            SpaceCodeError: ``raised[0]``, without ``catch_eval_exceptions``.
        """
        trials = [error_trial(e) for e in raised]
        tids = self.store.insert_finished(self.name, trials)
        for tid, trial in zip(tids, trials, strict=True):
            self._apply(
                Trial(self.name, tid, TrialState.ERROR, trial.params, None,
                      error=trial.error)
            )  # fmt: skip
            if self.options.catch_eval_exceptions:
                _logger.warning(
                    "trial %s: SpaceCodeError: %s; recorded as an error",
                    tid, (trial.error or {}).get("message"),
                )  # fmt: skip
        if not self.options.catch_eval_exceptions:
            raise raised[0]

    def _liars(self) -> tuple[list[dict[str, Any]], list[float] | None]:
        """The pending trials' params the algorithm counts as in flight, and their
        liar weights: :data:`SURVIVOR_WEIGHT` for the pruner's survivors (running
        trials it judged and kept), 1 for the others; None when there is no survivor
        (one read of the running trials' reports per batch, only under a pruner)."""
        pending = {tid: t.params for tid, t in self._pending.items()}
        if self._pruner is None or not self._counts[TrialState.RUNNING]:
            return list(pending.values()), None
        reports = self.store.running_intermediate(self.name)
        weights = survivor_weights(pending, reports, self._pruner, SURVIVOR_WEIGHT)
        if all(w == 1.0 for w in weights.values()):
            return list(pending.values()), None
        return list(pending.values()), list(weights.values())

    def _insert(self, new: list[NewTrial]) -> None:
        """Insert a batch and count it at once as queued.

        The driver never waits for the change feed to show its own trials: a batch is
        in the budget from the moment the store acknowledges it. An insert that
        raises may still have landed (its reply was lost): until the counts are
        reconciled (:meth:`_accounted`), the store's own count bounds the budget.
        """
        self._unsure = True
        tids = self.store.insert_trials(self.name, new)
        self._unsure = False
        self._suggested.update(tids)
        for tid, trial in zip(tids, new, strict=True):
            if tid not in self._states:
                self._apply(Trial(self.name, tid, TrialState.NEW, trial.params, None))

    def _accounted(self) -> int:
        """Trials that count against ``max_evals``: finished, queued or running.

        After a failed insert, the larger of the driver's view and the store's count
        (one ``count_by_state`` read per batch until the change feed has caught up):
        a batch whose reply was lost is then counted, never queued a second time. A
        write still in flight when the store gave up (after ``retry_timeout``) and
        landing later is beyond what either can see.
        """
        own = self._n_finished() + len(self._pending)
        if not self._unsure:
            return own
        counts = self.store.count_by_state(self.name)
        stored = sum(counts[state] for state in (*_FINISHED, *_PENDING))
        self._unsure = stored > own
        return max(own, stored)

    def _cancelled_now(self) -> bool:
        """Whether the study was cancelled, read from the store before each batch.

        A cancel shows up in the change feed only as cancelled queued trials, and
        there are none when workers claimed them all first; so the study itself is
        read (one small read per batch) and no batch is queued after a cancel that
        landed before it.

        Raises:
            DriverLeaseError: Another start gave the study another space
                (``--override``) since this driver read it: this driver lost
                the study, and queues no trial of the old space after the first
                tid of the new one (:mod:`hpo_service._common.space_mark`).
        """
        study = self.store.get_study(self.name)
        stored = study.settings.get("space_fingerprint")
        if stored != self.settings.space_fingerprint:
            raise DriverLeaseError(
                f"this driver lost study {self.name!r}: another start changed its "
                "space (--override) meanwhile, so this driver stops before it "
                f"queues a trial of the old space (driver now: "
                f"{study.driver_owner or 'none'})",
                study.driver_owner,
            )
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
