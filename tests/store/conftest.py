"""Backends for the store tests: SQLite and mongomock always, MongoDB over TCP when a
server is available (see ``tests/conftest.py``: ``HPO_TEST_MONGO_URL``, or a
``secantusd-py`` started for the session). Each MongoDB test gets a clean database of
its own: a fresh one, or one that an earlier test of this process used and that was
emptied after it (see :class:`MongoDatabases`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hpo_service.store import BaseTrialStore, open_store
from hpo_service.store._mongo import drop_mongomock_server
from tests.conftest import mongo_lane

STORE_MODES = ["sqlite", "mongomock"] + (["mongodb"] if mongo_lane() else [])

#: Opens one more store object on the same data (another "process" of the test);
#: keyword arguments are extra ``open_store`` options (``create=False``).
StoreOpener = Callable[..., BaseTrialStore]


class MongoDatabases:
    """Clean databases on a MongoDB server for the tests of one process.

    Creating a database with its indexes and dropping it again took about 0.1 s a
    test (about 15 s for the contract suite). A released database that holds only
    what the store itself creates (its four collections, the indexes and schema
    version of :mod:`hpo_service.store._mongo_schema`) is emptied instead (its
    studies, trials and attachments deleted: a few ms) and handed to the next test;
    any other database is dropped. A test thus sees either a new database or one in
    the state a store leaves after its first write, with no study, trial or
    attachment in it.

    Args:
        url: The server.
    """

    _EMPTIED = ("studies", "trials", "attachments")

    def __init__(self, url: str) -> None:
        import pymongo

        self.url = url
        self._client = pymongo.MongoClient(url)
        self._free: list[str] = []

    def take(self) -> str:
        """The name of a clean database (unused by any other test until released)."""
        return self._free.pop() if self._free else f"hpo_test_{uuid.uuid4().hex[:12]}"

    def release(self, name: str) -> None:
        """Empty the database for the next test, or drop it if it is not reusable."""
        db = self._client[name]
        if not self._reusable(db):
            self._client.drop_database(name)
            return
        for collection in self._EMPTIED:
            db[collection].delete_many({})
        self._free.append(name)

    def _reusable(self, db: Any) -> bool:
        """Whether ``db`` holds just a store's own collections, indexes and schema."""
        from hpo_service.store import _mongo_schema as schema

        if set(db.list_collection_names()) != {*self._EMPTIED, "meta"}:
            return False
        meta = list(db["meta"].find())
        if meta != [{"_id": schema.META_ID, "indexes": schema.INDEX_VERSION}]:
            return False
        for collection in (*self._EMPTIED, "meta"):
            wanted = schema.INDEXES.get(collection, [])
            have = {ix["name"]: ix for ix in db[collection].list_indexes()}
            if have.keys() != {"_id_", *(name for name, _, _ in wanted)}:
                return False
            if not all(schema._same(have[n], k, u) for n, k, u in wanted):
                return False
        return True

    def close(self) -> None:
        """Drop every database still held and close the client."""
        while self._free:
            self._client.drop_database(self._free.pop())
        self._client.close()


@pytest.fixture(scope="session")
def mongo_databases(mongo_url: str) -> Iterator[MongoDatabases]:
    """The session's clean databases on the ``mongo_url`` server."""
    databases = MongoDatabases(mongo_url)
    yield databases
    databases.close()


@contextmanager
def store_supplier(
    mode: str, tmp_path: Path, mongo: MongoDatabases | None = None
) -> Iterator[StoreOpener]:
    """Yield an opener of stores sharing one clean database; close (and drop or
    empty) it at exit.

    ``mongo`` gives the databases of mode ``"mongodb"``.
    """
    opened: list[BaseTrialStore] = []
    name = f"hpo_test_{uuid.uuid4().hex[:12]}"
    if mode == "sqlite":
        url, options = f"sqlite:///{tmp_path / 'trials.sqlite'}", {}
    elif mode == "mongomock":
        url, options = f"mongomock://{name}", {}
    else:
        assert mongo is not None, "mode 'mongodb' needs the `mongo_databases` fixture"
        name = mongo.take()
        url, options = mongo.url, {"database": name}

    def opener(**extra: object) -> BaseTrialStore:
        store = open_store(url, **options, **extra)
        opened.append(store)
        return store

    try:
        yield opener
    finally:
        for store in opened:
            store.close()
        if mode == "mongomock":
            drop_mongomock_server(name)
        elif mongo is not None:
            mongo.release(name)


@pytest.fixture(params=STORE_MODES)
def store_opener(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[StoreOpener]:
    """Opens stores on one fresh database of each backend in turn."""
    mode = request.param
    mongo = request.getfixturevalue("mongo_databases") if mode == "mongodb" else None
    with store_supplier(mode, tmp_path, mongo) as opener:
        yield opener


@pytest.fixture
def store(store_opener: StoreOpener) -> BaseTrialStore:
    """A fresh, open store of each backend in turn."""
    return store_opener()
