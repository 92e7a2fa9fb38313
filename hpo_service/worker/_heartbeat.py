"""Keeping the lease of the running trial alive from a background thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hpo_service.exceptions import StoreError
from hpo_service.store._faults import may_pass
from hpo_service.store._outage import process_outage

if TYPE_CHECKING:
    from hpo_service.store._base import BaseTrialStore

_logger = logging.getLogger(__name__)

_RETRY_SECONDS = 1.0
# Failed beats are retried every second, said at the process's pace (see
# hpo_service.store._outage: the first failure of an outage, then one warning every
# 30 s whichever activity fails, and one line when the store works again).


@dataclass
class Lease:
    """One attempt whose lease the heartbeat extends.

    Attributes:
        study: The trial's study.
        tid: The trial's id.
        token: The attempt's token.
        seconds: Lease length asked for at each beat.
        lost: Set once the store says the attempt is no longer ours (requeued,
            cancelled or finished elsewhere): the worker must drop the trial.
        expires: When the lease ends (``time.monotonic()`` seconds) unless a later
            beat extends it: the last accepted beat's start plus ``seconds``.
        fatal: A store error that waiting cannot fix (a refused user, a document
            the server rejects), met by a beat, a report or a pruner's read while
            the attempt ran: the worker stops the trial and ends with it.
        unjudged: Taken back (:meth:`Heartbeat.take_back`) but not judged against
            the study's budget yet (the store failed meanwhile): the next take
            back, beat or outcome write judges it first.
    """

    study: str
    tid: int
    token: str
    seconds: float
    lost: threading.Event = field(default_factory=threading.Event)
    due: float = 0.0
    expires: float = 0.0
    fatal: BaseException | None = None
    unjudged: bool = False

    @property
    def interval(self) -> float:
        """Seconds between beats: a third of the lease."""
        return self.seconds / 3


class Heartbeat:
    """A thread that calls ``store.heartbeat`` for the current lease every third of it.

    One thread serves a worker's successive trials: :meth:`keep_alive` points it at a
    new attempt, :meth:`release` stops beating for it. Connection errors are logged
    and retried a second later; they never stop the thread.

    A beat the store refuses because the lease ran out and the trial was requeued
    takes the trial back (:meth:`take_back`) if no other attempt claimed it since;
    otherwise the lease is ``lost`` and the thread beats for it no more.

    A trial taken back is judged against its study's budget as a claimed one is
    (``judge``; the rule is in :mod:`hpo_service.worker._budget`), and the worker
    writes an outcome only inside :meth:`holding`, so no take back lands between
    its judgement and the write.

    Args:
        store: The trials store (used from this thread too, so it must be safe to
            share between threads).
        owner: The worker's id (the owner of the trials it takes back).
        log: Where to log (the worker passes a logger that prefixes its id).
        judge: Called with the lease of a trial just taken back (on this thread or
            the worker's); True if the attempt goes on, False if it handed the
            trial back or cancelled it. Raises what the store raises (then the
            lease stays ``unjudged``). Default: every take back goes on.
    """

    def __init__(
        self,
        store: BaseTrialStore,
        *,
        owner: str,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] = _logger,
        judge: Callable[[Lease], bool] | None = None,
    ) -> None:
        self._store = store
        self._owner = owner
        self._log = log
        self._judge = judge or (lambda lease: True)
        self._lock = threading.Lock()
        self._taking = threading.RLock()  # one take back (and its verdict) at a time
        self._wake = threading.Event()
        self._lease: Lease | None = None
        self._idle = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def keep_alive(self, study: str, tid: int, token: str, seconds: float) -> Lease:
        """Start beating for an attempt (replacing the previous one).

        Args:
            study: The trial's study.
            tid: The trial's id.
            token: The attempt's token.
            seconds: Lease length; a beat is sent every ``seconds / 3``.

        Returns:
            The lease, whose ``lost`` event tells when the attempt was taken away.
        """
        lease = Lease(study, tid, token, seconds)
        lease.due = time.monotonic() + lease.interval
        lease.expires = time.monotonic() + seconds  # from about the claim
        with self._lock:
            self._lease = lease
            idle = self._idle
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="hpo-heartbeat", daemon=True
                )
                self._thread.start()
        if idle:
            self._wake.set()
        return lease

    def take_back(self, lease: Lease) -> bool:
        """Take the attempt's trial back after its lease ran out and it was requeued,
        if no other attempt claimed it since (see
        :meth:`~hpo_service.store.BaseTrialStore.reclaim`), then judge it against
        the study's budget (``judge``); say so.

        Returns:
            True if the attempt is current again (its lease renewed) and goes on.

        Raises:
            ConnectionError: The store could not be reached (the lease stays
                ``unjudged`` if the trial was taken back).
            StoreError: The store failed (likewise).
        """
        with self._taking:
            if not lease.unjudged:
                sent = time.monotonic()
                if not self._store.reclaim(
                    lease.study, lease.tid, lease.token, self._owner, lease.seconds
                ):
                    return False
                lease.expires = sent + lease.seconds
                lease.unjudged = True
            goes_on = self._judge(lease)
            lease.unjudged = False
        if goes_on:
            self._log.warning(
                "trial %s/%s: its lease had run out and it was requeued, but no "
                "other attempt had claimed it: took it back, so this attempt's "
                "outcome counts",
                lease.study, lease.tid,
            )  # fmt: skip
        return goes_on

    @contextmanager
    def holding(self) -> Iterator[None]:
        """While held, no take back lands (one in progress is judged first): the
        worker writes an attempt's outcome inside it."""
        with self._taking:
            yield

    def release(self) -> None:
        """Stop beating for the current attempt (a beat in flight is then ignored)."""
        with self._lock:
            self._lease = None

    def close(self) -> None:
        """Stop the thread and wait a little for it (a beat may be in flight)."""
        with self._lock:
            self._closed = True
            self._lease = None
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=5.0)

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                lease = self._lease
                self._idle = lease is None
            delay = None if lease is None else lease.due - time.monotonic()
            if delay is None or delay > 0:
                self._wake.wait(delay)
                self._wake.clear()
                continue
            assert lease is not None
            self._beat(lease)

    def _beat(self, lease: Lease) -> None:
        sent = time.monotonic()
        try:
            with process_outage().doing(_doing(lease)):
                alive = self._renew(lease)
        except (ConnectionError, StoreError) as e:  # unreachable, locked, disk full
            now = time.monotonic()
            if not may_pass(e):  # the worker stops the trial and ends with it
                lease.fatal = e
                lease.due = now + lease.interval
                return
            self._failed(lease, now, e)
            lease.due = now + min(_RETRY_SECONDS, lease.interval)
            return
        except Exception:
            self._log.error(
                "heartbeat of trial %s/%s failed", lease.study, lease.tid, exc_info=True
            )
            lease.due = time.monotonic() + lease.interval
            return
        lease.due = time.monotonic() + lease.interval
        process_outage().say_worked(_doing(lease), self._log)
        if alive:
            lease.expires = sent + lease.seconds
        with self._lock:
            current = self._lease is lease
            if current and not alive:  # lost: never beaten for again
                self._lease = None
        if current and not alive:
            self._log.debug("trial %s/%s: lease lost", lease.study, lease.tid)
            lease.lost.set()
        elif current:
            self._log.debug("trial %s/%s: heartbeat", lease.study, lease.tid)

    def _renew(self, lease: Lease) -> bool:
        """One beat: whether the attempt still holds its trial (taken back first
        if it was requeued and nobody claimed it since; judged first if a take
        back's verdict failed to read)."""
        if lease.unjudged and not self.take_back(lease):
            return False  # judged: handed back or cancelled
        alive = self._store.heartbeat(
            lease.study, lease.tid, lease.token, lease.seconds
        )
        if not alive and self._current(lease) and not lease.lost.is_set():
            self.take_back(lease)  # requeued: unless claimed since
            alive = self._store.heartbeat(  # ours again, whoever took it back
                lease.study, lease.tid, lease.token, lease.seconds
            )
        return alive

    def _failed(self, lease: Lease, now: float, error: BaseException) -> None:
        """Say a failed beat: a warning at the process's pace (with how long the
        lease has left), else a debug line."""
        process_outage().say_failed(
            _doing(lease), self._log, f"heartbeat of trial {lease.study}/{lease.tid} "
            "failed", error, retry=min(_RETRY_SECONDS, lease.interval),
            context=(_lease_left(lease.expires - now),),
        )  # fmt: skip

    def _current(self, lease: Lease) -> bool:
        """Whether the worker still works on ``lease``'s attempt."""
        with self._lock:
            return self._lease is lease


def _doing(lease: Lease) -> str:
    """The heartbeat, in the list of what waits for the store."""
    return f"the heartbeat of trial {lease.study}/{lease.tid}"


def _lease_left(seconds: float) -> str:
    """How long the lease has left, for the log (``seconds`` < 0: it ended)."""
    if seconds >= 0:
        return f"lease ends in {seconds:.0f} s"
    return f"lease ended {-seconds:.0f} s ago: the trial may be requeued and run again"
