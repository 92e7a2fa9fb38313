"""What only the MongoDB backend must get right: its change cursor without transactions,
idempotent retries after a lost acknowledgement, the server clock, key escaping and the
lock that makes mongomock thread-safe. Runs on mongomock and, through real pymongo over
TCP, on the session's MongoDB-wire server (``mongo_url``, see ``tests/conftest.py``).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from hpo_service.exceptions import StoreConnectionError, StoreError
from hpo_service.store import NewTrial, TrialState, _mongo, open_store
from hpo_service.store._mongo import MongoTrialStore, drop_mongomock_server
from tests.conftest import mongo_lane
from tests.helpers.mongo_wire import with_database

LONG = 60.0

MODES = ["mongomock"] + (["mongodb"] if mongo_lane() else [])


@pytest.fixture(params=MODES)
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database: in-process mongomock, or on the wire server (real pymongo)."""
    name = f"mongo-test-{uuid.uuid4().hex[:8]}"
    if request.param == "mongomock":
        yield f"mongomock://{name}"
        drop_mongomock_server(name)
        return
    server = request.getfixturevalue("mongo_url")
    yield with_database(server, name)
    with pymongo.MongoClient(server) as client:
        client.drop_database(name)


@pytest.fixture
def store(url: str) -> Iterator[MongoTrialStore]:
    with open_store(url) as opened:
        assert isinstance(opened, MongoTrialStore)
        opened.create_study("s", {})
        yield opened


def raw_trials(store: MongoTrialStore) -> Any:
    """The store's ``trials`` collection itself, bypassing the store."""
    return store._trials


def queue(store: MongoTrialStore, n: int) -> list[int]:
    return store.insert_trials("s", [NewTrial({"i": i}, {"i": i}) for i in range(n)])


class Flaky:
    """Wraps a collection: a chosen call fails with AutoReconnect, before or after.

    ``after=True`` runs the call and then raises: the write landed but its
    acknowledgement was lost, the case a retry must not apply twice nor lose.
    """

    def __init__(self, inner: Any, method: str, *, failures: int, after: bool) -> None:
        self.inner, self.method, self.failures, self.after = (
            inner,
            method,
            failures,
            after,
        )
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.inner, name)
        if name != self.method:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.failures <= 0:
                return real(*args, **kwargs)
            self.failures -= 1
            if self.after:
                real(*args, **kwargs)
            raise AutoReconnect("connection reset (test)")

        return call


# ---- change cursor -------------------------------------------------------------------


class TestChangeCursor:
    def test_reader_between_allocation_and_stamp_still_sees_the_write(
        self, url: str, store: MongoTrialStore
    ) -> None:
        """The race the pending marker exists for: a version is allocated, a reader
        passes it, and only then is it stamped on the trial."""
        queue(store, 1)
        trial = store.claim("w", LONG, study="s")
        with open_store(url) as reader:
            _, cursor = reader.changes_since("s")
            seen: list[Any] = []
            stamp = store._number

            def number_after_a_read(study: str, wid: str) -> int:
                seen.append(reader.changes_since(study, cursor))
                return stamp(study, wid)

            store._number = number_after_a_read  # type: ignore[method-assign]
            assert store.complete("s", trial.tid, trial.token, {"loss": 1.0})
            ((changes, next_cursor),) = seen
            assert [(t.tid, t.state) for t in changes] == [(0, TrialState.DONE)]
            later, _ = reader.changes_since("s", next_cursor)
            assert all(t.state is TrialState.DONE for t in later)

    def test_abandoned_pending_write_is_numbered_by_a_reader(
        self, store: MongoTrialStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        queue(store, 1)
        _, cursor = store.changes_since("s")
        monkeypatch.setattr(store, "_number", lambda study, wid: _mongo._PENDING)
        trial = store.claim("w", LONG, study="s")  # "crashes" before numbering
        assert trial.version == _mongo._PENDING
        monkeypatch.undo()
        first, cursor = store.changes_since("s", cursor)
        assert [t.state for t in first] == [TrialState.RUNNING]
        monkeypatch.setattr(_mongo, "_PENDING_GRACE", 0.0)
        second, cursor = store.changes_since("s", cursor)  # seen again, now numbered
        assert [t.tid for t in second] == [0]
        assert store.get_trial("s", 0).version > 0
        assert store.changes_since("s", cursor) == ([], cursor)


# ---- retries -------------------------------------------------------------------------


class TestRetries:
    def test_claim_whose_ack_was_lost_is_returned_not_leaked(
        self, store: MongoTrialStore
    ) -> None:
        queue(store, 3)
        flaky = Flaky(store._trials, "find_one_and_update", failures=1, after=True)
        store._trials = flaky
        trial = store.claim("w", LONG, study="s")
        assert trial is not None and trial.tid == 0
        counts = store.count_by_state("s")
        assert counts[TrialState.RUNNING] == 1 and counts[TrialState.NEW] == 2
        assert store.get_trial("s", 0).token == trial.token

    def test_claim_that_failed_before_landing_is_retried(
        self, store: MongoTrialStore
    ) -> None:
        queue(store, 2)
        store._trials = Flaky(
            store._trials, "find_one_and_update", failures=2, after=False
        )
        trial = store.claim("w", LONG, study="s")
        assert trial is not None and trial.tid == 0
        assert store.count_by_state("s")[TrialState.RUNNING] == 1

    def test_complete_whose_ack_was_lost_counts_once(
        self, store: MongoTrialStore
    ) -> None:
        queue(store, 1)
        trial = store.claim("w", LONG, study="s")
        store._trials = Flaky(
            store._trials, "find_one_and_update", failures=1, after=True
        )
        assert store.complete("s", trial.tid, trial.token, {"loss": 2.0})
        assert not store.complete("s", trial.tid, trial.token, {"loss": 3.0})
        assert store.get_trial("s", trial.tid).result == {"loss": 2.0}

    def test_insert_whose_ack_was_lost_is_not_doubled(
        self, store: MongoTrialStore
    ) -> None:
        store._trials = Flaky(store._trials, "insert_many", failures=1, after=True)
        assert queue(store, 3) == [0, 1, 2]
        assert [t.tid for t in store.get_trials("s")] == [0, 1, 2]

    def test_create_study_whose_ack_was_lost(self, store: MongoTrialStore) -> None:
        store._studies = Flaky(store._studies, "insert_one", failures=1, after=True)
        assert store.create_study("b", {"k": 1}).settings == {"k": 1}
        assert store.get_study("b").settings == {"k": 1}

    def test_gives_up_after_the_retry_timeout(self, url: str) -> None:
        with open_store(url, retry_timeout=0.2) as store:
            store.create_study("s", {})
            store._trials = Flaky(store._trials, "find", failures=10**6, after=False)
            with pytest.raises(StoreConnectionError, match=r"retry_timeout=0\.2"):
                store.get_trials("s")
            assert store._trials.calls > 1

    def test_non_transient_driver_error_is_a_store_error(
        self, store: MongoTrialStore
    ) -> None:
        class Broken:
            def find(self, *args: Any, **kwargs: Any) -> Any:
                raise OperationFailure("not authorized", code=13)

        store._trials = Broken()
        with pytest.raises(StoreError, match="not authorized"):
            store.get_trials("s")


# ---- clock, encoding, lock -----------------------------------------------------------


def test_leases_are_judged_by_the_server_clock(
    url: str, store: MongoTrialStore
) -> None:
    """A node whose clock runs an hour fast must not requeue a live trial."""
    queue(store, 1)
    trial = store.claim("w", 30.0, study="s")
    with open_store(url) as skewed:
        skewed._local_time = lambda: time.time() + 3600.0
        skewed._refresh_clock()
        assert abs(skewed.now() - store.now()) < 1.0
        assert skewed.requeue_expired(max_attempts=3).requeued == []
    assert store.get_trial("s", trial.tid).state is TrialState.RUNNING


def test_unsafe_keys_are_escaped_in_documents(url: str, store: MongoTrialStore) -> None:
    params = {"a.b": 1, "$c": 2, "d%2E": 3, "plain": {"e.f": [{"$g": 4}]}}
    store.insert_trials("s", [NewTrial(params, params)])
    raw = raw_trials(store).find_one({"tid": 0})

    def keys(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [k for key, v in value.items() for k in [key, *keys(v)]]
        if isinstance(value, list):
            return [k for v in value for k in keys(v)]
        return []

    stored = keys(raw["params"]) + keys(raw["config"])
    assert not any("." in k or k.startswith("$") for k in stored)
    assert store.get_trial("s", 0).params == params


def test_integers_beyond_64_bits_are_refused(store: MongoTrialStore) -> None:
    with pytest.raises(ValueError, match="64 bits"):
        store.insert_trials("s", [NewTrial({"x": 2**70}, {})])
    assert store.get_trials("s") == []


def test_threads_sharing_one_store_never_double_claim(
    url: str, store: MongoTrialStore
) -> None:
    """mongomock needs the store's lock; pymongo shares one client between threads.
    Fewer trials over the wire: each costs several round trips to a Python server."""
    n = 200 if url.startswith("mongomock") else 40
    queue(store, n)
    claimed: list[int] = []
    errors: list[BaseException] = []

    def drain() -> None:
        try:
            while (trial := store.claim("w", LONG, study="s")) is not None:
                claimed.append(trial.tid)
                store.complete("s", trial.tid, trial.token, {"loss": 0.0})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=drain) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(claimed) == list(range(n))
    assert store.count_by_state("s")[TrialState.DONE] == n
