"""RetryPolicy.call: which errors it retries, what each attempt is told, when it
gives up (and what the error then keeps of the last failure), and its log lines."""

from __future__ import annotations

import logging
import re

import pytest

from hpo_service.exceptions import StoreConnectionError
from hpo_service.store import _retry
from hpo_service.store._outage import reset_process_outage
from hpo_service.store._retry import RetryPolicy

FAST = RetryPolicy(timeout=60.0, initial_delay=0.001, max_delay=0.002)


class FailsFirst:
    """An operation that fails ``failures`` times with ``error``, then answers."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error = failures, error
        self.attempts: list[int] = []

    def __call__(self, attempt: int) -> str:
        self.attempts.append(attempt)
        if len(self.attempts) <= self.failures:
            raise self.error
        return "answer"


def _logged(
    caplog: pytest.LogCaptureFixture, failures: int, what: str = "claim"
) -> list[tuple[str, str]]:
    """The log lines (level, text) of a call whose first ``failures`` attempts fail."""
    op = FailsFirst(failures, ConnectionError("refused"))
    with caplog.at_level(logging.DEBUG, logger=_retry.__name__):
        FAST.call(op, is_transient=lambda e: True, what=what)
    return [(r.levelname, r.getMessage()) for r in caplog.records]


def test_transient_errors_are_retried_and_each_attempt_knows_its_number() -> None:
    op = FailsFirst(3, ConnectionError("refused"))
    answer = FAST.call(op, is_transient=lambda e: True, what="claim")
    assert answer == "answer"
    assert op.attempts == [0, 1, 2, 3]


def test_an_error_that_cannot_pass_is_raised_at_once() -> None:
    op = FailsFirst(5, KeyError("no trial 3"))
    transient = lambda e: isinstance(e, ConnectionError)  # noqa: E731
    with pytest.raises(KeyError, match="no trial 3"):
        FAST.call(op, is_transient=transient, what="claim")
    assert op.attempts == [0]


def test_it_gives_up_after_timeout_with_the_last_error_as_cause() -> None:
    policy = RetryPolicy(timeout=0.05, initial_delay=0.005, max_delay=0.01)
    op = FailsFirst(10**9, ConnectionError("refused"))
    with pytest.raises(StoreConnectionError) as info:
        policy.call(op, is_transient=lambda e: True, what="claim")
    error = info.value
    said = re.fullmatch(
        "claim must succeed within retry_timeout=0.05 s, but it still failed after "
        rf"{len(op.attempts)} attempts over (\S+) s: ConnectionError: refused",
        str(error),
    )
    assert said is not None, str(error)
    assert len(op.attempts) >= 2
    assert error.__cause__ is op.error
    # it gives up when the next pause would end past the timeout, and says when
    assert float(said[1]) >= policy.timeout - policy.max_delay


def test_a_scrubbed_error_is_not_kept_as_cause() -> None:
    """The error text had a password the scrubber took out: the original error,
    which still holds it, is neither the cause nor the context."""
    policy = RetryPolicy(timeout=0.02, initial_delay=0.005, max_delay=0.01)
    op = FailsFirst(10**9, ConnectionError("auth failed for u:hunter2@host"))
    with pytest.raises(StoreConnectionError) as info:
        policy.call(
            op,
            is_transient=lambda e: True,
            what="open",
            scrub=lambda text: text.replace("hunter2", "***"),
        )
    error = info.value
    assert str(error).endswith(": ConnectionError: auth failed for u:***@host")
    assert error.__cause__ is None and error.__suppress_context__


def test_the_first_failure_warns_later_ones_are_debug_and_recovery_is_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reset_process_outage(every=3600.0)  # the process's pace (store/_outage.py)
    lines = _logged(caplog, 3, what="claiming a trial")
    assert [level for level, _ in lines] == ["WARNING", "DEBUG", "DEBUG", "WARNING"]
    # the outage's first failure says no count; the debug lines, this call's
    assert lines[0][1].startswith("claiming a trial failed, retrying in "), lines
    assert lines[0][1].endswith(" s (the store failed): ConnectionError: refused")
    for number, (_, text) in enumerate(lines[1:3], start=2):
        assert text.startswith("claiming a trial failed, retrying in "), text
        assert text.endswith(
            f" s (this call's attempt {number}; the store failed): "
            "ConnectionError: refused"
        ), text
    assert lines[3][1].startswith("the store works again, after "), lines
    assert lines[3][1].endswith(" and 3 failed calls (first through: claiming a trial)")


def test_a_failure_warns_again_once_the_pace_has_passed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reset_process_outage(every=0.0)
    assert [level for level, _ in _logged(caplog, 3)] == ["WARNING"] * 4


def test_one_failed_attempt_is_not_followed_by_a_recovery_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its warning says it all."""
    assert [level for level, _ in _logged(caplog, 1)] == ["WARNING"]
    assert "works again" not in caplog.text
