"""``hpo-worker``'s entry point: stop signals are noted from its first line on.

A SIGTERM or SIGUSR1 sent while the worker imports its modules, or between opening
its store and starting its loop, is handed to the loop (which stops before claiming)
instead of ending the worker by the default action.
"""

from __future__ import annotations

from hpo_service._common.stop_signals import (
    DRAIN_SIGNALS,
    STOP_SIGNALS,
    noted,
    pause_point,
)

WORKER_SIGNALS = (*STOP_SIGNALS, *DRAIN_SIGNALS)
"""The signals a worker handles, noted from its start."""


def main() -> None:
    """Run ``hpo-worker`` (see :func:`hpo_service.worker.cli.main`)."""
    with noted(WORKER_SIGNALS):
        pause_point("started")
        from hpo_service.worker.cli import main as command  # after `noted`: slow

        command(prog_name="hpo-worker")
