"""A helper process for the report's random forest, so a 2-core machine uses both.

``hpo-driver report`` spends about as long importing scikit-learn and fitting the
fANOVA forest as it spends reading the study and drawing the other figures. With
:func:`forest_process` a forked child imports scikit-learn while the parent reads the
store, then fits the forest while the parent draws; the parent only waits for what
is left. The work done is the same (the child is a fork: no second interpreter
start-up); on a machine with one core, or without ``fork``, everything stays in
process.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor

_logger = logging.getLogger(__name__)


def _ignore_interrupts() -> None:
    """Ctrl+C is the parent's to handle (the child would print a traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _import_scikit_learn() -> None:
    # A missing scikit-learn is reported by the fit itself, in the parent's words.
    with contextlib.suppress(ImportError):
        import sklearn.ensemble  # noqa: F401


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def forest_process() -> Iterator[Executor | None]:
    """A one-process executor that starts importing scikit-learn now, or None.

    Yields:
        An executor for :func:`~hpo_service.insight.write_report`'s ``executor``
        (``fork`` start method, one worker), or None when this machine has a single
        usable core or no ``fork``. The process ends with the block.
    """
    if _cores() < 2 or "fork" not in multiprocessing.get_all_start_methods():
        yield None
        return
    pool = ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_ignore_interrupts,
    )
    try:
        pool.submit(_import_scikit_learn)
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
