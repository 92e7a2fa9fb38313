"""Progress display: a tqdm bar on a terminal, a periodic log line elsewhere."""

from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

_logger = logging.getLogger(__name__)
_LOG_EVERY_SECONDS = 5.0


class Progress:
    """Shows finished trials out of ``total`` and the best loss so far."""

    def __init__(self, total: int | None, *, enabled: bool = True, initial: int = 0):
        self._total = total
        self._done = initial
        self._best: float | None = None
        self._pruned = 0
        self._bar: tqdm | None = None
        self._last_log = time.monotonic()
        self._log_lines = enabled and not sys.stderr.isatty()
        if enabled and not self._log_lines:
            self._bar = tqdm(
                total=total, initial=initial, unit="trial", dynamic_ncols=True
            )

    def update(self, done: int, best: float | None, *, pruned: int = 0) -> None:
        """Show ``done`` finished trials, ``pruned`` of them pruned, and the best loss.

        ``best`` is None while no trial succeeded.
        """
        changed = done != self._done or best != self._best or pruned != self._pruned
        if self._bar is not None and changed:
            self._bar.update(done - self._done)
            self._bar.set_postfix_str(_best_text(best, pruned), refresh=True)
        self._done, self._best, self._pruned = done, best, pruned
        if self._log_lines and time.monotonic() - self._last_log >= _LOG_EVERY_SECONDS:
            self._log_line()

    def close(self) -> None:
        """Finish the bar (or write a last log line)."""
        if self._bar is not None:
            self._bar.close()
        elif self._log_lines:
            self._log_line()

    def _log_line(self) -> None:
        self._last_log = time.monotonic()
        total = "?" if self._total is None else self._total
        _logger.info(
            "%s/%s trials finished, %s",
            self._done,
            total,
            _best_text(self._best, self._pruned),
        )


def _best_text(best: float | None, pruned: int = 0) -> str:
    text = "best loss: none yet" if best is None else f"best loss: {best:.6g}"
    return f"{text}, pruned: {pruned}" if pruned else text
