"""The study's driver lease: one live driver per study, and telling a dead one.

Driver ids are ``kind@host:pid:random`` (:func:`default_owner`), so a driver on the
same host whose process is gone (killed with SIGKILL) is known dead at once instead
of when its lease expires.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

from hpo_service.exceptions import DriverLeaseError
from hpo_service.store import BaseTrialStore

_logger = logging.getLogger(__name__)


def default_owner(kind: str) -> str:
    """A readable unique id: ``kind@host:pid:random``."""
    return f"{kind}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def is_dead_local_process(owner: str | None) -> bool:
    """Whether ``owner`` names a process of this host that no longer exists.

    Driver ids (``kind@host:pid:random``, :func:`default_owner`) and worker ids
    (``host:pid:random``) carry their pid. A process killed with SIGKILL leaves its
    lease behind; on the same machine we can tell that it is gone instead of waiting
    for the lease to expire. Anything else (another host, another form) is not known
    dead.
    """
    try:
        host, pid, _ = owner.split("@", 1)[-1].rsplit(":", 2)  # type: ignore[union-attr]
        if host != socket.gethostname():
            return False
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (AttributeError, IndexError, ValueError, PermissionError, OverflowError):
        return False
    return False


def take_driver_lease(
    store: BaseTrialStore, name: str, owner: str, seconds: float
) -> None:
    """Take (or extend) the study's driver lease for ``owner``, or refuse.

    A lease held by a driver process on this host that is known dead (SIGKILLed)
    is taken over at once.

    Raises:
        DriverLeaseError: Another live driver holds the lease.
        StudyNotFoundError: No such study.
    """
    if store.acquire_driver_lease(name, owner, seconds):
        return
    study = store.get_study(name)
    holder, expires = study.driver_owner, study.driver_lease_expires_at
    if holder is None or expires is None or is_dead_local_process(holder):
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
