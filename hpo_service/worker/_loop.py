"""The worker's claim loop: claim a trial, run it in the child process, record it."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import random
import shlex
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from hpo_service._common.idle_clock import IdleClock
from hpo_service._common.logs import LABELLED
from hpo_service._common.processes import certainly_dead, namespace_key, owner_id
from hpo_service._common.settings import (
    DEFAULT_LEASE_SECONDS,
    StudySettings,
    beyond_budget_error,
    budget_of,
    cancelled_error,
    counted_finished,
    record_constraint_count,
    record_objective_count,
)
from hpo_service._common.stop_signals import (
    DRAIN_SIGNALS,
    STOP_SIGNALS,
    handling,
    pause_point,
)
from hpo_service._common.stop_words import setting_said
from hpo_service._common.words import counted, did_you_mean
from hpo_service.exceptions import (
    InvalidResultError,
    ObjectiveImportError,
    ObjectiveRefusedError,
    SettingRecordedError,
    StoreAuthorizationError,
    StoreError,
    StudyNotFoundError,
    UnstorableError,
    WorkerError,
)
from hpo_service.objective._result import (
    STATUS_FAIL,
    check_constraint_count,
    check_objective_count,
    constraints_count,
    decode_attachments,
    losses_of,
)
from hpo_service.store._base import (
    BaseTrialStore,
    RequeueReport,
    Study,
    Trial,
    TrialState,
)
from hpo_service.store._cli_option import masked_note, store_command, store_place
from hpo_service.store._dead_owners import requeue_dead_owners
from hpo_service.store._faults import (
    StoreFaults,
    may_pass,
)
from hpo_service.store._outage import Note, process_outage
from hpo_service.store._summary import RunningTrial
from hpo_service.worker._budget import Verdict, budget_verdict
from hpo_service.worker._child import ChildOutcome, ChildRunner
from hpo_service.worker._heartbeat import Heartbeat, Lease
from hpo_service.worker._objective import ATTACHMENTS_KEY
from hpo_service.worker._policy import ObjectivePolicy
from hpo_service.worker._reports import ReportHandler, StudyPruning, study_pruning
from hpo_service.worker._stop_words import stop_said, typed_flag

_logger = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 0.1
"""Seconds between the first polls of an empty queue (the pause then grows x1.5); right
after a trial the worker polls sooner (see ``_QUICK_REPOLL``)."""

_MAX_POLL_INTERVAL = 2.0
_QUICK_REPOLL = 1 / 16
"""A worker fresh from a trial polls an empty queue again after this share of the poll
interval, doubling up to the interval: a driver's refill is often milliseconds away."""
# Why a trial taken back after its lease ran out stops (see _budget.py).
_VERDICT_SAID = {
    "wait": "the running trials take the budget now: handed it back",
    "cancel": "its budget is spent",
    "cancelled": "its study was cancelled",
}
_MAINTENANCE_INTERVAL = 2.0
_MAINTENANCE_AFTER_TRIAL = 0.5
"""Housekeeping runs when the queue empties after a trial, but at most this often
(seconds): its finished-check counts the study's trials, which costs O(study size)."""
_SETTINGS_TTL = 30.0
_SLICE = 0.1
_WARM, _COLD = 1, 2
_MISSING_STUDY_NOTE_SECONDS = 60.0


@dataclass
class WorkerSummary:
    """What a worker did before it stopped.

    Attributes:
        worker_id: The worker's id (the ``owner`` of its trials in the store).
        done: Trials recorded as ``done`` (status ``ok`` or ``fail``).
        status_fail: Of ``done``, those whose objective returned status ``fail``
            (``STATUS_FAIL``), which the end line counts as failed, as the driver's
            does.
        failed: Trials recorded as ``error`` (exception, timeout, crash, bad result).
        pruned: Trials recorded as ``pruned`` (stopped early by the study's pruner).
        released: Trials handed back untouched (import failure, cold stop).
        abandoned: Trials dropped because the attempt stopped being ours (requeued,
            cancelled), its result was refused as stale, or a cold stop ended the
            retries of its outcome's write.
        stop_reason: ``"max_trials"``, ``"idle_timeout"``, ``"study_finished"``,
            ``"max_consecutive_failures"``, ``"last_job_timeout"``, ``"warm_stop"``,
            ``"cold_stop"`` or ``"error"``.
        study_found: Whether the worker's study (``study=``), or for a worker of any
            study some study, existed at some point of the worker's life; the
            ``hpo-worker`` command exits 1 when none was, however the worker stopped
            (its idle timeout, a signal, ``last_job_timeout``).
        failing_studies: The studies of the trials in the current run of errors in
            a row (empty after a trial that did not end in error).
    """

    worker_id: str
    done: int = 0
    failed: int = 0
    released: int = 0
    abandoned: int = 0
    stop_reason: str = ""
    pruned: int = 0
    status_fail: int = 0
    study_found: bool = True
    failing_studies: set[str] = field(default_factory=set)

    @property
    def trials(self) -> int:
        """Trials this worker ran (what ``max_trials`` counts)."""
        return self.done + self.failed + self.pruned + self.abandoned


def _counts_said(s: WorkerSummary) -> str:
    """The trials a worker ran, in the words of the driver's end line: ``"3 done, 1
    failed (status fail), 2 pruned, 1 error, 0 released, 0 abandoned"`` (done
    without the failed ones; pruned only when some were)."""
    pruned = f", {s.pruned} pruned" if s.pruned else ""
    return (
        f"{s.done - s.status_fail} done, {s.status_fail} failed (status fail)"
        f"{pruned}, {s.failed} error, {s.released} released, {s.abandoned} abandoned"
    )


def default_worker_id() -> str:
    """``hostname:pid:short-uuid``, unique across machines and restarts, and on
    Linux ``/NAMESPACE-START``, which tells other processes for certain when this
    one is gone (see :mod:`hpo_service._common.processes`)."""
    return owner_id()


def run_worker(
    store: BaseTrialStore,
    *,
    study: str | None = None,
    max_trials: int | None = None,
    idle_timeout: float | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    worker_id: str | None = None,
    policy: ObjectivePolicy | None = None,
    max_consecutive_failures: int | None = None,
    last_job_timeout: float | None = None,
    workdir: str | None = None,
    show_output: bool = True,
    serve_finished: bool = False,
    db_url: str | None = None,
    owner: str | None = None,
    flags: Mapping[str, str] | None = None,
) -> WorkerSummary:
    """Claim and run trials until a stop condition; see :class:`Worker`.

    Args:
        store: The trials store.
        study: Claim only this study's trials (None: any study's).
        max_trials: Stop after running this many trials.
        idle_timeout: Stop after this many seconds without a trial to run.
        poll_interval: First pause between polls of an empty queue.
        worker_id: A name for the worker (``hpo-worker --worker-id``): its log
            lines show it, and the owner id written on claimed trials starts with
            it, ``NAME/`` then :func:`default_worker_id`, which tells other
            processes when this one is dead. None: the default id alone.
        policy: Which objectives the worker runs (default: any but the standard
            library's); see :class:`ObjectivePolicy`.
        max_consecutive_failures: Stop after this many trials in a row end in error.
        last_job_timeout: Claim no trial after this many seconds of running.
        workdir: Run each trial in its own directory ``workdir/study/tid``.
        show_output: Write what the objective prints to standard error as it
            runs, each line prefixed ``[trial study/tid]``.
        serve_finished: Keep serving ``study`` after it finishes, as hyperopt's
            worker does (a later ``fmin`` on the same exp_key queues more trials):
            only ``idle_timeout`` (or a signal, or a limit) stops the worker.
        db_url: The store's URL as the user gave it, for the commands the
            worker's messages name (masked); None names ``--db URL``.
        owner: The owner id to write on claimed trials, made beforehand by
            :func:`worker_owner` (``hpo-worker`` labels its log lines with it before
            the worker starts); None: made here from ``worker_id``.
        flags: The flag each limit was given with when it is not ``hpo-worker``'s
            own (``{"idle_timeout": "--reserve-timeout"}``), for the line saying
            why the worker stopped.

    Returns:
        What the worker did.

    Raises:
        ObjectiveImportError: The objective could not be imported (the trial was
            handed back untouched).
        ObjectiveRefusedError: ``study``'s objective is not allowed by ``policy``
            (nothing was run; a claimed trial was handed back untouched).
        WorkerError: The objective process could not be started, or a study's settings
            are unusable (the trial was handed back untouched).
        ValueError: An argument is out of range.
    """
    worker = Worker(
        store,
        study=study,
        max_trials=max_trials,
        idle_timeout=idle_timeout,
        poll_interval=poll_interval,
        worker_id=worker_id,
        policy=policy,
        limits=WorkerLimits(
            max_consecutive_failures, last_job_timeout, workdir, serve_finished
        ),
        show_output=show_output,
        db_url=db_url,
        owner=owner,
        flags=flags,
    )
    return worker.run()


def worker_owner(worker_id: str | None) -> tuple[str, str]:
    """A worker's owner id (``NAME/`` then :func:`default_worker_id`, or that
    alone without a name) and the label its log lines show (the name, else the id).

    Args:
        worker_id: The worker's name (``hpo-worker --worker-id``), or None.

    Returns:
        ``(owner id, label)``.
    """
    owner = owner_id(name=worker_id) if worker_id else default_worker_id()
    return owner, worker_id or owner


@dataclass(frozen=True)
class WorkerLimits:
    """hyperopt-mongo-worker's stop rules and per-trial working directories.

    Attributes:
        max_consecutive_failures: Stop after this many trials in a row end in error.
        last_job_timeout: Claim no trial after this many seconds of running.
        workdir: Root of the per-trial working directories ``workdir/study/tid``.
        serve_finished: Do not stop when the worker's study finishes (hyperopt's
            worker waits for more trials until its ``--reserve-timeout``).
    """

    max_consecutive_failures: int | None = None
    last_job_timeout: float | None = None
    workdir: str | None = None
    serve_finished: bool = False

    def reached(self, consecutive_failures: int, started: float) -> str | None:
        """The stop reason a limit gives, or None."""
        most = self.max_consecutive_failures
        if most is not None and consecutive_failures >= most:
            return "max_consecutive_failures"
        last = self.last_job_timeout
        if last is not None and time.monotonic() - started >= last:
            return "last_job_timeout"
        return None

    def trial_dir(self, study: str, tid: int) -> str | None:
        """The (created) working directory of one trial, or None for the worker's."""
        if self.workdir is None:
            return None
        path = os.path.join(os.path.abspath(self.workdir), _safe_name(study), str(tid))
        os.makedirs(path, exist_ok=True)
        return path


def _printer(prefix: str) -> Callable[[str], None]:
    """Writes lines of the objective's output to standard error after ``prefix``."""

    def show(line: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # no stderr (closed, full)
            sys.stderr.write(f"{prefix}{line}\n")
            sys.stderr.flush()

    return show


def _seconds(result: dict[str, Any]) -> str:
    """A result's ``duration`` for the log: the call's time, or the objective's own
    ``duration`` key (which it may have returned, as any other key)."""
    duration = result.get("duration", 0)
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        return f"{duration:.3f} s"
    return f"duration={duration!r:.40}"


def _next_delay(delay: float, poll_interval: float) -> float:
    """The pause after ``delay``: doubling below ``poll_interval``, then x1.5 up to
    2 s (or ``poll_interval`` if that is longer)."""
    if delay < poll_interval:
        return min(2.0 * delay, poll_interval)
    return min(delay * 1.5, max(_MAX_POLL_INTERVAL, poll_interval))


def _until(idle_timeout: float | None, flag: str) -> str:
    """`` for up to 5 s without one (--reserve-timeout)``: how long a worker waits
    for a trial, with the ``flag`` that set it as typed; "" without a limit."""
    if idle_timeout is None:
        return ""
    return f" for up to {idle_timeout:g} s without one ({flag})"


def _safe_name(study: str) -> str:
    """A study name as one path component of its own (``--workdir``).

    Characters other than letters, digits, ``-``, ``_`` and ``.`` become ``_``. A
    name that changed so, or that is only dots (``..`` would leave the workdir),
    gets a short hash of the name: two studies never share a directory.
    """
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in study)
    if safe == study and safe.strip("."):
        return safe
    digest = hashlib.sha256(study.encode()).hexdigest()[:8]
    return f"{safe.replace('.', '_')}-{digest}"


class _UnusableSettings(ValueError):
    """A study's stored settings cannot be read (written by a newer version, or
    edited by hand); only this is skipped by the worker's housekeeping, so a
    programming error there still surfaces."""


class _Prefixed(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The worker's own lines, ``[label] message``; marked :data:`LABELLED` so that
    ``hpo-worker``'s handler (which labels the process's other lines) leaves them."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**kwargs.get("extra", {}), LABELLED: True}
        return f"[{self.extra['worker_id']}] {msg}", kwargs  # type: ignore[index]


class Worker:
    """A stateless worker: claims trials, runs them isolated, records the outcome.

    The objective runs in a child process that is reused across trials; a crash,
    timeout or lost lease kills only that child. Run from the main thread, :meth:`run`
    handles SIGTERM, SIGHUP and SIGINT (those not ignored, as SIGHUP under
    ``nohup``): the first finishes the current trial and stops, the second kills the
    objective and hands the trial back; SIGUSR1 (hyperopt-mongo-worker's) only ever
    finishes the current trial and stops. From elsewhere, call :meth:`request_stop`.

    Args:
        store: The trials store (shared with the heartbeat thread).
        study: Claim only this study's trials (None: any study's).
        max_trials: Stop after running this many trials.
        idle_timeout: Stop after this many seconds without a trial to run.
        poll_interval: First pause between polls of an empty queue; it grows x1.5
            (with jitter) up to 2 s while the queue stays empty.
        worker_id: A name for the worker, as :func:`run_worker`'s.
        limits: hyperopt-mongo-worker's extra stop rules and working directories.
        show_output: Write each line the objective prints to standard error,
            prefixed ``[trial study/tid]``, while it runs (the tail of the output is
            kept with the trial's result or error either way).
        db_url: The store's URL as the user gave it, for the commands the
            worker's messages name (masked); None names ``--db URL``.
        owner: As :func:`run_worker`'s.
        flags: As :func:`run_worker`'s.

    Raises:
        ValueError: An argument is out of range.
    """

    def __init__(
        self,
        store: BaseTrialStore,
        *,
        study: str | None = None,
        max_trials: int | None = None,
        idle_timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        worker_id: str | None = None,
        policy: ObjectivePolicy | None = None,
        limits: WorkerLimits | None = None,
        show_output: bool = True,
        db_url: str | None = None,
        owner: str | None = None,
        flags: Mapping[str, str] | None = None,
    ) -> None:
        _check_args(max_trials, idle_timeout, poll_interval)
        self._show_output = show_output
        self._policy = policy or ObjectivePolicy()
        self._refused: dict[str, str] = {}
        self._limits = limits or WorkerLimits()
        self._consecutive_failures = 0
        self._waiting_since = -1  # trials run when the worker last said it waits
        self.worker_id = owner or worker_owner(worker_id)[0]
        self._store = store
        self._db_url = db_url
        self._study = study
        self._max_trials = max_trials
        self._idle_timeout = idle_timeout
        self._flags = dict(flags or {})
        self._poll_interval = poll_interval
        self._named = bool(worker_id)  # logs show the name, trials get the id
        self._log = _Prefixed(_logger, {"worker_id": worker_id or self.worker_id})
        self._summary = WorkerSummary(self.worker_id, study_found=False)
        self._stop_level = 0
        self._stop_logged = 0
        self._drained = False  # the warm stop came from SIGUSR1, which never aborts
        # study -> (monotonic time read, settings, the stored dict or None)
        self._settings: dict[str, tuple[float, StudySettings, Any]] = {}
        self._claim_lease = DEFAULT_LEASE_SECONDS
        self._next_maintenance = 0.0
        self._last_maintenance = -float("inf")
        self._next_missing_note = 0.0
        self._lease: Lease | None = None
        self._running = False  # a trial's objective is running
        self._child = ChildRunner(log=self._log)
        # the idle loop's store failures, said once its pause is known (_loop)
        self._claim_faults = StoreFaults("worker", "claim trials", self._log)
        self._house_faults = StoreFaults(
            "worker", "requeue dead workers' trials", self._log
        )
        self._unsaid: list[tuple[StoreFaults, BaseException, Note | None]] = []
        self._heartbeat = Heartbeat(
            store, owner=self.worker_id, log=self._log, judge=self._judge_taken_back
        )
        self._pruning: dict[str, tuple[tuple[str, str], StudyPruning]] = {}
        self._study_at_claim: Study | None = None  # read with the last claim

    def request_stop(self, *, cold: bool = False) -> None:
        """Ask the worker to stop (safe from signal handlers and other threads).

        Args:
            cold: Stop at once (kill the objective, hand the trial back) instead of
                after the current trial. A second warm request is a cold one.
        """
        self._stop_level = _COLD if cold else min(self._stop_level + 1, _COLD)

    def run(self) -> WorkerSummary:
        """Work until a stop condition: max trials, idle timeout, study done, signal.

        Returns:
            What the worker did.

        Raises:
            ObjectiveImportError: See :func:`run_worker`.
            WorkerError: See :func:`run_worker`.
            RuntimeError: The worker already ran.
        """
        if self._summary.stop_reason:
            raise RuntimeError("a Worker runs once, but `run` was called again")
        with handling(self._signal_handlers()):
            owner = f", owner id {self.worker_id}" if self._named else ""
            self._log.info("worker started (study=%s%s)", self._study or "any", owner)
            self._summary.stop_reason = "error"
            try:
                self._check_study_once()
                self._child.start()
                self._summary.stop_reason = self._loop()
                self._look_for_study()
            finally:
                self._heartbeat.close()
                self._child.close()
        s = self._summary
        values = {"max_trials": self._max_trials, "idle_timeout": self._idle_timeout,
                  "max_consecutive_failures": self._limits.max_consecutive_failures,
                  "last_job_timeout": self._limits.last_job_timeout}  # fmt: skip
        self._log.info(
            "worker stopped: %s; %s",
            stop_said(s.stop_reason, values, self._flags),
            _counts_said(s),
        )
        return s

    # ---- the loop --------------------------------------------------------------------

    def _loop(self) -> str:
        delay = self._poll_interval
        started = time.monotonic()
        idle = IdleClock()  # since the last trial; a store outage does not count
        while not self._stopping(_WARM):
            if self._summary.trials >= (self._max_trials or float("inf")):
                return self._said_failures("max_trials")
            limit = self._limits.reached(self._consecutive_failures, started)
            if limit is not None:
                return self._said_failures(limit)
            trial = self._claim()
            if trial is not None:
                pause_point("claimed")
            if trial is not None and self._fits_budget(trial):
                self._process(trial)
                delay = self._poll_interval * _QUICK_REPOLL
                idle.restart()
                self._next_maintenance = min(  # housekeeping once the queue empties
                    self._next_maintenance,
                    self._last_maintenance + _MAINTENANCE_AFTER_TRIAL,
                )
                continue
            waited = idle.seconds()
            if self._idle_timeout is not None and waited >= self._idle_timeout:
                return self._said_failures("idle_timeout")
            housekeeping = self._maintain()
            if housekeeping == "finished" and self._stops_when_finished():
                return self._said_failures("study_finished")
            if housekeeping == "requeued":
                self._say_failures(0.0)
                continue
            pause = delay * random.uniform(0.8, 1.2)
            if self._idle_timeout is not None:
                pause = min(pause, self._idle_timeout - waited)
            self._say_failures(pause)  # the delay it says is the one waited
            self._sleep(pause, until=_WARM)
            delay = _next_delay(delay, self._poll_interval)
        return self._said_failures(
            "cold_stop" if self._stop_level >= _COLD else "warm_stop"
        )

    def _say_failures(self, retry: float | str) -> None:
        """Say the store failures of this round of the idle loop (a claim, the
        housekeeping), with when they are tried again: ``retry`` seconds (the
        loop's pause) or words."""
        for faults, error, note in self._unsaid:
            faults.say(error, note, retry)
        self._unsaid.clear()

    def _said_failures(self, reason: str) -> str:
        """``reason``, the loop's end, once this round's store failures are said
        as not tried again."""
        self._say_failures("not retried: the worker stops")
        return reason

    def _stops_when_finished(self) -> bool:
        """Whether the worker stops now that its study finished (not with
        ``serve_finished``: then it says once per finish that it waits for more)."""
        if not self._limits.serve_finished:
            return True
        if self._waiting_since != self._summary.trials:
            self._waiting_since = self._summary.trials
            self._log.info(
                "study %s finished; waiting for more of its trials (--exp-key)%s",
                self._study,
                _until(self._idle_timeout, typed_flag("idle_timeout", self._flags)),
            )  # fmt: skip
        return False

    def _claim(self) -> Trial | None:
        """Claim a trial; None if there is none, or while the store fails (kept
        for :meth:`_loop` to say with the pause it then waits)."""
        try:
            with self._claim_faults.trying():
                trial = self._claim_any()
            self._claim_faults.cleared()
            return trial
        except StudyNotFoundError:
            self._note_missing_study()  # not created yet: keep polling
            return None
        except (ConnectionError, StoreError) as e:
            note = self._claim_faults.noted(e)  # raises what cannot pass
            self._unsaid.append((self._claim_faults, e, note))  # said with the pause
            return None

    def _claim_any(self) -> Trial | None:
        """Claim a trial of the worker's study, or of any study not refused."""
        if self._study is None and self._refused:
            return self._claim_allowed()
        trial = self._claimed(self._study)
        if self._study is not None or trial is not None:
            self._summary.study_found = True  # no StudyNotFoundError: exists
        return trial

    def _claim_allowed(self) -> Trial | None:
        """Claim from the studies whose objective was not refused, oldest first."""
        for study in self._store.list_studies():
            if study.name in self._refused:
                continue
            trial = self._claimed(study.name)
            if trial is not None:
                return trial
        return None

    def _claimed(self, study: str | None) -> Trial | None:
        """Claim a trial of ``study`` (None: any), keeping its study as read with
        the claim for :meth:`_fits_budget` (no read of its own; None when that
        read failed after the claim: the verdict then reads it, retried)."""
        claimed = self._store.claim_with_study(
            self.worker_id, self._claim_lease, study=study
        )
        if claimed is None:
            return None
        trial, self._study_at_claim = claimed
        return trial

    def _fits_budget(self, trial: Trial) -> bool:
        """Whether the claimed trial runs: else it is handed back (it may still fit)
        or cancelled with the study's other queued trials (the budget is spent).
        See :mod:`hpo_service.worker._budget` for the rule and its races."""
        read, self._study_at_claim = self._study_at_claim, None
        at_claim = [read] if read is not None and read.name == trial.study else []
        if at_claim and _verdict_uncounted(at_claim[0]) is not None:
            judged = self._budget_verdict(trial.study, read=at_claim[0])  # no call
        else:  # a count (or a read) to make: retried
            judged = self._retrying(
                f"read the budget of study {trial.study!r}",
                lambda: self._budget_verdict(
                    trial.study, read=at_claim.pop() if at_claim else None
                ),
                claimed=True,
            )
        if judged is None:  # cold stop while the store was unreachable: no verdict,
            self._release(trial, f"{trial.study}/{trial.tid}")  # so it does not run
            return False

        def retried(what: str, fn: Callable[[], Any]) -> Any:
            return self._retrying(what, fn, claimed=True)

        return self._obey(trial.study, trial.tid, trial.token or "", *judged, retried)

    def _judge_taken_back(self, lease: Lease) -> bool:
        """The budget verdict on a trial just taken back after its lease ran out, as
        on a claimed one (the heartbeat's ``judge``; on its thread too, so store
        calls are not retried: a failure leaves the lease ``unjudged``)."""
        verdict, max_evals = self._budget_verdict(lease.study, keep=False)
        if verdict != "run" and (max_evals is not None or verdict == "cancelled"):
            self._log.warning(
                "trial %s/%s: took it back after its lease ran out, but it may not "
                "run on (%s)", lease.study, lease.tid, _VERDICT_SAID[verdict],
            )  # fmt: skip
        return self._obey(
            lease.study, lease.tid, lease.token, verdict, max_evals,
            lambda what, fn: fn(), taken_back=True,
        )  # fmt: skip

    def _obey(
        self,
        study: str,
        tid: int,
        token: str,
        verdict: Verdict | Literal["cancelled"],
        max_evals: int | None,
        call: Callable[[str, Callable[[], Any]], Any],
        *,
        taken_back: bool = False,
    ) -> bool:
        """Act on a budget verdict for the attempt ``token`` at trial ``study/tid``
        (store calls through ``call(what, fn)``); True if it runs. ``taken_back``:
        the trial ran already (taken back after its lease ran out, and said so by
        :meth:`_judge_taken_back`), so the lines of a claimed trial ("not run",
        "queued") are not said of it."""
        name = f"{study}/{tid}"
        if verdict == "cancelled":
            self._cancel_in_cancelled_study(study, tid, call, taken_back=taken_back)
            return False
        if verdict == "run" or max_evals is None:
            return True
        if verdict == "wait":
            self._log.debug("trial %s: the running trials take the budget", name)
            call(
                f"hand back trial {name}",
                lambda: self._store.release(study, tid, token),
            )
            return False
        self._cancel_beyond_budget(study, tid, max_evals, call, taken_back=taken_back)
        return False

    def _budget_verdict(
        self, study: str, *, keep: bool = True, read: Study | None = None
    ) -> tuple[Verdict | Literal["cancelled"], int | None]:
        """:func:`budget_verdict` and the budget, from the study ``read`` with the
        claim, else read now; ``"cancelled"`` for a study `hpo-driver cancel`
        stopped. With ``keep`` (after a claim), the study's settings are kept for
        the trial.

        Counting the trials costs O(study size), so it is skipped when the study
        cannot exceed its budget: it holds at most ``next_tid`` trials.
        """
        record = read if read is not None else self._store.get_study(study)
        if keep:
            self._keep_settings(record)
        uncounted = _verdict_uncounted(record)
        if uncounted is not None:
            return uncounted
        max_evals = budget_of(record.settings)
        return budget_verdict(self._store.count_by_state(study), max_evals), max_evals

    def _cancel_in_cancelled_study(
        self,
        study: str,
        tid: int,
        call: Callable[[str, Callable[[], Any]], Any],
        *,
        taken_back: bool = False,
    ) -> None:
        """Cancel a trial claimed from a study that was cancelled: one queued after
        the cancel (a driver's batch in flight as it landed, or ``hpo-driver
        enqueue``) must not run until the study is started again. A trial
        ``taken_back`` ran already: its warning is said by the caller."""
        why = cancelled_error("hpo-driver cancel", queued_after=True)
        call(
            f"cancel trial {study}/{tid}",
            lambda: self._store.cancel(study, [tid], error=why),
        )
        if taken_back:
            return
        self._log.info(
            "trial %s/%s not run: its study was cancelled (`hpo-driver start` "
            "resumes it)", study, tid,
        )  # fmt: skip

    def _cancel_beyond_budget(
        self,
        study: str,
        tid: int,
        max_evals: int,
        call: Callable[[str, Callable[[], Any]], Any],
        *,
        taken_back: bool = False,
    ) -> None:
        """Cancel the trial and its study's queued trials: the budget is spent
        (named as the study's latest start set it: ``--max-evals 3`` or
        ``max_evals=3``). A trial ``taken_back`` ran already and is not counted
        among the queued ones (its warning is said by the caller)."""
        kept = self._settings.get(study)
        python = kept is not None and kept[1].started_by == "fmin"
        why = beyond_budget_error(max_evals, spent=True, python=python)

        def cancel() -> int:
            queued = self._store.get_tids(study, [TrialState.NEW])
            return self._store.cancel(study, [tid, *queued], error=why)

        count = call(f"cancel trials of study {study!r}", cancel)
        if taken_back:
            if count > 1:
                self._log.warning(
                    "study %s: cancelled %s too: its budget %s is spent; they were "
                    "queued after it finished",
                    study, counted(count - 1, "queued trial"),
                    setting_said("max_evals", max_evals, python=python),
                )  # fmt: skip
            return
        self._log.warning(
            "study %s: cancelled %s (trial %d first): its budget "
            "%s is spent; they were queued after it finished",
            study, counted(count, "queued trial"), tid,
            setting_said("max_evals", max_evals, python=python),
        )  # fmt: skip

    def _process(self, trial: Trial) -> None:
        name = f"{trial.study}/{trial.tid}"
        try:
            settings = self._retrying(
                f"read the settings of study {trial.study!r}",
                lambda: self._settings_for(trial.study),
                claimed=True,
            )
        except _UnusableSettings as e:
            self._release(trial, name)
            raise WorkerError(
                f"study {trial.study!r} has unusable settings: {e}"
            ) from e
        if settings is None:  # cold stop while the store was unreachable
            return
        refusal = self._policy.refusal(settings.objective)
        if refusal is not None:
            self._refuse(trial, name, refusal)
            return
        lease = self._take_lease(trial, settings)
        if lease is None:
            self._log.warning("trial %s was taken away before it started", name)
            self._summary.abandoned += 1
            return
        self._log.debug("trial %s: running %s", name, settings.objective)
        self._running = True
        try:
            reports = self._report_handler(trial, settings, lease)
            outcome = self._child.run(
                settings.objective,
                trial.config,
                workdir=self._limits.trial_dir(trial.study, trial.tid),
                space=settings.space,
                params=trial.params,
                timeout=settings.trial_timeout,
                should_abort=lambda: (
                    lease.lost.is_set()
                    or lease.fatal is not None
                    or self._stopping(_COLD)
                ),
                on_report=reports,
                on_output=_printer(f"[trial {name}] ") if self._show_output else None,
            )
        except WorkerError:  # no objective process: the trial did not run
            self._heartbeat.release()
            self._release(trial, name)
            self._running = False
            raise
        if lease.fatal is not None:
            self._stop_for(trial, name, lease.fatal)
        self._lease = lease  # beats go on while the outcome is written
        try:
            reports.flush(last=True)  # the reports belong before the outcome
            self._settle(trial, name, settings, lease, outcome)
        finally:
            self._heartbeat.release()
            self._lease = None
            self._running = False  # its outcome is written (or handed back)

    def _stop_for(self, trial: Trial, name: str, error: BaseException) -> NoReturn:
        """End the worker on a store error that waiting cannot fix, met while the
        trial ran (a beat, a report, the pruner's read): the objective was stopped;
        the trial is handed back if the store takes it (else it runs again once its
        lease ends).

        Raises:
            BaseException: ``error``.
        """
        self._heartbeat.release()
        self._running = False
        try:
            self._release(trial, name)
        except (ConnectionError, StoreError) as e:
            self._log.warning(
                "trial %s not handed back (%s): it runs again once its lease ends",
                name, _besides(e, error),
            )  # fmt: skip
        raise error

    def _refuse(self, trial: Trial, name: str, refusal: str) -> None:
        """Hand a trial of a refused objective back; stop, or skip its study.

        Raises:
            ObjectiveRefusedError: The worker serves this study only.
        """
        self._release(trial, name)
        message = f"refused study {trial.study!r}: {refusal}"
        if self._study is not None:
            raise ObjectiveRefusedError(message)
        if trial.study not in self._refused:
            self._log.error("%s; its trials are left to other workers", message)
        self._refused[trial.study] = refusal

    def _report_handler(
        self, trial: Trial, settings: StudySettings, lease: Lease
    ) -> ReportHandler:
        """Answers the attempt's reports: store them, ask the study's pruner.

        Raises:
            WorkerError: The study's pruner settings are invalid.
        """
        try:
            pruning = study_pruning(
                self._pruning,
                self._store,
                trial.study,
                settings.pruner,
                settings.pruner_settings,
            )
        except ValueError as e:
            raise WorkerError(
                f"study {trial.study!r} has an unusable pruner: {e}"
            ) from e
        return ReportHandler(
            trial,
            pruning,
            lease,
            lambda what, fn: self._retrying(what, fn),
            self._log,
            take_back=lambda: self._take_back(lease),
            write_last=lambda what, fn: self._retrying(what, fn, lease=lease),
        )

    def _take_lease(self, trial: Trial, settings: StudySettings) -> Lease | None:
        """Switch to the study's lease length if the claim used another; start beats."""
        seconds = float(settings.lease_seconds)
        if seconds != self._claim_lease:
            self._claim_lease = seconds  # the next claim is likely the same study's
            beat = f"the heartbeat of trial {trial.study}/{trial.tid}"
            try:
                with process_outage().doing(beat):
                    alive = self._store.heartbeat(
                        trial.study, trial.tid, trial.token or "", seconds
                    )
            except (ConnectionError, StoreError) as e:  # beaten again in a moment
                if not may_pass(e):
                    raise
                process_outage().say_failed(  # keep_alive beats in a third of it
                    beat, self._log,
                    f"heartbeat of trial {trial.study}/{trial.tid} failed", e,
                    retry=seconds / 3,
                )  # fmt: skip
            else:
                process_outage().say_worked(beat, self._log)
                if not alive:
                    return None
        return self._heartbeat.keep_alive(
            trial.study, trial.tid, trial.token or "", seconds
        )

    def _settle(
        self,
        trial: Trial,
        name: str,
        settings: StudySettings,
        lease: Lease,
        outcome: ChildOutcome,
    ) -> None:
        settings = self._objective_count_known(name, trial.study, settings, outcome)
        settings = self._constraint_count_known(name, trial.study, settings, outcome)
        kind, data = _checked_objective_count(outcome.kind, outcome.data, settings)
        code = outcome.code
        if kind == "result":
            refused = self._complete(trial, name, settings, data, code)
            if refused is None:
                self._tally(trial.study, failed=False)
                return
            kind, data = "error", refused  # a constraint count recorded meanwhile
        if kind in ("pruned", "error"):
            self._tally(trial.study, failed=kind == "error")
        if kind == "pruned":
            if self._write(self._store.prune, trial, name, data, code):
                self._summary.pruned += 1
                self._log.info(
                    "trial %s pruned at step %s: last value %s (%s)",
                    name, data.get("step"), data.get("loss"), _seconds(data),
                )  # fmt: skip
        elif kind == "error":
            self._record_error(trial, name, data, code)
        elif kind == "import_error":
            self._release(trial, name)
            output = data.get("output")
            raise ObjectiveImportError(
                f"cannot import objective {settings.objective!r} for study "
                f"{trial.study!r}: {data.get('type')}: {data.get('message')}"
                + (f"; its output:\n{output.rstrip()}" if output else "")
            )
        elif kind == "start_failed":  # died importing: a worker fault
            self._release(trial, name)
            raise WorkerError(
                f"the objective process failed while importing objective "
                f"{settings.objective!r} for study {trial.study!r}, before the "
                f"objective was called ({data.get('type')}: {data.get('message')}); "
                f"its output:\n{data.get('output') or '(none)'}"
            )
        elif lease.lost.is_set():
            self._summary.abandoned += 1
            level, why = self._why_not_current(trial)
            self._log.log(level, "trial %s was %s: abandoned it", name, why)
        else:
            self._release(trial, name)

    def _tally(self, study: str, *, failed: bool) -> None:
        """Count an outcome in the run of errors in a row
        (``max_consecutive_failures``)."""
        self._consecutive_failures = self._consecutive_failures + 1 if failed else 0
        if failed:
            self._summary.failing_studies.add(study)
        else:
            self._summary.failing_studies.clear()

    def _complete(
        self,
        trial: Trial,
        name: str,
        settings: StudySettings,
        data: dict[str, Any],
        code: dict[str, Any] | None,
    ) -> dict[str, Any] | None:
        """Record a result (its attachments first); None once handled, else the
        error the result is instead (:meth:`_counted_meanwhile`).

        A result without constraints while the study's constraint count is unknown
        is written on the condition that no count is stored as it lands
        (``unless_setting``, no read of the study): another worker may have
        recorded one since this trial's settings were read, and the result must
        then be refused. Its attachments are stored by then and stay with the
        error trial.
        """
        if not self._put_attachments(trial, name, data):
            return None
        unless = None
        if settings.n_constraints is None and not constraints_count(data):
            unless = "n_constraints"
        try:
            recorded = self._write(
                self._store.complete, trial, name, data, code, unless_setting=unless
            )
        except UnstorableError as e:  # e.g. over MongoDB's 16 MiB
            self._record_error(trial, name, _unstorable("result", e), code)
            return None
        except SettingRecordedError as e:
            return self._counted_meanwhile(trial.study, settings, data, e)
        if recorded:
            self._summary.done += 1
            self._summary.status_fail += data.get("status") == STATUS_FAIL
            self._log.info(
                "trial %s %s: loss=%s (%s)",
                name, data.get("status"), data.get("loss"), _seconds(data),
            )  # fmt: skip
        return None

    def _counted_meanwhile(
        self,
        study: str,
        settings: StudySettings,
        data: dict[str, Any],
        refusal: SettingRecordedError,
    ) -> dict[str, Any]:
        """The error a result without constraints is once the store refused it for
        the constraint count recorded since its settings were read (the count is
        cached: a known count never changes)."""
        settings = dataclasses.replace(settings, n_constraints=int(refusal.value))
        self._settings[study] = (time.monotonic(), settings, None)
        kind, error = _checked_objective_count("result", data, settings)
        if kind != "error":  # cannot be: the result has no constraints
            raise AssertionError(f"a result without constraints passed {refusal}")
        return error

    # ---- writes ----------------------------------------------------------------------

    def _put_attachments(self, trial: Trial, name: str, data: dict[str, Any]) -> bool:
        """Store the result's attachments first (if any); False if refused."""
        encoded = data.pop(ATTACHMENTS_KEY, None)
        if not encoded:
            return True
        blobs = decode_attachments(encoded)
        stored = self._current_attempt(
            lambda: self._retrying(
                f"store the attachments of trial {name}",
                lambda: self._store.put_attachments(
                    trial.study, trial.tid, trial.token or "", blobs
                ),
                keep=sorted(blobs),
                lease=self._lease,
            )
        )
        if stored is False:
            self._summary.abandoned += 1
            self._log.warning(
                "trial %s: the store refused its attachments (the attempt is no "
                "longer current)",
                name,
            )
        return stored is True

    def _record_error(
        self,
        trial: Trial,
        name: str,
        data: dict[str, Any],
        code: dict[str, Any] | None = None,
    ) -> None:
        """``fail`` the trial; an error the store cannot hold is recorded shortened."""
        try:
            recorded = self._write(self._store.fail, trial, name, data, code)
        except UnstorableError as e:
            data = _unstorable("error", e, data)
            recorded = self._write(self._store.fail, trial, name, data, code)
        if recorded:
            self._summary.failed += 1
            error = f"{data.get('type')}: {data.get('message')}"
            self._log.warning("trial %s error: %s", name, error)

    def _write(
        self,
        op: Callable[..., bool],
        trial: Trial,
        name: str,
        data: dict[str, Any],
        code: dict[str, Any] | None = None,
        **options: Any,
    ) -> bool:
        """``complete``/``fail``/``prune`` (with ``options``) with retries; True if
        the store took it."""
        accepted = self._current_attempt(
            lambda: self._retrying(
                f"record trial {name}",
                lambda: op(
                    trial.study, trial.tid, trial.token, data, code=code, **options
                ),
                keep=data,
                lease=self._lease,
            )
        )
        if accepted is None:  # gave up: the outcome is in the log, not the store
            self._summary.abandoned += 1
        elif accepted is False:
            self._summary.abandoned += 1
            level, why = self._why_not_current(trial)
            self._log.log(
                level, "trial %s was %s: dropped its outcome %r", name, why, data
            )
        return accepted is True

    def _current_attempt(self, write: Callable[[], Any]) -> Any:
        """``write()`` (a write of the running attempt, with retries); if the store
        refused it (False), the trial is taken back when its lease ran out and no
        other attempt claimed it since, and ``write()`` runs once more (the
        heartbeat thread may have taken it back meanwhile). A trial taken back is
        judged against the budget before the write (see :class:`Heartbeat`)."""
        lease = self._lease
        if lease is None:
            return write()
        with self._heartbeat.holding():  # no take back lands before the write
            if lease.unjudged:  # taken back, its verdict not read: read it first
                self._take_back(lease)
                if lease.unjudged:  # cold stop with the store unreachable
                    return None
            answer = write()
            if answer is False:
                self._take_back(lease)
                answer = write()
        return answer

    def _take_back(self, lease: Lease) -> None:
        """Take the attempt's trial back if its lease ran out and it was requeued
        but not claimed since (see :meth:`Heartbeat.take_back`); with retries."""
        self._retrying(
            f"take back trial {lease.study}/{lease.tid}",
            lambda: self._heartbeat.take_back(lease),
            lease=self._lease,
        )

    def _why_not_current(self, trial: Trial) -> tuple[int, str]:
        """Why this worker's attempt at ``trial`` no longer counts, and the log level.

        One read of the trial: cancelled (its study was cancelled or stopped, an
        early stop or a spent budget; nothing is wrong) is INFO, requeued or
        recorded by another attempt is a WARNING. Without an answer from the store
        all three are named.
        """
        try:
            now = self._store.get_trial(trial.study, trial.tid)
        except StoreError:
            return logging.WARNING, (
                "requeued, cancelled or recorded by another attempt meanwhile"
            )
        if now.state is TrialState.CANCELLED:
            return logging.INFO, (
                "cancelled while it ran (its study was cancelled or stopped early, "
                "or its budget was spent)"
            )
        if now.state.is_finished():
            return logging.WARNING, (
                f"recorded by another attempt meanwhile ({now.state.value}, "
                f"worker {now.owner})"
            )
        return logging.WARNING, (
            "requeued meanwhile (its lease ran out, or its worker was taken for "
            "dead) and runs again"
        )

    def _release(self, trial: Trial, name: str) -> None:
        released = self._retrying(
            f"hand back trial {name}",
            lambda: self._store.release(trial.study, trial.tid, trial.token or ""),
            claimed=True,
        )
        if released is True:
            self._summary.released += 1
            self._log.warning("trial %s handed back untouched", name)

    def _retrying(
        self,
        what: str,
        fn: Callable[[], Any],
        *,
        keep: Any = None,
        lease: Lease | None = None,
        claimed: bool = False,
    ) -> Any:
        """``fn()``, retried with backoff while the store is unreachable.

        With ``lease`` (writing a trial's outcome), any store failure that may pass
        (unreachable, locked past its timeout, disk full or read-only, I/O error)
        is retried, with the outcome kept, until the store answers, past the
        attempt's lease too: while the store cannot be written nobody can requeue
        the trial, and the store takes an outcome only for the attempt's own token
        on a running trial, so a late write counts once or is refused as stale (the
        trial was requeued meanwhile by a process that could reach the store).
        So is a write or read about a claimed trial (``claimed``: handing it back,
        cancelling it beyond the budget, its study's settings), whose failure
        would otherwise end the worker with the trial still claimed. Otherwise
        only connection errors are retried. Logs quietly (see
        :class:`StoreFaults`). Gives up on a cold stop only (a warm stop waits, as
        for a running trial), returning None and logging ``keep``, the data that
        could not be written.

        Raises:
            StoreLostError: The database is gone; retrying cannot help.
        """
        faults = StoreFaults("worker", what, self._log)
        while True:
            try:
                with faults.trying():
                    answer = fn()
            except (ConnectionError, StoreError) as e:
                if not _retriable(e, writing_outcome=lease is not None or claimed):
                    raise
                if self._stopping(_COLD):
                    self._log.error(
                        "gave up trying to %s (cold stop): %s (%r)", what, e, keep
                    )
                    return None
                self._sleep(faults.failed(e), until=_COLD)
                continue
            faults.cleared()
            return answer

    # ---- idle time -------------------------------------------------------------------

    def _objective_count_known(
        self, name: str, study: str, settings: StudySettings, outcome: ChildOutcome
    ) -> StudySettings:
        """``settings`` with the study's objective count, recording it if unknown.

        The first successful results of a study race to record their number of losses
        (one atomic first-writer-wins write; the driver does the same), so a result
        with another number than the kept one becomes an error trial however the
        first results of several workers interleave. A known count never changes, so
        the cached settings serve once they hold one.
        """
        if outcome.kind != "result" or settings.n_objectives is not None:
            return settings
        losses = losses_of(outcome.data)
        if losses is None:
            return settings
        return self._count_kept(
            name, study, settings, outcome, "n_objectives", len(losses),
            record_objective_count,
        )  # fmt: skip

    def _constraint_count_known(
        self, name: str, study: str, settings: StudySettings, outcome: ChildOutcome
    ) -> StudySettings:
        """``settings`` with the study's constraint count, recording it if unknown
        and this result carries constraints (as :meth:`_objective_count_known`: the
        first results race, one count is kept, a known count never changes).

        A result without constraints while the count is unknown reads nothing: its
        write is conditional on no count being stored (see :meth:`_complete`).
        """
        if outcome.kind != "result" or settings.n_constraints is not None:
            return settings
        count = constraints_count(outcome.data)
        if not count:
            return settings
        return self._count_kept(
            name, study, settings, outcome, "n_constraints", count,
            record_constraint_count,
        )  # fmt: skip

    def _count_kept(
        self,
        name: str,
        study: str,
        settings: StudySettings,
        outcome: ChildOutcome,
        field: str,
        count: int,
        record: Callable[[BaseTrialStore, str, int], int],
    ) -> StudySettings:
        """Record ``count`` as the study's ``field`` with ``record`` (first writer
        wins) as part of recording the outcome, retried alike, and cache and return
        ``settings`` with the count kept; ``settings`` unchanged if the worker gave
        up on a cold stop (the outcome is not written either)."""
        kept = self._retrying(
            f"record trial {name}",
            lambda: record(self._store, study, count),
            keep=outcome.data,
            lease=self._lease,
        )
        if kept is None:
            return settings
        settings = dataclasses.replace(settings, **{field: kept})
        self._settings[study] = (time.monotonic(), settings, None)
        return settings

    def _settings_for(self, study: str) -> StudySettings:
        """The study's settings: as read after the last claim of one of its trials
        (see :meth:`_keep_settings`), else read again every ``_SETTINGS_TTL``.

        Raises:
            StudyNotFoundError: No such study.
            _UnusableSettings: Its stored settings cannot be read.
        """
        cached = self._settings.get(study)
        now = time.monotonic()
        if cached is not None and now - cached[0] < _SETTINGS_TTL:
            return cached[1]
        stored = self._store.get_study(study).settings
        if study == self._study:
            self._summary.study_found = True
        try:
            settings = StudySettings.from_dict(stored)
        except (TypeError, ValueError) as e:
            raise _UnusableSettings(str(e)) from e
        self._settings[study] = (now, settings, stored)
        return settings

    def _keep_settings(self, record: Study) -> None:
        """Keep the settings of a study read right after a claim, so the trial runs
        with the settings of the moment (a resume with ``--override`` applies from
        the next claim); decoded only when they changed."""
        cached = self._settings.get(record.name)
        now = time.monotonic()
        if cached is not None and cached[2] == record.settings:
            self._settings[record.name] = (now, cached[1], cached[2])
            return
        try:
            settings = StudySettings.from_dict(record.settings)
        except (TypeError, ValueError):
            self._settings.pop(record.name, None)  # said when the trial is processed
            return
        self._settings[record.name] = (now, settings, record.settings)

    def _maintain(self) -> str | None:
        """Requeue dead leases (when idling starts, then every 2 s).

        Returns:
            ``"requeued"`` if trials went back to the queue, ``"finished"`` if the
            worker's study is finished (nothing queued or running, and ``max_evals``
            trials done or failed, or the study cancelled), else None.
        """
        now = time.monotonic()
        if now < self._next_maintenance:
            return None
        self._next_maintenance = now + _MAINTENANCE_INTERVAL
        self._last_maintenance = now
        try:
            with self._house_faults.trying():
                done = self._requeue_or_finish()
            self._house_faults.cleared()
            return done
        except (StudyNotFoundError, _UnusableSettings) as e:
            self._log.debug("skipped housekeeping: %s", e)
        except (ConnectionError, StoreError) as e:
            note = self._house_faults.noted(e)  # raises what cannot pass
            self._unsaid.append((self._house_faults, e, note))  # said with the pause
            self._next_maintenance = now  # tried again at the loop's next pause
        return None

    def _requeue_or_finish(self) -> str | None:
        """:meth:`_maintain`'s store reads and writes (see its returns)."""
        running = self._running_trials()
        if sum(self._requeue(name, trials) for name, trials in running.items()):
            return "requeued"
        if self._study is not None and self._finished(self._study):
            return "finished"
        return None

    def _running_trials(self) -> dict[str, list[RunningTrial]]:
        """The running trials the worker may requeue (lease expired, or owned by a
        process of its namespace, which may be dead) of the studies it serves, by
        study, in one read: its study's, or every study's (not one read per study,
        nor every running trial: an idle worker does this every 2 s, see
        benchmarks/README.md, "Idle workers' housekeeping")."""
        if self._study is None and not self._summary.study_found:
            self._study_names()  # a worker of any study notes that one exists
        return self._store.running_by_study(
            study=self._study, only_requeuable=True, namespace=namespace_key()
        )

    def _requeue(self, study: str, running: list[RunningTrial]) -> int:
        """Requeue the study's expired leases, and at once the trials of workers
        certainly dead (:mod:`hpo_service.store._dead_owners`), among ``running``
        (as just read); return how many went back to ``new``. Writes nothing, and
        reads nothing more, while no lease of ``running`` looks expired and no owner
        dead."""
        now = self._store.now()
        if not any(_due(trial, now) for trial in running):
            return 0
        try:
            settings = self._settings_for(study)
        except (StudyNotFoundError, _UnusableSettings) as e:
            self._log.debug("skipped requeueing study %r: %s", study, e)
            return 0
        dead, report = requeue_dead_owners(
            self._store, study, running, max_attempts=settings.max_attempts
        )
        if report is None:
            report = self._store.requeue_expired(
                max_attempts=settings.max_attempts, study=study
            )
        self._say_dead(study, dead, report, settings.max_attempts)
        said = {trial.tid for trial in dead}  # _say_dead named them, and why
        expired = [tid for _, tid in report.requeued if tid not in said]
        failed = [tid for _, tid in report.failed if tid not in said]
        if expired or failed:
            self._log.info(
                "study %s: requeued %s with expired leases, failed %d",
                study, counted(len(expired), "trial"), len(failed),
            )  # fmt: skip
        return len(report.requeued)

    def _say_dead(
        self,
        study: str,
        dead: list[RunningTrial],
        report: RequeueReport,
        max_attempts: int,
    ) -> None:
        """Say what became of the trials of workers judged dead: requeued, or
        quarantined after ``max_attempts``; one that finished or was claimed again
        since it was read was left as it is, and is not named."""
        requeued = {tid for name, tid in report.requeued if name == study}
        failed = {tid for name, tid in report.failed if name == study}
        for trial in dead:
            if trial.tid in requeued:
                what = "requeued at once"
            elif trial.tid in failed:
                what = f"quarantined after {counted(max_attempts, 'attempt')}"
            else:
                continue
            self._log.warning(
                "study %s: trial %d %s: its worker %s died",
                study, trial.tid, what, trial.owner,
            )  # fmt: skip

    def _finished(self, study: str) -> bool:
        """Whether ``study`` is over: nothing queued or running, and its budget
        spent or the study cancelled. The settings (the cancel flag, the budget) are
        read afresh (one study read, only while the queue is empty), not kept for up
        to ``_SETTINGS_TTL``: a worker of a cancelled study idled 30 s before it saw.

        Counting the trials costs O(study size) (an idle worker of a 20,000-trial
        study scanned it about every second, issue 14), so it is skipped while the
        budget cannot be spent: the study holds at most ``next_tid`` trials.

        Raises:
            _UnusableSettings: The study's stored settings cannot be read.
        """
        record = self._store.get_study(study)
        self._keep_settings(record)
        settings = self._settings_for(study)  # as just read; raises if unusable
        budget = settings.max_evals  # None: no budget yet (a study made by an import)
        if not settings.cancelled and (budget is None or record.next_tid < budget):
            return False
        counts = self._store.count_by_state(study)
        if counts.get(TrialState.NEW, 0) or counts.get(TrialState.RUNNING, 0):
            return False
        if budget is not None and counted_finished(counts) >= budget:
            return True
        return settings.cancelled

    def _look_for_study(self) -> None:
        """Look once more, at the stop, for a study not seen yet: one created while
        the worker started (its child process) and stopped before its first poll."""
        if self._summary.study_found:
            return
        try:
            if self._study is None:
                self._study_names()
            else:
                self._store.get_study(self._study)
                self._summary.study_found = True
        except (StudyNotFoundError, ConnectionError, StoreError) as e:
            self._log.debug("study not found at the stop: %s", e)

    def _study_names(self) -> list[str]:
        """The store's studies (noting that one exists, for a worker of any study)."""
        names = [study.name for study in self._store.list_studies()]
        self._summary.study_found = self._summary.study_found or bool(names)
        return names

    def _check_study_once(self) -> None:
        """:meth:`_check_study`; a store failure that may pass is said and left to
        the loop, which rides it out (and judges each claimed trial anyway)."""
        checking = "checking the study before claiming"
        try:
            with process_outage().doing(checking):
                self._check_study()
            process_outage().say_worked(checking, self._log)
        except (ConnectionError, StoreError) as e:
            if not may_pass(e):
                raise
            process_outage().say_failed(
                checking,
                self._log,
                "cannot check the study before claiming",
                e,
                retry="claiming at once",
                context=("each claimed trial is judged",),
            )
            process_outage().handed_over(checking)  # never tried again

    def _check_study(self) -> None:
        """Say if the worker's study is missing; refuse its objective before claiming.

        Raises:
            ObjectiveRefusedError: The study's objective is not allowed.
        """
        if self._study is None:
            self._study_names()
            return
        try:
            settings = self._settings_for(self._study)
        except StudyNotFoundError:
            self._note_missing_study()
            return
        except _UnusableSettings:
            return  # said when a trial is claimed
        if settings.objective is None:
            return  # made by an import: no objective (and no trial to run) yet
        refusal = self._policy.refusal(settings.objective)
        if refusal is not None:
            raise ObjectiveRefusedError(f"refused study {self._study!r}: {refusal}")

    def _note_missing_study(self) -> None:
        """Say that the study does not exist (yet), again every minute while so."""
        now = time.monotonic()
        if now < self._next_missing_note:
            return
        self._next_missing_note = now + _MISSING_STUDY_NOTE_SECONDS
        start = f"hpo-driver start --db URL --study {shlex.quote(self._study or '')}"
        where = repr(self._store)  # from Python, without the URL
        if self._db_url is not None:
            start = store_command("hpo-driver start", self._db_url, self._study or "")
            where = store_place(self._store, self._db_url)
        if self._limits.serve_finished:  # hyperopt's users create it with fmin
            exp_key = f"exp_key={self._study!r}"
            start = f"fmin(..., trials=MongoTrials(..., {exp_key}))` or `{start}"
        self._log.warning(
            "study %r does not exist (yet) in %s: waiting for `%s` to create it%s%s",
            self._study, where, start, self._close_studies(),
            masked_note(self._db_url or ""),
        )  # fmt: skip

    def _close_studies(self) -> str:
        """``"; did you mean 'noisy'?"`` when the store holds studies close to the
        missing one (a typo in ``--study`` shows while the worker waits, not only
        when it ends), else ``""``; a store that cannot list them gives no hint."""
        try:
            names = [s.name for s in self._store.list_studies()]
        except StoreError:
            return ""
        return did_you_mean(self._study or "", names)

    # ---- stopping --------------------------------------------------------------------

    def _stopping(self, level: int) -> bool:
        """Whether a stop of at least ``level`` was requested (logs new requests)."""
        current = self._stop_level
        if current > self._stop_logged:
            self._stop_logged = current
            if current >= _COLD:
                self._log.warning("cold stop: abandoning work at once")
            elif self._running:
                self._log.info(
                    "warm stop: finishing the current trial (%s)", self._abort_hint()
                )
            else:
                self._log.info("warm stop: no trial running; stopping")
        return current >= level

    def _abort_hint(self) -> str:
        """How to abort the trial a warm stop lets finish: a second stop signal, not
        another SIGUSR1 (a drain never aborts)."""
        if self._drained:
            return "SIGUSR1 drains: sending it again changes nothing; SIGTERM aborts it"
        return "stop again to abort it"

    def _sleep(self, seconds: float, *, until: int) -> None:
        """Sleep in short slices, waking early on a stop request of level ``until``."""
        end = time.monotonic() + seconds
        while not self._stopping(until):
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, _SLICE))

    def _signal_handlers(self) -> dict[int, Callable[[int, object], None]]:
        """A stop signal asks for a warm stop, a second one a cold stop; SIGUSR1 only
        ever a warm one (see :meth:`run`)."""
        handlers = dict.fromkeys(STOP_SIGNALS, self._on_signal)
        return {**handlers, **dict.fromkeys(DRAIN_SIGNALS, self._on_drain)}

    def _on_signal(self, signum: int, frame: object) -> None:
        self.request_stop()

    def _on_drain(self, signum: int, frame: object) -> None:
        """SIGUSR1, hyperopt-mongo-worker's "finish the current trial, then exit":
        a warm stop however often it comes (it never aborts a trial)."""
        self._drained = self._drained or self._stop_level == 0
        self._stop_level = max(self._stop_level, _WARM)


def _checked_objective_count(
    kind: str, data: dict[str, Any], settings: StudySettings
) -> tuple[str, dict[str, Any]]:
    """A result with another number of losses, or of constraints, than the
    study's becomes an error."""
    if kind != "result":
        return kind, data
    try:
        check_objective_count(
            data, settings.n_objectives, settings.objective_names or ()
        )
        check_constraint_count(data, settings.n_constraints)
    except InvalidResultError as e:
        error = {"type": type(e).__name__, "message": str(e), "traceback": None}
        return "error", {**error, "duration": data.get("duration")}
    return kind, data


def _verdict_uncounted(
    record: Study,
) -> tuple[Verdict | Literal["cancelled"], int | None] | None:
    """The budget verdict and budget a study ``record`` gives without counting its
    trials (cancelled; no usable budget; at most ``next_tid`` trials, so within
    it), or None when only a count tells."""
    if record.settings.get("cancelled"):
        return "cancelled", None
    try:
        max_evals = budget_of(record.settings)
    except (TypeError, ValueError):
        max_evals = None  # unusable settings: said when the trial is processed
    if max_evals is None or record.next_tid <= max_evals:
        return "run", max_evals
    return None


def _besides(error: BaseException, ending: BaseException) -> str:
    """``error`` for a line said before ``ending`` ends the worker (its ``Error:``
    line): what the two share is said there only. The same refusal (the same user
    on the same database: a revoked role refuses the hand-back as it refused the
    report) and the same text are said once."""
    if str(error) == str(ending):
        return "the same error as below"
    if (
        isinstance(error, StoreAuthorizationError)
        and isinstance(ending, StoreAuthorizationError)
        and (error.user, error.database) == (ending.user, ending.database)
    ):
        return "refused too, as below"
    return str(error)


def _retriable(error: Exception, *, writing_outcome: bool) -> bool:
    """Whether a failed store call may succeed later (see ``Worker._retrying``)."""
    if isinstance(error, ConnectionError):
        return True
    return writing_outcome and may_pass(error)


def _due(trial: RunningTrial, now: float) -> bool:
    """Whether a running trial (as read) is to be requeued: its lease looks expired
    at ``now`` (the store's clock), or its worker is certainly dead."""
    expires = trial.lease_expires_at
    return (expires is not None and expires < now) or certainly_dead(trial.owner)


def _check_args(
    max_trials: int | None, idle_timeout: float | None, poll_interval: float
) -> None:
    if max_trials is not None and max_trials < 1:
        raise ValueError(f"`max_trials` must be >= 1, but got max_trials={max_trials}")
    if idle_timeout is not None and idle_timeout < 0:
        raise ValueError(
            f"`idle_timeout` must be >= 0, but got idle_timeout={idle_timeout}"
        )
    if not poll_interval > 0:
        raise ValueError(
            f"`poll_interval` must be > 0, but got poll_interval={poll_interval}"
        )


def _unstorable(
    what: str, exc: UnstorableError, error: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The error recorded when the store cannot hold a trial's ``what``."""
    raised = str(error.get("type"))[:200] if error else ""
    original = f" (the objective raised {raised})" if raised else ""
    return {
        "type": "UnstorableResult" if what == "result" else "UnstorableError",
        "message": f"the store cannot hold the trial's {what}{original}: {exc}"[:2000],
        "traceback": None,
    }
