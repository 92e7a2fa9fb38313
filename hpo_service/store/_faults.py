"""Store failures that may pass (a full disk, a lock, a lost connection), ridden out.

Drivers and workers keep going through such failures, retrying with backoff, instead
of dying and taking their queued trials or held results with them. A store that is
gone (its SQLite file deleted or replaced), a study or trial that does not exist, a
study created already, a document too large to store, a refused user, a bad query or
a newer or corrupt database are not retried: waiting cannot fix them, so they end the
caller with their message. Only what the backends mark as may-pass is retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from hpo_service.exceptions import StoreError, StoreTransientError
from hpo_service.store._outage import Note, Outage, process_outage

_T = TypeVar("_T")

FIRST_RETRY_DELAY = 0.5
"""Seconds before the first retry; doubled after each failure."""
MAX_RETRY_DELAY = 30.0
"""The longest pause between retries, seconds."""


def may_pass(error: BaseException) -> bool:
    """Whether a failed store call may succeed if retried later.

    An allow-list: a lost or refused connection (``ConnectionError``, the store's
    own retries included) and :class:`~hpo_service.exceptions.StoreTransientError`
    (a locked database, a full disk, a disk I/O error, a stepped-down primary, a
    write concern not met), which the backends raise only for those causes. Every
    other error (a refused user, a bad query, a document the server rejects, a
    newer schema, a corrupt file, a missing study) cannot pass by waiting.

    Args:
        error: What the store call raised.

    Returns:
        True when retrying later may succeed.
    """
    return isinstance(error, (ConnectionError, StoreTransientError))


class StoreFaults:
    """Backoff while the store keeps failing, said at the process's pace.

    Whether a failure is a warning is the process's
    :class:`~hpo_service.store._outage.Outage`'s to say (the first failure of an
    outage, then one every 30 s, whichever of the process's activities fails; the
    others are debug lines), and so is the one "the store works again" line. A
    store that fails for some calls only (a full disk: reads pass, writes fail)
    is one outage until what failed gets through, said at that pace, instead of
    two lines per call. Each line says when the caller really tries again: the
    backoff :meth:`failed` returns, or what the caller gives.

    Args:
        who: Who fails, for the log (``"study 's'"``).
        doing: What cannot be done, for the log (``"run the study"``).
        log: Where to log.
    """

    def __init__(
        self,
        who: str,
        doing: str,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self._who = who
        self._doing = doing
        self._log = log
        self._failing = False
        self._delay = FIRST_RETRY_DELAY

    def trying(self) -> AbstractContextManager[None]:
        """Within: this thread's store calls are part of this activity, and the
        store's own retries inside wait under its name (one activity is listed
        once among what waits for the store)."""
        return process_outage().doing(self._doing)

    def failed(self, error: BaseException, retry: float | str | None = None) -> float:
        """Note a failure that :func:`may_pass` and say it; return the seconds to
        wait.

        Args:
            error: What the store call raised.
            retry: When the caller really tries again, if it does not wait the
                returned backoff: seconds or words (``"retrying with the trial's
                first report after 1 s"``); the line says what holds.

        Raises:
            BaseException: ``error`` itself when it cannot pass.
        """
        self.say(error, self.noted(error), retry)
        return self._delay

    def noted(self, error: BaseException) -> Note | None:
        """Note a failure that :func:`may_pass` in the process's outage at once,
        to :meth:`say` later (a worker's claim: once its loop knows its pause);
        the outage's note, or None (a debug line).

        Raises:
            BaseException: ``error`` itself when it cannot pass.
        """
        if not may_pass(error):
            raise error
        if self._failing:
            self._delay = min(self._delay * 2, MAX_RETRY_DELAY)
        else:
            self._failing, self._delay = True, FIRST_RETRY_DELAY
        return process_outage().failed(self._doing, self._delay)

    def say(
        self, error: BaseException, note: Note | None, retry: float | str | None
    ) -> None:
        """Say a failure :meth:`noted` with when the caller tries again (``retry``
        seconds or words; None: the backoff :meth:`failed` returns)."""
        retry = self._delay if retry is None else retry
        if isinstance(retry, int | float):
            process_outage().expect(self._doing, retry)
        said = f"{self._who}: cannot {self._doing}"
        Outage.say(note, self._log, said, error, retry=retry)

    def cleared(self) -> None:
        """Note a success; say the store works again if it had been failing."""
        self._failing = False
        process_outage().say_worked(self._doing, self._log)


def ride_out(
    call: Callable[[], _T],
    faults: StoreFaults,
    *,
    sleep: Callable[[float], object] = time.sleep,
) -> _T:
    """``call()``, retried with :class:`StoreFaults`' backoff while it fails in a
    way that may pass, a lost connection excepted (the store's own retries already
    waited for it, and the caller reports it).

    Raises:
        BaseException: What ``call`` raised, when it cannot pass or is a lost
            connection.
    """
    while True:
        try:
            with faults.trying():
                answer = call()
        except StoreError as e:
            if isinstance(e, ConnectionError):
                raise
            sleep(faults.failed(e))  # raises what cannot pass
            continue
        faults.cleared()
        return answer
