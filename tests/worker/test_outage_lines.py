"""What a worker says while only its claims fail: the delay it really waits, and one
outage (real ``hpo-worker`` processes).

Before, the worker said "worker: cannot claim or requeue trials (retrying, next in
30.0 s ...)" while it claimed again at its poll pace (2 s at most), and its
housekeeping reads, which still got through, ended the outage at each poll ("the
store works again, after 0 s and 1 failed call"), the next claim starting the count
anew. Two ways to fail only the claims: on SQLite the worker's file-size limit is cut
to zero (``prlimit``: every write fails as on a full disk, reads pass) once a trial
waits; on the MongoDB-wire server a fail point answers ``findAndModify`` (the claim)
with OutOfDiskSpace, the reads passing.
"""

from __future__ import annotations

import logging
import os
import re
import resource
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import ExitStack

import pymongo
import pytest

from hpo_service.exceptions import StoreConnectionError
from hpo_service.store import NewTrial, TrialState, open_store
from hpo_service.worker import run_worker
from tests.helpers.mongo_wire import app_url, fail_point, fail_points_enabled
from tests.helpers.pipes import PipeLines

from .conftest import OBJ, REPO, make_study, wait_until

POLL = 2.5
"""The worker's --poll-interval: above 2 s, its idle pause stays at it (x0.8-1.2)."""

_CLAIM = re.compile(r"worker: cannot claim trials, retrying in (\S+) s \((.*?)\): ")
_FAILED_FOR = re.compile(r"the store has failed for (\d+) s and (\d+) calls")
_AGAIN = re.compile(r"the store works again, after \d+ s and (\d+) failed calls?")


def _worker(db_url: str) -> tuple[subprocess.Popen[str], PipeLines]:
    """A worker of study s that runs one trial, warning at a 0.2 s pace."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HPO_TEST_STORE_NOTE_SECONDS": "0.2"}
    env.pop("HPO_DB", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "hpo_service.worker", "--db", db_url, "--study", "s",
         "--poll-interval", str(POLL), "--max-trials", "1"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    return worker, PipeLines(worker.stderr)


def _claims_failed(err: PipeLines) -> int:
    return err.text.count("worker: cannot claim")


def _ride_out(
    db_url: str, fail: Callable[[subprocess.Popen[str]], None], heal: Callable[[], None]
) -> str:
    """Run a worker, ``fail`` its claims until it said 4 failed claims (about 10 s
    of housekeeping reads getting through meanwhile), ``heal``; its log once it
    ran the trial and stopped."""
    worker, err = _worker(db_url)
    try:
        # its objective process first: it makes a temporary file, which a limit on
        # writes would refuse (the worker logs "worker started" before it)
        wait_until(lambda: "worker started" in err.text and _has_child(worker.pid), 60)
        fail(worker)
        wait_until(lambda: _claims_failed(err) >= 4 or worker.poll() is not None, 120)
        assert worker.poll() is None, err.finish()
        assert "works again" not in err.text, err.text  # the outage goes on
        heal()
        assert worker.wait(timeout=120) == 0, err.finish()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    return err.finish()


def _has_child(pid: int) -> bool:
    """Whether process ``pid`` has a child process (Linux: ``/proc/*/stat``)."""
    for stat in os.scandir("/proc"):
        if not stat.name.isdigit():
            continue
        try:
            with open(f"/proc/{stat.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            return True
    return False


def _check_lines(text: str) -> None:
    """Each failed claim says the pause the worker really waits (its poll pace, not
    "next in 30.0 s"); the outage is one: its seconds and calls rise, and it ends
    once, when a claim gets through, counting every failed call."""
    claims = _CLAIM.findall(text)
    assert len(claims) >= 4, text
    delays = [float(seconds) for seconds, _ in claims]
    assert all(0.8 * POLL <= d <= 1.2 * POLL for d in delays), delays
    notes = [_FAILED_FOR.search(words) for _, words in claims[1:]]
    assert all(notes), claims  # each after the first is said within one outage
    seconds = [int(n[1]) for n in notes if n]
    calls = [int(n[2]) for n in notes if n]
    assert seconds == sorted(seconds) and seconds[-1] >= 5, claims
    assert calls == sorted(set(calls)), claims  # rising: never begun anew
    again = _AGAIN.findall(text)
    assert len(again) == 1, text
    assert int(again[0]) >= calls[-1], text
    assert text.count("(first through: claim trials)") == 1, text


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs prlimit (Linux)")
def test_a_sqlite_worker_whose_claims_fail_says_its_poll_pace_and_one_outage(
    store, db_url
):
    make_study(store, "s", f"{OBJ}:quadratic", [], max_evals=1)
    pids: list[int] = []

    def limit(worker_pid: int, size: int) -> None:
        pids.append(worker_pid)
        resource.prlimit(
            worker_pid, resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY)
        )

    def fail(worker: subprocess.Popen[str]) -> None:
        limit(worker.pid, 0)  # the worker can write nothing now, and read
        store.insert_trials("s", [NewTrial({}, {"x": 2.0})])  # its claims write

    text = _ride_out(db_url, fail, lambda: limit(pids[0], resource.RLIM_INFINITY))
    _check_lines(text)
    assert store.get_trial("s", 0).state == TrialState.DONE


def test_a_mongodb_worker_whose_claims_fail_says_its_poll_pace_and_one_outage(
    mongo_url,
):
    if not fail_points_enabled(mongo_url):
        pytest.skip("the MongoDB server runs without test commands (fail points)")
    app = f"hpo-claims-{uuid.uuid4().hex[:8]}"
    url = app_url(mongo_url, "hpo_claims", app)
    claims_fail = {"failCommands": ["findAndModify"], "appName": app,
                   "errorCode": 14031}  # fmt: skip  # OutOfDiskSpace: ridden out
    try:
        with open_store(url) as store, ExitStack() as point:
            make_study(store, "s", f"{OBJ}:quadratic", [{"x": 2.0}])
            point.enter_context(fail_point(mongo_url, claims_fail, "alwaysOn"))
            text = _ride_out(url, lambda _: None, point.close)  # failing from start
            state = store.get_trial("s", 0).state
    finally:
        with pymongo.MongoClient(mongo_url) as client:
            client.drop_database(url.rsplit("/", 1)[1].split("?")[0])
    _check_lines(text)
    assert state == TrialState.DONE


def test_a_failed_study_check_says_when_and_why_in_one_aside(
    store, monkeypatch, caplog
):
    """The check of the study before the first claim fails (the store is down for
    that one read): the line says the worker claims at once and why that is safe
    in one parenthesis with the store's failure. Before: "..., claiming at once
    (each claimed trial is judged) (the store failed): down", two asides in a
    row."""
    make_study(store, "s", f"{OBJ}:quadratic", [{"x": 2.0}], max_evals=1)
    real, fails = store.get_study, [StoreConnectionError("down")]

    def get_study(name):
        if fails:
            raise fails.pop()
        return real(name)

    monkeypatch.setattr(store, "get_study", get_study)
    with caplog.at_level(logging.WARNING):
        summary = run_worker(store, study="s", idle_timeout=0)
    assert not fails and summary.done == 1, caplog.text
    assert (
        "cannot check the study before claiming, claiming at once (each claimed "
        "trial is judged; the store failed): down"
    ) in caplog.text
