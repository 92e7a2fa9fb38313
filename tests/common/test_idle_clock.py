"""The driver's "no worker has taken one for N s" clock and a worker's idle timeout
count only time the process could watch the store
(``hpo_service._common.idle_clock``), on a fake clock."""

from __future__ import annotations

import pytest

from hpo_service._common.idle_clock import IdleClock
from hpo_service.store._outage import Outage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _clocks() -> tuple[Clock, Outage, IdleClock]:
    clock = Clock()
    outage = Outage(30.0, clock)
    return clock, outage, IdleClock(clock, lambda: outage)


def test_it_counts_from_the_last_claim_or_result_seen():
    clock, _, idle = _clocks()
    clock.now += 12.0
    assert idle.seconds() == 12.0
    idle.restart()  # a worker claimed a trial
    clock.now += 3.0
    assert idle.seconds() == 3.0


def test_an_outage_longer_than_a_lease_does_not_count():
    """The store fails for 85 s (each poll, every 5 s), then works again: the
    driver cannot know whether workers took trials meanwhile, so 0.2 s after the
    first call that gets through, 0.2 s have passed, not 85 s (before, it warned
    "3 trials queued and no worker has taken one for 85 s" as the store came
    back, though a worker took its trial back 0.2 s later)."""
    clock, outage, idle = _clocks()
    clock.now += 1.0
    for _ in range(17):  # failed polls every 5 s: an 85 s outage
        outage.failed("run the study")
        assert idle.seconds() == 0.0  # no verdict while the store fails
        clock.now += 5.0
    outage.worked("run the study")  # the first call that gets through
    assert idle.seconds() == 0.0
    clock.now += 0.2
    assert idle.seconds() == pytest.approx(0.2)
    idle.restart()  # the worker took its trial back
    assert idle.seconds() == 0.0


def test_time_after_an_outage_counts_again():
    """Once the store works, an idle study is warned of as before: 12 s with no
    worker after the outage's end is 12 s."""
    clock, outage, idle = _clocks()
    outage.failed("requeueing expired trials")
    clock.now += 40.0
    outage.worked("requeueing expired trials")
    clock.now += 12.0
    assert idle.seconds() == 12.0


def test_a_failure_before_the_last_activity_changes_nothing():
    clock, outage, idle = _clocks()
    outage.failed("run the study")
    clock.now += 1.0
    outage.worked("run the study")
    clock.now += 1.0
    idle.restart()
    clock.now += 7.0
    assert idle.seconds() == 7.0
