"""One process's store outage, said at one pace (``hpo_service.store._outage``)."""

from __future__ import annotations

import logging

from hpo_service.store._outage import Outage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_every_activity_shares_one_pace_and_the_warning_names_what_waits():
    """A claim, a heartbeat and a report write failing over 65 s: one warning at
    the first failure, then one a pace (30 s) whichever activity fails, naming
    all that wait; before, each activity (and the store's retries in each) kept
    its own pace."""
    clock = Clock()
    outage = Outage(30.0, clock)
    first = outage.failed("claiming a trial")
    assert first is not None and first.first and str(first) == ""
    notes = []
    for _ in range(13):  # every 5 s, each activity fails once
        clock.now += 5.0
        for what in ("claiming a trial", "the heartbeat", "storing a report"):
            notes.append(outage.failed(what))
    said = [n for n in notes if n is not None]
    assert len(said) == 2, said  # at 30 s and 60 s
    assert [round(n.failing_for) for n in said] == [30, 60]
    assert str(said[0]) == (
        "the store has failed for 30 s and 17 calls; waiting: claiming a trial; "
        "storing a report; the heartbeat"
    )  # the failing call's first, then the others, latest first; the outage's
    # failed calls, as its end line counts them


def test_the_end_is_said_once_and_a_handed_over_call_waits_no_more(caplog):
    clock = Clock()
    outage = Outage(30.0, clock)
    log = logging.getLogger("tests.outage")
    outage.failed("storing a report")
    outage.failed("renewing a lease")
    outage.handed_over("storing a report")  # the store's retries gave up
    clock.now += 31.0
    note = outage.failed("recording the reports")
    assert note is not None
    assert note.waiting == ("recording the reports", "renewing a lease")
    clock.now += 4.0
    with caplog.at_level(logging.WARNING, logger="tests.outage"):
        outage.say_worked("renewing a lease", log)
        outage.say_worked("recording the reports", log)  # the store answered before
    assert [r.getMessage() for r in caplog.records] == [
        "the store works again, after 35 s and 3 failed calls (first through: "
        "renewing a lease)"
    ]
    assert not outage.on


def test_a_single_failed_retry_says_no_end_but_a_longer_outage_does():
    """A call that failed once and got through at its first retry: its warning
    ("retrying in 0.01 s") said it all. Once another call failed too, the end is
    said."""
    outage = Outage(30.0, Clock())
    assert outage.failed("claiming a trial") is not None
    assert outage.worked("claiming a trial", once=True) is None
    assert not outage.on
    outage = Outage(30.0, Clock())
    outage.failed("claiming a trial")
    outage.failed("the heartbeat")
    assert outage.worked("claiming a trial", once=True) == (0.0, 2)


def test_a_store_failing_on_and_off_keeps_the_pace():
    """A full disk: reads pass, writes fail. A failure within the pace of the last
    warning starts an outage that is said neither at its start nor at its end."""
    clock = Clock()
    outage = Outage(30.0, clock)
    assert outage.failed("adding trials") is not None
    assert outage.worked("reading the study") is not None
    clock.now += 10.0
    assert outage.failed("adding trials") is None
    assert outage.worked("reading the study") is None
    clock.now += 25.0
    assert outage.failed("adding trials") is not None  # the pace allows one again


def test_the_end_of_an_outage_of_one_failed_call_says_it_in_the_singular(caplog):
    """A driver's ride-out that failed once ("cannot run the study"), then got
    through: it said "after 0 s and 1 failed calls"."""
    outage = Outage(30.0, Clock())
    log = logging.getLogger("tests.outage.one")
    assert outage.failed("run the study") is not None
    with caplog.at_level(logging.WARNING, logger="tests.outage.one"):
        outage.say_worked("run the study", log)
    assert caplog.messages == [
        "the store works again, after 0 s and 1 failed call (first through: run "
        "the study)"
    ]
