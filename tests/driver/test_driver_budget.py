"""A study never runs more than ``max_evals`` trials, whatever the store's feed shows
late: trials another reader numbered first (MongoDB), and a batch whose insert reply
was lost after the write landed (both backends)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest

from examples.quadratic import objective
from hpo_service.exceptions import StoreConnectionError
from hpo_service.store import TrialState, open_store
from hpo_service.store._sqlite import SQLiteTrialStore
from tests.conftest import mongo_lane
from tests.helpers.mongo_wire import (
    fail_point,
    fail_points_enabled,
    numbered_first_by,
    with_database,
)

from .test_driver import drive, new_study

needs_mongo = pytest.mark.skipif(
    mongo_lane() is None, reason="no MongoDB-wire server (see tests/conftest.py)"
)
APP = "hpo-budget-test"
COUNTED = (TrialState.DONE, TrialState.ERROR, TrialState.PRUNED)


@pytest.fixture
def mongo_db(mongo_url: str) -> Iterator[str]:
    """A fresh database's URL on the wire server, dropped afterwards."""
    name = f"hpo_budget_{uuid.uuid4().hex[:10]}"
    yield with_database(mongo_url, name)
    with pymongo.MongoClient(mongo_url) as client:
        client.drop_database(name)


def assert_exactly(store: Any, outcome: Any, max_evals: int) -> None:
    trials = store.get_trials("s")
    assert len(trials) == max_evals, [t.tid for t in trials]
    counts = store.count_by_state("s")
    assert sum(counts[s] for s in COUNTED) == max_evals
    assert outcome.reason == "max_evals"


@needs_mongo
def test_trials_a_workers_pruner_numbered_first_are_not_queued_again(
    mongo_db, thread_workers
):
    """The flaky ASHA study on MongoDB (17 trials for 15): a worker's pruner numbered
    the driver's new batch above the driver's feed read, which then missed it, and
    the driver queued the same room again. Here that race happens at every poll."""
    with open_store(mongo_db) as store, open_store(mongo_db) as pruner_reader:
        settings = new_study(store, max_evals=8, queue_depth=3)
        numbered_first_by(store, pruner_reader, "s")
        with thread_workers(mongo_db, objective, n=2):
            outcome = drive(store, settings)
        assert_exactly(store, outcome, 8)


class _LostReplies(SQLiteTrialStore):
    """SQLite whose first ``lost`` inserts land and then raise, as a lost reply; the
    feed read just after shows nothing new (the write landed after it: what a store
    may do with a write it never acknowledged)."""

    lost = 2
    _hide = False

    def insert_trials(self, study, trials):
        tids = super().insert_trials(study, trials)
        if self.lost:
            self.lost -= 1
            self._hide = True
            raise StoreConnectionError("the reply was lost (injected)")
        return tids

    def changes_since(self, study, cursor=0):
        if self._hide:
            self._hide = False
            return [], cursor
        return super().changes_since(study, cursor)


def test_a_landed_batch_whose_reply_was_lost_is_counted_sqlite(
    tmp_path, thread_workers
):
    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    with _LostReplies(str(tmp_path / "study.sqlite")) as store:
        settings = new_study(store, max_evals=6, queue_depth=3)
        with thread_workers(url, objective, n=2):
            outcome = drive(store, settings)
        assert store.lost == 0
        assert_exactly(store, outcome, 6)


@needs_mongo
def test_a_landed_batch_whose_reply_was_lost_is_counted_mongodb(
    mongo_db, mongo_url, thread_workers
):
    """Each insert lands, then its replies (and the retries') carry a write-concern
    error until the store gives up (``retry_timeout``): the driver sees the error,
    not the trials, and must count them before it queues anything more."""
    if not fail_points_enabled(mongo_url):
        pytest.skip("the MongoDB server runs without test commands (fail points)")
    lost = {"writeConcernError": {"code": 64, "errmsg": "waiting for replication"}}
    data = {"failCommands": ["insert"], "appName": APP, **lost}
    with open_store(mongo_db, appname=APP, retry_timeout=0.3) as store:
        settings = new_study(store, max_evals=6, queue_depth=3)
        lose = fail_point(mongo_url, data, {"times": 25})
        with lose, thread_workers(mongo_db, objective, n=2):
            outcome = drive(store, settings)
        assert_exactly(store, outcome, 6)
