"""A worker whose lease ran out (a store it could not reach, a paused machine) and
whose trial was requeued finishes the trial late. Its result counts if no other
attempt claimed the trial meanwhile (the same attempt takes it back: nothing is
counted twice and no rerun is needed), and is refused once another attempt did.

The lease is cut by the test (as a driver does for a dead worker's) rather than by
a pause: a worker paused by SIGSTOP may hold SQLite's write lock. Its lease is 600 s,
so the worker's own beats (every 200 s) cannot interfere. Real worker processes, on
SQLite and on MongoDB over the wire."""

from __future__ import annotations

import time

import pytest

from hpo_service._common.settings import StudySettings
from hpo_service.store import NewTrial, TrialState, open_store

from .conftest import wait_until
from .test_study_processes import WORKER

LEASE = 600.0


@pytest.fixture
def db(any_db: str) -> str:
    return any_db


def run_past_its_lease(procs, db: str, tmp_path):
    """A worker runs trial 0 (it waits for a gate file); its lease is cut and the
    trial requeued meanwhile. Returns the worker, the attempt and the gate."""
    gate, log = tmp_path / "gate", tmp_path / "log"
    config = {"seconds": 120, "gate": str(gate), "log": str(log), "loss": 0.5}
    settings = StudySettings(
        objective="tests.helpers.objectives:sleeps", space={},
        space_fingerprint="test", max_evals=1, lease_seconds=LEASE,
    )  # fmt: skip
    with open_store(db) as store:
        store.create_study("s", settings.to_dict())
        store.insert_trials("s", [NewTrial(params={}, config=config)])
    worker = procs.start(WORKER, "--db", db, "--study", "s", "--max-trials", "1")
    wait_until(lambda: log.exists() and log.read_text() == "start \n", 120)
    with open_store(db) as store:
        attempt = store.get_trial("s", 0)
        assert attempt.state is TrialState.RUNNING
        assert store.heartbeat("s", 0, attempt.token, 0.001)  # its lease runs out
        time.sleep(0.01)
        wait_until(lambda: store.requeue_expired(max_attempts=3, study="s").requeued)
        assert store.get_trial("s", 0).state is TrialState.NEW
    return worker, attempt, gate


def finished(worker) -> str:
    _, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    return err


def test_a_late_result_counts_when_nobody_claimed_the_trial_since(procs, db, tmp_path):
    worker, attempt, gate = run_past_its_lease(procs, db, tmp_path)
    gate.touch()  # the objective returns: its result is refused, then taken back
    err = finished(worker)
    assert "trial s/0: its lease had run out and it was requeued" in err
    assert "took it back, so this attempt's outcome counts" in err
    with open_store(db) as store:
        trial = store.get_trial("s", 0)
        assert (trial.state, trial.result["loss"]) == (TrialState.DONE, 0.5)
        assert (trial.attempts, trial.token) == (1, attempt.token)  # ran once
        assert store.claim("other", LEASE, study="s") is None
    assert (tmp_path / "log").read_text() == "start \nend \n"


def test_a_late_result_is_refused_once_another_attempt_claimed_the_trial(
    procs, db, tmp_path
):
    worker, attempt, gate = run_past_its_lease(procs, db, tmp_path)
    with open_store(db) as store:
        other = store.claim("other", LEASE, study="s")
        assert (other.tid, other.attempts) == (0, 2) and other.token != attempt.token
    gate.touch()
    err = finished(worker)
    assert "trial s/0 was requeued meanwhile" in err
    assert "took it back" not in err
    with open_store(db) as store:
        trial = store.get_trial("s", 0)  # the other attempt's, untouched
        assert (trial.state, trial.owner, trial.token) == (
            TrialState.RUNNING, "other", other.token
        )  # fmt: skip
        assert store.complete("s", 0, other.token, {"loss": 0.25, "status": "ok"})
        assert store.get_trial("s", 0).result["loss"] == 0.25  # counted once
