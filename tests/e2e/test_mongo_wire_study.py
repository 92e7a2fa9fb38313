"""Whole studies run by real hpo-driver and hpo-worker processes on MongoDB, through
real pymongo over TCP against the session's MongoDB-wire server."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator

import pymongo
import pytest

from hpo_service.store import TrialState, open_store
from tests.conftest import mongo_lane
from tests.helpers.mongo_wire import (
    fail_points_enabled,
    step_down,
    wait_writable,
    with_database,
)

from .conftest import wait_until
from .test_study_processes import DRIVER, WORKER, counts, start_args

pytestmark = pytest.mark.skipif(
    mongo_lane() is None, reason="no MongoDB-wire server (see tests/conftest.py)"
)


@pytest.fixture
def db(mongo_url: str) -> Iterator[str]:
    """``mongodb://127.0.0.1:PORT/<fresh database>?replicaSet=...``, dropped after."""
    name = f"hpo_e2e_{uuid.uuid4().hex[:10]}"
    yield with_database(mongo_url, name)
    wait_writable(mongo_url)
    with pymongo.MongoClient(mongo_url) as client:
        client.drop_database(name)


def finished_once(db: str, study: str, n: int) -> None:
    with open_store(db) as store:
        trials = store.get_trials(study)
    assert [t.tid for t in trials] == list(range(n))
    assert all(t.state is TrialState.DONE for t in trials), [t.state for t in trials]
    assert all(t.attempts == 1 for t in trials), [t.attempts for t in trials]


def test_a_whole_study_with_two_workers(procs, db):
    run = procs.run(DRIVER, *start_args(db, "q", 20, "--workers", "2", "--seed", "3"))
    assert run.returncode == 0, run.stderr
    assert "best trial" in run.stdout
    finished_once(db, "q", 20)
    status = procs.run(DRIVER, "status", "--db", db, "--study", "q")
    assert status.returncode == 0 and "20" in status.stdout, status.stderr


def test_primary_steps_down_in_the_middle_of_a_study(procs, db, mongo_url):
    if not fail_points_enabled(mongo_url):
        pytest.skip("the MongoDB server runs without test commands")
    procs.env["HPO_TEST_SLEEP"] = "0.1"
    # pymongo notices the new primary at its next monitor check: check often (the
    # one-node test server does not push the change as a real replica set does)
    db += "&heartbeatFrequencyMS=500"
    driver = procs.start(DRIVER, *start_args(db, "f", 24, "--workers", "2"))
    wait_until(lambda: counts(db, "f")[TrialState.DONE] >= 4, timeout=120)
    step_down(mongo_url, 3)
    assert driver.wait(timeout=240) == 0, driver.stderr.read()
    finished_once(db, "f", 24)


def test_a_result_too_large_for_mongodb_is_an_error_and_the_worker_lives(procs, db):
    driver = procs.start(
        DRIVER, "start", "--db", db, "--study", "big", "--algo", "rand", "--seed", "1",
        "--objective", "tests.e2e.objectives:oversized",
        "--space", "tests.e2e.objectives:oversized_space",
        "--max-evals", "8", "--no-progress",
    )  # fmt: skip
    worker = procs.start(WORKER, "--db", db, "--study", "big", "--idle-timeout", "5")
    assert driver.wait(timeout=300) == 0, driver.stderr.read()
    assert worker.wait(timeout=120) == 0, worker.stderr.read()
    with open_store(db) as store:
        trials = store.get_trials("big")
    assert len(trials) == 8
    big = [t for t in trials if t.config["big"]]
    small = [t for t in trials if not t.config["big"]]
    assert big and small, "the seed must draw both kinds"
    assert all(t.state is TrialState.DONE for t in small)
    for trial in big:
        assert trial.state is TrialState.ERROR
        assert trial.error["type"] == "UnstorableResult"
        assert "MongoDB document" in trial.error["message"]
    assert len({t.owner for t in trials}) == 1  # one worker ran them all


def test_workers_without_a_driver_keep_the_budget(procs, db, tmp_path):
    """Four worker processes claim 12 queued points of a budget of 5 at once over
    MongoDB: exactly 5 run (each once), the other 7 are cancelled with the reason."""
    from hpo_service._common.settings import StudySettings
    from hpo_service.store import NewTrial

    log = tmp_path / "starts"
    config = {"seconds": 0.3, "log": str(log), "loss": 1.0}
    settings = StudySettings(objective="tests.helpers.objectives:sleeps", space={},
                             space_fingerprint="test", max_evals=5)  # fmt: skip
    with open_store(db) as store:
        store.create_study("r", settings.to_dict())
        store.insert_trials("r", [NewTrial({}, config)] * 12)
    args = ["--db", db, "--study", "r", "--idle-timeout", "60", "--poll-interval",
            "0.02"]  # fmt: skip
    workers = [procs.start(WORKER, *args) for _ in range(4)]
    assert [w.wait(timeout=180) for w in workers] == [0] * 4
    final = counts(db, "r")
    assert (final[TrialState.DONE], final[TrialState.CANCELLED]) == (5, 7), final
    assert log.read_text().splitlines().count("start ") == 5
    with open_store(db) as store:
        cancelled = store.get_trials("r", [TrialState.CANCELLED])
    assert {t.error["type"] for t in cancelled} == {"BeyondBudget"}


def test_a_worker_whose_first_read_of_its_study_fails_rides_it_out(
    procs, db, mongo_url, tmp_path
):
    """hpo-worker reads its study once before it claims (to say it is missing or to
    refuse its objective early). A failure that may pass there (here the server
    answers OutOfDiskSpace) ended the worker with exit 1 before it claimed anything;
    now it says so, and the loop, which rides such failures out, takes over. The
    worker waits at its 'store-opened' pause point while the test arms the fault."""
    from hpo_service._common.stop_signals import PAUSE_ENV
    from tests.helpers.mongo_wire import fail_point

    if not fail_points_enabled(mongo_url):
        pytest.skip("the MongoDB server runs without test commands")
    run = procs.run(DRIVER, *start_args(db, "w", 2, "--workers", "1"))
    assert run.returncode == 0, run.stderr  # a study to resume, with trials to run
    marker, app = tmp_path / "paused", f"hpo-first-read-{uuid.uuid4().hex[:6]}"
    procs.env[PAUSE_ENV] = f"store-opened:{marker}"
    worker = procs.start(WORKER, "--db", f"{db}&appName={app}", "--study", "w",
                         "--idle-timeout", "3")  # fmt: skip
    wait_until(lambda: marker.exists() or worker.poll() is not None, 60)
    assert worker.poll() is None, worker.stderr.read()
    data = {"failCommands": ["find"], "appName": app, "errorCode": 14031}
    with fail_point(mongo_url, data, {"times": 1}):
        marker.unlink()
        code = worker.wait(timeout=120)
    err = worker.stderr.read()
    assert code == 0, err
    assert "OutOfDiskSpace" in err and "Traceback" not in err
    assert "worker stopped: its study finished;" in err


def _resume_paused(procs, db, mongo_url, tmp_path, study):
    """A finished one-worker study ``study`` (budget 1), then a driver resuming it
    with its own appName, paused at 'store-opened' (before it reads the study).

    Returns:
        (driver process, its appName, the pause marker: unlink it to go on).
    """
    from hpo_service._common.stop_signals import PAUSE_ENV

    if not fail_points_enabled(mongo_url):
        pytest.skip("the MongoDB server runs without test commands")
    run = procs.run(DRIVER, *start_args(db, study, 1, "--workers", "1"))
    assert run.returncode == 0, run.stderr  # a study to resume
    marker, app = tmp_path / "paused", f"hpo-driver-{study}-{uuid.uuid4().hex[:6]}"
    procs.env[PAUSE_ENV] = f"store-opened:{marker}"
    driver = procs.start(DRIVER, *start_args(f"{db}&appName={app}", study, 1))
    wait_until(lambda: marker.exists() or driver.poll() is not None, 60)
    assert driver.poll() is None, driver.stderr.read()
    return driver, app, marker


def test_a_driver_whose_first_read_of_its_study_fails_rides_it_out(
    procs, db, mongo_url, tmp_path
):
    """hpo-driver start reads the study before it drives (its stored settings, then
    the study it resumes under its lease). A failure that may pass there (here the
    server answers OutOfDiskSpace) ended the driver with exit 1 ('reading the study
    failed'); now it says so and retries, and the resume goes on (to the end here: the
    study's budget is spent, so no worker is needed)."""
    from tests.helpers.mongo_wire import fail_point

    driver, app, marker = _resume_paused(procs, db, mongo_url, tmp_path, "d")
    data = {"failCommands": ["find"], "appName": app, "errorCode": 14031}
    with fail_point(mongo_url, data, {"times": 1}):
        marker.unlink()
        code = driver.wait(timeout=180)
    err = driver.stderr.read()
    assert code == 0, err
    assert "OutOfDiskSpace" in err and "Traceback" not in err
    assert "study 'd' finished: --max-evals 1 reached; 1 done" in driver.stdout.read()


def test_a_driver_retrying_its_first_read_stops_on_sigterm(
    procs, db, mongo_url, tmp_path
):
    """While the driver retries a first read of its study that keeps failing in a way
    that may pass, SIGTERM ends it at once, saying so (exit 143), rather than being
    noted until the store answers again (it could wait forever)."""
    from tests.helpers.mongo_wire import fail_point
    from tests.helpers.pipes import PipeLines

    driver, app, marker = _resume_paused(procs, db, mongo_url, tmp_path, "t")
    err = PipeLines(driver.stderr)
    data = {"failCommands": ["find"], "appName": app, "errorCode": 14031}
    with fail_point(mongo_url, data, "alwaysOn"):
        marker.unlink()
        wait_until(
            lambda: "OutOfDiskSpace" in err.text or driver.poll() is not None, 60
        )
        assert driver.poll() is None, err.finish()
        driver.send_signal(signal.SIGTERM)
        code = driver.wait(timeout=60)
    text = err.finish()
    assert code == 128 + signal.SIGTERM, text
    assert "stopped by SIGTERM while reading the store for study 't'" in text
    assert "Traceback" not in text
