"""A multi-objective study with pruned trials: every loss has one shape.

In a multi-objective study a pruned trial (one reported value, no loss vector) has
the loss None everywhere a loss is read: ``losses()``, ``results``, ``hpo-driver
trials`` (JSON and CSV), the report's rows; its value stays in its intermediate
values. Real ``hpo-driver`` and worker processes on SQLite; on MongoDB (real
pymongo over TCP) the trials are written through the worker's store calls and read
by ``hpo-driver trials``, ``best`` and ``MongoTrials``.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pymongo
import pytest

from hpo_service import StoreTrials
from hpo_service._common.settings import record_objective_count
from hpo_service.driver._study import open_study, space_settings
from hpo_service.insight import load_study
from hpo_service.mongoexp import MongoTrials
from hpo_service.store import NewTrial, open_store
from tests.conftest import mongo_lane
from tests.helpers.mongo_wire import with_database
from tests.helpers.multi_objective import pruned_space

REPO = Path(__file__).resolve().parents[2]
MODULE = "tests.helpers.multi_objective"
# Grid order: tids 0-2 are pruned after reporting x + 10, tids 3-5 return [x, 2 - x].
LOSSES = [None, None, None, [0.0, 2.0], [1.0, 1.0], [2.0, 0.0]]


def driver(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo_service.driver", *args, "--db", db_url],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def start(db_url: str) -> None:
    done = driver(db_url, "start", "--study", "mo", "--objective",
                  f"{MODULE}:pruned_or_two_losses", "--space", f"{MODULE}:pruned_space",
                  "--algo", "grid", "--max-evals", "6", "--workers", "1",
                  "--no-progress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "counts as failed" not in done.stderr


def run_as_a_worker_would(db_url: str) -> None:
    """The same six trials, written through the store calls a worker makes (a
    pruned result holds the last reported value as its loss, as a worker stores
    it; the first loss vector records the count)."""
    with open_store(db_url) as store:
        given = {"objective": f"{MODULE}:pruned_or_two_losses", "max_evals": 6}
        open_study(store, "mo", {**given, **space_settings(pruned_space)})
        points = [{"kind": k, "x": x} for k in (0, 1) for x in (0.0, 1.0, 2.0)]
        configs = [{**p, "kind": ["pruned", "done"][p["kind"]]} for p in points]
        pairs = zip(points, configs, strict=True)
        store.insert_trials("mo", [NewTrial(*pair) for pair in pairs])
        for tid, point in enumerate(points):
            trial = store.claim("test-worker", 30.0, study="mo")
            assert trial is not None and trial.tid == tid
            store.report("mo", tid, trial.token, 1, point["x"] + 10.0)
            if point["kind"] == 0:
                result = {"status": "pruned", "loss": point["x"] + 10.0, "step": 1}
                assert store.prune("mo", tid, trial.token, result)
                continue
            losses = [point["x"], 2.0 - point["x"]]
            record_objective_count(store, "mo", 2)
            assert store.complete(
                "mo", tid, trial.token, {"status": "ok", "loss": losses}
            )


def check_one_shape(db_url: str, trials: StoreTrials) -> None:
    exported = json.loads(driver(db_url, "trials", "--study", "mo", "--format",
                                 "json").stdout)  # fmt: skip
    assert [r["result"]["loss"] for r in exported] == LOSSES
    assert [r["state"] for r in exported] == ["pruned"] * 3 + ["done"] * 3
    assert [r["intermediate"] for r in exported[:3]] == [
        {"1": 10.0}, {"1": 11.0}, {"1": 12.0}
    ]  # fmt: skip
    table = driver(db_url, "trials", "--study", "mo", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [json.loads(r["loss"]) if r["loss"] else None for r in rows] == LOSSES
    best = json.loads(driver(db_url, "best", "--study", "mo", "--json").stdout)
    assert [r["tid"] for r in best] == [3, 4, 5]
    assert trials.losses() == LOSSES
    assert [r["loss"] for r in trials.results] == LOSSES
    assert [t["tid"] for t in trials.best_trials] == [3, 4, 5]
    assert trials.trials[0]["intermediate"] == {1: 10.0}
    study = load_study(db_url, "mo")  # what the report and the dashboard read
    rows = study.sorted_rows()
    assert [r.loss for r in rows] == [None] * 6
    assert [None if r.losses is None else list(r.losses) for r in rows] == LOSSES
    assert [r.score for r in rows[:3]] == [None] * 3  # not drawn at a loss


def test_pruned_trials_have_no_loss_on_sqlite(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'mo.sqlite'}"
    start(db_url)
    check_one_shape(db_url, StoreTrials(db_url, study="mo"))


@pytest.mark.skipif(mongo_lane() is None, reason="no MongoDB-wire server")
def test_pruned_trials_have_no_loss_on_mongodb(mongo_url):
    db_url = with_database(mongo_url, f"hpo_mop_{uuid.uuid4().hex[:10]}")
    try:
        run_as_a_worker_would(db_url)
        check_one_shape(db_url, MongoTrials(db_url, exp_key="mo"))
    finally:
        with pymongo.MongoClient(mongo_url) as client:
            client.drop_database(urlsplit(db_url).path.strip("/"))
