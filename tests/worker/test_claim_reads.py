"""A worker judges a claimed trial (its study's budget, a cancel) and runs it with the
study as read with the claim (``claim_with_study``): on SQLite in the claim's own
transaction, so a trial costs no read of the study of its own (issue 14, flat cost),
on MongoDB one read right after the claim, as before, and none before its result."""

from __future__ import annotations

import uuid

import pymongo
import pytest
from pymongo import monitoring

from hpo_service.exceptions import StoreConnectionError
from hpo_service.store import NewTrial, TrialState, open_store
from hpo_service.worker import run_worker
from tests.helpers.mongo_wire import with_database

from .conftest import OBJ, make_study


@pytest.fixture(params=["sqlite", "mongodb"])
def any_store(request, db_url):
    """A SQLite store, or a MongoDB database's on the test server (secantusdb,
    through pymongo over TCP)."""
    if request.param == "sqlite":
        with open_store(db_url) as store:
            yield store
        return
    mongo_url = request.getfixturevalue("mongo_url")
    database = f"hpo_claims_{uuid.uuid4().hex[:10]}"
    with open_store(with_database(mongo_url, database)) as store:
        yield store
    with pymongo.MongoClient(mongo_url) as client:
        client.drop_database(database)


def _reads(store) -> list[str]:
    """Record the calls of ``store`` (a real store) to ``get_study`` and
    ``complete``, in order."""
    calls: list[str] = []
    for name in ("get_study", "complete"):
        real = getattr(type(store), name)

        def recorded(*args, _name=name, _real=real, **kwargs):
            calls.append(_name)
            return _real(store, *args, **kwargs)

        setattr(store, name, recorded)
    return calls


def test_a_sqlite_worker_reads_no_study_per_trial(store):
    """After the start's check of its study, 4 trials cost no ``get_study``: the
    budget verdict and the settings come with each claim. Before, one read after
    each claim."""
    make_study(store, "r", f"{OBJ}:quadratic", [{"x": float(i)} for i in range(4)])
    calls = _reads(store)
    summary = run_worker(store, study="r", idle_timeout=0)
    assert (summary.done, summary.failed) == (4, 0), summary
    later = calls[calls.index("complete") :]  # past the start's study check
    assert later == ["complete"] * 4, calls


def test_a_trial_queued_into_a_cancelled_study_is_cancelled_not_run(any_store):
    """The claim's read shows the cancel: the trial is cancelled, its objective never
    runs (it would raise)."""
    make_study(any_store, "c", f"{OBJ}:raises", [], max_evals=5)
    any_store.patch_study_settings("c", {"cancelled": True})  # `hpo-driver cancel`
    any_store.insert_trials("c", [NewTrial({}, {"message": "ran"})])  # `enqueue`
    summary = run_worker(any_store, study="c", idle_timeout=0)
    assert (summary.done, summary.failed, summary.trials) == (0, 0, 0), summary
    trial = any_store.get_trial("c", 0)
    assert trial.state is TrialState.CANCELLED, trial
    assert "cancel" in trial.error["message"], trial.error


def test_a_budget_lowered_before_the_claim_holds_the_trial_back(any_store):
    """max_evals lowered to 1 with one trial done: the claim's read shows the spent
    budget and the trial is cancelled instead of run."""
    make_study(any_store, "b", f"{OBJ}:quadratic", [{"x": 1.0}, {"x": 2.0}])
    assert run_worker(any_store, study="b", max_trials=1, idle_timeout=0).done == 1
    any_store.patch_study_settings("b", {"max_evals": 1})
    summary = run_worker(any_store, study="b", idle_timeout=0)
    assert (summary.done, summary.trials) == (0, 0), summary
    assert any_store.get_trial("b", 1).state is TrialState.CANCELLED


class _Commands(monitoring.CommandListener):
    """The trial states a client's ``findAndModify`` commands set on trials (a
    claim ``running``, a result ``done``), and its reads of the studies, in order."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        if event.command_name == "find" and command.get("find") == "studies":
            self.seen.append("read study")
        elif event.command_name == "findAndModify" and command["findAndModify"] == (
            "trials"
        ):
            self.seen.append(f"set {_state_set(command['update'])}")

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _state_set(update) -> str | None:
    """The state an update (a document or a pipeline) sets, if any."""
    for stage in update if isinstance(update, list) else [update]:
        state = stage.get("$set", {}).get("state")
        if state is not None:
            return state.get("$literal") if isinstance(state, dict) else state
    return None


def test_a_mongodb_worker_reads_its_study_once_per_trial(mongo_url):
    """A result without constraints while the study has no constraint count: on
    MongoDB the worker reads the study once per trial, with its claim, and writes
    the result conditional on no settings write since (before: once more, just
    before the result). The first trial records the objective count (a settings
    write), so its result reads the study again."""
    commands = _Commands()
    database = f"hpo_claims_{uuid.uuid4().hex[:10]}"
    url = with_database(mongo_url, database)
    try:
        with open_store(url, event_listeners=[commands]) as store:
            make_study(
                store, "q", f"{OBJ}:quadratic", [{"x": 1.0 + i} for i in range(4)]
            )
            summary = run_worker(store, study="q", idle_timeout=0)
            assert (summary.done, summary.failed) == (4, 0), summary
            assert store.get_study("q").settings.get("n_constraints") is None
    finally:
        with pymongo.MongoClient(mongo_url) as client:
            client.drop_database(database)
    claims = " ".join(commands.seen).split("set running")[1:]  # the last found none
    reads = [
        part.rsplit("set done", 1)[0].count("read study")
        for part in claims
        if "set done" in part
    ]
    assert reads == [2, 1, 1, 1], commands.seen


@pytest.mark.parametrize("any_store", ["mongodb"], indirect=True)
def test_a_failed_read_after_a_mongodb_claim_does_not_lose_the_trial(any_store):
    """MongoDB claims, then reads the study (two commands). The read right after a
    claim fails (the store is down for that one read): the worker still holds the
    claimed trial, reads its study again with the retries of the budget verdict,
    and runs it. Before, the failure came out of ``claim_with_study``: the worker
    held no trial and the claimed one stayed running under a lease no one renewed
    (done=0, trial 0 'running' until its lease ran out)."""
    make_study(any_store, "f", f"{OBJ}:quadratic", [{"x": 1.0}])
    real_claim, real_read = any_store.claim, any_store._require_study
    claims = [0]  # claims that landed and whose study read has not failed yet

    def claim(*args, **kwargs):
        trial = real_claim(*args, **kwargs)
        claims[0] += trial is not None
        return trial

    def read(name, *args):  # the store's study read (``get_study``'s too)
        if claims[0]:
            claims[0] = 0
            raise StoreConnectionError("down for the read after the claim")
        return real_read(name, *args)

    any_store.claim, any_store._require_study = claim, read
    summary = run_worker(any_store, study="f", idle_timeout=0)
    assert (summary.done, summary.trials) == (1, 1), summary
    assert any_store.get_trial("f", 0).state is TrialState.DONE
