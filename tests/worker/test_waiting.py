"""A worker waiting for its study keeps saying so, at a slow interval."""

from __future__ import annotations

import logging

from hpo_service.worker import _loop, run_worker


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
