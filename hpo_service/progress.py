"""hyperopt's ``progress`` module path: progress callbacks for ``fmin``.

A progress callback is a context manager ``callback(initial, total)`` (trials already
finished, trials to finish: ``sys.maxsize`` for no limit) whose value has ``update(n)``
(``n`` more trials finished) and a ``postfix`` attribute (the best loss so far, as
text). ``fmin(..., show_progressbar=callback)`` uses it, as hyperopt's ``fmin`` does::

    from hpo_service import fmin, progress

    fmin(fn, space, max_evals=100, show_progressbar=progress.no_progress_callback)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from tqdm import tqdm

from hpo_service.driver._progress import bar_class, prints_above

__all__ = ["default_callback", "no_progress_callback", "tqdm_progress_callback"]


@contextlib.contextmanager
def tqdm_progress_callback(initial: int, total: int) -> Iterator[tqdm]:
    """A tqdm bar, ``initial`` of ``total`` trials done: on standard error, or a
    widget in a Jupyter notebook (``tqdm.auto``'s, when ipywidgets is installed).
    While it shows, what is printed goes above the bar (as in hyperopt)."""
    with (
        bar_class()(
            total=total,
            initial=initial,
            unit="trial",
            dynamic_ncols=True,
            postfix={"best loss": "?"},
        ) as bar,
        prints_above(bar),
    ):
        yield bar


class _Silent:
    """Takes the updates and shows nothing."""

    postfix: Any = None

    def update(self, n: int) -> None:
        """Ignore ``n`` more finished trials."""


@contextlib.contextmanager
def no_progress_callback(initial: int, total: int) -> Iterator[_Silent]:
    """Show no progress."""
    yield _Silent()


#: The callback ``show_progressbar=True`` stands for in hyperopt.
default_callback = tqdm_progress_callback
