"""What the pruner did, on the report and the dashboard of a study that ASHA pruned
(run by real processes), as headless Chromium shows them: the same per-rung counts
as ``hpo-driver status`` (reached, went on, pruned; of the trials judged there, how
many passed, in all and by halves)."""

from __future__ import annotations

import json

import pytest

from hpo_service.store import TrialState, open_store

from ._support import hpo_driver, serving, start_dashboard, stop, wait_for

HEAD = ["step", "reached", "went on", "pruned",
        "judged", "passed", "first half", "last half"]  # fmt: skip


@pytest.fixture(scope="module")
def pruned_study(tmp_path_factory):
    """Study ``p``: 24 trials of a learning curve under ASHA (rungs 1 and 3, 9
    steps), one local worker; with the rows its rung table must show: reached,
    went on and pruned computed from the stored reports, the pass counts as
    ``hpo-driver status --json`` gives them."""
    db = f"sqlite:///{tmp_path_factory.mktemp('pruned') / 'hpo.sqlite'}"
    run = hpo_driver("start", "--db", db, "--study", "p", "--max-evals", "24",
                     "--objective", "tests.e2e.objectives:curve",
                     "--space", "tests.e2e.objectives:curve_space", "--seed", "3",
                     "--pruner", "asha", "--max-resource", "9",
                     "--reduction-factor", "3", "--workers", "1",
                     "--no-progress")  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    with open_store(db) as store:
        trials = store.get_trials("p")
    last = [max(t.intermediate) for t in trials]
    pruned_at = [max(t.intermediate) for t in trials if t.state is TrialState.PRUNED]
    rows = [
        [str(rung), str(reached), str(reached - pruned_at.count(rung)),
         str(pruned_at.count(rung))]
        for rung in (1, 3) for reached in [sum(s >= rung for s in last)]
    ]  # fmt: skip
    assert pruned_at and rows[0][1] == "24"  # pruned trials, all judged at rung 1
    status = hpo_driver("status", "--db", db, "--study", "p", "--json")
    assert status.returncode == 0, status.stderr[-3000:]
    passed = json.loads(status.stdout)["pruning"]["passed"]
    for row, rung in zip(rows, passed, strict=True):
        row += [str(rung["judged"]), str(rung["passed"])]
        row += ["{}/{}".format(*rung[half]) for half in ("first_half", "last_half")]
    return db, rows


def table_cells(browser, table_id):
    """The text of each row's cells of table ``table_id``, header first."""
    return browser.execute_script(
        "return [...document.getElementById(arguments[0]).rows]"
        ".map((r) => [...r.cells].map((c) => c.textContent))",
        table_id,
    )


def test_the_report_shows_the_rung_table(pruned_study, browser, tmp_path):
    db, rows = pruned_study
    out = tmp_path / "report.html"
    run = hpo_driver("report", "--db", db, "--study", "p", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    browser.get(out.as_uri())
    wait_for(lambda: browser.find_elements("id", "pruning-rungs"), what="the table")
    assert table_cells(browser, "pruning-rungs") == [HEAD, *rows]
    rule = browser.find_element("id", "pruning-rule").text
    assert rule.startswith("ASHA keeps the best 1/3 at each rung")
    # it follows the curves it summarises
    sections = browser.execute_script(
        "return [...document.querySelectorAll('section')].map((s) => s.id)"
    )
    at = sections.index("section-intermediate")
    assert sections[at + 1] == "section-pruning"


def test_the_dashboard_shows_the_rung_table(pruned_study, browser):
    db, rows = pruned_study
    server, port, _ = start_dashboard("--db", db)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: serving(server, url), what="dashboard up")
        browser.get(url)
        wait_for(lambda: browser.find_element("id", "pruning").is_displayed(),
                 what="the pruning table shown")  # fmt: skip
        assert table_cells(browser, "pruning-rungs") == [HEAD, *rows]
        rule = browser.find_element("id", "pruning-rule").text
        assert rule.startswith("ASHA keeps the best 1/3 at each rung")
        notes = browser.find_element("id", "pruning-notes").text
        assert "--reduction-factor" in notes
    finally:
        stop(server)
