"""Indexes of the MongoDB store, versioned, created or migrated before the first write.

The database's ``meta`` collection holds ``{_id: "schema", indexes: N}``: the version of
the index definitions below that the database carries. A store checks it before its
first write (opening a store writes nothing, so a read-only user can open one, and
reading never creates a database). When the database is older, the store migrates
it: an index whose definition changed is dropped and created again, retired ones are
dropped, missing ones are created, the documents are brought up to date (version 3:
done trials get their rank, in batches), then the version is raised (``$max``, so it
never goes back); a migration cut short is thus resumed by the next store to write. A
database already at a newer version is left alone: older code keeps working on it, at
worst without an index it no longer knows. Concurrent migrations are safe: creating an
identical index is a no-op and dropping a dropped one is ignored.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo.errors import OperationFailure

_logger = logging.getLogger(__name__)

#: Version of :data:`INDEXES`. 0: the ``trials`` indexes of hpo-service 0.1 (then
#: created on every open, unversioned: a database without the meta document);
#: 1: versioned; 2: the ``attachments`` collection's key; 3: ``best`` (done trials
#: by rank; the store then ranks the done trials written before it).
INDEX_VERSION = 3

_Index = tuple[str, list[tuple[str, int]], bool]  # (name, keys, unique)

#: Indexes by collection.
INDEXES: dict[str, list[_Index]] = {
    "trials": [
        ("study_tid", [("study", 1), ("tid", 1)], True),
        ("claim_study", [("state", 1), ("study", 1), ("tid", 1)], False),
        ("claim_any", [("state", 1), ("created_at", 1), ("tid", 1)], False),
        ("leases", [("state", 1), ("lease_expires_at", 1)], False),
        ("changes", [("study", 1), ("version", 1)], False),
        (
            "best",
            [
                ("study", 1),
                ("state", 1),
                ("best_violation", 1),
                ("best_loss", 1),
                ("tid", 1),
            ],
            False,
        ),
    ],
    "attachments": [("key", [("study", 1), ("tid", 1), ("name", 1)], True)],
}

#: Names of indexes (by collection) that earlier versions created and this one drops.
RETIRED_INDEXES: dict[str, frozenset[str]] = {}

META_ID = "schema"

_INDEX_NOT_FOUND = 27
_INDEX_OPTIONS_CONFLICT = 85  # same keys under another name: an equivalent exists


def stored_version(meta: Any) -> int:
    """The index version the database carries (0: none recorded)."""
    doc = meta.find_one({"_id": META_ID})
    return int(doc.get("indexes", 0)) if doc else 0


def migrate(collections: dict[str, Any]) -> None:
    """Bring the indexes to :data:`INDEX_VERSION` (without recording it: the store
    first brings the documents up to it, see :func:`record_version`).

    Args:
        collections: The collections named in :data:`INDEXES`, by name.
    """
    for collection_name, indexes in INDEXES.items():
        retired = RETIRED_INDEXES.get(collection_name, frozenset())
        _migrate_collection(collections[collection_name], indexes, retired)


def record_version(meta: Any) -> None:
    """Record that the database is at :data:`INDEX_VERSION`, once its indexes and
    documents are: a migration cut short is resumed by the next store to write.

    Args:
        meta: The ``meta`` collection.
    """
    meta.update_one({"_id": META_ID}, {"$max": {"indexes": INDEX_VERSION}}, upsert=True)


def _migrate_collection(
    collection: Any, indexes: list[_Index], retired: frozenset[str]
) -> None:
    existing = {ix["name"]: ix for ix in collection.list_indexes()}
    for name, keys, unique in indexes:
        have = existing.get(name)
        if have is not None and not _same(have, keys, unique):
            _logger.info("index %s changed definition: dropping and creating it", name)
            _drop(collection, name)
            have = None
        if have is None:
            _create(collection, name, keys, unique)
    for name in retired & existing.keys():
        _drop(collection, name)


def _same(index: dict[str, Any], keys: list[tuple[str, int]], unique: bool) -> bool:
    have = [(field, int(order)) for field, order in index["key"].items()]
    return have == keys and bool(index.get("unique", False)) == unique


def _create(trials: Any, name: str, keys: list[tuple[str, int]], unique: bool) -> None:
    try:
        trials.create_index(keys, name=name, unique=unique)
    except OperationFailure as exc:
        if exc.code != _INDEX_OPTIONS_CONFLICT:
            raise
        _logger.warning("index %s exists under another name: kept that one", name)


def _drop(trials: Any, name: str) -> None:
    try:
        trials.drop_index(name)
    except OperationFailure as exc:
        if exc.code != _INDEX_NOT_FOUND:
            raise
