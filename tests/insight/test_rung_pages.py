"""The report and the dashboard of a study under ASHA show each rung with how many
of the trials judged there passed it, in all and in the first and the last half by
trial number (the counts of ``hpo-driver status``), as a table and a figure; under
another pruner, or none, a one-line note says why there is no rung table.

The study is written through the store calls a worker makes (claim, report_many,
prune, complete, fail) on SQLite and on the MongoDB-wire server; the pages are
``hpo-driver report`` and ``hpo-driver dashboard`` processes, read in headless
Chromium."""

from __future__ import annotations

import pytest

from hpo_service._common.settings import StudySettings
from hpo_service.space._serialise import fingerprint, to_document
from hpo_service.store import NewTrial, open_store
from tests.e2e.objectives import curve_space

from ._support import hpo_driver, serving, start_dashboard, stop, wait_for

#: tid -> (last reported step, end), rungs at steps 1 and 3 (max_resource 9).
TRIALS = [(1, "pruned"), (3, "pruned"), (1, "pruned"), (9, "done"),
          (3, "error"), (9, "done"), (1, "running"), (3, "pruned"),
          (9, "done"), (9, "done")]  # fmt: skip
HEAD = ["step", "reached", "went on", "pruned",
        "judged", "passed", "first half", "last half"]  # fmt: skip
#: Counted by hand from TRIALS. Rung 1: all 10 reached it, 0 and 2 were pruned
#: there; the 9 judged are all but the running 6, of which the 7 that reached step
#: 3 passed: tids 0-3 (first half) 2/4, tids 5, 7, 8, 9 (last half) 4/4. Rung 3:
#: 7 reached it (1, 3, 4, 5, 7, 8, 9), 1 and 7 pruned there; judged: all but the
#: error trial 4, of which 3, 5, 8, 9 passed (completed): 1, 3, 5 2/3; 7, 8, 9 2/3.
ROWS = [["1", "10", "8", "2", "9", "7", "2/4", "4/4"],
        ["3", "7", "5", "2", "6", "4", "2/3", "2/3"]]  # fmt: skip
#: The figure's bars, per rung: (trace name, values at steps 1 and 3).
BARS = [("passed", [7, 4]), ("pruned", [2, 2]), ("not judged yet", [1, 1]),
        ("first half", [0.5, 2 / 3]), ("last half", [1.0, 2 / 3])]  # fmt: skip
STUDY = "r"


ASHA_9 = {"max_resource": 9, "reduction_factor": 3}  # the rungs 1 and 3 tested here


def write_study(db: str, pruner: str = "asha") -> None:
    """Study ``r`` of :data:`TRIALS` under ``pruner``, through a worker's calls."""
    settings = StudySettings(
        objective="tests.e2e.objectives:curve", space=to_document(curve_space),
        space_fingerprint=fingerprint(curve_space), max_evals=20, pruner=pruner,
        pruner_settings=ASHA_9 if pruner == "asha" else {},
    )  # fmt: skip
    with open_store(db) as store:
        store.create_study(STUDY, settings.to_dict())
        store.insert_trials(STUDY, [NewTrial({"level": 1.0}, {"level": 1.0})] * 10)
        for tid, (last, end) in enumerate(TRIALS):
            trial = store.claim("w", 600.0, study=STUDY)
            assert trial is not None and trial.tid == tid
            reports = [(step, 1.0 / step) for step in range(1, last + 1)]
            assert store.report_many(STUDY, tid, trial.token, reports)
            if end == "pruned":
                result = {"status": "pruned", "loss": 1.0 / last, "step": last}
                assert store.prune(STUDY, tid, trial.token, result)
            elif end == "done":
                assert store.complete(
                    STUDY, tid, trial.token, {"status": "ok", "loss": 0.1}
                )
            elif end == "error":
                error = {"type": "ValueError", "message": "diverged"}
                assert store.fail(STUDY, tid, trial.token, error)


def table_cells(browser, table_id):
    """The text of each row's cells of table ``table_id``, header first."""
    return browser.execute_script(
        "return [...document.getElementById(arguments[0]).rows]"
        ".map((r) => [...r.cells].map((c) => c.textContent))",
        table_id,
    )


def drawn_bars(browser):
    """``(name, y values)`` of each trace plotly drew in ``plot-rungs``."""
    return browser.execute_script(
        "const div = document.getElementById('plot-rungs');"
        "return (div && div._fullData || []).map((t) => [t.name, Array.from(t.y)]);"
    )


def assert_bars(bars):
    assert [name for name, _ in bars] == [name for name, _ in BARS]
    for (_, got), (_, want) in zip(bars, BARS, strict=True):
        assert got == pytest.approx(want)


def report_page(browser, db, tmp_path):
    """``hpo-driver report`` of study ``r`` on ``db``, opened in ``browser``."""
    out = tmp_path / "report.html"
    run = hpo_driver("report", "--db", db, "--study", STUDY, "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    browser.get(out.as_uri())
    wait_for(lambda: browser.find_elements("id", "section-pruning"),
             what="the pruning section")  # fmt: skip


def test_the_report_shows_each_rung_and_how_many_passed(browser, tmp_path):
    """Before, the report's table stopped at 'pruned' and had no figure."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    write_study(db)
    report_page(browser, db, tmp_path)
    assert table_cells(browser, "pruning-rungs") == [HEAD, *ROWS]
    wait_for(lambda: drawn_bars(browser), what="the rungs' figure drawn")
    assert_bars(drawn_bars(browser))
    assert not browser.find_elements("id", "pruning-none")


def test_the_dashboard_shows_each_rung_and_how_many_passed(any_db, browser):
    """On SQLite and MongoDB-wire; before, the table stopped at 'pruned' and the
    page had no rungs figure."""
    write_study(any_db)
    server, port, _ = start_dashboard("--db", any_db, "--study", STUDY)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: serving(server, url), what="dashboard up")
        browser.get(url)
        wait_for(lambda: table_cells(browser, "pruning-rungs"),
                 what="the rung table shown")  # fmt: skip
        assert table_cells(browser, "pruning-rungs") == [HEAD, *ROWS]
        assert browser.find_element("id", "pruning-none").text == ""
        wait_for(lambda: drawn_bars(browser), what="the rungs' figure drawn")
        assert_bars(drawn_bars(browser))
        assert browser.find_element("id", "plot-rungs").is_displayed()
    finally:
        stop(server)


@pytest.mark.parametrize(
    ("pruner", "note"),
    [
        ("median", "No rung table: the median pruner judges trials at every step"),
        ("none", "No pruner: every trial runs to its end."),
    ],
)
def test_without_rungs_both_pages_say_why_in_one_line(pruner, note, browser, tmp_path):
    """No table and no figure, a note naming --pruner asha or hyperband instead
    (before: the median pruner's section had no such line; without a pruner the
    report had no section and the dashboard showed nothing)."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    write_study(db, pruner)
    report_page(browser, db, tmp_path)
    said = browser.find_element("id", "pruning-none").text
    assert said.startswith(note) and "--pruner asha or hyperband" in said
    assert not browser.find_elements("id", "pruning-rungs")
    assert not browser.find_elements("id", "plot-rungs")
    server, port, _ = start_dashboard("--db", db, "--study", STUDY)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: serving(server, url), what="dashboard up")
        browser.get(url)
        wait_for(lambda: browser.find_element("id", "pruning-none").text,
                 what="the note shown")  # fmt: skip
        assert browser.find_element("id", "pruning-none").text == said
        assert browser.find_element("id", "pruning").is_displayed()
        assert table_cells(browser, "pruning-rungs") == []
        wait_for(lambda: browser.find_elements("css selector", ".main-svg"),
                 what="the figures drawn")  # fmt: skip
        assert not browser.find_element("id", "plot-rungs").is_displayed()
    finally:
        stop(server)
