"""SQLite files that older versions wrote (schemas 2 to 8, see ``old_sqlite/``) are
upgraded in place when opened, and then answer every read as a file this code wrote
with the same calls, and keep taking writes."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hpo_service.store import NewTrial, TrialState
from hpo_service.store._sqlite import _SCHEMA_VERSION, SQLiteTrialStore

_DUMPS = sorted((Path(__file__).parent / "old_sqlite").glob("schema_*.dump"))
# What the old code did to the study "v" (old_sqlite/README.md): operation, data, code
_OUTCOMES = [
    ("complete", {"loss": 2.0, "status": "ok"}, {"m": "a"}),
    ("complete", {"loss": 0.5, "status": "ok", "constraints": [1.0]}, {"m": "b"}),
    ("complete", {"loss": 1.0, "status": "ok", "output": "x" * 5000}, {"m": "a"}),
    ("complete", {"status": "fail"}, None),
    ("complete", {"loss": 0.75, "status": "ok"}, {"m": "b"}),
    ("prune", {"loss": 0.1, "status": "pruned"}, {"m": "a"}),
    ("fail", {"type": "E", "message": "m"}, {"m": "c"}),
]


def _schema_of(dump: Path) -> int:
    return int(dump.stem.removeprefix("schema_"))


def _load(dump: Path, path: Path) -> None:
    """Write the old database ``dump`` holds to ``path`` (WAL, as it was)."""
    conn = sqlite3.connect(path)
    conn.executescript(dump.read_text())
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()


def _same_calls(path: Path, with_code: bool) -> None:
    """The study "v" as this code writes it with the calls the old code made."""
    with SQLiteTrialStore(str(path)) as store:
        store.create_study("v", {})
        store.insert_trials("v", [NewTrial({"x": i}, {"x": i}) for i in range(9)])
        for op, data, code in _OUTCOMES:
            trial = store.claim("w", 3600.0, study="v")
            kw = {"code": code} if with_code else {}
            assert getattr(store, op)("v", trial.tid, trial.token, data, **kw)
        store.claim("w", 3600.0, study="v")


def _answers(store: SQLiteTrialStore) -> dict[str, Any]:
    """Every read's answer, without what differs from one run to the next (times,
    tokens, version numbers)."""
    read = store.summarise("v")
    changed, _ = store.changes_since("v", 0)
    return {
        "trials": [
            (t.tid, t.state, t.params, t.config, t.result, t.error, t.attempts, t.code)
            for t in store.get_trials("v")
        ],
        "summary": (read.counts, [t.tid for t in read.running], read.failed),
        "infeasible": read.infeasible,
        "codes": read.codes,
        "best": (read.best and read.best.tid, store.best_trial("v").tid),
        "done_results": store.done_results("v"),
        "counts": store.count_by_state("v"),
        "changes": sorted(t.tid for t in changed),
    }


def _shape(path: Path) -> tuple[list[Any], list[Any]]:
    """The database's indexes (with their SQL) and the trials table's columns."""
    conn = sqlite3.connect(path)
    try:
        indexes = sorted(
            conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                "AND sql IS NOT NULL"
            )
        )
        return indexes, list(conn.execute("PRAGMA table_info(trials)"))
    finally:
        conn.close()


@pytest.mark.parametrize("dump", _DUMPS, ids=[d.stem for d in _DUMPS])
def test_an_old_file_answers_as_this_code_writes_it(dump: Path, tmp_path: Path) -> None:
    old, fresh = tmp_path / "old.sqlite", tmp_path / "fresh.sqlite"
    _load(dump, old)
    _same_calls(fresh, with_code=_schema_of(dump) >= 4)  # schema 4 added code
    with SQLiteTrialStore(str(fresh), create=False) as store:
        expected = _answers(store)
    assert expected["best"] == (4, 4) and expected["infeasible"] == 1
    with SQLiteTrialStore(str(old), create=False) as store:
        assert _answers(store) == expected
    assert _shape(old) == _shape(fresh)
    after = [_after_a_write(path) for path in (old, fresh)]  # both go on alike
    assert after[0] == after[1]


def _after_a_write(path: Path) -> dict[str, Any]:
    """The answers once the queued trial is claimed and completed with the best
    loss (which both the change cursor and the best see)."""
    with SQLiteTrialStore(str(path), create=False) as store:
        _, cursor = store.changes_since("v", 0)
        trial = store.claim("w2", 60.0, study="v")
        assert trial is not None and trial.tid == 8
        assert store.complete("v", 8, trial.token, {"loss": 0.25, "status": "ok"})
        assert [t.tid for t in store.changes_since("v", cursor)[0]] == [8]
        assert store.summarise("v").best.tid == store.best_trial("v").tid == 8
        return _answers(store)


def _open_and_count(path: str, counts: multiprocessing.Queue) -> None:
    with SQLiteTrialStore(path, create=False) as store:
        counts.put(store.summarise("v").counts[TrialState.DONE])


def test_processes_that_open_an_old_file_at_once_all_see_it_upgraded(
    tmp_path: Path,
) -> None:
    """One process upgrades (under the write lock), the others wait and find it
    done: every one opens it and reads."""
    path = tmp_path / "old.sqlite"
    _load(_DUMPS[0], path)
    ctx = multiprocessing.get_context("spawn")
    counts = ctx.Queue()
    procs = [
        ctx.Process(target=_open_and_count, args=(str(path), counts)) for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0, 0, 0]
    assert sorted(counts.get(timeout=5) for _ in procs) == [5, 5, 5]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == _SCHEMA_VERSION
    conn.close()
