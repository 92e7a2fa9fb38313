"""MongoDB backend (pymongo); ``mongomock://`` runs the same code in-process.

Collections of the database: ``studies`` (one document per study, ``_id`` = name, also
holding the study's ``next_tid`` and ``version`` counters), ``trials`` and ``meta``
(the index version, see :mod:`._mongo_schema`).

Design notes:

- **Concerns.** The store's own reads go to the primary with read concern
  ``majority``, its writes use write concern ``majority``, whatever the URL says
  (see :mod:`._mongo_connect` for why and what it costs); ``w=0`` is refused.
- **One clock.** Leases are judged by the database server's clock inside the query
  itself: writes stamp times with ``$$NOW`` (updates with aggregation pipelines,
  MongoDB 4.2+) and expiry is tested with ``$expr`` against ``$$NOW``, so no client
  clock takes part. Times are floats (epoch seconds, millisecond resolution) like the
  SQLite backend's. :meth:`now` estimates the server clock as ``local clock + offset``,
  the offset read from ``hello``'s ``localTime`` (a read: a read-only user can open the
  store); it stamps ``created_at`` and answers callers that ask for the time. mongomock
  cannot evaluate ``$$NOW``: there, in-process, the local clock is the server's.
- **Atomic claim.** One ``find_one_and_update({"state": "new", ...}, sort=...)``.
- **Idempotent retries.** Every trial write stamps a fresh write id (``wid``); a retry
  after a transient error first looks that id up on the primary's latest state, so a
  write whose acknowledgement was lost is neither applied twice nor lost (a claim that
  landed is returned, not leaked).
- **Change cursor, one round trip per write.** MongoDB has no multi-document
  transaction here, so a write only marks the trial ``version = -1`` ("pending")
  together with the change; readers number pending writes. :meth:`changes_since`
  (1) finds the pending trials; (2) numbers them: ``$inc`` the study's counter to
  ``v`` and stamp ``v`` on those still pending with the same ``wid`` (with nothing to
  number, it reads the counter ``v`` instead); (3) reads the trials pending or numbered
  above ``cursor``, and returns ``v``. Every number ``<= v`` was taken before (3),
  and a numbered write is stamped or still pending, so at (3) it is either pending or
  in the window: none is ever skipped. Numbers above ``v`` (another reader numbered
  those writes after our step 2) are read too, so every write acknowledged before the
  call is in its answer: a driver sees the trials it has just inserted even when a
  worker's pruner numbered them first (the next call returns them again: their
  number is above the returned cursor). A trial rewritten meanwhile has another
  ``wid`` and stays pending; a trial may be returned again by a later call. The steps
  share a causally consistent session, so a failover between them cannot serve an
  older snapshot.
- **Round trips.** claim 1, heartbeat 1, complete/fail/release 1; insert of a batch 2
  (allocate tids, insert); a changes_since poll 3, or 4 when it numbers writes; a
  settings write 3 (begin, mark the running trials, write: so that a
  result conditional on a setting needs no read, see :mod:`._mongo_settings`). The
  minimum per trial is therefore 2 (claim + complete) plus the driver's share of its
  batch insert and polls; a retry after a lost reply adds a lookup.
- **User values** are stored as native documents after a JSON round trip (so every
  backend returns the same values); keys holding ``.``, ``%``, NUL or a leading ``$``
  are percent-escaped so that any label is a valid field name. A value MongoDB cannot
  hold (a document over 16 MiB, an integer beyond 64 bits) raises
  :class:`~hpo_service.exceptions.UnstorableError` and writes nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlsplit

import bson
import pymongo
from bson.errors import InvalidDocument
from pymongo import ReadPreference, ReturnDocument, UpdateOne
from pymongo.cursor import Cursor
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteConcernError,
)

from hpo_service._common.processes import of_namespace_pattern
from hpo_service.exceptions import (
    SettingRecordedError,
    StoreAuthorizationError,
    StoreConnectionError,
    StoreError,
    StoreTransientError,
    StudyExistsError,
    StudyNotFoundError,
    TrialNotFoundError,
    UnstorableError,
)
from hpo_service.store import _common as c
from hpo_service.store import _mongo_schema as schema
from hpo_service.store import _mongo_settings as mongo_settings
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
from hpo_service.store._mongo_connect import (
    NO_SNAPSHOT_CODES,
    RAISE_THE_WAIT,
    check_version,
    hello,
    local_reads,
    make_client,
    pinned_options,
    snapshot_reads,
    unreachable_message,
)
from hpo_service.store._retry import RetryPolicy
from hpo_service.store._snapshot_retry import SnapshotRetry
from hpo_service.store._url import (
    make_scrubber,
    mask_url,
    option_names,
    parse_mongomock_url,
)

_logger = logging.getLogger(__name__)

_T = TypeVar("_T")

DEFAULT_DATABASE = "hpo"

_PENDING = -1  # version of a trial whose latest write has not been numbered yet
_CLOCK_REFRESH = 60.0  # seconds between two readings of the server clock
_AFTER = ReturnDocument.AFTER
_TOUCH = {"updated_at": 0.0}  # ``times`` of a write that stamps a study's update

#: The server's clock as float epoch seconds, evaluated by the server per operation.
_NOW: dict[str, Any] = {"$divide": [{"$toLong": "$$NOW"}, 1000]}

# Filters name their most selective field first: the server does not care, but
# mongomock tests them document by document and stops at the first mismatch.

# Server error codes that mean "primary changed, shutting down, or replication is
# slow: try again" (64: write concern timed out; the write may have landed, which the
# retry's write-id lookup handles).
# The codes pymongo's retryable-writes helpers name (helpers_shared's
# _RETRYABLE_ERROR_CODES: not primary, recovering, shutting down, network) and 64.
_TRANSIENT_CODES = frozenset(
    {6, 7, 64, 89, 91, 134, 189, 262, 9001, 10058, 10107, 11600, 11602, 13435, 13436}
)
# What may still pass after the retries gave up, besides those: OutOfDiskSpace,
# MaxTimeMSExpired (a loaded server), a conflict with another operation
# (WriteConflict 112, LockTimeout 24, LockBusy 46, ConflictingOperationInProgress
# 117, Interrupted 11601), a read whose cursor a stepdown or restart killed
# (CursorNotFound 43, QueryPlanKilled 175, CursorKilled 237: read again, it passes),
# and any write-concern error.
_LATER_CODES = _TRANSIENT_CODES | {14031, 50, 112, 24, 46, 117, 11601, 43, 175, 237}
_LATER_LABELS = ("RetryableWriteError", "TransientTransactionError")
_FINISHED_VALUES = [state.value for state in TrialState if state.is_finished()]
#: What :meth:`MongoTrialStore.last_steps` reads of a trial (see ``_kept_last_step``).
_LAST_STEP_FIELDS = dict.fromkeys(
    ("tid", "state", "token", "intermediate_token", "last_step", "last_step_token"), 1
) | {"_id": 0}
#: What it reads of a trial whose reports an older version wrote (no ``last_step``).
_OLD_LAST_STEP_FIELDS = dict.fromkeys(
    ("tid", "state", "token", "intermediate", "intermediate_token"), 1
) | {"_id": 0}
#: What :meth:`MongoTrialStore.reports_since` reads of a trial (see ``_intermediate``).
_REPORT_FIELDS = dict.fromkeys(
    ("tid", "state", "version", "token", "intermediate", "intermediate_token"), 1
)
_TID_ONLY = {"$project": {"_id": 0, "tid": 1}}


def _summary_facets() -> dict[str, list[dict[str, Any]]]:
    """The parts of :meth:`MongoTrialStore.summarise`'s aggregate.

    A ``$facet`` answers with one document, which MongoDB caps at 16 MB: every part
    is a count or a list of bounded length, and trials are named by tid only (read
    whole afterwards), so the answer does not grow with the study.
    """
    return {
        "counts": [{"$group": {"_id": "$state", "n": {"$sum": 1}}}],
        "running": [
            {"$match": {"state": "running"}},
            {"$sort": {"tid": 1}},
            {"$limit": summary.RUNNING_SHOWN},
            _TID_ONLY,
        ],
        "failed": [
            {"$match": {"state": "done", "result.status": "fail"}},
            {"$count": "n"},
        ],
        # A positive constraint (a number, or any element of a list: MongoDB's
        # array matching) makes a done trial infeasible; NaN matches no comparison.
        "infeasible": [
            {"$match": {"state": "done", "result.constraints": {"$gt": 0}}},
            {"$count": "n"},
        ],
        "codes": [
            {"$match": {"code": {"$ne": None}}},
            {"$group": {"_id": "$code", "n": {"$sum": 1}, "first": {"$min": "$tid"}}},
            {"$sort": {"first": 1}},
            {"$limit": summary.CODES_SHOWN},
        ],
        # the best trial (the order of the ``best`` index), and whether done trials
        # written before rank fields existed need reading
        "top": [
            {"$match": {"state": "done", "best_loss": {"$ne": None}}},
            {"$sort": {"best_violation": 1, "best_loss": 1, "tid": 1}},
            {"$limit": 1},
            _TID_ONLY,
        ],
        "unranked": [
            {"$match": {"state": "done", "best_loss": {"$exists": False}}},
            {"$count": "n"},
        ],
    }


# :meth:`MongoTrialStore.trial_keys`'s aggregate: distinct keys and lengths only
# (a few per label or key), so its one answer document stays small.
_KEYS_FACETS: dict[str, list[dict[str, Any]]] = {
    "params": [
        {"$project": {"k": {"$objectToArray": "$params"}}},
        {"$unwind": "$k"},
        {"$group": {"_id": "$k.k"}},
    ],
    "results": [
        {"$match": {"result": {"$type": "object"}}},
        {
            "$project": {
                "p": {"$eq": ["$result.status", "pruned"]},
                "k": {"$objectToArray": "$result"},
            }
        },
        {"$unwind": "$k"},
        {"$group": {"_id": {"k": "$k.k", "p": "$p"}}},
    ],
    "losses": [
        {"$match": {"result.loss": {"$type": "array"}}},
        {"$group": {"_id": {"$size": "$result.loss"}, "tid": {"$min": "$tid"}}},
    ],
    "constraints": [
        {"$match": {"result.constraints": {"$exists": True, "$ne": None}}},
        {
            "$group": {
                "_id": None,
                "n": {
                    "$max": {
                        "$cond": [
                            {"$isArray": "$result.constraints"},
                            {"$size": "$result.constraints"},
                            1,
                        ]
                    }
                },
            }
        },
    ],
}


#: Documents :meth:`MongoTrialStore.export_trials` reads per round trip of its one
#: cursor: the most it holds at once (a few MB of wide trials).
_EXPORT_BATCH = 500

_DUPLICATE_KEY = 11000
_UNAUTHORIZED = 13
# Refusals of the user, not of the moment: Unauthorized, AuthenticationFailed.
_REFUSED = frozenset({_UNAUTHORIZED, 18})
# "document too large": BSONObjectTooLarge, and an update whose result would be.
_TOO_LARGE_CODES = frozenset({10334, 17419, 17420})
_MAX_DOCUMENT = 16 * 1024 * 1024  # MongoDB's document size limit, unless hello says
_TRIAL_ROOM = 16 * 1024  # bytes a result leaves for the rest of its trial
_BACKFILL_BATCH = 1000  # done trials ranked per round trip by an index migration
# Write ids numbered per update: 44 bytes each in BSON, a command must fit in 16 MB
# (a backlog of writes that no reader numbered for long, e.g. workers on a queue
# filled before the driver stopped, can exceed 300,000).
_WIDS_PER_UPDATE = 50_000
#: Trials given their config per bulk write (a config of a wide space is a few kB).
_CONFIGS_PER_WRITE = 1_000
# Tids (or attachment ids) named per command's ``$in``: 100,000 are about 1.3 MB of
# BSON (2 MB of ids), well inside a command's 16 MB, where a million tids (a worker
# cancelling a long queue, ``pareto_trials`` of a large front) are not.
_IDS_PER_COMMAND = 100_000


@dataclasses.dataclass(frozen=True)
class _Passing:
    """Which driver errors may pass if the operation is tried again.

    Attributes:
        codes: Server error codes that may pass.
        labels: Error labels that mark an error as one that may pass.
        any_write_concern: Whether every write-concern error may pass, whatever
            its code.
    """

    codes: frozenset[int]
    labels: tuple[str, ...]
    any_write_concern: bool


#: What is retried at once: a dropped connection, an election, a slow replication.
_RETRY_NOW = _Passing(_TRANSIENT_CODES, ("RetryableWriteError",), False)
#: What may still pass after the retries gave up (:class:`StoreTransientError`).
_PASS_LATER = _Passing(_LATER_CODES, _LATER_LABELS, True)


def _may_pass(exc: BaseException, passing: _Passing) -> bool:
    """Whether the driver error ``exc`` is one that ``passing`` says may pass.

    A bulk write passes only if each of its write errors may; duplicate keys are
    left out (the caller decides whether they are its own earlier attempt).
    """
    if isinstance(exc, ConnectionFailure):
        return True
    if isinstance(exc, WriteConcernError) and passing.any_write_concern:
        return True
    if isinstance(exc, BulkWriteError):
        return _bulk_may_pass(exc.details, passing)
    if isinstance(exc, OperationFailure):  # WriteConcernError too: code of the WCE
        labelled = any(map(exc.has_error_label, passing.labels))
        return exc.code in passing.codes or labelled
    return False


def _bulk_may_pass(details: Mapping[str, Any], passing: _Passing) -> bool:
    """A bulk write failed, and only by errors that ``passing`` says may pass."""
    codes = {e.get("code") for e in details.get("writeErrors", [])}
    codes.discard(_DUPLICATE_KEY)
    concern = {e.get("code") for e in details.get("writeConcernErrors", [])}
    if not passing.any_write_concern:
        codes |= concern
    return bool(codes or concern) and codes <= passing.codes


def _is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a dropped connection, an election or a slow replication."""
    return _may_pass(exc, _RETRY_NOW)


def _only_duplicates(exc: BulkWriteError) -> bool:
    """Every write failed as a duplicate key and replication was confirmed."""
    errors = exc.details.get("writeErrors", [])
    return (
        bool(errors)
        and not exc.details.get("writeConcernErrors")
        and all(e.get("code") == _DUPLICATE_KEY for e in errors)
    )


# ---- value encoding ----------------------------------------------------------------


def _escape_key(key: str) -> str:
    if not any(ch in key for ch in ".%\x00") and not key.startswith("$"):
        return key
    key = key.replace("%", "%25").replace(".", "%2E").replace("\x00", "%00")
    return "%24" + key[1:] if key.startswith("$") else key


def _escape(value: Any) -> Any:
    if isinstance(value, dict):
        return {_escape_key(k): _escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise UnstorableError(
            f"integers stored in MongoDB must fit in 64 bits, but got {value}"
        )
    return value


def _unescape(value: Any) -> Any:
    if isinstance(value, dict):
        return {(unquote(k) if "%" in k else k): _unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    return value


def _unescaped_keys(value: Any) -> Any:
    """A stored dict with its own keys unescaped (not its values'): what
    :class:`~hpo_service.store._common.KeysGatherer` reads of params and results."""
    if not isinstance(value, dict):
        return value
    return {(unquote(k) if "%" in k else k): v for k, v in value.items()}


def _close(cursor: Iterator[Any] | None) -> None:
    """Close a pymongo cursor (its server side too); anything else is left."""
    if isinstance(cursor, Cursor):
        cursor.close()


def _encode(value: Any, what: str) -> Any:
    return _escape(c.normalise(value, what))


def _tid_range(first_tid: int, end_tid: int | None) -> dict[str, Any]:
    """The query of the tids ``[first_tid, end_tid)`` (``end_tid`` None: no upper
    bound; an empty query for all of them)."""
    bounds: dict[str, int] = {"$gte": first_tid} if first_tid else {}
    if end_tid is not None:
        bounds["$lt"] = end_tid
    return {"tid": bounds} if bounds else {}


def _trial(doc: dict[str, Any]) -> Trial:
    return Trial(
        study=doc["study"],
        tid=doc["tid"],
        state=TrialState(doc["state"]),
        params=_unescape(doc["params"]),
        config=_unescape(doc["config"]),
        owner=doc.get("owner"),
        token=doc.get("token"),
        attempts=doc.get("attempts", 0),
        lease_expires_at=doc.get("lease_expires_at"),
        created_at=doc.get("created_at"),
        started_at=None if doc.get("token") is None else doc.get("started_at"),
        finished_at=doc.get("finished_at"),
        result=_unescape(doc.get("result")),
        error=_unescape(doc.get("error")),
        version=doc["version"],
        intermediate=_intermediate(doc),
        code=_unescape(doc.get("code")),
    )


def _running(doc: dict[str, Any]) -> summary.RunningTrial:
    """A listed running trial from its document's :data:`_RUNNING_FIELDS`."""
    fields = {name: doc.get(name) for name in summary.RUNNING_FIELDS}
    return summary.RunningTrial(**{**fields, "attempts": doc.get("attempts", 0)})


def _intermediate(doc: dict[str, Any]) -> dict[int, float]:
    """A trial document's intermediate values, if they belong to its current attempt.

    Reports are kept in ``intermediate`` (``{"<step>": value}``) with the token of the
    attempt that wrote them in ``intermediate_token``; an old attempt's are ignored.
    """
    token = doc.get("token")
    if token is None or doc.get("intermediate_token") != token:
        return {}
    values = doc.get("intermediate") or {}
    return {int(step): float(value) for step, value in values.items()}


def _last_step(doc: dict[str, Any]) -> int | None:
    """The highest step of a trial document's current attempt's reports (the rule
    of ``_intermediate``), from the reports' keys, no value decoded; None without
    any."""
    token = doc.get("token")
    if token is None or doc.get("intermediate_token") != token:
        return None
    return max(map(int, doc.get("intermediate") or {}), default=None)


def _last_step_fields(top: int, token: str) -> dict[str, Any]:
    """The fields that start an attempt's reports beside ``intermediate``: its
    token, and its highest step so far (``top``) kept under the same token."""
    return {"intermediate_token": token, "last_step": top, "last_step_token": token}


_UNKEPT = object()  # ``_kept_last_step``: the reports must be read to say


def _kept_last_step(doc: dict[str, Any]) -> int | object | None:
    """The highest step of the current attempt's reports from the ``last_step``
    kept beside them (``_LAST_STEP_FIELDS``), None without reports, or ``_UNKEPT``
    when an older version wrote them (no ``last_step`` under the attempt's token).

    A report keeps its attempt's highest step in ``last_step`` with the attempt's
    token in ``last_step_token``, in the update that writes it (``report_many``):
    a requeued trial's new attempt starts both afresh, a stale attempt's report is
    refused with its write, and reports an older version wrote under the current
    token leave ``last_step_token`` on another attempt (or unset), so they are
    never taken for this attempt's.
    """
    token = doc.get("token")
    if token is None or doc.get("intermediate_token") != token:
        return None
    if doc.get("last_step_token") != token:
        return _UNKEPT
    return int(doc["last_step"])


def _rank_fields(result: Any) -> dict[str, Any]:
    """The ``best_violation`` and ``best_loss`` fields of a done trial (both None
    when its result has no single loss), which the ``best`` index orders.

    Every done write sets them, so a done trial without them was written before
    they existed (read whole by :meth:`MongoTrialStore.best_trial`).
    """
    rank = summary.rank_of(_unescape(result))
    violation, loss = (None, None) if rank is None else rank
    return {"best_violation": violation, "best_loss": loss}


_LIGHT_FIELDS = {"tid": 1, **{f"result.{k}": 1 for k in summary.LIGHT_KEYS}}
#: What attachment sizes read of an attachment (its data only if it has no size).
_SIZE_FIELDS = {"name": 1, "size": 1}
_DONE = TrialState.DONE.value
_RUN = TrialState.RUNNING
#: What :meth:`MongoTrialStore.summarise` and ``running_trials`` read of a running
#: trial (and its state: it may have finished since summarise's aggregate named it).
_RUNNING_FIELDS = dict.fromkeys(("state", *summary.RUNNING_FIELDS), 1)


def _tids_filter(tids: list[int]) -> dict[str, Any]:
    """A filter on ``tid``: one of ``tids``; a range when they are contiguous (an
    index range scan instead of a seek per tid: a window of ``hpo-driver trials``)."""
    if tids and max(tids) - min(tids) + 1 == len(set(tids)) == len(tids):
        return {"$gte": min(tids), "$lte": max(tids)}
    return {"$in": tids}


def _batches(values: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """``values`` in consecutive slices of at most ``size``: one command each, so that
    no command grows with the study."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _by_tids(query: dict[str, Any], tids: list[int]) -> list[dict[str, Any]]:
    """``query`` narrowed to ``tids`` (distinct, ascending), one query per batch of
    :data:`_IDS_PER_COMMAND` tids: one command each."""
    batches = _batches(sorted(set(tids)), _IDS_PER_COMMAND)
    return [{**query, "tid": _tids_filter(list(batch))} for batch in batches]


def _code_field(code: dict[str, Any] | None) -> dict[str, Any]:
    """The ``code`` field of a finished attempt (none when not given)."""
    return {} if code is None else {"code": _encode(c.check_dict(code, "code"), "code")}


def _study(doc: dict[str, Any]) -> Study:
    return Study(
        name=doc["_id"],
        settings=_unescape(doc["settings"]),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        driver_owner=doc.get("driver_owner"),
        driver_lease_expires_at=doc.get("driver_lease_expires_at"),
        next_tid=int(doc.get("next_tid", 0)),
    )


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:  # pymongo returns naive UTC by default
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _trial_not_found(study: str, tid: int) -> TrialNotFoundError:
    return TrialNotFoundError(
        f"`tid` must name a trial of study {study!r}, but got tid={tid!r}"
    )


def _study_not_found(name: str) -> StudyNotFoundError:
    return StudyNotFoundError(
        f"`study` must name an existing study, but got study={name!r}"
    )


def _short(exc: PyMongoError) -> str:
    """The server's own message of ``exc`` (not the full reply), on one line."""
    details = getattr(exc, "details", None)
    text = str(details.get("errmsg") or exc) if isinstance(details, dict) else str(exc)
    hint = " (check user, password and authSource)" if "authentication" in text else ""
    return text.splitlines()[0][:300] + hint


def _url_user(url: str) -> str | None:
    """The user named in a MongoDB URL, or None."""
    try:
        user = urlsplit(url).username
    except ValueError:
        return None
    return None if not user else unquote(user)


def _rights_advice(message: str, database: str) -> str:
    """The server's "unauthorized" ``message`` and what the operator can do."""
    if "requires authentication" in message:
        return (
            f"{message}: the server requires authentication: put a user in the URL "
            "(mongodb://USER:PASSWORD@host/...; authSource= names the database "
            "that defines the user, if not this one)"
        )
    return (
        f"{message}: the URL's user may not do this: `hpo-driver start`, "
        f"`hpo-worker` and `hpo-driver cancel` need the readWrite role on database "
        f"{database!r}; status, best and trials need only read"
    )


def _session_kw(session: Any) -> dict[str, Any]:
    return {} if session is None else {"session": session}


# ---- mongomock -----------------------------------------------------------------------


class _LockedCollection:
    """A collection whose every call holds one lock: mongomock is not thread-safe.

    ``find`` returns a list, materialised under the lock.
    """

    def __init__(self, collection: Any, lock: threading.RLock) -> None:
        self._collection = collection
        self._lock = lock

    def find(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._collection.find(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._collection, name)

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return locked


_MOCK_SERVERS: dict[str, tuple[Any, threading.RLock]] = {}
_MOCK_GUARD = threading.Lock()


def _mock_server(name: str) -> tuple[Any, threading.RLock]:
    try:
        import mongomock
    except ImportError as e:  # in the `test` extra, not a runtime dependency
        raise ImportError(
            "`mongomock://` URLs need mongomock, in the test extra: "
            'pip install "hpo-service[test]" (or pip install mongomock)'
        ) from e

    with _MOCK_GUARD:
        if name not in _MOCK_SERVERS:
            _MOCK_SERVERS[name] = (mongomock.MongoClient(), threading.RLock())
        return _MOCK_SERVERS[name]


def drop_mongomock_server(name: str) -> None:
    """Forget the in-process server ``mongomock://name`` and its data (for tests)."""
    with _MOCK_GUARD:
        _MOCK_SERVERS.pop(name, None)


def open_mongomock(url: str, **options: Any) -> MongoTrialStore:
    """Open a store on the in-process server named by ``mongomock://name[/db]``.

    Raises:
        ValueError: The URL is malformed or an option is unknown.
        ImportError: mongomock (the ``test`` extra) is not installed.
    """
    name, database = parse_mongomock_url(url)
    database = options.pop("database", None) or database or DEFAULT_DATABASE
    retry_timeout = options.pop("retry_timeout", 30.0)
    options.pop("create", None)  # opening never writes: nothing to create
    if options:
        raise ValueError(
            "`options` of a mongomock:// store must be among database, "
            f"retry_timeout, create, but got {', '.join(sorted(options))}"
        )
    client, lock = _mock_server(name)
    return MongoTrialStore(
        client,
        database,
        description=url,
        retry_timeout=retry_timeout,
        lock=lock,
        owns_client=False,
    )


# ---- pymongo -------------------------------------------------------------------------


SOCKET_TIMEOUT = 60.0
"""Seconds a reply may take before the connection is dropped and the call retried
(``socketTimeoutMS``, unless the URL gives it or ``timeoutMS``). pymongo's default
waits for ever, so a server that stalls with its connections open (a frozen primary,
a stuck disk) hung every command and worker without a word. The store's commands are
bounded (windowed reads, batched writes, ``wtimeoutMS`` 10 s), so a healthy server
answers each well within it."""


MONITORING_MODE = "poll"
"""pymongo's ``serverMonitoringMode`` unless the URL gives it. A "not primary" answer
(NotWritablePrimary 10107, PrimarySteppedDown 189, ...) marks the server unknown and
asks its monitor for a check at once; a streaming monitor (pymongo's default) is
then blocked in an awaited ``hello`` that the server answers only when its state
changes or after ``heartbeatFrequencyMS`` (10 s), so the retried call waited for a
primary about 10 s (8.5-9.7 s measured, ``benchmarks/not_primary_stall.py``) even
though the server could take writes again. A polling monitor checks within 0.5 s
(pymongo's minimum interval), and while a call waits for a primary every 0.5 s;
otherwise one ``hello`` every ``heartbeatFrequencyMS``, as streaming does (and
without streaming's second connection, the round-trip-time monitor)."""


MIGRATION_TIMEOUT = 3600.0
"""Seconds the index migration of an upgrade may take (it replaces
:data:`SOCKET_TIMEOUT` and the URL's timeouts there): building an index on a trials
collection of millions of documents can take minutes, and a createIndexes cut short
and retried would only wait on the same build again."""


def _migrate(collections: dict[str, Any]) -> None:
    """:func:`~hpo_service.store._mongo_schema.migrate`, its commands allowed
    :data:`MIGRATION_TIMEOUT` (pymongo's client-side operation timeout, which
    overrides ``socketTimeoutMS`` inside it)."""
    with pymongo.timeout(MIGRATION_TIMEOUT):
        schema.migrate(collections)


def open_mongodb(url: str, **options: Any) -> MongoTrialStore:
    """Open a store on the MongoDB deployment of a ``mongodb[+srv]://`` URL.

    Opening reads only (one ``hello`` of any member for reachability, version and
    clock): it writes nothing and creates no database, and it rides out an election.
    It waits for a member to answer up to the connect timeout, or ``open_timeout``
    seconds when that is shorter (``--wait-for-store``'s attempts); a connection
    refused on every address ends it at once.

    Raises:
        ValueError: The URL or an option is invalid, or it asks for ``w=0``.
        StoreConnectionError: Every address refused the connection, no member
            answered within the wait, or the server is older than MongoDB 4.2.
        StoreAuthorizationError: The server refused the URL's user (a wrong user,
            password or authSource): not retried.
    """
    options.pop("create", None)  # opening never writes: nothing to create
    retry_timeout = options.pop("retry_timeout", 30.0)
    connect_timeout = c.check_positive(
        options.pop("connect_timeout", 10.0), "connect_timeout"
    )
    database = options.pop("database", None)
    open_timeout = options.pop("open_timeout", None)
    if open_timeout is not None:
        open_timeout = c.check_positive(open_timeout, "open_timeout")
    given = option_names(url, options)
    if "serverselectiontimeoutms" not in given:
        options["serverSelectionTimeoutMS"] = int(connect_timeout * 1000)
    if not {"sockettimeoutms", "timeoutms"} & given:
        options["socketTimeoutMS"] = int(SOCKET_TIMEOUT * 1000)
    if "servermonitoringmode" not in given:
        options["serverMonitoringMode"] = MONITORING_MODE
    client = make_client(url, options)
    if database is None:  # the URL's path, as pymongo parses it
        database = client.get_default_database(DEFAULT_DATABASE).name
    seconds = client.options.server_selection_timeout
    return MongoTrialStore(
        client,
        database,
        description=url,
        retry_timeout=retry_timeout,
        scrub=make_scrubber(url),
        reconnect=lambda: make_client(url, options),
        connect_timeout=seconds,
        open_timeout=seconds if open_timeout is None else min(seconds, open_timeout),
    )


# ---- the store -----------------------------------------------------------------------


class MongoTrialStore(BaseTrialStore):
    """Trials store in a MongoDB database (or mongomock), for any number of machines.

    Args:
        client: A ``pymongo.MongoClient`` or a mongomock client.
        database: Database name.
        description: The URL, shown masked in messages.
        retry_timeout: Seconds transient errors are retried before giving up.
        scrub: Removes secrets from error text.
        lock: Held around every collection call (mongomock); None for pymongo.
        owns_client: Whether :meth:`close` closes the client.
        reconnect: Makes a new client in a forked child process (a pymongo client
            must not cross ``fork()``); None keeps the client.
        connect_timeout: Seconds pymongo waits to find a usable server (for messages).
        open_timeout: Seconds opening waits for a member to answer (default:
            ``connect_timeout``).
    """

    def __init__(
        self,
        client: Any,
        database: str,
        *,
        description: str,
        retry_timeout: float = 30.0,
        scrub: Callable[[str], str] | None = None,
        lock: threading.RLock | None = None,
        owns_client: bool = True,
        reconnect: Callable[[], Any] | None = None,
        connect_timeout: float = 10.0,
        open_timeout: float | None = None,
    ) -> None:
        self._reconnect = reconnect
        self._database = c.check_name(database, "database")
        self._description = mask_url(description)
        self._user = _url_user(description)
        self._retry = RetryPolicy(timeout=retry_timeout)
        self._scrub = scrub or make_scrubber(description)
        self._lock = lock
        self._owns_client = owns_client
        self._connect_timeout = connect_timeout
        self._open_timeout = connect_timeout if open_timeout is None else open_timeout
        self._closed = False
        self._offset = 0.0
        self._offset_at = -math.inf
        self._schema_ready = False
        self._numbering_refused = False
        #: The study as read after each recent claim (``claim_with_study``).
        self._seen = mongo_settings.SeenAtClaim()
        #: When to ask for read concern "snapshot" (count_by_state) again after
        #: the server refused it.
        self._snapshot = SnapshotRetry()
        self._max_document = _MAX_DOCUMENT
        self._server_clock = lock is None  # mongomock cannot evaluate $$NOW
        self._local_time: Callable[[], float] = time.time  # a test hook
        self._bind(client)
        try:
            self._setup()
        except StoreConnectionError:
            self._close_client()
            raise
        except PyMongoError as exc:
            self._close_client()
            if isinstance(exc, OperationFailure) and exc.code in _REFUSED:
                raise self._refused_login(exc) from None  # waiting cannot fix it
            raise StoreConnectionError(
                f"MongoDB at {self._description} must be usable, but: "
                f"{self._scrub(_short(exc))}"
            ) from None
        _logger.debug("opened MongoDB store %s/%s", self._description, database)

    def __repr__(self) -> str:
        return f"MongoTrialStore({self._description!r}, database={self._database!r})"

    @property
    def database(self) -> str:
        """The name of the database that holds the store (``"hpo"`` by default)."""
        return self._database

    # ---- plumbing ----------------------------------------------------------------

    def _bind(self, client: Any) -> None:
        self._client = client
        self._pid = os.getpid()
        db = client[self._database]
        names = ("studies", "trials", "meta")
        if self._lock is None:
            pinned = pinned_options(client)
            self._studies, self._trials, self._meta = (
                db.get_collection(name, **pinned) for name in names
            )
            self._trials_latest = local_reads(self._trials)
            self._studies_latest = local_reads(self._studies)
            self._trials_at_once = snapshot_reads(self._trials)
        else:
            self._studies, self._trials, self._meta = (
                _LockedCollection(db[name], self._lock) for name in names
            )
            self._trials_latest, self._studies_latest = self._trials, self._studies
            self._trials_at_once = self._trials  # one lock: nothing interleaves

    def _setup(self) -> None:
        """Check that a server answers (reads only), its version, and its clock."""
        if not self._server_clock:
            self._offset_at = math.inf  # in-process: the local clock is the server's
            return
        advice = (  # cut short by the caller (--wait-for-store): say how to wait
            RAISE_THE_WAIT
            if self._open_timeout >= self._connect_timeout
            else "raise the wait with --wait-for-store or open_timeout"
        )
        reply = hello(self._client, self._description, self._open_timeout, advice)
        check_version(reply, self._description)
        self._max_document = int(reply.get("maxBsonObjectSize", _MAX_DOCUMENT))
        self._refresh_clock()

    def _close_client(self) -> None:
        if self._owns_client and self._pid == os.getpid():
            self._client.close()

    def _check_open(self) -> None:
        if self._closed:
            raise c.closed_error()
        if self._pid != os.getpid():  # forked: a client must not cross fork()
            self._bind(self._client if self._reconnect is None else self._reconnect())

    def _call_on(self, what: str, op: Callable[..., _T], *args: Any) -> _T:
        """:meth:`_call` of ``op(*args)``, its arguments bound now (a loop's)."""
        return self._call(what, lambda _: op(*args))

    def _call(self, what: str, op: Callable[[int], _T]) -> _T:
        """Run ``op(attempt)``, retrying transient errors; wrap driver errors.

        Raises:
            StoreConnectionError: Transient errors outlasted ``retry_timeout``.
            UnstorableError: A document is too large or holds what BSON cannot.
            StoreError: Any other driver error.
        """
        self._check_open()
        label = f"MongoDB store {self._description}: {doing(what)}"
        try:
            return self._retry.call(
                self._one_line_selection_errors(op),
                is_transient=_is_transient,
                what=label,
                scrub=self._scrub,
                doing=doing(what),
            )
        except InvalidDocument as exc:  # DocumentTooLarge is one; not a PyMongoError
            raise UnstorableError(f"{label}: cannot store it: {exc}") from None
        except PyMongoError as exc:
            if isinstance(exc, OperationFailure) and exc.code in _TOO_LARGE_CODES:
                raise UnstorableError(
                    f"{label}: cannot store it: {self._scrub(str(exc))}"
                ) from None
            detail = str(exc)
            if isinstance(exc, OperationFailure) and exc.code in _REFUSED:
                raise self._refusal(what, exc) from None
            text = self._scrub(f"{label} failed: {detail}")
            cause = exc if text == f"{label} failed: {detail}" else None
            kind = StoreTransientError if _may_pass(exc, _PASS_LATER) else StoreError
            raise kind(text) from cause

    def _refused_login(self, exc: OperationFailure) -> StoreAuthorizationError:
        """The error for a server that refused the URL's user at opening (a wrong
        user, password or authSource)."""
        return self._refused(
            "open",
            f"MongoDB at {self._description} refused {self._who()} (not retried): "
            f"{_short(exc)}",
        )

    def _refusal(self, what: str, exc: OperationFailure) -> StoreAuthorizationError:
        """The error for an operation the server refused to the URL's user."""
        advice = _rights_advice(_short(exc), self._database)
        return self._refused(
            what,
            f"MongoDB store {self._description}: {doing(what)} was refused to "
            f"{self._who()} on database {self._database!r} (not retried): {advice}",
        )

    def _who(self) -> str:
        """The URL's user as a refusal names it: ``user 'name'``, or a client
        without one."""
        if self._user is None:
            return "a client without a user (the URL names none)"
        return f"user {self._user!r}"

    def _refused(self, operation: str, message: str) -> StoreAuthorizationError:
        """A refusal of ``operation`` to the URL's user, its message scrubbed of the
        password."""
        return StoreAuthorizationError(
            self._scrub(message),
            user=self._user,
            database=self._database,
            operation=operation,
        )

    def _one_line_selection_errors(
        self, op: Callable[[int], _T]
    ) -> Callable[[int], _T]:
        """``op`` whose server-selection timeouts say in one line what went wrong."""

        def run(attempt: int) -> _T:
            try:
                return op(attempt)
            except ServerSelectionTimeoutError:
                raise AutoReconnect(
                    unreachable_message(
                        self._client, self._description, self._connect_timeout
                    )
                ) from None

        return run

    @contextlib.contextmanager
    def _causal(self) -> Iterator[Any]:
        """A causally consistent session for a sequence of reads (None: mongomock)."""
        if self._lock is not None:
            yield None
            return
        self._check_open()
        with self._client.start_session(causal_consistency=True) as session:
            yield session

    def _require_study(self, name: str, session: Any = None) -> dict[str, Any]:
        doc = self._call(
            "read study",
            lambda _: self._studies.find_one({"_id": name}, **_session_kw(session)),
        )
        if doc is None:
            raise _study_not_found(name)
        return doc

    def _require_trial(self, study: str, tid: int) -> None:
        doc = self._call(
            "read trial",
            lambda _: self._trials.find_one({"tid": tid, "study": study}, {"_id": 1}),
        )
        if doc is None:
            self._require_study(study)
            raise _trial_not_found(study, tid)

    def _ensure_schema(self, *, creating: bool = False) -> None:
        """Create or migrate the indexes before this store's first write.

        ``creating``: a study is being created. Otherwise a database with no study
        is left untouched (a worker polling an empty database creates nothing).
        """
        if self._schema_ready:
            return
        version = self._call("read meta", lambda _: schema.stored_version(self._meta))
        if version < schema.INDEX_VERSION:
            if not creating and self._no_study_yet():
                return
            collections = {
                "trials": self._trials,
                "attachments": self._attachment_docs(),
            }
            self._call("migrate indexes", lambda _: _migrate(collections))
            self._backfill_ranks()
            meta = self._meta
            self._call("record index version", lambda _: schema.record_version(meta))
        self._schema_ready = True

    def _backfill_ranks(self) -> int:
        """Give done trials written before the ``best`` index their rank fields, in
        batches of :data:`_BACKFILL_BATCH` (one ``find`` of their light results and
        one ``bulk_write``, by ``_id``); return how many this store ranked.

        Resumable (it ranks what is still unranked) and safe beside another store
        doing the same (each update applies only to a trial still unranked).
        """
        unranked = {"state": _DONE, "best_loss": {"$exists": False}}
        last, ranked = None, 0
        while True:
            query = unranked if last is None else {**unranked, "_id": {"$gt": last}}
            docs = self._call_on(
                "rank done trials",
                lambda q: list(
                    self._trials.find(
                        q, _LIGHT_FIELDS, sort=[("_id", 1)], limit=_BACKFILL_BATCH
                    )
                ),
                query,
            )
            if not docs:
                return ranked
            updates = [
                (
                    {"_id": doc["_id"], "best_loss": {"$exists": False}},
                    {"$set": _rank_fields(doc.get("result"))},
                )
                for doc in docs
            ]
            ranked += self._call_on("rank done trials", self._update_each, updates)
            last = docs[-1]["_id"]

    def _update_each(self, updates: list[tuple[dict[str, Any], Any]]) -> int:
        """Apply ``(filter, update)`` pairs in one ``bulk_write``; return how many
        documents changed."""
        if self._lock is not None:  # mongomock's bulk_write refuses pymongo's UpdateOne
            return sum(self._trials.update_one(q, u).modified_count for q, u in updates)
        writes = [UpdateOne(query, update) for query, update in updates]
        return int(self._trials.bulk_write(writes, ordered=False).modified_count)

    def _no_study_yet(self) -> bool:
        probe = self._call(
            "probe studies", lambda _: self._studies.find_one({}, {"_id": 1})
        )
        return probe is None

    # ---- clock -------------------------------------------------------------------

    def _measure_offset(self) -> float:
        """Server clock minus local clock, from the faster of two ``hello`` replies."""
        best_rtt, best = math.inf, 0.0
        for _ in range(2):
            before = self._local_time()
            reply = self._client.admin.command(
                "hello", read_preference=ReadPreference.NEAREST
            )
            after = self._local_time()
            if after - before < best_rtt:
                # BSON dates truncate to the millisecond: add half of one.
                server = _epoch(reply["localTime"]) + 0.0005
                best_rtt, best = after - before, server - (before + after) / 2
        return best

    def _refresh_clock(self) -> None:
        self._offset = self._call(
            "read the server clock", lambda _: self._measure_offset()
        )
        self._offset_at = time.monotonic()

    def now(self) -> float:
        if time.monotonic() - self._offset_at > _CLOCK_REFRESH:
            try:
                self._refresh_clock()
            except StoreConnectionError as exc:  # keep the last offset, try later
                _logger.warning("could not re-read the server clock: %s", exc)
                self._offset_at = time.monotonic()
        return self._local_time() + self._offset

    def _update(
        self,
        fields: dict[str, Any],
        *,
        times: dict[str, float] | None = None,
        inc: dict[str, int] | None = None,
    ) -> Any:
        """An update that sets ``fields``, ``times`` and increments ``inc``.

        ``times`` maps a field to seconds after the server's "now". On a server this is
        a pipeline evaluating ``$$NOW``; values go in as ``$literal`` (a string starting
        with ``$`` stays a string) after unsetting dict fields (so a new dict replaces
        the old one instead of merging into it).
        """
        times, inc = times or {}, inc or {}
        if not self._server_clock:
            now = self.now()
            update: dict[str, Any] = {
                "$set": {**fields, **{k: now + dt for k, dt in times.items()}}
            }
            return {**update, "$inc": inc} if inc else update
        stage = {k: {"$literal": v} for k, v in fields.items()}
        stage |= {k: {"$add": [_NOW, dt]} for k, dt in times.items()}
        stage |= {k: {"$add": [f"${k}", n]} for k, n in inc.items()}
        replaced = [k for k, v in fields.items() if isinstance(v, dict)]
        return ([{"$unset": replaced}] if replaced else []) + [{"$set": stage}]

    def _before_now(self, field: str) -> dict[str, Any]:
        """A filter: ``field`` holds a time earlier than the server's "now"."""
        if not self._server_clock:
            return {field: {"$lt": self.now()}}
        return {field: {"$ne": None}, "$expr": {"$lt": [f"${field}", _NOW]}}

    # ---- versioned writes ----------------------------------------------------------

    def _stamped(
        self,
        fields: dict[str, Any],
        wid: str,
        *,
        times: dict[str, float] | None = None,
        inc: dict[str, int] | None = None,
    ) -> Any:
        """:meth:`_update` that also marks the write pending under write id ``wid``."""
        marks = {"version": _PENDING, "wid": wid}
        return self._update(
            {**fields, **marks}, times={**(times or {}), "written_at": 0.0}, inc=inc
        )

    def _number(
        self, study: str, pending: list[dict[str, Any]], session: Any
    ) -> int | None:
        """Give the writes seen ``pending`` the study's next version; return it.

        Returns None when there is nothing to number or numbering is refused (a
        read-only role): those writes stay pending and later calls return them again,
        which callers accept. A trial rewritten since carries another write id and
        stays pending too.

        Raises:
            StudyNotFoundError: No such study.
        """
        wids = sorted({doc["wid"] for doc in pending})
        if not wids or self._numbering_refused:
            return None
        try:
            doc = self._call(
                "allocate a version",
                lambda _: self._studies.find_one_and_update(
                    {"_id": study},
                    {"$inc": {"version": 1}},
                    projection={"version": 1},
                    return_document=_AFTER,
                    **_session_kw(session),
                ),
            )
        except StoreAuthorizationError as exc:
            self._numbering_refused = True  # a reader: others number the writes
            _logger.debug("may not number %d pending writes: %s", len(wids), exc)
            return None
        if doc is None:
            raise _study_not_found(study)
        version = int(doc["version"])
        for chunk in _batches(wids, _WIDS_PER_UPDATE):  # a command's 16 MB
            self._call_on(
                "number pending writes",
                lambda chunk: self._trials.update_many(
                    {"version": _PENDING, "study": study, "wid": {"$in": chunk}},
                    {"$set": {"version": version}},
                    **_session_kw(session),
                ),
                chunk,
            )
        return version

    def _write_one(
        self,
        what: str,
        query: dict[str, Any],
        update: Any,
        *,
        wid: str,
        lookup: dict[str, Any],
        sort: list[tuple[str, int]] | None = None,
        recheck: bool = False,
    ) -> dict[str, Any] | None:
        """Apply ``update`` (stamped ``wid``) to the first trial matching ``query``.

        ``lookup`` (with the write id added) finds the trial if a retried attempt
        had in fact landed. With ``recheck``, a write that matched nothing looks
        for its id once more: an earlier send of it (pymongo's own retry, or ours
        after a lookup that came too early) may have landed in between and made
        the trial no longer match ``query``. Returns the written trial, or None.
        """

        def landed() -> dict[str, Any] | None:
            return self._trials_latest.find_one({**lookup, "wid": wid})

        def attempt(n: int) -> dict[str, Any] | None:
            if n > 0 and (doc := landed()) is not None:
                return doc
            doc = self._trials.find_one_and_update(
                query, update, sort=sort, return_document=_AFTER
            )
            return landed() if doc is None and recheck else doc

        return self._call(what, attempt)

    def _write_many(
        self,
        what: str,
        study: str,
        queries: list[dict[str, Any]],
        update: Any,
        wid: str,
    ) -> int:
        """Apply ``update`` (stamped with ``wid``) to every trial matching one of
        ``queries`` (one command each); count them.

        Each query must exclude the trials it changed (for example by state), so that
        a retry leaves the already changed ones as they are.
        """
        for query in queries:
            self._call_on(what, lambda q: self._trials.update_many(q, update), query)
        mine = {"wid": wid, "study": study}
        return int(
            self._call(what, lambda _: self._trials_latest.count_documents(mine))
        )

    # ---- studies -----------------------------------------------------------------

    def create_study(self, name: str, settings: dict[str, Any]) -> Study:
        c.check_name(name, "name")
        encoded = _encode(c.check_dict(settings, "settings"), "settings")
        self._ensure_schema(creating=True)
        now = self.now()
        wid = uuid.uuid4().hex
        doc = {
            "_id": name,
            "settings": encoded,
            "created_at": now,
            "updated_at": now,
            "driver_owner": None,
            "driver_lease_expires_at": None,
            "next_tid": 0,
            "version": 0,
            "wid": wid,
        }

        def attempt(n: int) -> None:
            try:
                self._studies.insert_one(dict(doc))
            except DuplicateKeyError:
                mine = {"_id": name, "wid": wid}
                if n == 0 or self._studies_latest.find_one(mine) is None:
                    raise StudyExistsError(
                        f"`name` must not name an existing study, but got name={name!r}"
                    ) from None

        self._call("create_study", attempt)
        return _study(doc)

    def get_study(self, name: str) -> Study:
        return _study(self._require_study(c.check_name(name, "name")))

    def list_studies(self) -> list[Study]:
        docs = self._call(
            "list_studies",
            lambda _: list(
                self._studies.find({}, sort=[("created_at", 1), ("_id", 1)])
            ),
        )
        return [_study(doc) for doc in docs]

    def update_study_settings(self, name: str, settings: dict[str, Any]) -> Study:
        c.check_name(name, "name")
        encoded = _encode(c.check_dict(settings, "settings"), "settings")
        update = self._update({"settings": encoded}, times={"updated_at": 0.0})
        return self._write_settings("update_study_settings", name, update)

    def patch_study_settings(
        self, name: str, changes: dict[str, Any], *, only_unset: bool = False
    ) -> Study:
        c.check_name(name, "name")
        encoded = _encode(c.check_changes(changes), "changes")
        fields = {f"settings.{key}": value for key, value in encoded.items()}
        if self._lock is not None:  # mongomock: no pipelines; the lock serialises
            with self._lock:
                if only_unset:
                    fields = self._unset_fields(name, fields)
                return self._write_settings(
                    "patch_study_settings", name, self._update(fields, times=_TOUCH)
                )
        if not only_unset:
            return self._write_settings(
                "patch_study_settings", name, self._update(fields, times=_TOUCH)
            )
        stage = {
            path: {"$ifNull": [f"${path}", {"$literal": value}]}
            for path, value in fields.items()
        }
        return self._write_settings(
            "patch_study_settings", name, [{"$set": {**stage, "updated_at": _NOW}}]
        )

    def _unset_fields(self, name: str, fields: dict[str, Any]) -> dict[str, Any]:
        """The ``settings.<key>`` fields among ``fields`` that the study lacks."""
        stored = self._require_study(name)["settings"]
        return {
            path: value
            for path, value in fields.items()
            if stored.get(path.partition(".")[2]) is None
        }

    def _write_settings(self, what: str, name: str, update: Any) -> Study:
        """Apply the settings ``update`` to study ``name`` as the protocol of
        :mod:`._mongo_settings` writes settings (begin, stamp the running trials,
        then write and end: three commands); return the study after it.

        Raises:
            StudyNotFoundError: No such study.
        """
        wid = uuid.uuid4().hex
        begun = self._call(
            what,
            lambda _: self._studies.find_one_and_update(
                {"_id": name},
                mongo_settings.begin(wid),
                projection={mongo_settings.BEGUN: 1},
                return_document=_AFTER,
            ),
        )
        if begun is None:
            raise _study_not_found(name)
        running = {"study": name, "state": TrialState.RUNNING.value}
        marks = mongo_settings.stamp(int(begun[mongo_settings.BEGUN]))
        self._call(
            what, lambda _: self._trials.update_many(running, marks)
        )  # not a change of the trials: no version
        return self._update_study(what, name, mongo_settings.ending(update, wid))

    def _update_study(self, what: str, name: str, update: Any) -> Study:
        """Apply ``update`` to study ``name``; return the study as it is after it."""
        doc = self._call(
            what,
            lambda _: self._studies.find_one_and_update(
                {"_id": name}, update, return_document=_AFTER
            ),
        )
        if doc is None:
            raise _study_not_found(name)
        return _study(doc)

    def acquire_driver_lease(self, name: str, owner: str, seconds: float) -> bool:
        c.check_name(name, "name")
        c.check_name(owner, "owner")
        seconds = c.check_positive(seconds, "seconds")
        free = [
            {"driver_owner": None},
            {"driver_owner": owner},
            self._before_now("driver_lease_expires_at"),
        ]
        update = self._update(
            {"driver_owner": owner}, times={"driver_lease_expires_at": seconds}
        )
        result = self._call(
            "acquire_driver_lease",
            lambda _: self._studies.update_one({"_id": name, "$or": free}, update),
        )
        if result.matched_count == 0:
            self._require_study(name)
        return result.matched_count == 1

    def release_driver_lease(self, name: str, owner: str) -> None:
        c.check_name(name, "name")
        c.check_name(owner, "owner")
        update = {"$set": {"driver_owner": None, "driver_lease_expires_at": None}}
        result = self._call(
            "release_driver_lease",
            lambda _: self._studies.update_one(
                {"_id": name, "driver_owner": owner}, update
            ),
        )
        if result.matched_count == 0:
            self._require_study(name)

    # ---- trials: writes ----------------------------------------------------------

    def insert_trials(self, study: str, trials: list[NewTrial]) -> list[int]:
        c.check_name(study, "study")
        payloads: list[tuple[Any, Any, dict[str, Any]]] = [
            (_encode(t.params, "params"), _encode(t.config, "config"), {})
            for t in c.check_new_trials(trials)
        ]
        return self._insert("insert_trials", study, payloads)

    def insert_finished(self, study: str, trials: list[FinishedTrial]) -> list[int]:
        c.check_name(study, "study")
        payloads = [
            (
                _encode(t.params, "params"),
                _encode(t.config, "config"),
                self._finished_fields(t),
            )
            for t in c.check_finished_trials(trials)
        ]
        return self._insert("insert_finished", study, payloads)

    def _finished_fields(self, trial: FinishedTrial) -> dict[str, Any]:
        """The fields of an imported trial (checked) that a new trial's lacks: its
        state, result or error, rank, and reports under a token of their own."""
        state = TrialState(trial.state).value
        fields: dict[str, Any] = {"state": state}
        if trial.result is not None:
            result = self._sized(_encode(trial.result, "result"), "result")
            fields["result"] = result
            if state == _DONE:
                fields.update(_rank_fields(result))
        if trial.error is not None:
            fields["error"] = self._sized(_encode(trial.error, "error"), "error")
        if trial.intermediate:
            token = uuid.uuid4().hex
            reports = {str(step): v for step, v in trial.intermediate.items()}
            fields.update(token=token, intermediate=reports)
            fields.update(_last_step_fields(max(trial.intermediate), token))
        return fields

    def _insert(
        self, what: str, study: str, payloads: list[tuple[Any, Any, dict[str, Any]]]
    ) -> list[int]:
        """Insert ``(params, config, fields)``: new trials (no fields), or finished
        ones (their :meth:`_finished_fields`)."""
        if not payloads:
            self._require_study(study)
            return []
        self._ensure_schema()
        first = self._allocate_tids(study, len(payloads))
        wid = uuid.uuid4().hex
        now = self.now()
        docs = [
            self._new_doc(study, first + i, params, config, now, wid)
            for i, (params, config, _) in enumerate(payloads)
        ]
        for doc, (_, _, fields) in zip(docs, payloads, strict=True):
            if fields:
                doc.update(fields, finished_at=now)

        def attempt(n: int) -> None:
            try:
                self._trials.insert_many([dict(doc) for doc in docs], ordered=False)
            except BulkWriteError as exc:  # a retry meets what an attempt inserted
                if n == 0 or not _only_duplicates(exc):
                    raise

        self._call(what, attempt)
        return [first + i for i in range(len(docs))]

    def _allocate_tids(self, study: str, count: int) -> int:
        """Reserve ``count`` tids of ``study``; return the first. Gaps are possible."""
        doc = self._call(
            "allocate tids",
            lambda _: self._studies.find_one_and_update(
                {"_id": study},
                {"$inc": {"next_tid": count}},
                projection={"next_tid": 1},
                return_document=_AFTER,
            ),
        )
        if doc is None:
            raise _study_not_found(study)
        return int(doc["next_tid"]) - count

    @staticmethod
    def _new_doc(
        study: str, tid: int, params: Any, config: Any, now: float, wid: str
    ) -> dict[str, Any]:
        return {
            "study": study,
            "tid": tid,
            "state": TrialState.NEW.value,
            "params": params,
            "config": config,
            "owner": None,
            "token": None,
            "attempts": 0,
            "lease_expires_at": None,
            "created_at": now,
            "started_at": None,
            "finished_at": None,
            "result": None,
            "error": None,
            "version": _PENDING,
            "wid": wid,
            "written_at": now,
        }

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
        wid = uuid.uuid4().hex
        finished = {"$in": _FINISHED_VALUES}
        updates = [
            (
                {"study": study, "tid": tid, "config": None, "state": finished},
                self._stamped(
                    {"config": _escape(config)}
                    | ({"params": _escape(typed[tid])} if tid in typed else {}),
                    wid,
                ),
            )
            for tid, config in checked.items()
        ]
        for chunk in _batches(updates, _CONFIGS_PER_WRITE):  # a command's 16 MB
            self._call_on("fill_configs", lambda c: self._update_each(list(c)), chunk)
        mine = {"wid": wid, "study": study}
        count = int(
            self._call(
                "fill_configs", lambda _: self._trials_latest.count_documents(mine)
            )
        )
        if count == 0:
            self._require_study(study)
        return count

    def claim(
        self, owner: str, lease_seconds: float, *, study: str | None = None
    ) -> Trial | None:
        c.check_name(owner, "owner")
        lease_seconds = c.check_positive(lease_seconds, "lease_seconds")
        query: dict[str, Any] = {"state": TrialState.NEW.value}
        lookup: dict[str, Any] = {"state": TrialState.RUNNING.value}
        if study is not None:
            query["study"] = lookup["study"] = c.check_name(study, "study")
        self._ensure_schema()
        wid = uuid.uuid4().hex
        fields = {
            "state": TrialState.RUNNING.value,
            "owner": owner,
            "token": uuid.uuid4().hex,
            "expired_token": None,  # no earlier attempt may reclaim it now
        }
        times = {"started_at": 0.0, "lease_expires_at": lease_seconds}
        update = self._stamped(fields, wid, times=times, inc={"attempts": 1})
        sort = [("tid", 1)] if study else [("created_at", 1), ("tid", 1)]
        doc = self._write_one("claim", query, update, wid=wid, lookup=lookup, sort=sort)
        if doc is None:
            if study is not None:
                self._require_study(study)
            return None
        return _trial(doc)

    def claim_with_study(
        self, owner: str, lease_seconds: float, *, study: str | None = None
    ) -> tuple[Trial, Study | None] | None:
        """Claim, then read the study (two commands), and keep what the read says
        for the attempt's result write: a ``complete(..., unless_setting=key)`` of
        it needs no read when ``key`` was unset then (see :mod:`._mongo_settings`)."""
        trial = self.claim(owner, lease_seconds, study=study)
        if trial is None:
            return None
        try:
            doc = self._require_study(trial.study)
        except (ConnectionError, StoreError):  # the trial is claimed: hand it over
            return trial, None  # as the default does (its result reads the study)
        self._seen.keep(trial.study, trial.tid, trial.token or "", doc)
        return trial, _study(doc)

    def heartbeat(self, study: str, tid: int, token: str, lease_seconds: float) -> bool:
        c.check_name(study, "study")
        c.check_tid(tid)
        lease_seconds = c.check_positive(lease_seconds, "lease_seconds")
        query = {"tid": tid, "study": study, "token": token, "state": "running"}
        update = self._update({}, times={"lease_expires_at": lease_seconds})
        result = self._call(
            "heartbeat", lambda _: self._trials.update_one(query, update)
        )  # a heartbeat is not a change: no version
        if result.matched_count == 0:
            self._require_trial(study, tid)
        return result.matched_count == 1

    def reclaim(
        self, study: str, tid: int, token: str, owner: str, lease_seconds: float
    ) -> bool:
        c.check_name(token, "token")
        c.check_name(owner, "owner")
        lease_seconds = c.check_positive(lease_seconds, "lease_seconds")
        fields = {
            "state": TrialState.RUNNING.value,
            "owner": owner,
            "token": token,
            "expired_token": None,
        }
        self._seen.forget(study, tid, token)  # unstamped while queued: read again
        return self._finish(
            "reclaim", study, tid, token, fields,
            times={"lease_expires_at": lease_seconds},
            current={"state": TrialState.NEW.value, "expired_token": token},
        )  # fmt: skip

    def _sized(self, value: dict[str, Any], what: str) -> dict[str, Any]:
        """``value`` if it leaves room in a trial document, else UnstorableError.

        The server refuses a trial that grows past its document limit too (mapped to
        UnstorableError in :meth:`_call`); this check names the culprit first.
        """
        size = len(bson.encode(value))
        if size > self._max_document - _TRIAL_ROOM:
            raise UnstorableError(
                f"`{what}` must fit in a MongoDB document ({self._max_document} bytes "
                f"with the rest of the trial), but it takes {size} bytes as BSON"
            )
        return value

    def _finish(
        self,
        what: str,
        study: str,
        tid: int,
        token: str,
        fields: dict[str, Any],
        *,
        current: dict[str, Any] | None = None,
        **extra: Any,
    ) -> bool:
        """Apply ``fields`` (+ ``times``/``inc``) to the running attempt ``token``
        (or to the trial matching ``current``, a filter naming the attempt)."""
        c.check_name(study, "study")
        c.check_tid(tid)
        wid = uuid.uuid4().hex
        update = self._stamped(fields, wid, **extra)
        attempt = current or {"token": token, "state": "running"}
        query = {"tid": tid, "study": study, **attempt}
        lookup = {"tid": tid, "study": study}
        written = self._write_one(
            what, query, update, wid=wid, lookup=lookup, recheck=True
        )  # the query names one trial: a miss is rare, its recheck is cheap
        if written is not None:
            return True
        self._require_trial(study, tid)
        return False

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
        encoded = self._sized(
            _encode(c.check_dict(result, "result"), "result"), "result"
        )
        fields = {
            "state": TrialState.DONE.value,
            "result": encoded,
            "lease_expires_at": None,
            **_rank_fields(encoded),
            **_code_field(code),
        }
        if unless_setting is None:
            return self._outcome("complete", study, tid, token, fields)
        key = c.check_setting_key(unless_setting, "unless_setting")
        guard = self._seen.guard(study, tid, token, key)
        if guard is not None and self._outcome(
            "complete", study, tid, token, fields, current=guard
        ):
            return True  # no settings write since the read after the claim
        if not self._current_unless_set(study, tid, token, key):
            return False  # a stale attempt; else raised: the setting is held
        return self._outcome("complete", study, tid, token, fields)

    def _outcome(
        self,
        what: str,
        study: str,
        tid: int,
        token: str,
        fields: dict[str, Any],
        *,
        current: dict[str, Any] | None = None,
    ) -> bool:
        """Write the outcome ``fields`` of attempt ``token`` (``current``: the
        filter naming it, as :meth:`_finish`'s), stamping ``finished_at``; once
        written, forget the study read after its claim."""
        written = self._finish(
            what, study, tid, token, fields, current=current,
            times={"finished_at": 0.0},
        )  # fmt: skip
        if written:
            self._seen.forget(study, tid, token)
        return written

    def _current_unless_set(self, study: str, tid: int, token: str, key: str) -> bool:
        """Read the study's setting ``key`` before a conditional write (one read;
        a trial write cannot test another collection). True if unset; if set,
        :class:`SettingRecordedError` for the current attempt ``token``, else False
        (a stale attempt, as the write would say)."""
        c.check_name(study, "study")
        c.check_tid(tid)
        doc = self._call(
            "read study",
            lambda _: self._studies.find_one({"_id": study}, {f"settings.{key}": 1}),
        )
        if doc is None:
            raise _study_not_found(study)
        value = _unescape(doc.get("settings", {}).get(key))
        if value is None:
            return True
        current = {"tid": tid, "study": study, "token": token, "state": "running"}
        found = self._call(
            "read trial", lambda _: self._trials.find_one(current, {"_id": 1})
        )
        if found is None:
            self._require_trial(study, tid)
            return False
        raise SettingRecordedError(key, value)

    def fail(
        self,
        study: str,
        tid: int,
        token: str,
        error: dict[str, Any],
        *,
        code: dict[str, Any] | None = None,
    ) -> bool:
        encoded = self._sized(_encode(c.check_error(error), "error"), "error")
        fields = {
            "state": TrialState.ERROR.value,
            "error": encoded,
            "lease_expires_at": None,
            **_code_field(code),
        }
        return self._outcome("fail", study, tid, token, fields)

    def release(self, study: str, tid: int, token: str) -> bool:
        fields = {
            "state": TrialState.NEW.value,
            "owner": None,
            "token": None,
            "started_at": None,
            "lease_expires_at": None,
        }
        self._seen.forget(study, tid, token)  # a later claim reads again
        return self._finish("release", study, tid, token, fields, inc={"attempts": -1})

    def requeue_expired(
        self, *, max_attempts: int, study: str | None = None
    ) -> RequeueReport:
        c.check_max_attempts(max_attempts)
        expired: dict[str, Any] = {
            "state": "running",
            **self._before_now("lease_expires_at"),
        }
        if study is not None:
            self._require_study(c.check_name(study, "study"))
            expired["study"] = study
        fields = {"study": 1, "tid": 1, "attempts": 1, "token": 1}
        docs = self._call(
            "requeue_expired", lambda _: list(self._trials.find(expired, fields))
        )
        report = RequeueReport()
        error = _encode(c.lease_expired_error(max_attempts), "error")
        for doc in docs:  # one conditional write each: a heartbeat since wins
            out_of_attempts = doc["attempts"] >= max_attempts
            if self._requeue_one(expired, doc, out_of_attempts, error):
                listed = report.failed if out_of_attempts else report.requeued
                listed.append((doc["study"], doc["tid"]))
        report.requeued.sort()
        report.failed.sort()
        return report

    def _requeue_one(
        self, expired: dict[str, Any], doc: dict[str, Any], last: bool, error: Any
    ) -> bool:
        """Requeue (or, on its ``last`` attempt, fail) one trial still expired."""
        key = {"tid": doc["tid"], "study": doc["study"]}
        token = doc.get("token")
        query = {**expired, **key, "attempts": doc["attempts"], "token": token}
        wid = uuid.uuid4().hex
        if last:
            fields = {"state": "error", "error": error, "lease_expires_at": None}
            update = self._stamped(fields, wid, times={"finished_at": 0.0})
        else:
            fields = {
                "state": "new",
                "owner": None,
                "token": None,
                "expired_token": token,  # that attempt may reclaim it until a claim
                "lease_expires_at": None,
            }
            update = self._stamped(fields, wid)
        written = self._write_one(
            "requeue_expired", query, update, wid=wid, lookup=key, recheck=True
        )
        return written is not None

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
        why = None if error is None else _encode(c.check_error(error), "error")
        states = (TrialState.NEW,) if queued_only else c.ACTIVE_STATES
        query: dict[str, Any] = {
            "study": study,
            "state": {"$in": [s.value for s in states]},
        }
        queries = [query] if tids is None else _by_tids(query, tids)
        wid = uuid.uuid4().hex
        fields = {"state": TrialState.CANCELLED.value, "lease_expires_at": None}
        if why is not None:
            fields["error"] = why
        update = self._stamped(fields, wid, times={"finished_at": 0.0})
        count = self._write_many("cancel", study, queries, update, wid)
        if count == 0:
            self._require_study(study)
        return count

    # ---- trials: reads -----------------------------------------------------------

    def get_trial(self, study: str, tid: int) -> Trial:
        c.check_name(study, "study")
        c.check_tid(tid)
        doc = self._call(
            "get_trial",
            lambda _: self._trials.find_one({"tid": tid, "study": study}),
        )
        if doc is None:
            self._require_study(study)
            raise _trial_not_found(study, tid)
        return _trial(doc)

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
        self._require_study(study)
        query: dict[str, Any] = {"study": study}
        if wanted is not None:
            query["state"] = {"$in": [s.value for s in wanted]}
        if kinds is not None:
            query["result.status"] = {"$in": kinds}
        queries = [query]
        if tids is not None:
            queries = _by_tids(query, c.check_tid_list(tids))
        docs = []  # the batches ascend, each read in tid order
        for part in queries:
            docs += self._call_on(
                "get_trials",
                lambda q: list(self._trials.find(q, sort=[("tid", 1)])),
                part,
            )
        return [_trial(doc) for doc in docs]

    def trial_keys(self, study: str) -> TrialKeys:
        c.check_name(study, "study")
        self._require_study(study)
        pipeline = [{"$match": {"study": study}}, {"$facet": _KEYS_FACETS}]
        [found] = self._call(
            "trial_keys", lambda _: list(self._trials.aggregate(pipeline))
        )
        keys = c.KeysGatherer()
        keys.params.update(unquote(doc["_id"]) for doc in found["params"])
        for doc in found["results"]:
            keys.add_result_keys([unquote(doc["_id"]["k"])], pruned=doc["_id"]["p"])
        for doc in found["losses"]:
            keys.add_loss_length(int(doc["_id"]), int(doc["tid"]))
        for doc in found["constraints"]:  # mongomock: one for no trial, n None
            if doc.get("n") is not None:
                keys.add_constraints(int(doc["n"]))
        return keys.keys()

    def export_trials(
        self,
        study: str,
        states: list[TrialState] | None = None,
        *,
        statuses: Collection[str] | None = None,
    ) -> Iterator[Trial | TrialKeys]:
        c.check_name(study, "study")
        wanted = c.check_states(states)
        kinds = c.check_statuses(statuses)
        end = self.get_study(study).next_tid  # raises StudyNotFoundError now
        shown = None if wanted is None else {s.value for s in wanted}
        return self._exported(study, end, shown, kinds)

    def _exported(
        self, study: str, end: int, states: set[str] | None, kinds: list[str] | None
    ) -> Iterator[Trial | TrialKeys]:
        """:meth:`export_trials`' items: each trial below tid ``end`` in
        ``states`` (None: any) whose status is one of ``kinds`` (None: any), then
        the keys of every trial below ``end``, gathered as the documents pass."""
        keys = c.KeysGatherer()
        for doc in self._study_documents("export_trials", study, end):
            result = _unescaped_keys(doc.get("result"))
            keys.params.update(_unescaped_keys(doc.get("params")) or ())
            keys.add_result(doc["tid"], result)
            if (states is None or doc["state"] in states) and c.has_status(
                result, kinds
            ):
                yield _trial(doc)
        yield keys.keys()

    def _study_documents(
        self, what: str, study: str, end: int
    ) -> Iterator[dict[str, Any]]:
        """The study's trial documents below tid ``end``, by tid, through one
        cursor read :data:`_EXPORT_BATCH` documents per round trip. A batch that
        fails and may pass is read again (``_call``) from a new cursor that starts
        after the last tid yielded, so no trial is lost or repeated."""
        last = -1
        cursor: Iterator[dict[str, Any]] | None = None

        def batch(attempt: int) -> list[dict[str, Any]]:
            nonlocal cursor
            if cursor is None or attempt > 0:
                _close(cursor)
                query = {"study": study, "tid": {"$gt": last, "$lt": end}}
                # pymongo's cursor is its own iterator; mongomock's find a list
                cursor = iter(
                    self._trials.find(
                        query, sort=[("tid", 1)], batch_size=_EXPORT_BATCH
                    )
                )
            return list(itertools.islice(cursor, _EXPORT_BATCH))

        try:
            while docs := self._call(what, batch):
                yield from docs
                last = docs[-1]["tid"]
        finally:
            _close(cursor)

    def get_tids(self, study: str, states: list[TrialState]) -> list[int]:
        c.check_name(study, "study")
        wanted = c.check_states(states) or []
        self._require_study(study)
        query = {"study": study, "state": {"$in": [s.value for s in wanted]}}
        docs = self._call(
            "get_tids",
            lambda _: list(
                self._trials.find(query, {"tid": 1, "_id": 0}, sort=[("tid", 1)])
            ),
        )
        return [doc["tid"] for doc in docs]

    def changes_since(self, study: str, cursor: int = 0) -> tuple[list[Trial], int]:
        c.check_name(study, "study")
        c.check_cursor(cursor)
        docs, top = self._changed("changes_since", study, cursor, {})
        return [_trial(doc) for doc in docs], top

    def reports_since(
        self, study: str, cursor: int = 0
    ) -> tuple[list[TrialReports], int]:
        c.check_name(study, "study")
        c.check_cursor(cursor)
        finished = {"state": {"$in": _FINISHED_VALUES}}
        docs, top = self._changed(
            "reports_since", study, cursor, finished, projection=_REPORT_FIELDS
        )
        reports = [
            TrialReports(doc["tid"], TrialState(doc["state"]), _intermediate(doc))
            for doc in docs
        ]
        return reports, top

    def _changed(
        self,
        what: str,
        study: str,
        cursor: int,
        only: dict[str, Any],
        projection: dict[str, int] | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """The change cursor's steps (see the module doc): the documents matching
        ``only`` written after ``cursor``, in write order, and the next cursor."""
        with self._causal() as session:  # in this order: see the module doc
            pending = self._find(
                what,
                {"study": study, "version": _PENDING},
                session,
                projection={"wid": 1},
            )
            top = self._number(study, pending, session)
            if top is None:
                top = int(self._require_study(study, session)["version"])
            changed = [{"version": _PENDING}, {"version": {"$gt": cursor}}]
            query = {"study": study, "$or": changed, **only}
            kwargs = {} if projection is None else {"projection": projection}
            docs = self._find(what, query, session, **kwargs)
        docs.sort(key=lambda d: (d["version"] == _PENDING, d["version"], d["tid"]))
        return docs, max(cursor, top)

    def _find(
        self, what: str, query: dict[str, Any], session: Any, **kwargs: Any
    ) -> list[dict[str, Any]]:
        kwargs.update(_session_kw(session))
        return self._call(what, lambda _: list(self._trials.find(query, **kwargs)))

    def last_steps(self, study: str) -> list[tuple[int, TrialState, int | None]]:
        # The step kept beside the reports (``_kept_last_step``), not the reports:
        # sending them took 0.66-0.74 s for 2,000 trials x 100 reports on the wire
        # server, and an aggregation sending the steps alone 2.68 s
        # (benchmarks/README.md, status_cost.py).
        c.check_name(study, "study")
        query = {"study": study, "state": {"$ne": TrialState.NEW.value}}
        docs = self._call(
            "last_steps",
            lambda _: list(
                self._trials.find(query, _LAST_STEP_FIELDS, sort=[("tid", 1)])
            ),
        )
        if not docs:
            self._require_study(study)
        rows = {d["tid"]: (TrialState(d["state"]), _kept_last_step(d)) for d in docs}
        unkept = [tid for tid, (_, last) in rows.items() if last is _UNKEPT]
        rows.update(self._old_last_steps(study, unkept))
        return [  # still unkept: the trial was gone when its reports were read
            (tid, state, cast("int | None", last))
            for tid, (state, last) in rows.items()
            if state is not TrialState.NEW and last is not _UNKEPT
        ]

    def _old_last_steps(
        self, study: str, tids: list[int]
    ) -> dict[int, tuple[TrialState, int | None]]:
        """The state and last step of trials whose reports an older version wrote,
        read again with their reports (state and step from that read: a trial
        requeued in between is left out, one finished in between counted so, one
        gone in between, which no store method does today, is missing here).

        One range of tids (the ``study_tid`` index), the others in it dropped here:
        on the pure-Python wire server a ``$in`` of 2,000 tids took 32-35 s where
        the range takes what the whole study's reports took before (2.2-2.8 s,
        benchmarks/README.md); old trials come first in a study that was upgraded.
        """
        if not tids:
            return {}
        wanted = set(tids)
        query = {"study": study, "tid": {"$gte": min(tids), "$lte": max(tids)}}
        docs = self._call(
            "last_steps",
            lambda _: list(self._trials.find(query, _OLD_LAST_STEP_FIELDS)),
        )
        return {
            d["tid"]: (TrialState(d["state"]), _last_step(d))
            for d in docs
            if d["tid"] in wanted
        }

    def count_by_state(self, study: str) -> dict[TrialState, int]:
        c.check_name(study, "study")
        self._require_study(study)
        pipeline = [
            {"$match": {"study": study}},
            {"$group": {"_id": "$state", "n": {"$sum": 1}}},
        ]
        groups = self._call("count_by_state", lambda _: self._count_groups(pipeline))
        counts = c.zero_counts()
        known = {state.value: state for state in counts}
        for group in groups:  # a state a newer version added is not ours to count
            if group["_id"] in known:
                counts[known[group["_id"]]] = int(group["n"])
        return counts

    def _count_groups(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``pipeline``'s groups, every trial counted once in one of its states.

        A read that yields (every 10 ms or so of a large study) meets a trial whose
        ``state`` changed meanwhile twice or not at all if it scans an index with
        ``state`` in its key (``best`` covers this pipeline, so the planner may
        take it): a trial finishing mid-scan counted in neither state, and a worker
        saw budget room that was not there (the race SQLite had, 48c41d31). So the
        read is one ``snapshot`` (MongoDB 5.0+ on a replica set or sharded
        cluster). A server that refuses it (a standalone, MongoDB 4.x) is read
        through the ``study_tid`` index instead, whose entries no state change
        moves: each trial is counted once, in the state it had when the scan
        reached it. That is what the budget rule needs (worker/_budget.py), though
        it is not one instant. A refusal may pass (an election, an upgrade): the
        snapshot is asked for again after a while (:class:`SnapshotRetry`).
        """
        if self._snapshot.should_ask():
            try:
                groups = list(self._trials_at_once.aggregate(pipeline))
            except OperationFailure as exc:
                if exc.code not in NO_SNAPSHOT_CODES:
                    raise
                self._snapshot.refused()  # by the tid index for a while
                _logger.debug("MongoDB refused a snapshot read (%s): %s", exc.code, exc)
            else:
                self._snapshot.accepted()
                return groups
        return list(self._trials.aggregate(pipeline, hint={"study": 1, "tid": 1}))

    # ---- light reads (see ._summary) -------------------------------------------------

    def summarise(self, study: str) -> summary.StudySummary:
        c.check_name(study, "study")
        self._require_study(study)
        pipeline = [{"$match": {"study": study}}, {"$facet": _summary_facets()}]
        with self._causal() as session:
            kw = _session_kw(session)
            (found,) = self._call(
                "summarise", lambda _: list(self._trials.aggregate(pipeline, **kw))
            )
            running = [int(d["tid"]) for d in found["running"]]
            top = [int(d["tid"]) for d in found["top"]]
            unranked = sum(int(d["n"]) for d in found["unranked"])  # [] or [{n: 0}]
            listed = self._read(study, running, session, _RUNNING_FIELDS)
            whole = self._read(study, [] if unranked else top, session)
        counts = c.zero_counts()
        known = {state.value: state for state in counts}
        for group in found["counts"]:  # a newer version's state is not ours to count
            if group["_id"] in known:
                counts[known[group["_id"]]] = int(group["n"])
        still = [listed[t] for t in running if t in listed]
        for doc in still:  # finished or requeued since the aggregate: not listed,
            if doc["state"] != _RUN.value:  # so not counted running
                counts[_RUN] -= 1
                counts[TrialState(doc["state"])] += 1
        return summary.StudySummary(
            counts=counts,
            running=[_running(doc) for doc in still if doc["state"] == _RUN.value],
            failed=sum(int(d["n"]) for d in found["failed"]),
            infeasible=sum(int(d["n"]) for d in found["infeasible"]),
            codes=[(_unescape(d["_id"]), int(d["n"])) for d in found["codes"]],
            best=self._summary_best(study, top, unranked, whole),
        )

    def _summary_best(
        self, study: str, top: list[int], unranked: int, whole: dict[int, Any]
    ) -> Trial | None:
        """The best trial named by :meth:`summarise`'s aggregate, or
        :meth:`best_trial` when done trials without a rank (written by an older
        version) take part."""
        if unranked or (top and top[0] not in whole):
            return self.best_trial(study)
        return _trial(whole[top[0]]) if top else None

    def _read(
        self,
        study: str,
        tids: list[int],
        session: Any,
        projection: dict[str, int] | None = None,
    ) -> dict[int, dict[str, Any]]:
        """The documents of trials ``tids`` of ``study`` (few: one query), whole or
        their ``projection`` only, by tid."""
        if not tids:
            return {}
        query = {"study": study, "tid": {"$in": tids}}
        kwargs = {} if projection is None else {"projection": projection}
        docs = self._find("read trials", query, session, **kwargs)
        return {int(doc["tid"]): doc for doc in docs}

    def best_trial(
        self, study: str, *, first_tid: int = 0, end_tid: int | None = None
    ) -> Trial | None:
        c.check_name(study, "study")
        c.check_first_tid(first_tid)
        c.check_end_tid(end_tid, first_tid)
        self._require_study(study)
        since = _tid_range(first_tid, end_tid)
        ranked = {"study": study, "state": _DONE, "best_loss": {"$ne": None}, **since}
        order = [("best_violation", 1), ("best_loss", 1), ("tid", 1)]
        top = self._call(
            "best_trial",
            lambda _: list(self._trials.find(ranked, sort=order, limit=1)),
        )
        best = _trial(top[0]) if top else None
        rank = None if best is None else summary.rank_of(best.result)
        beat = None if best is None or rank is None else (rank, best.tid)
        tid = self._best_unranked(study, beat, since)
        return best if tid is None else self.get_trial(study, tid)

    def _best_unranked(
        self,
        study: str,
        beat: tuple[tuple[float, float], int] | None,
        since: dict[str, Any],
    ) -> int | None:
        """The tid of a done trial without a rank (written by an older version),
        in the tid range ``since`` (:func:`_tid_range`), whose ``(rank, tid)`` is
        below ``beat``, or None; their light results are streamed, not kept."""
        unranked = {
            "study": study,
            "state": _DONE,
            "best_loss": {"$exists": False},
            **since,
        }

        def scan(_: int) -> int | None:
            found, winner = beat, None
            for doc in self._trials.find(unranked, _LIGHT_FIELDS):
                rank = summary.rank_of(_unescape(doc.get("result")))
                if rank is not None and (found is None or (rank, doc["tid"]) < found):
                    found, winner = (rank, doc["tid"]), doc["tid"]
            return winner

        return self._call("best_trial", scan)

    def done_results(self, study: str) -> list[tuple[int, dict[str, Any] | None]]:
        c.check_name(study, "study")
        self._require_study(study)
        query = {"study": study, "state": _DONE}
        docs = self._call(
            "done_results",
            lambda _: list(self._trials.find(query, _LIGHT_FIELDS, sort=[("tid", 1)])),
        )
        return [(d["tid"], _unescape(d.get("result"))) for d in docs]

    # ---- attachments (hyperopt's named blobs of a result) --------------------------

    def _attachment_docs(self) -> Any:
        """The ``attachments`` collection: one document per (study, tid, name)."""
        db = self._client[self._database]
        if self._lock is not None:
            return _LockedCollection(db["attachments"], self._lock)
        return db.get_collection("attachments", **pinned_options(self._client))

    def _trial_token(self, study: str, tid: int, query: dict[str, Any]) -> Any:
        doc = self._call(
            "attachments",
            lambda _: self._trials.find_one(
                {"tid": tid, "study": study, **query}, {"token": 1}
            ),
        )
        if doc is None:
            self._require_trial(study, tid)
        return doc

    def put_attachments(
        self, study: str, tid: int, token: str, attachments: dict[str, bytes]
    ) -> bool:
        """Replace the trial's attachment documents (delete, then insert: a retry
        of the pair is idempotent). Not numbered: it is not a change."""
        c.check_name(study, "study")
        c.check_tid(tid)
        blobs = c.check_attachments(attachments)
        current = {"token": token, "state": TrialState.RUNNING.value}
        if self._trial_token(study, tid, current) is None:
            return False
        docs = [
            {"study": study, "tid": tid, "name": name, "token": token, "data": data}
            | {"size": len(data)}
            for name, data in blobs.items()
        ]
        collection = self._attachment_docs()

        self._ensure_schema()  # the collection's key index (see _mongo_schema)

        def replace(_: int) -> None:
            collection.delete_many({"study": study, "tid": tid})
            if docs:
                collection.insert_many([dict(doc) for doc in docs])

        self._call("put_attachments", replace)
        return True

    def get_attachments(
        self, study: str, tid: int, names: list[str] | None = None
    ) -> dict[str, bytes]:
        c.check_name(study, "study")
        c.check_tid(tid)
        wanted = c.check_attachment_names(names)
        docs = self._current_attachments(study, tid, {"data": 1, "name": 1})
        return {
            doc["name"]: bytes(doc["data"])
            for doc in docs
            if wanted is None or doc["name"] in wanted
        }

    def attachment_sizes(self, study: str, tid: int) -> dict[str, int]:
        c.check_name(study, "study")
        c.check_tid(tid)
        docs = self._current_attachments(study, tid, _SIZE_FIELDS)
        sizes = self._sizes_of(docs)
        return {doc["name"]: sizes[doc["_id"]] for doc in docs if doc["_id"] in sizes}

    def _sizes_of(self, docs: list[dict[str, Any]]) -> dict[Any, int]:
        """Bytes of each attachment document, by ``_id``: its ``size`` field, or
        for one written before that field existed, its data's length (read for
        those only; one deleted since, by a new attempt's attachments, is left
        out)."""
        sizes = {doc["_id"]: doc["size"] for doc in docs if "size" in doc}
        older = [doc["_id"] for doc in docs if "size" not in doc]
        collection = self._attachment_docs()
        for batch in _batches(older, _IDS_PER_COMMAND):
            found = self._call_on(
                "attachment sizes",
                lambda b: list(collection.find({"_id": {"$in": list(b)}}, {"data": 1})),
                batch,
            )
            sizes.update({doc["_id"]: len(doc["data"]) for doc in found})
        return sizes

    def study_attachment_sizes(self, study: str) -> dict[int, dict[str, int]]:
        c.check_name(study, "study")
        fields = {"tid": 1, "token": 1}
        trials = self._call(
            "study_attachment_sizes",
            lambda _: list(self._trials.find({"study": study}, fields)),
        )
        if not trials:
            self._require_study(study)
        tokens = {doc["tid"]: doc.get("token") for doc in trials}
        collection = self._attachment_docs()
        wanted = {"tid": 1, "token": 1, **_SIZE_FIELDS}
        docs = self._call(
            "study_attachment_sizes",
            lambda _: list(collection.find({"study": study}, wanted)),
        )
        current = [
            doc
            for doc in docs
            if doc.get("token") is not None and tokens.get(doc["tid"]) == doc["token"]
        ]
        bytes_of = self._sizes_of(current)
        sizes: dict[int, dict[str, int]] = {}
        for doc in sorted(current, key=lambda d: (d["tid"], d["name"])):
            if doc["_id"] in bytes_of:
                sizes.setdefault(doc["tid"], {})[doc["name"]] = bytes_of[doc["_id"]]
        return sizes

    def _current_attachments(
        self, study: str, tid: int, fields: dict[str, int]
    ) -> list[dict[str, Any]]:
        trial = self._trial_token(study, tid, {})
        token = trial.get("token") if trial else None
        if token is None:
            return []
        collection = self._attachment_docs()
        query = {"study": study, "tid": tid, "token": token}
        docs = self._call(
            "get_attachments", lambda _: list(collection.find(query, fields))
        )
        return sorted(docs, key=lambda doc: doc["name"])

    # ---- intermediate values (pruning) ---------------------------------------------

    def prune(
        self,
        study: str,
        tid: int,
        token: str,
        result: dict[str, Any],
        *,
        code: dict[str, Any] | None = None,
    ) -> bool:
        encoded = _encode(c.check_dict(result, "result"), "result")
        fields = {
            "state": TrialState.PRUNED.value,
            "result": self._sized(encoded, "result"),
            "lease_expires_at": None,
            **_code_field(code),
        }
        return self._outcome("prune", study, tid, token, fields)

    def report_many(
        self, study: str, tid: int, token: str, values: Sequence[tuple[int, float]]
    ) -> bool:
        """Append to the attempt's reports, or start them if they are another's.

        Two conditional updates, each idempotent (a retry sets the same fields), and
        neither numbered: a report is not a change. Each keeps the attempt's highest
        step beside the reports (``_kept_last_step``) in the same update.
        """
        c.check_name(study, "study")
        c.check_tid(tid)
        checked = c.check_reports(values)
        pairs = {str(step): value for step, value in checked}
        top = max(step for step, _ in checked)
        current = {"tid": tid, "study": study, "token": token, "state": "running"}
        append = (
            {**current, "intermediate_token": token},
            {
                "$set": {f"intermediate.{k}": v for k, v in pairs.items()},
                "$max": {"last_step": top},
            },
        )
        start = (
            {**current, "intermediate_token": {"$ne": token}},
            {"$set": {"intermediate": pairs, **_last_step_fields(top, token)}},
        )
        for query, update in (append, start, append):
            result = self._call_on("report", self._trials.update_one, query, update)
            if result.matched_count:
                return True
        self._require_trial(study, tid)
        return False

    def running_trials(self, study: str) -> list[summary.RunningTrial]:
        c.check_name(study, "study")
        query = {"state": TrialState.RUNNING.value, "study": study}
        docs = self._call(
            "running_trials",
            lambda _: list(
                self._trials.find(query, _RUNNING_FIELDS, sort=[("tid", 1)])
            ),
        )
        if not docs:
            self._require_study(study)
        return [_running(doc) for doc in docs]

    def running_by_study(
        self,
        *,
        study: str | None = None,
        only_requeuable: bool = False,
        namespace: str | None = None,
    ) -> dict[str, list[summary.RunningTrial]]:
        query: dict[str, Any] = {"state": TrialState.RUNNING.value}
        if study is not None:
            c.check_name(study, "study")
            query["study"] = study
        if only_requeuable:
            either = [self._before_now("lease_expires_at")]
            if namespace is not None:
                either.append({"owner": {"$regex": of_namespace_pattern(namespace)}})
            query["$or"] = either
        fields = {**_RUNNING_FIELDS, "study": 1}
        order = [("study", 1), ("tid", 1)]
        docs = self._call(
            "running_by_study",
            lambda _: list(self._trials.find(query, fields, sort=order)),
        )
        found: dict[str, list[summary.RunningTrial]] = {}
        for doc in docs:
            found.setdefault(doc["study"], []).append(_running(doc))
        return found

    def running_intermediate(self, study: str) -> dict[int, dict[int, float]]:
        c.check_name(study, "study")
        query = {"state": TrialState.RUNNING.value, "study": study}
        fields = {"tid": 1, "token": 1, "intermediate": 1, "intermediate_token": 1}
        docs = self._call(
            "running_intermediate", lambda _: list(self._trials.find(query, fields))
        )
        if not docs:
            self._require_study(study)
        found = {doc["tid"]: _intermediate(doc) for doc in docs}
        return {tid: values for tid, values in found.items() if values}

    # ---- misc --------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_client()
