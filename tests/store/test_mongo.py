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
    def test_a_write_stays_pending_until_a_reader_numbers_it(
        self, store: MongoTrialStore
    ) -> None:
        """One round trip per write: the reader, not the writer, numbers it."""
        queue(store, 1)
        _, cursor = store.changes_since("s")
        trial = store.claim("w", LONG, study="s")
        assert trial.version == store.get_trial("s", 0).version == _mongo._PENDING
        changes, next_cursor = store.changes_since("s", cursor)
        assert [(t.tid, t.state) for t in changes] == [(0, TrialState.RUNNING)]
        assert store.get_trial("s", 0).version == next_cursor > cursor
        assert store.changes_since("s", next_cursor) == ([], next_cursor)

    def test_reader_between_another_readers_allocation_and_stamp(
        self, url: str, store: MongoTrialStore
    ) -> None:
        """Reader B has taken a version for a pending write but not stamped it yet
        when reader A passes: A must still see the write, and its final state."""
        queue(store, 1)
        with open_store(url) as a, open_store(url) as b:
            _, cursor = a.changes_since("s")
            trial = store.claim("w", LONG, study="s")
            seen: list[Any] = []
            b._trials = StampHook(
                b._trials, lambda: seen.append(a.changes_since("s", cursor))
            )
            b.changes_since("s")
            ((changes, cursor),) = seen
            assert [(t.tid, t.state) for t in changes] == [(0, TrialState.RUNNING)]
            assert store.complete("s", trial.tid, trial.token, {"loss": 1.0})
            later, _ = a.changes_since("s", cursor)
            assert [(t.tid, t.state) for t in later] == [(0, TrialState.DONE)]

    def test_a_write_numbered_by_another_reader_after_my_first_read(
        self, url: str, store: MongoTrialStore
    ) -> None:
        """Reader A looks for pending writes (none); then a claim lands and reader B
        takes a version for it but has not stamped it when A reads the changes: A
        must return the claim (it is still pending), or its cursor passes the
        version B stamps later and A never sees the claim."""
        queue(store, 1)
        with open_store(url) as a:
            _, cursor = a.changes_since("s")
            versions: list[int] = []

            def between() -> None:
                store.claim("w", LONG, study="s")
                taken = store._studies.find_one_and_update(
                    {"_id": "s"}, {"$inc": {"version": 1}}, return_document=True
                )  # B takes a version for the claim
                versions.append(taken["version"])

            a._trials = AfterFirstFind(a._trials, between)
            first, cursor = a.changes_since("s", cursor)
            pending = {"study": "s", "version": _mongo._PENDING}
            store._trials.update_many(pending, {"$set": {"version": versions[0]}})
            second, _ = a.changes_since("s", cursor)
        seen = {t.tid: t.state for t in [*first, *second]}
        assert seen == {0: TrialState.RUNNING}

    def test_writes_racing_readers_are_never_skipped(
        self, url: str, store: MongoTrialStore
    ) -> None:
        """Writers and two polling readers in threads: the last state a reader saw
        of every trial is its final state."""
        queue(store, 20)
        final: dict[int, TrialState] = {}
        stop = threading.Event()

        def poll() -> None:
            with open_store(url) as reader:
                cursor = 0
                while True:
                    last_round = stop.is_set()
                    changes, cursor = reader.changes_since("s", cursor)
                    final.update({t.tid: t.state for t in changes})
                    if last_round:
                        return
                    time.sleep(0.01)

        def work() -> None:
            with open_store(url) as mine:
                while (trial := mine.claim("w", LONG, study="s")) is not None:
                    mine.complete("s", trial.tid, trial.token, {"loss": 0.0})

        readers = [threading.Thread(target=poll) for _ in range(2)]
        workers = [threading.Thread(target=work) for _ in range(2)]
        for thread in readers + workers:
            thread.start()
        for thread in workers:
            thread.join(120)
        stop.set()
        for thread in readers:
            thread.join(120)
        assert final == dict.fromkeys(range(20), TrialState.DONE)


class AfterFirstFind:
    """Wraps a collection: runs ``hook`` once, right after the first ``find``."""

    def __init__(self, inner: Any, hook: Any) -> None:
        self.inner, self.hook = inner, hook

    def find(self, *args: Any, **kwargs: Any) -> Any:
        found = list(self.inner.find(*args, **kwargs))
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class StampHook:
    """Wraps a collection: runs ``hook`` just before each ``update_many``."""

    def __init__(self, inner: Any, hook: Any) -> None:
        self.inner, self.hook = inner, hook

    def update_many(self, *args: Any, **kwargs: Any) -> Any:
        self.hook()
        return self.inner.update_many(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


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
    """A store whose idea of the time is an hour ahead (a node with a skewed clock, or
    a bad offset reading) must neither requeue a live trial nor hand out leases by its
    own clock: on a server, expiry is judged with $$NOW inside the query."""
    if url.startswith("mongomock"):
        pytest.skip("in-process: the local clock is the server's, nothing to skew")
    queue(store, 2)
    live = store.claim("w", 30.0, study="s")
    assert store.acquire_driver_lease("s", "driver-1", 30.0)
    with open_store(url) as skewed:
        skewed._offset += 3600.0
        assert skewed.requeue_expired(max_attempts=3).requeued == []
        assert not skewed.acquire_driver_lease("s", "driver-2", 30.0)
        mine = skewed.claim("w2", 30.0, study="s")
        assert skewed.heartbeat("s", mine.tid, mine.token, 30.0)
    assert store.get_trial("s", live.tid).state is TrialState.RUNNING
    lease = store.get_trial("s", mine.tid).lease_expires_at
    assert lease == pytest.approx(store.now() + 30.0, abs=5.0)


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


def test_servers_older_than_4_2_are_refused() -> None:
    """$$NOW in pipeline updates needs wire version 8 (MongoDB 4.2)."""
    from hpo_service.store._mongo_connect import check_version

    check_version({"maxWireVersion": 8}, "mongodb://db")
    with pytest.raises(StoreConnectionError, match=r"4\.2 or later.*wire version 7"):
        check_version({"maxWireVersion": 7}, "mongodb://db")


def test_without_mongomock_only_a_mongomock_url_fails_naming_the_extra(tmp_path):
    """mongomock is in the `test` extra: everything else runs without it."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['mongomock'] = None\n"  # as if not installed
        "import hpo_service, hpo_service.driver.cli, hpo_service.worker.cli\n"
        "from hpo_service.store import open_store\n"
        f"open_store('sqlite:///{tmp_path / 'hpo.sqlite'}').close()\n"
        "try:\n"
        "    open_store('mongomock://demo')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == (
        "`mongomock://` URLs need mongomock, in the test extra: "
        'pip install "hpo-service[test]" (or pip install mongomock)'
    )


def test_done_trials_written_before_the_best_index_are_ranked(url: str) -> None:
    """Done trials without rank fields (written by hpo-service before index version
    3, or by an older worker since) are still found by ``best_trial``, and the next
    writer's migration ranks them."""
    from hpo_service.store import _mongo_schema

    with open_store(url) as store:
        assert isinstance(store, MongoTrialStore)
        store.create_study("s", {})
        queue(store, 3)
        for loss in (2.0, 1.0, 3.0):
            trial = store.claim("w", 30.0, study="s")
            ok = {"loss": loss, "status": "ok"}
            assert store.complete("s", trial.tid, trial.token, ok)
        fields = {"best_violation": "", "best_loss": ""}
        raw_trials(store).update_many({"tid": {"$lt": 2}}, {"$unset": fields})
        store._meta.update_one({}, {"$set": {"indexes": 2}})
    with open_store(url) as store:
        assert store.best_trial("s").tid == 1  # read whole, unranked
        assert store.best_trial("s", first_tid=1).tid == 1
        assert store.best_trial("s", first_tid=2).tid == 2  # unranked ones left out
        assert store.best_trial("s", end_tid=1).tid == 0  # unranked, bounded
        assert store.best_trial("s", first_tid=2, end_tid=3).tid == 2
        assert store.summarise("s").best.tid == 1
        store.insert_trials("s", [NewTrial({}, {})])  # a write: the migration
        assert raw_trials(store).find_one({"tid": 1})["best_loss"] == 1.0
        assert _mongo_schema.stored_version(store._meta) == 3
        assert store.best_trial("s").tid == 1


def test_a_backlog_of_pending_writes_is_numbered_in_chunks(
    store: MongoTrialStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes no reader numbered for long (a queue worked through while no driver
    read it) are numbered by several updates, each naming a bounded number of write
    ids (a command must fit in 16 MB), all with the one version the call takes."""
    monkeypatch.setattr(_mongo, "_WIDS_PER_UPDATE", 2)
    _, cursor = store.changes_since("s")
    queue(store, 3)
    for _ in range(2):
        trial = store.claim("w", 30.0, study="s")
        assert store.complete("s", trial.tid, trial.token, {"loss": 1.0})
    changes, top = store.changes_since("s", cursor)  # 1 insert + 4 writes: 5 wids
    assert [(t.tid, t.state) for t in changes] == [
        (0, TrialState.DONE), (1, TrialState.DONE), (2, TrialState.NEW),
    ]  # fmt: skip
    versions = {doc["version"] for doc in raw_trials(store).find({"study": "s"})}
    assert versions == {top}
    assert store.changes_since("s", top) == ([], top)


def test_attachment_sizes_of_documents_written_before_sizes_were_kept(
    store: MongoTrialStore,
) -> None:
    """Sizes are kept beside each attachment (so they are read without the data);
    an attachment an older version wrote has none and is measured from its data."""
    queue(store, 1)
    trial = store.claim("w", 30.0, study="s")
    blobs = {"model": b"m" * 3000, "log": b"l" * 5}
    assert store.put_attachments("s", trial.tid, trial.token, blobs)
    collection = store._attachment_docs()
    collection.update_one({"name": "model"}, {"$unset": {"size": ""}})
    assert collection.find_one({"name": "log"})["size"] == 5
    assert store.attachment_sizes("s", trial.tid) == {"model": 3000, "log": 5}
    assert store.study_attachment_sizes("s") == {trial.tid: {"log": 5, "model": 3000}}


def test_an_older_attachment_replaced_while_its_size_is_read_is_left_out(
    store: MongoTrialStore,
) -> None:
    """An attachment an older version wrote (no size) is measured by a second read
    of its data; if a new attempt replaced the attachments in between, the listing
    leaves it out instead of failing (KeyError)."""
    queue(store, 1)
    trial = store.claim("w", 30.0, study="s")
    blobs = {"model": b"m" * 3000, "log": b"l" * 5}
    collection = store._attachment_docs()
    sizes_of = store._sizes_of

    def replaced_first(docs: list[dict[str, Any]]) -> dict[Any, int]:
        assert store.put_attachments("s", trial.tid, trial.token, {"new": b"n"})
        return sizes_of(docs)

    for read in (
        lambda: store.attachment_sizes("s", trial.tid),
        lambda: store.study_attachment_sizes("s").get(trial.tid, {}),
    ):
        assert store.put_attachments("s", trial.tid, trial.token, blobs)
        collection.update_one({"name": "model"}, {"$unset": {"size": ""}})
        store._sizes_of = replaced_first  # type: ignore[method-assign]
        assert read() == {"log": 5}
        store._sizes_of = sizes_of  # type: ignore[method-assign]


def test_a_trial_that_finishes_while_summarise_reads_is_counted_where_it_is(
    store: MongoTrialStore,
) -> None:
    """summarise names running trials by tid in its aggregate, then reads their
    owners and times: one that finished in between is not listed, and is counted as
    what it is now, so that status's count of running trials matches the trials it
    lists."""
    from hpo_service.driver._output import status_summary, status_text

    queue(store, 3)
    claimed = [store.claim("w", 30.0, study="s") for _ in range(3)]
    read = store._read
    finished: list[bool] = []

    def a_trial_finishes_first(study: str, *args: Any, **kwargs: Any) -> Any:
        if not finished:
            finished.append(store.complete(study, 1, claimed[1].token, {"loss": 1.0}))
        return read(study, *args, **kwargs)

    store._read = a_trial_finishes_first  # type: ignore[method-assign]
    summary = status_summary(store, "s")
    assert finished == [True]
    assert [w["tid"] for w in summary["workers"]] == [0, 2]
    assert summary["counts"]["running"] == 2 and summary["counts"]["done"] == 1
    text = status_text(summary)
    assert "workers running trials: 2\n" in text and "more running" not in text, text


class FindsSeen:
    """Wraps a collection: notes the ``tid`` condition of each ``find``'s query."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.tids: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def find(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self.tids.append(query.get("tid"))
        return self.inner.find(query, *args, **kwargs)


def _as_written_before_last_step(store: MongoTrialStore, tid: int) -> None:
    """Make trial ``tid``'s document as a version before ``last_step`` wrote it."""
    fields = {"last_step": "", "last_step_token": ""}
    assert raw_trials(store).update_one({"tid": tid}, {"$unset": fields}).matched_count


def test_last_steps_of_reports_written_before_the_step_was_kept(
    store: MongoTrialStore,
) -> None:
    """A report keeps its attempt's highest step in ``last_step`` (read instead of
    the reports); reports an older version wrote (no ``last_step``) are read whole
    for their trials alone, whatever their state, also once more are appended."""
    queue(store, 4)
    trials = [store.claim("w", LONG, study="s") for _ in range(4)]
    for trial, steps in zip(trials, ([3, 7], [2], [5, 1], [4]), strict=True):
        pairs = [(step, 1.0) for step in steps]
        assert store.report_many("s", trial.tid, trial.token, pairs)
    assert raw_trials(store).find_one({"tid": 0})["last_step"] == 7
    assert store.complete("s", 0, trials[0].token, {"loss": 1.0})
    assert store.prune("s", 2, trials[2].token, {"status": "pruned", "loss": 1.0})
    for tid in (0, 1, 2):
        _as_written_before_last_step(store, tid)
    store._trials = finds = FindsSeen(store._trials)
    assert store.last_steps("s") == [
        (0, TrialState.DONE, 7), (1, TrialState.RUNNING, 2),
        (2, TrialState.PRUNED, 5), (3, TrialState.RUNNING, 4),
    ]  # fmt: skip
    assert finds.tids == [None, {"$gte": 0, "$lte": 2}]  # the old ones read again
    finds.tids.clear()
    assert store.report("s", 1, trials[1].token, 6, 1.0)  # appends to old reports
    _as_written_before_last_step(store, 0)
    _as_written_before_last_step(store, 3)
    raw_trials(store).update_one({"tid": 2}, {"$set": {"last_step_token": "x"}})
    assert store.last_steps("s") == [
        (0, TrialState.DONE, 7), (1, TrialState.RUNNING, 6),
        (2, TrialState.PRUNED, 5), (3, TrialState.RUNNING, 4),
    ]  # fmt: skip
    assert finds.tids == [None, {"$gte": 0, "$lte": 3}]
    for trial in trials[:3]:  # kept again: trial 3 alone is read with its reports
        kept = {"last_step_token": trial.token, "last_step": 1}
        raw_trials(store).update_one({"tid": trial.tid}, {"$set": kept})
    finds.tids.clear()
    assert store.last_steps("s")[3] == (3, TrialState.RUNNING, 4)
    assert finds.tids == [None, {"$gte": 3, "$lte": 3}]


class DeletesAfterFirstFind:
    """Wraps a collection: right after the first ``find``, trial ``tid`` of study
    ``s`` is deleted (as if another process removed it between two reads)."""

    def __init__(self, inner: Any, tid: int) -> None:
        self.inner, self.tid, self.finds = inner, tid, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def find(self, *args: Any, **kwargs: Any) -> Any:
        self.finds += 1
        found = list(self.inner.find(*args, **kwargs))
        if self.finds == 1:
            assert self.inner.delete_one({"study": "s", "tid": self.tid}).deleted_count
        return found


def test_last_steps_leave_out_an_old_trial_gone_before_its_reports_are_read(
    store: MongoTrialStore,
) -> None:
    """Trials are never deleted today; if one were, between the read of the kept
    steps and the read of an older version's reports, it is left out (as if the
    first read had missed it), not returned with the marker of an unkept step."""
    queue(store, 3)
    trials = [store.claim("w", LONG, study="s") for _ in range(3)]
    for trial in trials:
        assert store.report_many("s", trial.tid, trial.token, [(trial.tid + 1, 1.0)])
    for tid in (0, 1):
        _as_written_before_last_step(store, tid)
    store._trials = DeletesAfterFirstFind(store._trials, tid=1)
    assert store.last_steps("s") == [
        (0, TrialState.RUNNING, 1), (2, TrialState.RUNNING, 3),
    ]  # fmt: skip
    assert store._trials.finds == 2  # trial 0 was read again with its reports


def test_last_step_of_an_earlier_attempt_is_not_taken_for_an_older_writers(
    store: MongoTrialStore,
) -> None:
    """A requeued trial whose first attempt kept ``last_step`` and whose second
    attempt's reports an older version wrote (``intermediate`` and its token only):
    the first attempt's step is not this attempt's."""
    queue(store, 1)
    first = store.claim("w", 0.1, study="s")
    assert store.report_many("s", 0, first.token, [(0, 1.0), (30, 1.0)])
    time.sleep(0.35)
    store.requeue_expired(max_attempts=3, study="s")
    second = store.claim("w", LONG, study="s")
    old_write = {"intermediate": {"2": 0.5}, "intermediate_token": second.token}
    raw_trials(store).update_one({"tid": 0}, {"$set": old_write})
    assert raw_trials(store).find_one({"tid": 0})["last_step"] == 30
    assert store.last_steps("s") == [(0, TrialState.RUNNING, 2)]
