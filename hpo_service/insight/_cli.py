"""``hpo-driver report`` and ``hpo-driver importance``.

Registered on the ``hpo-driver`` group in :mod:`hpo_service.driver.cli`; plotting and
scikit-learn are imported inside the commands, so ``hpo-driver --help`` stays cheap.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hpo_service._common.standard_json import dumps
from hpo_service._common.stop_signals import pause_point
from hpo_service._common.words import counted, did_you_mean
from hpo_service.exceptions import HPOServiceError, StudyNotFoundError
from hpo_service.store._cli_option import (
    ChoiceFlag,
    MissingStoreError,
    StudyOption,
    db_option,
    reach_store,
    study_not_found,
    wait_for_store_option,
)

if TYPE_CHECKING:
    from hpo_service.insight._data import StudyData

_logger = logging.getLogger(__name__)

_MISSING_EXTRA = (
    'this command needs the dashboard extra: pip install "hpo-service[dashboard]"'
)


def load_for_cli(db_url: str, study: str, wait_for_store: float = 0.0) -> StudyData:
    """Read a study for a command; store and lookup failures become click errors.

    Args:
        db_url: The store URL.
        study: The study's name.
        wait_for_store: Seconds to keep trying a server that does not answer
            (``--wait-for-store``, see :func:`reach_store`).
    """
    from hpo_service.insight._data import StudyData

    store = reach_store(db_url, wait_for_store, [], _logger)
    try:
        data = StudyData.from_store(store, study)
        pause_point("study-read")  # a test's hook: Ctrl-C while a report is made
        return data
    except StudyNotFoundError as e:
        raise click.ClickException(study_not_found(store, db_url, study)) from e
    except HPOServiceError as e:
        raise click.ClickException(str(e)) from e
    finally:
        store.close()


def require_extra(*modules: str) -> None:
    """Fail with an install hint when an optional dependency is missing."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise click.ClickException(f"{_MISSING_EXTRA} (missing: {', '.join(missing)})")


@click.command()
@click.option("--study", required=True, help="Study name.", cls=StudyOption)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="HTML file to write (self-contained: opens offline).",
)
@click.option(
    "--format",
    "image_format",
    type=ChoiceFlag(["png", "svg"]),
    help="Also write every plot as an image beside the HTML (needs a Chromium).",
)
@db_option
@wait_for_store_option(default=0.0)
def report(
    db_url: str,
    study: str,
    out: Path,
    image_format: str | None,
    wait_for_store: float,
) -> None:
    """Write an HTML report of a study: history, parallel coordinates, slices,
    importances, contour, intermediate values, what the pruner did (its rungs),
    worker timeline, failures and, with several objectives, the Pareto front."""
    require_extra("plotly", "sklearn")
    from hpo_service.insight._report import write_report

    started = time.perf_counter()
    if not out.parent.is_dir():
        raise click.BadParameter(
            f"the folder of `--out` must exist, but got --out={out}",
            param_hint="'--out'",
        )
    data = load_for_cli(db_url, study, wait_for_store)
    try:
        written = write_report(data, out, image_format=image_format)
    except ImportError as e:
        raise click.ClickException(str(e)) from e
    except OSError as e:
        raise click.ClickException(
            f"`--out` must be a file that can be written, but got --out={out}: "
            f"{e.strerror}"
        ) from None
    for path in written:
        click.echo(str(path))
    click.echo(
        f"report of study {study!r} ({counted(len(data.rows), 'trial')}) written in "
        f"{time.perf_counter() - started:.1f} s",
        err=True,
    )


@click.command()
@click.option("--study", required=True, help="Study name.", cls=StudyOption)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--objective",
    "which",
    metavar="N|NAME",
    default="0",
    show_default=True,
    help="Which loss of a multi-objective study: its 0-based number or its name "
    "(--objectives error,latency_ms: 1 or latency_ms).",
)
@db_option
@wait_for_store_option(default=0.0)
def importance(
    db_url: str, study: str, as_json: bool, which: str, wait_for_store: float
) -> None:
    """Parameter importances of a study (fANOVA on a random forest)."""
    require_extra("sklearn")
    from hpo_service.insight._importance import linear_scale_note, param_importances
    from hpo_service.insight._report import done_with_loss

    data = load_for_cli(db_url, study, wait_for_store)
    objective = _objective_index(which, data.n_objectives, data.objective_names)
    result = param_importances(data, objective=objective)
    if result and (note := linear_scale_note(data)):  # stdout stays the table
        click.echo(f"note: {note}", err=True)
    if as_json:
        click.echo(dumps([_record(p) for p in result], indent=2))
        return
    if not result:
        failed = "failed (status fail), " if data.unscored_done() else ""
        raise click.ClickException(
            f"study {study!r} has too few completed (done) trials with distinct "
            "losses for importances (at least 4 are needed, it has "
            f"{done_with_loss(data)}; {failed}pruned and error trials are not used)"
        )
    if data.n_objectives > 1:  # say which loss these rank
        names = data.objective_names
        choices = ", ".join(f"{name}={i}" for i, name in enumerate(names))
        click.echo(
            f"objective {names[objective]!r} (--objective {objective} of {choices})"
        )
    width = max(24, *(_columns(p.label) for p in result))
    header = _pad("parameter", width)
    click.echo(f"{header} {'importance':>10} {'variance':>10} {'± trees':>8}")
    for p in result:
        click.echo(
            f"{_pad(p.label, width)} {p.importance:>10.3f} "
            f"{p.variance_fraction:>10.3f} {p.std:>8.3f}"
        )
    _note_unused_trials(data)


def _note_unused_trials(data: StudyData) -> None:
    """Say on stderr (stdout stays the table) how many trials the ranking rests on
    when the study's failed (``STATUS_FAIL``: no loss), pruned or error trials were
    left out: a pruned study's importances may rest on a handful of trials."""
    from hpo_service.insight._report import not_used

    unused = {k: n for k, n in not_used(data).items() if k != "cancelled"}
    if unused:
        left_out = " and ".join(f"{n} {kind}" for kind, n in unused.items())
        failed = data.unscored_done()
        used = counted(data.counts().get("done", 0) - failed, "done trial")
        used += " with a loss" if failed else ""
        click.echo(
            f"ranked from the study's {used}; its {left_out} trials are not used",
            err=True,
        )


def _objective_index(which: str, n: int, names: list[str]) -> int:
    """The 0-based objective ``--objective`` names, by number or by name.

    Raises:
        click.BadParameter: No such objective (the message lists them, and the
            name closest to a mistyped one).
    """
    if which.isdigit() and int(which) < n:
        return int(which)
    if which in names:
        return names.index(which)
    choices = ", ".join(f"{i} or {name}" for i, name in enumerate(names))
    raise click.BadParameter(
        f"`--objective` must name one of the study's {counted(n, 'objective')} "
        f"({choices}), but got --objective={which}{did_you_mean(which, names)}",
        param_hint="'--objective'",
    )


def _columns(text: str) -> int:
    """Terminal columns ``text`` takes: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` terminal columns."""
    return text + " " * (width - _columns(text))


def _record(p: Any) -> dict[str, Any]:
    return {
        "param": p.label,
        "importance": p.importance,
        "variance_fraction": p.variance_fraction,
        "std": p.std,
    }


_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
_WILDCARDS = ("0.0.0.0", "::", "")
#: Pending connections the socket queues before uvicorn accepts them (uvicorn's own
#: default backlog, which it sets again when it starts serving).
_BACKLOG = 2048


@click.command()
@click.option(
    "--study",
    help="Study shown first [the first one]; one the store does not hold yet (its "
    "driver not started) is shown once it exists.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
    help="TCP port to serve on; 0: a free one, which the 'dashboard on' line names.",
)  # fmt: skip
@click.option(
    "--host", default="127.0.0.1", show_default=True,
    help="Interface to bind. Anything but the loopback exposes the studies, without "
    "authentication, to whoever reaches this machine.",
)  # fmt: skip
@click.option(
    "--allow-host", "allow_hosts", multiple=True, metavar="NAME",
    help="Also answer requests addressed to this host name or address (the Host "
    "header; e.g. this machine's name when serving on --host 0.0.0.0, or a "
    "reverse proxy's). Repeatable; '*' turns the check off. By default only the "
    "loopback names and the --host address are answered (against DNS rebinding).",
)  # fmt: skip
@db_option
@wait_for_store_option(default=0.0)
def dashboard(
    db_url: str,
    study: str | None,
    port: int,
    host: str,
    allow_hosts: tuple[str, ...],
    wait_for_store: float,
) -> None:
    """Serve a live web dashboard of the store's studies (read-only)."""
    require_extra("plotly", "sklearn", "starlette", "uvicorn")
    import uvicorn

    from hpo_service.insight._dashboard import create_app

    allowed = _allowed_hosts(host, allow_hosts)
    store, no_database = _store_or_stand_in(db_url, wait_for_store)
    try:
        missing = (
            study is not None and not no_database and not _study_exists(store, study)
        )
        sock = _bind(host, port)
        port = sock.getsockname()[1]  # the one the system chose for --port 0
        if no_database:
            click.echo(
                f"warning: {no_database}. Serving anyway: the page shows the "
                "store's studies once a driver creates the database",
                err=True,
            )
        if missing:
            _warn_study_missing(store, db_url, study)
        _warn_exposure(host, port, allow_hosts)
        click.echo(_address_text(host, port, allow_hosts), err=True)
        app = create_app(store, study=study, allowed_hosts=allowed)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning")
        with sock:
            _serve(uvicorn.Server(config), sock)
    finally:
        store.close()


def _store_or_stand_in(db_url: str, wait_for_store: float) -> tuple[Any, str]:
    """The open store and ``""``, or, when its database does not exist yet (the
    dashboard started beside a driver that has not created it), a
    :class:`StoreOnceCreated` for it and the reason, for a warning: the dashboard
    serves and its page says the reason until the database exists (before, the
    command exited 1 where the README says it serves)."""
    from hpo_service.insight._store_once_created import StoreOnceCreated

    try:
        return reach_store(db_url, wait_for_store, [], _logger), ""
    except MissingStoreError as e:
        return StoreOnceCreated(db_url), e.message


def _serve(server: Any, sock: socket.socket) -> None:
    """Run the uvicorn ``server`` on ``sock`` until Ctrl-C (or SIGTERM) stops it.

    uvicorn shuts down cleanly on Ctrl-C, then raises it again (a KeyboardInterrupt),
    which click reported as "Aborted!" with exit status 1: the dashboard says it
    stopped and exits 130 instead, as ``hpo-driver start`` does on Ctrl-C.

    Raises:
        SystemExit: 130 after Ctrl-C.
    """
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        click.echo("dashboard stopped (Ctrl-C)", err=True)
        sys.exit(128 + signal.SIGINT)


def _study_exists(store: Any, study: str) -> bool:
    """Whether the store holds ``study``; other store failures become click errors."""
    try:
        store.get_study(study)
    except StudyNotFoundError:
        return False
    except HPOServiceError as e:
        raise click.ClickException(str(e)) from e
    return True


def _warn_study_missing(store: Any, db_url: str, study: str) -> None:
    """Warn that ``--study`` is not in the store (yet), naming the studies it holds
    and the close ones, so a typo stays visible; the dashboard serves anyway, as a
    driver started beside it may create the study later."""
    click.echo(
        f"warning: {study_not_found(store, db_url, study)}. Serving "
        f"anyway: the page shows {study!r} once its driver creates it",
        err=True,
    )


def _address_text(host: str, port: int, allow_hosts: tuple[str, ...]) -> str:
    """Where a browser opens the dashboard: on a wildcard ``--host`` (all
    interfaces) ``localhost`` here, and the ``--allow-host`` names (or, with '*',
    this machine's name) from elsewhere; never the unopenable ``0.0.0.0``."""
    if host not in _WILDCARDS:
        shown = "localhost" if host in _LOCAL_HOSTS else _url_host(host)
        return f"dashboard on http://{shown}:{port}/ (Ctrl+C stops it)"
    names = [n for n in allow_hosts if n != "*"]
    if not names and "*" in allow_hosts:
        names = [socket.gethostname()]
    text = (
        f"dashboard listens on all interfaces (--host {host}, port {port}): open "
        f"http://localhost:{port}/ on this machine"
    )
    if names:
        others = " or ".join(f"http://{_url_host(n)}:{port}/" for n in names)
        text += f", or {others} from elsewhere"
    return text + " (Ctrl+C stops it)"


def _url_host(name: str) -> str:
    """``name`` as a URL's host: an IPv6 address in brackets."""
    return f"[{name.strip('[]')}]" if ":" in name else name


def _warn_exposure(host: str, port: int, allow_hosts: tuple[str, ...]) -> None:
    """Warn that a non-loopback ``--host`` serves without authentication (once the
    address is known to be good), and how the Host check answers a wildcard."""
    if host not in _LOCAL_HOSTS:
        click.echo(
            f"warning: serving on {host}: anyone who can reach this machine on port "
            f"{port} can read every study in the store (no authentication)",
            err=True,
        )
    if host in _WILDCARDS and not allow_hosts:
        click.echo(
            "note: requests are answered only when they name this machine as "
            "localhost; to open it from elsewhere, give its name or address with "
            f"--allow-host (e.g. --allow-host {socket.gethostname()})",
            err=True,
        )


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` and listening, or a one-line error naming
    the flags (a taken port, a host name that does not resolve, an address not of
    this machine). It listens before the "dashboard on" line is printed: a browser or
    script that connects on reading it waits in the backlog until uvicorn accepts,
    instead of being refused while the app starts."""
    where = f"--host={host} --port={port}"
    try:
        found = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as e:
        raise click.ClickException(
            f"`--host` must be a name or an address of this machine, but got {where}: "
            f"{e.strerror.lower()}"
        ) from None
    # IPv4 first, as uvicorn binds a name ("localhost" may resolve to ::1 first)
    family, kind, proto, _, address = min(found, key=lambda a: a[0] != socket.AF_INET)
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise click.ClickException(
                f"`--port` must be free, but got {where}: the address is already in "
                "use (another dashboard or program serves there; pick another --port)"
            ) from None
        raise click.ClickException(f"cannot serve on {where}: {e.strerror}") from None
    sock.listen(_BACKLOG)
    return sock


def _allowed_hosts(host: str, extra: tuple[str, ...]) -> list[str]:
    """The Host header values answered: loopback names, the bound address (unless a
    wildcard), and ``--allow-host`` values (IPv6 addresses get their brackets)."""
    from hpo_service.insight._dashboard import LOCAL_HOSTS

    names = [*LOCAL_HOSTS, *([] if host in _WILDCARDS else [host]), *extra]
    if "*" in names:
        return ["*"]
    out = []
    for name in (n.strip().lower() for n in names):
        if ":" in name.strip("[]"):
            name = f"[{_ipv6(name.strip('[]'))}]"
        if name and name not in out:
            out.append(name)
    return out


def _ipv6(text: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        raise click.BadParameter(
            "`--allow-host` must be a host name or an IP address, without a port, "
            f"but got --allow-host={text}",
            param_hint="'--allow-host'",
        ) from None
