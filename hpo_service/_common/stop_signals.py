"""The signals that ask a driver or a worker to stop: SIGTERM, SIGHUP and SIGINT;
and a worker's SIGUSR1 (hyperopt-mongo-worker's "finish the current trial, then
quit").

A command that handles them notes them from its first line on (:func:`noted`), so
that none comes in a gap between two blocks that handle them (importing, between
opening the store and the loop) and ends the process by the default action; each
:func:`handling` block gets those noted before it began.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGTERM", "SIGHUP", "SIGINT")
    if hasattr(signal, name)  # no SIGHUP on Windows
)
"""The stop signals this platform has, in that order (no SIGHUP on Windows)."""

DRAIN_SIGNALS = tuple(getattr(signal, n) for n in ("SIGUSR1",) if hasattr(signal, n))
"""hyperopt-mongo-worker's SIGUSR1, for a worker: finish the running trial, then stop
(never abort it); none on Windows."""

PAUSE_ENV = "HPO_TEST_PAUSE"
"""``POINT:PATH``: at :func:`pause_point` ``POINT``, create PATH and wait until it is
gone (a test sends a signal exactly there). Not for users."""

_PAUSE_LIMIT = 60.0  # seconds a pause waits at most
_noted: list[int] = []  # signals noted by `noted`, not yet handed to a handler


@contextlib.contextmanager
def noted(signums: tuple[int, ...]) -> Iterator[None]:
    """Note each of ``signums`` inside the block, except where a :func:`handling`
    block handles it: that block gets the ones noted before it began. What no block
    took is dropped at the end (the process is ending).

    For a command's entry point, before its imports: a stop signal sent while it
    starts, or between two steps that handle signals, must not end it by the
    default action (SIGUSR1's and SIGTERM's is death). Main thread only; a signal
    ignored at start stays ignored.
    """

    def note(signum: int, frame: object) -> None:
        _noted.append(signum)

    try:
        with handling(dict.fromkeys(signums, note)):
            yield
    finally:
        _noted.clear()


@contextlib.contextmanager
def handling(handlers: Mapping[int, Callable[[int, Any], Any]]) -> Iterator[None]:
    """Handle each signal of ``handlers`` (signal number -> handler) with its
    handler inside the block, then put back the handlers it had before.

    Python delivers signals to the main thread only, so elsewhere nothing is
    installed; and a signal ignored at start stays ignored (SIG_IGN: ``nohup``'s
    SIGHUP, a shell's SIGINT for ``cmd &``). Signals :func:`noted` before the block
    go to its handlers first, in the order they came.
    """
    previous: dict[int, Any] = {}
    try:
        if threading.current_thread() is threading.main_thread():
            for signum, handler in handlers.items():
                before = signal.getsignal(signum)
                if before == signal.SIG_IGN:
                    continue
                previous[signum] = before
                signal.signal(signum, handler)
            _hand_over_noted(handlers, previous)
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, signal.SIG_DFL if before is None else before)


class StopRequested(BaseException):
    """A stop signal raised in the main thread (:func:`raised`): as
    KeyboardInterrupt, no ``except Exception`` catches it, so the code it
    interrupts unwinds through its ``finally`` blocks (a lease given back).

    Attributes:
        signum: The signal's number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def raised(signums: tuple[int, ...]) -> Iterator[None]:
    """Inside the block each of ``signums`` raises :class:`StopRequested` (in the
    main thread; as :func:`handling`: one ignored at start stays ignored, one
    :func:`noted` before the block is raised as it begins)."""

    def stop(signum: int, frame: object) -> None:
        raise StopRequested(signum)

    with handling(dict.fromkeys(signums, stop)):
        yield


@contextlib.contextmanager
def exiting(signums: tuple[int, ...], said: Callable[[str], str]) -> Iterator[None]:
    """As :func:`raised`; once the block has unwound from one of ``signums``, write
    ``said(name)`` (``name``: the signal's, ``"SIGTERM"``) to standard error and
    exit 128+signal: what a command stopped by a signal says, instead of dying by
    the default action (leaving a lease held) or printing a traceback.

    Raises:
        SystemExit: With code 128+signal, after such a signal.
    """
    try:
        with raised(signums):
            yield
    except StopRequested as e:
        print(said(signal.Signals(e.signum).name), file=sys.stderr, flush=True)
        sys.exit(128 + e.signum)


def _hand_over_noted(
    handlers: Mapping[int, Callable[[int, Any], Any]], installed: Mapping[int, Any]
) -> None:
    """Call the handler of each signal noted so far that it now handles."""
    for signum in [s for s in _noted if s in installed]:
        _noted.remove(signum)
        handlers[signum](signum, None)


def pause_point(point: str) -> None:
    """A test's hook into a race: with ``HPO_TEST_PAUSE=POINT:PATH`` set and
    ``point`` == POINT, create PATH (written, then renamed into place), then wait
    until the test removes it (60 s at most) while signals come as they would at
    that point. Otherwise nothing."""
    wanted, _, path = os.environ.get(PAUSE_ENV, "").partition(":")
    if wanted != point or not path:
        return
    marker = Path(path)
    written = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
    written.write_text(f"{os.getpid()}\n")
    written.replace(marker)  # PATH appears whole: the test may act at once
    deadline = time.monotonic() + _PAUSE_LIMIT
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
