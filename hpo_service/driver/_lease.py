"""The study's driver lease: one live driver per study, and telling a dead one.

Driver ids are ``kind@host:pid:random/...`` (:func:`default_owner`), so a driver
whose process is certainly gone (killed with SIGKILL, on this kernel and in this pid
namespace: see :mod:`hpo_service._common.processes`) is known dead at once instead
of when its lease expires. A new driver that cannot tell whether the holder lives
(another host, or a container restarted in a new pid namespace after its driver was
killed) watches the lease: a live driver renews it every third of its length, a dead
one lets it run out, and then the new driver takes the study over.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING

from hpo_service._common.processes import certainly_alive, certainly_dead, owner_id
from hpo_service.exceptions import DriverLeaseError, HPOServiceError
from hpo_service.store import BaseTrialStore

if TYPE_CHECKING:
    from hpo_service.driver._study_loop import Driver

_logger = logging.getLogger(__name__)

WATCH_POLL_SECONDS = 0.5
"""How often a driver watching another's lease reads it."""


def default_owner(kind: str) -> str:
    """A readable unique id: ``kind@host:pid:random`` (and, on Linux, the identity
    of the process that :func:`~hpo_service._common.processes.certainly_dead`
    reads)."""
    return owner_id(f"{kind}@", random_digits=6)


def take_driver_lease(
    store: BaseTrialStore,
    name: str,
    owner: str,
    seconds: float,
    *,
    watch: bool = False,
) -> None:
    """Take (or extend) the study's driver lease for ``owner``, or refuse.

    A lease held by a driver process that is certainly dead (SIGKILLed, of this
    kernel and pid namespace) is taken over at once; one held by a driver that
    certainly runs is refused at once. With ``watch``, a holder that can be neither
    (another host, a container restarted in a new pid namespace) is watched until
    its lease runs out, and the study is then taken over; if the holder renews its
    lease meanwhile it lives, and the lease is refused.

    Args:
        store: The trials store.
        name: The study.
        owner: This driver's id (:func:`default_owner`).
        seconds: The lease's length.
        watch: Watch a holder whose life cannot be told (a driver starting;
            not one renewing its own lease).

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
    renewed = ""
    if (
        watch
        and holder is not None
        and expires is not None
        and not certainly_alive(holder)
    ):
        if _outlived(store, name, owner, seconds, holder, expires):
            return
        study = store.get_study(name)
        holder, expires = study.driver_owner, study.driver_lease_expires_at
        renewed = ", which renewed its lease while this driver waited: it is alive"
    left = "?" if expires is None else f"{expires - store.now():.0f}"
    if is_import(holder):
        raise DriverLeaseError(
            f"study {name!r} is being filled by `hpo-driver import` ({holder}, lease "
            f"expires in {left} s){renewed}: run the command again once the import "
            "ends (a start then checks every imported trial against its space)",
            holder,
        )
    raise DriverLeaseError(
        f"study {name!r} is driven by {holder_text(holder)} (lease expires in "
        f"{left} s){renewed}; stop that driver first, or wait for its lease to expire",
        holder,
    )


def _outlived(
    store: BaseTrialStore,
    name: str,
    owner: str,
    seconds: float,
    holder: str,
    expires: float,
) -> bool:
    """Wait for ``holder``'s lease (ending at ``expires``, store clock) to run out
    and take it for ``owner``: True once taken (also when the holder gives it back
    meanwhile), False as soon as the holder renews it or another driver takes it."""
    _logger.warning(
        "study %r is driven by %s, which this host cannot tell alive or dead (it "
        "runs elsewhere, or it is a container's driver killed before a restart): "
        "waiting up to %.0f s for its lease to run out; a live driver renews it, "
        "and this one then stops",
        name, holder, max(0.0, expires - store.now()),
    )  # fmt: skip
    while True:
        time.sleep(WATCH_POLL_SECONDS)
        if store.acquire_driver_lease(name, owner, seconds):
            _logger.warning(
                "taking over from driver %s: its lease ran out unrenewed", holder
            )
            return True
        study = store.get_study(name)
        now_held = study.driver_owner, study.driver_lease_expires_at
        if now_held[0] is None:  # given back meanwhile: take it at the next look
            continue
        if now_held[0] != holder or (now_held[1] or 0.0) > expires:
            return False


IMPORT_KIND = "import"
"""The kind (:func:`default_owner`) of the lease an ``hpo-driver import`` holds
while it fills a study without a space (see ``_warm_start``)."""


def is_import(holder: str | None) -> bool:
    """Whether the lease ``holder`` is an import filling the study."""
    return holder is not None and holder.startswith(f"{IMPORT_KIND}@")


def holder_text(holder: str | None) -> str:
    """A lease holder as a message names it: its id, or "another driver" while the
    store does not show one (a takeover read before its write is visible)."""
    return "another driver" if holder is None else holder


class LeaseUntilDriving:
    """The driver lease a start holds from its study's opening until its
    :class:`~hpo_service.driver._study_loop.Driver` runs (which gives it back
    however it ends). A start that ends in between gives it back, instead of
    leaving it to expire: ``hpo-driver start`` stopped by a SIGTERM or SIGHUP just
    after the study opened, a second signal or a Ctrl-C while the local workers
    start, a space or driver that cannot be made; ``fmin`` interrupted (a notebook
    catches the KeyboardInterrupt and runs the cell again: its own live process
    held the lease, so it was refused until the lease ran out), or a store error
    while it queues ``points_to_evaluate``. Store errors while giving it back are
    ignored: the lease then runs out by itself.

    Args:
        store: The trials store.
        study: The study.
        owner: The start's driver id (``DriverOptions.owner``).
    """

    def __init__(self, store: BaseTrialStore, study: str, owner: str) -> None:
        self._store, self._study, self._owner = store, study, owner
        self._taken = False
        #: The driver, once made: from its run on, the lease is its to give back.
        self.driver: Driver | None = None

    def taken(self) -> None:
        """Note that the lease is held (``open_driven_study``'s ``on_lease``)."""
        self._taken = True

    def __enter__(self) -> LeaseUntilDriving:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None or not self._taken:
            return
        if self.driver is not None and self.driver.lease_given_back:
            return
        with contextlib.suppress(ConnectionError, HPOServiceError):
            self._store.release_driver_lease(self._study, self._owner)
