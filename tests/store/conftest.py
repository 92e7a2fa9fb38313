"""Backends for the store tests: SQLite and mongomock always, MongoDB over TCP when a
server is available (see ``tests/conftest.py``: ``HPO_TEST_MONGO_URL``, or a
``secantusd-py`` started for the session). Each MongoDB test gets its own database,
dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hpo_service.store import BaseTrialStore, open_store
from hpo_service.store._mongo import drop_mongomock_server
from tests.conftest import mongo_lane

STORE_MODES = ["sqlite", "mongomock"] + (["mongodb"] if mongo_lane() else [])

#: Opens one more store object on the same data (another "process" of the test);
#: keyword arguments are extra ``open_store`` options (``create=False``).
StoreOpener = Callable[..., BaseTrialStore]


@contextmanager
def store_supplier(
    mode: str, tmp_path: Path, mongo_url: str | None = None
) -> Iterator[StoreOpener]:
    """Yield an opener of stores sharing one fresh database; close and drop at exit.

    ``mongo_url`` is the server of mode ``"mongodb"``.
    """
    opened: list[BaseTrialStore] = []
    name = f"hpo_test_{uuid.uuid4().hex[:12]}"
    if mode == "sqlite":
        url, options = f"sqlite:///{tmp_path / 'trials.sqlite'}", {}
    elif mode == "mongomock":
        url, options = f"mongomock://{name}", {}
    else:
        assert mongo_url is not None, "mode 'mongodb' needs the `mongo_url` fixture"
        url, options = mongo_url, {"database": name}

    def opener(**extra: object) -> BaseTrialStore:
        store = open_store(url, **options, **extra)
        opened.append(store)
        return store

    try:
        yield opener
    finally:
        for store in opened:
            store.close()
        _drop(mode, url, name)


def _drop(mode: str, url: str, name: str) -> None:
    if mode == "mongomock":
        drop_mongomock_server(name)
    elif mode == "mongodb":
        import pymongo

        with pymongo.MongoClient(url) as client:
            client.drop_database(name)


@pytest.fixture(params=STORE_MODES)
def store_opener(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[StoreOpener]:
    """Opens stores on one fresh database of each backend in turn."""
    mode = request.param
    url = request.getfixturevalue("mongo_url") if mode == "mongodb" else None
    with store_supplier(mode, tmp_path, url) as opener:
        yield opener


@pytest.fixture
def store(store_opener: StoreOpener) -> BaseTrialStore:
    """A fresh, open store of each backend in turn."""
    return store_opener()
