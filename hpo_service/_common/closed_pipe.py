"""Ending quietly when the reader of standard output goes away (``... | head -1``),
as a Unix tool does: the process ends by SIGPIPE, without a traceback or an error.

Python ignores SIGPIPE (a write raises BrokenPipeError instead) and must keep it so,
since a closed socket would otherwise kill the process; the Python documentation
("Note on SIGPIPE", module ``signal``) recommends catching BrokenPipeError and
pointing standard output at ``os.devnull`` so that the final flush is quiet.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def ending_quietly_on_closed_pipe() -> Iterator[None]:
    """Run the block, then flush standard output; if the reader closed it
    (BrokenPipeError), end the process as SIGPIPE's default action does (a shell
    reports 141), saying nothing: what ``seq 1000000 | head -1`` does.

    Raises:
        SystemExit: 141 (128+SIGPIPE) where the platform has no SIGPIPE.
    """
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        _end_by_sigpipe()


def _end_by_sigpipe() -> None:
    """Point standard output at os.devnull (nothing left to flush fails), then die
    by SIGPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    sigpipe = getattr(signal, "SIGPIPE", None)
    if sigpipe is not None:
        signal.signal(sigpipe, signal.SIG_DFL)
        os.kill(os.getpid(), sigpipe)
    sys.exit(128 + 13)
