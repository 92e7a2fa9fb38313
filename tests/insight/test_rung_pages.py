"""The report and the dashboard of a study under ASHA or Hyperband show each rung
(Hyperband: by bracket) with how many of the trials judged there passed it, in all
and in the first and the last half by trial number (the counts of ``hpo-driver
status``), as a table and a figure; under another pruner, or none, a one-line note
says why there is no rung table.

The study is written through the store calls a worker makes (claim, report_many,
prune, complete, fail) on SQLite and on the MongoDB-wire server; the pages are
``hpo-driver report`` and ``hpo-driver dashboard`` processes, read in headless
Chromium."""

from __future__ import annotations

import contextlib

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

HYPERBAND_9 = {"min_resource": 1, "max_resource": 9, "reduction_factor": 3}
#: tid -> (last reported step, end) under HYPERBAND_9, whose brackets by tid are
#: 0 1 0 2 0 1 0 0 1 2 0 1: bracket 0 (rungs 1, 3) holds tids 0, 2, 4, 6, 7, 10;
#: bracket 1 (rung 3) 1, 5, 8, 11; bracket 2 (no rung) 3, 9.
HYPERBAND_TRIALS = [(1, "pruned"), (3, "pruned"), (9, "done"), (9, "done"),
                    (3, "pruned"), (9, "done"), (1, "running"), (9, "done"),
                    (9, "done"), (9, "done"), (3, "error"), (2, "running")]  # fmt: skip
#: Counted by hand. Bracket 0, rung 1: 6 reached it, 0 pruned there; judged all but
#: the running 6, of which all but 0 passed: 0, 2 (first half) 1/2; 7, 10 2/2.
#: Rung 3: 2, 4, 7, 10 reached it, 4 pruned there; judged 2, 4, 7 (10 ended in an
#: error), 2 and 7 passed (done): 1/1, 1/1. Bracket 1, rung 3: 1, 5, 8 reached it
#: (11 stopped at 2), 1 pruned there; 5 and 8 passed: 1 0/1, 8 1/1.
HYPERBAND_ROWS = [["0", "1", "6", "5", "1", "5", "4", "1/2", "2/2"],
                  ["0", "3", "4", "3", "1", "3", "2", "1/1", "1/1"],
                  ["1", "3", "3", "2", "1", "3", "2", "0/1", "1/1"]]  # fmt: skip
#: The figure: x a step under its bracket; bars as in BARS.
HYPERBAND_X = [["bracket 0", "bracket 0", "bracket 1"], ["step 1", "step 3", "step 3"]]
HYPERBAND_BARS = [("passed", [4, 2, 2]), ("pruned", [1, 1, 1]),
                  ("not judged yet", [1, 1, 0]), ("first half", [0.5, 1.0, 0.0]),
                  ("last half", [1.0, 1.0, 1.0])]  # fmt: skip


ASHA_9 = {"max_resource": 9, "reduction_factor": 3}  # the rungs 1 and 3 tested here


def write_study(
    db: str,
    pruner: str = "asha",
    trials: list[tuple[int, str]] = TRIALS,
    settings: dict | None = None,
) -> None:
    """Study ``r`` of ``trials`` (tid -> (last reported step, end)) under ``pruner``
    (``settings``; ASHA: :data:`ASHA_9`), through a worker's calls."""
    if settings is None:
        settings = ASHA_9 if pruner == "asha" else {}
    study = StudySettings(
        objective="tests.e2e.objectives:curve", space=to_document(curve_space),
        space_fingerprint=fingerprint(curve_space), max_evals=20, pruner=pruner,
        pruner_settings=settings,
    )  # fmt: skip
    with open_store(db) as store:
        store.create_study(STUDY, study.to_dict())
        n = len(trials)
        store.insert_trials(STUDY, [NewTrial({"level": 1.0}, {"level": 1.0})] * n)
        for tid, (last, end) in enumerate(trials):
            trial = store.claim("w", 600.0, study=STUDY)
            assert trial is not None and trial.tid == tid
            reports = [(step, 1.0 / step) for step in range(1, last + 1)]
            assert not reports or store.report_many(STUDY, tid, trial.token, reports)
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


def drawn_x(browser):
    """The x of each trace plotly drew in ``plot-rungs`` (a list per axis level)."""
    return browser.execute_script(
        "const div = document.getElementById('plot-rungs');"
        "return div._fullData.map((t) => Array.from(t.x).map("
        "  (x) => Array.isArray(x) || ArrayBuffer.isView(x) ? Array.from(x) : x));"
    )


def assert_bars(bars, want=BARS):
    assert [name for name, _ in bars] == [name for name, _ in want]
    for (_, got), (_, expected) in zip(bars, want, strict=True):
        assert got == pytest.approx(expected)


def report_page(browser, db, tmp_path):
    """``hpo-driver report`` of study ``r`` on ``db``, opened in ``browser``."""
    out = tmp_path / "report.html"
    run = hpo_driver("report", "--db", db, "--study", STUDY, "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    browser.get(out.as_uri())
    wait_for(lambda: browser.find_elements("id", "section-pruning"),
             what="the pruning section")  # fmt: skip


@contextlib.contextmanager
def dashboard_page(browser, db):
    """``hpo-driver dashboard`` of study ``r`` on ``db``, opened in ``browser``
    once it serves; stopped on leaving."""
    server, port, _ = start_dashboard("--db", db, "--study", STUDY)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: serving(server, url), what="dashboard up")
        browser.get(url)
        yield
    finally:
        stop(server)


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
    with dashboard_page(browser, any_db):
        wait_for(lambda: table_cells(browser, "pruning-rungs"),
                 what="the rung table shown")  # fmt: skip
        assert table_cells(browser, "pruning-rungs") == [HEAD, *ROWS]
        assert browser.find_element("id", "pruning-none").text == ""
        wait_for(lambda: drawn_bars(browser), what="the rungs' figure drawn")
        assert_bars(drawn_bars(browser))
        assert browser.find_element("id", "plot-rungs").is_displayed()


def test_the_dashboard_shows_each_pruning_note_on_its_own_line(browser, tmp_path):
    """The notes under the rung table are sentences without a full stop, one a line
    in `hpo-driver status` and the report; the dashboard ran them together ("...
    call hpo_service.report(value, step) to prune less: raise --min-resource ...")."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    write_study(db, trials=[*TRIALS, (0, "done")])  # a trial that never reported
    status = hpo_driver("status", "--db", db, "--study", STUDY)
    assert status.returncode == 0, status.stderr[-3000:]
    lines = [line.strip() for line in status.stdout.splitlines()]
    notes = [line for line in lines if line.startswith(("1 completed", "to prune"))]
    assert len(notes) == 2, status.stdout  # the case: two notes
    with dashboard_page(browser, db):
        shown = browser.find_element("id", "pruning-notes")
        wait_for(lambda: shown.text, what="the pruning notes shown")
        assert shown.text.splitlines() == notes


def test_a_hyperband_study_shows_each_brackets_rungs_and_how_many_passed(
    any_db, browser, tmp_path
):
    """Both pages: the table has a bracket column, the figure a bar per bracket's
    rung, labelled with its step under its bracket (it was tested under ASHA only;
    labels 'bracket 0, step 1' were slanted over each other past a few rungs)."""
    write_study(any_db, "hyperband", HYPERBAND_TRIALS, HYPERBAND_9)
    head = ["bracket", *HEAD]
    report_page(browser, any_db, tmp_path)
    assert table_cells(browser, "pruning-rungs") == [head, *HYPERBAND_ROWS]
    wait_for(lambda: drawn_bars(browser), what="the rungs' figure drawn")
    assert_bars(drawn_bars(browser), HYPERBAND_BARS)
    assert drawn_x(browser) == [HYPERBAND_X] * len(HYPERBAND_BARS)
    with dashboard_page(browser, any_db):
        wait_for(lambda: table_cells(browser, "pruning-rungs"),
                 what="the rung table shown")  # fmt: skip
        assert table_cells(browser, "pruning-rungs") == [head, *HYPERBAND_ROWS]
        wait_for(lambda: drawn_bars(browser), what="the rungs' figure drawn")
        assert_bars(drawn_bars(browser), HYPERBAND_BARS)
        assert drawn_x(browser) == [HYPERBAND_X] * len(HYPERBAND_BARS)
        assert browser.find_element("id", "plot-rungs").is_displayed()


#: Hyperband's default ladder (max_resource 81, reduction_factor 3): 10 rungs in
#: brackets 0-3 (steps 1, 3, 9, 27; 3, 9, 27; 9, 27; 27).
HYPERBAND_81 = {"min_resource": 1, "max_resource": 81, "reduction_factor": 3}
STEPS = [f"step {s}" for s in (1, 3, 9, 27, 3, 9, 27, 9, 27, 27)]
BRACKETS = [f"bracket {b}" for b in range(4)]

#: Rectangles ``[left, right, top, bottom]`` of the figure's rung labels (each axis
#: level) and of its "passed/judged" texts, as drawn.
_LABEL_BOXES = """
const div = document.getElementById('plot-rungs');
const box = (e) => { const r = e.getBoundingClientRect();
  return [r.left, r.right, r.top, r.bottom]; };
const shown = (q) => Array.from(div.querySelectorAll(q))
  .filter((t) => t.textContent !== '').map((t) => [t.textContent, box(t)]);
return [shown('.xtick text'), shown('.xtick2 text'), shown('.x2tick text'),
        shown('.x2tick2 text'), shown('text.bartext')];
"""


def _overlapping(labels):
    """Pairs of ``(text, [left, right, top, bottom])`` whose rectangles overlap."""
    return [
        (a, b)
        for i, (a, p) in enumerate(labels)
        for b, q in labels[i + 1 :]
        if p[0] < q[1] and q[0] < p[1] and p[2] < q[3] and q[2] < p[3]
    ]


@contextlib.contextmanager
def _report_opened(browser, db, tmp_path):
    report_page(browser, db, tmp_path)
    yield


@pytest.mark.parametrize("page", ["report", "dashboard"])
def test_a_hyperbands_ten_rungs_are_labelled_and_counted_legibly(
    page, browser, tmp_path
):
    """40 trials over Hyperband's default 10 rungs: in the report's and the
    dashboard's figure no rung label overlaps another and every passed/judged text
    is drawn whole, at one size, apart from the others. Before, the labels were
    slanted over each other, and 20 texts in half the page's width were shrunk to
    fit their bars (some unreadably small), or ran together ('1/11/1', '0/00/0');
    the dashboard's figure was tested only under ASHA and a 3-rung Hyperband."""
    steps = [1, 2, 3, 5, 9, 12, 27, 30, 81]
    ends = ["pruned", "pruned", "running", "error"]
    trials = [
        (steps[(7 * t) % 9], "done" if steps[(7 * t) % 9] == 81 else ends[t % 4])
        for t in range(40)
    ]
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    write_study(db, "hyperband", trials, HYPERBAND_81)
    opened = (
        _report_opened(browser, db, tmp_path)
        if page == "report"
        else dashboard_page(browser, db)
    )
    with opened:
        _assert_ten_rungs_legible(browser)


def _assert_ten_rungs_legible(browser):
    """The checks of the 10-rung test, on the page ``browser`` shows."""
    wait_for(lambda: drawn_bars(browser), what="the rungs' figure drawn")
    wait_for(lambda: len(table_cells(browser, "pruning-rungs")) > 1,
             what="the rung table shown")  # fmt: skip
    assert len(table_cells(browser, "pruning-rungs")) == 1 + 10
    *levels, texts = browser.execute_script(_LABEL_BOXES)
    for level in levels:
        assert not _overlapping(level), level
    assert len(texts) >= 10 and not _overlapping(texts), texts
    heights = [bottom - top for _, (_, _, top, bottom) in texts]
    assert min(heights) > 0.9 * max(heights), texts  # none shrunk to fit
    assert "0/0" not in [text for text, _ in texts]  # a half with no judged trial
    # each panel: the 10 steps, under them the 4 brackets
    assert [[text for text, _ in level] for level in levels] == [STEPS, BRACKETS] * 2


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
    with dashboard_page(browser, db):
        wait_for(lambda: browser.find_element("id", "pruning-none").text,
                 what="the note shown")  # fmt: skip
        assert browser.find_element("id", "pruning-none").text == said
        assert browser.find_element("id", "pruning").is_displayed()
        assert table_cells(browser, "pruning-rungs") == []
        wait_for(lambda: browser.find_elements("css selector", ".main-svg"),
                 what="the figures drawn")  # fmt: skip
        assert not browser.find_element("id", "plot-rungs").is_displayed()
