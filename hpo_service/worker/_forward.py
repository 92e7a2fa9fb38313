"""Showing what the objective prints while it runs.

The objective's process writes its stdout and stderr to one file per trial (see
:mod:`._child`). The worker reads what was added to it about every 0.1 s and passes
each complete line to a sink; the worker's sink writes it to the worker's standard
error prefixed with the trial (``[trial study/3] epoch 1: loss 0.31``), as
hyperopt-mongo-worker shows the output of the objectives it runs in-process.
"""

from __future__ import annotations

import os
from collections.abc import Callable

_CHUNK = 1 << 20
"""Bytes read per poll at most (an objective printing faster is shown a bit later)."""


class OutputForwarder:
    """Passes the lines appended to a file to ``sink``, without their line ends.

    Args:
        fd: A file descriptor open for reading on the output file, which holds only
            this trial's output (it was truncated before the trial).
        sink: Called with each line (text, undecodable bytes replaced).
    """

    def __init__(self, fd: int, sink: Callable[[str], None]) -> None:
        self._fd = fd
        self._sink = sink
        self._offset = 0
        self._partial = b""

    def poll(self) -> None:
        """Pass on the complete lines written since the last poll."""
        size = os.fstat(self._fd).st_size
        if size < self._offset:  # truncated: a new trial started meanwhile
            self._offset, self._partial = 0, b""
        if size == self._offset:
            return
        data = os.pread(self._fd, min(size - self._offset, _CHUNK), self._offset)
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            self._sink(line.decode("utf-8", "replace"))

    def finish(self) -> None:
        """Pass on everything left, a last line without its line end included."""
        before = -1
        while before != self._offset:  # more than one chunk may be left
            before = self._offset
            self.poll()
        if self._partial:
            self._sink(self._partial.decode("utf-8", "replace"))
            self._partial = b""
