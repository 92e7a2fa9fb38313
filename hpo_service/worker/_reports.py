"""Intermediate reports between the objective's child process, the worker and the store.

Child side: :func:`child_reports` routes ``hpo_service.report`` to the worker as a
frame on the child's pipe and waits for the answer (the pruner's decision)::

    child -> worker:  {"kind": "report", "step": 3, "value": 0.41}
    worker -> child:  {"kind": "decision", "prune": false}

Worker side: :class:`ReportHandler` writes each report to the store (the current
attempt only: a refused report means the attempt was taken away, and the worker drops
the trial as for a lost lease) and asks the study's pruner, kept up to date with the
finished trials by :class:`StudyPruning`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from hpo_service.algorithms.pruners import (
    BasePruner,
    NopPruner,
    TrialProgress,
    make_pruner,
)
from hpo_service.objective._report import trial_context
from hpo_service.store._base import BaseTrialStore, Trial
from hpo_service.worker._child import _encode, _read_frame, _write_all
from hpo_service.worker._heartbeat import Lease

_logger = logging.getLogger(__name__)


# ---- the child's side ----------------------------------------------------------------


@contextlib.contextmanager
def child_reports(requests: int, responses: int) -> Iterator[None]:
    """Send the objective's reports to the worker over the pipes while it runs.

    Args:
        requests: The fd the worker's frames arrive on.
        responses: The fd frames to the worker are written to.
    """
    lock = threading.Lock()

    def send(step: int, value: float) -> bool:
        with lock:  # one report at a time, even from the objective's threads
            frame = {"kind": "report", "step": step, "value": value}
            _write_all(responses, _encode(frame))
            reply = _read_frame(requests)
        if reply is None:  # the worker is gone: nothing is left to report to
            os._exit(0)
        return bool(reply.get("prune"))

    with trial_context(send):
        yield


# ---- the worker's side ---------------------------------------------------------------


class StudyPruning:
    """A study's pruner in one worker, taught every finished trial of the study.

    Finished trials are read incrementally from the store's change cursor before
    each decision, so a decision never rescans the study; the running trials'
    reports are read only when the pruner asks for them (ASHA at a rung).

    Args:
        store: The trials store.
        study: The study.
        pruner: A fresh pruner (this object feeds it).
    """

    def __init__(self, store: BaseTrialStore, study: str, pruner: BasePruner) -> None:
        self.store = store
        self.study = study
        self.pruner = pruner
        self._cursor = 0
        self._seen: set[int] = set()

    def refresh(self) -> None:
        """Teach the pruner the trials that finished since the last refresh."""
        changes, self._cursor = self.store.changes_since(self.study, self._cursor)
        for trial in changes:
            self.observe(trial)

    def observe(self, trial: Trial) -> None:
        """Teach the pruner one trial if it is finished (once per trial)."""
        if trial.state.is_finished() and trial.tid not in self._seen:
            self._seen.add(trial.tid)
            self.pruner.observe(trial.tid, trial.state, trial.intermediate)

    def should_prune(self, progress: TrialProgress) -> bool:
        """The pruner's decision for the attempt ``progress`` at its newest report."""
        if isinstance(self.pruner, NopPruner):
            return False
        self.refresh()
        return self.pruner.prune(
            progress, lambda: self.store.running_intermediate(self.study)
        )


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
    """Answers one attempt's report frames: write to the store, ask the pruner.

    Args:
        trial: The attempt (its token identifies it to the store).
        pruning: The study's pruner.
        lease: The attempt's lease; set ``lost`` when the store refuses a report.
        write: Runs a store call with the worker's retries; returns None if it gave
            up (cold stop).
        log: The worker's logger.
    """

    def __init__(
        self,
        trial: Trial,
        pruning: StudyPruning,
        lease: Lease,
        write: Callable[[str, Callable[[], Any]], Any],
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] = _logger,
    ) -> None:
        self._trial = trial
        self._pruning = pruning
        self._lease = lease
        self._write = write
        self._log = log
        self._progress = TrialProgress(trial.tid)

    def __call__(self, frame: dict[str, Any]) -> dict[str, Any]:
        """The answer to one ``{"kind": "report", "step", "value"}`` frame."""
        step, value = frame.get("step"), frame.get("value")
        t = self._trial
        name = f"{t.study}/{t.tid}"
        try:
            accepted = self._write(
                f"record a report of trial {name}",
                lambda: self._pruning.store.report(
                    t.study,
                    t.tid,
                    t.token or "",
                    step,
                    value,  # type: ignore[arg-type]
                ),
            )
        except ValueError as e:  # the child checks reports: this is a broken frame
            self._log.error("trial %s: invalid report frame %r: %s", name, frame, e)
            return _decision(False)
        if accepted is not True:
            if accepted is False:
                self._log.warning("trial %s: report refused (attempt is stale)", name)
                self._lease.lost.set()
            return _decision(False)
        self._progress.intermediate[int(step)] = float(value)  # type: ignore[arg-type]
        return _decision(self._judge(name))

    def _judge(self, name: str) -> bool:
        try:
            prune = self._pruning.should_prune(self._progress)
        except ConnectionError as e:
            self._log.warning(
                "trial %s: cannot judge it (store unreachable): %s", name, e
            )
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
