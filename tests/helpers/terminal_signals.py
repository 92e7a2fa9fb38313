"""Children started as from a terminal: SIGINT and SIGHUP at their defaults.

A test run started in the background of a non-interactive shell (``cmd &``, as a CI
script may run it) inherits SIGINT ignored, and one under ``nohup`` SIGHUP, and so
would every driver, worker or dashboard it starts: they rightly keep an ignored
signal ignored (``StopSignals``, as for ``cmd &`` and ``nohup``), and a test that
sends SIGINT or SIGHUP would see them run on. A Python handler in this process
becomes the default disposition in children at exec.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def as_from_a_terminal() -> Iterator[None]:
    """Within: processes started get SIGINT and SIGHUP at their defaults."""
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_hup = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGHUP, previous_hup)
