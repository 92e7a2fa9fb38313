"""One warning pace per process while its store fails.

A worker meets one store outage through several activities at once: its claims, the
heartbeat of its trial, its report writes, its pruner's reads, and the store's own
retries inside each. Each had its own 30 s pace, so one 82 s server outage gave one
worker 11 warning lines (and two "works again" lines). All of them now ask this
process's :class:`Outage` whether a failure is worth a warning: the first failure of
an outage is, then at most one every :data:`NOTE_EVERY` seconds, naming everything
that waits; the others are debug lines. The first call that gets through ends the
outage with one "the store works again" line.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

NOTE_EVERY = float(os.environ.get("HPO_TEST_STORE_NOTE_SECONDS", "30"))
"""Seconds between a process's warnings while its store keeps failing (30; a test
may shorten it with ``HPO_TEST_STORE_NOTE_SECONDS``)."""

_Log = logging.Logger | logging.LoggerAdapter  # type: ignore[type-arg]


@dataclass(frozen=True)
class Note:
    """A failure to say as a warning.

    Attributes:
        failing_for: Seconds since the outage's first failure.
        waiting: What waits for the store, the failing call's activity first.
        first: The outage's first failure (said without the two above).
    """

    failing_for: float
    waiting: tuple[str, ...]
    first: bool = False

    def __str__(self) -> str:
        """``the store has failed for 31 s; waiting: a; b`` ("" if ``first``)."""
        if self.first:
            return ""
        waiting = "; ".join(self.waiting)
        return f"the store has failed for {self.failing_for:.0f} s; waiting: {waiting}"


def aside(note: Note | None, before: str = " (", after: str = ")") -> str:
    """``note`` for the middle of a log line (``" (the store has failed ...)"``),
    or "" (no note, or the outage's first failure)."""
    text = "" if note is None else str(note)
    return f"{before}{text}{after}" if text else ""


class Outage:
    """The store failures of one process, said at one pace (thread-safe: the
    heartbeat thread shares it).

    Args:
        every: Seconds between warnings of one outage.
        clock: Monotonic seconds.
    """

    def __init__(
        self,
        every: float = NOTE_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None  # the outage's first failure
        self._failures = 0  # failed calls in this outage
        self._noted = False  # a warning was said in this outage
        self._next_note = -float("inf")  # kept across outages: on and off, too
        self._waiting: dict[str, None] = {}  # in order of first failure

    @property
    def on(self) -> bool:
        """Whether the store is failing (a failure not yet followed by a success)."""
        return self._since is not None

    def failed(self, what: str) -> Note | None:
        """Note a failed call (one that may pass) of ``what`` (``"claiming a
        trial"``); what to say as a warning, or None (then a debug line)."""
        with self._lock:
            now = self._clock()
            if self._since is None:
                self._since, self._failures = now, 0
            self._failures += 1
            self._waiting.pop(what, None)
            self._waiting = {what: None, **self._waiting}
            if now < self._next_note:
                return None
            first = not self._noted and self._failures == 1
            self._next_note, self._noted = now + self._every, True
            return Note(now - self._since, tuple(self._waiting), first)

    def handed_over(self, what: str) -> None:
        """``what`` stopped waiting without getting through (the store's own
        retries gave up: the caller's retries, under another name, take over)."""
        with self._lock:
            self._waiting.pop(what, None)

    def worked(self, what: str, *, once: bool = False) -> tuple[float, int] | None:
        """Note a call of ``what`` that got through; the seconds the store failed
        and the failed calls, if a "works again" line is due now (once per outage
        that said a warning).

        Args:
            what: The activity.
            once: The call failed once before it got through, and its warning
                said it retries at once: no line if that was the outage's only
                failure.
        """
        if self._since is None:  # read without the lock: the common case
            return None
        with self._lock:
            if self._since is None:
                return None
            outage = (self._clock() - self._since, self._failures)
            said = self._noted and not (once and self._failures == 1)
            self._since, self._noted, self._waiting = None, False, {}
            return outage if said else None

    def say_worked(self, what: str, log: _Log, *, once: bool = False) -> None:
        """:meth:`worked`, saying "the store works again" on ``log`` when due."""
        outage = self.worked(what, once=once)
        if outage is not None:
            log.warning(
                "the store works again, after %.0f s and %d failed calls (first "
                "through: %s)",
                *outage,
                what,
            )


_process = Outage()


def process_outage() -> Outage:
    """This process's :class:`Outage` (a forked child starts with none)."""
    return _process


def reset_process_outage(every: float = NOTE_EVERY) -> Outage:
    """Start this process's outage record afresh (a forked child; tests)."""
    global _process
    _process = Outage(every)
    return _process


os.register_at_fork(after_in_child=reset_process_outage)
