"""The automatic queue depth, driven by a fake clock."""

from __future__ import annotations

import pytest

from hpo_service.driver._queue import HOLD_SECONDS, QueuePolicy


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _finish(policy, clock, per_second, seconds):
    for _ in range(int(per_second * seconds)):
        clock.now += 1.0 / per_second
        policy.completions.count()


def test_depth_follows_the_completion_rate_with_a_margin():
    clock = Clock()
    policy = QueuePolicy(clock=clock, horizon=0.25, floor=2)
    assert policy.depth(running=0, queued=0) == 2
    _finish(policy, clock, per_second=400, seconds=3)
    # 100 trials expected per refill horizon, plus two standard deviations, plus one.
    assert policy.depth(running=4, queued=50) == pytest.approx(121, abs=3)


def test_idle_local_workers_get_a_trial_each():
    policy = QueuePolicy(local_workers=8, clock=Clock())
    assert policy.depth(running=0, queued=0) == 8
    assert policy.depth(running=6, queued=0) == 2


def test_a_drained_queue_doubles_and_holds_then_halves():
    clock = Clock()
    policy = QueuePolicy(clock=clock)
    policy.filled(2)
    assert policy.depth(running=2, queued=0) == 4  # all claimed: demand unseen
    policy.filled(4)
    assert policy.depth(running=6, queued=0) == 8
    policy.filled(8)
    clock.now += HOLD_SECONDS / 2
    assert policy.depth(running=10, queued=4) == 8  # workers may be sleeping
    clock.now += HOLD_SECONDS
    assert policy.depth(running=10, queued=4) == 4
    clock.now += HOLD_SECONDS + 0.1
    assert policy.depth(running=10, queued=4) == 2
