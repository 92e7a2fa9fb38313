"""A MongoDB-wire server on 127.0.0.1 for the tests and CI: ``secantusdb``.

``secantusd-py`` (PyPI ``secantusdb``) is a pure-Python server speaking MongoDB's wire
protocol. It runs as a one-node replica set named ``secantus``, and with
``--enable-test-commands`` it accepts ``configureFailPoint`` (the ``failCommand`` fail
points) and ``replSetStepDown``, so pymongo's real networking, retryable writes, server
selection and error types are exercised over TCP.

From Python::

    with WireServer.start(directory) as server:
        server.url  # mongodb://127.0.0.1:PORT/?replicaSet=secantus

From a shell (what ``.ci/run`` does)::

    URL=$(python -m tests.helpers.mongo_wire start DIR)   # pid in DIR/server.pid
    python -m tests.helpers.mongo_wire restart DIR        # same URL, same data
    python -m tests.helpers.mongo_wire stop DIR

``restart`` is the operator's restart under a running study: the server comes back on
the port and data of the last ``start`` (a second ``start`` would pick a new port and
an empty data directory, which the study's processes would never find).

The server only ever listens on 127.0.0.1, on a port the kernel picks as it binds
(``--port 0``); the port is read back from the server's log. A port found free and
closed again before the server binds it could be taken by another process meanwhile
(CI runs two pytest processes, each starting servers), and a ping on it could then be
answered by that other server.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HOST = "127.0.0.1"
REPLICA_SET = "secantus"
EXECUTABLE = "secantusd-py"
PID_FILE = "server.pid"
STATE_FILE = "server.state"  # the last start's port and data directory, for restart
LOG_FILE = "server.log"

_PR_SET_PDEATHSIG = 1
#: What ``secantusd-py`` logs (at INFO) once its socket listens.
_LISTENING = re.compile(rb"secantus listening on ([^\s:]+):(\d+)")


def executable() -> str | None:
    """The path of ``secantusd-py`` (next to this Python first), or None."""
    beside = Path(sys.executable).with_name(EXECUTABLE)
    if beside.exists():
        return str(beside)
    return shutil.which(EXECUTABLE)


def with_database(url: str, database: str) -> str:
    """``url`` with its path (the database name) replaced by ``database``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def app_url(url: str, prefix: str, app: str) -> str:
    """``url`` on a fresh database named ``prefix_<random>``, its clients named
    ``app`` (the ``appName`` a ``failCommand`` fail point is scoped by)."""
    fresh = with_database(url, f"{prefix}_{uuid.uuid4().hex[:10]}")
    return fresh + ("&" if "?" in fresh else "?") + f"appName={app}"


def as_user(url: str, user: str, password: str, database: str, source: str) -> str:
    """``url`` logged in as ``user`` (created in database ``source``), its
    database ``database``."""
    host = with_database(url, database).removeprefix("mongodb://")
    return f"mongodb://{user}:{password}@{host}&authSource={source}"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _answers(url: str) -> bool:
    import pymongo
    from pymongo.errors import PyMongoError

    try:  # hello needs no authentication
        with pymongo.MongoClient(url, serverSelectionTimeoutMS=500) as client:
            client.admin.command("hello")
    except PyMongoError:
        return False
    return True


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class WireServer:
    """A running ``secantusd-py``; stop it with :meth:`stop` (or use ``with``)."""

    url: str
    pid: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    #: Where this start's lines begin in ``server.log`` (earlier starts wrote above).
    log_offset: int = field(default=0, repr=False)
    #: The data directory this start serves.
    storage: Path | None = None

    @classmethod
    def start(
        cls,
        directory: Path,
        *,
        test_commands: bool = True,
        die_with_parent: bool = False,
        timeout: float = 60.0,
        attempts: int = 3,
        storage: Path | None = None,
        auth: bool = False,
        port: int = 0,
    ) -> WireServer:
        """Start a server with its data in ``directory``; return once it answers.

        Args:
            directory: Created if missing; holds the data, ``server.log`` and
                ``server.pid``.
            test_commands: Enable fail points and ``replSetStepDown``.
            die_with_parent: The server gets SIGTERM when this process dies (for a
                test session; not for a starter that exits at once).
            timeout: Seconds to wait for each start to answer a ping.
            attempts: Starts tried (a start that exits or never answers is retried).
            storage: The data directory (default: a new one per start), to restart a
                server on the same data.
            auth: Require authentication (``--auth``): create users on a start
                without it first (there is no localhost exception).
            port: The TCP port to listen on (0: the kernel picks one), to restart a
                server on the URL its clients hold.

        Raises:
            RuntimeError: ``secantusd-py`` is not installed or never answered.
        """
        program = executable()
        if program is None:
            raise RuntimeError(
                f"`{EXECUTABLE}` must be installed (pip install secantusdb), "
                "but it is not on PATH nor beside this Python"
            )
        directory.mkdir(parents=True, exist_ok=True)
        failure = ""
        for _ in range(attempts):
            flags = ["--enable-test-commands"] if test_commands else []
            flags += ["--auth"] if auth else []
            server = cls._launch(
                program, directory, flags, die_with_parent, storage, port
            )
            failure = server._wait(timeout)
            if not failure:
                (directory / PID_FILE).write_text(f"{server.pid}\n")
                return server
            server.stop()
        raise RuntimeError(f"{EXECUTABLE} must start, but {failure}")

    @classmethod
    def _launch(
        cls,
        program: str,
        directory: Path,
        flags: list[str],
        die_with_parent: bool,
        storage: Path | None,
        port: int = 0,
    ) -> WireServer:
        data = storage or Path(tempfile.mkdtemp(prefix="data-", dir=directory))
        command = [program, "--host", HOST, "--port", str(port)]  # 0: the kernel picks
        command += ["--storage-path", str(data), "--log-level", "INFO", *flags]
        with open(directory / LOG_FILE, "ab") as log:
            offset = log.tell()
            process = subprocess.Popen(
                command,
                cwd=directory,  # it reads ./secantusd.toml if present: none there
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=not die_with_parent,
                preexec_fn=_die_with_parent if die_with_parent else None,
            )
        return cls(
            url="", pid=process.pid, directory=directory, process=process,
            log_offset=offset, storage=data,
        )  # fmt: skip

    def _wait(self, timeout: float) -> str:
        """Wait until the server says its port and answers a ping on it; return why
        not ("" if it does). Sets :attr:`url`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return (
                    f"it exited with code {self.process.returncode}; log:\n"
                    + _log_tail(self.directory / LOG_FILE)
                )
            port = self.port or self._announced_port()
            if port:
                self.url = f"mongodb://{HOST}:{port}/?replicaSet={REPLICA_SET}"
                if _answers(self.url):
                    return ""
            time.sleep(0.1)
        return f"it did not answer within {timeout} s; log:\n" + _log_tail(
            self.directory / LOG_FILE
        )

    @property
    def port(self) -> int:
        """The TCP port the server listens on (0 before it said which)."""
        return urlsplit(self.url).port or 0

    def _announced_port(self) -> int:
        """The port this start logged that it listens on, or 0 if not yet."""
        with open(self.directory / LOG_FILE, "rb") as log:
            log.seek(self.log_offset)
            found = _LISTENING.search(log.read())
        return int(found.group(2)) if found else 0

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the server, SIGKILL it after ``grace`` seconds; reap it."""
        stop_pid(self.pid, grace, self.process)

    def __enter__(self) -> WireServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def stop_pid(
    pid: int, grace: float = 10.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Stop the server ``pid``: SIGTERM, then SIGKILL after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid, process):
        time.sleep(0.05)
    if _alive(pid, process):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if process is not None:
        process.wait()


def _alive(pid: int, process: subprocess.Popen[bytes] | None) -> bool:
    if process is not None:
        return process.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---- faults (the server must run with test commands enabled) -------------------------


@contextlib.contextmanager
def fail_point(url: str, data: dict[str, Any], mode: Any) -> Iterator[None]:
    """Arm the server's ``failCommand`` fail point for the ``with`` block.

    Args:
        url: The server.
        data: ``failCommands`` (command names), ``appName`` (only clients of that
            name are hit), and what happens: ``closeConnection``, ``errorCode``,
            ``errorLabels``, ``writeConcernError``, ``blockConnection`` +
            ``blockTimeMS``.
        mode: ``{"times": n}``, ``{"skip": k, "times": n}`` or ``"alwaysOn"``.
    """
    import pymongo

    with pymongo.MongoClient(url) as client:
        command = {"configureFailPoint": "failCommand", "mode": mode, "data": data}
        client.admin.command(command)
        try:
            yield
        finally:
            client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})


def fail_points_enabled(url: str) -> bool:
    """Whether the server accepts ``configureFailPoint`` (switching it off)."""
    import pymongo
    from pymongo.errors import OperationFailure

    with pymongo.MongoClient(url) as client:
        try:
            client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        except OperationFailure:
            return False
    return True


def needs_fail_points(url: str) -> None:
    """Skip the calling test unless the server at ``url`` accepts fail points (it
    runs with test commands enabled)."""
    import pytest

    if not fail_points_enabled(url):
        pytest.skip("the MongoDB server runs without test commands (no fail points)")


def numbered_first_by(store: Any, other: Any, study: str) -> None:
    """Make ``other`` number ``study``'s pending writes inside each of ``store``'s
    ``changes_since`` calls, just after ``store`` took its version number (step 2 of
    the MongoDB change cursor, see :mod:`hpo_service.store._mongo`).

    That is the race of a worker's pruner reading the feed while the driver does:
    ``other``'s numbers are above the one ``store`` returns. It happens by chance
    under load; here at every call. Patches ``store`` (a ``MongoTrialStore``) only.
    """
    call = store._call

    def racing(what: str, op: Any) -> Any:
        if what == "number pending writes":
            other.changes_since(study, 0)
        return call(what, op)

    store._call = racing


def step_down(url: str, seconds: int) -> None:
    """Make the primary a secondary for ``seconds`` (no primary meanwhile)."""
    import pymongo

    with pymongo.MongoClient(url) as client:
        client.admin.command({"replSetStepDown": seconds, "force": True})


def wait_writable(url: str, timeout: float = 60.0) -> None:
    """Wait until the deployment has a primary again."""
    import pymongo

    with pymongo.MongoClient(url, serverSelectionTimeoutMS=int(timeout * 1000)) as c:
        c["admin"].command("ping")  # a primary read: waits for the election


def main(argv: list[str] | None = None) -> int:
    """``start DIR`` prints the URL (pid in DIR/server.pid); ``stop DIR`` stops it;
    ``restart DIR`` stops it and starts it on the same port and data, printing the
    URL."""
    parser = argparse.ArgumentParser(prog="python -m tests.helpers.mongo_wire")
    parser.add_argument("action", choices=["start", "stop", "restart"])
    parser.add_argument("directory", type=Path)
    parser.add_argument(
        "--no-test-commands",
        action="store_true",
        help="do not enable fail points and replSetStepDown",
    )
    args = parser.parse_args(argv)
    state = args.directory / STATE_FILE
    port, storage = 0, None
    if args.action == "restart":
        if not state.exists():
            parser.error(f"{state} must exist (written by `start`), but it does not")
        saved = json.loads(state.read_text())
        port, storage = saved["port"], Path(saved["storage"])
    pid_file = args.directory / PID_FILE
    if args.action != "start" and pid_file.exists():
        stop_pid(int(pid_file.read_text()))
        pid_file.unlink()
    if args.action == "stop":
        return 0
    server = WireServer.start(
        args.directory,
        test_commands=not args.no_test_commands,
        storage=storage,
        port=port,
    )
    state.write_text(json.dumps({"port": server.port, "storage": str(server.storage)}))
    print(server.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
