"""Bounded retries with exponential backoff and jitter for transient store errors."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from hpo_service.exceptions import StoreConnectionError
from hpo_service.store._common import check_positive

_logger = logging.getLogger(__name__)

_T = TypeVar("_T")

NOTE_EVERY = 30.0
"""Seconds between the warnings of a store that keeps failing (the others are
debug lines): of one call's failed attempts here, and of a driver's or worker's
calls riding out a failure (:class:`~hpo_service.store._faults.StoreFaults`)."""


def _keep(text: str) -> str:
    return text


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often a transient error is retried.

    Attributes:
        timeout: Seconds after the first failure beyond which the call gives up.
        initial_delay: Upper bound of the first pause; each later bound doubles.
        max_delay: Cap of the pause bound.
    """

    timeout: float = 30.0
    initial_delay: float = 0.01
    max_delay: float = 1.0

    def __post_init__(self) -> None:
        check_positive(self.timeout, "retry_timeout")
        check_positive(self.initial_delay, "initial_delay")
        check_positive(self.max_delay, "max_delay")

    def delay(self, attempt: int) -> float:
        """The pause before retry number ``attempt + 1``: half fixed, half jitter."""
        bound = min(self.max_delay, self.initial_delay * 2.0 ** min(attempt, 30))
        return bound * (0.5 + 0.5 * random.random())

    def call(
        self,
        op: Callable[[int], _T],
        *,
        is_transient: Callable[[BaseException], bool],
        what: str,
        scrub: Callable[[str], str] = _keep,
    ) -> _T:
        """Run ``op(attempt)`` until it returns, retrying transient errors.

        ``op`` receives the attempt number (0 first), so that a retry can first check
        whether the previous attempt's write landed before the error reached us.

        The log stays one line per event however fast the errors come (a
        write-concern error or a full disk answers at once, so backoff alone gave
        a line a second): the first failure is a warning, later ones are debug
        lines but for a warning every :data:`NOTE_EVERY` seconds, and a success
        after two or more failures says the store works again.

        Raises:
            StoreConnectionError: Transient errors lasted longer than ``timeout``
                (its ``failing_for``: seconds since the call started).
        """
        started = time.monotonic()
        deadline = started + self.timeout
        attempt = 0
        next_note = started
        while True:
            try:
                answer = op(attempt)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                pause = self.delay(attempt)
                detail = scrub(f"{type(exc).__name__}: {exc}")
                if time.monotonic() + pause > deadline:
                    cause = exc if scrub(str(exc)) == str(exc) else None
                    error = StoreConnectionError(
                        f"{what} must succeed within retry_timeout={self.timeout} s, "
                        f"but it still failed after {attempt + 1} attempts: {detail}"
                    )
                    error.failing_for = time.monotonic() - started
                    raise error from cause
                now = time.monotonic()
                level = logging.WARNING if now >= next_note else logging.DEBUG
                next_note = now + NOTE_EVERY if now >= next_note else next_note
                _logger.log(
                    level,
                    "%s failed (attempt %d), retrying in %.3f s: %s",
                    what,
                    attempt + 1,
                    pause,
                    detail,
                )
                time.sleep(pause)
                attempt += 1
                continue
            if attempt > 1:  # a single failed attempt's warning says it all
                _logger.warning(
                    "%s works again, after %d failed attempts (%.1f s)",
                    what,
                    attempt,
                    time.monotonic() - started,
                )
            return answer
