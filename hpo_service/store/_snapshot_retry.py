"""When a MongoDB store asks again for the snapshot read a server refused.

``count_by_state`` reads with read concern ``snapshot``; a server that refuses it
(:data:`~hpo_service.store._mongo_connect.NO_SNAPSHOT_CODES`) is counted through
the ``(study, tid)`` index instead. Some refusals last (a standalone server,
MongoDB 4.x), others pass: ``SnapshotUnavailable`` (246) during a replica set's
election or while the history window is short, a node being upgraded to 5.0. One
refusal used to switch the store to the index for the rest of its life (a
long-running driver or worker); it now asks for the snapshot again after
:attr:`SnapshotRetry.calls` counts or :attr:`SnapshotRetry.seconds`, whichever
comes first, at the cost of one refused command then on a server that keeps
refusing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class SnapshotRetry:
    """Whether to ask for a snapshot read, after the server refused one.

    Attributes:
        calls: Counts read through the index after a refusal before the next one
            asks for a snapshot again (>= 0).
        seconds: Seconds after a refusal (``time.monotonic``) from which the next
            count asks for a snapshot again, however few counts came since (>= 0).
    """

    calls: int = 100
    seconds: float = 60.0
    _refused_at: float | None = None
    _since: int = 0

    def should_ask(self) -> bool:
        """Whether this count asks for a snapshot: always until a refusal, then
        once :attr:`calls` counts or :attr:`seconds` have passed since it."""
        if self._refused_at is None:
            return True
        self._since += 1
        waited = time.monotonic() - self._refused_at
        return self._since > self.calls or waited >= self.seconds

    def refused(self) -> None:
        """The server refused a snapshot read: the next counts go by the index."""
        self._refused_at, self._since = time.monotonic(), 0

    def accepted(self) -> None:
        """The server gave a snapshot read: ask for one every time again."""
        self._refused_at, self._since = None, 0
