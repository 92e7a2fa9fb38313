"""A hyperopt progress callback that records what ``fmin`` tells it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


class RecordedProgress:
    """``show_progressbar=RecordedProgress()``: hyperopt's ``progress`` protocol, a
    context manager ``callback(initial, total)`` yielding an object with
    ``update(n)`` and a ``postfix`` attribute."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.postfix: str | None = None
        self.shown: list[str | None] = []  # the postfix at each update

    @contextlib.contextmanager
    def __call__(self, initial: int, total: int) -> Iterator[RecordedProgress]:
        self.calls.append(("enter", initial, total))
        yield self
        self.calls.append(("exit",))

    def update(self, n: int) -> None:
        self.calls.append(("update", n))
        self.shown.append(self.postfix)

    @property
    def finished(self) -> int:
        """Trials reported finished through ``update``."""
        return sum(c[1] for c in self.calls if c[0] == "update")
