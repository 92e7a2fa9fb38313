"""The stateless worker: claims queued trials, runs the objective isolated, records.

Run it as ``hpo-worker`` (see :mod:`hpo_service.worker.cli`) or in Python with
:func:`run_worker`::

    from hpo_service.store import open_store
    from hpo_service.worker import run_worker

    store = open_store("sqlite:///hpo.sqlite")
    summary = run_worker(store, study="demo", idle_timeout=60)
"""

from __future__ import annotations

from hpo_service.worker._loop import (
    DEFAULT_POLL_INTERVAL,
    Worker,
    WorkerSummary,
    default_worker_id,
    run_worker,
)

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "Worker",
    "WorkerSummary",
    "default_worker_id",
    "run_worker",
]
