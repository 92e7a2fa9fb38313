"""``hpo-driver report`` on a study run by real processes, opened in Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from hpo_service import hp
from hpo_service.exceptions import StoreNotFoundError, StudyNotFoundError
from hpo_service.insight import StudyData, build_report
from hpo_service.insight._figures import scored_rows
from hpo_service.store import TrialState, open_store
from tests.e2e.conftest import REPO

from ._support import (
    dump_dom,
    hpo_driver,
    plot_section,
    random_study,
    run_demo_study,
    start,
    stop,
    wait_for,
)

STUDY = ["--objective", "tests.insight.objectives:objective",
         "--space", "tests.insight.objectives:space"]  # fmt: skip


def run_study(db, max_evals):
    run_demo_study(db, max_evals, objective="narrow")  # trial 0 fails (x = 3.05)


def finished(db):
    with open_store(db) as store:
        counts = store.count_by_state("demo")
    return counts[TrialState.DONE] + counts[TrialState.ERROR]


def test_report_renders_in_a_browser_and_follows_the_study(tmp_path, browser):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    out = tmp_path / "report.html"
    run_study(db, 30)
    run = hpo_driver("report", "--db", db, "--study", "demo", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == str(out)
    page = out.read_text()
    assert "<script src=" not in page and "<link" not in page  # self-contained

    dom = dump_dom(browser, out.as_uri())
    assert re.search(r'id="study-name">demo<', dom)
    assert re.search(r'id="finished-count">30<', dom)
    history = plot_section(dom, "history")
    assert "main-svg" in history and "trial number" in history  # plotly drew it
    for name in ("parallel", "slice", "importance", "contour", "timeline"):
        assert "main-svg" in plot_section(dom, name), name
    assert "ValueError" in dom and "is above 3" in dom  # failures grouped, with example
    assert 'class="xaxislayer-above"' in dom

    run_study(db, 33)  # more trials finish (3 hold the case): a new report shows them
    assert finished(db) == 33
    run = hpo_driver("report", "--db", db, "--study", "demo", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    assert re.search(r'id="finished-count">33<', dump_dom(browser, out.as_uri()))

    run = hpo_driver("importance", "--db", db, "--study", "demo", "--json")
    assert run.returncode == 0, run.stderr[-3000:]
    ranked = json.loads(run.stdout)
    assert {r["param"] for r in ranked} == {"x", "lr", "model", "depth"}
    assert sum(r["importance"] for r in ranked) == pytest.approx(1.0)


def test_missing_importance_and_contour_are_explained(tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = hpo_driver(
        "start", "--db", db, "--study", "demo", *STUDY, "--seed", "5",
        "--max-evals", "3", "--workers", "1", "--no-progress",
    )  # fmt: skip
    with open_store(db) as store:
        done = store.count_by_state("demo")[TrialState.DONE]
    assert done <= 3, run.stderr[-3000:]
    out = tmp_path / "report.html"
    run = hpo_driver("report", "--db", db, "--study", "demo", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    page = out.read_text()
    assert 'id="section-importance"' not in page
    assert 'id="section-contour"' not in page
    note = re.search(r'<p class="muted" id="report-note">([^<]*)</p>', page)
    assert note is not None
    assert note.group(1).startswith(
        "No parameter importance or contour: they need at least 4 completed (done) "
        f"trials with distinct losses, and the study has {done} done"
    )
    run = hpo_driver("importance", "--db", db, "--study", "demo")
    assert run.returncode == 1
    assert (
        "has too few completed (done) trials with distinct losses for importances "
        f"(at least 4 are needed, it has {done} done; pruned and error trials are "
        "not used)"
    ) in " ".join(run.stderr.split())


def test_trials_that_returned_status_fail_are_named_among_the_unused(tmp_path):
    """A done trial whose objective returned STATUS_FAIL has no loss: no figure or
    importance uses it. Before, `importance` said "at least 4 are needed, it has 10
    done" of a study of 10 done trials (8 of them failed), and the report's note
    "the study has 10 done"; they now count the done trials with a loss and name
    the failed ones among the trials not used."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = hpo_driver(
        "start", "--db", db, "--study", "demo", "--seed", "5", "--max-evals", "3",
        "--objective", "tests.insight.objectives:mostly_fails",
        "--space", "tests.insight.objectives:space", "--workers", "1", "--no-progress",
    )  # fmt: skip
    with open_store(db) as store:
        done = [t for t in store.get_trials("demo") if t.state is TrialState.DONE]
    failed = sum(t.result["status"] == "fail" for t in done)
    used = len(done) - failed
    assert failed >= 1 and used < 4, (failed, used, run.stderr[-3000:])
    out = tmp_path / "report.html"
    run = hpo_driver("report", "--db", db, "--study", "demo", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    note = re.search(r'id="report-note">([^<]*)</p>', out.read_text())
    assert note is not None
    assert note.group(1).endswith(
        f"and the study has {used} done with a loss (not used: {failed} failed "
        f"(status fail){_and_errors(db)})."
    )
    run = hpo_driver("importance", "--db", db, "--study", "demo")
    assert run.returncode == 1
    assert (
        f"(at least 4 are needed, it has {used} done with a loss; failed (status "
        "fail), pruned and error trials are not used)"
    ) in " ".join(run.stderr.split())


def _and_errors(db):
    """``", 2 error"`` when the study ``demo`` has error trials, else ``""``."""
    with open_store(db) as store:
        errors = store.count_by_state("demo")[TrialState.ERROR]
    return f", {errors} error" if errors else ""


def test_a_study_of_huge_losses_gets_its_report_and_importances(tmp_path):
    """Losses near 1e300 (a diverged model's): the report and the importances come
    out as for any study (their squares overflow a float, which stopped both with
    an OverflowError)."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run_demo_study(db, 12, objective="huge", workers=1)
    out = tmp_path / "report.html"
    run = hpo_driver("report", "--db", db, "--study", "demo", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    page = out.read_text()
    assert 'id="section-importance"' in page and 'id="section-contour"' in page
    run = hpo_driver("importance", "--db", db, "--study", "demo", "--json")
    assert run.returncode == 0, run.stderr[-3000:]
    assert sum(r["importance"] for r in json.loads(run.stdout)) == pytest.approx(1.0)


def test_a_report_made_while_a_trial_runs_shows_it_on_the_timeline(tmp_path):
    """A report of a running study draws each running trial up to the store's
    clock at the read, with its worker in the table (they were left out)."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    study = start(
        "start", "--db", db, "--study", "demo", "--max-evals", "2",
        "--objective", "tests.helpers.objectives:hangs", "--stop-grace", "1",
        "--space", "tests.insight.objectives:space", "--workers", "1", "--no-progress",
    )  # fmt: skip
    try:
        wait_for(lambda: running(db), what="a trial running")
        out = tmp_path / "report.html"
        run = hpo_driver("report", "--db", db, "--study", "demo", "--out", str(out))
        assert run.returncode == 0, run.stderr[-3000:]
    finally:
        stop(study)
    page = out.read_text()
    assert '"name":"running"' in plot_section(page, "timeline").replace(" ", "")
    table = page.split("<table id='workers'>", 1)[1].split("</table>", 1)[0]
    assert table.count("<tr><td>") == 1, table  # its worker, busy with it


def running(db):
    try:
        with open_store(db, create=False) as store:
            return store.count_by_state("demo")[TrialState.RUNNING]
    except (StoreNotFoundError, StudyNotFoundError):  # not created yet
        return 0


def test_report_of_an_unknown_study_is_a_clear_error(tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    open_store(db).close()  # an empty store (read commands never create one)
    run = hpo_driver("report", "--db", db, "--study", "nope",
                     "--out", str(tmp_path / "r.html"))  # fmt: skip
    assert run.returncode == 1
    assert "nope" in run.stderr and "Traceback" not in run.stderr
    run = hpo_driver("report", "--db", db, "--study", "nope",
                     "--out", str(tmp_path / "missing" / "r.html"))  # fmt: skip
    assert run.returncode != 0 and "Traceback" not in run.stderr


#: Runs hpo-driver with the named packages unimportable (as if not installed).
_WITHOUT = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from hpo_service.driver.cli import main
main(sys.argv[2:])
"""


@pytest.mark.parametrize(
    ("command", "hidden", "missing"),
    [
        ("report", "plotly,sklearn", "plotly, sklearn"),
        ("importance", "sklearn", "sklearn"),
        ("dashboard", "starlette,uvicorn", "starlette, uvicorn"),
    ],
)
def test_a_missing_extra_is_named_with_the_install_command(
    tmp_path, command, hidden, missing
):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = subprocess.run(
        [sys.executable, "-c", _WITHOUT, hidden, command, "--db", db,
         "--study", "s"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr[-2000:]
    assert 'pip install "hpo-service[dashboard]"' in run.stderr
    assert f"(missing: {missing})" in run.stderr and "Traceback" not in run.stderr


def test_an_out_file_that_cannot_be_written_is_one_clear_line(tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run_study(db, 2)
    out = tmp_path / ("x" * 300 + ".html")  # a file name longer than any allows
    run = hpo_driver("report", "--db", db, "--study", "demo", "--out", str(out))
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    (error,) = [line for line in run.stderr.splitlines() if "rror" in line]
    assert error.startswith("Error: `--out` must be a file that can be written")
    assert f"--out={out}" in error and "File name too long" in error


def test_importance_says_how_many_trials_it_ranks_from_when_some_were_pruned(tmp_path):
    db = f"sqlite:///{tmp_path / 'pruned.sqlite'}"
    run = hpo_driver("start", "--db", db, "--study", "p", "--max-evals", "24",
                     "--objective", "tests.e2e.objectives:curve",
                     "--space", "tests.e2e.objectives:curve_space", "--seed", "3",
                     "--pruner", "asha", "--workers", "1", "--no-progress")  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    with open_store(db) as store:
        counts = store.count_by_state("p")
    done, pruned = counts[TrialState.DONE], counts[TrialState.PRUNED]
    assert pruned and done >= 4, counts
    run = hpo_driver("importance", "--db", db, "--study", "p")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines()[0].split()[0] == "parameter"  # stdout: the table
    assert (
        f"ranked from the study's {done} done trials; its {pruned} pruned trials "
        "are not used"
    ) in run.stderr


def _branches_study(space: dict, n: int = 60) -> StudyData:
    """``n`` random trials of a space with a choice ``model`` between option ``a``
    (``h`` in [0, 100]) and ``b`` (``s`` in [0, 1]): ``a``'s loss spreads with
    ``h`` (0 to 10), ``b``'s is 5 to 5.01, so ``h`` and ``model`` rank first."""

    def loss(config):
        model = config["model"]
        return model["h"] / 10 if "h" in model else 5 + model["s"] / 100

    return random_study(space, loss, n, seed=0)


BRANCHES = {
    "model": hp.choice(
        "model", [{"h": hp.uniform("h", 0, 100)}, {"s": hp.uniform("s", 0, 1)}]
    ),
}


def test_the_contour_pairs_parameters_that_varied_together():
    """A choice and a parameter of one of its options were the contour's pair when
    they ranked first: wherever ``h`` is active ``model`` is 0, so the figure was
    an empty box with the trials in one row. The next pair that varied together
    is drawn instead."""
    data = _branches_study({**BRANCHES, "noise": hp.uniform("noise", 0, 1)})
    figures = build_report(data).figures
    contour = figures["contour"]
    x_label, y_label = contour.layout.xaxis.title.text, contour.layout.yaxis.title.text
    infos = [p for p in data.params if p.label in (x_label, y_label)]
    matrix = data.param_matrix(scored_rows(data), infos)
    x, y = matrix[x_label], matrix[y_label]
    both = ~(np.isnan(x) | np.isnan(y))
    assert both.sum() >= 4 and np.ptp(x[both]) > 0 and np.ptp(y[both]) > 0
    assert [t.type for t in contour.data] == ["contour", "scatter"]  # a surface


def test_no_pair_that_varied_together_gives_a_note_not_an_empty_contour():
    data = _branches_study(BRANCHES)  # h, s and model: no two are ever both varied
    report = build_report(data)
    assert len(report.importances) >= 2 and "contour" not in report.figures
    assert (
        "No contour: no two of the most important parameters varied together in 4 "
        "or more completed trials (a choice and a parameter of one of its options "
        "never do)."
    ) in report.notes
