"""The ``--db URL`` option that ``hpo-driver`` and ``hpo-worker`` share, and opening it;
the number and choice types of their other options.

Kept with the store so that a worker does not import the driver.
"""

from __future__ import annotations

import logging
import math
import os
import shlex
import time
from typing import Any

import click

from hpo_service._common.words import did_you_mean
from hpo_service.exceptions import (
    HPOServiceError,
    StoreAuthorizationError,
    StoreConnectionError,
    StoreError,
    StoreNotFoundError,
)
from hpo_service.store import BaseTrialStore, open_store
from hpo_service.store._url import (
    STORE_URL_ENV,
    is_process_local,
    mask_url,
    parse_sqlite_url,
    split_scheme,
)

DEFAULT_DB = "sqlite:///hpo.sqlite"
_UNREACHABLE_PAUSE_SECONDS = 1.0  # between attempts, each up to connect_timeout
#: The shortest wait of one attempt to reach a server: the last attempt of a
#: --wait-for-store ends at the end of the wait, but gets at least this long for a
#: server that is up to answer (one round trip, a TLS handshake).
_SHORTEST_ATTEMPT_SECONDS = 1.0


def db_flag(db_url: str) -> str:
    """``" --db URL"`` for a command shown to paste (the URL masked and shell-quoted),
    or ``""`` for the default store; a masked URL adds a note after the command."""
    if db_url == DEFAULT_DB:
        return ""
    return " --db " + shlex.quote(mask_url(db_url))


ERRORS_LISTED = "--state error --format json"
"""The ``hpo-driver trials`` flags that every hint naming a study's error trials
ends with: JSON holds each one's traceback, the CSV only its message."""


def store_command(command: str, db_url: str, study: str) -> str:
    """A command to paste that reads or writes ``study`` in the store ``db_url``:
    ``"hpo-driver trials --db URL --study NAME"`` (the URL masked and shell-quoted,
    as :func:`db_flag` gives it; no ``--db`` for the default store).

    Args:
        command: The command and subcommand, e.g. ``"hpo-driver trials"``.
        db_url: The store URL the user gave (``--db`` or ``HPO_DB``).
        study: The study name.
    """
    return f"{command}{db_flag(db_url)} --study {shlex.quote(study)}"


def masked_note(db_url: str) -> str:
    """``" (the command shows *** in place of the password)"`` when ``db_url`` has a
    secret that :func:`db_flag` masks, else ``""``."""
    masked = mask_url(db_url) != db_url
    return " (the command shows *** in place of the password)" if masked else ""


def _unpadded(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """The URL without surrounding blanks and line ends: a Secret or ``.env`` value
    often ends with a newline (a YAML ``|`` block, ``--from-file``, a CRLF file), and
    ``sqlite:///hpo.sqlite\n`` named another file, which ``start`` created while the
    workers waited for ``hpo.sqlite``."""
    return value.strip() if isinstance(value, str) else value


db_option = click.option(
    "--db",
    "db_url",
    envvar=STORE_URL_ENV,
    default=DEFAULT_DB,
    show_default=True,
    callback=_unpadded,
    help="Trials store URL: sqlite:///path, mongodb://..., hyperopt's "
    "mongo://host:port/db/jobs (or env HPO_DB).",
)


_LEFT_OVER = "hpo_service.left_over_arguments"


class StudyOption(click.Option):
    """A required ``--study``: when it is missing, the error says where study names
    come from (a hyperopt user knows the study as the exp_key of its MongoTrials),
    or, when the name was given as an argument (``hpo-driver status quadratic``, as
    ``optuna`` commands take it), how to give it."""

    def handle_parse_result(
        self, ctx: click.Context, opts: Any, args: list[str]
    ) -> tuple[Any, list[str]]:
        ctx.meta[_LEFT_OVER] = list(args)  # what no option took, for process_value
        return super().handle_parse_result(ctx, opts, args)

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        try:
            return super().process_value(ctx, value)
        except click.MissingParameter as e:
            # click's stubs mark ClickException.message Final; it is a plain
            # attribute at run time, and format_message() reads it.
            e.message = _missing_study_text(ctx)  # type: ignore[misc]
            raise


def _missing_study_text(ctx: click.Context) -> str:
    """What to do about a missing ``--study``, for :class:`StudyOption`."""
    given = ctx.meta.get(_LEFT_OVER, [])
    takes_arguments = any(isinstance(p, click.Argument) for p in ctx.command.params)
    if len(given) == 1 and not takes_arguments:
        name = given[0]
        return (
            f"Name the study with the option, --study {shlex.quote(name)} (got "
            f"{name!r} as an argument)"
        )
    return (
        "Name the study: `hpo-driver studies` lists those of the store (a "
        "MongoTrials study is named by its exp_key)"
    )


def wait_for_store_option(more: str = "", *, default: float = 60.0) -> Any:
    """``--wait-for-store SECONDS`` of every command that opens a store, for
    :func:`reach_store`: 60 s for ``hpo-worker`` and ``hpo-driver start`` (a
    server starting beside them), 0 for the commands that read or import; ``more``
    ends its help."""
    return click.option(
        "--wait-for-store",
        type=NumberRange(min=0),
        default=default,
        show_default=True,
        metavar="SECONDS",
        help="Keep trying a MongoDB server that does not answer for this long (it "
        "may be starting, as under docker compose or Kubernetes), then exit 1; 0 "
        "makes one attempt, which waits up to the URL's connect timeout (10 s by "
        "default). An attempt ends at once when the connection is refused, and "
        "with the wait (given 1 s at least)." + more,
    )


class NumberRange(click.FloatRange):
    """click's ``FloatRange`` that also refuses NaN, and infinity unless allowed.

    A NaN passes every range check (its comparisons are all false): ``--lease-seconds
    nan`` was stored with the study and every worker then died on it, ``--timeout
    nan`` never fired. The options that mean "never" are left out instead of given
    an infinite value.
    """

    def __init__(self, *args: Any, infinite: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.infinite = infinite

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number) or (math.isinf(number) and not self.infinite):
            self.fail(f"{number} is not a finite number.", param, ctx)
        return number

    def _describe_range(self) -> str:
        """The bounds for ``--help``; empty without any (click shows ``x<=None``)."""
        if self.min is None and self.max is None:
            return ""
        return super()._describe_range()


class ChoiceFlag(click.Choice):
    """click's ``Choice`` for every option that takes one of a few words
    (``--algo``, ``--pruner``, ``--format``, ``--state``, ``--status``): letter case
    is ignored (``--pruner ASHA`` is ``asha``; the command gets the word as
    listed), and a word that is none of them says which is closest (``--algo tp``:
    "did you mean 'tpe'?")."""

    def __init__(self, choices: list[str]) -> None:
        super().__init__(choices, case_sensitive=False)

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as e:
            hint = did_you_mean(str(value), [str(c) for c in self.choices])
            if not hint:
                raise
            self.fail(f"{e.message.rstrip('.')}{hint}", param, ctx)


class MissingStoreError(click.ClickException):
    """The database does not exist and the command does not create one (exit 1)."""


class UnreachableStoreError(click.ClickException):
    """The store did not answer (exit 1); ``reason`` is the store's error."""

    def __init__(self, reason: StoreConnectionError) -> None:
        super().__init__(f"cannot reach the store: {reason}")
        self.reason = reason


def open_store_for_cli(
    db_url: str, *, create: bool = False, wait: float | None = None
) -> BaseTrialStore:
    """Open the store, turning failures into click errors.

    Args:
        db_url: The store URL.
        create: Create the database if it is missing (only ``hpo-driver start``
            does); read commands and workers never create one.
        wait: Seconds to wait for a database server to answer, when shorter than
            its connect timeout (10 s unless the URL says); None: that timeout. A
            connection refused on every address fails at once either way.

    Raises:
        MissingStoreError: ``create`` is False and the database does not exist.
        UnreachableStoreError: The store cannot be reached (exit code 1).
        click.ClickException: The server refused the URL's user (exit code 1).
        click.BadParameter: The URL is malformed or names no usable store, such as
            one that lives inside this process only (exit 2).
    """
    if is_process_local(db_url):
        raise click.BadParameter(
            f"`--db` must name a store that other processes reach, but "
            f"{mask_url(db_url)} lives inside one process (it is for Python's "
            "open_store); use a file, e.g. sqlite:///hpo.sqlite, or a MongoDB server "
            "(mongodb://...)",
            param_hint="'--db'",
        )
    options: dict[str, Any] = {"create": create}
    if wait is not None and _is_server(db_url):
        options["open_timeout"] = max(wait, _SHORTEST_ATTEMPT_SECONDS)
    try:
        return open_store(db_url, **options)
    except StoreConnectionError as e:
        raise UnreachableStoreError(e) from e
    except StoreNotFoundError as e:
        raise MissingStoreError(str(e)) from e
    except StoreAuthorizationError as e:  # a wrong password: exit 1, as when in use
        raise click.ClickException(str(e)) from e
    except (ValueError, StoreError) as e:
        raise click.BadParameter(str(e), param_hint="'--db'") from e


def store_location(db_url: str) -> str:
    """Where ``db_url`` points, for messages: a SQLite file's absolute path, or the
    URL with its password masked."""
    try:
        if split_scheme(db_url)[0] == "sqlite":
            path = parse_sqlite_url(db_url)[0]
            if path != ":memory:":
                return f"SQLite database {os.path.abspath(path)}"
    except ValueError:
        pass
    return mask_url(db_url)


def store_place(store: BaseTrialStore, db_url: str) -> str:
    """Where ``store`` keeps its studies, for messages: ``"SQLite database /abs/path"``
    or ``"MongoDB database 'hpo' at mongodb://user:***@host/"`` (password masked).

    Args:
        store: The open store.
        db_url: The URL it was opened from, as the user gave it.
    """
    where = store_location(db_url)
    database = getattr(store, "database", None)
    if isinstance(database, str):  # MongoDB: the URL may not name it
        where = f"MongoDB database {database!r} at {where}"
    return where


def study_not_found(
    store: BaseTrialStore,
    db_url: str,
    study: str | None,
    *,
    never: bool = False,
    flag: str = "--db",
) -> str:
    """ "study not found" naming the database looked in, the studies it holds and
    the ones closest to ``study`` (a typo: "did you mean 'noisy'?").

    Every command that takes ``--study`` says this for an unknown study, so a user in
    the wrong directory (or with the wrong ``--db``) sees where it looked; a worker
    whose study never existed says it "was never found" at its idle timeout.
    ``flag`` is the option that names the store, as the user gives it (``--mongo``
    for hyperopt's form).
    """
    try:
        names = [s.name for s in store.list_studies()]
    except HPOServiceError:
        names = []
    held = (
        f"it holds: {', '.join(names)}{did_you_mean(study or '', names)}"
        if names
        else "it holds no study"
    )
    return (
        f"study {study!r} {'was never found' if never else 'not found'} in "
        f"{store_place(store, db_url)} "
        f"({held}); "
        f"pass {flag} (or set HPO_DB) to use another store"
    )


def reach_store(
    db_url: str,
    wait_for_store: float,
    stopped: list[str],
    log: logging.Logger,
) -> BaseTrialStore:
    """Open the store (:func:`open_store_for_cli`), trying a MongoDB server that does
    not answer again until ``wait_for_store`` seconds have passed or a stop signal
    came (``--wait-for-store``: a server starting beside its clients, as under docker
    compose or Kubernetes). Says once on ``log`` that it waits (the URL's password
    masked), after the first failed attempt even when that attempt alone used up
    the wait (a loaded machine), and once when it got through. A SQLite store is
    never waited for: a file that cannot be opened is a wrong path or permissions.

    Args:
        db_url: The store URL.
        wait_for_store: Seconds to keep trying; 0 tries once.
        stopped: The stop signals received so far (a non-empty list ends the wait).
        log: Where to say that it waits.

    Raises:
        UnreachableStoreError: Still no answer after ``wait_for_store`` seconds, or
            when a stop signal came.
        MissingStoreError: The database does not exist.
    """
    if wait_for_store <= 0 or not _is_server(db_url):
        return open_store_for_cli(db_url)
    started = time.monotonic()
    waited = False
    while True:
        left = wait_for_store - (time.monotonic() - started)
        try:
            store = open_store_for_cli(db_url, wait=left)
        except UnreachableStoreError as e:
            if not waited and not stopped:
                # Said even when the first attempt alone outlasted the wait (a
                # loaded machine): the user asked to wait and should read that
                # it was tried.
                log.warning(
                    "waiting up to %g s (--wait-for-store) for the store %s to "
                    "answer: %s",
                    wait_for_store, mask_url(db_url), e.reason,
                )  # fmt: skip
                waited = True
            if stopped or time.monotonic() - started >= wait_for_store:
                raise
            time.sleep(_UNREACHABLE_PAUSE_SECONDS)
            continue
        if waited:
            log.warning(
                "connected to the store %s after %.0f s",
                mask_url(db_url), time.monotonic() - started,
            )  # fmt: skip
        return store


def _is_server(db_url: str) -> bool:
    """Whether ``db_url`` names a database server (not a SQLite file, not bad)."""
    try:
        return split_scheme(db_url)[0] != "sqlite"
    except ValueError:  # a bad URL: opening it says so
        return False
