"""The automatic queue depth, driven by a fake clock."""

from __future__ import annotations

import pytest

from hpo_service.driver._queue import QueuePolicy


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _finish(policy, clock, per_second, seconds):
    for _ in range(int(per_second * seconds)):
        clock.now += 1.0 / per_second
        policy.completions.count()


def test_depth_covers_what_finishes_before_the_next_refill_with_a_margin():
    clock = Clock()
    policy = QueuePolicy(clock=clock, horizon=0.05)
    assert policy.depth(running=0, queued=0) == 1
    _finish(policy, clock, per_second=400, seconds=3)
    # Refills 10 ms apart: the horizon (50 ms) rules, 20 finishes expected in it.
    for _ in range(50):
        clock.now += 0.01
        depth = policy.depth(running=4, queued=10)
    assert depth == pytest.approx(20 + 2 * 20**0.5, abs=1)
    # Slow refills (every 100 ms): two cycles' worth, 80 expected.
    for _ in range(50):
        clock.now += 0.1
        depth = policy.depth(running=4, queued=10)
    assert depth == pytest.approx(80 + 2 * 80**0.5, abs=2)


def test_slow_trials_keep_a_single_queued_trial():
    clock = Clock()
    policy = QueuePolicy(local_workers=64, clock=clock)
    assert policy.depth(running=0, queued=0) == 64
    _finish(policy, clock, per_second=2, seconds=20)  # 64 workers, 30 s trials
    depths = []
    for _ in range(50):  # the driver refills every 20 ms
        clock.now += 0.02
        depths.append(policy.depth(running=64, queued=1))
    assert depths[-40:] == [1] * 40


def test_idle_local_workers_get_a_trial_each():
    policy = QueuePolicy(local_workers=8, clock=Clock())
    assert policy.depth(running=0, queued=0) == 8
    assert policy.depth(running=6, queued=0) == 2
    assert policy.depth(running=8, queued=0) == 1


def test_workers_seen_for_the_first_time_get_more_queued_until_all_run():
    policy = QueuePolicy(clock=Clock(), growth=2)
    assert policy.depth(running=0, queued=0) == 1
    assert policy.depth(running=1, queued=0) == 2  # a worker nobody knew: more wait?
    assert policy.depth(running=3, queued=0) == 4
    assert policy.depth(running=7, queued=1) == 8
    assert policy.depth(running=7, queued=8) == 1  # nobody new
    # A finish and its worker's next claim straddling a refill is no new worker.
    assert policy.depth(running=6, queued=0) == 1
    assert policy.depth(running=7, queued=0) == 1
