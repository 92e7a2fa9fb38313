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


def test_a_call_of_another_activity_getting_through_does_not_end_the_outage():
    """Claims fail (retried every 2 s) while housekeeping reads pass: one outage,
    its seconds and failed calls rising, not an end at each read that passes
    ("the store works again, after 0 s and 1 failed call") and a count begun
    anew at each failure, as before."""
    clock = Clock()
    outage = Outage(30.0, clock)
    notes = []
    for _ in range(40):  # 80 s: a claim fails, a housekeeping read passes
        notes.append(outage.failed("claim trials", 2.0))
        assert outage.worked("requeue dead workers' trials") is None
        assert outage.on
        clock.now += 2.0
    said = [n for n in notes if n is not None]
    assert [round(n.failing_for) for n in said] == [0, 30, 60]
    assert [n.failures for n in said] == [1, 16, 31]
    assert outage.worked("claim trials") == (80.0, 40)  # what waited got through
    assert not outage.on


def test_an_activity_no_longer_tried_stops_waiting_after_its_retry_and_a_pace():
    """The heartbeat of a trial that ended is never tried again: a pace past its
    announced retry, a call of another activity that gets through ends the
    outage (else the worker's idle clock would stand still for ever)."""
    clock = Clock()
    outage = Outage(30.0, clock)
    outage.failed("the heartbeat of trial s/0", 1.0)
    clock.now += 31.0
    assert outage.worked("claim trials") is None  # still due: 1 s + 30 s
    clock.now += 0.5
    assert outage.worked("claim trials") == (31.5, 1)
    assert not outage.on


def test_a_store_call_within_an_activity_leaves_the_end_to_its_caller():
    """A driver's poll reads (they pass) and writes (they fail, a full disk): a
    read getting through is not the poll getting through. Only a call whose one
    failure was the outage's only one ends it (silently) from within."""
    outage = Outage(30.0, Clock())
    with outage.doing("run the study"):
        outage.failed("run the study", 0.5)
        outage.failed("run the study", 1.0)
        assert outage.worked("run the study", once=True, alone=True) is None
        assert outage.on
    assert outage.worked("run the study") == (0.0, 2)
    outage.failed("run the study", 0.01)
    assert outage.worked("run the study", once=True, alone=True) is None
    assert not outage.on  # its warning ("retrying in 0.01 s") said it all


def test_every_line_says_the_delay_it_is_given_and_the_pace(caplog):
    """The entered line and the paced one each say the caller's real next try;
    between them, debug lines."""
    clock = Clock()
    outage = Outage(30.0, clock)
    log = logging.getLogger("tests.outage.lines")
    with caplog.at_level(logging.DEBUG, logger="tests.outage.lines"):
        for _ in range(4):
            outage.say_failed("claim trials", log, "worker: cannot claim trials",
                              "down", retry=12.5)  # fmt: skip
            clock.now += 12.5
        outage.say_failed("the pruner's read for trial s/0", log,
                          "trial s/0: cannot judge it", "down",
                          retry="judging it again at its next report",
                          context=("step 3",))  # fmt: skip
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "worker: cannot claim trials, retrying in 12.5 s (the store "
         "failed): down"),
        ("DEBUG", "worker: cannot claim trials, retrying in 12.5 s (the store "
         "failed): down"),
        ("DEBUG", "worker: cannot claim trials, retrying in 12.5 s (the store "
         "failed): down"),
        ("WARNING", "worker: cannot claim trials, retrying in 12.5 s (the store "
         "has failed for 38 s and 4 calls; waiting: claim trials): down"),
        ("DEBUG", "trial s/0: cannot judge it, judging it again at its next report "
         "(step 3; the store failed): down"),
    ]  # fmt: skip


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
