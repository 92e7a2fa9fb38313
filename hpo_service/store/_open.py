"""Opening a store: pick the backend module by the URL's scheme.

Backends import URL parsing from ``_url``; only this module imports the backends, so
there is no import cycle between URL handling and the backends.
"""

from __future__ import annotations

from typing import Any

from hpo_service.store._base import BaseTrialStore
from hpo_service.store._url import mongodb_url_of_hyperopt, split_scheme


def open_store(url: str, **options: Any) -> BaseTrialStore:
    """Open the trials store that ``url`` names, picking the backend by its scheme.

    Args:
        url: ``sqlite:///relative/path``, ``sqlite:////abs/path``,
            ``mongodb://[user:password@]host[:port][,host...]/[database][?options]``,
            ``mongodb+srv://...``, hyperopt's ``mongo://[user:password@]host:port/db/jobs``
            (the database ``db``) or ``mongomock://[name][/database]``. A MongoDB URL
            goes to :class:`pymongo.MongoClient` unchanged (auth, TLS, replica sets);
            the database defaults to ``"hpo"``. ``mongomock://name`` is an in-memory
            server shared by every store opened with that name in this process
            (it needs mongomock, in the ``test`` extra).
        **options: Backend options. Every backend takes ``retry_timeout`` (seconds
            of transient errors retried before giving up, default 30). SQLite takes
            ``busy_timeout`` (seconds a write waits for the lock, default 5). MongoDB
            takes ``connect_timeout`` (seconds to find a server, default 10; a
            ``serverSelectionTimeoutMS`` in the URL wins), ``open_timeout`` (seconds
            opening waits for a server, when shorter than that; a connection
            refused on every address fails at once), ``database`` (overrides the
            URL's) and passes any other keyword to :class:`pymongo.MongoClient`.
            mongomock takes ``database``. Every backend takes ``create`` (default
            True): False opens only an existing store and writes nothing on open
            (a missing SQLite file raises ``StoreNotFoundError``; opening MongoDB
            never writes).

    Returns:
        An open store; close it (or use it as a context manager) when done.

    Blanks and line ends around ``url`` are ignored.

    Raises:
        ValueError: The URL is malformed, its scheme unknown, or an option invalid.
        StoreConnectionError: The store cannot be reached within the timeout (for
            SQLite: the database's directory does not exist or cannot be opened).
        StoreNotFoundError: ``create=False`` and the SQLite database is missing.
        ImportError: A ``mongomock://`` URL without mongomock installed.
    """
    if isinstance(url, str):  # an environment value's trailing newline, say
        url = url.strip()
    scheme, _ = split_scheme(url)
    if scheme == "sqlite":
        from hpo_service.store._sqlite import open_sqlite

        return open_sqlite(url, **options)
    if scheme == "mongomock":
        from hpo_service.store._mongo import open_mongomock

        return open_mongomock(url, **options)
    from hpo_service.store._mongo import open_mongodb

    if scheme == "mongo":  # hyperopt's MongoTrials form: mongo://host:port/db/jobs
        return open_mongodb(mongodb_url_of_hyperopt(url), **options)
    return open_mongodb(url, **options)
