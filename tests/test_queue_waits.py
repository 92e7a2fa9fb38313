"""benchmarks/queue_waits.py: where an end-to-end run waited, from trial timestamps."""

from __future__ import annotations

import pytest

from benchmarks.queue_waits import fifths, said, waits
from hpo_service.store import Trial, TrialState


def _trial(tid: int, owner: str, queued: float, claimed: float, done: float) -> Trial:
    return Trial("s", tid, TrialState.DONE, {}, {}, owner=owner,
                 created_at=queued, started_at=claimed, finished_at=done)  # fmt: skip


def test_waits_counts_the_empty_queue_the_gaps_and_the_refills() -> None:
    trials = [
        _trial(0, "a", 0.0, 1.0, 2.0),
        _trial(1, "a", 0.0, 2.5, 3.0),  # a waited 0.5 s after its first trial
        _trial(2, "b", 3.0, 3.5, 4.0),
    ]
    # queued: 2 from 0 s, 1 from 1 s, none 2.5-3 s, 1 from 3 s, none 3.5-4 s
    w = waits(trials, 0.5, 4.0)
    assert w.seconds == pytest.approx(3.5)
    assert w.empty == pytest.approx(1.0 / 3.5)
    assert w.gap_ms == pytest.approx(500.0)
    assert (w.refills, w.batch) == (1, 1.0)  # the refill at 3 s; the one at 0 before


def test_a_trial_never_claimed_keeps_the_queue_from_emptying() -> None:
    queued = Trial("s", 1, TrialState.NEW, {}, {}, created_at=0.0)
    w = waits([_trial(0, "a", 0.0, 1.0, 2.0), queued], 0.0, 4.0)
    assert w.empty == 0.0


def test_fifths_are_the_first_and_last_fifth_of_the_done_trials() -> None:
    # one worker, one trial a second, each queued as the previous one finished:
    # the queue holds one trial for 0.25 s after each finish, then is empty
    trials = [_trial(i, "a", i - 0.25, i + 0.0, i + 0.75) for i in range(10)]
    first, last = fifths(trials)
    assert first.seconds == pytest.approx(1.75)  # claim 0 to finish of trial 1
    assert last.seconds == pytest.approx(2.0)  # finish of 7 to finish of 9
    assert first.gap_ms == pytest.approx(250.0)
    assert first.empty == pytest.approx(1.5 / 1.75)  # 0-0.75 and 1-1.75: running
    assert (last.refills, last.batch) == (2, 1.0)  # at 7.75 and 8.75
    assert said(first, last).startswith("empty 86% / 75%, gap ms 250.0 / 250.0")


def test_fifths_needs_ten_done_trials() -> None:
    with pytest.raises(ValueError, match="must hold >= 10 done, but got 9"):
        fifths([_trial(i, "a", i, i, i + 1) for i in range(9)])


def test_trials_cancelled_while_queued_leave_the_queue_and_have_no_gap() -> None:
    """A driver's drain cancels queued trials: they finish unclaimed (no owner, no
    start). Before, two of them failed the gaps' assertion (a finished trial
    without a start) and each kept the queue from emptying for the rest of the
    run."""
    cancelled = [
        Trial("s", tid, TrialState.CANCELLED, {}, {}, created_at=2.0, finished_at=3.0)
        for tid in (1, 2)
    ]
    w = waits([_trial(0, "a", 0.0, 1.0, 2.0), *cancelled], 0.0, 4.0)
    assert w.empty == pytest.approx(2.0 / 4.0)  # 1-2 s and 3-4 s
    assert w.gap_ms == 0.0
