"""The stateless worker: claims queued trials, runs the objective isolated, records.

Run it as ``hpo-worker`` (see :mod:`hpo_service.worker.cli`) or in Python with
:func:`run_worker`::

    from hpo_service.store import open_store
    from hpo_service.worker import run_worker

    store = open_store("sqlite:///hpo.sqlite")
    summary = run_worker(store, study="demo", idle_timeout=60)

Names are imported on first use: the objective's child process imports
:mod:`hpo_service.worker._child` and must not pay for the worker loop, the store and
numpy on every start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("hpo_service.worker._loop"), name)
    raise AttributeError(f"module 'hpo_service.worker' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
