"""Store URLs: parsing and password masking (dispatch to a backend is in ``_open``).

Every message and log line that shows a URL shows :func:`mask_url`'s form, and error
text coming from a driver goes through :func:`make_scrubber` first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

STORE_URL_ENV = "HPO_DB"
"""Environment variable with the store URL (``--db``'s default; hidden from ``ps``)."""

SUPPORTED_SCHEMES: tuple[str, ...] = (
    "sqlite",
    "mongodb",
    "mongodb+srv",
    "mongo",
    "mongomock",
)

#: Query options whose values are secrets (matched case-insensitively, by substring).
_SECRET_OPTION = re.compile(r"password|secret|token|authmechanismproperties", re.I)

_MASK = "***"


def split_scheme(url: Any) -> tuple[str, str]:
    """Split ``scheme://rest`` into the lower-cased scheme and the rest.

    Raises:
        ValueError: ``url`` is not a string of that form, or the scheme is unknown.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(
            f"`url` must look like scheme://..., with scheme one of "
            f"{_schemes_text()}, but got url={_safe_repr(url)}"
            + (_sqlite_hint(url) if isinstance(url, str) else "")
        )
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        raise ValueError(
            f"`url` scheme must be one of {_schemes_text()}, "
            f"but got scheme={scheme!r} in url={mask_url(url)!r}"
        )
    return scheme, rest


_SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


def _sqlite_hint(url: str) -> str:
    """How to name a SQLite file given without its scheme: ``"; did you mean
    'sqlite:///hpo.sqlite'?"`` for a path with a SQLite file's suffix (an absolute
    one gets the fourth slash: ``sqlite:////abs/hpo.db``), the URL's form for
    ``sqlite:`` with too few slashes, ``""`` for anything else (and for a text
    with an ``@``, which may hold a password)."""
    if "@" in url:
        return ""
    if url.lower().startswith("sqlite:"):
        return (
            "; a SQLite URL is sqlite:/// then the file's path: "
            "sqlite:///relative.sqlite, sqlite:////abs/path.sqlite"
        )
    if url.lower().endswith(_SQLITE_SUFFIXES):
        return f"; did you mean {'sqlite:///' + url!r}?"
    return ""


def _schemes_text() -> str:
    return ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)


def _safe_repr(value: Any) -> str:
    return repr(mask_url(value)) if isinstance(value, str) else repr(value)


def _split_userinfo(rest: str) -> tuple[str | None, str]:
    """Split ``user:password@hosts/path?query`` at its last '@'.

    A password that was not percent-encoded may hold '/', '?' or '@', so the last '@'
    is taken: an '@' in a query option then over-masks the hosts, never leaks.
    """
    at = rest.rfind("@")
    if at < 0:
        return None, rest
    return rest[:at], rest[at + 1 :]


def _mask_option(pair: str) -> str:
    key, eq, _ = pair.partition("=")
    return f"{key}={_MASK}" if eq and _SECRET_OPTION.search(key) else pair


def mask_url(url: str) -> str:
    """Return ``url`` with its password and secret query options replaced by ``***``.

    ``mongodb://user:pw@host/db?tlsCertificateKeyFilePassword=x`` becomes
    ``mongodb://user:***@host/db?tlsCertificateKeyFilePassword=***``.
    """
    if "://" not in url:
        return url
    scheme, _, rest = url.partition("://")
    userinfo, tail = _split_userinfo(rest)
    out = f"{scheme}://"
    if userinfo is not None:
        user, colon, _ = userinfo.partition(":")
        out += f"{user}:{_MASK}@" if colon else f"{user}@"
    hostpath, qmark, query = tail.partition("?")
    out += hostpath
    if qmark:
        out += "?" + "&".join(_mask_option(p) for p in query.split("&"))
    return out


def _secrets(url: str) -> list[str]:
    """The secret substrings of ``url``, raw and percent-decoded, longest first."""
    if "://" not in url:
        return []
    rest = url.partition("://")[2]
    userinfo, tail = _split_userinfo(rest)
    found: list[str] = []
    if userinfo is not None and ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    for pair in tail.partition("?")[2].split("&"):
        key, eq, value = pair.partition("=")
        if eq and _SECRET_OPTION.search(key):
            found.append(value)
    found += [unquote(s) for s in found]
    return sorted({s for s in found if s}, key=len, reverse=True)


def make_scrubber(url: str) -> Callable[[str], str]:
    """Return a function that removes ``url``'s secrets from any text.

    The full URL is replaced by its masked form; any remaining occurrence of the
    password (raw or percent-decoded) becomes ``***``.
    """
    masked = mask_url(url)
    secrets = _secrets(url)

    def scrub(text: str) -> str:
        text = text.replace(url, masked)
        for secret in secrets:
            text = text.replace(secret, _MASK)
        return text

    return scrub


def _two_slashes_hint(url: str) -> str:
    """``"; did you mean 'sqlite:///hpo.sqlite'?"`` for ``sqlite://hpo.sqlite`` (a
    relative path after two slashes, read as a host), ``""`` for anything else (and
    for a text with an ``@``, which may hold a password)."""
    scheme, _, rest = url.partition("://")
    if "@" in url or not rest or rest.startswith("/"):
        return ""
    return f"; did you mean {scheme + ':///' + rest!r}?"


def parse_sqlite_url(url: str) -> tuple[str, dict[str, str]]:
    """Return the database path and query options of a ``sqlite:///...`` URL.

    ``sqlite:///relative/path`` is relative to the working directory,
    ``sqlite:////abs/path`` is absolute, ``sqlite:///:memory:`` is a private in-memory
    database. Options may follow as ``?busy_timeout=10&retry_timeout=60``.

    Raises:
        ValueError: The URL has a host part or no path.
    """
    _, rest = split_scheme(url)
    rest, _, query = rest.partition("?")
    if not rest.startswith("/") or rest == "/":
        raise ValueError(
            "`url` must look like sqlite:///relative/path or sqlite:////abs/path, "
            f"but got url={url!r}{_two_slashes_hint(url)}"
        )
    options: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        key, eq, value = pair.partition("=")
        if not eq:
            raise ValueError(
                f"`url` options must be key=value, but got {pair!r} in {url!r}"
            )
        options[key] = unquote(value)
    return unquote(rest[1:]), options


def is_process_local(url: str) -> bool:
    """Whether ``url`` names a store that lives inside one process: ``mongomock://``
    or ``sqlite:///:memory:``, which no other process (worker, driver) can reach.

    A malformed URL gives False (opening it says what is wrong).
    """
    try:
        scheme = split_scheme(url)[0]
        return scheme == "mongomock" or (
            scheme == "sqlite" and parse_sqlite_url(url)[0] == ":memory:"
        )
    except ValueError:
        return False


def parse_mongomock_url(url: str) -> tuple[str, str | None]:
    """Return the in-process server name and the database of a ``mongomock://`` URL.

    ``mongomock://`` and ``mongomock://name/db`` are both valid; the server name is
    ``"default"`` when empty.
    """
    _, rest = split_scheme(url)
    rest, _, query = rest.partition("?")
    if query:
        raise ValueError(f"`url` mongomock:// takes no options, but got url={url!r}")
    name, _, database = rest.partition("/")
    return unquote(name) or "default", unquote(database) or None


def mongodb_url_of_hyperopt(url: str) -> str:
    """The ``mongodb://`` URL of hyperopt's ``mongo://host:port/db/jobs`` form.

    hyperopt's ``MongoTrials`` and ``hyperopt-mongo-worker`` take
    ``mongo://[user:password@]host[:port][,host...]/database[/collection][?options]``.
    The collection (hyperopt requires ``jobs``) names nothing here: the store keeps
    its own collections in ``database``. A bare ``host[:port]/database`` (the worker's
    ``--mongo`` form) is accepted too.

    Raises:
        ValueError: No database is named.
    """
    rest = url.partition("://")[2] if "://" in url else url
    userinfo, tail = _split_userinfo(rest)
    hostpath, qmark, query = tail.partition("?")
    hosts, _, path = hostpath.partition("/")
    database = path.split("/")[0]
    if not hosts or not database:
        raise ValueError(
            "a hyperopt MongoDB URL must look like mongo://host:port/database/jobs "
            f"(or host:port/database), but got {mask_url(url)!r}"
        )
    auth = "" if userinfo is None else f"{userinfo}@"
    return f"mongodb://{auth}{hosts}/{database}{qmark}{query}"


def option_names(url: str, options: dict[str, Any] | None = None) -> set[str]:
    """The option names (lower case) given in ``url``'s query and in ``options``."""
    query = urlsplit(url).query
    given = {part.partition("=")[0] for part in query.replace(";", "&").split("&")}
    return {name.lower() for name in (*given, *(options or {})) if name}
