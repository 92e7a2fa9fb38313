"""Every command that opens a store fails fast when its MongoDB server refuses the
connection, and waits no longer than its ``--wait-for-store`` for one that does not
answer (real ``hpo-driver`` / ``hpo-worker`` processes, real pymongo over TCP).

Before, a refused connection was tried again for pymongo's whole server-selection
timeout (10 s by default; ``hpo-driver status`` took over 20 s under load to say
"connection refused"), and each attempt of ``--wait-for-store 2`` lasted that
timeout too. Here the URL's timeout is 10 minutes, so the old code runs into the
subprocess timeout: no wall-clock assertion is needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.helpers.ports import held_port

from .conftest import QUADRATIC
from .test_cli_errors import run_together

DRIVER = "hpo_service.driver.cli"
WORKER = "hpo_service.worker.cli"
LONG_WAIT = "serverSelectionTimeoutMS=600000&connectTimeoutMS=600000"


def _commands(tmp_path, url: str, wait: str) -> list[tuple[str, ...]]:
    """``(module, *args)`` of every command that opens a store, on ``url``."""
    source = tmp_path / "done.json"
    record = {"tid": 0, "state": "done", "params": {"x": 1.0},
              "result": {"loss": 1.0, "status": "ok"}}  # fmt: skip
    source.write_text(json.dumps([record]))
    study = ("--study", "s")
    rows: list[tuple[str, ...]] = [
        ("start", *study, *QUADRATIC, "--max-evals", "1", "--no-progress"),
        ("status", *study),
        ("best", *study),
        ("trials", *study),
        ("cancel", *study),
        ("studies",),
        ("enqueue", *study, "--params", '{"x": 1.0}'),
        ("import", *study, str(source)),
        ("report", *study, "--out", str(tmp_path / "report.html")),
        ("importance", *study),
        ("dashboard", "--port", "0"),
    ]
    driver = [(DRIVER, *row, "--db", url, "--wait-for-store", wait) for row in rows]
    return [*driver, (WORKER, "--db", url, "--wait-for-store", wait)]


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port on which a connection is refused during the test."""
    with held_port() as sock:
        yield sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never answers (a server hanging at
    start): a client's connect attempt lasts its whole timeout."""
    with held_port() as sock:
        sock.listen(64)
        yield sock.getsockname()[1]


def test_a_refused_connection_fails_every_command_at_once(
    procs, tmp_path, refused_port
):
    url = f"mongodb://127.0.0.1:{refused_port}/hpo?{LONG_WAIT}"
    commands = _commands(tmp_path, url, "0")
    runs = run_together(procs, commands)
    for command, run in zip(commands, runs, strict=True):
        assert run.returncode == 1, (command, run.stderr)
        assert (
            f"Error: cannot reach the store: MongoDB at mongodb://127.0.0.1:"
            f"{refused_port}/hpo?{LONG_WAIT} must be reachable, but every address "
            f"refused the connection (tried 127.0.0.1:{refused_port}): is mongod "
            "running there, on that port?"
        ) in run.stderr, (command, run.stderr)
        assert "Traceback" not in run.stderr


def test_an_unanswered_server_is_waited_for_no_longer_than_wait_for_store(
    procs, tmp_path, silent_port
):
    """The URL's connect timeout is 10 minutes; ``--wait-for-store 1`` ends each
    command's wait after 1 s (its one attempt cut at the end of the wait)."""
    url = f"mongodb://127.0.0.1:{silent_port}/hpo?{LONG_WAIT}"
    commands = _commands(tmp_path, url, "1")
    runs = run_together(procs, commands)
    for command, run in zip(commands, runs, strict=True):
        assert run.returncode == 1, (command, run.stderr)
        assert (
            "must be reachable, but no member answered within 1 s (tried "
            f"127.0.0.1:{silent_port}): no reply within the wait"
        ) in run.stderr, (command, run.stderr)
        assert "(raise the wait with --wait-for-store or open_timeout)" in run.stderr
        assert "waiting up to 1 s (--wait-for-store)" in run.stderr, run.stderr
