"""When the dashboard computes a study's importances again (in process, on SQLite):
a result is reused while trials arrive, so a big study's forest is not refitted at
every poll, but "too few trials" is never reused, so the importance and contour
replace their note as soon as the study has the trials they need."""

from __future__ import annotations

import json

import numpy as np

from hpo_service import hp
from hpo_service.driver._study import space_settings
from hpo_service.insight import _live
from hpo_service.insight._live import LiveStore
from hpo_service.space import compile_space, sample_params, space_eval
from hpo_service.store import FinishedTrial, open_store

SPACE = {"x": hp.uniform("x", -5, 5), "y": hp.uniform("y", 0, 1)}


def finish(store, rng, n):
    """``n`` done trials of :data:`SPACE` with distinct losses."""
    compiled = compile_space(SPACE)
    points = [sample_params(compiled, rng) for _ in range(n)]
    store.insert_finished("s", [
        FinishedTrial(p, space_eval(SPACE, p),
                      {"loss": p["x"] ** 2 + p["y"], "status": "ok"})
        for p in points
    ])  # fmt: skip


def importance(live):
    return json.loads(live.figures("s", ["importance"]))


def test_too_few_trials_is_not_reused_but_importances_are(tmp_path, monkeypatch):
    # however slow this machine, no result grows stale within the test
    monkeypatch.setattr(_live, "_IMPORTANCE_EVERY", 1e9)
    monkeypatch.setattr(_live, "_REFRESH_EVERY", 0.0)  # each ask reads the store
    rng = np.random.default_rng(0)
    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        store.create_study("s", space_settings(SPACE))
        finish(store, rng, 3)
        live = LiveStore(store)
        figure = importance(live)["importance"]
        assert "at least 4 completed (done) trials" in figure["note"], figure
        finish(store, rng, 3)  # 6 done: enough, and the note is not kept
        figure = importance(live)
        assert "data" in figure["importance"] and "pending" not in figure, figure
        finish(store, rng, 2)  # 8 done: the 6-trial importances are kept
        figure = importance(live)
        assert "data" in figure["importance"] and figure["pending"] is True, figure
