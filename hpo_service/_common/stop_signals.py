"""The signals that ask a driver or a worker to stop: SIGTERM, SIGHUP and SIGINT."""

from __future__ import annotations

import signal

STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGTERM", "SIGHUP", "SIGINT")
    if hasattr(signal, name)  # no SIGHUP on Windows
)
"""The stop signals this platform has, in that order (no SIGHUP on Windows)."""
