"""A local worker stops when the driver that started it dies, however it died.

``hpo-driver start --workers K`` passes each worker the read end of a pipe (its fd
in ``HPO_WORKER_PARENT_FD``) whose write end only the driver holds. End of file on
it means the driver is gone (even by SIGKILL): the worker then stops as on SIGTERM,
finishing its running trial, instead of running on as an orphan.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading

_logger = logging.getLogger(__name__)

PARENT_FD_ENV = "HPO_WORKER_PARENT_FD"
"""Environment variable naming the fd a local worker watches for its driver's exit."""


def stop_with_driver() -> None:
    """Watch the driver's pipe, if this worker was given one, from a daemon thread.

    The variable is removed from the environment, so the objective never sees it.
    """
    fd = os.environ.pop(PARENT_FD_ENV, None)
    if fd is None or not fd.isdigit():
        return

    def watch() -> None:
        with contextlib.suppress(OSError):
            while os.read(int(fd), 1):
                pass
        _logger.warning("the driver that started this worker is gone: stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="hpo-driver-watch", daemon=True).start()
