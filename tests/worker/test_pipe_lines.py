"""The helper that reads a process's log from a thread (tests/helpers/pipes.py): a
test reads the whole log once the process ended, even if the reading thread had not
run since the process wrote its last lines (a loaded machine), and is told when the
pipe never closes instead of asserting on part of the log."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.helpers.pipes import PipeLines


def _held(pipe, gate: threading.Event) -> Iterator[str]:
    """``pipe``'s lines, read only once ``gate`` is set: a reader thread that the
    machine has not run yet."""
    gate.wait()
    yield from pipe


def test_the_whole_log_is_read_after_the_process_ended():
    process = subprocess.Popen(
        [sys.executable, "-c", "for i in range(200): print(i)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    gate = threading.Event()
    said = PipeLines(_held(process.stdout, gate))
    assert process.wait(timeout=60) == 0
    assert said.text == ""  # the process ended; its reader has not run yet
    gate.set()
    assert said.finish() == "".join(f"{i}\n" for i in range(200))


def test_a_pipe_that_stays_open_fails_the_test_saying_so():
    read, write = os.pipe()
    with open(read) as pipe:
        said = PipeLines(pipe)
        try:
            os.write(write, b"started\n")
            with pytest.raises(pytest.fail.Exception, match=r"still open after 0\.2 s"):
                said.finish(timeout=0.2)
        finally:
            os.close(write)  # the reader ends: the pipe can be closed
        assert said.finish() == "started\n"
