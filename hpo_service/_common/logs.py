"""How the command-line programs log: one line format.

Every line of ``hpo-driver``, ``hpo-worker`` and the workers a driver starts reads
``TIME PID LEVEL LOGGER: MESSAGE`` (the standard library's ``%``-style fields
``asctime``, ``process``, ``levelname``, ``name``): several drivers and workers
writing to one terminal or file are told apart by their pid, and each line says
which module wrote it. Only the programs configure handlers (a library user's
logging is theirs).
"""

from __future__ import annotations

import logging
from typing import IO

LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
"""The line format of every program (``logging`` fields; see the module doc)."""


def configure(level: int, *, stream: IO[str] | None = None) -> None:
    """Configure the root logger as every program does (:data:`LOG_FORMAT`), as
    :func:`logging.basicConfig` does: not at all if it has a handler already.

    Args:
        level: The lowest level shown (``logging.INFO``, ...).
        stream: Where lines go (None: standard error).
    """
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=stream)
