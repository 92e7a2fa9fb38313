"""Stopping a driver cleanly on SIGTERM, SIGHUP and Ctrl-C.

A driver killed outright leaves its local workers running and its driver lease held
for its full term. While :class:`StopSignals` is active, the first of these signals
only asks the driver to stop (it then releases its lease and stops its local
workers: running trials finish or are handed back); a second one raises
:class:`KeyboardInterrupt` at once, as an impatient user expects.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Callable
from types import FrameType

from hpo_service._common.stop_signals import STOP_SIGNALS, handling

_logger = logging.getLogger(__name__)


class StopSignals:
    """Turns SIGTERM, SIGHUP and SIGINT into a stop request while active.

    A signal the process was started ignoring stays ignored: under ``nohup`` a
    closed terminal's SIGHUP must not stop the driver.

    Use it as a context manager from the main thread (elsewhere it does nothing, as
    Python delivers signals to the main thread only); the previous handlers come
    back on exit.

    Attributes:
        received: The first signal received, or None.
        second: The signal that stopped it at once (raising
            :class:`KeyboardInterrupt`), or None.
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self.second: signal.Signals | None = None
        self._callbacks: list[Callable[[str], None]] = []
        self._handling = contextlib.ExitStack()  # the handlers while inside

    def __enter__(self) -> StopSignals:
        self._handling.enter_context(
            handling(dict.fromkeys(STOP_SIGNALS, self._handle))
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._handling.close()

    @property
    def name(self) -> str:
        """The received signal's name (``"SIGTERM"``), or ``""``."""
        return "" if self.received is None else self.received.name

    def on_stop(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(signal name)`` on the first signal (at once if it came)."""
        self._callbacks.append(callback)
        if self.received is not None:
            callback(self.name)

    def redeliver(self) -> None:
        """Deliver the received signal again to the handler in force before us.

        For library code (``fmin``): after cleaning up, the process ends (or the
        caller's own handler runs) as if we had never caught the signal. SIGINT
        becomes :class:`KeyboardInterrupt`, as Python's default handler does.
        """
        if self.received is None:
            return
        if self.received == signal.SIGINT:
            raise KeyboardInterrupt
        signal.raise_signal(self.received)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:  # the second one: stop waiting, now
            self.second = signal.Signals(signum)
            raise KeyboardInterrupt
        self.received = signal.Signals(signum)
        _logger.warning(
            "got %s: stopping (running trials finish or are handed back); "
            "send it again to stop at once",
            self.name,
        )
        for callback in self._callbacks:
            callback(self.name)
