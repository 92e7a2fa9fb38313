"""Requeue at once the running trials whose worker is certainly dead.

A trial whose worker was killed (SIGKILL, the OOM killer) goes back to the queue
when its lease runs out. When the worker's death is certain (its id names a process
of this kernel and pid namespace that is gone: see
:mod:`hpo_service._common.processes`), waiting serves nothing: the attempt's lease is
cut to a millisecond and expired leases are requeued, so the attempt counts as used
(as when its lease runs out: a trial that kills its worker every time is quarantined
after ``max_attempts``), without waiting ``lease_seconds``. Only the dead attempt's
own token is cut: a trial that finished, or was requeued and claimed again since it
was read, is left as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from hpo_service._common.processes import certainly_dead
from hpo_service.store._base import BaseTrialStore, RequeueReport
from hpo_service.store._summary import RunningTrial

#: Seconds of lease left to a dead worker's attempt (then it has expired).
CUT_LEASE = 0.001


def requeue_dead_owners(
    store: BaseTrialStore,
    study: str,
    running: Iterable[RunningTrial],
    *,
    max_attempts: int,
    is_dead: Callable[[str | None], bool] = certainly_dead,
) -> tuple[list[RunningTrial], RequeueReport | None]:
    """Requeue those of ``running`` whose owner ``is_dead``, with every expired lease.

    Args:
        store: The store.
        study: The study of the trials.
        running: Running trials as read (a stale read is safe: see the module),
            e.g. :meth:`~hpo_service.store.BaseTrialStore.running_trials`.
        max_attempts: The study's attempts per trial (``requeue_expired``'s).
        is_dead: Whether an owner id is certainly dead (a driver that saw its own
            local worker die passes one that names that worker's pid).

    Returns:
        The trials judged dead, and what ``requeue_expired`` did (None when no
        trial was judged dead: then nothing was written).
    """
    judged: dict[str | None, bool] = {}
    dead = []
    for trial in running:
        if not trial.token:
            continue
        if trial.owner not in judged:
            judged[trial.owner] = is_dead(trial.owner)
        if judged[trial.owner]:
            dead.append(trial)
    if not dead:
        return [], None
    for trial in dead:
        store.heartbeat(study, trial.tid, trial.token or "", CUT_LEASE)
    time.sleep(2 * CUT_LEASE)
    return dead, store.requeue_expired(max_attempts=max_attempts, study=study)
