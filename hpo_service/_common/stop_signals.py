"""The signals that ask a driver or a worker to stop: SIGTERM, SIGHUP and SIGINT;
and a worker's SIGUSR1 (hyperopt-mongo-worker's "finish the current trial, then
quit")."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
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


@contextlib.contextmanager
def handling(handlers: Mapping[int, Callable[[int, Any], Any]]) -> Iterator[None]:
    """Handle each signal of ``handlers`` (signal number -> handler) with its
    handler inside the block, then put back the handlers it had before.

    Python delivers signals to the main thread only, so elsewhere nothing is
    installed; and a signal ignored at start stays ignored (SIG_IGN: ``nohup``'s
    SIGHUP, a shell's SIGINT for ``cmd &``).
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
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, signal.SIG_DFL if before is None else before)
