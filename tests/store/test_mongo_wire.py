"""What the MongoDB backend must get right against a real server, through real pymongo
over TCP (the session's MongoDB-wire server): the concerns it pins whatever the URL
says, what opening a store does and does not do, index migration, values MongoDB
cannot hold, clear connection errors, a read-only user, and its round trips.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import bson
import pymongo
import pytest
from pymongo import ReadPreference, monitoring

from hpo_service.exceptions import (
    SettingRecordedError,
    StoreAuthorizationError,
    StoreConnectionError,
    StoreError,
    StudyNotFoundError,
    UnstorableError,
)
from hpo_service.store import FinishedTrial, NewTrial, TrialState, _mongo, open_store
from hpo_service.store import _mongo_schema as schema
from hpo_service.store import _mongo_settings as mongo_settings
from hpo_service.store._mongo import MongoTrialStore
from hpo_service.store._snapshot_retry import SnapshotRetry
from tests.conftest import AUTH_ADMIN, mongo_lane
from tests.helpers.mongo_wire import (
    as_user,
    fail_point,
    needs_fail_points,
    numbered_first_by,
    step_down,
    wait_writable,
    with_database,
)
from tests.helpers.ports import held_port

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    mongo_lane() is None, reason="no MongoDB-wire server (see tests/conftest.py)"
)

LONG = 60.0
MIB = 1024 * 1024


@pytest.fixture
def database(mongo_url: str) -> Iterator[str]:
    name = f"hpo_wire_{uuid.uuid4().hex[:10]}"
    yield name
    with pymongo.MongoClient(mongo_url) as client:
        client.drop_database(name)


def url_with(server: str, database: str, query: str) -> str:
    return with_database(server, database) + "&" + query


def open_at(server: str, database: str, **options: Any) -> MongoTrialStore:
    store = open_store(server, database=database, **options)
    assert isinstance(store, MongoTrialStore)
    return store


def run_a_little_study(store: MongoTrialStore) -> None:
    store.create_study("s", {"k": 1})
    assert store.insert_trials("s", [NewTrial({"i": i}, {"i": i}) for i in range(3)])
    _, cursor = store.changes_since("s")
    trial = store.claim("w", LONG, study="s")
    assert store.complete("s", trial.tid, trial.token, {"loss": 1.0})
    changes, _ = store.changes_since("s", cursor)
    assert [(t.tid, t.state) for t in changes] == [(0, TrialState.DONE)]
    assert store.count_by_state("s")[TrialState.NEW] == 2


# ---- concerns ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "readPreference=secondary",
        "readPreference=nearest&w=1&readConcernLevel=local",
        "readPreference=secondaryPreferred&wtimeoutMS=5000",
    ],
)
def test_the_stores_own_reads_and_writes_ignore_the_urls_concerns(
    mongo_url: str, database: str, query: str
) -> None:
    """With readPreference=secondary a one-node set has no server to read from: the
    store must read the primary anyway, with majority reads and writes."""
    with open_store(url_with(mongo_url, database, query)) as store:
        assert isinstance(store, MongoTrialStore)
        run_a_little_study(store)
        for collection in (store._trials, store._studies):
            assert collection.read_preference == ReadPreference.PRIMARY
            assert collection.read_concern.level == "majority"
            assert collection.write_concern.document["w"] == "majority"
        wanted_timeout = 5000 if "wtimeoutMS" in query else 10_000
        assert store._trials.write_concern.document["wtimeout"] == wanted_timeout


class Aggregates(monitoring.CommandListener):
    """The read concern and hint of every ``aggregate`` a client sends, and the
    codes of those that failed."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, Any]] = []
        self.failed_codes: list[Any] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "aggregate":
            command = event.command
            level = (command.get("readConcern") or {}).get("level")
            hint = command.get("hint")
            self.sent.append((level, None if hint is None else dict(hint)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        if event.command_name == "aggregate":
            self.failed_codes.append(event.failure.get("code"))


def a_study_in_three_states(store: MongoTrialStore) -> None:
    """Study ``s``: trial 0 done, 1 running, 2 queued."""
    store.create_study("s", {})
    store.insert_trials("s", [NewTrial({"i": i}, {"i": i}) for i in range(3)])
    first = store.claim("w", LONG, study="s")
    assert store.complete("s", first.tid, first.token, {"loss": 1.0})
    assert store.claim("w", LONG, study="s").tid == 1


THREE_STATES = (1, 1, 1)  # (done, running, new)


def done_running_new(store: MongoTrialStore) -> tuple[int, int, int]:
    counts = store.count_by_state("s")
    return counts[TrialState.DONE], counts[TrialState.RUNNING], counts[TrialState.NEW]


def test_trials_are_counted_by_state_in_one_snapshot_read(
    mongo_url: str, database: str
) -> None:
    """count_by_state is one aggregate with read concern ``snapshot``: a read that
    yields under ``majority`` may meet a trial that changed state twice or not at
    all (it was sent with ``majority``, and the worker's budget rule relies on the
    counts)."""
    aggregates = Aggregates()
    with open_at(mongo_url, database, event_listeners=[aggregates]) as store:
        a_study_in_three_states(store)
        assert done_running_new(store) == THREE_STATES
    assert aggregates.sent == [("snapshot", None)]


def test_a_server_refusing_snapshot_reads_is_counted_through_the_tid_index(
    mongo_url: str, database: str
) -> None:
    """A standalone server or MongoDB 4.x refuses read concern ``snapshot`` (code
    246 here, as a standalone answers): the count falls back to the ``study_tid``
    index, which a state change does not move (each trial counted once), and does
    not ask for a snapshot again."""
    needs_fail_points(mongo_url)
    app = f"nosnap{uuid.uuid4().hex[:8]}"
    url = with_database(mongo_url, database) + f"&appName={app}"
    refuse = {"failCommands": ["aggregate"], "appName": app, "errorCode": 246}
    aggregates = Aggregates()
    with open_store(url, event_listeners=[aggregates]) as store:
        assert isinstance(store, MongoTrialStore)
        a_study_in_three_states(store)
        with fail_point(mongo_url, refuse, {"times": 1}):
            assert done_running_new(store) == THREE_STATES
        assert done_running_new(store) == THREE_STATES
    by_tid = ("majority", {"study": 1, "tid": 1})
    assert aggregates.sent == [("snapshot", None), by_tid, by_tid]
    assert aggregates.failed_codes == [246]


@pytest.mark.parametrize("after", ["calls", "seconds"])
def test_a_refused_snapshot_read_is_asked_for_again_later(
    mongo_url: str, database: str, after: str
) -> None:
    """A refusal may pass (246 SnapshotUnavailable in an election, a node being
    upgraded): after ``calls`` counts through the index, or once ``seconds``
    have passed (0 here: the very next count), the store asks for a snapshot
    again and, given one, keeps asking. Before, one refusal switched the store to
    the index for the rest of its life."""
    needs_fail_points(mongo_url)
    app = f"resnap{uuid.uuid4().hex[:8]}"
    url = with_database(mongo_url, database) + f"&appName={app}"
    refuse = {"failCommands": ["aggregate"], "appName": app, "errorCode": 246}
    aggregates = Aggregates()
    retry = (
        SnapshotRetry(calls=2, seconds=3600.0)
        if after == "calls"
        else SnapshotRetry(calls=10**6, seconds=0.0)
    )
    counts = 4 if after == "calls" else 2  # after the refused one
    with open_store(url, event_listeners=[aggregates]) as store:
        assert isinstance(store, MongoTrialStore)
        store._snapshot = retry
        a_study_in_three_states(store)
        with fail_point(mongo_url, refuse, {"times": 1}):
            assert done_running_new(store) == THREE_STATES
        for _ in range(counts):
            assert done_running_new(store) == THREE_STATES
    by_tid, snapshot = ("majority", {"study": 1, "tid": 1}), ("snapshot", None)
    if after == "calls":  # the refused count's own fallback, then 2 counts by tid
        wanted = [snapshot, by_tid, by_tid, by_tid, snapshot, snapshot]
    else:
        wanted = [snapshot, by_tid, snapshot, snapshot]
    assert aggregates.sent == wanted
    assert aggregates.failed_codes == [246]


def test_unacknowledged_writes_are_refused(mongo_url: str, database: str) -> None:
    with pytest.raises(ValueError, match=r"`w` must ask for acknowledged.*w=0"):
        open_store(url_with(mongo_url, database, "w=0"))


# ---- opening -------------------------------------------------------------------------


def test_opening_and_reading_create_no_database(mongo_url: str, database: str) -> None:
    with open_at(mongo_url, database) as store:
        assert store.list_studies() == []
        with pytest.raises(StudyNotFoundError):
            store.get_study("s")
        assert store.claim("w", LONG) is None  # a worker polling an empty database
    with pymongo.MongoClient(mongo_url) as client:
        assert database not in client.list_database_names()


def test_unreachable_server_is_one_clear_line() -> None:
    """Opening gives up once pymongo's server selection ran out of the configured
    ``connect_timeout`` (1 s, its serverSelectionTimeoutMS) on a server that takes
    connections and never answers, with one line: the open neither waits pymongo's
    default 30 s nor retries for the store's ``retry_timeout`` (an hour here)."""
    with held_port() as sock, pytest.raises(StoreConnectionError) as info:
        sock.listen()  # connections are taken, never answered
        port = sock.getsockname()[1]
        url = f"mongodb://127.0.0.1:{port}/hpo"
        open_store(url, connect_timeout=1, retry_timeout=3600)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    assert f"127.0.0.1:{port}" in message and "within 1 s" in message
    assert "no reply within the wait" in message


def test_a_refused_connection_is_one_clear_line_at_once() -> None:
    """A port where nothing listens refuses the connection: opening says so at
    once, where it waited out pymongo's server selection (an hour here: the test
    would time out), which tried the refused address again and again."""
    with held_port() as sock, pytest.raises(StoreConnectionError) as info:
        port = sock.getsockname()[1]  # bound, not listening: refused, and ours
        open_store(f"mongodb://127.0.0.1:{port}/hpo", connect_timeout=3600)
    assert str(info.value) == (
        f"MongoDB at mongodb://127.0.0.1:{port}/hpo must be reachable, but every "
        f"address refused the connection (tried 127.0.0.1:{port}): is mongod "
        "running there, on that port?"
    )


@pytest.mark.parametrize(
    ("query", "socket_timeout"),
    [("", _mongo.SOCKET_TIMEOUT), ("&socketTimeoutMS=5000", 5.0),
     ("&timeoutMS=7000", None)],
    ids=["default", "socketTimeoutMS", "timeoutMS"],
)  # fmt: skip
def test_replies_have_a_timeout_unless_the_url_sets_one(
    mongo_url: str, database: str, query: str, socket_timeout: float | None
) -> None:
    """pymongo waits for a reply for ever by default: a server that stalled with its
    connections open (a frozen primary, a stuck disk) hung `hpo-driver status` (over
    150 s at a 40 s stall per read, not a word) and every worker."""
    with open_store(with_database(mongo_url, database) + query) as store:
        assert store._client.options.pool_options.socket_timeout == socket_timeout


def test_a_stalled_server_fails_a_call_after_retry_timeout(
    mongo_url: str, database: str
) -> None:
    """Each reply slower than the socket timeout drops its connection and is retried
    (a stall is a dropped connection), until ``retry_timeout``: one clear error."""
    needs_fail_points(mongo_url)
    url = with_database(mongo_url, database) + "&appName=stall&socketTimeoutMS=300"
    stall = {"failCommands": ["find"], "appName": "stall", "blockConnection": True,
             "blockTimeMS": 3000}  # fmt: skip
    with open_store(url, retry_timeout=1.5) as store:
        store.create_study("s", {})
        stalled = fail_point(mongo_url, stall, "alwaysOn")
        with stalled, pytest.raises(StoreConnectionError) as info:
            store.get_study("s")
        assert store.get_study("s").name == "s"  # the server answers again
    message = str(info.value)
    assert "retry_timeout=1.5 s" in message and "timed out" in message, message


def test_a_wrong_replica_set_name_is_named(mongo_url: str) -> None:
    url = urlsplit(mongo_url)._replace(query="replicaSet=not-this-one").geturl()
    with pytest.raises(StoreConnectionError) as info:
        open_store(url, connect_timeout=1)
    message = str(info.value)
    assert "\n" not in message and urlsplit(mongo_url).netloc in message
    assert "no member belongs to replica set 'not-this-one'" in message


def test_opening_during_an_election_rides_it_out(mongo_url: str, database: str) -> None:
    """No primary for 4 s: open (connect timeout 1 s) and the first write wait."""
    needs_fail_points(mongo_url)
    step_down(mongo_url, 4)
    try:
        quick = {"serverMonitoringMode": "poll", "heartbeatFrequencyMS": 500}
        with open_at(mongo_url, database, connect_timeout=1, **quick) as store:
            store.create_study("s", {})
            assert store.get_study("s").name == "s"
    finally:
        wait_writable(mongo_url)


# ---- indexes -------------------------------------------------------------------------


def _indexes(server: str, database: str, collection: str = "trials") -> dict[str, Any]:
    with pymongo.MongoClient(server) as client:
        return {
            ix["name"]: (list(ix["key"].items()), bool(ix.get("unique")))
            for ix in client[database][collection].list_indexes()
        }


def _old_leases_index(server: str, database: str) -> None:
    """Give ``database`` a ``leases`` index of an older definition (and no index
    version), as the code before versioned indexes left it."""
    with pymongo.MongoClient(server) as client:
        trials = client[database]["trials"]
        trials.create_index([("lease_expires_at", 1)], name="leases")


def _index_version(server: str, database: str) -> Any:
    """The index version the database's ``meta`` document records."""
    with pymongo.MongoClient(server) as client:
        meta = client[database]["meta"].find_one({"_id": schema.META_ID})
    return meta["indexes"]


def test_changed_index_definitions_are_migrated(mongo_url: str, database: str) -> None:
    """A database whose ``leases`` index has an older definition (and no version)."""
    _old_leases_index(mongo_url, database)
    with open_at(mongo_url, database) as store:
        run_a_little_study(store)
    for collection, indexes in schema.INDEXES.items():
        wanted = {name: (keys, unique) for name, keys, unique in indexes}
        have = _indexes(mongo_url, database, collection)
        assert {name: have.get(name) for name in wanted} == wanted, collection
    assert _index_version(mongo_url, database) == schema.INDEX_VERSION


def test_a_migration_index_build_may_outlast_the_socket_timeout(
    mongo_url: str, database: str
) -> None:
    """Building an index on a large trials collection may take minutes: the reply
    timeout that drops a stalled connection (here 300 ms) must not cut the
    migration's createIndexes, which a retry would only wait on again."""
    needs_fail_points(mongo_url)
    _old_leases_index(mongo_url, database)
    url = with_database(mongo_url, database) + "&appName=slowbuild&socketTimeoutMS=300"
    slow = {"failCommands": ["createIndexes"], "appName": "slowbuild",
            "blockConnection": True, "blockTimeMS": 1000}  # fmt: skip
    # two builds of 1 s: cut at 300 ms and retried, the second is past retry_timeout
    with (
        fail_point(mongo_url, slow, {"times": 2}),
        open_store(url, retry_timeout=0.5) as store,
    ):
        run_a_little_study(store)
    assert _index_version(mongo_url, database) == schema.INDEX_VERSION


def test_a_database_migrated_by_newer_code_is_left_alone(
    mongo_url: str, database: str
) -> None:
    _old_leases_index(mongo_url, database)
    with pymongo.MongoClient(mongo_url) as client:
        client[database]["meta"].insert_one({"_id": schema.META_ID, "indexes": 99})
    with open_at(mongo_url, database) as store:
        run_a_little_study(store)
    assert _indexes(mongo_url, database)["leases"] == ([("lease_expires_at", 1)], False)


def an_old_database(server: str, database: str, done: int) -> list[float]:
    """A database at index version 2: study ``s`` with ``done`` done trials without
    rank fields (as hpo-service wrote them before version 3), and no ``best``
    index. Returns their losses, by tid."""
    losses = [float((7 * i) % done) for i in range(done)]
    results = [{"loss": loss, "status": "ok", "output": "x" * 500} for loss in losses]
    with open_at(server, database) as store:
        store.create_study("s", {})
        store.insert_finished("s", [FinishedTrial({}, {}, r) for r in results])
    with pymongo.MongoClient(server) as client:
        db = client[database]
        rank = {"best_violation": "", "best_loss": ""}
        db["trials"].update_many({}, {"$unset": rank})
        db["trials"].drop_index("best")
        db["meta"].update_one({"_id": schema.META_ID}, {"$set": {"indexes": 2}})
    return losses


def ranks_and_version(server: str, database: str) -> tuple[dict[int, Any], int]:
    """``{tid: best_loss}`` of the ranked trials, and the index version recorded."""
    with pymongo.MongoClient(server) as client:
        db = client[database]
        ranked = db["trials"].find({"best_loss": {"$exists": True}})
        return {d["tid"]: d["best_loss"] for d in ranked}, schema.stored_version(
            db["meta"]
        )


def test_ranking_an_old_database_cut_short_is_resumed(
    mongo_url: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The migration to index version 3 ranks old done trials in batches (one
    ``bulk_write`` each) and records the version only once all are ranked: a
    migration that fails half-way is finished by the next store that writes."""
    needs_fail_points(mongo_url)
    monkeypatch.setattr(_mongo, "_BACKFILL_BATCH", 4)
    losses = an_old_database(mongo_url, database, 10)
    data = {"failCommands": ["update"], "appName": "cut", "errorCode": 2}
    second_batch = {"skip": 1, "times": 1}
    with (
        fail_point(mongo_url, data, second_batch),
        open_at(mongo_url, database, appname="cut") as store,
        pytest.raises(StoreError),
    ):
        store.insert_trials("s", [NewTrial({}, {})])
    ranked, version = ranks_and_version(mongo_url, database)
    assert (sorted(ranked), version) == ([0, 1, 2, 3], 2)  # the first batch only
    commands = Commands()
    with open_at(mongo_url, database, event_listeners=[commands]) as store:
        names = commands.during(lambda: store.insert_trials("s", [NewTrial({}, {})]))
        assert store.best_trial("s").tid == losses.index(0.0)
    assert names.count("update") == 3  # 6 trials left: batches of 4 and 2, version
    ranked, version = ranks_and_version(mongo_url, database)
    assert ranked == dict(enumerate(losses)) and version == schema.INDEX_VERSION


_OPEN_AT_ONCE = """
import sys, time
from pathlib import Path
from hpo_service.store import NewTrial, _mongo, open_store
_mongo._BACKFILL_BATCH = 3
rank = _mongo.MongoTrialStore._backfill_ranks
def timed(self):
    began = time.time()
    n = rank(self)
    print(began, time.time(), n)
    return n
_mongo.MongoTrialStore._backfill_ranks = timed
store = open_store(sys.argv[1], database=sys.argv[2], appname="slow")
go = Path(sys.argv[3])
while not go.exists():
    time.sleep(0.01)
store.insert_trials("s", [NewTrial({}, {})])
store.close()
"""


def test_two_stores_ranking_an_old_database_at_once(
    mongo_url: str, database: str, tmp_path: Path
) -> None:
    """Two processes (a driver and a worker, say) that write to an old database at
    the same moment both run its migration: every trial is ranked once, rightly."""
    needs_fail_points(mongo_url)
    losses = an_old_database(mongo_url, database, 45)
    go = tmp_path / "go"
    argv = [sys.executable, "-c", _OPEN_AT_ONCE, mongo_url, database, str(go)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    data = {"failCommands": ["update"], "appName": "slow", "blockConnection": True,
            "blockTimeMS": 100}  # fmt: skip
    with fail_point(mongo_url, data, "alwaysOn"):  # 15 batches: 1.5 s or more
        procs = [
            subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        time.sleep(0.2)
        go.touch()
        outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    (a_began, a_ended, a), (b_began, b_ended, b) = [
        tuple(map(float, out.split())) for out in outputs
    ]
    assert a_began < b_ended and b_began < a_ended  # both ranked at once
    assert a + b == 45  # no trial written twice
    ranked, version = ranks_and_version(mongo_url, database)
    assert ranked == dict(enumerate(losses)) and version == schema.INDEX_VERSION


# ---- values MongoDB cannot hold ------------------------------------------------------


@pytest.mark.parametrize(
    "result",
    [
        {"loss": 1.0, "blob": "x" * (17 * MIB)},  # the update command itself
        {"loss": 1.0, "blob": "x" * (16 * MIB - 100)},  # the trial would not fit
        {"loss": 1.0, "big": 2**70},
    ],
    ids=["17MiB", "just-under-16MiB", "int-beyond-64-bits"],
)
def test_a_result_mongodb_cannot_hold_is_refused_cleanly(
    mongo_url: str, database: str, result: dict[str, Any]
) -> None:
    with open_at(mongo_url, database) as store:
        store.create_study("s", {})
        store.insert_trials("s", [NewTrial({"i": 0}, {"i": 0})])
        trial = store.claim("w", LONG, study="s")
        with pytest.raises(UnstorableError) as info:
            store.complete("s", trial.tid, trial.token, result)
        assert isinstance(info.value, ValueError)
        assert store.get_trial("s", trial.tid).state is TrialState.RUNNING
        error = {"type": "UnstorableResult", "message": str(info.value)[:500]}
        assert store.fail("s", trial.tid, trial.token, error)


# ---- round trips ---------------------------------------------------------------------


class Commands(monitoring.CommandListener):
    """Counts the commands a client sends (each one round trip)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def during(self, fn: Any) -> list[str]:
        self.names.clear()
        fn()
        return list(self.names)


def test_round_trips_per_operation(mongo_url: str, database: str) -> None:
    """claim, heartbeat, complete: one round trip each; a batch insert two."""
    commands = Commands()
    with open_at(mongo_url, database, event_listeners=[commands]) as store:
        store.create_study("s", {})
        batch = [NewTrial({"i": i}, {"i": i}) for i in range(10)]
        assert commands.during(lambda: store.insert_trials("s", batch)) == [
            "findAndModify",
            "insert",
        ]
        claimed: list[Any] = []
        assert commands.during(
            lambda: claimed.append(store.claim("w", LONG, study="s"))
        ) == ["findAndModify"]
        trial = claimed[0]
        beat = commands.during(lambda: store.heartbeat("s", trial.tid, trial.token, 9))
        assert beat == ["update"]
        done = commands.during(
            lambda: store.complete("s", trial.tid, trial.token, {"loss": 0.0})
        )
        assert done == ["findAndModify"]


def test_a_conditional_result_after_claim_with_study_reads_nothing(
    mongo_url: str, database: str
) -> None:
    """A worker's trial on MongoDB: claim and read the study, then a result
    conditional on an unset constraint count: three round trips (four before: the
    result write read the study first). Once another store recorded the count
    meanwhile, the result is refused as before."""
    commands = Commands()
    with (
        open_at(mongo_url, database, event_listeners=[commands]) as store,
        open_at(mongo_url, database) as other,
    ):
        store.create_study("s", {"max_evals": 5})
        store.insert_trials("s", [NewTrial({"i": i}, {"i": i}) for i in range(2)])
        got: list[Any] = []
        claim = commands.during(lambda: got.append(store.claim_with_study("w", LONG)))
        assert claim == ["findAndModify", "find"]
        (trial, study) = got[0]
        assert study.settings == {"max_evals": 5}
        done = commands.during(
            lambda: store.complete(
                "s",
                trial.tid,
                trial.token,
                {"loss": 0.0},
                unless_setting="n_constraints",
            )
        )
        assert done == ["findAndModify"]
        second, _ = store.claim_with_study("w", LONG)
        other.patch_study_settings("s", {"n_constraints": 2}, only_unset=True)
        with pytest.raises(SettingRecordedError) as refused:
            store.complete(
                "s",
                second.tid,
                second.token,
                {"loss": 1.0},
                unless_setting="n_constraints",
            )
        assert refused.value.value == 2
        assert store.get_trial("s", second.tid).state is TrialState.RUNNING


def test_a_settings_write_open_at_the_claims_read_is_read_before_the_result(
    mongo_url: str, database: str
) -> None:
    """A settings write begun and not ended as a worker read the study after its
    claim (here one whose process stopped after its stamp, its settings then
    written by hand): that worker's result reads the study before it is written,
    so the count the write ends with still refuses it."""
    with (
        open_at(mongo_url, database) as store,
        pymongo.MongoClient(mongo_url) as client,
    ):
        store.create_study("s", {"objective": "m:f"})
        store.insert_trials("s", [NewTrial({"i": 0}, {"i": 0})])
        studies = client[database]["studies"]
        studies.update_one({"_id": "s"}, mongo_settings.begin("cut"))
        claimed = store.claim_with_study("w", LONG)
        assert claimed is not None
        trial = claimed[0]
        studies.update_one({"_id": "s"}, {"$set": {"settings.n_constraints": 3}})
        with pytest.raises(SettingRecordedError) as refused:
            store.complete(
                "s",
                trial.tid,
                trial.token,
                {"loss": 0.0},
                unless_setting="n_constraints",
            )
        assert refused.value.value == 3


def _export_study(store: MongoTrialStore, n: int) -> list[int]:
    """A study ``s`` of ``n`` done trials, every third ``fail``: their tids."""
    store.create_study("s", {})
    result = [{"status": "fail" if i % 3 == 0 else "ok", f"k{i}": i} for i in range(n)]
    trials = [FinishedTrial({"x": float(i)}, None, result[i]) for i in range(n)]
    store.insert_finished("s", trials)
    return [i for i in range(n) if i % 3 == 0]


def test_a_filtered_export_reads_the_study_through_one_cursor(
    mongo_url: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """export_trials: one ``find`` of the study's trials by tid (its batches
    fetched by ``getMore``), no aggregate: on the wire server each query costs
    about a scan of the collection (benchmarks/README.md, "A filtered trials
    CSV"); before, the keys' ``$facet`` and a filtered ``find`` per window."""
    monkeypatch.setattr(_mongo, "_EXPORT_BATCH", 4)
    commands = Commands()
    with open_at(mongo_url, database, event_listeners=[commands]) as store:
        fails = _export_study(store, 10)
        items: list[Any] = []
        names = commands.during(
            lambda: items.extend(store.export_trials("s", statuses=["fail"]))
        )
        assert [t.tid for t in items[:-1]] == fails
        assert items[-1] == store.trial_keys("s")  # the keys of all 10
        assert len(items[-1].result_keys) == 10 + 1
    # the study (get_study), then the trials: 10 in batches of 4
    assert names[:2] == ["find", "find"] and "aggregate" not in names
    assert set(names[2:]) <= {"getMore", "killCursors"} and len(names) <= 2 + 3


def test_an_export_whose_batch_fails_resumes_after_its_last_trial(
    mongo_url: str,
    database: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A ``getMore`` that fails on a dropped connection is read again from a new
    cursor after the last trial yielded: no trial is lost or repeated."""
    needs_fail_points(mongo_url)
    monkeypatch.setattr(_mongo, "_EXPORT_BATCH", 4)
    data = {"failCommands": ["getMore"], "appName": "cut", "closeConnection": True}
    with open_at(mongo_url, database, appname="cut") as store:
        _export_study(store, 14)
        with fail_point(mongo_url, data, {"skip": 1, "times": 1}):
            items = list(store.export_trials("s", [TrialState.DONE]))
    assert [t.tid for t in items[:-1]] == list(range(14))
    assert len(items[-1].result_keys) == 14 + 1
    retried = "reading the study's trials for an export failed, retrying in "
    assert retried in caplog.text  # the third batch (8-11) was read again


# ---- light reads: answers that do not grow with the study ----------------------------


class Replies(monitoring.CommandListener):
    """The BSON size of every reply a client receives (of every command it sends,
    with ``sent=True``), by command."""

    def __init__(self, *, sent: bool = False) -> None:
        self.sent = sent
        self.sizes: list[tuple[str, int]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.sent:
            self.sizes.append((event.command_name, len(bson.encode(event.command))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if not self.sent:
            self.sizes.append((event.command_name, len(bson.encode(event.reply))))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def largest(self, fn: Any) -> int:
        """The largest reply received (command sent) while ``fn()`` runs."""
        self.sizes.clear()
        fn()
        return max(size for _, size in self.sizes)


def test_status_reads_answer_the_same_size_however_many_trials_run(
    mongo_url: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MongoDB answers an aggregate's ``$facet`` in one document of at most 16 MB
    (the wire server does not enforce it: it answered a 20 MB one), and each running
    trial of a wide space is kilobytes: summarise and best_trial must answer with
    counts and a bounded number of trials, whatever the number running or done;
    summarise reads the running trials it lists without their params and config."""
    from hpo_service.store import _summary

    monkeypatch.setattr(_summary, "RUNNING_SHOWN", 3)
    wide = {f"p{i:03d}": i / 7 for i in range(300)}  # 4.5 kB: params and config
    replies = Replies()
    with open_at(mongo_url, database, event_listeners=[replies]) as store:
        store.create_study("s", {})
        done = [FinishedTrial(wide, wide, {"loss": 1.0, "status": "ok"})]
        store.insert_finished("s", done * 2)
        store.insert_trials("s", [NewTrial(wide, wide)] * 40)

        def claim(n: int) -> None:
            for _ in range(n):
                assert store.claim("w", LONG, study="s") is not None

        claim(4)
        few = replies.largest(lambda: store.summarise("s"))
        best = replies.largest(lambda: store.best_trial("s"))
        claim(30)
        store.insert_finished("s", done * 30)
        assert replies.largest(lambda: store.summarise("s")) == few
        assert replies.largest(lambda: store.best_trial("s")) == best
        summary = store.summarise("s")
        assert summary.counts[TrialState.RUNNING] == 34 and len(summary.running) == 3
        running = replies.largest(lambda: store.running_trials("s"))  # 34, light
        assert running < 34 * 300  # whole, each would be 2 x 4.2 kB (params, config)
    assert few < 3 * len(bson.encode(wide))  # the best whole (params and config)


def test_commands_naming_tids_stay_the_same_size_however_many_they_name(
    mongo_url: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel of a study's whole queue (a worker finding its budget spent, a
    driver draining) or a read of a large Pareto front named every tid in one
    ``$in``: pymongo refuses a command over 16 MB (at about 1.4 million tids). They
    go in batches, each command the same size whatever the number of tids."""
    monkeypatch.setattr(_mongo, "_IDS_PER_COMMAND", 4)
    sent = Replies(sent=True)
    with open_at(mongo_url, database, event_listeners=[sent]) as store:
        store.create_study("s", {})
        store.insert_trials("s", [NewTrial({}, {})] * 120)
        few, many = [0, 2, 4, 6], list(range(9, 120, 2))  # not contiguous
        got: list[list[int]] = []

        def read(tids: list[int]) -> None:
            got.append([t.tid for t in store.get_trials("s", tids=tids[::-1])])

        assert sent.largest(lambda: read(many)) == sent.largest(lambda: read(few))
        assert got == [many, few]
        cancelled: list[int] = []

        def cancel(tids: list[int]) -> None:
            cancelled.append(store.cancel("s", tids))

        assert sent.largest(lambda: cancel(many)) == sent.largest(lambda: cancel(few))
        assert cancelled == [len(many), len(few)]
        assert store.get_tids("s", [TrialState.CANCELLED]) == sorted(few + many)


def test_a_batch_of_the_largest_tids_fits_well_inside_a_command() -> None:
    """pymongo refused a cancel of 1.5 million tids in one command ("update command
    document too large"); a batch of the largest tids is a tenth of the 16 MB."""
    batch = list(range(2**62, 2**62 + _mongo._IDS_PER_COMMAND))  # 8 bytes each
    assert len(bson.encode({"q": {"tid": {"$in": batch}}})) < 16 * MIB / 10


def test_attachments_older_than_their_size_field_are_measured_in_batches(
    mongo_url: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attachment written before documents kept their size is measured by its
    data, read by ``_id``: those ids go in batches too, so the command naming them
    does not grow with the study."""
    monkeypatch.setattr(_mongo, "_IDS_PER_COMMAND", 1)
    sent = Replies(sent=True)
    with open_at(mongo_url, database, event_listeners=[sent]) as store:
        for study, trials in (("a", 1), ("b", 3)):
            store.create_study(study, {})
            store.insert_trials(study, [NewTrial({}, {})] * trials)
            for _ in range(trials):
                trial = store.claim("w", LONG, study=study)
                blobs = {"model": b"m" * 7, "log": b"l" * 5}
                assert store.put_attachments(study, trial.tid, trial.token, blobs)
        with pymongo.MongoClient(mongo_url) as client:
            client[database]["attachments"].update_many({}, {"$unset": {"size": ""}})
        got: list[dict[int, dict[str, int]]] = []

        def sizes(study: str) -> None:
            got.append(store.study_attachment_sizes(study))

        assert sent.largest(lambda: sizes("b")) == sent.largest(lambda: sizes("a"))
        want = {"log": 5, "model": 7}
        assert got == [{0: want, 1: want, 2: want}, {0: want}]


# ---- a read-only user ----------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_server(auth_mongo_url: str) -> str:
    """The session's server with --auth, holding a finished study ``q`` in database
    ``ro``; users ``admin`` (root) and ``reader`` (role ``read`` on ``ro``). Its URL."""
    _seed_read_only_database(as_user(auth_mongo_url, *AUTH_ADMIN, "ro", "admin"))
    return auth_mongo_url


def _seed_read_only_database(url: str) -> None:
    study = ["start", "--db", url, "--study", "q",
             "--objective", "tests.e2e.objectives:quadratic",
             "--space", "tests.e2e.objectives:space",
             "--max-evals", "4", "--workers", "1", "--no-progress"]  # fmt: skip
    run = _driver(*study)
    assert run.returncode == 0, run.stderr
    with open_store(url) as store:  # one more, left queued
        store.insert_trials("q", [NewTrial({"x": 0.0, "y": 0.0}, {"x": 0.0, "y": 0.0})])
    with pymongo.MongoClient(url) as client:
        roles = [{"role": "read", "db": "ro"}]
        client["ro"].command("createUser", "reader", pwd="readpw", roles=roles)


def _driver(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _as_reader(url: str) -> str:
    host = with_database(url, "ro").removeprefix("mongodb://")
    return f"mongodb://reader:readpw@{host}&authSource=ro"


def test_a_read_only_user_can_open_and_read(auth_server: str) -> None:
    with open_store(_as_reader(auth_server)) as store:
        assert [s.name for s in store.list_studies()] == ["q"]
        counts = store.count_by_state("q")
        assert counts[TrialState.DONE] == 4 and counts[TrialState.NEW] == 1
        assert [t.tid for t in store.get_trials("q")] == [0, 1, 2, 3, 4]
        first, cursor = store.changes_since("q")
        assert sorted(t.tid for t in first) == [0, 1, 2, 3, 4]
        pending = [t.tid for t in first if t.version < 0]
        assert 4 in pending  # inserted after the driver's last read
        again, _ = store.changes_since("q", cursor)  # may not number: seen again
        assert [t.tid for t in again] == pending
        with pytest.raises(StoreError, match=r"not authorized|Unauthorized"):
            store.claim("w", LONG, study="q")


@pytest.mark.parametrize("command", ["status", "best", "trials"])
def test_read_commands_work_for_a_read_only_user(
    auth_server: str, command: str
) -> None:
    run = _driver(command, "--db", _as_reader(auth_server), "--study", "q")
    assert run.returncode == 0, run.stderr
    assert "readpw" not in run.stdout + run.stderr


def test_wrong_credentials_are_one_clear_line(auth_server: str) -> None:
    host = with_database(auth_server, "ro").removeprefix("mongodb://")
    with pytest.raises(StoreAuthorizationError) as info:  # not retried, not waited
        open_store(f"mongodb://reader:wrong-secret@{host}&authSource=ro")
    assert (info.value.user, info.value.operation) == ("reader", "open")
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    assert "authentication failed" in message.lower()
    assert "wrong-secret" not in message and "reader:***@" in message


def test_study_not_found_names_the_database_a_url_without_one_uses(
    mongo_url: str,
) -> None:
    bare = with_database(mongo_url, "")  # no database in the URL: "hpo"
    run = _driver("status", "--db", bare, "--study", "nowhere-to-be-found")
    assert run.returncode == 1, run.stderr
    assert "not found in MongoDB database 'hpo' at mongodb://" in run.stderr, run.stderr


def test_a_user_without_write_rights_is_told_which_role_it_needs(
    auth_server: str,
) -> None:
    run = _driver(
        "start", "--db", _as_reader(auth_server), "--study", "q2",
        "--objective", "tests.e2e.objectives:quadratic",
        "--space", "tests.e2e.objectives:space", "--max-evals", "1", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "readWrite role on database 'ro'" in run.stderr, run.stderr
    assert "full error" not in run.stderr and "readpw" not in run.stderr


def test_a_url_without_user_on_a_server_with_auth_says_to_give_one(
    auth_server: str,
) -> None:
    run = _driver("status", "--db", with_database(auth_server, "ro"), "--study", "q")
    assert run.returncode == 1, run.stderr
    assert "the server requires authentication" in run.stderr, run.stderr
    assert "USER:PASSWORD@" in run.stderr and "full error" not in run.stderr


def test_changes_since_shows_writes_another_reader_numbered_first(
    mongo_url: str, database: str
) -> None:
    """Every write acknowledged before a ``changes_since`` call is in its answer,
    even when another reader (a worker's pruner) numbered it between this call's
    version number and its read; the next call returns it again."""
    with open_at(mongo_url, database) as store, open_at(mongo_url, database) as other:
        store.create_study("s", {})
        store.insert_trials("s", [NewTrial({"i": 0}, {"i": 0})])
        _, cursor = store.changes_since("s")
        numbered_first_by(store, other, "s")
        tids = store.insert_trials("s", [NewTrial({"i": i}, {"i": i}) for i in (1, 2)])
        changes, later = store.changes_since("s", cursor)
        assert [t.tid for t in changes] == tids == [1, 2]
        again, _ = store.changes_since("s", later)
        assert [t.tid for t in again] == [1, 2]


def test_queued_tids_are_read_without_the_trials(mongo_url: str, database: str) -> None:
    """A worker that finds a study's budget spent cancels its queued trials: it reads
    their tids only (before, every queued trial whole, params and config)."""
    wide = {f"p{i:03d}": i / 7 for i in range(300)}  # 4.5 kB: params and config
    replies = Replies()
    with open_at(mongo_url, database, event_listeners=[replies]) as store:
        store.create_study("s", {})
        store.insert_trials("s", [NewTrial(wide, wide)] * 40)
        assert store.claim("w", LONG, study="s") is not None
        assert store.get_tids("s", [TrialState.NEW]) == list(range(1, 40))
        assert replies.largest(lambda: store.get_tids("s", [TrialState.NEW])) < 2000
        whole = replies.largest(lambda: store.get_trials("s", [TrialState.NEW]))
        assert whole > 39 * len(bson.encode(wide))  # what the worker read before


def test_the_helper_restarts_a_server_on_its_url_and_data(tmp_path: Path) -> None:
    """An operator restarting the server under a running study had only `stop DIR`
    and `start DIR`, and the new start listened on another port with an empty data
    directory: the study's processes could never reach their trials again.
    `restart DIR` comes back on the same URL with the same data."""
    from tests.helpers.mongo_wire import executable

    if executable() is None:
        pytest.skip("secantusd-py is not installed")
    helper = [sys.executable, "-m", "tests.helpers.mongo_wire"]

    def run(action: str) -> str:
        done = subprocess.run(
            [*helper, action, str(tmp_path)], cwd=REPO, capture_output=True,
            text=True, timeout=180, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    url = run("start")
    try:
        with pymongo.MongoClient(url) as client:
            client["ops"]["kept"].insert_one({"_id": 1})
        first_pid = (tmp_path / "server.pid").read_text()
        assert run("restart") == url
        assert (tmp_path / "server.pid").read_text() != first_pid
        with pymongo.MongoClient(url) as client:
            assert client["ops"]["kept"].find_one({"_id": 1}) == {"_id": 1}
    finally:
        run("stop")
