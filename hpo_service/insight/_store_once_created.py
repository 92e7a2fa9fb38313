"""The store of a dashboard started before its SQLite database exists (beside a
driver that has not created it yet): every read first opens the database, and
fails as a missing store while there is none."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from hpo_service.store import open_store

if TYPE_CHECKING:
    from hpo_service.store import BaseTrialStore


class StoreOnceCreated:
    """Stands for the store at ``db_url`` until its database exists.

    Each attribute read (a store method) first opens the store without creating
    it; while the database is missing that raises the store's
    :class:`~hpo_service.exceptions.StoreNotFoundError` ("no SQLite database at
    PATH ..."), which the dashboard answers with 503 and that reason, as it does a
    store it cannot read; once opened, every call goes to the store. Never creates
    a database: the driver that makes it is the one the page waits for.

    Args:
        db_url: The store URL, e.g. ``sqlite:///hpo.sqlite``.
    """

    def __init__(self, db_url: str) -> None:
        self._db_url = db_url
        self._store: BaseTrialStore | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        """The opened store's attribute ``name``.

        Raises:
            StoreNotFoundError: The database does not exist (yet).
            StoreError: The store cannot be opened for another reason.
        """
        if name.startswith("_"):  # not a store method: no opening for it
            raise AttributeError(name)
        return getattr(self._opened(), name)

    def _opened(self) -> BaseTrialStore:
        with self._lock:
            if self._store is None:
                self._store = open_store(self._db_url, create=False)
            return self._store

    def close(self) -> None:
        """Close the store if it was opened."""
        with self._lock:
            if self._store is not None:
                self._store.close()
