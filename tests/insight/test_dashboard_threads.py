"""The dashboard builds figures in several threads at once (a real dashboard process
on SQLite, over HTTP): one study's first importance, whose scikit-learn import brings
pandas in, must not break the figures another study's page asks for meanwhile."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import numpy as np

from hpo_service import hp
from hpo_service.driver._study import space_settings
from hpo_service.space import compile_space, sample_params, space_eval
from hpo_service.store import FinishedTrial, open_store

from ._support import serving, start_dashboard, stop, wait_for

SPACE = {"x": hp.uniform("x", -5, 5), "y": hp.uniform("y", 0, 1)}


def _study(store, name, rng, n=12):
    """Study ``name`` with ``n`` done trials of :data:`SPACE`, distinct losses."""
    store.create_study(name, space_settings(SPACE))
    points = [sample_params(compile_space(SPACE), rng) for _ in range(n)]
    store.insert_finished(name, [
        FinishedTrial(p, space_eval(SPACE, p),
                      {"loss": p["x"] ** 2 + p["y"], "status": "ok"})
        for p in points
    ])  # fmt: skip


def _status(url):
    """The HTTP status of a GET of ``url`` (the body read and dropped)."""
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_a_first_importance_does_not_break_another_studys_figures(tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    rng = np.random.default_rng(0)
    with open_store(db) as store:
        _study(store, "a", rng)
        _study(store, "b", rng)
    server, port, _ = start_dashboard("--db", db)
    try:
        api = f"http://127.0.0.1:{port}/api/studies"
        wait_for(lambda: serving(server, api), what="dashboard up")
        importance: list[int] = []
        first_fit = f"{api}/a/figures?names=importance"
        fitting = threading.Thread(target=lambda: importance.append(_status(first_fit)))
        fitting.start()
        overlapping = []  # history answers asked for while a's importance was built
        while fitting.is_alive():
            overlapping.append(_status(f"{api}/b/figures?names=history"))
            if overlapping[-1] != 200:
                break
        fitting.join()
        assert importance == [200]
        assert overlapping and set(overlapping) == {200}, overlapping
    finally:
        stop(server)
