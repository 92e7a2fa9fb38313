"""How long a process has watched the store with nothing happening, not counting
the time the store failed.

Two clocks run on it. The driver warns "no worker has taken one for N s" when the
time since it last saw a claim or a result passes ``DriverOptions.idle_warning``;
a worker stops "no trial to claim for N s (--idle-timeout)" when the time since
its last trial passes its idle timeout. Both count only time the process could
watch the store: while the store fails, the driver cannot see workers claim or
finish trials, and a worker cannot claim one, so the clock starts again when the
store works again. Before, they ran on through the outage: after a MongoDB-wire
server stopped for longer than a trial's lease, the driver warned "3 trials queued
and no worker has taken one for 85 s: waiting for workers" as the store came back,
though a worker took its trial back 0.2 s later; and a worker whose claims failed
for longer than its idle timeout stopped with a trial queued (``hpo-driver start
--workers K`` gives its local workers 60 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hpo_service.store._outage import Outage, process_outage


class IdleClock:
    """Seconds since the last thing the process waits for happened (the driver: a
    worker's claim or result seen; a worker: its last trial), counting only time
    since the process's latest store outage ended.

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
        """What the process waits for happened (a claim or a result): count anew."""
        self._since = self._clock()

    def seconds(self) -> float:
        """Seconds watched with nothing happening: since the later of the last
        :meth:`restart` and the end of the store's latest outage; 0.0 while the
        store is failing (the process cannot see or claim trials)."""
        outage = self._outage()
        if outage.on:
            return 0.0
        return max(self._clock() - max(self._since, outage.ended), 0.0)
