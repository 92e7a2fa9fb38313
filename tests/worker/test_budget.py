"""A worker without a driver keeps a study's ``max_evals``: points queued after the
budget was spent are cancelled with a reason, never run."""

from __future__ import annotations

import subprocess
import sys

from hpo_service.store import NewTrial, TrialState
from hpo_service.worker import run_worker

from .conftest import OBJ, REPO, make_study


def test_points_queued_into_a_spent_study_are_cancelled_with_a_reason(store):
    make_study(store, "b", f"{OBJ}:quadratic", [{"x": 1.0}] * 2)
    assert run_worker(store, study="b", idle_timeout=0).done == 2
    late = store.insert_trials("b", [NewTrial({}, {"x": 2.0})] * 2)  # `enqueue`
    summary = run_worker(store, study="b", idle_timeout=30)
    assert (summary.done, summary.trials, summary.stop_reason) == (
        0,
        0,
        "study_finished",
    )
    counts = store.count_by_state("b")
    assert (counts[TrialState.DONE], counts[TrialState.CANCELLED]) == (2, 2)
    for tid in late:
        trial = store.get_trial("b", tid)
        assert trial.result is None and trial.error["type"] == "BeyondBudget"
        assert "--max-evals 2" in trial.error["message"]


def test_a_point_that_may_still_fit_waits_in_the_queue(store):
    """One trial of a budget of 1 is running elsewhere: the next one is handed back
    (it runs if that one does not count), and cancelled once that one finished."""
    make_study(store, "w", f"{OBJ}:quadratic", [{"x": 1.0}] * 2, max_evals=1)
    elsewhere = store.claim("elsewhere", 60.0, study="w")
    summary = run_worker(store, study="w", idle_timeout=0.5)
    assert (summary.done, summary.stop_reason) == (0, "idle_timeout")
    waiting = store.get_trial("w", 1)
    assert (waiting.state, waiting.attempts, waiting.error) == (TrialState.NEW, 0, None)
    store.complete("w", elsewhere.tid, elsewhere.token, {"loss": 0.0, "status": "ok"})
    assert run_worker(store, study="w", idle_timeout=30).stop_reason == "study_finished"
    assert store.get_trial("w", 1).state is TrialState.CANCELLED


def test_workers_claiming_at_once_run_exactly_the_budget(store, db_url, tmp_path):
    """Four worker processes, 12 queued points, a budget of 5: exactly 5 finish, the
    others are cancelled, none runs twice (the objective logs every start)."""
    log = tmp_path / "starts"
    configs = [{"seconds": 0.3, "log": str(log), "loss": 1.0}] * 12
    make_study(store, "r", f"{OBJ}:sleeps", configs, max_evals=5)
    command = [sys.executable, "-m", "hpo_service.worker", "--db", db_url]
    command += ["--study", "r", "--idle-timeout", "60", "--poll-interval", "0.02"]
    workers = [subprocess.Popen(command, cwd=REPO) for _ in range(4)]
    assert [w.wait(timeout=180) for w in workers] == [0] * 4
    counts = store.count_by_state("r")
    assert (counts[TrialState.DONE], counts[TrialState.CANCELLED]) == (5, 7), counts
    assert log.read_text().splitlines().count("start ") == 5
    done = store.get_trials("r", [TrialState.DONE])
    assert all(t.attempts == 1 for t in done)


def test_a_spent_study_is_cancelled_without_reading_its_queued_trials(mongo_url):
    # pymongo over TCP on the wire server: the worker that finds the budget spent
    # cancels 40 queued trials of 4.5 kB each from their tids (before, it read all of
    # them whole: a reply of over 180 kB, and 16 MB is MongoDB's limit).
    import uuid

    import bson
    import pymongo
    from pymongo import monitoring

    from hpo_service.store import open_store

    class Largest(monitoring.CommandListener):
        size = 0

        def started(self, event):
            pass

        def succeeded(self, event):
            self.size = max(self.size, len(bson.encode(event.reply)))

        def failed(self, event):
            pass

    wide = {"x": 1.0, **{f"p{i:03d}": i / 7 for i in range(300)}}
    replies = Largest()
    database = f"hpo_budget_{uuid.uuid4().hex[:10]}"
    with (
        open_store(mongo_url, database=database, event_listeners=[replies]) as store,
        pymongo.MongoClient(mongo_url) as client,
    ):
        make_study(store, "b", f"{OBJ}:quadratic", [{"x": 1.0}])
        assert run_worker(store, study="b", idle_timeout=0).done == 1
        late = store.insert_trials("b", [NewTrial(wide, wide)] * 40)
        replies.size = 0
        summary = run_worker(store, study="b", idle_timeout=30)
        assert (summary.done, summary.stop_reason) == (0, "study_finished")
        assert store.get_tids("b", [TrialState.CANCELLED]) == late
        assert replies.size < 10 * len(bson.encode(wide)), replies.size
        client.drop_database(database)
