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

This module also owns the lines an outage is told in (:meth:`Outage.say_failed`,
:meth:`Outage.say_worked`), so every caller says them alike: the outage's first
failure (``... failed, retrying in 1.6 s (the store failed): ...``), then at most
one warning a pace (``... retrying in 1.6 s (the store has failed for 31 s and 17
calls; waiting: ...): ...``), each with the delay its caller really waits before
its next try, then ``the store works again, after 62 s and 31 failed calls (first
through: ...)``.

A store that fails for one activity while others get through (claims fail,
housekeeping reads pass) is one outage, not one per success: a call that gets
through ends it only if it is one of what waits, or once nothing waiting is due to
try again (the pace past its announced retry). Before, each success in between
said "the store works again, after 0 s" and the next failure began the count anew.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from hpo_service._common.words import counted

if TYPE_CHECKING:  # Python 3.10 has no typing.Unpack
    from typing_extensions import Unpack

NOTE_EVERY = float(os.environ.get("HPO_TEST_STORE_NOTE_SECONDS", "30"))
"""Seconds between a process's warnings while its store keeps failing (30; a test
may shorten it with ``HPO_TEST_STORE_NOTE_SECONDS``)."""

_Log = logging.Logger | logging.LoggerAdapter  # type: ignore[type-arg]


class Words(TypedDict, total=False):
    """The optional words of an outage line (:meth:`Outage.say`)."""

    retry: float | str | None
    context: tuple[str, ...]
    quiet: tuple[str, ...]


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


def retrying_in(seconds: float) -> str:
    """``"retrying in 1.6 s"`` (``seconds`` >= 0; ``"retrying at once"`` for 0)."""
    return f"retrying in {seconds:.3g} s" if seconds > 0 else "retrying at once"


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
        self._due: dict[str, float] = {}  # a waiting activity's announced next try
        self._callers = threading.local()  # .names: this thread's activities

    def _doing_now(self) -> list[str]:
        """The activities this thread is in (:meth:`doing`), innermost last."""
        names: list[str] | None = getattr(self._callers, "names", None)
        if names is None:
            names = self._callers.names = []
        return names

    def doing(self, what: str) -> _Doing:
        """Within: this thread's store calls are part of ``what``, an activity whose
        caller rides out their failures (``"record the reports of trial s/0"``),
        and the store's retries inside wait under its name (see :meth:`name`)."""
        return _Doing(self._doing_now(), what)

    def name(self, what: str) -> str:
        """The name a store call of ``what`` (``"storing a trial's reports"``)
        waits under: the innermost activity this thread is in (:meth:`doing`),
        else ``what``."""
        names = self._doing_now()
        return names[-1] if names else what

    def inside(self) -> bool:
        """Whether this thread is in an activity whose caller rides out failures
        (:meth:`doing`): then the caller, not a store call within, says when the
        activity got through (a driver's poll reads and writes; a read that passes
        while the writes fail is not the end of the outage)."""
        return bool(self._doing_now())

    @property
    def on(self) -> bool:
        """Whether the store is failing (a failure not yet followed by a success)."""
        return self._since is not None

    @property
    def ended(self) -> float:
        """When the latest outage ended (its first call that got through), in the
        ``clock``'s seconds; -inf if none has."""
        return self._ended

    def failed(self, what: str, retry_in: float | None = None) -> Note | None:
        """Note a failed call (one that may pass) of ``what`` (``"claiming a
        trial"``); what to say as a warning, or None (then a debug line).

        Args:
            what: The activity.
            retry_in: Seconds until ``what`` tries again (None: unknown, as for a
                pruner's read, done again at the trial's next report).
        """
        with self._lock:
            now = self._clock()
            if self._since is None:
                self._since, self._failures = now, 0
            self._failures += 1
            self._waiting.pop(what, None)
            self._waiting = {what: None, **self._waiting}
            self._due[what] = now + (retry_in or 0.0)
            if now < self._next_note:
                return None
            first = not self._noted and self._failures == 1
            self._next_note, self._noted = now + self._every, True
            return Note(now - self._since, self._failures, tuple(self._waiting), first)

    def say_failed(
        self, what: str, log: _Log, said: str, error: object, **words: Unpack[Words]
    ) -> None:
        """:meth:`failed`, said on ``log`` (:meth:`say`).

        Args:
            what: The activity, in the list of what waits.
            log: Where to say it.
            said: What failed (``"worker: cannot claim trials"``).
            error: The failure.
            **words: ``retry``, ``context``, ``quiet``, as for :meth:`say`.
        """
        retry = words.get("retry")
        seconds = retry if isinstance(retry, int | float) else None
        self.say(self.failed(what, seconds), log, said, error, **words)

    @staticmethod
    def say(
        note: Note | None, log: _Log, said: str, error: object, **words: Unpack[Words]
    ) -> None:
        """Say a failure :meth:`failed` noted (``note``: a warning; None: a debug
        line) as ``{said}, {retry} ({context}; {failure}): {error}``.

        Args:
            note: What :meth:`failed` returned.
            log: Where to say it.
            said: What failed (``"worker: cannot claim trials"``).
            error: The failure.
            **words: ``retry``: seconds until the caller really tries again (said
                ``retrying in 1.6 s``), or words for when (``"judging it again at
                its next report"``), or None (not said); ``context``: words for the
                parentheses (``"lease ends in 8 s"``); ``quiet``: words for the
                parentheses of a debug line only (``"this call's attempt 3"``).
        """
        retry = words.get("retry")
        seconds = retry if isinstance(retry, int | float) else None
        when = retrying_in(seconds) if seconds is not None else retry
        quiet = words.get("quiet", ()) if note is None else ()
        parts = (*words.get("context", ()), *quiet, failure(note))
        log.log(
            logging.DEBUG if note is None else logging.WARNING,
            "%s%s (%s): %s", said, f", {when}" if when else "", "; ".join(parts), error,
        )  # fmt: skip

    def expect(self, what: str, seconds: float) -> None:
        """``what``, failed and waiting, tries again in ``seconds`` (known only
        after its failure was noted: a worker's claim, at the pause of its loop)."""
        with self._lock:
            if what in self._waiting:
                self._due[what] = self._clock() + seconds

    def handed_over(self, what: str) -> None:
        """``what`` stopped waiting without getting through (the store's own
        retries gave up: the caller's retries, under another name, take over);
        an activity this thread is in (:meth:`doing`) still waits."""
        if what in self._doing_now():
            return
        with self._lock:
            self._waiting.pop(what, None)
            self._due.pop(what, None)

    def worked(
        self, what: str, *, once: bool = False, alone: bool = False
    ) -> tuple[float, int] | None:
        """Note a call of ``what`` that got through; the seconds the store failed
        and the failed calls, if a "works again" line is due now (once per outage
        that said a warning). It ends the outage unless other activities still
        wait for the store (see :meth:`_still_waiting`).

        Args:
            what: The activity.
            once: The call failed once before it got through, and its warning
                said it retries at once: no line if that was the outage's only
                failure.
            alone: End the outage only if its one failure was this call's (a
                store call within a caller's activity, see :meth:`inside`).
        """
        if self._since is None:  # read without the lock: the common case
            return None
        with self._lock:
            if self._since is None or self._still_waiting(what):
                return None
            if alone and self._failures != 1:
                return None
            self._ended = self._clock()
            outage = (self._ended - self._since, self._failures)
            said = self._noted and not (once and self._failures == 1)
            self._since, self._noted, self._waiting = None, False, {}
            self._due = {}
            return outage if said else None

    def _still_waiting(self, what: str) -> bool:
        """Whether the outage goes on although a call of ``what`` got through:
        ``what`` is not among what waits, and something that is will try again
        within a pace of its announced retry (a partial outage: claims fail while
        housekeeping reads pass). Called with the lock held."""
        if what in self._waiting:
            return False
        now = self._clock()
        return any(now <= due + self._every for due in self._due.values())

    def say_worked(
        self, what: str, log: _Log, *, once: bool = False, alone: bool = False
    ) -> None:
        """:meth:`worked`, saying "the store works again" on ``log`` when due."""
        outage = self.worked(what, once=once, alone=alone)
        if outage is not None:
            seconds, failures = outage
            log.warning(
                "the store works again, after %.0f s and %s (first through: %s)",
                seconds,
                counted(failures, "failed call"),
                what,
            )


class _Doing:
    """The context of :meth:`Outage.doing`: ``what`` is this thread's innermost
    activity within. A class, not a ``contextmanager`` generator: it wraps every
    store call of a worker's trial and of a driver's poll, and costs 2 Python
    calls where the generator's machinery cost about 12."""

    __slots__ = ("_names", "_what")

    def __init__(self, names: list[str], what: str) -> None:
        self._names, self._what = names, what

    def __enter__(self) -> None:
        self._names.append(self._what)

    def __exit__(self, *exc: object) -> None:
        self._names.pop()


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
