"""MongoDB backend (pymongo); ``mongomock://`` runs the same code in-process.

Collections of the database: ``studies`` (one document per study, ``_id`` = name, also
holding the study's ``next_tid`` and ``version`` counters), ``trials`` and ``clock``.

Design notes:

- **One clock.** Lease times are floats (epoch seconds) judged by :meth:`now`, the
  database server's clock estimated as ``local clock + offset``. The offset is measured
  with a ``$currentDate`` write on ``clock`` (at open and every minute, corrected for
  the round trip), so every client agrees on "now" within a few milliseconds whatever
  its own clock says. Floats rather than BSON dates because mongomock cannot evaluate
  ``$$NOW``, so the comparison value is computed client-side anyway; floats also keep
  sub-millisecond precision and match the SQLite backend.
- **Atomic claim.** One ``find_one_and_update({"state": "new", ...}, sort=...)``.
- **Idempotent retries.** Every trial write stamps a fresh write id (``wid``); a retry
  after a transient error first looks that id up, so a write whose acknowledgement was
  lost is neither applied twice nor lost (a claim that landed is returned, not leaked).
- **Change cursor.** MongoDB has no multi-document transaction here, so a write sets
  ``version = -1`` ("pending") together with the change, then takes a number from the
  study's counter and stamps it. :meth:`changes_since` reads the counter ``C`` first,
  then the pending trials, then versions in ``(cursor, C]``, and returns ``C``: a write
  whose number is ``<= C`` is either pending at the second read or numbered by the
  third, so none is ever skipped. A trial may be returned again by a later call.
- **User values** are stored as native documents after a JSON round trip (so every
  backend returns the same values); keys holding ``.``, ``%``, NUL or a leading ``$``
  are percent-escaped so that any label is a valid field name.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import unquote

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    DuplicateKeyError,
    InvalidURI,
    OperationFailure,
    PyMongoError,
)

from hpo_service.exceptions import (
    StoreConnectionError,
    StoreError,
    StudyExistsError,
    StudyNotFoundError,
    TrialNotFoundError,
)
from hpo_service.store import _common as c
from hpo_service.store._base import (
    BaseTrialStore,
    NewTrial,
    RequeueReport,
    Study,
    Trial,
    TrialState,
)
from hpo_service.store._retry import RetryPolicy
from hpo_service.store._url import (
    make_scrubber,
    mask_url,
    parse_mongomock_url,
)

_logger = logging.getLogger(__name__)

_T = TypeVar("_T")

DEFAULT_DATABASE = "hpo"

_PENDING = -1  # version of a trial whose latest write has not been numbered yet
_PENDING_GRACE = 10.0  # seconds before a reader numbers a pending write itself
_CLOCK_REFRESH = 60.0  # seconds between two measurements of the server clock
_AFTER = ReturnDocument.AFTER

# Filters name their most selective field first: the server does not care, but
# mongomock tests them document by document and stops at the first mismatch.

# Server error codes that mean "primary changed or shutting down: try again".
_TRANSIENT_CODES = frozenset(
    {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}
)

_TRIAL_INDEXES: list[tuple[str, list[tuple[str, int]], bool]] = [
    ("study_tid", [("study", 1), ("tid", 1)], True),
    ("claim_study", [("state", 1), ("study", 1), ("tid", 1)], False),
    ("claim_any", [("state", 1), ("created_at", 1), ("tid", 1)], False),
    ("leases", [("state", 1), ("lease_expires_at", 1)], False),
    ("changes", [("study", 1), ("version", 1)], False),
]


def _is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a dropped connection or an election: worth retrying."""
    if isinstance(exc, ConnectionFailure):
        return True
    if isinstance(exc, OperationFailure) and not isinstance(exc, BulkWriteError):
        return exc.code in _TRANSIENT_CODES or exc.has_error_label(
            "RetryableWriteError"
        )
    return False


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
        raise ValueError(
            f"integers stored in MongoDB must fit in 64 bits, but got {value}"
        )
    return value


def _unescape(value: Any) -> Any:
    if isinstance(value, dict):
        return {(unquote(k) if "%" in k else k): _unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    return value


def _encode(value: Any, what: str) -> Any:
    return _escape(c.normalise(value, what))


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
        started_at=doc.get("started_at"),
        finished_at=doc.get("finished_at"),
        result=_unescape(doc.get("result")),
        error=_unescape(doc.get("error")),
        version=doc["version"],
        intermediate=_intermediate(doc),
    )


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


def _study(doc: dict[str, Any]) -> Study:
    return Study(
        name=doc["_id"],
        settings=_unescape(doc["settings"]),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        driver_owner=doc.get("driver_owner"),
        driver_lease_expires_at=doc.get("driver_lease_expires_at"),
    )


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:  # pymongo and mongomock return naive UTC by default
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _expired_update(out_of_attempts: bool, error: Any, now: float) -> dict[str, Any]:
    """The update of an expired attempt: back to ``new``, or ``error`` if none left."""
    if out_of_attempts:
        fields = {"state": "error", "error": error, "finished_at": now}
    else:
        fields = {"state": "new", "owner": None, "token": None, "started_at": None}
    return {"$set": {**fields, "lease_expires_at": None}}


def _trial_not_found(study: str, tid: int) -> TrialNotFoundError:
    return TrialNotFoundError(
        f"`tid` must name a trial of study {study!r}, but got tid={tid!r}"
    )


def _study_not_found(name: str) -> StudyNotFoundError:
    return StudyNotFoundError(
        f"`study` must name an existing study, but got study={name!r}"
    )


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
    import mongomock

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
    """
    name, database = parse_mongomock_url(url)
    database = options.pop("database", None) or database or DEFAULT_DATABASE
    retry_timeout = options.pop("retry_timeout", 30.0)
    create = bool(options.pop("create", True))
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
        create=create,
    )


# ---- pymongo -------------------------------------------------------------------------


def _client(url: str, options: dict[str, Any]) -> Any:
    """A ``pymongo.MongoClient`` for ``url``; errors name the URL masked.

    Raises:
        ValueError: The URL or an option is invalid.
        StoreConnectionError: A ``mongodb+srv://`` name does not resolve.
    """
    scrub = make_scrubber(url)
    try:
        return pymongo.MongoClient(url, **options)
    except ConfigurationError as exc:
        text = scrub(str(exc))
        if "dns" in text.lower():
            raise StoreConnectionError(
                f"MongoDB at {mask_url(url)} must be resolvable, but: {text}"
            ) from None
        raise ValueError(f"`url` must be a valid MongoDB URL: {text}") from None
    except (InvalidURI, ValueError, TypeError) as exc:
        raise ValueError(
            f"`url` must be a valid MongoDB URL, but {mask_url(url)!r} gave: "
            f"{scrub(str(exc))}"
        ) from None


def open_mongodb(url: str, **options: Any) -> MongoTrialStore:
    """Open a store on the MongoDB deployment of a ``mongodb[+srv]://`` URL.

    Raises:
        ValueError: The URL or an option is invalid.
        StoreConnectionError: No server answered within the connect timeout, or
            authentication failed.
    """
    retry_timeout = options.pop("retry_timeout", 30.0)
    create = bool(options.pop("create", True))
    connect_timeout = c.check_positive(
        options.pop("connect_timeout", 10.0), "connect_timeout"
    )
    database = options.pop("database", None)
    named = url.lower() + " " + " ".join(options).lower()
    if "serverselectiontimeoutms" not in named:
        options["serverSelectionTimeoutMS"] = int(connect_timeout * 1000)
    client = _client(url, options)
    if database is None:  # the URL's path, as pymongo parses it
        database = client.get_default_database(DEFAULT_DATABASE).name
    return MongoTrialStore(
        client,
        database,
        description=url,
        retry_timeout=retry_timeout,
        scrub=make_scrubber(url),
        reconnect=lambda: _client(url, options),
        create=create,
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
        create: Create the collections' indexes on open; False for read-only use
            (reads never create a database).
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
        create: bool = True,
    ) -> None:
        self._reconnect = reconnect
        self._create = create
        self._database = c.check_name(database, "database")
        self._description = mask_url(description)
        self._retry = RetryPolicy(timeout=retry_timeout)
        self._scrub = scrub or make_scrubber(description)
        self._lock = lock
        self._owns_client = owns_client
        self._closed = False
        self._offset = 0.0
        self._offset_at = -math.inf
        self._local_time: Callable[[], float] = time.time  # a test hook
        self._bind(client)
        try:
            self._setup()
        except (PyMongoError, StoreError) as exc:
            self._close_client()
            raise StoreConnectionError(
                f"MongoDB at {self._description} must be reachable and usable, "
                f"but: {self._scrub(str(exc))}"
            ) from None
        _logger.debug("opened MongoDB store %s/%s", self._description, database)

    def __repr__(self) -> str:
        return f"MongoTrialStore({self._description!r}, database={self._database!r})"

    # ---- plumbing ----------------------------------------------------------------

    def _bind(self, client: Any) -> None:
        self._client = client
        self._pid = os.getpid()
        db = client[self._database]
        if self._lock is None:
            self._studies, self._trials, self._clock = (
                db["studies"],
                db["trials"],
                db["clock"],
            )
        else:
            self._studies, self._trials, self._clock = (
                _LockedCollection(db[name], self._lock)
                for name in ("studies", "trials", "clock")
            )

    def _setup(self) -> None:
        self._client.admin.command("ping")  # fails within serverSelectionTimeoutMS
        for name, keys, unique in _TRIAL_INDEXES if self._create else ():
            self._trials.create_index(keys, name=name, unique=unique)
        self._refresh_clock()

    def _close_client(self) -> None:
        if self._owns_client and self._pid == os.getpid():
            self._client.close()

    def _check_open(self) -> None:
        if self._closed:
            raise c.closed_error()
        if self._pid != os.getpid():  # forked: a client must not cross fork()
            self._bind(self._client if self._reconnect is None else self._reconnect())

    def _call(self, what: str, op: Callable[[int], _T]) -> _T:
        """Run ``op(attempt)``, retrying transient errors; wrap driver errors."""
        self._check_open()
        label = f"MongoDB store {self._description}: {what}"
        try:
            return self._retry.call(
                op, is_transient=_is_transient, what=label, scrub=self._scrub
            )
        except PyMongoError as exc:
            text = self._scrub(f"{label} failed: {exc}")
            cause = exc if text == f"{label} failed: {exc}" else None
            raise StoreError(text) from cause

    def _require_study(self, name: str) -> dict[str, Any]:
        doc = self._call("read study", lambda _: self._studies.find_one({"_id": name}))
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

    # ---- clock -------------------------------------------------------------------

    def _measure_offset(self) -> float:
        """Server clock minus local clock, from the fastest of three round trips."""
        best_rtt, best = math.inf, 0.0
        for _ in range(3):
            before = self._local_time()
            doc = self._clock.find_one_and_update(
                {"_id": "clock"},
                {"$currentDate": {"at": True}},
                upsert=True,
                return_document=_AFTER,
            )
            after = self._local_time()
            if after - before < best_rtt:
                # BSON dates truncate to the millisecond: add half of one.
                server = _epoch(doc["at"]) + 0.0005
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

    # ---- versioned writes ----------------------------------------------------------

    def _stamp(self, update: dict[str, Any], wid: str) -> dict[str, Any]:
        fields = {"version": _PENDING, "wid": wid, "written_at": self.now()}
        return {**update, "$set": {**update.get("$set", {}), **fields}}

    def _number(self, study: str, wid: str) -> int:
        """Give the pending writes ``wid`` of ``study`` the study's next version."""
        try:
            doc = self._call(
                "allocate a version",
                lambda _: self._studies.find_one_and_update(
                    {"_id": study},
                    {"$inc": {"version": 1}},
                    projection={"version": 1},
                    return_document=_AFTER,
                ),
            )
            version = int(doc["version"])
            self._call(
                "stamp the version",
                lambda _: self._trials.update_many(
                    {"version": _PENDING, "wid": wid, "study": study},
                    {"$set": {"version": version}},
                ),
            )
        except StoreConnectionError as exc:  # the change itself is committed
            _logger.warning(
                "version of write %s left pending, readers will number it: %s", wid, exc
            )
            return _PENDING
        return version

    def _write_one(
        self,
        what: str,
        query: dict[str, Any],
        update: dict[str, Any],
        *,
        lookup: dict[str, Any],
        sort: list[tuple[str, int]] | None = None,
    ) -> dict[str, Any] | None:
        """Apply ``update`` to the first trial matching ``query``, in one write.

        ``lookup`` (with the write id added) finds the trial if a retried attempt
        had in fact landed. Returns the written trial, numbered, or None.
        """
        wid = uuid.uuid4().hex
        stamped = self._stamp(update, wid)

        def attempt(n: int) -> dict[str, Any] | None:
            if n > 0:
                landed = self._trials.find_one({**lookup, "wid": wid})
                if landed is not None:
                    return landed
            return self._trials.find_one_and_update(
                query, stamped, sort=sort, return_document=_AFTER
            )

        doc = self._call(what, attempt)
        if doc is not None:
            doc["version"] = self._number(doc["study"], wid)
        return doc

    def _write_many(
        self, what: str, study: str, query: dict[str, Any], update: dict[str, Any]
    ) -> int:
        """Apply ``update`` to every trial of ``study`` matching ``query``; count them.

        ``query`` must exclude the trials it changed (for example by state), so that a
        retry leaves the already changed ones as they are.
        """
        wid = uuid.uuid4().hex
        stamped = self._stamp(update, wid)
        self._call(what, lambda _: self._trials.update_many(query, stamped))
        mine = {"version": _PENDING, "wid": wid, "study": study}
        count = self._call(what, lambda _: self._trials.count_documents(mine))
        if count:
            self._number(study, wid)
        return int(count)

    def _repair_pending(self, study: str) -> None:
        """Number writes left pending for long (their writer died in between)."""
        stale = {
            "study": study,
            "version": _PENDING,
            "written_at": {"$lt": self.now() - _PENDING_GRACE},
        }
        docs = self._call(
            "find stale writes", lambda _: list(self._trials.find(stale, {"wid": 1}))
        )
        for wid in {doc["wid"] for doc in docs}:
            self._number(study, wid)

    # ---- studies -----------------------------------------------------------------

    def create_study(self, name: str, settings: dict[str, Any]) -> Study:
        c.check_name(name, "name")
        encoded = _encode(c.check_dict(settings, "settings"), "settings")
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
                if n == 0 or self._studies.find_one({"_id": name, "wid": wid}) is None:
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
        update = {"$set": {"settings": encoded, "updated_at": self.now()}}
        doc = self._call(
            "update_study_settings",
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
        now = self.now()
        free = [
            {"driver_owner": None},
            {"driver_owner": owner},
            {"driver_lease_expires_at": {"$lt": now}},
        ]
        update = {
            "$set": {"driver_owner": owner, "driver_lease_expires_at": now + seconds}
        }
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
        payloads = [
            (_encode(t.params, "params"), _encode(t.config, "config"))
            for t in c.check_new_trials(trials)
        ]
        if not payloads:
            self._require_study(study)
            return []
        first = self._allocate_tids(study, len(payloads))
        wid = uuid.uuid4().hex
        now = self.now()
        docs = [
            self._new_doc(study, first + i, params, config, now, wid)
            for i, (params, config) in enumerate(payloads)
        ]

        def attempt(n: int) -> None:
            try:
                self._trials.insert_many(docs, ordered=False)
            except BulkWriteError as exc:  # a retry meets what an attempt inserted
                codes = {e.get("code") for e in exc.details.get("writeErrors", [])}
                if n == 0 or codes != {11000}:
                    raise

        self._call("insert_trials", attempt)
        self._number(study, wid)
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

    def claim(
        self, owner: str, lease_seconds: float, *, study: str | None = None
    ) -> Trial | None:
        c.check_name(owner, "owner")
        lease_seconds = c.check_positive(lease_seconds, "lease_seconds")
        query: dict[str, Any] = {"state": TrialState.NEW.value}
        lookup: dict[str, Any] = {"state": TrialState.RUNNING.value}
        if study is not None:
            query["study"] = lookup["study"] = c.check_name(study, "study")
        now = self.now()
        update = {
            "$set": {
                "state": TrialState.RUNNING.value,
                "owner": owner,
                "token": uuid.uuid4().hex,
                "started_at": now,
                "lease_expires_at": now + lease_seconds,
            },
            "$inc": {"attempts": 1},
        }
        sort = [("tid", 1)] if study else [("created_at", 1), ("tid", 1)]
        doc = self._write_one("claim", query, update, lookup=lookup, sort=sort)
        if doc is None:
            if study is not None:
                self._require_study(study)
            return None
        return _trial(doc)

    def heartbeat(self, study: str, tid: int, token: str, lease_seconds: float) -> bool:
        c.check_name(study, "study")
        c.check_tid(tid)
        lease_seconds = c.check_positive(lease_seconds, "lease_seconds")
        query = {"tid": tid, "study": study, "token": token, "state": "running"}
        update = {"$set": {"lease_expires_at": self.now() + lease_seconds}}
        result = self._call(
            "heartbeat", lambda _: self._trials.update_one(query, update)
        )  # a heartbeat is not a change: no version
        if result.matched_count == 0:
            self._require_trial(study, tid)
        return result.matched_count == 1

    def _finish(
        self, what: str, study: str, tid: int, token: str, update: dict[str, Any]
    ) -> bool:
        c.check_name(study, "study")
        c.check_tid(tid)
        query = {"tid": tid, "study": study, "token": token, "state": "running"}
        lookup = {"tid": tid, "study": study}
        if self._write_one(what, query, update, lookup=lookup) is not None:
            return True
        self._require_trial(study, tid)
        return False

    def complete(
        self, study: str, tid: int, token: str, result: dict[str, Any]
    ) -> bool:
        encoded = _encode(c.check_dict(result, "result"), "result")
        update = {
            "$set": {
                "state": TrialState.DONE.value,
                "result": encoded,
                "finished_at": self.now(),
                "lease_expires_at": None,
            }
        }
        return self._finish("complete", study, tid, token, update)

    def fail(self, study: str, tid: int, token: str, error: dict[str, Any]) -> bool:
        encoded = _encode(c.check_error(error), "error")
        update = {
            "$set": {
                "state": TrialState.ERROR.value,
                "error": encoded,
                "finished_at": self.now(),
                "lease_expires_at": None,
            }
        }
        return self._finish("fail", study, tid, token, update)

    def release(self, study: str, tid: int, token: str) -> bool:
        update = {
            "$set": {
                "state": TrialState.NEW.value,
                "owner": None,
                "token": None,
                "started_at": None,
                "lease_expires_at": None,
            },
            "$inc": {"attempts": -1},
        }
        return self._finish("release", study, tid, token, update)

    def requeue_expired(
        self, *, max_attempts: int, study: str | None = None
    ) -> RequeueReport:
        c.check_max_attempts(max_attempts)
        now = self.now()
        expired: dict[str, Any] = {"state": "running", "lease_expires_at": {"$lt": now}}
        if study is not None:
            self._require_study(c.check_name(study, "study"))
            expired["study"] = study
        fields = {"study": 1, "tid": 1, "attempts": 1}
        docs = self._call(
            "requeue_expired", lambda _: list(self._trials.find(expired, fields))
        )
        report = RequeueReport()
        error = _encode(c.lease_expired_error(max_attempts), "error")
        for doc in docs:  # one conditional write each: a heartbeat since wins
            key = {"tid": doc["tid"], "study": doc["study"]}
            query = {**expired, **key, "attempts": doc["attempts"]}
            out_of_attempts = doc["attempts"] >= max_attempts
            update = _expired_update(out_of_attempts, error, now)
            if self._write_one("requeue_expired", query, update, lookup=key):
                listed = report.failed if out_of_attempts else report.requeued
                listed.append((doc["study"], doc["tid"]))
        report.requeued.sort()
        report.failed.sort()
        return report

    def cancel(self, study: str, tids: list[int] | None = None) -> int:
        c.check_name(study, "study")
        tids = c.check_tids(tids)
        query: dict[str, Any] = {
            "study": study,
            "state": {"$in": [s.value for s in c.ACTIVE_STATES]},
        }
        if tids is not None:
            query["tid"] = {"$in": tids}
        update = {
            "$set": {
                "state": TrialState.CANCELLED.value,
                "finished_at": self.now(),
                "lease_expires_at": None,
            }
        }
        count = self._write_many("cancel", study, query, update)
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
        self, study: str, states: list[TrialState] | None = None
    ) -> list[Trial]:
        c.check_name(study, "study")
        wanted = c.check_states(states)
        self._require_study(study)
        query: dict[str, Any] = {"study": study}
        if wanted is not None:
            query["state"] = {"$in": [s.value for s in wanted]}
        docs = self._call(
            "get_trials",
            lambda _: list(self._trials.find(query, sort=[("tid", 1)])),
        )
        return [_trial(doc) for doc in docs]

    def changes_since(self, study: str, cursor: int = 0) -> tuple[list[Trial], int]:
        c.check_name(study, "study")
        c.check_cursor(cursor)
        self._repair_pending(study)
        top = int(self._require_study(study)["version"])  # read first: see module doc
        pending = self._call(
            "changes_since",
            lambda _: list(self._trials.find({"study": study, "version": _PENDING})),
        )
        numbered = self._call(
            "changes_since",
            lambda _: list(
                self._trials.find(
                    {"study": study, "version": {"$gt": cursor, "$lte": top}},
                    sort=[("version", 1), ("tid", 1)],
                )
            ),
        )
        latest = {doc["tid"]: doc for doc in numbered}  # read last: newest state
        extra = [doc for doc in pending if doc["tid"] not in latest]
        return [_trial(doc) for doc in [*numbered, *extra]], max(cursor, top)

    def count_by_state(self, study: str) -> dict[TrialState, int]:
        c.check_name(study, "study")
        self._require_study(study)
        counts = c.zero_counts()
        for state in counts:
            query = {"state": state.value, "study": study}
            counts[state] = int(
                self._call(
                    "count_by_state", lambda _, q=query: self._trials.count_documents(q)
                )
            )
        return counts

    # ---- intermediate values (pruning) ---------------------------------------------

    def prune(self, study: str, tid: int, token: str, result: dict[str, Any]) -> bool:
        encoded = _encode(c.check_dict(result, "result"), "result")
        update = {
            "$set": {
                "state": TrialState.PRUNED.value,
                "result": encoded,
                "finished_at": self.now(),
                "lease_expires_at": None,
            }
        }
        return self._finish("prune", study, tid, token, update)

    def report(self, study: str, tid: int, token: str, step: int, value: float) -> bool:
        """Append to the attempt's reports, or start them if they are another's.

        Two conditional updates, each idempotent (a retry sets the same field), and
        neither numbered: a report is not a change.
        """
        c.check_name(study, "study")
        c.check_tid(tid)
        key = str(c.check_step(step))
        value = c.check_report_value(value)
        current = {"tid": tid, "study": study, "token": token, "state": "running"}
        append = (
            {**current, "intermediate_token": token},
            {"$set": {f"intermediate.{key}": value}},
        )
        start = (
            {**current, "intermediate_token": {"$ne": token}},
            {"$set": {"intermediate": {key: value}, "intermediate_token": token}},
        )
        for query, update in (append, start, append):
            result = self._call(
                "report", lambda _, q=query, u=update: self._trials.update_one(q, u)
            )
            if result.matched_count:
                return True
        self._require_trial(study, tid)
        return False

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
