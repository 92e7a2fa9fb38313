"""The dashboard, ``hpo-driver report`` and ``hpo-driver importance`` for a read-only
MongoDB user, through real pymongo over TCP.

The MongoDB-wire test server (secantusdb) supports users and roles (SCRAM-SHA-256 with
``--auth``), so this runs against a real read-only user: on the session's server with
``--auth`` (``auth_mongo_url`` in ``tests/conftest.py``), ``admin`` (``root``) runs a
study and creates ``reader`` (built-in role ``read`` on the study's database).
Everything here then connects as ``reader``: the server refuses any write, so a command
that needed one would fail. A pymongo ``CommandListener`` on the dashboard's store
records what a dashboard session sends (studies list, the first full load of a study,
every figure, then incremental updates while ``admin`` adds trials): every command that
succeeded is a read. The only write a reader's store ever attempts is the MongoDB
store's numbering of pending writes inside ``changes_since`` (one ``findAndModify``);
the role refuses it once, the store stops trying, and pending trials are returned again
on each poll (see ``MongoTrialStore._number``). ``status``, ``best`` and ``trials`` for
a read-only user are covered in ``tests/store/test_mongo_wire.py``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pymongo
import pytest
from pymongo import monitoring

from hpo_service.insight._live import FIGURES, LiveStore
from hpo_service.store import NewTrial, TrialState, open_store
from tests.conftest import AUTH_ADMIN, mongo_lane
from tests.e2e.conftest import REPO
from tests.helpers.mongo_wire import as_user

from ._support import dump_dom, get, start_dashboard, stop, up, wait_for

pytestmark = pytest.mark.skipif(
    mongo_lane() is None, reason="no MongoDB-wire server (see tests/conftest.py)"
)

DATABASE = "insight_ro"
STUDY = "seen"
N_TRIALS = 24
#: Commands a read-only session may send (reads, cursors, handshakes, sessions).
READS = {
    "find", "getMore", "aggregate", "count", "distinct", "listCollections",
    "listIndexes", "killCursors", "endSessions", "hello", "isMaster", "ismaster",
    "ping", "buildInfo", "saslStart", "saslContinue",
}  # fmt: skip
UNAUTHORIZED = 13  # MongoDB's error code for a command the role does not allow


@pytest.fixture(scope="module")
def server(auth_mongo_url: str) -> str:
    """The session's server with ``--auth``, holding a finished study in
    :data:`DATABASE` and user ``reader`` (role ``read`` on it); its URL."""
    _run_study(admin(auth_mongo_url))
    with pymongo.MongoClient(admin(auth_mongo_url)) as client:
        roles = [{"role": "read", "db": DATABASE}]
        client[DATABASE].command("createUser", "reader", pwd="readpw", roles=roles)
    return auth_mongo_url


def _run_study(db: str) -> None:
    run = _driver(
        "start", "--db", db, "--study", STUDY,
        "--objective", "tests.insight.objectives:objective",
        "--space", "tests.insight.objectives:space",
        "--seed", "3", "--max-evals", str(N_TRIALS), "--workers", "2", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]


def _driver(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def reader(url: str) -> str:
    """The URL as ``reader`` (role ``read`` on the study's database)."""
    return as_user(url, "reader", "readpw", DATABASE, DATABASE)


def admin(url: str) -> str:
    """The URL as ``admin`` (``root``), who plays the study's driver and workers."""
    return as_user(url, *AUTH_ADMIN, DATABASE, "admin")


def counts(url: str) -> tuple[int, int]:
    """(finished trials, all trials) of the study, read by ``admin``."""
    with open_store(admin(url)) as store:
        by_state = store.count_by_state(STUDY)
    finished = by_state[TrialState.DONE] + by_state[TrialState.ERROR]
    return finished, sum(by_state.values())


class Commands(monitoring.CommandListener):
    """What a client sent: names of commands that succeeded, and those that failed
    with their error codes."""

    def __init__(self) -> None:
        self.succeeded_names: list[str] = []
        self.failed_names: list[tuple[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.succeeded_names.append(event.command_name)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.failed_names.append((event.command_name, event.failure.get("code")))


def _add_trials(url: str, n: int) -> list[int]:
    """``admin`` inserts and finishes ``n`` trials (as workers would)."""
    with open_store(admin(url)) as store:
        tids = store.insert_trials(
            STUDY, [NewTrial({"x": 1.0 + i / 10, "lr": 0.01, "model": 0},
                             {"x": 1.0 + i / 10}) for i in range(n)]
        )  # fmt: skip
        for _ in tids:
            trial = store.claim("late-worker", 60.0, study=STUDY)
            assert store.complete(STUDY, trial.tid, trial.token, {"loss": 0.5})
    return tids


def test_a_dashboard_session_of_a_read_only_user_only_reads(server: str) -> None:
    commands = Commands()
    finished, total = counts(server)
    with open_store(reader(server), event_listeners=[commands]) as store:
        live = LiveStore(store)
        (listed,) = live.studies()
        assert (listed["name"], listed["finished"]) == (STUDY, finished)
        first = live.changes(STUDY, 0)
        assert len(first["rows"]) == total and first["finished"] == finished
        figures = json.loads(live.figures(STUDY, list(FIGURES)))
        assert {"history", "parallel", "slice", "importance", "timeline"} <= set(
            figures
        )
        new = _add_trials(server, 5)
        update = live.changes(STUDY, first["cursor"])
        assert set(new) <= {row["tid"] for row in update["rows"]}
        assert update["finished"] == finished + 5
        history = json.loads(live.figures(STUDY, ["history"]))["history"]
        assert history["layout"]["title"]["text"].startswith("Optimisation history")
    assert "find" in commands.succeeded_names  # the listener saw the session's reads
    writes = set(commands.succeeded_names) - READS
    assert not writes, f"a read-only dashboard session wrote: {sorted(writes)}"
    refused = [(name, code) for name, code in commands.failed_names]
    assert refused in ([], [("findAndModify", UNAUTHORIZED)]), refused


def test_the_dashboard_serves_a_read_only_user(server: str, browser) -> None:
    proc, port, _ = start_dashboard("--db", reader(server))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: up(base + "/"), what="dashboard up")
        studies = get(base + "/api/studies")["studies"]
        assert [s["name"] for s in studies] == [STUDY]
        before = studies[0]["finished"]
        delta = get(f"{base}/api/studies/{STUDY}/changes?cursor=0")
        assert delta["finished"] == before and len(delta["rows"]) == before
        names = ",".join(FIGURES)
        figures = get(f"{base}/api/studies/{STUDY}/figures?names={names}")
        assert "history" in figures and "importance" in figures
        _add_trials(server, 3)
        wait_for(lambda: get(f"{base}/api/studies/{STUDY}/changes?cursor="
                             f"{delta['cursor']}")["finished"] == before + 3,
                 what="the new trials")  # fmt: skip
        dom = dump_dom(browser, base + "/")
        assert re.search(rf'id="study-name">{STUDY}<', dom)
        assert re.search(rf'id="finished-count">{before + 3}<', dom)
        assert "main-svg" in dom  # plotly drew the figures
    finally:
        stop(proc)
    stderr = proc.stderr.read()
    assert "Traceback" not in stderr and "readpw" not in stderr, stderr[-3000:]


def test_report_and_importance_for_a_read_only_user(server: str, tmp_path) -> None:
    out = tmp_path / "report.html"
    done, _ = counts(server)
    run = _driver("report", "--db", reader(server), "--study", STUDY, "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    assert re.search(rf'id="finished-count">{done}<', out.read_text())
    run = _driver("importance", "--db", reader(server), "--study", STUDY, "--json")
    assert run.returncode == 0, run.stderr[-3000:]
    ranked = json.loads(run.stdout)
    assert {r["param"] for r in ranked} >= {"x", "lr"}
    assert "readpw" not in run.stdout + run.stderr
