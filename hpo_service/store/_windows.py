"""A study's trials read a window of tids at a time (:func:`each_trial`): what
``hpo-driver trials``, the report and an export read, and what
:meth:`~hpo_service.store.BaseTrialStore.export_trials` streams on SQLite.

Each window is one :meth:`~hpo_service.store.BaseTrialStore.get_trials` call, so
the memory a read holds does not grow with the study.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpo_service.store._base import BaseTrialStore, Trial, TrialState

#: Tids read per store call: a few MB of wide trials.
WINDOW = 500
#: The most tids a filtered read names (:func:`each_trial`): a filter showing few
#: trials reads many tids per call, as many trials per call as an unfiltered read.
MAX_FILTERED_WINDOW = 20 * WINDOW


def each_trial(
    store: BaseTrialStore,
    study: str,
    states: list[TrialState] | None = None,
    *,
    statuses: Collection[str] = (),
    end: int | None = None,
) -> Iterator[Trial]:
    """The study's trials by tid, read ``WINDOW`` tids at a time (a filtered read:
    about ``WINDOW`` trials shown at a time, :func:`_next_window`); those created
    after the read starts (or from ``end`` on) are left out.

    Each window is one read: a trial shows in its state when its window was read.
    The store chooses the trials (``states``, ``statuses``): one it leaves out is
    not read.

    Args:
        store: The store.
        study: The study.
        states: Only trials in these states; None for all.
        statuses: Only trials whose result's ``status`` is one of these (``ok``,
            ``fail``); empty for all.
        end: Only trials below this tid; None: the study's next tid when the
            read starts (its first item).

    Raises:
        StudyNotFoundError: No such study.
    """
    if end is None:
        end = store.get_study(study).next_tid
    start, size = 0, WINDOW
    while start < end:
        window = range(start, min(start + size, end))
        shown = store.get_trials(study, states, tids=window, statuses=statuses)
        yield from shown
        start = window.stop
        if states is not None or statuses:
            size = _next_window(len(window), len(shown))


def _next_window(size: int, shown: int) -> int:
    """Tids a filtered read names next, after ``shown`` of ``size`` tids read were
    shown: about ``WINDOW`` trials shown per read, from ``WINDOW`` to
    ``MAX_FILTERED_WINDOW`` tids. Each read is one query: on the MongoDB-wire test
    server a query costs about one scan of the collection whatever it returns, so a
    filter showing 1% of the trials read ``WINDOW`` tids at a time costs a scan per
    ``WINDOW`` tids (benchmarks/README.md, filtered export)."""
    return max(WINDOW, min(MAX_FILTERED_WINDOW, size * WINDOW // max(shown, 1)))
