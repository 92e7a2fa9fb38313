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

QUEUE_SECONDS = 0.25
"""Seconds of work the automatic depth keeps queued at the measured completion rate."""

MAX_AUTO_QUEUE_DEPTH = 512

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

    The depth covers the trials expected to finish before the next refill can land,
    ``lam = rate * horizon``, with a margin of two standard deviations (finishes are
    roughly Poisson): ``ceil(lam + 2 * sqrt(lam)) + 1``, at least ``floor``. Workers
    the driver knows to be idle (local ones not running a trial) get one each.

    Idle remote workers are invisible until they claim. When a refill finds that
    everything queued last time was claimed, demand may be higher than supply, so the
    depth doubles (up to :data:`MAX_AUTO_QUEUE_DEPTH`); it halves again only after
    :data:`HOLD_SECONDS` without such a drain (longer than a worker's longest pause
    between polls of an empty queue, so that a fleet starting at once is served).

    Args:
        local_workers: Workers started by this driver (known to exist).
        horizon: Seconds of work to keep queued at the measured completion rate.
        floor: Smallest depth.
        clock: Monotonic clock in seconds (a simulation passes its own).
    """

    def __init__(
        self,
        local_workers: int = 0,
        *,
        horizon: float = QUEUE_SECONDS,
        floor: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.local_workers = local_workers
        self.horizon = horizon
        self.floor = floor
        self.completions = CompletionRate(clock)
        self._clock = clock
        self._boost = 0
        self._since = clock()  # last drain, or last halving of the boost
        self._queued_after_fill = 0

    def depth(self, running: int, queued: int) -> int:
        """The depth to fill to now.

        Args:
            running: Trials running now.
            queued: Trials queued (``new``) now.
        """
        now = self._clock()
        if self._queued_after_fill > 0 and queued == 0:
            doubled = max(self._boost, 2 * self._queued_after_fill)
            self._boost, self._since = min(doubled, MAX_AUTO_QUEUE_DEPTH), now
        elif now - self._since > HOLD_SECONDS:
            self._boost, self._since = self._boost // 2, now
        lam = self.completions.rate * self.horizon
        by_rate = min(math.ceil(lam + 2.0 * math.sqrt(lam)) + 1, MAX_AUTO_QUEUE_DEPTH)
        idle_local = max(0, self.local_workers - running)
        return max(self.floor, by_rate, idle_local, self._boost)

    def filled(self, queued: int) -> None:
        """Note how many trials are queued right after a refill."""
        self._queued_after_fill = queued


def auto_queue_depth(workers: int, rate: float) -> int:
    """The automatic queue depth for ``workers`` live workers finishing ``rate``/s.

    Args:
        workers: Workers known to be alive (running a trial, or started locally).
        rate: Trials finished per second, recently.

    Returns:
        One queued trial per live worker, at least 2, and more for fast objectives:
        enough for :data:`QUEUE_SECONDS` at the current rate (at most
        :data:`MAX_AUTO_QUEUE_DEPTH`).
    """
    by_rate = math.ceil(rate * QUEUE_SECONDS)
    return max(2, workers, min(by_rate, MAX_AUTO_QUEUE_DEPTH))
