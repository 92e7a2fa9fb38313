"""How long the store has been failing, as drivers and workers say it: counted from
the first failed call, including the retries inside the store (``retry_timeout``)."""

from __future__ import annotations

import logging
import re
import time

import pytest

from hpo_service.exceptions import StoreConnectionError
from hpo_service.store._faults import StoreFaults
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
    assert _seconds(r"the store has failed for (\d+) s", text) >= 2, text
    assert _seconds(r"works again, after (\d+) s of failures", text) >= 3, text


def test_a_store_failing_on_and_off_is_told_once_per_pace_not_per_call(caplog):
    """A full SQLite disk: an idle worker's claim (a read) passes, its requeue (a
    write) fails, every few seconds. Before, each pair logged "cannot claim" and "the
    store works again" (9 pairs in 30 s on a full tmpfs), the last line often saying
    it works. Now one failure and one recovery line until the 30 s pace allows more,
    and a lasting recovery is still told."""
    log = logging.getLogger("tests.faults.onoff")
    faults = StoreFaults("worker", "claim or requeue trials", log)
    with caplog.at_level(logging.WARNING, logger="tests.faults.onoff"):
        for _ in range(5):
            faults.failed(StoreConnectionError("database or disk is full"))
            faults.cleared()
    lines = caplog.text.splitlines()
    assert len(lines) == 2, caplog.text
    assert "cannot claim or requeue trials" in lines[0] and "disk is full" in lines[0]
    assert "works again" in lines[1]
