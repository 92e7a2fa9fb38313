"""SQLite backend: one database file shared by many processes on one machine.

Concurrency model:

- WAL journal: readers never block the writer nor each other; ``synchronous=NORMAL``
  (a commit survives a process crash; a power cut may lose the last commits, never
  corrupt the file).
- Every write is one short ``BEGIN IMMEDIATE`` transaction: it takes the database's
  write lock up front (waiting up to ``busy_timeout``), so two writers never interleave
  and a claim is a single conditional ``UPDATE ... RETURNING``.
- The per-study ``version`` (change cursor) and ``next_tid`` live on the study row and
  are bumped inside the same transaction as the trial write, so versions become visible
  in order and :meth:`changes_since` needs no overlap window.
- One clock: the local one (all processes share the machine).
- Values are JSON text (see :func:`hpo_service.store._common.dumps`), never pickles.
"""

from __future__ import annotations

import array
import getpass
import json
import logging
import os
import re
import sqlite3
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from hpo_service._common.processes import of_namespace_pattern
from hpo_service.exceptions import (
    SettingRecordedError,
    StoreAuthorizationError,
    StoreConnectionError,
    StoreError,
    StoreLostError,
    StoreNotFoundError,
    StoreTransientError,
    StudyExistsError,
    StudyNotFoundError,
    TrialNotFoundError,
)
from hpo_service.store import _common as c
from hpo_service.store import _summary as summary
from hpo_service.store._base import (
    BaseTrialStore,
    FinishedTrial,
    NewTrial,
    RequeueReport,
    Study,
    Trial,
    TrialKeys,
    TrialReports,
    TrialState,
)
from hpo_service.store._doing import doing
from hpo_service.store._retry import RetryPolicy
from hpo_service.store._url import parse_sqlite_url
from hpo_service.store._windows import each_trial

_logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# 2: intermediate, 3: attachments (every statement IF NOT EXISTS), 4: trials.code,
# 5: trials.light/best_violation/best_loss and the index trials_best (see ._summary),
# 6: the index trials_unranked, 7: trials_finished replaces trials_states,
# 8: trials_versions replaces trials_changes, trials_best, trials_finished,
# trials_light and trials_codes, 9: trials.expired_token
_SCHEMA_VERSION = 9
_ADDED_COLUMNS = {  # added to older tables on open
    "trials": [
        ("code", "TEXT"),
        ("light", "TEXT"),
        ("best_violation", "REAL"),
        ("best_loss", "REAL"),
        # a requeued trial's expired attempt, which may reclaim it until a claim
        ("expired_token", "TEXT"),
    ]
}

# Partial indexes hold only queued / running rows, so finished trials (the bulk of a
# long study) cost nothing on the hot paths. ``trials_queue`` is keyed on the constant
# state: its entries are ordered by rowid, i.e. insertion order, for FIFO claims.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    name TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    driver_owner TEXT,
    driver_lease_expires_at REAL,
    next_tid INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    study TEXT NOT NULL,
    tid INTEGER NOT NULL,
    state TEXT NOT NULL,
    params TEXT NOT NULL,
    config TEXT NOT NULL,
    owner TEXT,
    token TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_expires_at REAL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    result TEXT,
    error TEXT,
    version INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS trials_study_tid ON trials (study, tid);
CREATE INDEX IF NOT EXISTS trials_queue ON trials (state) WHERE state = 'new';
CREATE INDEX IF NOT EXISTS trials_study_queue ON trials (study, tid)
    WHERE state = 'new';
CREATE INDEX IF NOT EXISTS trials_leases ON trials (lease_expires_at)
    WHERE state = 'running';
CREATE TABLE IF NOT EXISTS intermediate (
    study TEXT NOT NULL,
    tid INTEGER NOT NULL,
    token TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (study, tid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attachments (
    study TEXT NOT NULL,
    tid INTEGER NOT NULL,
    name TEXT NOT NULL,
    token TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (study, tid, name)
);
"""
# Created once the columns of _ADDED_COLUMNS exist. trials_versions serves
# ``changes_since`` (its first two columns) and the light reads (._summary): the
# rest of an entry is what ``summarise`` and ``best_trial`` need of a trial, so they
# read no trial row (whose params, config and result come first in it). Every write
# that changes a trial moves its entry (a new version) anyway, so the light reads
# cost a completion no index entry of their own: one index per purpose (schema 5-7:
# trials_best, trials_finished, trials_light, trials_codes) wrote four more pages
# per completion, a third of the WAL that claim + complete wrote. The price: a read
# walks the study's entries (all trials, tens of bytes each) instead of seeking.
_LATE_SCHEMA = (
    *(
        f"DROP INDEX IF EXISTS trials_{name}"
        for name in ("states", "changes", "best", "finished", "light", "codes")
    ),
    "CREATE INDEX IF NOT EXISTS trials_versions ON trials "
    "(study, version, state, tid, light, code, best_violation, best_loss)",
    "CREATE INDEX IF NOT EXISTS trials_unranked ON trials (study, tid) "
    "WHERE state = 'done' AND light IS NULL",
)
# The best ranked trial: its tid from trials_versions alone (a sorter fed from the
# whole row would read every done trial's row), then its row.
_BEST = (
    "SELECT {columns} FROM trials WHERE study = ? AND tid = ("
    "SELECT tid FROM trials INDEXED BY trials_versions WHERE study = ? "
    "AND best_loss IS NOT NULL AND tid >= ? AND tid < ? "
    "ORDER BY best_violation, best_loss, tid LIMIT 1)"
)
# The end of an open tid range (SQLite's largest integer).
_NO_END = 2**63 - 1

_UNRANKED = (
    "SELECT id, result FROM trials WHERE state = 'done' AND light IS NULL AND id > ? "
    "ORDER BY id LIMIT ?"
)
_BACKFILL_BATCH = 1000

_TRIAL_COLUMNS = (
    "study, tid, state, params, config, owner, token, attempts, lease_expires_at, "
    "created_at, started_at, finished_at, result, error, version, code"
)
_STUDY_COLUMNS = (
    "name, settings, created_at, updated_at, driver_owner, driver_lease_expires_at, "
    "next_tid"
)

# The version a write gives a trial row: one more than its study's current version.
# Every statement using it is followed by _BUMP for each study it touched.
_NEXT_VERSION = "(SELECT version + 1 FROM studies WHERE name = trials.study)"
_BUMP = "UPDATE studies SET version = version + 1 WHERE name = ?"
# _BUMP reading the study as it is after the bump.
_BUMP_STUDY = f"{_BUMP} RETURNING {_STUDY_COLUMNS}"
# _BUMP testing one setting of the study on the way (a JSON path: '$."key"'): NULL
# while it is unset, else the settings' text, decoded in Python (so a value reads
# as get_study reads it: true, not json_extract's 1), also when SQLite cannot
# read the text (NaN tokens before 3.42).
_BUMP_READING = (
    f"{_BUMP} RETURNING CASE WHEN json_valid(settings) "
    "AND json_extract(settings, ?) IS NULL THEN NULL ELSE settings END"
)

# Filters and gatherings the database makes of the JSON it holds (params, result).
# SQLite before 3.42 cannot read the NaN and Infinity tokens a result may hold
# (see _common.dumps): such rows pass the status filter and are decoded and
# filtered in Python; their keys are gathered in Python (_UNREADABLE_*).
_WITH_STATUS = (
    " AND result IS NOT NULL AND (NOT json_valid(result) OR "
    "json_extract(result, '$.status') IN (SELECT value FROM json_each(?)))"
)
_READABLE_RESULTS = (
    "FROM trials WHERE study = ? AND result IS NOT NULL AND json_valid(result)"
)
_PARAM_KEYS = (
    "SELECT DISTINCT key FROM trials, json_each(trials.params) "
    "WHERE study = ? AND json_valid(params)"
)
_UNREADABLE_PARAMS = (
    "SELECT params FROM trials WHERE study = ? AND NOT json_valid(params)"
)
_RESULT_KEYS = (
    "SELECT DISTINCT key, json_extract(result, '$.status') IS 'pruned' "
    "FROM trials, json_each(trials.result) WHERE study = ? AND result IS NOT NULL "
    "AND json_valid(result) AND json_type(result) = 'object'"
)
_LOSS_LENGTHS = (
    "SELECT json_array_length(result, '$.loss') AS n, MIN(tid) "
    f"{_READABLE_RESULTS} AND json_type(result, '$.loss') = 'array' GROUP BY n"
)
_MOST_CONSTRAINTS = (
    "SELECT MAX(CASE json_type(result, '$.constraints') WHEN 'array' "
    "THEN json_array_length(result, '$.constraints') ELSE 1 END) "
    f"{_READABLE_RESULTS} AND json_type(result, '$.constraints') != 'null'"
)
_UNREADABLE_RESULTS = (
    "SELECT tid, result FROM trials WHERE study = ? AND result IS NOT NULL "
    "AND NOT json_valid(result)"
)

# A finished trial imported without a space gets its config once (``config`` is
# the JSON text ``null`` until then).
_FILL_CONFIG = (
    f"UPDATE trials SET config = ?, params = coalesce(?, params), "
    f"version = {_NEXT_VERSION} "
    "WHERE study = ? AND tid = ? AND config = 'null' "
    "AND state IN ('done', 'error', 'cancelled', 'pruned')"
)

_CLAIM = (
    "UPDATE trials SET state = 'running', owner = ?, token = ?, "
    "attempts = attempts + 1, started_at = ?, lease_expires_at = ?, "
    f"expired_token = NULL, version = {_NEXT_VERSION} "
    f"WHERE id = ({{pick}}) AND state = 'new' RETURNING {_TRIAL_COLUMNS}"
)
_RECLAIM = (
    "UPDATE trials SET state = 'running', owner = ?, token = expired_token, "
    f"expired_token = NULL, lease_expires_at = ?, version = {_NEXT_VERSION} "
    "WHERE study = ? AND tid = ? AND state = 'new' AND expired_token = ?"
)
_CLAIM_ANY = _CLAIM.format(
    pick="SELECT id FROM trials WHERE state = 'new' ORDER BY id LIMIT 1"
)
_CLAIM_STUDY = _CLAIM.format(
    pick="SELECT id FROM trials WHERE state = 'new' AND study = ? ORDER BY tid LIMIT 1"
)
_ANY_QUEUED = "SELECT 1 FROM trials WHERE state = 'new' LIMIT 1"
# The partial queue index, named: left to itself the planner takes trials_versions
# (study, version, ...) and walks every finished trial of the study on each claim.
_STUDY_QUEUED = (
    "SELECT 1 FROM trials INDEXED BY trials_study_queue "
    "WHERE state = 'new' AND study = ? LIMIT 1"
)

_CURRENT = "WHERE study = ? AND tid = ? AND token = ? AND state = 'running'"
# Counts by state: finished trials from trials_versions, queued and running ones from
# the partial indexes of the hot paths (an index on every state would move an entry
# at each claim and completion: a third of the store's claim + complete throughput).
_COUNT_STATES = (
    "SELECT state, count(*) FROM trials INDEXED BY trials_versions WHERE study = ? "
    "AND state NOT IN ('new', 'running') GROUP BY state",
    "SELECT 'new', count(*) FROM trials INDEXED BY trials_study_queue "
    "WHERE study = ? AND state = 'new'",
    "SELECT 'running', count(*) FROM trials INDEXED BY trials_leases "
    "WHERE state = 'running' AND study = ?",
)
_RUNNING_ALL = (
    f"SELECT {', '.join(summary.RUNNING_FIELDS)} "
    "FROM trials INDEXED BY trials_leases "
    "WHERE state = 'running' AND study = ? ORDER BY tid"
)
_RUNNING = _RUNNING_ALL + " LIMIT ?"
_RUNNING_EVERY_STUDY = (
    f"SELECT study, {', '.join(summary.RUNNING_FIELDS)} "
    "FROM trials INDEXED BY trials_leases WHERE state = 'running'%s "
    "ORDER BY study, tid"
)
_LIGHT = (
    "SELECT tid, light FROM trials INDEXED BY trials_versions "
    "WHERE study = ? AND state = 'done' ORDER BY tid"
)
# Done trials without a light result: written since the upgrade to schema 5 by a
# process that opened the file before it (older code, no such columns). Rare, and
# their index is empty otherwise; read whole, as MongoDB reads its unranked trials.
_UNRANKED_DONE = (
    f"SELECT {_TRIAL_COLUMNS} FROM trials INDEXED BY trials_unranked "
    "WHERE study = ? AND state = 'done' AND light IS NULL AND tid >= ? AND tid < ? "
    "ORDER BY tid"
)
_CODES = (
    "SELECT code, count(*) FROM trials INDEXED BY trials_versions "
    "WHERE study = ? AND code IS NOT NULL GROUP BY code ORDER BY min(tid) LIMIT ?"
)
_HEARTBEAT = f"UPDATE trials SET lease_expires_at = ? {_CURRENT}"
_FINISH = (
    "UPDATE trials SET state = ?, {column} = ?, finished_at = ?, code = ?, "
    f"lease_expires_at = NULL, version = {_NEXT_VERSION} {_CURRENT}"
)
_COMPLETE = (
    "UPDATE trials SET state = ?, result = ?, finished_at = ?, code = ?, light = ?, "
    "best_violation = ?, best_loss = ?, lease_expires_at = NULL, "
    f"version = {_NEXT_VERSION} {_CURRENT}"
)
_FAIL = _FINISH.format(column="error")
_RELEASE = (
    "UPDATE trials SET state = 'new', owner = NULL, token = NULL, "
    "attempts = attempts - 1, started_at = NULL, lease_expires_at = NULL, "
    f"version = {_NEXT_VERSION} {_CURRENT}"
)

_EXPIRED = "state = 'running' AND lease_expires_at < ?"
_ANY_EXPIRED = f"SELECT 1 FROM trials WHERE {_EXPIRED} LIMIT 1"
_EXPIRE_TO_ERROR = (
    "UPDATE trials SET state = 'error', error = ?, finished_at = ?, "
    f"lease_expires_at = NULL, version = {_NEXT_VERSION} "
    f"WHERE {_EXPIRED} AND attempts >= ? {{study}} RETURNING study, tid"
)
_EXPIRE_TO_NEW = (
    "UPDATE trials SET state = 'new', owner = NULL, expired_token = token, "
    f"token = NULL, lease_expires_at = NULL, version = {_NEXT_VERSION} "
    f"WHERE {_EXPIRED} {{study}} RETURNING study, tid"
)
_CANCEL = (
    "UPDATE trials SET state = 'cancelled', finished_at = ?, lease_expires_at = NULL, "
    f"error = coalesce(?, error), version = {_NEXT_VERSION} "
    "WHERE study = ? AND state IN ({states}) {tids}"
)
_ANY_TIDS = "AND tid IN (SELECT value FROM json_each(?))"
# (queued_only, by tids) -> statement
_CANCELS = {
    (queued, by_tids): _CANCEL.format(
        states="'new'" if queued else "'new', 'running'",
        tids=_ANY_TIDS if by_tids else "",
    )
    for queued in (False, True)
    for by_tids in (False, True)
}

# Intermediate values: one row per trial holding the reports of one attempt (token) as
# packed (step, value) pairs; a report appends 16 bytes, a later pair of the same step
# wins. A row whose token is not the trial's current one belongs to an old attempt and
# is ignored (and replaced by the next attempt's first report), so claims, releases
# and requeues never touch this table.
_PAIR = struct.Struct("<qd")
_REPORT = (
    "INSERT INTO intermediate (study, tid, token, data) "
    f"SELECT study, tid, token, ? FROM trials {_CURRENT} "
    "ON CONFLICT (study, tid) DO UPDATE SET data = CASE "
    "WHEN intermediate.token = excluded.token "
    "THEN CAST(intermediate.data || excluded.data AS BLOB) "
    "ELSE excluded.data END, token = excluded.token"
)
# Through the partial index of running trials (all studies'), which stays small
# however long the study: without the hint SQLite would scan the study's trials.
_RUNNING_INTERMEDIATE = (
    "SELECT t.tid, i.data FROM trials AS t INDEXED BY trials_leases "
    "JOIN intermediate AS i "
    "ON i.study = t.study AND i.tid = t.tid AND i.token = t.token "
    "WHERE t.state = 'running' AND t.study = ?"
)

_FINISHED_STATES = ", ".join(f"'{s.value}'" for s in TrialState if s.is_finished())
# Finished trials changed after a cursor, with their current attempt's reports only
# (the change index, then one primary-key lookup of the reports per trial).
_REPORTS_SINCE = (
    "SELECT t.tid, t.state, i.data FROM trials AS t "
    "LEFT JOIN intermediate AS i "
    "ON i.study = t.study AND i.tid = t.tid AND i.token = t.token "
    f"WHERE t.study = ? AND t.version > ? AND t.state IN ({_FINISHED_STATES}) "
    "ORDER BY t.version, t.tid"
)

# Running and finished trials by tid with their current attempt's packed reports,
# through the (study, tid) index; the highest step is taken from the packed pairs.
_LAST_STEPS = (
    "SELECT t.tid, t.state, i.data FROM trials AS t INDEXED BY trials_study_tid "
    "LEFT JOIN intermediate AS i "
    "ON i.study = t.study AND i.tid = t.tid AND i.token = t.token "
    "WHERE t.study = ? AND t.state != 'new' ORDER BY t.tid"
)

_IS_CURRENT = f"SELECT 1 FROM trials {_CURRENT}"
# The attachments of the trial's last attempt (those of an abandoned attempt, whose
# token is no longer the trial's, are not shown): the rule of every attachment read.
_CURRENT_ATTACHMENTS = (
    "FROM attachments AS a JOIN trials AS t "
    "ON t.study = a.study AND t.tid = a.tid AND t.token = a.token "
)
_ATTACHMENTS = (
    "SELECT a.name, {column} "
    + _CURRENT_ATTACHMENTS
    + "WHERE a.study = ? AND a.tid = ? ORDER BY a.name"
)
_STUDY_ATTACHMENT_SIZES = (
    "SELECT a.tid, a.name, length(a.data) "
    + _CURRENT_ATTACHMENTS
    + "WHERE a.study = ? ORDER BY a.tid, a.name"
)

# Connections inherited across fork(): never used nor closed in the child (closing
# could checkpoint or unlink the WAL under the parent's feet).
_INHERITED: list[sqlite3.Connection] = []


def _is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (retry it), not a real fault."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _primary_code(exc: BaseException) -> int:
    """SQLite's primary result code of ``exc`` (its extended code's low byte), or
    0 when the error carries none."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def _is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database or disk is full"."""
    return (
        _primary_code(exc) == sqlite3.SQLITE_FULL or "disk is full" in str(exc).lower()
    )


def _is_io_error(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "disk I/O error"."""
    return _primary_code(exc) == sqlite3.SQLITE_IOERR or (
        "disk i/o error" in str(exc).lower()
    )


def _may_pass_later(exc: BaseException) -> bool:
    """Whether a SQLite error may pass later: a lock held past the retries, a full
    disk, a disk I/O error. A corrupt file, a malformed statement or a constraint
    cannot."""
    return _is_busy(exc) or _is_disk_full(exc) or _is_io_error(exc)


def _is_corrupt(exc: BaseException) -> bool:
    """Whether ``exc`` says the file is no SQLite database or a damaged one."""
    return _primary_code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open; never mask the error being handled."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        _logger.warning("SQLite rollback failed: %s", exc)


def _one(cursor: sqlite3.Cursor) -> Any:
    """The single row of a RETURNING statement (fully stepped), or None."""
    rows = cursor.fetchall()
    return rows[0] if rows else None


def _bump_unless_set(conn: sqlite3.Connection, study: str, key: str) -> None:
    """Bump the study's version, reading its setting ``key`` in the same statement;
    raise :class:`SettingRecordedError` (the transaction is rolled back) if it holds
    a value."""
    rows = conn.execute(_BUMP_READING, (study, f'$."{key}"')).fetchall()
    if not rows or rows[0][0] is None:
        return
    value = c.loads(rows[0][0]).get(key)  # set (or settings SQLite cannot read)
    if value is not None:
        raise SettingRecordedError(key, value)


def _study_not_found(name: str) -> StudyNotFoundError:
    return StudyNotFoundError(
        f"`study` must name an existing study, but got study={name!r}"
    )


def _trial_not_found(study: str, tid: int) -> TrialNotFoundError:
    return TrialNotFoundError(
        f"`tid` must name a trial of study {study!r}, but got tid={tid!r}"
    )


def _trial(row: Sequence[Any]) -> Trial:
    return Trial(
        study=row[0],
        tid=row[1],
        state=TrialState(row[2]),
        params=c.loads(row[3]),
        config=c.loads(row[4]),
        owner=row[5],
        token=row[6],
        attempts=row[7],
        lease_expires_at=row[8],
        created_at=row[9],
        started_at=None if row[6] is None else row[10],  # see Trial: its attempt's
        finished_at=row[11],
        result=c.loads(row[12]),
        error=c.loads(row[13]),
        version=row[14],
        code=c.loads(row[15]),
    )


def _add_columns(conn: sqlite3.Connection) -> None:
    """Add the columns of :data:`_ADDED_COLUMNS` that an older table lacks."""
    for table, columns in _ADDED_COLUMNS.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns:
            if name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def _ranked(
    result: dict[str, Any] | None,
) -> tuple[str | None, float | None, float | None]:
    """``(light result JSON, violation, loss)`` of a done trial's result (see
    :mod:`._summary`); the last two None when the result has no single loss.

    ``result`` is as given to the store or as read back: only its light keys are
    encoded and read back (a rank needs no other key), so a result's large values
    (an ``output`` of 10 kB) are not decoded again.
    """
    if result is None:
        return None, None, None
    light = c.dumps(summary.light_result(result), "result")
    rank = summary.rank_of(c.loads(light))
    return (light, None, None) if rank is None else (light, *rank)


def _backfill_ranks(conn: sqlite3.Connection) -> None:
    """Give done trials written before schema 5 their light result and rank, a
    batch of :data:`_BACKFILL_BATCH` rows at a time (whole results are read: all of
    a large study's would not fit in memory at once)."""
    last = -1
    while rows := conn.execute(_UNRANKED, (last, _BACKFILL_BATCH)).fetchall():
        conn.executemany(
            "UPDATE trials SET light = ?, best_violation = ?, best_loss = ? "
            "WHERE id = ?",
            [(*_ranked(c.loads(text)), row_id) for row_id, text in rows],
        )
        last = rows[-1][0]


def _light_results(
    conn: sqlite3.Connection, study: str
) -> list[tuple[int, dict[str, Any] | None]]:
    """``(tid, light result)`` of the study's done trials, by tid (see ``_LIGHT``;
    those an older process wrote since the upgrade are read whole)."""
    rows = [(tid, c.loads(text)) for tid, text in conn.execute(_LIGHT, (study,))]
    if all(result is not None for _, result in rows):
        return rows
    late = {
        trial.tid: summary.light_result(trial.result)
        for trial in map(_trial, conn.execute(_UNRANKED_DONE, (study, 0, _NO_END)))
    }
    return [(tid, late.get(tid, result)) for tid, result in rows]


def _count_states(conn: sqlite3.Connection, study: str) -> dict[TrialState, int]:
    """Trials of ``study`` per state (every state a key), read from indexes in
    three statements: call it inside one read transaction (a snapshot)."""
    counts = c.zero_counts()
    for sql in _COUNT_STATES:
        for state, n in conn.execute(sql, (study,)):
            counts[TrialState(state)] = n
    return counts


def _is_read_only(exc: sqlite3.Error) -> bool:
    """Whether SQLite refused a write to a read-only database (file, directory,
    filesystem or a read-only connection)."""
    return _primary_code(exc) == sqlite3.SQLITE_READONLY or (
        "readonly" in str(exc).lower()
    )


def _upgrade_note(version: int | None, exc: sqlite3.Error) -> str:
    """Why opening an older database wrote to it, when that write was refused."""
    if version is None or not 0 < version < _SCHEMA_VERSION or not _is_read_only(exc):
        return ""
    return (
        f" (it holds schema version {version}, which this hpo-service upgrades to "
        f"{_SCHEMA_VERSION} in place when it first opens it; the upgrade is a write, "
        "made once: open the database once as a user who may write it, e.g. with "
        "`hpo-driver status`, and it then opens for reading as before)"
    )


def _os_user() -> str:
    """The operating-system user of this process, for messages."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return f"uid {os.getuid()}"


class _Now(NamedTuple):
    """In a write's arguments: the time the write lands, plus ``offset`` seconds. It
    is read once the write lock is held, which a busy file makes a write wait for
    (up to ``retry_timeout``): a lease or a finishing time counts from the write,
    not from the call."""

    offset: float = 0.0


def _at_now(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``args`` with each :class:`_Now` replaced by the time now (plus its offset)."""
    now = time.time()
    return tuple(now + a.offset if isinstance(a, _Now) else a for a in args)


class _Insert(NamedTuple):
    """A trial row to insert, its values encoded: a new trial's (the defaults), or
    a finished one's with its reports packed under ``token``."""

    params: str
    config: str
    state: str = "new"
    result: str | None = None
    error: str | None = None
    token: str | None = None
    reports: bytes = b""


def _finished_row(trial: FinishedTrial) -> _Insert:
    """The row of an imported :class:`FinishedTrial` (checked)."""
    reports = b"".join(_PAIR.pack(s, v) for s, v in trial.intermediate.items())
    return _Insert(
        c.dumps(trial.params, "params"),
        c.dumps(trial.config, "config"),
        TrialState(trial.state).value,
        None if trial.result is None else c.dumps(trial.result, "result"),
        None if trial.error is None else c.dumps(trial.error, "error"),
        uuid.uuid4().hex if reports else None,
        reports,
    )


def _code_text(code: dict[str, Any] | None) -> str | None:
    return None if code is None else c.dumps(c.check_dict(code, "code"), "code")


def _running_filter(
    study: str | None, only_requeuable: bool, namespace: str | None, now: float
) -> tuple[str, list[Any]]:
    """The conditions beyond ``state = 'running'`` of ``running_by_study`` and their
    arguments (an owner of ``namespace`` matched loosely: check it with the pattern
    of :func:`~hpo_service._common.processes.of_namespace_pattern`)."""
    where = ""
    args: list[Any] = []
    if study is not None:
        c.check_name(study, "study")
        where, args = " AND study = ?", [study]
    if only_requeuable and namespace is None:
        where += " AND lease_expires_at < ?"
        args.append(now)
    elif only_requeuable:
        where += " AND (lease_expires_at < ? OR owner LIKE ?)"
        args += [now, f"%/{namespace}-%"]  # loose: a % in it matches more
    return where, args


def _unpack(data: bytes) -> dict[int, float]:
    """The ``{step: value}`` of an intermediate row (a later pair of a step wins)."""
    return dict(_PAIR.iter_unpack(data))


def _last_step(data: bytes | None) -> int | None:
    """The highest step of an intermediate row's packed ``(step, value)`` pairs,
    without decoding the values (the steps are every other 8-byte word), or None."""
    if not data:
        return None
    words = array.array("q", data)
    if sys.byteorder != "little":  # packed little-endian (``_PAIR``)
        words.byteswap()
    return max(words[::2])


def _with_intermediate(
    conn: sqlite3.Connection, study: str, trials: list[Trial]
) -> list[Trial]:
    """Fill ``intermediate`` of ``trials`` (one study's) from their current attempts."""
    tokens = {t.tid: t.token for t in trials if t.token is not None}
    if not tokens:
        return trials
    sql = "SELECT tid, token, data FROM intermediate WHERE study = ?"
    args: tuple[Any, ...] = (study,)
    if len(tokens) < 256:  # a few trials: look them up; many: one range scan
        sql += " AND tid IN (SELECT value FROM json_each(?))"
        args += (json.dumps(list(tokens)),)
    found = {
        tid: data
        for tid, token, data in conn.execute(sql, args)
        if tokens.get(tid) == token
    }
    for trial in trials:
        if trial.tid in found:
            trial.intermediate = _unpack(found[trial.tid])
    return trials


def _study(row: Sequence[Any]) -> Study:
    return Study(
        name=row[0],
        settings=c.loads(row[1]),
        created_at=row[2],
        updated_at=row[3],
        driver_owner=row[4],
        driver_lease_expires_at=row[5],
        next_tid=row[6],
    )


def open_sqlite(url: str, **options: Any) -> SQLiteTrialStore:
    """Open the SQLite store of a ``sqlite:///path`` URL (see ``open_store``).

    Raises:
        ValueError: The URL is malformed or an option is unknown or invalid.
        StoreConnectionError: The database's directory does not exist, or the file
            cannot be opened.
    """
    path, query = parse_sqlite_url(url)
    create = bool(options.pop("create", True))
    merged: dict[str, Any] = {**query, **options}
    unknown = sorted(set(merged) - {"busy_timeout", "retry_timeout"})
    if unknown:
        raise ValueError(
            "`options` of a sqlite:// store must be among busy_timeout, "
            f"retry_timeout, create, but got {', '.join(unknown)} (url={url!r})"
        )
    timeouts = {k: _as_float(k, v) for k, v in merged.items()}
    return SQLiteTrialStore(path, create=create, **timeouts)


def _as_float(key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{key}` must be a number, but got {key}={value!r}") from None
    return c.check_positive(number, key)


class SQLiteTrialStore(BaseTrialStore):
    """Trials store in one SQLite file, safe for many processes on one machine.

    Every operation first checks that the database file is still the one opened: a
    file deleted or replaced while in use (whose open connection would go on writing
    to the deleted file, losing everything) raises :class:`StoreLostError`.

    Args:
        path: Database file (its directory must exist), or ``":memory:"`` for a
            private in-memory database.
        busy_timeout: Seconds a write waits for another process's write lock before
            SQLite reports the database as locked.
        retry_timeout: Seconds "database is locked" errors are retried (with
            backoff) before :class:`StoreConnectionError` is raised.
        create: Create the database when the file is missing; when False (read-only
            commands, workers) a missing or empty file raises
            :class:`StoreNotFoundError` and nothing is written.
    """

    def __init__(
        self,
        path: str,
        *,
        busy_timeout: float = 5.0,
        retry_timeout: float = 30.0,
        create: bool = True,
    ) -> None:
        self._path = path
        self._busy_timeout = c.check_positive(busy_timeout, "busy_timeout")
        self._retry = RetryPolicy(timeout=retry_timeout)
        self._check_directory()
        self._create = create
        self._abspath = path if path == ":memory:" else os.path.abspath(path)
        if not create:
            self._check_exists()
        self._lock = threading.RLock()
        self._closed = False
        self._pid = os.getpid()
        self._conn = self._retry.call(
            lambda _: self._connect(),
            is_transient=_is_busy,
            what=self._what("open"),
            doing="opening the store",
        )
        self._identity = self._file_identity()
        _logger.debug("opened SQLite store %s", path)

    def __repr__(self) -> str:
        return f"SQLiteTrialStore({self._abspath!r})"

    # ---- connection --------------------------------------------------------------

    def _what(self, operation: str) -> str:
        return f"SQLite store {self._path!r}: {operation}"

    def _check_directory(self) -> None:
        if self._path == ":memory:":
            return
        directory = os.path.dirname(os.path.abspath(self._path))
        if not os.path.isdir(directory):
            raise StoreConnectionError(
                "the directory of the SQLite database must exist, but got "
                f"directory={directory!r} (path={self._path!r})"
            )

    def _check_exists(self) -> None:
        if self._path != ":memory:" and not os.path.isfile(self._abspath):
            raise StoreNotFoundError(
                f"no SQLite database at {self._abspath} (from {self._path!r}): "
                "start a study there with `hpo-driver start`, or pass --db with the "
                "database's path (a relative path is relative to the working "
                "directory)"
            )

    def _file_identity(self) -> tuple[int, int] | None:
        """The (device, inode) of the database file, or None if it is gone."""
        if self._path == ":memory:":
            return (0, 0)
        try:
            found = os.stat(self._abspath)
        except FileNotFoundError:
            return None
        return (found.st_dev, found.st_ino)

    def _check_identity(self) -> None:
        """Raise :class:`StoreLostError` if the file was deleted or replaced."""
        if self._path == ":memory:":
            return
        identity = self._file_identity()
        if identity == self._identity:
            return
        how = "deleted" if identity is None else "replaced by another file"
        raise StoreLostError(
            f"the SQLite database {self._abspath} was {how} while in use: what was "
            "written to it since then is lost (it went to the old file); stop every "
            "driver and worker using it, then restore the file or start the study "
            "again"
        )

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            raise StoreConnectionError(
                f"the SQLite database must be openable, but {self._path!r} gave: {exc}"
            ) from exc
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        version = None
        try:
            if self._path != ":memory:" and self._create:
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA temp_store = MEMORY")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0 and not self._create:
                raise StoreNotFoundError(
                    f"{self._abspath} is not an hpo-service database (it holds no "
                    "studies table): start a study there with `hpo-driver start`, or "
                    "pass --db with the database's path"
                )
            if version > _SCHEMA_VERSION:
                raise StoreError(
                    f"the SQLite schema version must be <= {_SCHEMA_VERSION}, but got "
                    f"{version} in {self._path!r} (written by a newer hpo-service): "
                    "run the hpo-service version that wrote it here too (pip "
                    "install -U hpo-service), or give --db another file"
                )
            if version < _SCHEMA_VERSION:
                self._migrate(conn)
        except sqlite3.DatabaseError as exc:
            _rollback(conn)
            if _is_busy(exc):
                raise
            kind = StoreError if _is_corrupt(exc) else StoreConnectionError
            raise kind(
                f"the SQLite database must be usable, but {self._path!r} gave: {exc}"
                f"{_upgrade_note(version, exc)}{self._advice(exc)}"
            ) from exc

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Create the schema, or bring an older one up to date, in one transaction.

        Under the write lock, the version is read again: of several processes
        opening an old database at once, one migrates and the others see it done.
        """
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] < _SCHEMA_VERSION:
                for statement in filter(None, map(str.strip, _SCHEMA.split(";"))):
                    conn.execute(statement)
                _add_columns(conn)
                for statement in _LATE_SCHEMA:
                    conn.execute(statement)
                _backfill_ranks(conn)
                conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise c.closed_error()
        if self._pid != os.getpid():  # forked: never reuse the parent's connection
            _INHERITED.append(self._conn)
            self._pid = os.getpid()
            self._conn = self._connect()
        return self._conn

    def _run(
        self, what: str, body: Callable[[sqlite3.Connection], _T], begin: str | None
    ) -> _T:
        """Run ``body`` (in a transaction opened by ``begin``), retrying busy errors."""

        def attempt(_: int) -> _T:
            conn = self._connection()
            if begin is None:
                return body(conn)
            conn.execute(begin)
            try:
                out = body(conn)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
            return out

        if self._pid != os.getpid():
            self._lock = threading.RLock()  # a lock held at fork time stays held
        self._check_identity()
        said = doing(what)
        with self._lock:
            try:
                return self._retry.call(
                    attempt, is_transient=_is_busy, what=self._what(said), doing=said
                )
            except sqlite3.Error as exc:
                if _is_read_only(exc):
                    raise self._refusal(what, exc) from exc
                kind = StoreTransientError if _may_pass_later(exc) else StoreError
                raise kind(
                    f"{self._what(doing(what))} failed: {exc}{self._advice(exc)}"
                ) from exc

    def _refusal(self, what: str, exc: sqlite3.Error) -> StoreAuthorizationError:
        """The error for a write this process may not make (a read-only file,
        directory or filesystem): not retried, as waiting cannot fix it."""
        user = _os_user()
        return StoreAuthorizationError(
            f"{self._what(doing(what))} was refused to user {user!r} on database "
            f"{self._abspath} (not retried): {exc}{self._advice(exc)}",
            user=user,
            database=self._abspath,
            operation=what,
        )

    def _advice(self, exc: sqlite3.Error) -> str:
        """What the user can do about a failed operation, when we can tell."""
        if _is_read_only(exc):
            return (
                f": this process cannot write {self._abspath} or its directory "
                "(permissions, another user's file, or a read-only filesystem); run "
                "as the file's owner, make the file and its directory writable, or "
                "work on a copy (--db sqlite:////path/to/copy.sqlite)"
            )
        if _is_disk_full(exc):
            return f": free space on the disk that holds {self._abspath}"
        if _is_io_error(exc):
            return (
                f": a read or write of {self._abspath} failed; check the disk's free "
                "space, the processes' file size limit (`ulimit -f`) and the disk "
                "or network filesystem (retried: it may pass)"
            )
        if _is_corrupt(exc):
            return (
                f": {self._abspath} is damaged or no SQLite file (waiting cannot fix "
                "it); stop the processes that use it and restore a backup (README, "
                "'Backing up a store'), or copy out what it still holds with "
                "`sqlite3 FILE .recover`"
            )
        return ""

    def _read(
        self,
        what: str,
        body: Callable[[sqlite3.Connection], _T],
        *,
        snapshot: bool = False,
    ) -> _T:
        """Run a read; ``snapshot`` makes several statements see one state."""
        return self._run(what, body, "BEGIN" if snapshot else None)

    def _write(self, what: str, body: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run a write transaction, holding the database's write lock throughout."""
        return self._run(what, body, "BEGIN IMMEDIATE")

    @staticmethod
    def _study_version(conn: sqlite3.Connection, name: str) -> int:
        """The study's change version (raises StudyNotFoundError if it is missing)."""
        row = conn.execute(
            "SELECT version FROM studies WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise _study_not_found(name)
        return int(row[0])

    @classmethod
    def _require_study(cls, conn: sqlite3.Connection, name: str) -> None:
        """Raise StudyNotFoundError if the study is missing."""
        cls._study_version(conn, name)

    @classmethod
    def _require_trial(cls, conn: sqlite3.Connection, study: str, tid: int) -> None:
        row = conn.execute(
            "SELECT 1 FROM trials WHERE study = ? AND tid = ?", (study, tid)
        ).fetchone()
        if row is None:
            cls._require_study(conn, study)
            raise _trial_not_found(study, tid)

    # ---- studies -----------------------------------------------------------------

    def create_study(self, name: str, settings: dict[str, Any]) -> Study:
        c.check_name(name, "name")
        text = c.dumps(c.check_dict(settings, "settings"), "settings")

        def body(conn: sqlite3.Connection) -> Study:
            now = time.time()
            cur = conn.execute(
                "INSERT INTO studies (name, settings, created_at, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (name, text, now, now),
            )
            if cur.rowcount != 1:
                raise StudyExistsError(
                    f"`name` must not name an existing study, but got name={name!r}"
                )
            return Study(name, c.loads(text), now, now)

        return self._write("create_study", body)

    def get_study(self, name: str) -> Study:
        c.check_name(name, "name")

        def body(conn: sqlite3.Connection) -> Study:
            row = conn.execute(
                f"SELECT {_STUDY_COLUMNS} FROM studies WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                raise _study_not_found(name)
            return _study(row)

        return self._read("get_study", body)

    def list_studies(self) -> list[Study]:
        return self._read(
            "list_studies",
            lambda conn: [
                _study(row)
                for row in conn.execute(
                    f"SELECT {_STUDY_COLUMNS} FROM studies ORDER BY created_at, rowid"
                )
            ],
        )

    def update_study_settings(self, name: str, settings: dict[str, Any]) -> Study:
        c.check_name(name, "name")
        text = c.dumps(c.check_dict(settings, "settings"), "settings")

        def body(conn: sqlite3.Connection) -> Study:
            row = _one(
                conn.execute(
                    "UPDATE studies SET settings = ?, updated_at = ? WHERE name = ? "
                    f"RETURNING {_STUDY_COLUMNS}",
                    (text, time.time(), name),
                )
            )
            if row is None:
                raise _study_not_found(name)
            return _study(row)

        return self._write("update_study_settings", body)

    def patch_study_settings(
        self, name: str, changes: dict[str, Any], *, only_unset: bool = False
    ) -> Study:
        c.check_name(name, "name")
        changes = c.loads(c.dumps(c.check_changes(changes), "changes"))

        def body(conn: sqlite3.Connection) -> Study:
            # The write transaction holds the database's write lock from BEGIN
            # IMMEDIATE on: no other writer can come between this read and the write.
            row = conn.execute(
                "SELECT settings FROM studies WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                raise _study_not_found(name)
            settings = c.loads(row[0])
            for key, value in changes.items():
                if not only_unset or settings.get(key) is None:
                    settings[key] = value
            row = _one(
                conn.execute(
                    "UPDATE studies SET settings = ?, updated_at = ? WHERE name = ? "
                    f"RETURNING {_STUDY_COLUMNS}",
                    (c.dumps(settings, "settings"), time.time(), name),
                )
            )
            return _study(row)

        return self._write("patch_study_settings", body)

    def acquire_driver_lease(self, name: str, owner: str, seconds: float) -> bool:
        c.check_name(name, "name")
        c.check_name(owner, "owner")
        seconds = c.check_positive(seconds, "seconds")

        def body(conn: sqlite3.Connection) -> bool:
            now = time.time()
            cur = conn.execute(
                "UPDATE studies SET driver_owner = ?, driver_lease_expires_at = ? "
                "WHERE name = ? AND (driver_owner IS NULL OR driver_owner = ? "
                "OR driver_lease_expires_at < ?)",
                (owner, now + seconds, name, owner, now),
            )
            if cur.rowcount == 0:
                self._require_study(conn, name)
            return cur.rowcount == 1

        return self._write("acquire_driver_lease", body)

    def release_driver_lease(self, name: str, owner: str) -> None:
        c.check_name(name, "name")
        c.check_name(owner, "owner")

        def body(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE studies SET driver_owner = NULL, "
                "driver_lease_expires_at = NULL WHERE name = ? AND driver_owner = ?",
                (name, owner),
            )
            if cur.rowcount == 0:
                self._require_study(conn, name)

        self._write("release_driver_lease", body)

    # ---- trials: writes ----------------------------------------------------------

    def insert_trials(self, study: str, trials: list[NewTrial]) -> list[int]:
        c.check_name(study, "study")
        rows = [
            _Insert(c.dumps(t.params, "params"), c.dumps(t.config, "config"))
            for t in c.check_new_trials(trials)
        ]
        return self._insert("insert_trials", study, rows)

    def insert_finished(self, study: str, trials: list[FinishedTrial]) -> list[int]:
        c.check_name(study, "study")
        rows = [_finished_row(t) for t in c.check_finished_trials(trials)]
        return self._insert("insert_finished", study, rows)

    def _insert(self, what: str, study: str, rows: list[_Insert]) -> list[int]:
        """Insert rows: new trials, or finished ones with their reports."""

        def body(conn: sqlite3.Connection) -> list[int]:
            if not rows:
                self._require_study(conn, study)
                return []
            found = _one(
                conn.execute(
                    "UPDATE studies SET next_tid = next_tid + ?, version = version + 1 "
                    "WHERE name = ? RETURNING next_tid, version",
                    (len(rows), study),
                )
            )
            if found is None:
                raise _study_not_found(study)
            first, version = found[0] - len(rows), found[1]
            now = time.time()
            conn.executemany(
                "INSERT INTO trials (study, tid, state, params, config, created_at, "
                "finished_at, result, error, token, version, light, best_violation, "
                "best_loss) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        study,
                        first + i,
                        row.state,
                        row.params,
                        row.config,
                        now,
                        None if row.state == "new" else now,
                        row.result,
                        row.error,
                        row.token,
                        version,
                        *_ranked(c.loads(row.result) if row.state == "done" else None),
                    )
                    for i, row in enumerate(rows)
                ],
            )
            conn.executemany(
                "INSERT INTO intermediate (study, tid, token, data) "
                "VALUES (?, ?, ?, ?)",
                [
                    (study, first + i, row.token, row.reports)
                    for i, row in enumerate(rows)
                    if row.reports
                ],
            )
            return list(range(first, first + len(rows)))

        return self._write(what, body)

    def fill_configs(
        self,
        study: str,
        configs: Mapping[int, Any],
        *,
        params: Mapping[int, dict[str, Any]] | None = None,
    ) -> int:
        c.check_name(study, "study")
        checked = c.check_configs(configs)
        typed = c.check_filled_params(params, checked)
        rows = [
            (
                c.dumps(config, "config"),
                c.dumps(typed[tid], "params") if tid in typed else None,
                study,
                tid,
            )
            for tid, config in checked.items()
        ]

        def body(conn: sqlite3.Connection) -> int:
            cur = conn.executemany(_FILL_CONFIG, rows)
            if cur.rowcount > 0:
                conn.execute(_BUMP, (study,))
            else:
                self._require_study(conn, study)
            return max(cur.rowcount, 0)

        return self._write("fill_configs", body)

    def claim(
        self, owner: str, lease_seconds: float, *, study: str | None = None
    ) -> Trial | None:
        claimed = self._claim(owner, lease_seconds, study, _BUMP)
        return None if claimed is None else claimed[0]

    def claim_with_study(
        self, owner: str, lease_seconds: float, *, study: str | None = None
    ) -> tuple[Trial, Study] | None:
        claimed = self._claim(owner, lease_seconds, study, _BUMP_STUDY)
        return None if claimed is None else (claimed[0], _study(claimed[1]))

    def _claim(
        self, owner: str, lease_seconds: float, study: str | None, bump: str
    ) -> tuple[Trial, Any] | None:
        """Claim a trial; ``bump`` marks its study changed and may return its row
        (``_BUMP_STUDY``), which comes back with the trial."""
        c.check_name(owner, "owner")
        lease_seconds = c.check_positive(lease_seconds, "lease_seconds")
        if study is not None:
            c.check_name(study, "study")
        if not self._anything_queued(study):
            return None

        def body(conn: sqlite3.Connection) -> tuple[Trial, Any] | None:
            now = time.time()
            args: tuple[Any, ...] = (owner, uuid.uuid4().hex, now, now + lease_seconds)
            if study is None:
                row = _one(conn.execute(_CLAIM_ANY, args))
            else:
                row = _one(conn.execute(_CLAIM_STUDY, (*args, study)))
            if row is None:
                return None
            return _trial(row), _one(conn.execute(bump, (row[0],)))

        return self._write("claim", body)

    def _anything_queued(self, study: str | None) -> bool:
        """A lock-free pre-check, so idle workers polling an empty queue never write."""

        def body(conn: sqlite3.Connection) -> bool:
            if study is None:
                return conn.execute(_ANY_QUEUED).fetchone() is not None
            if conn.execute(_STUDY_QUEUED, (study,)).fetchone() is not None:
                return True
            self._require_study(conn, study)
            return False

        return self._read("claim", body)

    def _current_attempt_write(
        self,
        what: str,
        sql: str,
        args: tuple[Any, ...],
        study: str,
        tid: int,
        unless_setting: str | None = None,
    ) -> bool:
        """Run an UPDATE filtered on an attempt; bump the version if it hit. An
        argument :class:`_Now` becomes the time the write lands. With
        ``unless_setting``, the bump reads that setting of the study and a value
        rolls the write back (:class:`SettingRecordedError`): no extra statement."""

        def body(conn: sqlite3.Connection) -> bool:
            if conn.execute(sql, _at_now(args)).rowcount == 1:
                if unless_setting is None:
                    conn.execute(_BUMP, (study,))
                else:
                    _bump_unless_set(conn, study, unless_setting)
                return True
            self._require_trial(conn, study, tid)
            return False

        return self._write(what, body)

    def heartbeat(self, study: str, tid: int, token: str, lease_seconds: float) -> bool:
        c.check_name(study, "study")
        c.check_tid(tid)
        lease_seconds = c.check_positive(lease_seconds, "lease_seconds")

        def body(conn: sqlite3.Connection) -> bool:
            args = (time.time() + lease_seconds, study, tid, token)
            if conn.execute(_HEARTBEAT, args).rowcount == 1:
                return True  # a heartbeat is not a change: no version bump
            self._require_trial(conn, study, tid)
            return False

        return self._write("heartbeat", body)

    def reclaim(
        self, study: str, tid: int, token: str, owner: str, lease_seconds: float
    ) -> bool:
        c.check_name(study, "study")
        c.check_tid(tid)
        c.check_name(token, "token")
        c.check_name(owner, "owner")
        lease_seconds = c.check_positive(lease_seconds, "lease_seconds")
        args = (owner, _Now(lease_seconds), study, tid, token)
        return self._current_attempt_write("reclaim", _RECLAIM, args, study, tid)

    def complete(
        self,
        study: str,
        tid: int,
        token: str,
        result: dict[str, Any],
        *,
        code: dict[str, Any] | None = None,
        unless_setting: str | None = None,
    ) -> bool:
        c.check_name(study, "study")
        c.check_tid(tid)
        if unless_setting is not None:
            c.check_setting_key(unless_setting, "unless_setting")
        text = c.dumps(c.check_dict(result, "result"), "result")
        ranked = _ranked(result)
        args = ("done", text, _Now(), _code_text(code), *ranked, study, tid, token)
        return self._current_attempt_write(
            "complete", _COMPLETE, args, study, tid, unless_setting
        )

    def fail(
        self,
        study: str,
        tid: int,
        token: str,
        error: dict[str, Any],
        *,
        code: dict[str, Any] | None = None,
    ) -> bool:
        c.check_name(study, "study")
        c.check_tid(tid)
        text = c.dumps(c.check_error(error), "error")
        args = ("error", text, _Now(), _code_text(code), study, tid, token)
        return self._current_attempt_write("fail", _FAIL, args, study, tid)

    def release(self, study: str, tid: int, token: str) -> bool:
        c.check_name(study, "study")
        c.check_tid(tid)
        return self._current_attempt_write(
            "release", _RELEASE, (study, tid, token), study, tid
        )

    def prune(
        self,
        study: str,
        tid: int,
        token: str,
        result: dict[str, Any],
        *,
        code: dict[str, Any] | None = None,
    ) -> bool:
        c.check_name(study, "study")
        c.check_tid(tid)
        text = c.dumps(c.check_dict(result, "result"), "result")
        unranked = (None, None, None)
        args = (
            "pruned",
            text,
            _Now(),
            _code_text(code),
            *unranked,
            study,
            tid,
            token,
        )
        return self._current_attempt_write("prune", _COMPLETE, args, study, tid)

    def report_many(
        self, study: str, tid: int, token: str, values: Sequence[tuple[int, float]]
    ) -> bool:
        c.check_name(study, "study")
        c.check_tid(tid)
        pair = b"".join(_PAIR.pack(s, v) for s, v in c.check_reports(values))

        def body(conn: sqlite3.Connection) -> bool:
            if conn.execute(_REPORT, (pair, study, tid, token)).rowcount == 1:
                return True  # a report is not a change: no version bump
            self._require_trial(conn, study, tid)
            return False

        return self._write("report_many", body)

    def put_attachments(
        self, study: str, tid: int, token: str, attachments: dict[str, bytes]
    ) -> bool:
        c.check_name(study, "study")
        c.check_tid(tid)
        blobs = c.check_attachments(attachments)

        def body(conn: sqlite3.Connection) -> bool:
            if conn.execute(_IS_CURRENT, (study, tid, token)).fetchone() is None:
                self._require_trial(conn, study, tid)
                return False
            conn.execute(
                "DELETE FROM attachments WHERE study = ? AND tid = ?", (study, tid)
            )
            conn.executemany(
                "INSERT INTO attachments (study, tid, name, token, data) "
                "VALUES (?, ?, ?, ?, ?)",
                [(study, tid, name, token, data) for name, data in blobs.items()],
            )
            return True  # not a change of the trial: no version bump

        return self._write("put_attachments", body)

    def get_attachments(
        self, study: str, tid: int, names: list[str] | None = None
    ) -> dict[str, bytes]:
        c.check_name(study, "study")
        c.check_tid(tid)
        wanted = c.check_attachment_names(names)

        def body(conn: sqlite3.Connection) -> dict[str, bytes]:
            sql = _ATTACHMENTS.format(column="a.data")
            rows = conn.execute(sql, (study, tid)).fetchall()
            if not rows:
                self._require_trial(conn, study, tid)
            return {
                name: bytes(data)
                for name, data in rows
                if wanted is None or name in wanted
            }

        return self._read("get_attachments", body)

    def attachment_sizes(self, study: str, tid: int) -> dict[str, int]:
        c.check_name(study, "study")
        c.check_tid(tid)

        def body(conn: sqlite3.Connection) -> dict[str, int]:
            sql = _ATTACHMENTS.format(column="length(a.data)")
            rows = conn.execute(sql, (study, tid)).fetchall()
            if not rows:
                self._require_trial(conn, study, tid)
            return dict(rows)

        return self._read("attachment_sizes", body)

    def study_attachment_sizes(self, study: str) -> dict[int, dict[str, int]]:
        c.check_name(study, "study")

        def body(conn: sqlite3.Connection) -> dict[int, dict[str, int]]:
            rows = conn.execute(_STUDY_ATTACHMENT_SIZES, (study,)).fetchall()
            if not rows:
                self._require_study(conn, study)
            sizes: dict[int, dict[str, int]] = {}
            for tid, name, size in rows:
                sizes.setdefault(tid, {})[name] = size
            return sizes

        return self._read("study_attachment_sizes", body)

    def running_trials(self, study: str) -> list[summary.RunningTrial]:
        c.check_name(study, "study")

        def body(conn: sqlite3.Connection) -> list[summary.RunningTrial]:
            self._require_study(conn, study)
            rows = conn.execute(_RUNNING_ALL, (study,))
            return [summary.RunningTrial(*row) for row in rows]

        return self._read("running_trials", body)

    def running_by_study(
        self,
        *,
        study: str | None = None,
        only_requeuable: bool = False,
        namespace: str | None = None,
    ) -> dict[str, list[summary.RunningTrial]]:
        now = time.time()
        where, args = _running_filter(study, only_requeuable, namespace, now)
        owners = re.compile(of_namespace_pattern(namespace)) if namespace else None

        def kept(trial: summary.RunningTrial) -> bool:  # LIKE matched more owners
            if not only_requeuable or (trial.lease_expires_at or now) < now:
                return True
            return owners is not None and owners.search(trial.owner or "") is not None

        def body(conn: sqlite3.Connection) -> dict[str, list[summary.RunningTrial]]:
            found: dict[str, list[summary.RunningTrial]] = {}
            for name, *fields in conn.execute(_RUNNING_EVERY_STUDY % where, args):
                trial = summary.RunningTrial(*fields)
                if kept(trial):
                    found.setdefault(name, []).append(trial)
            return found

        return self._read("running_by_study", body)

    def running_intermediate(self, study: str) -> dict[int, dict[int, float]]:
        c.check_name(study, "study")

        def body(conn: sqlite3.Connection) -> dict[int, dict[int, float]]:
            rows = conn.execute(_RUNNING_INTERMEDIATE, (study,)).fetchall()
            if not rows:
                self._require_study(conn, study)
            return {tid: _unpack(data) for tid, data in rows}

        return self._read("running_intermediate", body)

    def requeue_expired(
        self, *, max_attempts: int, study: str | None = None
    ) -> RequeueReport:
        c.check_max_attempts(max_attempts)
        if study is not None:
            c.check_name(study, "study")
        if not self._anything_expired(study):
            return RequeueReport()
        where = "" if study is None else "AND study = ?"
        extra: tuple[Any, ...] = () if study is None else (study,)
        error = c.dumps(c.lease_expired_error(max_attempts), "error")

        def body(conn: sqlite3.Connection) -> RequeueReport:
            now = time.time()
            failed = conn.execute(
                _EXPIRE_TO_ERROR.format(study=where),
                (error, now, now, max_attempts, *extra),
            ).fetchall()
            self._bump_all(conn, failed)
            requeued = conn.execute(
                _EXPIRE_TO_NEW.format(study=where), (now, *extra)
            ).fetchall()
            self._bump_all(conn, requeued)
            return RequeueReport(
                requeued=sorted(map(tuple, requeued)), failed=sorted(map(tuple, failed))
            )

        report = self._write("requeue_expired", body)
        if report.requeued or report.failed:  # callers say why, per trial
            _logger.debug(
                "requeued %d expired trials, failed %d that used their attempts",
                len(report.requeued),
                len(report.failed),
            )
        return report

    def _anything_expired(self, study: str | None) -> bool:
        def body(conn: sqlite3.Connection) -> bool:
            if study is not None:
                self._require_study(conn, study)
            return conn.execute(_ANY_EXPIRED, (time.time(),)).fetchone() is not None

        return self._read("requeue_expired", body)

    @staticmethod
    def _bump_all(conn: sqlite3.Connection, rows: list[Any]) -> None:
        conn.executemany(_BUMP, [(name,) for name in {row[0] for row in rows}])

    def cancel(
        self,
        study: str,
        tids: list[int] | None = None,
        *,
        error: dict[str, Any] | None = None,
        queued_only: bool = False,
    ) -> int:
        c.check_name(study, "study")
        tids = c.check_tids(tids)
        why = None if error is None else c.dumps(c.check_error(error), "error")
        sql = _CANCELS[bool(queued_only), tids is not None]
        args = () if tids is None else (c.dumps(tids, "tids"),)

        def body(conn: sqlite3.Connection) -> int:
            cur = conn.execute(sql, (time.time(), why, study, *args))
            if cur.rowcount > 0:
                conn.execute(_BUMP, (study,))
            else:
                self._require_study(conn, study)
            return cur.rowcount

        return self._write("cancel", body)

    # ---- trials: reads -----------------------------------------------------------

    def get_trial(self, study: str, tid: int) -> Trial:
        c.check_name(study, "study")
        c.check_tid(tid)

        def body(conn: sqlite3.Connection) -> Trial:
            row = conn.execute(
                f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study = ? AND tid = ?",
                (study, tid),
            ).fetchone()
            if row is None:
                self._require_study(conn, study)
                raise _trial_not_found(study, tid)
            return _with_intermediate(conn, study, [_trial(row)])[0]

        return self._read("get_trial", body, snapshot=True)

    def get_trials(
        self,
        study: str,
        states: list[TrialState] | None = None,
        *,
        tids: Sequence[int] | None = None,
        statuses: Collection[str] | None = None,
    ) -> list[Trial]:
        c.check_name(study, "study")
        wanted = c.check_states(states)
        kinds = c.check_statuses(statuses)
        sql = f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study = ?"
        args: list[Any] = [study]
        if wanted is not None:
            sql += f" AND state IN ({', '.join('?' * len(wanted))})"
            args += [s.value for s in wanted]
        if tids is not None:
            sql += " AND tid IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(c.check_tid_list(tids)))
        if kinds is not None:
            sql += _WITH_STATUS
            args.append(json.dumps(kinds))

        def body(conn: sqlite3.Connection) -> list[Trial]:
            self._require_study(conn, study)
            rows = conn.execute(sql + " ORDER BY tid", args)
            trials = [_trial(row) for row in rows]
            if kinds is not None:  # the rows SQLite could not read (NaN) are sent
                trials = [t for t in trials if c.has_status(t.result, kinds)]
            return _with_intermediate(conn, study, trials)

        return self._read("get_trials", body, snapshot=True)

    def trial_keys(self, study: str) -> TrialKeys:
        c.check_name(study, "study")

        def body(conn: sqlite3.Connection) -> TrialKeys:
            self._require_study(conn, study)
            keys = c.KeysGatherer()
            keys.params.update(row[0] for row in conn.execute(_PARAM_KEYS, (study,)))
            for (text,) in conn.execute(_UNREADABLE_PARAMS, (study,)):
                keys.params.update(c.loads(text))
            for key, pruned in conn.execute(_RESULT_KEYS, (study,)):
                keys.add_result_keys([key], pruned=bool(pruned))
            for length, tid in conn.execute(_LOSS_LENGTHS, (study,)):
                keys.add_loss_length(length, tid)
            (most,) = conn.execute(_MOST_CONSTRAINTS, (study,)).fetchone()
            if most is not None:
                keys.add_constraints(most)
            for tid, text in conn.execute(_UNREADABLE_RESULTS, (study,)):
                keys.add_result(tid, c.loads(text))
            return keys.keys()

        return self._read("trial_keys", body, snapshot=True)

    def export_trials(
        self,
        study: str,
        states: list[TrialState] | None = None,
        *,
        statuses: Collection[str] | None = None,
    ) -> Iterator[Trial | TrialKeys]:
        c.check_name(study, "study")
        c.check_states(states)
        c.check_statuses(statuses)
        end = self.get_study(study).next_tid  # raises StudyNotFoundError now
        keys = self.trial_keys(study)
        return self._exported(keys, study, states, statuses or (), end)

    def _exported(
        self,
        keys: TrialKeys,
        study: str,
        states: list[TrialState] | None,
        statuses: Collection[str],
        end: int,
    ) -> Iterator[Trial | TrialKeys]:
        """:meth:`export_trials`' items: ``keys``, then the trials below tid
        ``end`` shown, filtered in the database a window of tids at a time."""
        yield keys
        yield from each_trial(self, study, states, statuses=statuses, end=end)

    def get_tids(self, study: str, states: list[TrialState]) -> list[int]:
        c.check_name(study, "study")
        wanted = c.check_states(states) or []
        sql = (
            "SELECT tid FROM trials WHERE study = ? "
            f"AND state IN ({', '.join('?' * len(wanted))}) ORDER BY tid"
        )
        args = [study, *(s.value for s in wanted)]

        def body(conn: sqlite3.Connection) -> list[int]:
            self._require_study(conn, study)
            return [row[0] for row in conn.execute(sql, args)] if wanted else []

        return self._read("get_tids", body, snapshot=True)

    def changes_since(self, study: str, cursor: int = 0) -> tuple[list[Trial], int]:
        c.check_name(study, "study")
        c.check_cursor(cursor)

        def body(conn: sqlite3.Connection) -> tuple[list[Trial], int]:
            version = self._study_version(conn, study)
            rows = conn.execute(
                f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study = ? AND version > ? "
                "ORDER BY version, tid",
                (study, cursor),
            ).fetchall()
            trials = _with_intermediate(conn, study, [_trial(r) for r in rows])
            return trials, max(cursor, version)

        return self._read("changes_since", body, snapshot=True)

    def reports_since(
        self, study: str, cursor: int = 0
    ) -> tuple[list[TrialReports], int]:
        c.check_name(study, "study")
        c.check_cursor(cursor)

        def body(conn: sqlite3.Connection) -> tuple[list[TrialReports], int]:
            version = self._study_version(conn, study)
            rows = conn.execute(_REPORTS_SINCE, (study, cursor)).fetchall()
            found = [
                TrialReports(tid, TrialState(state), _unpack(data) if data else {})
                for tid, state, data in rows
            ]
            return found, max(cursor, version)

        return self._read("reports_since", body, snapshot=True)

    def last_steps(self, study: str) -> list[tuple[int, TrialState, int | None]]:
        c.check_name(study, "study")

        def body(conn: sqlite3.Connection) -> list[tuple[int, TrialState, int | None]]:
            rows = conn.execute(_LAST_STEPS, (study,)).fetchall()
            if not rows:
                self._require_study(conn, study)
            return [(tid, TrialState(s), _last_step(data)) for tid, s, data in rows]

        return self._read("last_steps", body)

    def count_by_state(self, study: str) -> dict[TrialState, int]:
        c.check_name(study, "study")

        def body(conn: sqlite3.Connection) -> dict[TrialState, int]:
            self._require_study(conn, study)
            return _count_states(conn, study)

        # One snapshot: _count_states reads each state in its own statement, and a
        # trial finishing between two of them would be counted in neither (the
        # budget rule, worker/_budget.py, then lets a trial run past max_evals).
        return self._read("count_by_state", body, snapshot=True)

    # ---- light reads (see ._summary) ---------------------------------------------

    def summarise(self, study: str) -> summary.StudySummary:
        c.check_name(study, "study")

        def body(conn: sqlite3.Connection) -> summary.StudySummary:
            self._require_study(conn, study)
            counts = _count_states(conn, study)
            shown = (study, summary.RUNNING_SHOWN)
            running = [summary.RunningTrial(*r) for r in conn.execute(_RUNNING, shown)]
            failed, infeasible = summary.count_failed_infeasible(
                result for _, result in _light_results(conn, study)
            )
            first = conn.execute(_CODES, (study, summary.CODES_SHOWN))
            codes = [(c.loads(code), n) for code, n in first]
            return summary.StudySummary(
                counts=counts,
                running=running,
                failed=failed,
                infeasible=infeasible,
                codes=codes,
                best=self._best(conn, study),
            )

        return self._read("summarise", body, snapshot=True)

    def best_trial(
        self, study: str, *, first_tid: int = 0, end_tid: int | None = None
    ) -> Trial | None:
        c.check_name(study, "study")
        c.check_first_tid(first_tid)
        end = c.check_end_tid(end_tid, first_tid)

        def body(conn: sqlite3.Connection) -> Trial | None:
            self._require_study(conn, study)
            return self._best(conn, study, first_tid, end)

        return self._read("best_trial", body, snapshot=True)

    @staticmethod
    def _best(
        conn: sqlite3.Connection,
        study: str,
        first_tid: int = 0,
        end_tid: int | None = None,
    ) -> Trial | None:
        sql = _BEST.format(columns=_TRIAL_COLUMNS)
        tids = (first_tid, _NO_END if end_tid is None else end_tid)
        row = _one(conn.execute(sql, (study, study, *tids)))
        unranked = [_trial(r) for r in conn.execute(_UNRANKED_DONE, (study, *tids))]
        best = summary.earliest_best(([] if row is None else [_trial(row)]) + unranked)
        return None if best is None else _with_intermediate(conn, study, [best])[0]

    def done_results(self, study: str) -> list[tuple[int, dict[str, Any] | None]]:
        c.check_name(study, "study")

        def body(conn: sqlite3.Connection) -> list[tuple[int, dict[str, Any] | None]]:
            self._require_study(conn, study)
            return _light_results(conn, study)

        return self._read("done_results", body, snapshot=True)

    # ---- misc --------------------------------------------------------------------

    def now(self) -> float:
        return time.time()

    def close(self) -> None:
        if self._pid != os.getpid():  # forked, never used here: leave it to the parent
            self._closed = True
            _INHERITED.append(self._conn)
            return
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()
