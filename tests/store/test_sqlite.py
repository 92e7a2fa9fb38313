"""What only the SQLite backend must get right: WAL, JSON text, the write lock, fork."""

from __future__ import annotations

import json
import multiprocessing
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpo_service.exceptions import (
    StoreConnectionError,
    StoreError,
    StoreLostError,
    StoreNotFoundError,
    UnstorableError,
)
from hpo_service.store import FinishedTrial, NewTrial, TrialState, open_store
from hpo_service.store._sqlite import _SCHEMA_VERSION, SQLiteTrialStore

# What schemas 5-7 indexed in place of schema 8's trials_versions (schema 7's set).
_SCHEMA_7_INDEXES = (
    "CREATE INDEX trials_changes ON trials (study, version)",
    "CREATE INDEX trials_best ON trials (study, best_violation, best_loss, tid) "
    "WHERE best_loss IS NOT NULL",
    "CREATE INDEX trials_finished ON trials (study, state) "
    "WHERE state NOT IN ('new', 'running')",
    "CREATE INDEX trials_light ON trials (study, tid, light) WHERE state = 'done'",
    "CREATE INDEX trials_codes ON trials (study, code, tid) WHERE code IS NOT NULL",
)


def _as_schema(path: Path, version: int) -> None:
    """Make the database what schema ``version`` (3, 4 or 7) wrote: its indexes,
    and for 3 and 4 without the columns added since."""
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX trials_versions")
    if version == 7:
        for statement in _SCHEMA_7_INDEXES:
            conn.execute(statement)
    else:
        conn.execute("DROP INDEX trials_unranked")
        dropped = ["light", "best_violation", "best_loss"] + ["code"] * (version < 4)
        for column in dropped:
            conn.execute(f"ALTER TABLE trials DROP COLUMN {column}")
        conn.execute(_SCHEMA_7_INDEXES[0])
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()


def _indexes(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'trials' AND sql IS NOT NULL"
            )
        }
    finally:
        conn.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "trials.sqlite"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteTrialStore]:
    with SQLiteTrialStore(str(path)) as opened:
        opened.create_study("s", {})
        yield opened


@pytest.fixture
def locker(path: Path, store: SQLiteTrialStore) -> Iterator[sqlite3.Connection]:
    """Another connection, ready to hold the database's write lock."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


def test_wal_journal_and_normal_sync(path: Path, store: SQLiteTrialStore) -> None:
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_values_are_json_text(path: Path, store: SQLiteTrialStore) -> None:
    store.insert_trials("s", [NewTrial({"x": 1.5}, {"nested": [1, {"a": None}]})])
    trial = store.claim("w", 60.0)
    store.complete("s", trial.tid, trial.token, {"loss": float("nan"), "ok": True})
    with sqlite3.connect(path) as raw:
        params, config, result = raw.execute(
            "SELECT params, config, result FROM trials"
        ).fetchone()
    assert json.loads(params) == {"x": 1.5}
    assert json.loads(config) == {"nested": [1, {"a": None}]}
    assert result == '{"loss":NaN,"ok":true}'


def test_write_lock_held_too_long_is_a_connection_error(
    path: Path, locker: sqlite3.Connection
) -> None:
    with SQLiteTrialStore(str(path), busy_timeout=0.05, retry_timeout=0.3) as store:
        locker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreConnectionError, match="locked"):
            store.create_study("b", {})
        locker.execute("ROLLBACK")
        assert store.create_study("b", {}).name == "b"


def test_busy_writes_are_retried_until_the_lock_frees(
    path: Path, locker: sqlite3.Connection
) -> None:
    with SQLiteTrialStore(str(path), busy_timeout=0.05, retry_timeout=30) as store:
        locker.execute("BEGIN IMMEDIATE")
        threading.Timer(0.4, lambda: locker.execute("ROLLBACK")).start()
        assert store.create_study("b", {}).name == "b"
        assert not locker.in_transaction


def test_a_lease_starts_when_its_write_lands_not_when_it_began_to_wait(
    path: Path, locker: sqlite3.Connection
) -> None:
    """claim, heartbeat, reclaim and complete each wait for another process's write
    lock (up to retry_timeout, 30 s by default): the lease they grant counts from
    the write, or a long wait hands out a lease that has already run out (reclaim
    counted it from the call, so a contended store requeued the trial it took back
    at once), and so does a finishing time (complete stamped the call's)."""
    lease = 60.0

    def held_a_while() -> list[float]:
        """Hold the write lock until a timer frees it; the time it was freed."""
        freed: list[float] = []

        def free() -> None:
            freed.append(time.time())
            locker.execute("ROLLBACK")

        locker.execute("BEGIN IMMEDIATE")
        threading.Timer(0.3, free).start()
        return freed

    with SQLiteTrialStore(str(path), busy_timeout=0.05, retry_timeout=30) as store:
        store.insert_trials("s", [NewTrial({"x": 1.0}, {"x": 1.0})])
        freed = held_a_while()
        trial = store.claim("w", lease, study="s")
        assert store.get_trial("s", 0).lease_expires_at >= freed[0] + lease
        freed = held_a_while()
        assert store.heartbeat("s", 0, trial.token, lease)
        assert store.get_trial("s", 0).lease_expires_at >= freed[0] + lease
        assert store.heartbeat("s", 0, trial.token, 0.001)
        time.sleep(0.01)
        assert store.requeue_expired(max_attempts=3, study="s").requeued
        freed = held_a_while()
        assert store.reclaim("s", 0, trial.token, "w", lease)
        assert store.get_trial("s", 0).lease_expires_at >= freed[0] + lease
        freed = held_a_while()
        assert store.complete("s", 0, trial.token, {"loss": 1.0})
        assert store.get_trial("s", 0).finished_at >= freed[0]


def test_idle_claim_never_takes_the_write_lock(
    path: Path, locker: sqlite3.Connection
) -> None:
    with SQLiteTrialStore(str(path), busy_timeout=0.05, retry_timeout=0.2) as store:
        locker.execute("BEGIN IMMEDIATE")
        assert store.claim("w", 60.0) is None
        assert store.claim("w", 60.0, study="s") is None
        assert store.requeue_expired(max_attempts=1).requeued == []


def _claim_and_complete(store: SQLiteTrialStore, done: multiprocessing.Queue) -> None:
    trial = store.claim("child", 60.0, study="s")
    done.put(store.complete("s", trial.tid, trial.token, {"loss": 1.0}))
    store.close()


def test_forked_child_opens_its_own_connection(store: SQLiteTrialStore) -> None:
    store.insert_trials("s", [NewTrial({}, {}), NewTrial({}, {})])
    ctx = multiprocessing.get_context("fork")
    done = ctx.Queue()
    child = ctx.Process(target=_claim_and_complete, args=(store, done))
    child.start()
    assert done.get(timeout=30) is True
    child.join(timeout=30)
    assert child.exitcode == 0
    assert store.get_trial("s", 0).state is TrialState.DONE
    assert store.get_trial("s", 0).owner == "child"
    assert store.claim("parent", 60.0).tid == 1


def test_newer_schema_is_refused(path: Path, store: SQLiteTrialStore) -> None:
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer"):
        SQLiteTrialStore(str(path))


def test_memory_database_is_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with (
        open_store("sqlite:///:memory:") as one,
        open_store("sqlite:///:memory:") as two,
    ):
        one.create_study("s", {})
        one.insert_trials("s", [NewTrial({}, {})])
        assert one.claim("w", 1.0).tid == 0
        assert two.list_studies() == []
    assert list(tmp_path.iterdir()) == []


# ---- a missing or lost database file ---------------------------------------------


def test_without_create_a_missing_database_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.sqlite"
    with pytest.raises(StoreNotFoundError, match=f"no SQLite database at {path}"):
        open_store(f"sqlite:///{path}", create=False)
    path.touch()  # an empty file (as a stray earlier run left) is no database either
    with pytest.raises(StoreNotFoundError, match="not an hpo-service database"):
        open_store(f"sqlite:///{path}", create=False)
    assert [p.name for p in tmp_path.iterdir()] == ["nowhere.sqlite"]
    assert path.stat().st_size == 0


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_deleted_or_replaced_file_is_a_lost_store(
    path: Path, store: SQLiteTrialStore, how: str
) -> None:
    store.insert_trials("s", [NewTrial({"x": 1}, {"x": 1})])
    if how == "deleted":
        path.unlink()
    else:
        with SQLiteTrialStore(str(path.with_name("other.sqlite"))) as other:
            other.create_study("s", {})
        path.with_name("other.sqlite").replace(path)
    calls = [
        lambda: store.count_by_state("s"),
        lambda: store.claim("w", 10.0, study="s"),
        lambda: store.insert_trials("s", [NewTrial({"x": 2}, {"x": 2})]),
        lambda: store.list_studies(),
    ]
    for call in calls:
        with pytest.raises(StoreLostError, match=f"{path} was {how}"):
            call()


def test_an_older_database_gains_the_code_column(path: Path) -> None:
    with SQLiteTrialStore(str(path)) as store:
        store.create_study("s", {})
        store.insert_trials("s", [NewTrial({"x": 1}, {"x": 1})])
    _as_schema(path, 3)
    with SQLiteTrialStore(str(path)) as store:
        trial = store.claim("w", 10.0, study="s")
        assert store.complete("s", trial.tid, trial.token, {"loss": 0.5}, code={"m": 1})
        assert store.get_trial("s", trial.tid).code == {"m": 1}


def test_hot_queries_never_walk_the_finished_trials(
    path: Path, store: SQLiteTrialStore
) -> None:
    """What a worker or the driver runs per trial is served from an index, so a trial
    costs the same in a long study (the claim's pre-check used to walk every finished
    trial of the study)."""
    from hpo_service.store import _sqlite

    store.insert_trials("s", [NewTrial({"x": i}, {"x": i}) for i in range(300)])
    for _ in range(290):
        trial = store.claim("w", 60.0, study="s")
        assert trial is not None
        store.complete("s", trial.tid, trial.token or "", {"loss": 1.0})
    conn = sqlite3.connect(path)
    hot = {
        "claim pre-check": (_sqlite._STUDY_QUEUED, ("s",)),
        "claim": (_sqlite._CLAIM_STUDY, ("w", "t", 0.0, 1.0, "s")),
    }
    for name, (sql, args) in hot.items():
        plan = " / ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
        assert "trials_study_queue" in plan, f"{name}: {plan}"
        assert "SCAN trials" not in plan and "trials_versions" not in plan, plan


def test_an_older_database_gains_the_rank_of_its_done_trials(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Schema 5 ranks the done trials an older version wrote, for ``best_trial``
    (here one row per batch: every batch is ranked)."""
    from hpo_service.store import _sqlite

    monkeypatch.setattr(_sqlite, "_BACKFILL_BATCH", 1)
    with SQLiteTrialStore(str(path)) as store:
        store.create_study("s", {})
        store.insert_trials("s", [NewTrial({"x": i}, {"x": i}) for i in range(3)])
        for loss in (2.0, 1.0):
            trial = store.claim("w", 10.0, study="s")
            ok = {"loss": loss, "status": "ok"}
            assert store.complete("s", trial.tid, trial.token, ok)
    _as_schema(path, 4)
    with SQLiteTrialStore(str(path), create=False) as store:
        assert store.best_trial("s").tid == 1
        assert store.summarise("s").counts[TrialState.DONE] == 2
        assert store.done_results("s") == [
            (0, {"loss": 2.0, "status": "ok"}),
            (1, {"loss": 1.0, "status": "ok"}),
        ]


def test_a_read_only_database_is_a_refusal_never_retried(
    path: Path, store: SQLiteTrialStore
) -> None:
    """SQLite's "attempt to write a readonly database" (a read-only file, directory
    or filesystem; here a read-only connection) names the user, the file and the
    operation, and is not a failure that may pass."""
    import getpass

    from hpo_service.exceptions import StoreAuthorizationError
    from hpo_service.store._faults import may_pass

    store.insert_trials("s", [NewTrial({"x": 1}, {"x": 1})])
    store._connection().execute("PRAGMA query_only = ON")
    with pytest.raises(StoreAuthorizationError) as refused:
        store.claim("w", 10.0, study="s")
    error = refused.value
    assert (error.user, error.database, error.operation) == (
        getpass.getuser(),
        str(path),
        "claim",
    )
    assert (
        f"claiming a trial was refused to user {getpass.getuser()!r} on database {path}"
        in str(error)
    )
    assert not may_pass(error)
    assert store.count_by_state("s")[TrialState.NEW] == 1  # reads still work


def test_light_reads_are_served_from_their_indexes(path: Path, store) -> None:
    """What ``status`` and ``best`` read comes from an index (``trials_versions``
    holds all a light read needs), never from a scan of the study's trials, whose
    rows hold params, config and result; ``best`` then reads the best trial's row."""
    from hpo_service.store import _sqlite

    store.insert_trials("s", [NewTrial({"x": i}, {"x": i}) for i in range(50)])
    conn = sqlite3.connect(path)
    reads = [
        ("COVERING INDEX trials_versions", _sqlite._BEST.format(columns="tid")),
        ("COVERING INDEX trials_versions", _sqlite._COUNT_STATES[0]),
        ("INDEX trials_study_queue", _sqlite._COUNT_STATES[1]),
        ("COVERING INDEX trials_versions", _sqlite._LIGHT),
        ("INDEX trials_unranked", _sqlite._UNRANKED_DONE),
        ("COVERING INDEX trials_versions", _sqlite._CODES),
    ]
    for index, sql in reads:
        args = ("s",) * sql.count("?")  # the study, a LIMIT: the plan is the same
        plan = " / ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
        assert f"{index} " in plan and "SCAN trials" not in plan, plan


def test_a_reader_that_may_not_upgrade_an_older_database_is_told_why(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a schema-4 database upgrades it (a write): a process that may not
    write it hears that the upgrade is the write, and that one writer's open fixes
    it (here SQLite's own refusal of a read-only connection)."""
    from hpo_service.store import _sqlite

    with SQLiteTrialStore(str(path)) as store:
        store.create_study("s", {})
    _as_schema(path, 4)
    connect = sqlite3.connect

    def read_only(*args: object, **kwargs: object) -> sqlite3.Connection:
        opened = connect(*args, **kwargs)  # type: ignore[arg-type]
        opened.execute("PRAGMA query_only = ON")
        return opened

    monkeypatch.setattr(sqlite3, "connect", read_only)
    with pytest.raises(StoreConnectionError, match="readonly") as refused:
        SQLiteTrialStore(str(path), create=False)
    version = _sqlite._SCHEMA_VERSION
    expected = f"holds schema version 4, which this hpo-service upgrades to {version}"
    assert expected in str(refused.value)
    monkeypatch.undo()
    with SQLiteTrialStore(str(path), create=False) as store:  # a writer upgrades it
        assert store.best_trial("s") is None


def test_done_trials_an_older_process_writes_after_the_upgrade_still_count(
    path: Path, store: SQLiteTrialStore
) -> None:
    """A process that opened the file before the upgrade to schema 5 (older code)
    keeps finishing trials without their light result and rank: ``best``,
    ``summarise`` and ``done_results`` read those whole."""
    store.insert_trials("s", [NewTrial({"x": i}, {"x": i}) for i in range(3)])
    trial = store.claim("w", 10.0, study="s")
    assert store.complete("s", trial.tid, trial.token, {"loss": 2.0, "status": "ok"})
    conn = sqlite3.connect(path)  # what schema 4's complete wrote
    for tid, result in ((1, {"loss": 1.0, "status": "ok"}), (2, {"status": "fail"})):
        conn.execute(
            "UPDATE trials SET state = 'done', result = ? WHERE tid = ?",
            (json.dumps(result), tid),
        )
    conn.commit()
    conn.close()
    assert store.best_trial("s") == store.get_trial("s", 1)
    assert store.best_trial("s", first_tid=1) == store.get_trial("s", 1)
    assert store.best_trial("s", first_tid=2) is None  # unranked ones left out
    assert store.best_trial("s", end_tid=1) == store.get_trial("s", 0)
    assert store.best_trial("s", first_tid=1, end_tid=2) == store.get_trial("s", 1)
    read = store.summarise("s")
    assert (read.best.tid, read.failed) == (1, 1)
    assert store.done_results("s") == [
        (0, {"loss": 2.0, "status": "ok"}),
        (1, {"loss": 1.0, "status": "ok"}),
        (2, {"status": "fail"}),
    ]


def _varied_study(store: SQLiteTrialStore) -> None:
    """Trials in every state, with and without a rank, a code and constraints."""
    store.insert_trials("s", [NewTrial({"x": i}, {"x": i}) for i in range(9)])
    outcomes = [
        ("complete", {"loss": 2.0, "status": "ok"}, {"m": "a"}),
        ("complete", {"loss": 0.5, "status": "ok", "constraints": [1.0]}, {"m": "b"}),
        ("complete", {"loss": 1.0, "status": "ok", "output": "x" * 5000}, {"m": "a"}),
        ("complete", {"status": "fail"}, None),
        ("complete", {"loss": [1.0, 2.0], "status": "ok"}, {"m": "b"}),
        ("prune", {"loss": 0.1, "status": "pruned"}, {"m": "a"}),
        ("fail", {"type": "E", "message": "m"}, {"m": "c"}),
    ]
    for op, data, code in outcomes:
        trial = store.claim("w", 60.0, study="s")
        assert getattr(store, op)("s", trial.tid, trial.token, data, code=code)
    store.claim("w", 60.0, study="s")  # one running, one queued
    store.insert_finished("s", [FinishedTrial({"x": 9}, {"x": 9}, {"loss": 1.0})])


def _answers(store: SQLiteTrialStore) -> list[object]:
    read = store.summarise("s")
    changed, cursor = store.changes_since("s", 3)
    return [
        read.counts,
        [t.tid for t in read.running],
        (read.failed, read.infeasible, read.codes),
        read.best,
        store.best_trial("s"),
        store.done_results("s"),
        store.count_by_state("s"),
        [(t.tid, t.version) for t in changed],
        cursor,
        store.get_trials("s"),
    ]


def test_a_schema_7_database_is_upgraded_with_the_same_answers(path: Path) -> None:
    """Opening a schema-7 file replaces its five indexes of the change cursor and
    the light reads by trials_versions; every read answers as before."""
    with SQLiteTrialStore(str(path)) as store:
        store.create_study("s", {})
        _varied_study(store)
        before = _answers(store)
    assert before[3].tid == 2 and before[2] == (
        1,
        1,
        [({"m": "a"}, 3), ({"m": "b"}, 2), ({"m": "c"}, 1)],
    )
    schema_8 = _indexes(path)
    _as_schema(path, 7)
    assert {"trials_best", "trials_light", "trials_changes"} <= _indexes(path)
    with SQLiteTrialStore(str(path), create=False) as store:
        assert _answers(store) == before
    assert _indexes(path) == schema_8
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == _SCHEMA_VERSION
    conn.close()


def test_a_completion_moves_one_entry_of_the_light_reads(path: Path, store) -> None:
    """The trials table keeps one index beside the hot paths' own (the claim's
    queue, the leases): trials_versions, whose entry every change of a trial moves
    anyway, serves the change cursor and the light reads (``trials_unranked`` is
    empty unless an older process writes). An index more is a page more in every
    completion's write (see benchmarks/README, "What the light reads cost")."""
    assert _indexes(path) == {
        "trials_study_tid",
        "trials_queue",
        "trials_study_queue",
        "trials_leases",
        "trials_versions",
        "trials_unranked",
    }


def test_a_loss_or_constraint_beyond_a_float_is_refused_as_on_mongodb(
    store: SQLiteTrialStore,
) -> None:
    """JSON holds an integer of any size, and SQLite used to store a 10**400 loss
    (left unranked) where MongoDB refused it as unstorable: one rule now
    (:func:`~hpo_service.store._common.check_int64`, the contract's
    test_integers_beyond_64_bits_are_refused_naming_the_field), the completion
    is refused naming the field, nothing is written, and the trials after it rank
    as usual."""
    huge = 10**400
    refused = [
        ({"loss": huge, "status": "ok"}, "result['loss']"),
        ({"loss": 1.0, "status": "ok", "constraints": [huge]},
         "result['constraints'][0]"),
    ]  # fmt: skip
    store.insert_trials("s", [NewTrial({"x": i}, {"x": i}) for i in range(2)])
    for result, field in refused:
        trial = store.claim("w", 60.0, study="s")
        with pytest.raises(UnstorableError, match=re.escape(f"`{field}` must be")):
            store.complete("s", trial.tid, trial.token, result)
        assert store.get_trial("s", trial.tid).state == TrialState.RUNNING
        ok = {"loss": 5.0 - trial.tid, "status": "ok"}
        assert store.complete("s", trial.tid, trial.token, ok)
    assert store.best_trial("s").tid == 1
    assert store.summarise("s").counts[TrialState.DONE] == 2


def test_store_errors_that_cannot_pass_are_not_marked_so(path: Path) -> None:
    """A newer schema or a corrupt file cannot pass by waiting: the schema error
    (raised also when a forked process opens its own connection) was a plain
    StoreError, which drivers and workers retried for ever, and a corrupt file was
    a StoreConnectionError, retried the same way."""
    from hpo_service.store._faults import may_pass

    SQLiteTrialStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 999")
    with pytest.raises(StoreError, match="schema version must be <=") as newer:
        SQLiteTrialStore(path)
    assert not may_pass(newer.value)
    corrupt = path.with_name("corrupt.sqlite")
    corrupt.write_bytes(b"not a database, " * 512)
    with pytest.raises(StoreError, match="file is not a database") as broken:
        SQLiteTrialStore(corrupt)
    assert not isinstance(broken.value, StoreConnectionError)
    assert not may_pass(broken.value)


def test_a_full_database_may_pass(store: SQLiteTrialStore) -> None:
    """SQLite's "database or disk is full" (here a real one: the file may not grow
    past its pages) may pass once space is freed, so it is marked so."""
    from hpo_service.exceptions import StoreTransientError
    from hpo_service.store._faults import may_pass

    conn = store._connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    big = [NewTrial({"x": i}, {"x": "y" * 100_000}) for i in range(20)]
    with pytest.raises(StoreTransientError, match="full") as full:
        store.insert_trials("s", big)
    assert may_pass(full.value)
    assert ": adding trials failed: " in str(full.value), full.value


def test_a_damaged_or_newer_file_says_what_to_do(path: Path) -> None:
    """Errors that end a driver or worker at once say what to do: a file damaged
    after it opened (pages overwritten: SQLITE_CORRUPT on a read), a file that is
    no database, and a newer schema. Before, the first two said only "database disk
    image is malformed" / "file is not a database" and the third what it was."""
    with SQLiteTrialStore(path) as store:
        store.create_study("s", {})
        store.insert_trials(
            "s", [NewTrial({"x": i}, {"x": "y" * 2000}) for i in range(200)]
        )
    pages = path.stat().st_size // 4096
    with path.open("r+b") as f:
        for page in range(1, pages):  # page 1 (the schema) stays: it opens
            f.seek(page * 4096)  # a page type 0xff: no b-tree page
            f.write(b"\xff" * 4096)
    with SQLiteTrialStore(path) as store, pytest.raises(StoreError) as damaged:
        store.get_trials("s")
    assert "malformed" in str(damaged.value), damaged.value
    assert "restore a backup" in str(damaged.value), damaged.value
    assert ".recover" in str(damaged.value), damaged.value
    noise = path.with_name("noise.sqlite")
    noise.write_bytes(b"not a database, " * 512)
    with pytest.raises(StoreError, match="restore a backup"):
        SQLiteTrialStore(noise)
    newer = path.with_name("newer.sqlite")
    SQLiteTrialStore(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="run the hpo-service version that wrote"):
        SQLiteTrialStore(newer)


_FILE_SIZE_LIMIT = """
import resource, sys
from hpo_service.store import NewTrial
from hpo_service.store._sqlite import SQLiteTrialStore
store = SQLiteTrialStore(sys.argv[1])
limit = 256 * 1024
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # Python ignores SIGXFSZ
try:
    store.insert_trials("s", [NewTrial({}, {"x": "y" * 5000})] * 200)
except Exception as e:
    print(type(e).__name__, e)
"""


def test_a_file_size_limit_says_what_to_check(path: Path) -> None:
    """A write past the process's file size limit (``ulimit -f``: SQLite's "disk
    I/O error") may pass and says what to check; before, it said only "disk I/O
    error"."""
    import subprocess
    import sys

    with SQLiteTrialStore(path) as store:
        store.create_study("s", {})
    run = subprocess.run(
        [sys.executable, "-c", _FILE_SIZE_LIMIT, str(path)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert run.stdout.startswith("StoreTransientError "), run.stdout + run.stderr
    assert "disk I/O error" in run.stdout, run.stdout
    assert "ulimit -f" in run.stdout, run.stdout
    assert "adding trials failed" in run.stdout, run.stdout  # not "insert_trials"


def test_a_filtered_export_decodes_only_the_trials_it_shows(
    store: SQLiteTrialStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """export_trials on SQLite: the database chooses the trials and gathers the
    keys (a filter showing 1% of 1,250 trials, three windows of tids): no trial
    it does not show is made a Trial in Python (MongoDB reads them all, by
    design: benchmarks/README.md, "A filtered trials CSV")."""
    from hpo_service.store import Trial, TrialKeys, _sqlite

    def result(i: int) -> dict[str, object]:
        return {"status": "fail" if i % 100 == 7 else "ok", "loss": 1.0, f"k{i}": i}

    store.insert_finished(
        "s", [FinishedTrial({"x": float(i)}, None, result(i)) for i in range(1250)]
    )
    decoded: list[int] = []
    trial = _sqlite._trial

    def counted(row: Any) -> Trial:
        decoded.append(trial(row).tid)
        return trial(row)

    monkeypatch.setattr(_sqlite, "_trial", counted)
    items = list(store.export_trials("s", [TrialState.DONE], statuses=["fail"]))
    fails = [i for i in range(1250) if i % 100 == 7]
    assert [t.tid for t in items if isinstance(t, Trial)] == fails == decoded
    [keys] = [k for k in items if isinstance(k, TrialKeys)]
    assert len(keys.result_keys) == 1250 + 2  # every trial's keys, none decoded


def test_counts_by_state_are_one_snapshot(path: Path, store: SQLiteTrialStore) -> None:
    """count_by_state reads each state from its own index, in several statements.
    A trial that finishes between them must be counted once, running or done: a
    worker judging its study's budget (``max_evals``) from counts that lost it ran
    one trial past the budget (6 done of 5 in test_budget under load). Here the
    trial is completed, through another handle, just as the running count starts."""
    store.insert_trials("s", [NewTrial({}, {}), NewTrial({}, {})])
    first = store.claim("w1", 60.0, study="s")
    store.claim("w2", 60.0, study="s")
    completed: list[bool] = []
    with SQLiteTrialStore(str(path)) as other:

        def between(sql: str) -> None:
            if "'running', count(*)" in sql and not completed:
                result = {"loss": 1.0, "status": "ok"}
                completed.append(other.complete("s", first.tid, first.token, result))

        store._connection().set_trace_callback(between)
        try:
            counts = store.count_by_state("s")
        finally:
            store._connection().set_trace_callback(None)
    assert completed == [True]  # it did finish mid-count
    assert (counts[TrialState.DONE], counts[TrialState.RUNNING]) == (0, 2), counts
    after = store.count_by_state("s")
    assert (after[TrialState.DONE], after[TrialState.RUNNING]) == (1, 1), after
