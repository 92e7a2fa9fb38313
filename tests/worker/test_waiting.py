"""A worker waiting for its study keeps saying so, at a slow interval."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from hpo_service.worker import _loop, run_worker
from hpo_service.worker._loop import Worker, WorkerLimits


def test_a_missing_study_is_reported_again_while_it_is_missing(
    store, monkeypatch, caplog
):
    monkeypatch.setattr(_loop, "_MISSING_STUDY_NOTE_SECONDS", 0.3)
    with caplog.at_level(logging.WARNING, logger="hpo_service.worker"):
        summary = run_worker(store, study="later", idle_timeout=1.5, poll_interval=0.05)
    assert summary.stop_reason == "idle_timeout"
    notes = [r.getMessage() for r in caplog.records if "does not exist" in r.message]
    assert len(notes) >= 3, notes
    assert all(repr(store) in note for note in notes)
    # From Python the URL is not known: the command names its place.
    assert "`hpo-driver start --db URL --study later`" in notes[0]


def test_a_missing_study_names_its_database_and_an_idle_stop_says_it_stops(
    store, db_url, caplog
):
    """As `study_not_found` names it (not the store's repr); a warm stop with no
    trial running says the worker stops, not that it finishes a trial."""
    worker = Worker(store, study="later", idle_timeout=60, poll_interval=0.05,
                    db_url=db_url)  # fmt: skip
    threading.Timer(0.5, worker.request_stop).start()
    with caplog.at_level(logging.INFO, logger="hpo_service.worker"):
        assert worker.run().stop_reason == "warm_stop"
    said = [r.getMessage() for r in caplog.records]
    (note,) = [m for m in said if "does not exist" in m]
    where = f"SQLite database {Path(db_url.removeprefix('sqlite:///')).resolve()}"
    assert f"does not exist (yet) in {where}: waiting for" in note
    (stop,) = [m for m in said if "warm stop" in m]
    assert stop.endswith("] warm stop: no trial running; stopping"), stop


def test_an_exp_key_worker_waits_for_fmin_or_the_driver_to_create_its_study(
    store, db_url, caplog
):
    """hyperopt's users create an experiment with fmin(trials=MongoTrials(...)), so
    an --exp-key worker (serve_finished) names that besides `hpo-driver start`."""
    limits = WorkerLimits(serve_finished=True)  # what --exp-key gives
    worker = Worker(store, study="exp9", idle_timeout=0.3, poll_interval=0.05,
                    db_url=db_url, limits=limits)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="hpo_service.worker"):
        worker.run()
    (note,) = [r.getMessage() for r in caplog.records if "does not exist" in r.message]
    assert note.endswith(
        "waiting for `fmin(..., trials=MongoTrials(..., exp_key='exp9'))` or "
        f"`hpo-driver start --db {db_url} --study exp9` to create it"
    ), note
