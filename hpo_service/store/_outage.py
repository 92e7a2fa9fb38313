"""One warning pace per process while its store fails.

A worker meets one store outage through several activities at once: its claims, the
heartbeat of its trial, its report writes, its pruner's reads, and the store's own
retries inside each. Each had its own 30 s pace, so one 82 s server outage gave one
worker 11 warning lines (and two "works again" lines). All of them now ask this
process's :class:`Outage` whether a failure is worth a warning: the first failure of
an outage is, then at most one every :data:`NOTE_EVERY` seconds, naming everything
that waits; the others are debug lines. The first call that gets through ends the
outage with one "the store works again" line.

One activity waits under one name. A caller that rides out failures of its own
(a worker recording a trial's reports) runs its store calls within
:meth:`Outage.doing`: the store's retries inside it then wait under the caller's
name, not under their own as well (before, one report write was listed twice:
``storing a trial's report; record the reports of trial s/0``). The warnings count
the outage's failed calls, whichever activity made them, as the end line does: a
call's own attempt number (1 for a claim that started 31 s into an outage) is a
debug detail.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from hpo_service._common.words import counted

NOTE_EVERY = float(os.environ.get("HPO_TEST_STORE_NOTE_SECONDS", "30"))
"""Seconds between a process's warnings while its store keeps failing (30; a test
may shorten it with ``HPO_TEST_STORE_NOTE_SECONDS``)."""

_Log = logging.Logger | logging.LoggerAdapter  # type: ignore[type-arg]


@dataclass(frozen=True)
class Note:
    """A failure to say as a warning.

    Attributes:
        failing_for: Seconds since the outage's first failure.
        failures: The outage's failed calls so far, this one included.
        waiting: What waits for the store, each activity once, the failing call's
            first.
        first: The outage's first failure (said without the three above).
    """

    failing_for: float
    failures: int
    waiting: tuple[str, ...]
    first: bool = False

    def __str__(self) -> str:
        """``the store has failed for 31 s and 17 calls; waiting: a; b`` ("" if
        ``first``)."""
        if self.first:
            return ""
        return (
            f"the store has failed for {self.failing_for:.0f} s and "
            f"{counted(self.failures, 'call')}; waiting: {'; '.join(self.waiting)}"
        )


def aside(note: Note | None, before: str = " (", after: str = ")") -> str:
    """``note`` for the middle of a log line (``" (the store has failed ...)"``),
    or "" (no note, or the outage's first failure)."""
    text = "" if note is None else str(note)
    return f"{before}{text}{after}" if text else ""


def failure(note: Note | None) -> str:
    """What a line says of the store's failure: ``note`` (how long, how many calls,
    what waits), or ``"the store failed"`` (the outage's first failure, or a debug
    line), not both ("the store failed; the store has failed for 31 s ...")."""
    text = "" if note is None else str(note)
    return text or "the store failed"


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
        self._ended = -float("inf")  # when the latest outage ended
        self._noted = False  # a warning was said in this outage
        self._next_note = -float("inf")  # kept across outages: on and off, too
        self._waiting: dict[str, None] = {}  # latest failure first
        self._callers = threading.local()  # .names: this thread's activities

    def _doing_now(self) -> list[str]:
        """The activities this thread is in (:meth:`doing`), innermost last."""
        names: list[str] | None = getattr(self._callers, "names", None)
        if names is None:
            names = self._callers.names = []
        return names

    @contextmanager
    def doing(self, what: str) -> Iterator[None]:
        """Within: this thread's store calls are part of ``what``, an activity whose
        caller rides out their failures (``"record the reports of trial s/0"``),
        and the store's retries inside wait under its name (see :meth:`name`)."""
        names = self._doing_now()
        names.append(what)
        try:
            yield
        finally:
            names.pop()

    def name(self, what: str) -> str:
        """The name a store call of ``what`` (``"storing a trial's reports"``)
        waits under: the innermost activity this thread is in (:meth:`doing`),
        else ``what``."""
        names = self._doing_now()
        return names[-1] if names else what

    @property
    def on(self) -> bool:
        """Whether the store is failing (a failure not yet followed by a success)."""
        return self._since is not None

    @property
    def ended(self) -> float:
        """When the latest outage ended (its first call that got through), in the
        ``clock``'s seconds; -inf if none has."""
        return self._ended

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
            return Note(now - self._since, self._failures, tuple(self._waiting), first)

    def handed_over(self, what: str) -> None:
        """``what`` stopped waiting without getting through (the store's own
        retries gave up: the caller's retries, under another name, take over);
        an activity this thread is in (:meth:`doing`) still waits."""
        if what in self._doing_now():
            return
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
            self._ended = self._clock()
            outage = (self._ended - self._since, self._failures)
            said = self._noted and not (once and self._failures == 1)
            self._since, self._noted, self._waiting = None, False, {}
            return outage if said else None

    def say_worked(self, what: str, log: _Log, *, once: bool = False) -> None:
        """:meth:`worked`, saying "the store works again" on ``log`` when due."""
        outage = self.worked(what, once=once)
        if outage is not None:
            seconds, failures = outage
            log.warning(
                "the store works again, after %.0f s and %s (first through: %s)",
                seconds,
                counted(failures, "failed call"),
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
