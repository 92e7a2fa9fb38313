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
