"""Session-wide fixtures: the MongoDB-wire server that real-pymongo tests talk to.

Which server the ``mongodb`` tests use (see README, "Tests"):

- ``HPO_TEST_MONGO_URL=mongodb://...``: that server (a real mongod, e.g.
  docker-compose's, works the same; not with ``-n``, as some tests arm server-wide
  fail points). Each test uses a clean database of its own (a store test's may be
  one an earlier test emptied: see ``tests/store/conftest.py``), dropped at the end.
- unset, and ``secantusdb`` installed (the ``test`` extra; what CI does): one
  ``secantusd-py`` on a free 127.0.0.1 port, started by the first test that needs it
  and stopped at the end of the session (of each pytest-xdist process).
- ``HPO_TEST_MONGO_URL=off``, or ``secantusdb`` missing: the ``mongodb`` tests are not
  collected (mongomock and SQLite still run).
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.mongo_wire import WireServer, executable

MONGO_URL_ENV = "HPO_TEST_MONGO_URL"
#: The root user (in database ``admin``) of the ``auth_mongo_url`` server.
AUTH_ADMIN = ("admin", "adminpw")


def mongo_lane() -> str | None:
    """``"env"`` (URL given), ``"local"`` (start secantusdb) or None (no lane)."""
    value = os.environ.get(MONGO_URL_ENV, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return "env"
    return "local" if importlib.util.find_spec("secantus") is not None else None


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``mongodb://`` URL of a live server for this session (skips if none).

    Name a database with the ``database=`` option of ``open_store`` or with
    :func:`tests.helpers.mongo_wire.with_database`.
    """
    lane = mongo_lane()
    if lane is None:
        pytest.skip(f"no MongoDB-wire server ({MONGO_URL_ENV}=off or no secantusdb)")
    if lane == "env":
        if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
            pytest.fail(
                f"{MONGO_URL_ENV} names one server for every pytest-xdist process, but "
                "some tests arm its server-wide fail points: run them without -n, or "
                f"unset {MONGO_URL_ENV} (each process then starts its own server)"
            )
        yield os.environ[MONGO_URL_ENV].strip()
        return
    directory = tmp_path_factory.mktemp("mongo-wire")
    with WireServer.start(directory, die_with_parent=True) as server:
        yield server.url


@pytest.fixture(scope="session")
def auth_mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL (no user in it) of a MongoDB-wire server with ``--auth``, shared by the
    session; its only user is :data:`AUTH_ADMIN` (``root``). Each module creates its
    own users and data in its own databases as that user (skips without secantusdb).

    Users are made on a start without ``--auth`` (the server has no localhost
    exception), then the server is restarted on the same data with ``--auth``: two
    starts, so the modules share one server instead of doing this each.
    """
    if executable() is None:
        pytest.skip("secantusdb is not installed: no server with --auth to start")
    import pymongo

    directory = tmp_path_factory.mktemp("mongo-auth")
    storage = directory / "data"
    user, password = AUTH_ADMIN
    with (
        WireServer.start(directory, storage=storage) as plain,
        pymongo.MongoClient(plain.url) as client,
    ):
        client.admin.command("createUser", user, pwd=password, roles=["root"])
    with WireServer.start(
        directory, storage=storage, auth=True, die_with_parent=True
    ) as server:
        yield server.url


@pytest.fixture(autouse=True)
def _fresh_store_outage() -> None:
    """Each test starts with no store outage in this process: the warning pace is
    per process (:mod:`hpo_service.store._outage`), and an outage an earlier test
    left open would make this test's first failure a debug line."""
    from hpo_service.store._outage import reset_process_outage

    reset_process_outage()


@pytest.fixture(params=["sqlite"] + (["mongodb"] if mongo_lane() else []))
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite file, or a fresh database on the session's MongoDB-wire server
    (dropped after): one test on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hpo.sqlite'}"
        return
    import pymongo

    from tests.helpers.mongo_wire import wait_writable, with_database

    url = request.getfixturevalue("mongo_url")
    name = f"hpo_any_{uuid.uuid4().hex[:10]}"
    yield with_database(url, name)
    wait_writable(url)
    with pymongo.MongoClient(url) as client:
        client.drop_database(name)
