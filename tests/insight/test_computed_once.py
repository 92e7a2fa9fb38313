"""Work the report and the dashboard share between a figure and its note is done
once: the contour's pair (the most important pair of parameters that varied
together) decides both whether the contour can be drawn and what it shows."""

from __future__ import annotations

import pytest

from hpo_service import hp
from hpo_service.insight import _figures, build_report
from hpo_service.insight._live import LiveStore
from hpo_service.store import NewTrial, open_store

from ._support import random_study

SPACE = {"x": hp.uniform("x", -1, 1), "y": hp.uniform("y", -1, 1)}


def loss(config):
    return config["x"] ** 2 + 0.5 * config["y"] ** 2


@pytest.fixture
def pair_calls(monkeypatch):
    """The calls of ``_figures.contour_pair`` (it still answers)."""
    calls = []
    real = _figures.contour_pair

    def counted(data, importances):
        calls.append([p.label for p in importances])
        return real(data, importances)

    monkeypatch.setattr(_figures, "contour_pair", counted)
    return calls


def test_a_report_finds_the_contour_pair_once(pair_calls):
    report = build_report(random_study(SPACE, loss, 30))
    assert "contour" in report.figures  # it was needed, and drawn
    assert len(pair_calls) == 1  # twice before: for the note, then for the figure


def test_the_dashboard_finds_the_contour_pair_once(pair_calls, tmp_path):
    data = random_study(SPACE, loss, 30)
    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        store.create_study("s", {})
        for row in data.sorted_rows():
            (tid,) = store.insert_trials("s", [NewTrial(row.params, row.params)])
            trial = store.claim("w", 60.0, study="s")
            store.complete("s", tid, trial.token, {"loss": row.loss, "status": "ok"})
        figures = LiveStore(store).figures("s", ["contour"])
    assert '"contour"' in figures and '"note"' not in figures
    assert len(pair_calls) == 1
