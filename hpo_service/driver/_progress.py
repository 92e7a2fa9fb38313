"""Progress display: a tqdm bar on a terminal, a periodic log line elsewhere."""

from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

_logger = logging.getLogger(__name__)
_LOG_EVERY_SECONDS = 5.0


class Progress:
    """Shows finished trials out of ``total`` and the best loss so far (with several
    objectives: the size of the Pareto front)."""

    def __init__(self, total: int | None, *, enabled: bool = True, initial: int = 0):
        self._total = total
        self._done = initial
        self._shown = ""
        self._bar: tqdm | None = None
        self._last_log = time.monotonic()
        self._log_lines = enabled and not sys.stderr.isatty()
        if enabled and not self._log_lines:
            self._bar = tqdm(
                total=total, initial=initial, unit="trial", dynamic_ncols=True
            )

    def update(
        self,
        done: int,
        best: float | None,
        *,
        pruned: int = 0,
        front: int | None = None,
        feasible: bool = True,
    ) -> None:
        """Show ``done`` finished trials, ``pruned`` of them pruned, and the best loss.

        Args:
            done: Finished trials.
            best: The best loss, None while no trial succeeded.
            pruned: Pruned trials among ``done``.
            front: With several objectives, the number of trials on the Pareto front
                (shown instead of ``best``); None for one objective.
            feasible: Whether the best trial satisfies its constraints (it is the
                least violating one while no trial does).
        """
        shown = _summary_text(best, pruned, front, feasible)
        changed = done != self._done or shown != self._shown
        if self._bar is not None and changed:
            self._bar.update(done - self._done)
            self._bar.set_postfix_str(shown, refresh=True)
        self._done, self._shown = done, shown
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
            self._shown or _summary_text(None, 0, None, True),
        )


def _summary_text(
    best: float | None, pruned: int, front: int | None, feasible: bool
) -> str:
    if front is not None:
        text = f"Pareto front: {front} trial(s)"
    elif best is None:
        text = "best loss: none yet"
    else:
        text = f"best loss: {best:.6g}" + ("" if feasible else " (infeasible)")
    return f"{text}, pruned: {pruned}" if pruned else text
