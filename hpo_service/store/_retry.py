"""Bounded retries with exponential backoff and jitter for transient store errors."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from hpo_service.exceptions import StoreConnectionError
from hpo_service.store._common import check_positive
from hpo_service.store._outage import Outage, process_outage

_logger = logging.getLogger(__name__)

_T = TypeVar("_T")


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
        doing: str | None = None,
    ) -> _T:
        """Run ``op(attempt)`` until it returns, retrying transient errors.

        ``op`` receives the attempt number (0 first), so that a retry can first check
        whether the previous attempt's write landed before the error reached us.

        The log stays one line per event however fast the errors come (a
        write-concern error or a full disk answers at once, so backoff alone gave
        a line a second), at the pace of the process's other calls riding out the
        same outage (:class:`~hpo_service.store._outage.Outage`): the first failure
        of the outage is a warning, later ones are debug lines (with this call's
        attempt number) but for one warning every 30 s (with the outage's seconds
        and failed calls), and the first call that gets through afterwards says the
        store works again (not after a single failed attempt, whose warning said it
        all). Within a caller's :meth:`~hpo_service.store._outage.Outage.doing`,
        the call waits under the caller's name instead of ``doing``.

        Args:
            op: The call; gets the attempt number.
            is_transient: Whether an error may pass by retrying.
            what: The call for the log (``"SQLite store 'x': claiming a trial"``).
            scrub: Removes secrets from error text.
            doing: The call, short, in the list of what waits for the store
                (``"claiming a trial"``; default ``what``).

        Raises:
            StoreConnectionError: Transient errors lasted longer than ``timeout``
                (its message says for how long and how many attempts).
        """
        started = time.monotonic()
        try:  # the first attempt: most calls end here, with no bookkeeping
            answer = op(0)
        except Exception as exc:
            if not is_transient(exc):
                raise
            failure = exc
        else:  # as _Attempts.succeeded after no failure, without building one
            outage = process_outage()
            if outage.on and not outage.inside():
                outage.say_worked(doing or what, _logger)
            return answer
        return self._retried(op, is_transient, failure, started, what, scrub, doing)

    def _retried(
        self,
        op: Callable[[int], _T],
        is_transient: Callable[[BaseException], bool],
        failure: Exception,
        started: float,
        what: str,
        scrub: Callable[[str], str],
        doing: str | None,
    ) -> _T:
        """:meth:`call` after its first attempt (started at ``started``) failed
        with the transient ``failure``."""
        outage = process_outage()
        attempts = _Attempts(
            self, what, scrub, outage.name(doing or what), outage, started
        )
        attempts.failed(failure)
        while True:
            try:
                answer = op(attempts.count)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                attempts.failed(exc)
                continue
            attempts.succeeded()
            return answer


@dataclass
class _Attempts:
    """The failed attempts of one :meth:`RetryPolicy.call` so far: when it gives up;
    whether a failure is a warning or a debug line is the process's ``outage``'s to
    say (``doing``: the call in its list of what waits)."""

    policy: RetryPolicy
    what: str
    scrub: Callable[[str], str]
    doing: str
    outage: Outage
    started: float = field(default_factory=time.monotonic)
    count: int = 0

    def failed(self, exc: Exception) -> None:
        """Log failed attempt ``count + 1`` and pause before the next one.

        Raises:
            StoreConnectionError: The next attempt would start after the policy's
                timeout (see :meth:`RetryPolicy.call`).
        """
        pause = self.policy.delay(self.count)
        detail = self.scrub(f"{type(exc).__name__}: {exc}")
        if time.monotonic() + pause > self.started + self.policy.timeout:
            cause = exc if self.scrub(str(exc)) == str(exc) else None
            self.outage.handed_over(self.doing)  # the caller's retries take over
            raise self._gave_up(detail) from cause
        self._log_failure(pause, detail)
        time.sleep(pause)
        self.count += 1

    def _gave_up(self, detail: str) -> StoreConnectionError:
        """The error that ends the call, saying how long it failed (an attempt
        may take long itself: a MongoDB server selection waits up to 30 s)."""
        return StoreConnectionError(
            f"{self.what} must succeed within retry_timeout={self.policy.timeout} "
            f"s, but it still failed after {self.count + 1} attempts over "
            f"{time.monotonic() - self.started:.3g} s: {detail}"
        )

    def _log_failure(self, pause: float, detail: str) -> None:
        """A warning at the process's pace (the outage's seconds and failed calls,
        and what waits), else a debug line (this call's attempt number)."""
        self.outage.say_failed(
            self.doing, _logger, f"{self.what} failed", detail,
            retry=pause, quiet=(f"this call's attempt {self.count + 1}",),
        )  # fmt: skip

    def succeeded(self) -> None:
        """Say once that the store works again if the process had said it failed
        (not after this call's single failed attempt, whose warning said it all).
        Within a caller's activity (:meth:`Outage.inside`) the caller says it,
        unless this call's one failure was the outage's only one."""
        inside = self.outage.inside()
        if inside and self.count != 1:
            return  # the caller says when its activity got through
        self.outage.say_worked(self.doing, _logger, once=self.count == 1, alone=inside)
