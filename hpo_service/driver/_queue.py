"""The queue-depth policy: how many suggestions the driver keeps queued (``new``).

A queued trial is a suggestion made before the results that finish while it waits, and
TPE counts it as pending (a bad observation) until it finishes, so a deep queue makes
suggestions stale and crowds the model. An empty queue idles the workers that finish
meanwhile (they poll again after 0.1-2 s). The automatic depth therefore covers what
finishes during one refill of the driver, measured from the completion rate, and no
more.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

_logger = logging.getLogger(__name__)

REFILL_SECONDS = 0.05
"""Shortest time assumed between a trial finishing and the driver's refill landing."""

MAX_AUTO_QUEUE_DEPTH = 512
_MAX_CYCLE = 0.5  # a longer gap between refills is a pause, not the refill rhythm

HOLD_SECONDS = 2.5
"""How long a raised depth holds without the queue running dry (workers poll an empty
queue at most every 2 s)."""


class CompletionRate:
    """Trials finished per second, averaged over windows of a quarter second.

    Args:
        clock: Monotonic clock in seconds (a simulation passes its own).
    """

    WINDOW = 0.25

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = 0.0
        self._clock = clock
        self._count = 0
        self._since = clock()

    def count(self) -> None:
        """Note one finished trial (and fold the window into the rate when due)."""
        self._count += 1
        now = self._clock()
        elapsed = now - self._since
        if elapsed >= self.WINDOW:
            self.rate = 0.5 * self.rate + 0.5 * self._count / elapsed
            self._count, self._since = 0, now


class QueuePolicy:
    """The automatic queue depth, decided afresh at every refill of the driver.

    The depth covers the trials expected to finish before the next refill lands,
    ``lam = rate * max(horizon, 2 * cycle)`` (``cycle``: the measured time between
    refills), with a margin of two standard deviations since finishes are roughly
    Poisson: ``ceil(lam + 2 * sqrt(lam))``, at least ``floor``. Workers the driver
    knows to be idle (local ones not running a trial) get one each.

    Idle remote workers are invisible until they claim. A refill that finds more
    trials running than ever before has met workers it did not know, and more may be
    waiting: the queue then gets ``growth`` trials for each of them, so a fleet that
    starts at once is served within a few of its polls. In a steady state (as many
    claims as finishes) this adds nothing.

    Args:
        local_workers: Workers started by this driver (known to exist).
        horizon: Shortest refill latency assumed, seconds.
        floor: Smallest depth.
        growth: Trials queued per newly seen worker while the queue runs dry.
        clock: Monotonic clock in seconds (a simulation passes its own).
    """

    def __init__(
        self,
        local_workers: int = 0,
        *,
        horizon: float = REFILL_SECONDS,
        floor: int = 1,
        growth: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.local_workers = local_workers
        self.horizon = horizon
        self.floor = floor
        self.growth = growth
        self.completions = CompletionRate(clock)
        self._clock = clock
        self._last_call: float | None = None
        self._cycle = 0.0
        self._running = local_workers  # the most workers known to exist

    def depth(self, running: int, queued: int) -> int:
        """The depth to fill to now (call once per refill).

        Args:
            running: Trials running now.
            queued: Trials queued (``new``) now.
        """
        now = self._clock()
        if self._last_call is not None:
            gap = min(now - self._last_call, _MAX_CYCLE)
            self._cycle = 0.8 * self._cycle + 0.2 * gap
        self._last_call = now
        newly_seen = max(0, running - self._running)
        self._running = max(self._running, running)
        lam = self.completions.rate * max(self.horizon, 2.0 * self._cycle)
        by_rate = math.ceil(lam + 2.0 * math.sqrt(lam))
        idle_local = max(0, self.local_workers - running)
        wanted = max(self.floor, by_rate, idle_local, self.growth * newly_seen)
        return min(wanted, MAX_AUTO_QUEUE_DEPTH)
