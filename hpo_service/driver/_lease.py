"""The study's driver lease: one live driver per study, and telling a dead one.

Driver ids are ``kind@host:pid:random/...`` (:func:`default_owner`), so a driver
whose process is certainly gone (killed with SIGKILL, on this kernel and in this pid
namespace: see :mod:`hpo_service._common.processes`) is known dead at once instead
of when its lease expires.
"""

from __future__ import annotations

import logging

from hpo_service._common.processes import certainly_dead, owner_id
from hpo_service.exceptions import DriverLeaseError
from hpo_service.store import BaseTrialStore

_logger = logging.getLogger(__name__)


def default_owner(kind: str) -> str:
    """A readable unique id: ``kind@host:pid:random`` (and, on Linux, the identity
    of the process that :func:`~hpo_service._common.processes.certainly_dead`
    reads)."""
    return owner_id(f"{kind}@", random_digits=6)


def take_driver_lease(
    store: BaseTrialStore, name: str, owner: str, seconds: float
) -> None:
    """Take (or extend) the study's driver lease for ``owner``, or refuse.

    A lease held by a driver process that is certainly dead (SIGKILLed, of this
    kernel and pid namespace) is taken over at once.

    Raises:
        DriverLeaseError: Another live driver holds the lease.
        StudyNotFoundError: No such study.
    """
    if store.acquire_driver_lease(name, owner, seconds):
        return
    study = store.get_study(name)
    holder, expires = study.driver_owner, study.driver_lease_expires_at
    if holder is None or expires is None or certainly_dead(holder):
        if holder is not None:
            _logger.warning("taking over from dead driver %s", holder)
            store.release_driver_lease(name, holder)
        if store.acquire_driver_lease(name, owner, seconds):
            return
        study = store.get_study(name)
        holder, expires = study.driver_owner, study.driver_lease_expires_at
    left = "?" if expires is None else f"{expires - store.now():.0f}"
    raise DriverLeaseError(
        f"study {name!r} is driven by {holder_text(holder)} (lease expires in "
        f"{left} s); stop that driver first, or wait for its lease to expire",
        holder,
    )


def holder_text(holder: str | None) -> str:
    """A lease holder as a message names it: its id, or "another driver" while the
    store does not show one (a takeover read before its write is visible)."""
    return "another driver" if holder is None else holder
