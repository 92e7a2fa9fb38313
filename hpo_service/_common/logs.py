"""How the command-line programs log: one line format, and a worker's label on
every line of its process.

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

LABELLED = "hpo_labelled"
"""A log record attribute: set (True) on a record whose message already starts
with its worker's ``[label]`` (the worker loop's own lines)."""


class WorkerLabel(logging.Filter):
    """A handler filter putting ``[label] `` in front of every record's message
    that does not carry it yet (:data:`LABELLED`): the store's retry warnings and
    "works again" lines, the heartbeat's, anything a library logs, as the worker's
    own lines have it.

    For a process that runs one worker (``hpo-worker``); installed by
    :func:`configure`.

    Args:
        label: The worker's name (``--worker-id``) or, without one, its id.
    """

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, LABELLED, False):
            label = self.label.replace("%", "%%") if record.args else self.label
            record.msg = f"[{label}] {record.msg}"
            setattr(record, LABELLED, True)
        return True


def configure(
    level: int, *, stream: IO[str] | None = None, label: str | None = None
) -> None:
    """Configure the root logger as every program does (:data:`LOG_FORMAT`), as
    :func:`logging.basicConfig` does: not at all if it has a handler already.

    Args:
        level: The lowest level shown (``logging.INFO``, ...).
        stream: Where lines go (None: standard error).
        label: A worker's label, put on every line (:class:`WorkerLabel`); None
            for none.
    """
    root = logging.getLogger()
    before = list(root.handlers)
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=stream)
    if label is not None:  # only on the handler made here (none if one was there)
        for handler in root.handlers:
            if handler not in before:
                handler.addFilter(WorkerLabel(label))
