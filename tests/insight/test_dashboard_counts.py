"""The dashboard's counts read as English in headless Chromium: one trial is "1
trial", not "1 trials", in the Pareto front line and the trials table's line (as
``hpo-driver best`` and the report say it)."""

from __future__ import annotations

import pytest

from ._support import dump_dom, imported_study, start_dashboard, stop, up, wait_for

NAMES = ["error", "cost"]


def record(tid: int, x: float, losses: list[float]) -> dict:
    """A done trial of a 2-objective study, as ``hpo-driver trials --format json``."""
    result = {"loss": losses, "status": "ok"}
    return {"tid": tid, "state": "done", "params": {"x": x}, "result": result,
            "objectives": NAMES}  # fmt: skip


@pytest.fixture()
def db(tmp_path) -> str:
    """Study ``mo`` of 2 objectives: trial 0 dominates trial 1, so its front is 1
    trial."""
    records = [record(0, 0.5, [1.0, 1.0]), record(1, 0.7, [2.0, 2.0])]
    return imported_study(tmp_path, records, "mo")


_SHOWN = (
    "document.getElementById('best')?.textContent"
    " && document.getElementById('table-info')?.textContent"
)


def test_one_trial_is_counted_in_the_singular(db, browser):
    server, port, _ = start_dashboard("--db", db, "--study", "mo")
    try:
        wait_for(lambda: up(f"http://127.0.0.1:{port}/"), what="dashboard up")
        dump_dom(browser, f"http://127.0.0.1:{port}/#mo", ready=_SHOWN)
        best = browser.find_element("id", "best").text
        assert best == "Pareto front: 1 trial (error, cost)"
        browser.execute_script(
            "const box = document.getElementById('text-filter');"
            "box.value = 'x=0.7'; box.dispatchEvent(new Event('input'));"
        )
        info = wait_for(
            lambda: (
                browser.find_element("id", "table-info").text.startswith("1 ")
                and browser.find_element("id", "table-info").text
            ),
            what="the table filtered to one trial",
        )
        assert info == "1 trial, page 1/1"
    finally:
        stop(server)
