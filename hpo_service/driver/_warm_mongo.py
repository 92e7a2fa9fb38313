"""Reading a hyperopt ``MongoTrials`` database for ``hpo-driver import``.

hyperopt's ``MongoTrials("mongo://host:port/db/jobs", exp_key=...)`` and its
``hyperopt-mongo-worker`` keep each trial as one document of collection ``jobs`` in
database ``db``: the dicts of hyperopt's ``Trials`` (``state``, ``tid``,
``misc.vals``, ``result``) with the experiment's ``exp_key``, and a failed trial's
error as ``error: [type, message]``. They are read here as a pickled ``Trials`` is
(:func:`~hpo_service.driver._warm_sources.hyperopt_docs`); nothing else of the
database is read (the pickled ``Domain`` hyperopt keeps in GridFS is never
unpickled). The database is only read, never written.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hpo_service.driver._warm_start import Evaluated
from hpo_service.exceptions import StoreConnectionError
from hpo_service.store._url import (
    make_scrubber,
    mask_url,
    mongodb_url_of_hyperopt,
    option_names,
)

#: Seconds to wait for the server (a wrong host fails within this), unless the
#: URL's ``serverSelectionTimeoutMS`` says otherwise.
_WAIT_SECONDS = 10.0
#: The fields of a job document the import reads.
_FIELDS = ("tid", "state", "misc.vals", "misc.error", "error", "result", "exp_key")


def is_jobs_url(source: str) -> bool:
    """Whether ``source`` names a hyperopt MongoDB jobs collection, not a file."""
    return source.startswith("mongo://")


def read_jobs(
    url: str, exp_key: str | None, left_out: Counter[str] | None = None
) -> list[Evaluated]:
    """The finished trials of experiment ``exp_key`` of a hyperopt jobs collection.

    Args:
        url: ``mongo://[user:password@]host[:port]/db/jobs`` (the collection
            defaults to ``jobs``), as hyperopt's ``MongoTrials`` takes it.
        exp_key: The experiment to read; None reads the collection's only one.
        left_out: If given, counts the trials not read (queued, running), by state.

    Raises:
        ValueError: The URL is malformed, the collection holds no trial of
            ``exp_key``, or several experiments and ``exp_key`` is None (naming
            them).
        StoreConnectionError: The server cannot be reached or refuses the read.
    """
    from hpo_service.driver._warm_sources import hyperopt_docs

    database, collection = _names(url)
    shown = mask_url(url)
    docs = _find(url, database, collection, exp_key)
    name = shown if exp_key is None else f"{shown}[{exp_key}]"
    left_out = Counter() if left_out is None else left_out
    return list(hyperopt_docs(docs, name, left_out))


def _names(url: str) -> tuple[str, str]:
    """``(database, collection)`` of a ``mongo://`` URL.

    Raises:
        ValueError: It names no database.
    """
    mongodb_url_of_hyperopt(url)  # checks the form
    path = url.partition("://")[2].partition("?")[0].rsplit("@", 1)[-1]
    parts = path.split("/")[1:]
    return parts[0], (parts[1] if len(parts) > 1 and parts[1] else "jobs")


def _find(
    url: str, database: str, collection: str, exp_key: str | None
) -> list[dict[str, Any]]:
    """The job documents of ``exp_key`` (every one when None and there is one
    experiment), by tid."""
    import pymongo
    from pymongo.errors import PyMongoError, ServerSelectionTimeoutError

    from hpo_service.store._mongo_connect import (
        await_member,
        make_client,
        unreachable_message,
    )

    address = mongodb_url_of_hyperopt(url)
    wait = {"serverSelectionTimeoutMS": int(_WAIT_SECONDS * 1000)}
    given = option_names(address)  # the URL's own wait, if it names one, wins
    client = make_client(address, {} if "serverselectiontimeoutms" in given else wait)
    try:
        seconds = client.options.server_selection_timeout
        await_member(client, mask_url(url), seconds)  # a refusal ends it at once
        jobs = client[database][collection]
        _check_experiment(jobs, url, exp_key)
        query = {} if exp_key is None else {"exp_key": exp_key}
        return list(jobs.find(query, list(_FIELDS)).sort("tid", pymongo.ASCENDING))
    except ServerSelectionTimeoutError:
        seconds = client.options.server_selection_timeout
        raise StoreConnectionError(
            unreachable_message(client, mask_url(url), seconds)
        ) from None
    except PyMongoError as e:
        raise StoreConnectionError(
            f"hyperopt's jobs collection at {mask_url(url)} must be readable, but: "
            f"{make_scrubber(url)(str(e))[:300]}"
        ) from None
    finally:
        client.close()


def _check_experiment(jobs: Any, url: str, exp_key: str | None) -> None:
    """Refuse an ``exp_key`` the collection does not hold, or none when it holds
    several experiments (hyperopt would mix their trials)."""
    keys = sorted(jobs.distinct("exp_key"), key=str)
    shown = ", ".join(repr(k) for k in keys[:20]) + (" ..." if len(keys) > 20 else "")
    where = f"hyperopt's jobs collection at {mask_url(url)}"
    if not keys:
        raise ValueError(
            f"{where} must hold trials, but it holds none (MongoTrials keeps them in "
            "mongo://host:port/DATABASE/jobs: check the database's name)"
        )
    if exp_key is not None and exp_key not in keys:
        raise ValueError(
            f"{where} must hold trials of exp_key {exp_key!r} (`--exp-key`), but "
            f"its experiments are {shown}"
        )
    if exp_key is None and len(keys) > 1:
        raise ValueError(
            f"`--exp-key` must name the experiment to import when {where} holds "
            f"several, but got no --exp-key and experiments={shown}"
        )
