"""A process's output pipe read from a thread, so that a test can wait for a line
while the process runs, and read all of it once the process ended."""

from __future__ import annotations

import threading
from typing import IO

import pytest


class PipeLines:
    """Collects the lines of ``pipe`` (a text pipe of a running process) from a
    thread: :attr:`text` holds what was read so far.

    A process that exited may have written lines the thread has not read yet (on a
    loaded machine it may not have run since): read the whole output with
    :meth:`finish`, never ``text`` right after the process ended.
    """

    def __init__(self, pipe: IO[str]) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[str]) -> None:
        for line in pipe:
            self.text += line

    def finish(self, timeout: float = 60.0) -> str:
        """All the output, once the pipe closed (the process and any child that
        shared the pipe ended); fails the test if it is still open after
        ``timeout`` seconds."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            pytest.fail(f"the pipe was still open after {timeout} s: {self.text}")
        return self.text
