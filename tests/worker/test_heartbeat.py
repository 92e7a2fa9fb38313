"""The heartbeat thread, against a scripted stand-in for the store."""

from __future__ import annotations

import logging
import re
import threading
import time

from hpo_service.exceptions import StoreConnectionError
from hpo_service.worker._heartbeat import Heartbeat


class ScriptedStore:
    """Answers ``heartbeat`` from a script: True, False or an exception to raise."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []
        self.called = threading.Event()

    def heartbeat(self, study, tid, token, lease_seconds):
        self.calls.append((study, tid, token, lease_seconds))
        self.called.set()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def reclaim(self, study, tid, token, owner, lease_seconds):
        self.reclaims = [*getattr(self, "reclaims", []), (study, tid, token, owner)]
        return getattr(self, "reclaimable", False)  # claimed by another since


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def beating(store, until, tid=1):
    """Beat for attempt ``tok`` of trial s/``tid`` (a 0.15 s lease) until ``until()``
    holds; return its lease."""
    beat = Heartbeat(store, owner="w")
    try:
        lease = beat.keep_alive("s", tid, "tok", 0.15)
        wait_for(until)
    finally:
        beat.close()
    return lease


def test_beats_every_third_of_the_lease_with_the_attempt():
    store = ScriptedStore(True)
    lease = beating(store, lambda: len(store.calls) >= 3, tid=7)
    assert set(store.calls) == {("s", 7, "tok", 0.15)}
    assert not lease.lost.is_set()


def test_refused_beat_marks_the_lease_lost():
    store = ScriptedStore(True, False)
    beat = Heartbeat(store, owner="w")
    try:
        lease = beat.keep_alive("s", 1, "tok", 0.15)
        assert lease.lost.wait(60.0)
    finally:
        beat.close()


def test_a_refused_beat_takes_the_trial_back_if_nobody_claimed_it():
    """The lease ran out and the trial was requeued, but no other attempt claimed
    it: the same attempt takes it back and goes on (see the store's ``reclaim``)."""
    store = ScriptedStore(True, False, True)
    store.reclaimable = True
    lease = beating(store, lambda: len(store.calls) >= 4)
    assert store.reclaims == [("s", 1, "tok", "w")]
    assert not lease.lost.is_set()


def test_a_trial_taken_back_is_judged_and_a_failed_judgement_is_read_again():
    """After a take back the beat asks ``judge`` (the budget verdict) before going
    on; when the judge cannot read the store the lease stays ``unjudged`` and the
    next beat judges again, without reclaiming twice; a verdict of no (handed back
    or cancelled: the store refuses the next beat) loses the lease."""
    store = ScriptedStore(True, False, False)  # refused ever after the first
    store.reclaimable = True
    verdicts = [StoreConnectionError("down"), False]
    judged = []

    def judge(lease):
        judged.append(lease.unjudged)
        verdict = verdicts.pop(0)
        if isinstance(verdict, Exception):
            raise verdict
        return verdict

    beat = Heartbeat(store, owner="w", judge=judge)
    try:
        lease = beat.keep_alive("s", 1, "tok", 0.15)
        assert lease.lost.wait(60.0)
    finally:
        beat.close()
    assert store.reclaims == [("s", 1, "tok", "w")]  # taken back once
    assert judged == [True, True]  # judged twice, unjudged both times
    assert not lease.unjudged


def test_connection_errors_are_retried_not_fatal_and_a_lost_lease_is_dropped():
    """Two failed beats are retried; the refusal that follows loses the lease, and
    the thread beats for it no more (it went on every interval until the worker
    released it: a loaded machine saw a call more than expected before ``close``)."""
    store = ScriptedStore(
        StoreConnectionError("down"), StoreConnectionError("down"), False
    )
    beat = Heartbeat(store, owner="w")
    try:
        lease = beat.keep_alive("s", 1, "tok", 0.15)
        assert lease.lost.wait(60.0)
        time.sleep(0.2)  # four intervals in which a beat would have been due
    finally:
        beat.close()
    assert len(store.calls) == 4  # refused, not taken back, asked once more


def test_released_and_replaced_leases_are_not_beaten_for():
    """The "old" lease is given and released while the thread is held inside a beat
    for an earlier one, so it cannot have beaten for it before the release (which
    is allowed: a beat in flight is ignored). It was given and released straight
    away, and a thread that ran between the two calls did beat for it."""
    entered, gate = threading.Event(), threading.Event()

    class Held(ScriptedStore):
        def heartbeat(self, study, tid, token, lease_seconds):
            if token == "held":
                entered.set()
                gate.wait(60.0)
            return super().heartbeat(study, tid, token, lease_seconds)

    store = Held(True)
    beat = Heartbeat(store, owner="w")
    try:
        beat.keep_alive("s", 0, "held", 0.03)
        assert entered.wait(60.0)  # the thread is in a beat: it reads no lease now
        beat.keep_alive("s", 1, "old", 0.15)
        beat.release()
        gate.set()
        wait_for(lambda: store.calls)  # the held beat returns
        time.sleep(0.15)  # three intervals in which a beat for "old" was due
        beat.keep_alive("s", 2, "new", 0.15)
        wait_for(lambda: len(store.calls) > 1)
    finally:
        gate.set()
        beat.close()
    assert store.calls[0][2] == "held"
    assert {c[2] for c in store.calls[1:]} == {"new"}


def test_refusal_for_a_released_lease_is_ignored():
    """The refusal comes only after the release (it came after a 0.2 s sleep, which
    a loaded machine could spend before the release)."""
    released = threading.Event()

    class HeldRefusal(ScriptedStore):
        def heartbeat(self, study, tid, token, lease_seconds):
            if token == "tok":  # refused once the lease is released
                self.called.set()
                released.wait(60.0)
            return super().heartbeat(study, tid, token, lease_seconds)

    store = HeldRefusal(False, True)
    beat = Heartbeat(store, owner="w")
    try:
        lease = beat.keep_alive("s", 1, "tok", 0.06)
        assert store.called.wait(60.0)
        beat.release()  # the trial finished while the beat was in flight
        released.set()
        beat.keep_alive("s", 2, "next", 0.06)
        wait_for(lambda: len(store.calls) >= 2)  # the refusal was handled before
    finally:
        released.set()
        beat.close()
    assert not lease.lost.is_set()
    assert [c[2] for c in store.calls[:2]] == ["tok", "next"]
    assert not getattr(store, "reclaims", [])  # a released lease is not taken back


def test_a_beat_failing_past_the_lease_says_the_lease_ended(caplog):
    class SlowFailure(ScriptedStore):
        def heartbeat(self, *args):
            time.sleep(1.2)  # the store's own retries, then it gives up
            self.calls.append(args)
            raise StoreConnectionError("down")

    store = SlowFailure(None)
    beat = Heartbeat(store, owner="w")
    with caplog.at_level(logging.WARNING):
        try:
            beat.keep_alive("s", 1, "tok", 0.15)
            wait_for(lambda: store.calls)
            wait_for(lambda: "heartbeat of trial s/1 failed" in caplog.text)
        finally:
            beat.release()
            beat.close()
    # About 1 s ago (the beat failed 1.2 s into a 0.15 s lease), more on a loaded
    # machine where the heartbeat thread starts late: its age is the clock's.
    said = r"lease ended (\d+) s ago: the trial may be requeued and run again"
    ended = re.search(said, caplog.text)
    assert ended and int(ended.group(1)) >= 1, caplog.text
    assert "ends in -" not in caplog.text


def test_failing_beats_are_logged_first_then_seldom_then_once_recovered(caplog):
    """The first failure is a warning, then one at the process's pace (30 s; 0.3 s
    here) naming what waits, and one line when a beat gets through."""
    from hpo_service.store._outage import reset_process_outage

    reset_process_outage(every=0.3)
    store = ScriptedStore(*[StoreConnectionError("down")] * 30, True)
    beat = Heartbeat(store, owner="w")
    with caplog.at_level(logging.INFO, logger="hpo_service.worker._heartbeat"):
        try:
            began = time.monotonic()
            beat.keep_alive("s", 1, "tok", 0.15)  # a retry every 0.05 s
            wait_for(lambda: "works again" in caplog.text, timeout=30.0)
            took = time.monotonic() - began
        finally:
            beat.close()
    lines = [r.getMessage() for r in caplog.records]
    assert "heartbeat of trial s/1 failed, retrying in 0.05 s" in lines[0]
    assert "waiting" not in lines[0], lines  # the first says what failed, no more
    waiting = "waiting: the heartbeat of trial s/1): down"
    assert all(waiting in m for m in lines[1:-1]), lines
    assert len(lines) - 2 <= took / 0.3 + 1, lines  # at most one per interval
    assert lines[-1].startswith("the store works again, after "), lines
    assert lines[-1].endswith("(first through: the heartbeat of trial s/1)"), lines
