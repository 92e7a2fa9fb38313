"""Session-wide fixtures: the MongoDB-wire server that real-pymongo tests talk to.

Which server the ``mongodb`` tests use (see README, "Tests"):

- ``HPO_TEST_MONGO_URL=mongodb://...``: that server (CI starts ``secantusd-py`` and
  sets it; a real mongod, e.g. docker-compose's, works the same). Each test uses its
  own database and drops it.
- unset, and ``secantusdb`` installed (the ``test`` extra): one ``secantusd-py`` on a
  free 127.0.0.1 port, started by the first test that needs it and stopped at the end
  of the session.
- ``HPO_TEST_MONGO_URL=off``, or ``secantusdb`` missing: the ``mongodb`` tests are not
  collected (mongomock and SQLite still run).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

from tests.helpers.mongo_wire import WireServer

MONGO_URL_ENV = "HPO_TEST_MONGO_URL"


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
        yield os.environ[MONGO_URL_ENV].strip()
        return
    directory = tmp_path_factory.mktemp("mongo-wire")
    with WireServer.start(directory, die_with_parent=True) as server:
        yield server.url
