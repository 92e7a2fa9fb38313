"""A real 2-objective study (``hpo-driver start --objectives error,cost`` with worker
processes) seen through ``hpo-driver report`` (in headless Chromium),
``hpo-driver importance`` and the dashboard's API: the objective names come from the
study's ``objective_names`` setting and the front is the one ``hpo-driver best``
computes."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from hpo_service.objective._result import pareto_front
from hpo_service.store import open_store
from tests.e2e.conftest import REPO

from ._support import (
    drawn_traces,
    dump_dom,
    get,
    plot_section,
    plotly_array,
    start_dashboard,
    stop,
    up,
    wait_drawn,
    wait_for,
    wait_for_colour,
)

NAMES = ["error", "cost"]
BLUE, RED = (31, 119, 180), (214, 39, 40)  # done markers, the Pareto front


def hpo_driver(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A finished 2-objective study ``mo`` of 16 trials run by 2 worker processes."""
    url = f"sqlite:///{tmp_path_factory.mktemp('mo') / 'hpo.sqlite'}"
    run = hpo_driver(
        "start", "--db", url, "--study", "mo",
        "--objective", "tests.helpers.multi_objective:two_losses",
        "--space", "tests.helpers.multi_objective:space",
        "--objectives", ",".join(NAMES), "--max-evals", "16", "--workers", "2",
        "--seed", "2", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return url


@pytest.fixture(scope="module")
def report(db: str, tmp_path_factory: pytest.TempPathFactory):
    """``hpo-driver report`` of the 2-objective study."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    run = hpo_driver("report", "--db", db, "--study", "mo", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    return out


def driver_front(db: str) -> list[int]:
    """The tids on the front as the driver's own helper computes it."""
    with open_store(db) as store:
        trials = store.get_trials("mo")
    return [trials[i].tid for i in pareto_front([t.result for t in trials])]


def test_the_report_names_the_objectives_and_draws_the_drivers_front(
    db, report, browser
):
    out = report
    front = driver_front(db)
    assert front
    dom = dump_dom(browser, out.as_uri())
    assert re.search(r'id="finished-count">16<', dom)
    assert f"Pareto front: {len(front)} trials (error, cost)" in dom
    pareto = plot_section(dom, "pareto")
    assert "main-svg" in pareto and "error" in pareto and "cost" in pareto
    assert f"Pareto front ({len(front)} trials)" in pareto
    history = plot_section(dom, "history")  # the first objective, by its name
    assert "main-svg" in history and "error" in history
    assert "Parameter importance for error (fANOVA)" in plot_section(dom, "importance")

    ranked = hpo_driver("importance", "--db", db, "--study", "mo", "--objective", "1",
                        "--json")  # fmt: skip
    assert ranked.returncode == 0, ranked.stderr[-3000:]
    assert {r["param"] for r in json.loads(ranked.stdout)} == {"x", "y"}
    beyond = hpo_driver("importance", "--db", db, "--study", "mo", "--objective", "2")
    assert beyond.returncode == 2 and "--objective" in beyond.stderr


@pytest.mark.parametrize("which", ["1", "cost"])
def test_importance_text_names_the_objective_it_ranks(db, which):
    shown = hpo_driver("importance", "--db", db, "--study", "mo", "--objective", which)
    assert shown.returncode == 0, shown.stderr[-3000:]
    first, header = shown.stdout.splitlines()[:2]
    assert first == "objective 'cost' (--objective 1 of error=0, cost=1)"
    assert header.split() == ["parameter", "importance", "variance", "±", "trees"]


@pytest.mark.parametrize("which", ["2", "latency", "-1"])
def test_importance_of_an_objective_the_study_lacks_lists_them(db, which):
    run = hpo_driver("importance", "--db", db, "--study", "mo", "--objective", which)
    assert run.returncode == 2
    assert (
        "Error: Invalid value for '--objective': `--objective` must name one of the "
        "study's 2 objectives (0 or error, 1 or cost), but got "
        f"--objective={which}\n"
    ) in run.stderr


@pytest.mark.parametrize(("which", "meant"), [("cots", "cost"), ("Error", "error")])
def test_a_mistyped_objective_name_gets_the_one_meant(db, which, meant):
    """As a mistyped study, module or setting name does (``did you mean``); before,
    the list of objectives alone, to compare letter by letter."""
    run = hpo_driver("importance", "--db", db, "--study", "mo", "--objective", which)
    assert run.returncode == 2
    assert (
        "study's 2 objectives (0 or error, 1 or cost), but got "
        f"--objective={which}; did you mean '{meant}'?\n"
    ) in run.stderr


def test_the_dashboard_shows_the_named_front(db):
    server, port, _ = start_dashboard("--db", db)
    base = f"http://127.0.0.1:{port}/api/studies/mo"
    try:
        wait_for(lambda: up(f"http://127.0.0.1:{port}/"), what="dashboard up")
        delta = get(f"{base}/changes?cursor=0")
        figures = get(f"{base}/figures?names=pareto,history,importance,contour")
    finally:
        stop(server)
    front = driver_front(db)
    assert delta["objectives"] == NAMES
    assert delta["front"] == len(front) and delta["best"] is None
    done = [row for row in delta["rows"] if row["state"] == "done"]
    assert len(done) >= len(front) > 0
    assert all(len(row["loss"]) == 2 for row in done)
    layout = figures["pareto"]["layout"]
    assert (layout["xaxis"]["title"]["text"], layout["yaxis"]["title"]["text"]) == (
        "error",
        "cost",
    )
    (on_front,) = [t for t in figures["pareto"]["data"] if t["name"] == "Pareto front"]
    assert sorted(plotly_array(on_front["customdata"])) == sorted(front)
    assert figures["history"]["layout"]["yaxis"]["title"]["text"] == "error"
    importance = figures["importance"]["layout"]["title"]["text"]
    assert importance == "Parameter importance for error (fANOVA)"
    (surface,) = [t for t in figures["contour"]["data"] if t["type"] == "contour"]
    assert surface["colorbar"]["title"]["text"] == "error"  # was "loss"


def three_objective_report(tmp_path) -> tuple[str, int]:
    """The report of a stored 3-objective study of 40 random trials (4 infeasible)."""
    import numpy as np

    from hpo_service import hp
    from hpo_service.driver._study import space_settings
    from hpo_service.insight import StudyData, write_report
    from hpo_service.store import NewTrial

    space = {"x": hp.uniform("x", 0, 1), "y": hp.loguniform("y", -5, 0)}
    rng = np.random.default_rng(3)
    xs, ys = rng.uniform(0, 1, 40), np.exp(rng.uniform(-5, 0, 40))
    points = [{"x": float(a), "y": float(b)} for a, b in zip(xs, ys, strict=True)]
    names = {"n_objectives": 3, "objective_names": ["error", "cost", "size"]}
    with open_store(f"sqlite:///{tmp_path / 'mo3.sqlite'}") as store:
        store.create_study("mo3", {**space_settings(space), **names})
        store.insert_trials("mo3", [NewTrial(p, p) for p in points])
        for i, p in enumerate(points):
            trial = store.claim("w", 60.0, study="mo3")
            losses = [p["x"], (1 - p["x"]) ** 2 + p["y"], p["y"]]
            store.complete("mo3", trial.tid, trial.token,
                           {"loss": losses, "status": "ok",
                            "constraints": [1.0 if i % 10 == 0 else -1.0]})  # fmt: skip
        data = StudyData.from_store(store, "mo3")
    out = tmp_path / "mo3.html"
    write_report(data, out)
    return out.as_uri(), len(data.pareto_rows())


@pytest.mark.parametrize("n_objectives", [2, 3])
def test_every_plot_of_a_multi_objective_report_is_drawn(
    db, report, tmp_path, browser, n_objectives
):
    """History, parallel coordinates, slices and the Pareto front hold a point (a
    line) per trial in the browser, and the plotting areas are not blank."""
    if n_objectives == 2:
        url, front = report.as_uri(), len(driver_front(db))
        n, axes = 16, ["x", "y", *NAMES]
    else:
        url, front = three_objective_report(tmp_path)
        n, axes = 40, ["x", "y (log)", "error", "cost", "size"]
    browser.get(url)
    wait_drawn(browser, "history", "parallel", "slice", "pareto")

    history = {t["name"]: t for t in drawn_traces(browser, "history")}
    infeasible = 4 if n_objectives == 3 else 0  # every 10th trial breaks a constraint
    assert history["done"]["y"] == n - infeasible
    assert history.get("infeasible", {"y": 0})["y"] == infeasible
    (parallel,) = drawn_traces(browser, "parallel")
    assert parallel["dims"] == [[label, n] for label in axes]
    assert [t["y"] for t in drawn_traces(browser, "slice")] == [n, n]
    pareto = {t["name"]: t for t in drawn_traces(browser, "pareto")}
    assert sum(t["x"] for t in pareto.values()) == n
    assert pareto["Pareto front"]["x"] == front
    if n_objectives == 3:
        assert pareto["Pareto front"]["z"] == front
    wait_for_colour(browser, "history", BLUE)  # painted, not only in the data
    wait_for_colour(browser, "slice", (8, 48, 107), tolerance=200)
    wait_for_colour(browser, "pareto", RED)


def test_unnamed_objectives_have_one_name_in_best_importance_and_report(tmp_path):
    # hpo-driver best and the exports said loss.1, the report, dashboard and
    # importance 'loss 1': `importance --objective loss.1` was refused
    url = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = hpo_driver(
        "start", "--db", url, "--study", "plain",
        "--objective", "tests.helpers.multi_objective:two_losses",
        "--space", "tests.helpers.multi_objective:space",
        "--max-evals", "8", "--workers", "1", "--seed", "3", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    best = hpo_driver("best", "--db", url, "--study", "plain")
    assert re.search(r"trial \d+: loss\.0=\S+, loss\.1=", best.stdout), best.stdout
    shown = hpo_driver("importance", "--db", url, "--study", "plain",
                       "--objective", "loss.1")  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert shown.stdout.splitlines()[0] == (
        "objective 'loss.1' (--objective 1 of loss.0=0, loss.1=1)"
    )
    out = tmp_path / "report.html"
    made = hpo_driver("report", "--db", url, "--study", "plain", "--out", str(out))
    assert made.returncode == 0, made.stderr[-3000:]
    assert re.search(r"Pareto front: \d+ trials? \(loss\.0, loss\.1\)", out.read_text())


def four_objective_study(tmp_path) -> str:
    """A stored 4-objective study ``four`` of 12 random trials; its database URL."""
    import numpy as np

    from hpo_service import hp
    from hpo_service.driver._study import space_settings
    from hpo_service.store import NewTrial

    space = {"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 1)}
    rng = np.random.default_rng(4)
    points = [{"x": float(a), "y": float(b)} for a, b in rng.uniform(0, 1, (12, 2))]
    names = ["error", "cost", "size", "latency"]
    url = f"sqlite:///{tmp_path / 'mo4.sqlite'}"
    with open_store(url) as store:
        store.create_study(
            "four",
            {**space_settings(space), "n_objectives": 4, "objective_names": names},
        )
        store.insert_trials("four", [NewTrial(p, p) for p in points])
        for p in points:
            trial = store.claim("w", 60.0, study="four")
            x, y = p["x"], p["y"]
            losses = [x, 1 - x, y, 1 - y + x * y]
            store.complete("four", trial.tid, trial.token,
                           {"loss": losses, "status": "ok"})  # fmt: skip
    return url


def front_of(url: str) -> list[list[float]]:
    """The loss vectors of study ``four``'s Pareto front, by tid."""
    with open_store(url) as store:
        trials = store.get_trials("four")
    front = sorted(int(i) for i in pareto_front([t.result for t in trials]))
    assert len(front) > 1
    return [trials[i].result["loss"] for i in front]


#: The front figure as the page drew it: its trace type, each axis's name and
#: values, and the axis names and tick labels plotly wrote on the page.
_DRAWN_FRONT = """
const div = document.getElementById('plot-pareto');
if (!div || !div._fullData || !div.querySelector('.axis-title')) return null;
const [trace] = div._fullData;
return [trace.type,
        trace.dimensions.map((d) => [d.label, Array.from(d.values)]),
        [...div.querySelectorAll('.axis-title')].map((t) => t.textContent),
        [...div.querySelectorAll('.tick text')].map((t) => t.textContent)];
"""


def assert_front_drawn(browser, url: str) -> None:
    """Plot ``pareto`` is parallel coordinates of the front: one line per front
    trial (its losses on the axes), one axis per objective, round tick labels."""
    drawn = wait_for(
        lambda: browser.execute_script(_DRAWN_FRONT), what="the front's figure drawn"
    )
    kind, dims, titles, ticks = drawn
    names = ["error", "cost", "size", "latency"]
    assert kind == "parcoords"
    assert [label for label, _ in dims] == names and titles == names
    front = front_of(url)
    columns = [list(col) for col in zip(*front, strict=True)]
    for (_, values), column in zip(dims, columns, strict=True):
        assert values == pytest.approx(column)
    assert ticks and all(round_label(t) for t in ticks), ticks


def round_label(text: str) -> bool:
    """Whether tick label ``text`` is a round number: 2 significant digits at most
    (``0.25``, ``1.5``, ``200``; not ``0.137``)."""
    digits = text.replace("−", "").replace("-", "").replace(".", "").strip("0")
    return len(digits) <= 2


def test_four_objectives_draw_their_front_in_the_report(tmp_path, browser):
    # the report showed only a note ("No Pareto front plot: ... 4 objectives")
    url = four_objective_study(tmp_path)
    out = tmp_path / "four.html"
    run = hpo_driver("report", "--db", url, "--study", "four", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    dom = dump_dom(browser, out.as_uri())
    assert 'id="section-pareto"' in dom and "No Pareto front plot" not in dom
    assert_front_drawn(browser, url)
    title = browser.find_element("css selector", "#plot-pareto .gtitle").text
    assert title == f"Pareto front ({len(front_of(url))} trials; one line per trial)"


def test_four_objectives_draw_their_front_on_the_dashboard(tmp_path, browser):
    url = four_objective_study(tmp_path)
    server, port, _ = start_dashboard("--db", url)
    try:
        page = f"http://127.0.0.1:{port}/"
        wait_for(lambda: up(page), what="dashboard up")
        browser.get(page + "#four")
        assert_front_drawn(browser, url)
        pareto = browser.find_element("id", "plot-pareto")
        assert pareto.is_displayed() and "No Pareto front plot" not in pareto.text
    finally:
        stop(server)
