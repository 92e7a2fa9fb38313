"""How long the store has been failing, as drivers and workers say it: counted from
the first failed call, including the retries inside the store (``retry_timeout``)."""

from __future__ import annotations

import logging
import re
import time

import pytest

from hpo_service.exceptions import (
    StoreConnectionError,
    StoreError,
    StoreLostError,
    StoreTransientError,
    StudyExistsError,
    StudyNotFoundError,
    TrialNotFoundError,
    UnstorableError,
)
from hpo_service.store._faults import StoreFaults, may_pass, ride_out
from hpo_service.store._outage import reset_process_outage
from hpo_service.store._retry import RetryPolicy


def _unreachable(attempt: int) -> None:
    raise ConnectionError("connection refused")


def _seconds(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, text
    return float(match.group(1))


def test_the_outage_is_counted_from_the_first_failed_call(caplog):
    log = logging.getLogger("tests.faults")
    faults = StoreFaults("study 's'", "run the study", log)
    policy = RetryPolicy(timeout=2.0, initial_delay=0.05, max_delay=0.2)
    with pytest.raises(StoreConnectionError) as info:
        policy.call(_unreachable, is_transient=lambda e: True, what="claim")
    with caplog.at_level(logging.WARNING, logger="tests.faults"):
        faults.failed(info.value)
        time.sleep(1.0)
        faults.cleared()
    text = caplog.text
    # one outage, one warning: the ride-out after the store's retries gave up
    # is within the pace of the retries' first warning
    assert text.count("WARNING") == 2, text
    assert "claim failed, retrying in " in text, text
    assert _seconds(r"works again, after (\d+) s and", text) >= 3, text


def test_a_store_failing_on_and_off_is_told_once_per_pace_not_per_call(caplog):
    """A full SQLite disk: an idle worker's claim (a read) passes, its requeue (a
    write) fails, every few seconds. Before, each pair logged "cannot claim" and "the
    store works again" (9 pairs in 30 s on a full tmpfs), the last line often saying
    it works. Now one failure and one recovery line until the 30 s pace allows more,
    and a lasting recovery is still told."""
    log = logging.getLogger("tests.faults.onoff")
    faults = StoreFaults("worker", "claim trials", log)
    with caplog.at_level(logging.WARNING, logger="tests.faults.onoff"):
        for _ in range(5):
            faults.failed(StoreConnectionError("database or disk is full"))
            faults.cleared()
    lines = caplog.text.splitlines()
    assert len(lines) == 2, caplog.text
    assert "cannot claim trials" in lines[0] and "disk is full" in lines[0]
    assert "works again" in lines[1]
    # which of a worker's calls (reports, outcome, claims) got through: two
    # identical "worker: the store works again" lines came at once on a full tmpfs
    assert lines[1].endswith("(first through: claim trials)"), lines[1]


@pytest.mark.parametrize(
    ("error", "passes"),
    [
        (StoreConnectionError("connection refused"), True),
        (StoreTransientError("OutOfDiskSpace"), True),  # marked by the backend
        (StoreError("BadValue: unknown operator"), False),  # any other store error
        (StoreError("schema version must be <= 9, but got 10"), False),
        (StudyExistsError("study 's' exists"), False),  # another process made it
        (StudyNotFoundError("no study 's'"), False),
        (TrialNotFoundError("no trial 3"), False),
        (StoreLostError("the database file was replaced"), False),
        (UnstorableError("document too large"), False),
    ],
)
def test_which_store_errors_may_pass(error, passes):
    assert may_pass(error) is passes


def test_a_create_that_lost_to_another_process_is_not_ridden_out():
    """A study that exists already cannot stop existing: ride_out retried such a
    create for ever (a warning every 30 s), as if the store were failing."""
    made: list[str] = []

    def create() -> None:
        made.append("s")
        raise StudyExistsError("study 's' exists")

    def sleep(seconds: float) -> None:
        raise AssertionError(f"retried after {seconds} s")

    faults = StoreFaults("study 's'", "create it", logging.getLogger(__name__))
    with pytest.raises(StudyExistsError):
        ride_out(create, faults, sleep=sleep)
    assert made == ["s"]


class Flaky:
    """A store call that fails as ``errors`` say, one error an attempt, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)

    def __call__(self, attempt: int) -> str:
        if self.errors:
            raise self.errors.pop(0)
        return "answer"


def test_one_activity_is_listed_once_among_what_waits(caplog):
    """The store's retries inside a ride-out wait under the caller's name. Before,
    a paced warning listed one activity once per layer (``claiming a trial; run
    the study``): the store's name while its retries ran, the caller's once they
    had handed over, and both once the caller tried again."""
    reset_process_outage(every=0.0)  # every failure is a warning
    log = logging.getLogger("tests.faults.layers")
    faults = StoreFaults("study 's'", "run the study", log)
    policy = RetryPolicy(timeout=60.0, initial_delay=0.001, max_delay=0.002)
    op = Flaky(
        ConnectionError("refused"),  # the store retries it
        StoreTransientError("database is locked"),  # handed to the ride-out
        ConnectionError("refused"),  # the store retries it again
    )

    def call() -> str:
        return policy.call(
            op,
            is_transient=lambda e: isinstance(e, ConnectionError),
            what="SQLite store 'x': claiming a trial",
            doing="claiming a trial",
        )

    with caplog.at_level(logging.WARNING):
        assert ride_out(call, faults, sleep=lambda seconds: None) == "answer"
    waiting = re.findall(r"; waiting: ([^)]*)\)", "\n".join(caplog.messages))
    assert waiting == ["run the study"] * 2, caplog.messages
    assert caplog.messages[-1].endswith("(first through: run the study)")


def test_a_paced_warning_counts_the_outage_not_the_call(caplog):
    """A call that starts late in an outage (its predecessor gave up) said
    "failed (attempt 1)" beside "the store has failed for 31 s"; the warning now
    counts the outage's failed calls, as its end line does."""
    reset_process_outage(every=0.0)
    gives_up = RetryPolicy(timeout=0.02, initial_delay=0.001, max_delay=0.002)
    down = Flaky(*[ConnectionError("refused")] * 10**4)
    with pytest.raises(StoreConnectionError, match="still failed after"):
        gives_up.call(down, is_transient=lambda e: True, what="claim")
    failures = 10**4 - len(down.errors) - 1  # noted; the last one ended the call
    policy = RetryPolicy(timeout=60.0, initial_delay=0.001, max_delay=0.002)
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # the next call, in the same outage
        policy.call(
            Flaky(ConnectionError("refused")),
            is_transient=lambda e: True,
            what="claim",
        )
    assert len(caplog.messages) == 2, caplog.messages  # its failure, the end
    assert "(attempt" not in caplog.messages[0], caplog.messages
    assert re.search(
        rf"^claim failed, retrying in \S+ s \(the store has failed for \d+ s and "
        rf"{failures + 1} calls; waiting: claim\): ConnectionError: refused$",
        caplog.messages[0],
    ), caplog.messages
    assert caplog.messages[1].endswith(
        f" and {failures + 1} failed calls (first through: claim)"
    ), caplog.messages
