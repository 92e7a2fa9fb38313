"""Faults injected by the MongoDB-wire server, through real pymongo over TCP.

The server's ``failCommand`` fail point (scoped by ``appName`` to the store under test)
drops connections, loses replies, answers with write-concern errors; ``replSetStepDown``
leaves the one-node replica set without a primary for a few seconds. Each test ends by
draining the study: every trial must finish exactly once.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pymongo
import pytest
from pymongo import monitoring

from hpo_service.exceptions import StoreError, StoreTransientError
from hpo_service.store import NewTrial, TrialState, open_store
from hpo_service.store._faults import may_pass
from hpo_service.store._mongo import MongoTrialStore
from tests.conftest import mongo_lane
from tests.helpers.mongo_wire import (
    fail_point,
    fail_points_enabled,
    step_down,
    wait_writable,
)

pytestmark = pytest.mark.skipif(
    mongo_lane() is None, reason="no MongoDB-wire server (see tests/conftest.py)"
)

APP = "hpo-fault-test"
LONG = 60.0


@dataclass
class Wire:
    """One fresh database on the wire server, and the faults to inject into it."""

    server: str
    database: str

    def open(self, **options: Any) -> MongoTrialStore:
        """A store whose client the fail points hit. Its monitor polls every 0.5 s:
        an injected "not primary" changes nothing the server would announce, so a
        streaming monitor would wait its full 10 s before looking again."""
        options.setdefault("retry_timeout", 60.0)
        options.setdefault("serverMonitoringMode", "poll")
        options.setdefault("heartbeatFrequencyMS", 500)
        store = open_store(self.server, database=self.database, appname=APP, **options)
        assert isinstance(store, MongoTrialStore)
        return store

    def fault(self, commands: list[str], times: int, **data: Any) -> Any:
        """Arm ``failCommand`` for ``times`` matching commands of the store's client."""
        data = {"failCommands": commands, "appName": APP, **data}
        return fail_point(self.server, data, {"times": times})


@pytest.fixture
def wire(mongo_url: str) -> Iterator[Wire]:
    if not fail_points_enabled(mongo_url):
        pytest.skip("the MongoDB server runs without test commands (fail points)")
    name = f"hpo_fault_{uuid.uuid4().hex[:10]}"
    yield Wire(mongo_url, name)
    wait_writable(mongo_url)
    with pymongo.MongoClient(mongo_url) as client:
        client.drop_database(name)


@pytest.fixture
def store(wire: Wire) -> Iterator[MongoTrialStore]:
    with wire.open() as opened:
        opened.create_study("s", {})
        yield opened


def queue(store: MongoTrialStore, n: int) -> list[int]:
    return store.insert_trials("s", [NewTrial({"i": i}, {"i": i}) for i in range(n)])


def drain(store: MongoTrialStore) -> None:
    """Run every queued trial; requeue claims that leaked (their lease expired)."""
    while True:
        trial = store.claim("drain", LONG, study="s")
        if trial is None:
            counts = store.count_by_state("s")
            if counts[TrialState.RUNNING] == 0:
                return
            store.requeue_expired(max_attempts=5, study="s")
            time.sleep(0.2)
            continue
        assert store.complete("s", trial.tid, trial.token, {"loss": float(trial.tid)})


def assert_each_finished_once(store: MongoTrialStore, n: int) -> None:
    trials = store.get_trials("s")
    assert [t.tid for t in trials] == list(range(n))
    assert all(t.state is TrialState.DONE for t in trials), [t.state for t in trials]
    assert all(t.result == {"loss": float(t.tid)} for t in trials)
    assert all(t.attempts == 1 for t in trials), [t.attempts for t in trials]


# Faults that beat pymongo's own single retry (times=2) or happen after the write
# landed (a write-concern error: the acknowledgement says "failed" but it is there).
NETWORK = {"closeConnection": True}
NOT_PRIMARY = {"errorCode": 10107, "errorLabels": ["RetryableWriteError"]}
WC_SHUTDOWN = {"writeConcernError": {"code": 91, "errmsg": "shutting down"}}
WC_STEPDOWN = {"writeConcernError": {"code": 189, "errmsg": "stepped down"}}
WC_INTERRUPTED = {"writeConcernError": {"code": 11602, "errmsg": "interrupted"}}
WTIMEOUT = {"writeConcernError": {"code": 64, "errmsg": "waiting for replication"}}
FAULTS = {
    "network": NETWORK,
    "not-primary": NOT_PRIMARY,
    "wc-91": WC_SHUTDOWN,
    "wc-189": WC_STEPDOWN,
    "wc-11602": WC_INTERRUPTED,
    "wtimeout-64": WTIMEOUT,
}


@pytest.mark.parametrize("fault", FAULTS)
def test_claim_under_fault(wire: Wire, store: MongoTrialStore, fault: str) -> None:
    queue(store, 4)
    with wire.fault(["findAndModify"], 2, **FAULTS[fault]):
        trial = store.claim("w", LONG, study="s")
    assert trial is not None and trial.tid == 0
    counts = store.count_by_state("s")
    assert counts[TrialState.RUNNING] == 1 and counts[TrialState.NEW] == 3
    assert store.get_trial("s", 0).token == trial.token
    assert store.complete("s", 0, trial.token, {"loss": 0.0})
    drain(store)
    assert_each_finished_once(store, 4)


@pytest.mark.parametrize("fault", FAULTS)
def test_complete_under_fault(wire: Wire, store: MongoTrialStore, fault: str) -> None:
    queue(store, 2)
    trial = store.claim("w", LONG, study="s")
    with wire.fault(["findAndModify"], 2, **FAULTS[fault]):
        assert store.complete("s", trial.tid, trial.token, {"loss": 0.0})
    assert not store.complete("s", trial.tid, trial.token, {"loss": 9.0})
    drain(store)
    assert_each_finished_once(store, 2)


@pytest.mark.parametrize("fault", FAULTS)
def test_insert_under_fault(wire: Wire, store: MongoTrialStore, fault: str) -> None:
    """insert_many raises BulkWriteError for write-concern errors: still transient."""
    with wire.fault(["insert"], 2, **FAULTS[fault]):
        assert queue(store, 5) == [0, 1, 2, 3, 4]
    drain(store)
    assert_each_finished_once(store, 5)


def test_insert_outlasting_pymongos_retry(wire: Wire, store: MongoTrialStore) -> None:
    with wire.fault(["insert"], 5, **NETWORK):
        assert queue(store, 3) == [0, 1, 2]
    drain(store)
    assert_each_finished_once(store, 3)


@pytest.mark.parametrize("fault", FAULTS)
def test_heartbeat_under_fault(wire: Wire, store: MongoTrialStore, fault: str) -> None:
    queue(store, 1)
    trial = store.claim("w", 5.0, study="s")
    with wire.fault(["update"], 2, **FAULTS[fault]):
        assert store.heartbeat("s", trial.tid, trial.token, LONG)
    assert store.get_trial("s", 0).lease_expires_at > store.now() + LONG - 5
    assert store.complete("s", 0, trial.token, {"loss": 0.0})
    assert_each_finished_once(store, 1)


@pytest.mark.parametrize("command", ["findAndModify", "insert", "update", "find"])
def test_slow_replies_lost_to_a_socket_timeout(wire: Wire, command: str) -> None:
    """The reply arrives after the client gave up (twice: pymongo's own retry too),
    and the write may land after the store's retry looked for it: a claim can then
    leak until its lease expires (it is requeued, never run twice at once), but every
    trial finishes, once. The fault is armed twice: queueing takes the first
    (findAndModify: the tid allocation), the worker's calls the second (the claim)."""
    slow = {"blockConnection": True, "blockTimeMS": 1500}
    with wire.open(socketTimeoutMS=500) as store:
        store.create_study("s", {})
        with wire.fault([command], 2, **slow):
            queue(store, 3)
        with wire.fault([command], 2, **slow):
            trial = store.claim("w", 3.0, study="s")  # a leaked claim expires soon
            assert store.heartbeat("s", trial.tid, trial.token, LONG)
            assert store.complete("s", trial.tid, trial.token, {"loss": 0.0})
        drain(store)
        trials = store.get_trials("s")
        assert [t.tid for t in trials] == [0, 1, 2]
        assert all(t.state is TrialState.DONE for t in trials)


FINISHES = {
    "complete": (lambda s, t: s.complete("s", t.tid, t.token, {"loss": 0.0}), "done"),
    "fail": (
        lambda s, t: s.fail("s", t.tid, t.token, {"type": "E", "message": "m"}),
        "error",
    ),
    "release": (lambda s, t: s.release("s", t.tid, t.token), "new"),
}


@pytest.mark.parametrize("call", FINISHES)
def test_a_finish_that_landed_late_says_so(wire: Wire, call: str) -> None:
    """A worker's complete (fail, release) whose reply is lost lands 1.25 s late:
    pymongo's retry and the store's look-up of its write id come before that; the
    store sends it again, and that send's own retry (pymongo's) runs after the
    first landed, matches no running attempt and answers "nothing". The store
    said False, "the trial is no longer yours", for a result it had stored: the
    worker dropped it (in test_slow_replies_lost_to_a_socket_timeout, drain's
    complete under load). It must say True, and the trial holds that one write."""
    finish, state = FINISHES[call]
    with wire.open(socketTimeoutMS=500) as store:
        store.create_study("s", {})
        queue(store, 1)
        trial = store.claim("w", LONG, study="s")
        assert trial is not None
        with wire.fault(["findAndModify"], 3, blockConnection=True, blockTimeMS=1250):
            assert finish(store, trial)
        (after,) = store.get_trials("s")
        assert after.state.value == state
        assert after.attempts == (0 if call == "release" else 1)


def test_step_down_in_the_middle_of_a_study(wire: Wire) -> None:
    """Workers in threads keep claiming and completing while the primary steps down
    for 3 s (no primary meanwhile): every trial still finishes exactly once."""
    with wire.open() as store:
        store.create_study("s", {})
        queue(store, 30)
        errors: list[BaseException] = []
        started = threading.Event()

        def work() -> None:
            with wire.open() as mine:
                try:
                    while (trial := mine.claim("w", LONG, study="s")) is not None:
                        started.set()
                        time.sleep(0.1)  # the objective
                        assert mine.complete("s", trial.tid, trial.token, {"loss": 0.0})
                except BaseException as exc:
                    errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        assert started.wait(60)
        step_down(wire.server, 3)
        left = store.count_by_state("s")  # waits for the primary, as workers do
        for thread in threads:
            thread.join(120)
        assert errors == []
        assert left[TrialState.NEW] > 0, "the study ended before the step-down"
        counts = store.count_by_state("s")
        assert counts[TrialState.DONE] == 30, counts
        assert all(t.attempts == 1 for t in store.get_trials("s"))


@pytest.mark.parametrize(
    ("command", "call", "doing"),
    [
        ("findAndModify", "claim", "claiming a trial"),
        ("update", "heartbeat", "renewing a running trial's lease (heartbeat)"),
    ],
)
def test_a_retry_says_what_the_store_was_doing(
    wire: Wire, store: MongoTrialStore, caplog, command: str, call: str, doing: str
) -> None:
    """During an outage a driver and its workers logged "changes_since failed",
    "attachments failed": the names of store methods, which a user cannot tell
    apart. The retry warning says what the call was doing."""
    queue(store, 2)
    trial = store.claim("w", LONG, study="s")
    calls = {
        "claim": lambda: store.claim("w", LONG, study="s"),
        "heartbeat": lambda: store.heartbeat("s", trial.tid, trial.token, LONG),
    }
    logs = caplog.at_level("WARNING", logger="hpo_service.store")
    with logs, wire.fault([command], 2, **NETWORK):
        assert calls[call]()
    assert f": {doing} failed, retrying in " in caplog.text, caplog.text
    assert f": {call} failed" not in caplog.text


def test_fast_failing_retries_log_one_line_then_one_when_it_works_again(
    wire: Wire, store: MongoTrialStore, caplog
) -> None:
    """A write-concern error (or a full disk) answers at once, so the backoff
    reached its 1 s cap within a second and every attempt logged a warning: 25 s of
    such errors gave about 40 warnings per process and no line when writes worked
    again. Now the first failure warns, the next ones are debug lines, and the
    success after them says so, with the number of failed attempts."""
    queue(store, 1)
    logs = caplog.at_level("DEBUG", logger="hpo_service.store")
    with logs, wire.fault(["findAndModify"], 6, errorCode=64):  # WriteConcernFailed
        assert store.claim("w", LONG, study="s") is not None
    failed = [r for r in caplog.records if "claiming a trial failed" in r.message]
    warned = [r for r in failed if r.levelname == "WARNING"]
    again = [r for r in caplog.records if "the store works again" in r.message]
    assert len(failed) >= 2, caplog.text  # the fault reached the store's retries
    assert len(warned) == 1, caplog.text
    assert "claiming a trial failed, retrying in " in warned[0].message
    assert all("(this call's attempt " in r.message for r in failed[1:])
    assert len(again) == 1, caplog.text
    assert f"{len(failed)} failed calls" in again[0].message
    assert again[0].message.endswith("(first through: claiming a trial)")


@pytest.mark.parametrize(
    ("command", "internal"),
    [("findAndModify", "allocate a version"), ("update", "number pending writes")],
)
def test_reading_the_changed_trials_is_named_in_its_retries(
    wire: Wire, store: MongoTrialStore, caplog, command: str, internal: str
) -> None:
    """A driver's log during a server restart said "number pending writes failed"
    and "allocate a version failed": the store's inner steps, which an operator
    cannot place. They are named as the driver's reading of the changed trials."""
    queue(store, 2)  # new trials: pending writes for the feed to number
    logs = caplog.at_level("WARNING", logger="hpo_service.store")
    with logs, wire.fault([command], 2, **NETWORK):  # pymongo retries one itself
        assert store.changes_since("s", 0)
    assert ": reading the study's changed trials (" in caplog.text, caplog.text
    assert internal not in caplog.text


@pytest.mark.parametrize(
    ("data", "passes"),
    [
        ({"errorCode": 121}, False),  # DocumentValidationFailure
        ({"errorCode": 2}, False),  # BadValue: a bad query
        ({"errorCode": 14031}, True),  # OutOfDiskSpace
        ({"writeConcernError": {"code": 100, "errmsg": "unsatisfiable"}}, True),
    ],
)
def test_only_errors_that_may_pass_are_marked_so(
    wire: Wire, store: MongoTrialStore, data: dict[str, Any], passes: bool
) -> None:
    """A server error outside the allow-list (a validation failure, a bad query)
    cannot pass by waiting: drivers and workers used to retry it for ever, as every
    StoreError but a few may have passed. A full disk or a write concern not met
    still may."""
    store.insert_trials("s", [NewTrial({"x": 1}, {"x": 1})])
    failing = wire.fault(["findAndModify", "update"], 1, **data)
    with failing, pytest.raises(StoreError) as failed:
        store.claim("w", 10.0, study="s")
    assert may_pass(failed.value) is passes, failed.value
    assert isinstance(failed.value, StoreTransientError) is passes


@pytest.mark.parametrize(
    ("data", "passes"),
    [
        ({"errorCode": 121}, False),  # DocumentValidationFailure
        ({"errorCode": 112}, True),  # WriteConflict
        ({"writeConcernError": {"code": 100, "errmsg": "unsatisfiable"}}, True),
    ],
)
def test_an_insert_that_fails_is_marked_as_a_write_of_one_trial_is(
    wire: Wire, store: MongoTrialStore, data: dict[str, Any], passes: bool
) -> None:
    """Inserting trials is a bulk write (a write-concern error comes back as a
    BulkWriteError): it is judged by the same allow-list as a write of one trial."""
    with wire.fault(["insert"], 1, **data), pytest.raises(StoreError) as failed:
        store.insert_trials("s", [NewTrial({"x": 1}, {"x": 1})])
    assert may_pass(failed.value) is passes, failed.value
    assert isinstance(failed.value, StoreTransientError) is passes


class _Claims(monitoring.CommandListener):
    """Appends ``("claim", ok)`` to ``events`` as a ``findAndModify`` ends."""

    def __init__(self, events: list[tuple[str, bool]]) -> None:
        self.events = events

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name == "findAndModify":
            self.events.append(("claim", True))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        if event.command_name == "findAndModify":
            self.events.append(("claim", False))


class _Checks(monitoring.ServerHeartbeatListener):
    """Appends ``("hello", awaited)`` to ``events`` as a server check answers:
    ``awaited`` for a streaming monitor's awaited ``hello``, else a polled one."""

    def __init__(self, events: list[tuple[str, bool]]) -> None:
        self.events = events

    def started(self, event: monitoring.ServerHeartbeatStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.ServerHeartbeatSucceededEvent) -> None:
        self.events.append(("hello", event.awaited))

    def failed(self, event: monitoring.ServerHeartbeatFailedEvent) -> None:
        pass


@pytest.mark.parametrize("answer", [NOT_PRIMARY, {"errorCode": 189}])
def test_a_not_primary_answer_is_ridden_out_by_an_immediate_check(
    wire: Wire, answer: dict[str, Any]
) -> None:
    """A "not primary" answer (NotWritablePrimary, PrimarySteppedDown) marks the
    server unknown and asks its monitor for a check. pymongo's default streaming
    monitor is then blocked in an awaited ``hello`` the server answers only after
    ``heartbeatFrequencyMS`` (10 s), so the retried claim waited ~10 s for a
    primary; the store's default polling monitor checks at once. What is checked
    is what ended the wait, not how long it took (a loaded machine's seconds say
    nothing): between the refused claim and the one that got through, the server
    was checked only by polled ``hello`` (none awaited). Opened with the store's
    defaults (not :meth:`Wire.open`'s 0.5 s monitor) and a budget far past 10 s, so
    a streaming monitor would get through too, but on an awaited answer."""
    events: list[tuple[str, bool]] = []
    with open_store(
        wire.server, database=wire.database, appname=APP, retry_timeout=LONG,
        event_listeners=[_Claims(events), _Checks(events)],
    ) as store:  # fmt: skip
        store.create_study("s", {})
        queue(store, 1)
        with wire.fault(["findAndModify"], 1, **answer):
            assert store.claim("w", LONG, study="s") is not None
    refused = events.index(("claim", False))
    got_through = events.index(("claim", True), refused)
    checks = [awaited for _, awaited in events[refused + 1 : got_through]]
    assert checks and not any(checks), events
