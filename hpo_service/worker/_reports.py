"""Intermediate reports between the objective's child process, the worker and the store.

Child side (:func:`hpo_service.worker._child.child_reports`, kept with the rest of the
child's code so that the child imports nothing of the worker's): ``hpo_service.report``
goes to the worker as a frame on the child's pipe and waits for the answer (the
pruner's decision)::

    child -> worker:  {"kind": "report", "step": 3, "value": 0.41}
    worker -> child:  {"kind": "decision", "prune": false}

Worker side: :class:`ReportHandler` records each report in the store (the current
attempt only: a refused report means the attempt was taken away, and the worker drops
the trial as for a lost lease) and asks the study's pruner, kept up to date with the
finished trials by :class:`StudyPruning`.

Reports are written in batches: at the first report, then at most once per
:data:`FLUSH_SECONDS`, always before the pruner reads the other trials' reports (so
a trial's own value is in the store before it compares itself, as ASHA needs when
several workers reach a rung at once) and before the trial's outcome is recorded.
An objective that reports every few milliseconds thus costs the store one write a
second, and claims and heartbeats of other workers do not queue behind its reports.
Reports not yet written when a worker dies belong to an attempt that is discarded
anyway (a requeued trial reports afresh). A write that fails in a way that may pass
(a full disk, a locked database, a write error of the server) keeps the reports for
the next write while the objective runs on; the last write, before the outcome, is
retried like the outcome's, so a finished trial keeps every report of its attempt.
A failure that waiting cannot fix (a refused user, a document the server rejects)
stops the trial at once: it is set as the lease's ``fatal``, and the worker kills
the objective, hands the trial back and ends with that error.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from hpo_service.algorithms.pruners import (
    BasePruner,
    NopPruner,
    TrialProgress,
    make_pruner,
)
from hpo_service.exceptions import StoreError, UnstorableError
from hpo_service.store import _common
from hpo_service.store._base import BaseTrialStore, Trial, TrialReports
from hpo_service.store._faults import StoreFaults, may_pass
from hpo_service.store._outage import process_outage
from hpo_service.worker._heartbeat import Lease

_logger = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
"""Longest time a worker keeps reports before writing them to the store."""

REFRESH_SECONDS = 0.25
"""Longest time a pruner goes without reading newly finished trials (except at an
attempt's first report, which always reads them, so no trial that finished before the
attempt began is missed, and at a rung, where ASHA reads them every time)."""


# ---- the worker's side ---------------------------------------------------------------


class StudyPruning:
    """A study's pruner in one worker, taught every finished trial of the study.

    Finished trials' reports are read incrementally from the store's change cursor
    (:meth:`~hpo_service.store.BaseTrialStore.reports_since`: tid, state and reports
    only) before each decision, so a decision never rescans the study; the running
    trials' reports are read only when the pruner asks for them (ASHA at a rung).

    Args:
        store: The trials store.
        study: The study.
        pruner: A fresh pruner (this object feeds it).
        refresh_seconds: Longest time between two reads of newly finished trials.
    """

    def __init__(
        self,
        store: BaseTrialStore,
        study: str,
        pruner: BasePruner,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self.store = store
        self.study = study
        self.pruner = pruner
        self._cursor = 0
        self._seen: set[int] = set()
        self._refresh_seconds = refresh_seconds
        self._refreshed_at = -math.inf

    def refresh(self) -> None:
        """Teach the pruner the trials that finished since the last refresh."""
        changes, self._cursor = self.store.reports_since(self.study, self._cursor)
        self._refreshed_at = time.monotonic()
        for trial in changes:
            self.observe(trial)

    def observe(self, trial: Trial | TrialReports) -> None:
        """Teach the pruner one trial if it is finished (once per trial)."""
        if trial.state.is_finished() and trial.tid not in self._seen:
            self._seen.add(trial.tid)
            self.pruner.observe(trial.tid, trial.state, trial.intermediate)

    def should_prune(
        self,
        progress: TrialProgress,
        before_read: Callable[[], object] | None = None,
        *,
        refresh: bool = False,
    ) -> bool:
        """The pruner's decision for the attempt ``progress`` at its newest report.

        Args:
            progress: The attempt's reports so far.
            before_read: Called before the other trials' reports are read (the
                worker writes this trial's pending reports there).
            refresh: Read the newly finished trials even if the last read is
                younger than the refresh interval (an attempt's first report).
        """
        if isinstance(self.pruner, NopPruner):
            return False
        stale = time.monotonic() - self._refreshed_at >= self._refresh_seconds
        if refresh or stale:
            self.refresh()

        def running() -> dict[int, dict[int, float]]:
            if before_read is not None:
                before_read()
            self.refresh()
            return self.store.running_intermediate(self.study)

        return self.pruner.prune(progress, running)


def study_pruning(
    cache: dict[str, tuple[tuple[str, str], StudyPruning]],
    store: BaseTrialStore,
    study: str,
    name: str,
    settings: dict[str, Any],
) -> StudyPruning:
    """The worker's :class:`StudyPruning` for ``study``, rebuilt if its pruner changed.

    Raises:
        ValueError: The study's pruner settings are invalid.
    """
    key = (name, repr(sorted(settings.items())))
    cached = cache.get(study)
    if cached is None or cached[0] != key:
        cached = (key, StudyPruning(store, study, make_pruner(name, settings)))
        cache[study] = cached
    return cached[1]


class ReportHandler:
    """Answers one attempt's report frames: record them, ask the pruner.

    Reports are kept and written in batches (see the module docstring); call
    :meth:`flush` before recording the trial's outcome.

    Args:
        trial: The attempt (its token identifies it to the store).
        pruning: The study's pruner.
        lease: The attempt's lease; set ``lost`` when the store refuses a report.
        write: Runs a store call with the worker's retries; returns None if it gave
            up (cold stop).
        log: The worker's logger.
        flush_seconds: Longest time reports are kept before they are written.
        take_back: Called when the store refuses a batch: takes the trial back if
            its lease ran out and nothing claimed it since; the batch is then
            written once more (refused again if the attempt is over).
        write_last: Runs the last write (:meth:`flush` with ``last``), retrying
            any failure that may pass, as the outcome's write does; default
            ``write``.
    """

    def __init__(
        self,
        trial: Trial,
        pruning: StudyPruning,
        lease: Lease,
        write: Callable[[str, Callable[[], Any]], Any],
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] = _logger,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        take_back: Callable[[], object] | None = None,
        write_last: Callable[[str, Callable[[], Any]], Any] | None = None,
    ) -> None:
        self._trial = trial
        self._take_back = take_back
        self._write_last = write_last or write
        self._pruning = pruning
        self._lease = lease
        self._write = write
        self._log = log
        self._flush_seconds = flush_seconds
        self._progress = TrialProgress(trial.tid)
        self._pending: list[tuple[int, float]] = []
        self._flushed_at = -math.inf
        self._judged = False  # the first decision reads every finished trial
        self._name = f"{trial.study}/{trial.tid}"
        self._faults = StoreFaults(
            "worker", f"record the reports of trial {self._name}", log
        )

    def __call__(self, frame: dict[str, Any]) -> dict[str, Any]:
        """The answer to one ``{"kind": "report", "step", "value"}`` frame."""
        if self._lease.fatal is not None:  # the worker is stopping the trial
            return _decision(False)
        try:
            step = _common.check_step(frame.get("step"))
            value = _common.check_report_value(frame.get("value"))
        except ValueError as e:  # the child checks reports: this is a broken frame
            self._log.error("trial %s: invalid report %r: %s", self._name, frame, e)
            return _decision(False)
        self._pending.append((step, value))
        self._progress.intermediate[step] = value
        due = time.monotonic() - self._flushed_at >= self._flush_seconds
        if due and not self.flush():
            return _decision(False)
        return _decision(self._judge(self._name))

    def flush(self, *, last: bool = False) -> bool:
        """Write the reports kept so far; False if they were not written.

        A refusal (the attempt is no longer current) sets the lease's ``lost``. A
        failure that may pass keeps the reports for the next write.

        Args:
            last: The write before the outcome: failures that may pass are
                retried (by ``write_last``) until the store takes the reports.
        """
        if not self._pending:
            return True
        t, pending = self._trial, list(self._pending)
        what = f"record the reports of trial {self._name}"
        retrying = self._write_last if last else self._write

        def write() -> Any:
            return retrying(
                what,
                lambda: self._pruning.store.report_many(
                    t.study, t.tid, t.token or "", pending
                ),
            )

        try:
            accepted = write()
            if accepted is False and self._take_back is not None:
                self._take_back()
                accepted = write()
        except StoreError as e:
            return self._failed(e)
        if accepted is True:
            self._faults.cleared()
            del self._pending[: len(pending)]
            self._flushed_at = time.monotonic()
            return True
        if accepted is False:
            self._log.warning("trial %s: reports refused (stale attempt)", self._name)
            self._lease.lost.set()
        return False

    def _failed(self, error: StoreError) -> bool:
        """A batch the store failed to write: kept if the failure may pass (said
        quietly, see :class:`StoreFaults`), dropped if the store cannot hold it (a
        document too large), else (a refused user, a document the server rejects)
        set as the lease's ``fatal``: the worker stops the trial and ends with it.
        Returns False (not written)."""
        if may_pass(error):
            self._faults.failed(
                error,
                f"retrying with the trial's first report after "
                f"{self._flush_seconds:g} s or before its outcome",
            )
            self._flushed_at = time.monotonic()  # tried again at the next interval
            return False
        self._pending.clear()
        if isinstance(error, UnstorableError):
            self._log.error("trial %s: reports not recorded: %s", self._name, error)
        else:
            self._lease.fatal = error
        return False

    def _judge(self, name: str) -> bool:
        reading = f"the pruner's read for trial {name}"
        try:
            with process_outage().doing(reading):
                prune = self._pruning.should_prune(
                    self._progress, self.flush, refresh=not self._judged
                )
            self._judged = True
            process_outage().say_worked(reading, self._log)
        except (
            ConnectionError,
            StoreError,
        ) as e:  # the store's fault, not the pruner's
            if not may_pass(e):  # the worker stops the trial and ends with it
                self._lease.fatal = e
                return False
            process_outage().say_failed(
                reading, self._log, f"trial {name}: cannot judge it", e,
                retry="judging it again at its next report",
            )  # fmt: skip
            return False
        except Exception:
            self._log.error("trial %s: the pruner failed", name, exc_info=True)
            return False
        if prune:
            self._log.info("trial %s: pruner says stop at step %s", name, self._step())
        return prune

    def _step(self) -> int | None:
        return self._progress.last_step


def _decision(prune: bool) -> dict[str, Any]:
    return {"kind": "decision", "prune": prune}
