"""Connecting to MongoDB: the client, the concerns the store pins, one-line errors.

The store's own reads and writes ignore the URL's read preference, read concern and
``w``: they read from the primary with read concern ``majority`` and write with write
concern ``majority`` (the URL's ``wtimeoutMS`` and ``journal`` are kept; ``wtimeoutMS``
defaults to 10 s). Why:

- a secondary may lag, so reading the change counter and the trials from secondaries
  can skip a write for good, and the check "did my lost write land?" can miss it;
- on a replica set a ``w:1`` write (or a ``local`` read of one) can be rolled back after
  a failover: a version number already handed out as a cursor would be reused, and a
  claim that vanished lets a second worker run the trial.

Cost: every write waits for a majority of the replica set (one extra replication round
trip, typically a millisecond or two inside one data centre) and all load goes to the
primary. On a standalone server or mongos, ``majority`` means the same as ``w:1``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pymongo
from pymongo import ReadPreference
from pymongo.errors import ConfigurationError, InvalidURI, ServerSelectionTimeoutError
from pymongo.read_concern import ReadConcern
from pymongo.server_type import SERVER_TYPE
from pymongo.write_concern import WriteConcern

from hpo_service.exceptions import StoreConnectionError
from hpo_service.store._url import make_scrubber, mask_url

_logger = logging.getLogger(__name__)

#: MongoDB 4.2: updates with aggregation pipelines and ``$$NOW``, which the store uses
#: to judge leases by the server's clock inside each query.
MIN_WIRE_VERSION = 8
MIN_SERVER_VERSION = "4.2"

DEFAULT_WTIMEOUT_MS = 10_000
_MONITOR_POLL_SECONDS = 0.02  # between looks at pymongo's view of the deployment
#: How to wait longer, as :func:`unreachable_message` ends by default.
RAISE_THE_WAIT = "raise the wait with connect_timeout or serverSelectionTimeoutMS"

#: Servers that answered ``hello`` but cannot take writes now: an election is on.
_NOT_WRITABLE = frozenset(
    {SERVER_TYPE.RSSecondary, SERVER_TYPE.RSArbiter, SERVER_TYPE.RSOther}
)


def make_client(url: str, options: dict[str, Any]) -> Any:
    """A ``pymongo.MongoClient`` for ``url``; errors name the URL masked.

    No network traffic happens here: pymongo connects in the background.

    Raises:
        ValueError: The URL or an option is invalid, or it asks for unacknowledged
            writes (``w=0``).
        StoreConnectionError: A ``mongodb+srv://`` name does not resolve.
    """
    scrub = make_scrubber(url)
    try:
        client = pymongo.MongoClient(url, **options)
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
    if not client.write_concern.acknowledged:
        client.close()
        raise ValueError(
            "`w` must ask for acknowledged writes: the store has to know whether a "
            "claim or a result was written, but got w=0 in the URL or options of "
            f"{mask_url(url)}"
        )
    return client


def pinned_options(client: Any) -> dict[str, Any]:
    """Collection options for the store's own coordination: see the module doc."""
    asked = client.write_concern.document
    write_concern = WriteConcern(
        w="majority",
        wtimeout=asked.get("wtimeout", DEFAULT_WTIMEOUT_MS),
        j=asked.get("j"),
    )
    return {
        "read_preference": ReadPreference.PRIMARY,
        "read_concern": ReadConcern("majority"),
        "write_concern": write_concern,
    }


def local_reads(collection: Any) -> Any:
    """``collection`` reading the primary's latest state (read concern ``local``).

    For "did my write land?" after a lost reply: that write may not be majority
    committed yet, and the retried conditional write sees the latest state too.
    """
    return collection.with_options(read_concern=ReadConcern("local"))


def snapshot_reads(collection: Any) -> Any:
    """``collection`` reading at one point in time (read concern ``snapshot``).

    A read that yields sees, in the storage engine, a newer state after each yield
    under ``local`` and ``majority``: a document whose indexed field changed meanwhile
    may be met twice in the index or not at all. ``snapshot`` reads majority-committed
    data at one cluster time across yields. Outside transactions it needs MongoDB 5.0
    or later on a replica set or sharded cluster (find, aggregate and distinct only);
    other servers refuse it (:data:`NO_SNAPSHOT_CODES`).
    """
    return collection.with_options(read_concern=ReadConcern("snapshot"))


#: Codes of a server refusing read concern ``snapshot`` outside a transaction:
#: IllegalOperation, InvalidOptions (MongoDB < 5.0), ReadConcernMajorityNotEnabled,
#: NotImplemented, SnapshotUnavailable (a standalone server).
NO_SNAPSHOT_CODES = frozenset({20, 72, 148, 238, 246})


def hello(
    client: Any, description: str, connect_timeout: float, advice: str = RAISE_THE_WAIT
) -> dict[str, Any]:
    """Ask any reachable member ``hello``: reachability, server clock and version.

    Any member will do (a secondary answers during an election), so that opening a
    store rides out an election like every other operation; operations then wait
    for the primary within ``retry_timeout``.

    Raises:
        StoreConnectionError: Every address refused the connection (at once, see
            :func:`await_member`), or no member answered within ``connect_timeout``
            seconds; the message says in one line what was tried and the likely
            cause, and ``advice`` on how to wait longer.
    """
    await_member(client, description, connect_timeout, advice)
    try:
        reply: dict[str, Any] = client.admin.command(
            "hello", read_preference=ReadPreference.NEAREST
        )
    except ServerSelectionTimeoutError:
        raise StoreConnectionError(
            unreachable_message(client, description, connect_timeout, advice)
        ) from None
    return reply


def await_member(
    client: Any, description: str, seconds: float, advice: str = RAISE_THE_WAIT
) -> None:
    """Wait until some member of ``client``'s deployment has answered pymongo's
    monitor, up to ``seconds``; end at once when every address refused the
    connection.

    A refused connection is a definite answer (nothing listens there), where
    pymongo's server selection would try again for its whole timeout (10 s by
    default): ``hpo-driver status`` said "connection refused" only after it. A
    caller that expects a server to start soon tries again (``--wait-for-store``).
    A member that does not answer at all (a dropped packet, a server hanging at
    start) is waited for up to ``seconds``.

    Args:
        client: A ``pymongo.MongoClient`` (its monitors started: ``connect=True``).
        description: The URL, masked, for the message.
        seconds: The longest wait, in seconds.
        advice: How to wait longer, for the message when none answered in time.

    Raises:
        StoreConnectionError: Every address refused, or none answered in time.
    """
    deadline = time.monotonic() + seconds
    while True:
        topology = client.topology_description
        if topology.has_readable_server(ReadPreference.NEAREST):
            return
        servers = topology.server_descriptions()
        if servers and all(_refused(sd) for sd in servers.values()):
            raise StoreConnectionError(refused_message(client, description))
        if time.monotonic() >= deadline:
            raise StoreConnectionError(
                unreachable_message(client, description, seconds, advice)
            )
        time.sleep(_MONITOR_POLL_SECONDS)


def _refused(server: Any) -> bool:
    """Whether pymongo's monitor was refused a connection to ``server``."""
    return "refused" in str(server.error or "").lower()


def refused_message(client: Any, description: str) -> str:
    """One line: every address of ``description`` refused the connection."""
    servers = client.topology_description.server_descriptions()
    tried = ", ".join(f"{host}:{port}" for host, port in servers)
    return (
        f"MongoDB at {description} must be reachable, but every address refused "
        f"the connection (tried {tried}): is mongod running there, on that port?"
    )


def check_version(reply: dict[str, Any], description: str) -> None:
    """Refuse servers older than :data:`MIN_SERVER_VERSION`.

    Raises:
        StoreConnectionError: The server's wire version is below 8 (MongoDB 4.2).
    """
    wire = int(reply.get("maxWireVersion", 0))
    if wire < MIN_WIRE_VERSION:
        raise StoreConnectionError(
            f"MongoDB at {description} must be version {MIN_SERVER_VERSION} or later "
            f"(the store judges leases with $$NOW in pipeline updates), but it speaks "
            f"wire version {wire} (< {MIN_WIRE_VERSION})"
        )


def unreachable_message(
    client: Any, description: str, seconds: float, advice: str = RAISE_THE_WAIT
) -> str:
    """One line: which addresses were tried, for how long, the likely cause, and
    ``advice`` in parentheses."""
    servers = client.topology_description.server_descriptions()
    tried = ", ".join(f"{host}:{port}" for host, port in servers)
    causes = sorted({_likely_cause(sd) for sd in servers.values()})
    name = client.options.replica_set_name
    if not servers and name:  # every seed answered as a member of another set
        tried = _seeds(description)
        causes = [f"no member belongs to replica set {name!r}: check replicaSet="]
    return (
        f"MongoDB at {description} must be reachable, but no member answered within "
        f"{seconds:g} s (tried {tried or 'no address'}): "
        f"{'; '.join(causes) or 'unknown'} ({advice})"
    )


def _seeds(description: str) -> str:
    """The host list of a masked ``mongodb://`` URL (credentials dropped)."""
    rest = description.split("://", 1)[-1]
    return rest.split("/", 1)[0].rsplit("@", 1)[-1]


_CAUSES = [
    ("refused", "connection refused: is mongod running there, on that port?"),
    ("timed out", "connection timed out: wrong host, or a firewall in the way?"),
    ("name or service not known", "the host name does not resolve"),
    ("nodename nor servname", "the host name does not resolve"),
    ("temporary failure in name resolution", "the host name does not resolve"),
    ("certificate", "TLS handshake failed: check tls/tlsCAFile options"),
    ("ssl", "TLS handshake failed: check tls/tlsCAFile options"),
    ("authentication", "authentication failed: check user, password, authSource"),
    ("replicaset", "replica set name mismatch: check replicaSet= in the URL"),
]


def _likely_cause(server: Any) -> str:
    if server.server_type in _NOT_WRITABLE:
        return "no primary: an election may be under way"
    error = str(server.error or "").lower()
    for needle, cause in _CAUSES:
        if needle in error:
            return cause
    if server.error is None:
        return "no reply within the wait: a slow network, or TLS on one side only?"
    first = str(server.error).splitlines()[0]
    return first.split(" (configured timeouts")[0][:160]
