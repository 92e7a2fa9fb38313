"""The driver lease an ``hpo-driver import`` holds on a study without a space while
it fills it, kept alive by a thread and checked before the import writes.

A start that gives the study its space takes the same lease first, so while the
import holds it no space can appear under it. Holding it means: each renewal
returned before the previous one's lease could have run out. A renewal that fails
(an outage) leaves the lease to run out; one that returns after that (the store
came back), or that another process refused, means the lease was lost, and
:meth:`ImportLease.confirm` then ends the import before it writes anything: a start
may have given the study a space its trials were never checked against.
"""

from __future__ import annotations

import logging
import threading
import time

from hpo_service.exceptions import DriverLeaseError, HPOServiceError
from hpo_service.store import BaseTrialStore

_logger = logging.getLogger(__name__)


class ImportLease:
    """Renews an import's lease every third of its length until :meth:`stop`.

    Args:
        store: The trials store (shared with the renewal thread).
        study: The study being filled.
        owner: The import's lease owner id.
        seconds: The lease's length.
        taken_at: ``time.monotonic()`` just before the call that took the lease.
    """

    def __init__(
        self,
        store: BaseTrialStore,
        study: str,
        owner: str,
        seconds: float,
        *,
        taken_at: float,
    ) -> None:
        self._store, self._study, self._owner = store, study, owner
        self._seconds = seconds
        self._lock = threading.Lock()
        self._valid_until = taken_at + seconds  # monotonic: held for sure until then
        self._lost = ""  # why it was lost, once it was
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="hpo-import-lease", daemon=True
        )

    def start(self) -> None:
        """Start renewing on a thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing; returns once a renewal under way is done (a renewal after
        the release would take the lease back)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def confirm(self) -> None:
        """Renew the lease now and check that it was never lost: call right before
        the import writes.

        Raises:
            DriverLeaseError: The lease was lost (its renewals failed for longer
                than its length, or another process holds it).
        """
        self._renew()
        if reason := self.lost():
            raise DriverLeaseError(
                f"`hpo-driver import` must hold study {self._study!r}'s driver lease "
                f"until its trials are in, but it lost it ({reason}): nothing was "
                "imported, since a start may have given the study a space meanwhile; "
                "run the import again"
            )

    def lost(self) -> str:
        """Why the lease was lost, or ``""`` while it is held."""
        with self._lock:
            if not self._lost and time.monotonic() >= self._valid_until:
                self._lost = f"not renewed within its {self._seconds:g} s"
            return self._lost

    def _run(self) -> None:
        while not self._stop.wait(self._seconds / 3):
            self._renew()
            if reason := self.lost():
                _logger.warning(
                    "study %r: the import lost its driver lease (%s); it imports "
                    "nothing", self._study, reason,
                )  # fmt: skip
                return

    def _renew(self) -> None:
        """One renewal: the lease then holds for its length from the call's start,
        if the call returned while the previous one still held."""
        if self.lost():
            return
        started = time.monotonic()
        try:
            held = self._store.acquire_driver_lease(
                self._study, self._owner, self._seconds
            )
        except (ConnectionError, HPOServiceError) as e:
            _logger.debug(
                "study %r: renewing the import's lease failed: %s", self._study, e
            )
            return  # the next renewal tries again, while the lease holds
        with self._lock:
            if self._lost:
                return
            if time.monotonic() >= self._valid_until:
                self._lost = f"renewed only after its {self._seconds:g} s ran out"
            elif not held:
                self._lost = "another process holds it"
            else:
                self._valid_until = started + self._seconds
