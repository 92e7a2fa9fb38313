"""``hpo-worker --wait-for-store`` and ``hpo-driver start --wait-for-store``: a worker
or driver started before its MongoDB answers waits for it (real processes, real
pymongo over TCP).

The server "comes up" when a TCP forwarder starts listening on the port the worker
was given, passing bytes to the session's MongoDB-wire server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pymongo
import pytest
from click.testing import CliRunner

from hpo_service.exceptions import StoreConnectionError
from hpo_service.store import TrialState, _cli_option, open_store
from hpo_service.store._cli_option import UnreachableStoreError
from hpo_service.worker.cli import main
from tests.helpers.mongo_wire import with_database
from tests.helpers.pipes import PipeLines
from tests.helpers.ports import held_port
from tests.helpers.terminal_signals import as_from_a_terminal
from tests.worker.conftest import OBJ, REPO, make_study, wait_until

SECRET = "s3cret-pw"


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port on which nothing answers (a connection is refused) during the test."""
    with held_port() as sock:
        yield sock.getsockname()[1]


def url_at(port: int) -> str:
    """A MongoDB URL with a password, on ``port``, failing fast when unanswered."""
    return (
        f"mongodb://hpo:{SECRET}@127.0.0.1:{port}/waits?authSource=admin"
        "&directConnection=true&serverSelectionTimeoutMS=300"
    )


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with source, sink, contextlib.suppress(OSError):  # OSError: closed at teardown
        while data := source.recv(65536):
            sink.sendall(data)


@pytest.fixture
def forwarder(mongo_url: str) -> Iterator[tuple[int, threading.Event]]:
    """A port, and an event that starts forwarding it to the MongoDB server."""
    target = urlsplit(mongo_url)
    listener, start = held_port(), threading.Event()
    port = listener.getsockname()[1]

    def serve() -> None:
        start.wait()
        try:
            listener.listen()
        except OSError:  # closed at teardown, never started
            return
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed at teardown
                return
            server = socket.create_connection((target.hostname, target.port))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield port, start
    start.set()
    listener.close()


WORKER = ("hpo_service.worker.cli",)
DRIVER_START = ("hpo_service.driver.cli", "start", "--study", "late",
                "--objective", "tests.e2e.objectives:quadratic",
                "--space", "tests.e2e.objectives:space", "--no-progress")  # fmt: skip


def launch(url: str, *args: str, command=WORKER) -> subprocess.Popen[str]:
    env = dict(os.environ, HPO_DB=url, PYTHONPATH=str(REPO))
    with as_from_a_terminal():  # the tests send SIGINT and SIGHUP, even under `&`
        return subprocess.Popen(
            [sys.executable, "-m", *command, *args],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )


def said_it_waits(process) -> PipeLines:
    """Read ``process``'s standard error until it says it waits for the store; its
    lines (read on until the process ends: see :meth:`PipeLines.finish`)."""
    said = PipeLines(process.stderr)
    wait_until(lambda: "--wait-for-store" in said.text, 120.0)
    return said


def run_until_up(process, start, timeout=60):
    """Let ``process`` say it waits for the store, then bring the server up and wait
    for it to end (exit 0); return everything it said."""
    said = said_it_waits(process)
    start.set()  # the server is up
    assert process.wait(timeout=timeout) == 0, said.finish()
    return said.finish()


def test_a_worker_waits_for_a_server_that_starts_late(mongo_url, forwarder):
    port, start = forwarder
    url = url_at(port).replace(f"hpo:{SECRET}@", "")  # the session server: no auth
    with pymongo.MongoClient(mongo_url) as client:
        client.drop_database("waits")  # a server given by HPO_TEST_MONGO_URL lasts
    with open_store(with_database(mongo_url, "waits")) as store:
        make_study(store, "late", f"{OBJ}:quadratic", [{"x": 1.0}])  # its only work
    process = launch(url, "--wait-for-store", "60", "--idle-timeout", "0.5")
    text = run_until_up(process, start)
    waiting = [line for line in text.splitlines() if "waiting up to 60 s" in line]
    assert len(waiting) == 1, text
    assert f"the store mongodb://127.0.0.1:{port}/waits" in waiting[0], text
    assert f"connected to the store mongodb://127.0.0.1:{port}/waits" in text, text
    with open_store(with_database(mongo_url, "waits")) as store:
        assert store.get_trial("late", 0).result["loss"] == 4.0
    with pymongo.MongoClient(mongo_url) as client:
        client.drop_database("waits")


def test_a_driver_waits_for_a_server_that_starts_late(mongo_url, forwarder):
    """A Kubernetes driver Job starts beside a MongoDB StatefulSet that is still
    initiating: the driver waits for it instead of failing (which spent one of the
    Job's backoffs per attempt), then runs its study."""
    port, start = forwarder
    url = url_at(port).replace(f"hpo:{SECRET}@", "")  # the session server: no auth
    with pymongo.MongoClient(mongo_url) as client:
        client.drop_database("waits")
    process = launch(url, "--max-evals", "2", "--workers", "1", command=DRIVER_START)
    text = run_until_up(process, start, timeout=120)
    assert text.count("waiting up to 60 s (--wait-for-store) for the store") == 1, text
    assert f"connected to the store mongodb://127.0.0.1:{port}/waits" in text, text
    with open_store(with_database(mongo_url, "waits")) as store:
        assert store.count_by_state("late")[TrialState.DONE] == 2
    with pymongo.MongoClient(mongo_url) as client:
        client.drop_database("waits")


@pytest.mark.parametrize(
    "command", [WORKER, DRIVER_START], ids=["hpo-worker", "hpo-driver start"]
)
def test_it_gives_up_after_the_wait_and_masks_the_password(command, refused_port):
    rest = ("--max-evals", "2") if command == DRIVER_START else ("--idle-timeout", "5")
    process = launch(url_at(refused_port), "--wait-for-store", "3", *rest,
                     command=command)  # fmt: skip
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert err.count("waiting up to 3 s (--wait-for-store) for the store") == 1, err
    assert "mongodb://hpo:***@127.0.0.1" in err, err
    assert "Error: cannot reach the store" in err, err
    assert SECRET not in err, err


def test_zero_fails_at_once_and_sqlite_is_never_waited_for(
    tmp_path, caplog, refused_port
):
    unanswered = ["--db", url_at(refused_port), "--wait-for-store", "0"]
    unusable = ["--db", f"sqlite:///{tmp_path}/no/such/dir/hpo.sqlite"]
    for args in (unanswered, unusable):
        result = CliRunner().invoke(main, [*args, "--idle-timeout", "5"])
        assert result.exit_code == 1, result.output
        assert "cannot reach the store" in result.output
    assert "--wait-for-store" not in caplog.text


@pytest.fixture
def silent_port() -> Iterator[tuple[int, socket.socket]]:
    """A port that takes connections and never answers (a server hanging at start),
    and its listening socket: a client's connect attempt then lasts its whole
    timeout."""
    with held_port() as sock:
        sock.listen()
        yield sock.getsockname()[1], sock


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1]
)
def test_a_stop_signal_cuts_the_connect_attempt_short(signum, silent_port):
    """A signal while the worker's connect attempt to a server that does not answer
    runs (its timeout here 10 minutes; 10 s by default): exit 128+signal at once,
    saying it was stopped, as ``hpo-driver start`` does. It was acted on only when
    the attempt ended, then exited 1 with "cannot reach the store" (SIGUSR1,
    hyperopt-mongo-worker's "finish, then quit", likewise: there is nothing to
    finish)."""
    port, listener = silent_port
    url = url_at(port).replace("serverSelectionTimeoutMS=300", "")
    url += "serverSelectionTimeoutMS=600000&connectTimeoutMS=600000"
    process = launch(url, "--wait-for-store", "600", "--worker-id", "w7")
    said = PipeLines(process.stderr)
    try:
        listener.settimeout(120.0)
        connection, _ = listener.accept()  # the worker is inside its attempt
        with connection:
            process.send_signal(signum)
            code = process.wait(timeout=60)
    finally:
        process.kill()
        process.wait()
    text, name = said.finish(), signal.Signals(signum).name
    assert code == 128 + signum, text
    assert f"[w7] hpo-worker stopped by {name} while opening the store " in text
    assert "mongodb://hpo:***@127.0.0.1" in text, text
    assert "cannot reach the store" not in text, text
    assert "Traceback" not in text, text
    assert SECRET not in text


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_driver_stopped_while_it_waits_says_so(signum, refused_port):
    """A Kubernetes Job deleted while its driver waits for MongoDB: exit 128+signal
    with a line saying what happened (it died without a word, -15, before)."""
    process = launch(url_at(refused_port), "--max-evals", "2", command=DRIVER_START)
    said = said_it_waits(process)
    process.send_signal(signum)
    assert process.wait(timeout=60) == 128 + signum, said.finish()
    text, name = said.finish(), signal.Signals(signum).name
    assert f"stopped by {name} while opening the store for study 'late'" in text
    assert SECRET not in text


def test_the_drivers_stop_handlers_while_opening_take_the_platforms_signals(
    monkeypatch,
):
    """Windows has no SIGHUP: ``hpo-driver start``'s handlers while it opens the
    store are those of the stop signals the platform has (SIGINT is Ctrl-C's,
    handled apart), and they are put back after."""
    from hpo_service.driver import cli as driver_cli

    monkeypatch.delattr(signal, "SIGHUP")
    platforms = (signal.SIGTERM, signal.SIGINT)
    monkeypatch.setattr(driver_cli, "STOP_SIGNALS", platforms, raising=False)
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with driver_cli._stops_while("start", "s"):
        assert signal.getsignal(signal.SIGTERM) != before[signal.SIGTERM]
        assert signal.getsignal(signal.SIGINT) == before[signal.SIGINT]
    assert {s: signal.getsignal(s) for s in before} == before


def test_the_wait_is_said_even_when_the_first_attempt_outlasts_it(monkeypatch, caplog):
    """A first connect attempt slower than the whole wait (a loaded machine: the
    process's start and pymongo's import count too) still says that it waited
    before giving up. It used to give up silently, and the line this file's
    subprocess tests read was missing under load (CI, load 21)."""
    attempts = []

    def slow_refusal(db_url: str, **options: object) -> None:
        attempts.append(db_url)
        time.sleep(0.3)
        raise UnreachableStoreError(StoreConnectionError("connection refused"))

    monkeypatch.setattr(_cli_option, "open_store_for_cli", slow_refusal)
    log = logging.getLogger("test_wait_for_store")
    with (
        caplog.at_level(logging.WARNING, logger=log.name),
        pytest.raises(UnreachableStoreError),
    ):
        _cli_option.reach_store(url_at(1), 0.2, [], log)
    assert len(attempts) == 1
    waits = [r for r in caplog.records if "(--wait-for-store)" in r.getMessage()]
    assert len(waits) == 1, caplog.text
    assert "waiting up to 0.2 s (--wait-for-store)" in waits[0].getMessage()
    assert SECRET not in caplog.text
