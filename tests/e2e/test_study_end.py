"""A study that ends while trials run keeps their results: a stop rule (an early
stop, a loss threshold, a spent budget) ends the study only once the running trials
finished, and a trial a worker claimed while the driver decided to stop is one of
them. Real worker processes, on SQLite and on MongoDB over the wire."""

from __future__ import annotations

import json

import pytest

from hpo_service import StoreTrials, fmin, hp
from hpo_service.driver._study import open_study, space_settings
from hpo_service.driver._study_loop import Driver, DriverOptions
from hpo_service.store import NewTrial, TrialState, open_store

from .conftest import wait_until
from .test_study_processes import DRIVER, WORKER, counts

FAST = DriverOptions(progress=False, min_poll=0.005, max_poll=0.05)
SPACE = {"x": hp.uniform("x", 0, 1), "seconds": 0.5}


@pytest.fixture
def db(any_db: str) -> str:
    return any_db


def new_study(store, name: str, **given):
    settings = {
        "objective": "tests.helpers.objectives:sleeps",
        **space_settings(SPACE),
        "max_evals": 10,
        "queue_depth": 3,
        "seed": 1,
        **given,
    }
    return open_study(store, name, settings)[0]


def test_a_trial_claimed_as_the_stop_rule_fires_runs_and_counts(procs, db):
    """The driver reads its queue (3 trials queued, no worker yet); before it drops
    that queue a worker claims one. That trial runs to its end and counts, the
    other two are cancelled, and the study ends only then. Before, the stale queue
    was cancelled whole: the running trial became cancelled and its result dropped."""
    with open_store(db) as store:
        settings = new_study(store, "race")

        def stop_once_a_worker_has_claimed() -> str | None:
            if store.count_by_state("race")[TrialState.NEW] < 3:
                return None  # the queue is not full yet
            procs.start(WORKER, "--db", db, "--study", "race")
            wait_until(lambda: store.count_by_state("race")[TrialState.RUNNING] == 1)
            return "early_stop"  # the driver still sees 3 queued trials

        driver = Driver(
            store, "race", settings, SPACE, options=FAST,
            should_stop=stop_once_a_worker_has_claimed,
        )  # fmt: skip
        outcome = driver.run()
        trials = store.get_trials("race")
    assert outcome.reason == "early_stop"
    states = [t.state for t in trials]
    assert states == [TrialState.DONE, TrialState.CANCELLED, TrialState.CANCELLED]
    assert trials[0].result["loss"] == 0.5
    assert outcome.counts[TrialState.DONE] == 1
    assert outcome.best is not None and outcome.best.tid == 0
    for trial in trials[1:]:  # why they did not run, as `hpo-driver trials` shows
        assert trial.error["type"] == "StudyStopped", trial.error
        assert (
            "the study stopped (early_stop_fn asked to stop)" in trial.error["message"]
        )


def test_trimming_the_queue_past_the_budget_spares_a_trial_claimed_meanwhile(
    procs, db, caplog, tmp_path
):
    """A point queued by hand puts the queue one past ``max_evals=3``: the driver
    cancels its own newest suggestion (tid 2), from a view read before three
    workers claimed tids 0-2. Tid 2 runs and counts; the hand-queued point, still
    queued, is cancelled instead, and the driver names only it. Before, tid 2 was
    cancelled as it ran (its result dropped) and the point ran in its place. The
    driver's trials wait for a gate file, so the three run together however slowly
    the workers start."""
    gate = tmp_path / "go"
    space = {**SPACE, "seconds": 120.0, "gate": str(gate)}
    with open_store(db) as store:
        settings = new_study(store, "trim", max_evals=3, **space_settings(space))
        calls = []

        def enqueue_then_claim() -> None:
            calls.append(None)
            if len(calls) == 2:  # the driver queued 0-2 and sees them queued
                point = NewTrial({"x": 0.5}, {"x": 0.5, "seconds": 0.5})
                assert store.insert_trials("trim", [point]) == [3]
            elif len(calls) == 3:  # it sees 4 queued: the trim comes next
                for _ in range(3):
                    procs.start(WORKER, "--db", db, "--study", "trim")
                wait_until(lambda: counts(db, "trim")[TrialState.RUNNING] == 3)
            elif len(calls) > 3:  # the trim is done: let them finish
                gate.touch()

        Driver(
            store, "trim", settings, space, options=FAST,
            should_stop=enqueue_then_claim,
        ).run()  # fmt: skip
        trials = store.get_trials("trim")
    assert [t.state for t in trials] == [TrialState.DONE] * 3 + [TrialState.CANCELLED]
    assert trials[3].started_at is None and trials[3].error["type"] == "BeyondBudget"
    said = [r.getMessage() for r in caplog.records if "beyond --max" in r.message]
    assert said == [
        "study 'trim': cancelled 1 queued trial of [3]: beyond --max-evals 3"
    ]


def test_a_cancelled_study_says_why_on_the_trial_it_stopped(procs, db):
    """`hpo-driver cancel` while a worker runs a trial: the trial ends cancelled
    with the reason (not a bare state), the worker says so at INFO and stops."""
    with open_store(db) as store:
        new_study(store, "c", max_evals=2, queue_depth=2, lease_seconds=3.0)
        point = {"x": 0.5, "seconds": 60.0}
        store.insert_trials("c", [NewTrial({"x": 0.5}, point)] * 2)
    worker = procs.start(WORKER, "--db", db, "--study", "c")
    wait_until(lambda: counts(db, "c")[TrialState.RUNNING] == 1)
    cancel = procs.run(DRIVER, "cancel", "--db", db, "--study", "c")
    assert cancel.returncode == 0, cancel.stderr
    assert "and 2 of its queued or running trials" in cancel.stdout
    _, err = worker.communicate(timeout=120)  # it stops: its study is over
    assert worker.returncode == 0, err
    assert "worker stopped: its study finished;" in err
    assert "was cancelled while it ran" in err and "WARNING" not in err
    listed = procs.run(DRIVER, "trials", "--db", db, "--study", "c", "--format", "json")
    records = json.loads(listed.stdout)
    assert [r["state"] for r in records] == ["cancelled", "cancelled"]
    for record in records:
        assert record["error"]["type"] == "Cancelled", record
        assert "cancelled by `hpo-driver cancel`" in record["error"]["message"]


def test_fmin_early_stop_keeps_the_trial_a_worker_claimed_meanwhile(procs, db):
    """``fmin(trials=StoreTrials(...), early_stop_fn=...)``: the stop comes as
    trial 0 finishes, while a second worker claims the queued trial 1 (the driver
    last read it queued). Trial 1 runs to its end and fmin's trials hold its loss."""
    with open_store(db) as store:
        new_study(store, "f", queue_depth=2)  # fmin resumes it: 2 trials queued
    first = procs.start(WORKER, "--db", db, "--study", "f", "--max-trials", "1")
    trials = StoreTrials(db, study="f", objective="tests.helpers.objectives:sleeps")

    def stop_once_a_worker_claims(finished, *state):
        with open_store(db) as store:
            assert store.count_by_state("f")[TrialState.NEW] >= 1
            procs.start(WORKER, "--db", db, "--study", "f")
            wait_until(lambda: store.count_by_state("f")[TrialState.RUNNING] == 1)
        return True, []

    fmin(lambda c: 0.0, SPACE, max_evals=10, trials=trials, show_progressbar=False,
         early_stop_fn=stop_once_a_worker_claims)  # fmt: skip
    assert first.wait(timeout=60) == 0
    trials.refresh()
    done = [t for t in trials.trials if t["result"].get("loss") is not None]
    assert [t["tid"] for t in done] == [0, 1]
    assert all(t["result"]["loss"] == 0.5 for t in done)
    with open_store(db) as store:
        states = [t.state for t in store.get_trials("f")]
    assert states[:2] == [TrialState.DONE, TrialState.DONE]
    assert set(states[2:]) <= {TrialState.CANCELLED}


def test_a_trial_queued_after_the_cancel_is_not_run(procs, db, tmp_path):
    """A batch the driver queued as `hpo-driver cancel` landed (or a point queued
    into the cancelled study by hand) is cancelled by the worker that claims it,
    never run, saying why; `hpo-driver start` resumes the study."""
    log = tmp_path / "runs"
    with open_store(db) as store:
        new_study(store, "late", max_evals=5)
    cancel = procs.run(DRIVER, "cancel", "--db", db, "--study", "late")
    assert cancel.returncode == 0, cancel.stderr
    with open_store(db) as store:
        point = {"x": 0.5, "seconds": 0.0, "log": str(log)}
        store.insert_trials("late", [NewTrial({"x": 0.5}, point)])
    worker = procs.run(
        WORKER, "--db", db, "--study", "late", "--idle-timeout", "1", timeout=120
    )
    assert worker.returncode == 0, worker.stderr
    assert "trial late/0 not run: its study was cancelled" in worker.stderr
    assert not log.exists()  # the objective never ran
    with open_store(db) as store:
        trial = store.get_trial("late", 0)
    assert trial.state is TrialState.CANCELLED
    assert trial.error["type"] == "Cancelled"
    assert "queued after `hpo-driver cancel`" in trial.error["message"]
