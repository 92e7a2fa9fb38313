"""The signals that ask a driver or a worker to stop: SIGTERM, SIGHUP and SIGINT;
and a worker's SIGUSR1 (hyperopt-mongo-worker's "finish the current trial, then
quit")."""

from __future__ import annotations

import signal

STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGTERM", "SIGHUP", "SIGINT")
    if hasattr(signal, name)  # no SIGHUP on Windows
)
"""The stop signals this platform has, in that order (no SIGHUP on Windows)."""

DRAIN_SIGNALS = tuple(getattr(signal, n) for n in ("SIGUSR1",) if hasattr(signal, n))
"""hyperopt-mongo-worker's SIGUSR1, for a worker: finish the running trial, then stop
(never abort it); none on Windows."""
