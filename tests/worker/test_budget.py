"""A worker without a driver keeps a study's ``max_evals``: points queued after the
budget was spent are cancelled with a reason, never run."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import uuid

import pymongo
import pytest

from hpo_service.exceptions import StoreConnectionError
from hpo_service.store import NewTrial, TrialState, open_store
from hpo_service.worker import Worker, run_worker
from hpo_service.worker._heartbeat import Lease
from tests.helpers.mongo_wire import with_database

from .conftest import OBJ, REPO, lines, make_study, wait_until

OK = {"loss": 0.0, "status": "ok"}
TOOK_BACK = "took it back after its lease ran out, but it may not run on"


@pytest.fixture(params=["sqlite", "mongodb"])
def any_url(request, db_url):
    """A SQLite store's URL, or a MongoDB database's on the test server (secantusdb,
    through pymongo over TCP)."""
    if request.param == "sqlite":
        yield db_url
        return
    mongo_url = request.getfixturevalue("mongo_url")
    database = f"hpo_budget_{uuid.uuid4().hex[:10]}"
    yield with_database(mongo_url, database)
    with pymongo.MongoClient(mongo_url) as client:
        client.drop_database(database)


@pytest.fixture
def any_store(any_url):
    with open_store(any_url) as store:
        yield store


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


def late_attempt(store, study, running_elsewhere):
    """Budget 2, trials 0-2 queued. Worker A claims trial 0 with a short lease, two
    others claim 1 and 2; A's lease runs out and trial 0 is requeued; the others
    finish but ``running_elsewhere`` of them. A's worker and its lease for trial 0
    (its heartbeat comes late: the next thing it does is take the trial back)."""
    make_study(store, study, f"{OBJ}:quadratic", [{"x": 1.0}] * 3, max_evals=2)
    worker = Worker(store, study=study, show_output=False)
    first = store.claim(worker.worker_id, 0.05, study=study)
    others = [store.claim("other", 600.0, study=study) for _ in range(2)]
    assert [t.tid for t in (first, *others)] == [0, 1, 2]
    wait_until(lambda: store.requeue_expired(max_attempts=3, study=study).requeued)
    for t in others[running_elsewhere:]:
        assert store.complete(study, t.tid, t.token, OK)
    return worker, Lease(study, first.tid, first.token, 600.0), others


def test_a_trial_taken_back_after_the_budget_was_spent_is_cancelled(any_store, caplog):
    """The hole _budget.py admitted: while trial 0 was requeued, nobody counted it,
    so trials 1 and 2 ran and filled the budget of 2. Taking trial 0 back judges it
    as a claim does: cancelled, so its late result is refused (before, it was taken
    back and counted: 3 done of max_evals=2)."""
    store = any_store
    worker, lease, _ = late_attempt(store, "spent", running_elsewhere=0)
    with caplog.at_level(logging.INFO):
        assert worker._heartbeat.take_back(lease) is False
    assert not store.complete("spent", 0, lease.token, OK)
    counts = store.count_by_state("spent")
    assert (counts[TrialState.DONE], counts[TrialState.CANCELLED]) == (2, 1), counts
    assert store.get_trial("spent", 0).error["type"] == "BeyondBudget"
    # Said as what it is, a trial that ran: not a queued trial cancelled
    said = caplog.text
    assert f"spent/0: {TOOK_BACK} (its budget is spent)" in said, said
    assert "queued trial" not in said, said


def test_a_trial_taken_back_in_a_cancelled_study_is_not_said_not_run(any_store, caplog):
    """The study was cancelled while trial 0's lease had run out: taking it back
    cancels it, said as a trial that ran and stops, not "not run" (the words of a
    trial claimed after the cancel)."""
    store = any_store
    worker, lease, _ = late_attempt(store, "gone", running_elsewhere=1)
    store.patch_study_settings("gone", {"cancelled": True})  # `hpo-driver cancel`
    with caplog.at_level(logging.INFO):
        assert worker._heartbeat.take_back(lease) is False
    assert store.get_trial("gone", 0).state is TrialState.CANCELLED
    said = caplog.text
    assert f"gone/0: {TOOK_BACK} (its study was cancelled)" in said, said
    assert "not run:" not in said, said


def test_queued_trials_cancelled_with_a_trial_taken_back_are_counted_apart(
    any_store, caplog
):
    """A trial enqueued after the budget was spent is cancelled with the trial taken
    back: the line counts it alone ("1 queued trial too"), not the trial taken back
    (requeued, so among the queued tids too: counted once)."""
    store = any_store
    worker, lease, _ = late_attempt(store, "more", running_elsewhere=0)
    store.insert_trials("more", [NewTrial({"x": 1.0}, {"x": 1.0})])  # `enqueue`
    with caplog.at_level(logging.INFO):
        assert worker._heartbeat.take_back(lease) is False
    counts = store.count_by_state("more")
    assert (counts[TrialState.DONE], counts[TrialState.CANCELLED]) == (2, 2), counts
    said = caplog.text
    assert f"more/0: {TOOK_BACK} (its budget is spent)" in said, said
    assert "study more: cancelled 1 queued trial too: its budget" in said, said
    assert "trial 0 first" not in said, said


def test_a_trial_taken_back_while_others_take_the_budget_is_handed_back(any_store):
    """Trial 2 finished, trial 1 still runs: with trial 0 back there would be 3
    trials for a budget of 2, so trial 0 is handed back (it runs if trial 1 does
    not count) and is cancelled once trial 1 finished."""
    store = any_store
    worker, lease, (one, _) = late_attempt(store, "taken", running_elsewhere=1)
    assert worker._heartbeat.take_back(lease) is False
    assert not store.complete("taken", 0, lease.token, OK)
    back = store.get_trial("taken", 0)
    assert (back.state, back.token, back.attempts) == (TrialState.NEW, None, 0)
    assert store.complete("taken", one.tid, one.token, OK)
    assert run_worker(store, study="taken", idle_timeout=30).done == 0
    counts = store.count_by_state("taken")
    assert (counts[TrialState.DONE], counts[TrialState.CANCELLED]) == (2, 1), counts


def test_a_trial_taken_back_within_the_budget_runs_on(any_store):
    """Trial 1 was handed back, not run: trial 0 still fits and its result counts."""
    store = any_store
    worker, lease, (one, _) = late_attempt(store, "room", running_elsewhere=1)
    assert store.release("room", one.tid, one.token)
    assert worker._heartbeat.take_back(lease) is True
    assert store.complete("room", 0, lease.token, OK)
    assert store.count_by_state("room")[TrialState.DONE] == 2


def test_a_take_back_whose_verdict_failed_is_judged_before_the_outcome(
    any_store, monkeypatch
):
    """The store failed between the take back and the budget read: the attempt
    holds the trial again but unjudged; the worker judges it before it writes the
    outcome (the next beat would too), and the write is refused."""
    store = any_store
    worker, lease, _ = late_attempt(store, "cut", running_elsewhere=0)
    count = store.count_by_state
    failures = [StoreConnectionError("down")]

    def flaky(study):
        if failures:
            raise failures.pop()
        return count(study)

    monkeypatch.setattr(store, "count_by_state", flaky)
    with pytest.raises(StoreConnectionError):
        worker._heartbeat.take_back(lease)
    assert lease.unjudged
    assert store.get_trial("cut", 0).state is TrialState.RUNNING  # taken back
    worker._lease = lease  # the worker writes its result: judged first, refused
    write = lambda: store.complete("cut", 0, lease.token, OK)  # noqa: E731
    assert worker._current_attempt(write) is False
    assert not lease.unjudged
    assert store.get_trial("cut", 0).state is TrialState.CANCELLED


def test_a_worker_paused_past_its_lease_does_not_run_its_trial_past_the_budget(
    any_url, any_store, tmp_path
):
    """A real worker process runs trial 0 of a budget of 2 (1 s lease) and is paused
    (SIGSTOP) past its lease; trial 0 is requeued; trials 1 and 2, queued and claimed
    meanwhile, finish and spend the budget. Resumed, the worker's heartbeat (or its
    result's write) takes trial 0 back, finds the budget spent and cancels it: 2
    done, not 3 (before, it took the trial back and its result counted)."""
    store = any_store
    log, gate = tmp_path / "starts", tmp_path / "gate"
    config = {"seconds": 120, "gate": str(gate), "log": str(log), "loss": 1.0}
    make_study(store, "p", f"{OBJ}:sleeps", [config], max_evals=2, lease_seconds=1.0)
    command = [sys.executable, "-m", "hpo_service.worker", "--db", any_url]
    command += ["--study", "p", "--idle-timeout", "120", "--poll-interval", "0.05"]
    worker = subprocess.Popen(command, cwd=REPO)
    try:
        wait_until(lambda: "start " in lines(log))  # trial 0 runs
        store.insert_trials("p", [NewTrial({}, {"x": 1.0})] * 2)  # `enqueue`
        others = [store.claim("other", 600.0, study="p") for _ in range(2)]
        os.kill(worker.pid, signal.SIGSTOP)
        wait_until(lambda: store.requeue_expired(max_attempts=3, study="p").requeued)
        for t in others:
            assert store.complete("p", t.tid, t.token, OK)
        gate.touch()  # the objective returns; its worker is still paused
        os.kill(worker.pid, signal.SIGCONT)
        assert worker.wait(timeout=120) == 0
    finally:
        if worker.poll() is None:  # failed midway: never leave it paused
            os.kill(worker.pid, signal.SIGCONT)
            worker.kill()
        worker.wait()
    counts = store.count_by_state("p")
    assert (counts[TrialState.DONE], counts[TrialState.CANCELLED]) == (2, 1), counts
    assert store.get_trial("p", 0).error["type"] == "BeyondBudget"
