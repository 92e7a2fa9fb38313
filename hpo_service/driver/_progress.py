"""Progress display: a tqdm bar on a terminal (a widget in a Jupyter notebook), a
periodic log line and one end line elsewhere, or hyperopt's progress callback
(``fmin(..., show_progressbar=callback)``)."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from hpo_service._common.words import counted

if TYPE_CHECKING:
    from hpo_service.algorithms.pruners._ladder import PruningLadder

_logger = logging.getLogger(__name__)
_LOG_EVERY_SECONDS = 5.0
#: While nothing changes (no trial finishes: the study waits for workers, or for a
#: long trial), the line is repeated this often instead, to show the run is alive.
_LOG_UNCHANGED_SECONDS = 60.0


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's kernel app runs it), as
    ``tqdm.auto`` tells: IPython in a terminal is no notebook."""
    ipython = sys.modules.get("IPython")  # never imported here: only if in use
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _has_widgets() -> bool:
    return importlib.util.find_spec("ipywidgets") is not None


def bar_class(
    *, notebook: bool | None = None, widgets: bool | None = None
) -> type[tqdm]:
    """The tqdm bar for here: tqdm's notebook widget (what ``tqdm.auto`` picks in a
    kernel) in a Jupyter kernel with ipywidgets installed (the widget needs it),
    else the text bar.

    Args:
        notebook: Whether this is a Jupyter kernel (None: :func:`in_notebook`).
        widgets: Whether ipywidgets is installed (None: look).
    """
    notebook = in_notebook() if notebook is None else notebook
    if notebook and (_has_widgets() if widgets is None else widgets):
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm  # type: ignore[no-any-return]
    return tqdm


class _AboveBar:
    """A text stream (``sys.stdout``/``sys.stderr``) whose whole lines are written
    with ``bar`` cleared first and drawn again after; its other attributes are the
    stream's."""

    def __init__(self, stream: Any, bar: tqdm) -> None:
        self._stream = stream
        self._bar = bar
        self._partial = ""  # text after the last newline, written with the next one

    def write(self, text: str) -> int:
        head, newline, tail = text.rpartition("\n")
        if newline:
            self._partial, text = tail, self._partial + head + newline
            self._write_above(text)
        else:
            self._partial += text
        return len(head + newline + tail)

    def flush(self) -> None:
        if self._partial:
            self._partial, text = "", self._partial
            self._write_above(text)
        self._stream.flush()

    def _write_above(self, text: str) -> None:
        with tqdm.external_write_mode(file=self._bar.fp):
            self._stream.write(text)
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def prints_above(bar: tqdm) -> Iterator[None]:
    """Route ``sys.stdout`` and ``sys.stderr`` around ``bar`` while it shows, as
    hyperopt's bar does: what the objective prints clears the bar, shows on lines
    of its own (in its own stream), and the bar is drawn again below it. The
    streams are restored on exit.
    """
    if type(bar) is not tqdm:  # a notebook widget: prints go to the cell anyway
        yield
        return
    streams = sys.stdout, sys.stderr
    wrapped = _AboveBar(streams[0], bar), _AboveBar(streams[1], bar)
    sys.stdout, sys.stderr = wrapped
    try:
        yield
    finally:
        sys.stdout, sys.stderr = streams
        for stream in wrapped:
            stream.flush()


class Progress:
    """Shows finished trials out of ``total`` and the best loss so far (with several
    objectives: the size of the Pareto front).

    When standard error is no terminal (output redirected to a file, a pipe, a
    service's journal) there is no bar: an INFO log line every 5 s while trials
    finish, every 60 s while none does (seen when the program configured
    logging), and at the end one line saying how the run ended,
    e.g. ``20/20 trials finished (15 done, 1 failed, 2 pruned, 2 error), best loss:
    0.0529`` (done: status ``ok``; failed: the objective returned status ``fail``,
    in the order and words of ``hpo-driver start``'s end line and status; with a
    pruner, ``2 pruned: ASHA keeps the best 1/2 at each rung``). The end
    line is logged when logging would show it, else written to standard error, so
    a plain script run as ``python script.py > log 2>&1`` shows it too.

    Args:
        total: Trials to finish, None for no limit.
        enabled: True for the bar (or log lines), False for nothing, or hyperopt's
            progress callback: ``callback(initial=..., total=...)`` is a context
            manager whose value has ``update(n)`` (``n`` trials more finished) and a
            ``postfix`` attribute (set to the best loss text); ``total`` is then
            ``sys.maxsize`` for no limit, as hyperopt passes it.
        initial: Trials already finished.
        pruning: The study's pruner rule in a few words (``ASHA keeps the best 1/2
            at each rung``), said beside the pruned count of the bar, the log lines
            and the end line, so that many pruned trials read as the rule at work;
            None without a pruner.
    """

    def __init__(
        self,
        total: int | None,
        *,
        enabled: bool | Callable[..., Any] = True,
        initial: int = 0,
        pruning: str | None = None,
    ):
        self._total = total
        self._pruning = pruning
        self._done = initial
        self._pruned = 0
        self._failed = 0
        self._errors = 0
        self._best = _summary_text(None, 0, None, True)  # the best, without counts
        self._shown = ""
        self._bar: Any = None
        self._exit = contextlib.ExitStack()
        self._last_log = time.monotonic()
        self._logged: tuple[int, str] | None = None  # what the last line said
        plain = bool(enabled) and not callable(enabled)
        self._log_lines = plain and not sys.stderr.isatty() and not in_notebook()
        if callable(enabled):
            limit = sys.maxsize if total is None else total
            self._bar = self._exit.enter_context(enabled(initial=initial, total=limit))
        elif plain and not self._log_lines:
            self._bar = bar_class()(
                total=total, initial=initial, unit="trial", dynamic_ncols=True
            )
            self._exit.callback(self._bar.close)
            self._exit.enter_context(prints_above(self._bar))

    def update(
        self,
        done: int,
        best: float | None,
        *,
        pruned: int = 0,
        errors: int = 0,
        front: int | None = None,
        feasible: bool = True,
        failed: int = 0,
    ) -> None:
        """Show ``done`` finished trials, ``pruned`` of them pruned, and the best loss.

        Args:
            done: Finished trials.
            best: The best loss, None while no trial succeeded.
            pruned: Pruned trials among ``done``.
            errors: Error trials among ``done`` (counted in the end line).
            failed: Trials among ``done`` whose objective returned status ``fail``
                (counted in the end line).
            front: With several objectives, the number of trials on the Pareto front
                (shown instead of ``best``); None for one objective.
            feasible: Whether the best trial satisfies its constraints (it is the
                least violating one while no trial does).
        """
        self._pruned, self._errors, self._failed = pruned, errors, failed
        self._best = _summary_text(best, 0, front, feasible)
        shown = _summary_text(best, pruned, front, feasible, self._pruning)
        changed = done != self._done or shown != self._shown
        if self._bar is not None and changed:
            if not isinstance(self._bar, tqdm):
                self._bar.postfix = shown  # before update(n), as hyperopt sets it
            if done > self._done:
                self._bar.update(done - self._done)
            if isinstance(self._bar, tqdm):
                self._bar.set_postfix_str(shown, refresh=True)
        self._done, self._shown = done, shown
        if self._log_lines and self._log_due():
            self._log_line()

    def _log_due(self) -> bool:
        """A log line is due: 5 s since the last one and the counts or the best
        changed, or 60 s with nothing changed (a driver waiting for workers wrote
        the same line every 5 s, 720 an hour)."""
        waited = time.monotonic() - self._last_log
        if waited < _LOG_EVERY_SECONDS:
            return False
        return (self._done, self._shown) != self._logged or (
            waited >= _LOG_UNCHANGED_SECONDS
        )

    def close(self, *, last_line: bool = True, why: str | None = None) -> None:
        """Finish the bar or the callback (or write the end line).

        Args:
            last_line: Write the end line; False when the run ends with an
                error, whose message says how it ended (the counts shown may not
                yet include the trial that caused it).
            why: What stopped the run (``"timeout=60 s ran out"``), said at the
                end of the end line (``fmin``'s: ``hpo-driver start`` says it on
                its own last line), below a bar, or else logged (INFO).
        """
        if self._bar is not None:
            self._exit.close()
        if self._log_lines and last_line:
            self._end_line(why)
        elif why and last_line and isinstance(self._bar, tqdm):
            print(f"stopped: {why}", file=sys.stderr, flush=True)  # below the bar
        elif why and last_line:  # no progress shown, or the caller's
            _logger.info("stopped: %s", why)

    def _log_line(self) -> None:
        self._last_log = time.monotonic()
        self._logged = (self._done, self._shown)
        total = "?" if self._total is None else self._total
        _logger.info(
            "%s/%s trials finished, %s",
            self._done,
            total,
            self._shown or _summary_text(None, 0, None, True),
        )

    def _end_line(self, why: str | None = None) -> None:
        """How the run ended: finished trials by state and the best loss (or the
        front), then ``why`` it stopped if given, logged if logging shows INFO
        lines, else on standard error."""
        total = "?" if self._total is None else self._total
        ok = self._done - self._pruned - self._failed - self._errors
        states = [f"{ok} done"]
        states += [f"{self._failed} failed"] if self._failed else []
        rule = f": {self._pruning}" if self._pruning else ""
        states += [f"{self._pruned} pruned{rule}"] if self._pruned else []
        states += [f"{self._errors} error"] if self._errors else []
        text = (
            f"{self._done}/{total} trials finished ({', '.join(states)}), {self._best}"
        )
        if why:
            text += f"; stopped: {why}"
        if _logger.isEnabledFor(logging.INFO) and _logger.hasHandlers():
            _logger.info("%s", text)
        else:
            print(text, file=sys.stderr, flush=True)


def _summary_text(
    best: float | None,
    pruned: int,
    front: int | None,
    feasible: bool,
    rule: str | None = None,
) -> str:
    if front is not None:
        text = f"Pareto front: {counted(front, 'trial')}"
    elif best is None:
        text = "best loss: none yet"
    else:
        text = f"best loss: {best:.6g}" + ("" if feasible else " (infeasible)")
    if not pruned:
        return text
    return f"{text}, pruned: {pruned}" + (f" ({rule})" if rule else "")


def show_ladder(
    read: Callable[[], PruningLadder | None], enabled: bool | Callable[..., Any]
) -> None:
    """At the end of an ``fmin`` run, write on standard error what its pruner did
    (per rung, or where it pruned) when a trial was pruned or never reported.

    Args:
        read: Returns what the pruner did, or None without a pruner; called only
            when it will be shown.
        enabled: ``fmin``'s progress setting: only True (the bar or the end line)
            shows it; False and hyperopt's progress callbacks show nothing (and
            read nothing).
    """
    if enabled is not True:
        return
    ladder = read()
    if ladder is not None and ladder.worth_showing:
        print("\n".join(ladder.lines()), file=sys.stderr, flush=True)
