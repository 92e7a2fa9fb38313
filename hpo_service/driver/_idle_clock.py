"""How long queued trials have waited with no worker seen taking one.

The driver warns "no worker has taken one for N s" when this clock passes
``DriverOptions.idle_warning``. It counts only time the driver could watch the
store: while the store fails, the driver cannot see workers claim or finish
trials, so the clock starts again when the store works again. Before, it
ran on through the outage: after a MongoDB-wire server stopped for longer than a
trial's lease, the driver warned "3 trials queued and no worker has taken one for
85 s: waiting for workers" as the store came back, though a worker took its
trial back 0.2 s later.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hpo_service.store._outage import Outage, process_outage


class IdleClock:
    """Seconds since the driver last saw a worker's claim or result, counting only
    time since the process's latest store outage ended.

    Args:
        clock: Monotonic seconds (``time.monotonic``; the outage's own clock must
            be the same).
        outage: This process's store outage record (:func:`process_outage`,
            asked at each reading: a forked child starts a record of its own).
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        outage: Callable[[], Outage] = process_outage,
    ) -> None:
        self._clock = clock
        self._outage = outage
        self._since = clock()

    def restart(self) -> None:
        """A worker claimed or finished a trial (as the driver read): count anew."""
        self._since = self._clock()

    def seconds(self) -> float:
        """Seconds the driver has watched with no claim or result seen: since the
        later of the last :meth:`restart` and the end of the store's latest
        outage; 0.0 while the store is failing (the driver cannot see what
        workers do)."""
        outage = self._outage()
        if outage.on:
            return 0.0
        return max(self._clock() - max(self._since, outage.ended), 0.0)
