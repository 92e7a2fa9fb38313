"""What the report draws, checked in headless Chromium (selenium): pruned trials of a
real study run with a pruner are marked in the history (report and dashboard), left
out of the slices, and the parallel-coordinates title clears the axis names."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from hpo_service import hp
from hpo_service.insight import StudyData, TrialRow, build_report, write_report
from hpo_service.insight._params import params_from_space_document
from hpo_service.space import compile_space, sample_params, to_document
from hpo_service.store import TrialState, open_store
from tests.e2e.conftest import REPO

from ._support import (
    count_colour,
    drawn_traces,
    get,
    plotly_array,
    start_dashboard,
    stop,
    up,
    wait_drawn,
    wait_for,
    wait_for_colour,
)

ORANGE, BLUE = (255, 127, 14), (31, 119, 180)  # pruned and done markers


def hpo_driver(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, set[int], set[int]]:
    """A 16-trial study ``pr`` of learning curves under ASHA (2 worker processes):
    its store URL and the done and pruned tids."""
    db = f"sqlite:///{tmp_path_factory.mktemp('pr') / 'hpo.sqlite'}"
    run = hpo_driver(
        "start", "--db", db, "--study", "pr",
        "--objective", "tests.helpers.objectives:learning_curve",
        "--space", "tests.insight.objectives:curve_space",
        "--pruner", "asha", "--max-evals", "16", "--workers", "2", "--seed", "1",
        "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    with open_store(db) as store:
        trials = store.get_trials("pr")
    done = {t.tid for t in trials if t.state == TrialState.DONE}
    pruned = {t.tid for t in trials if t.state == TrialState.PRUNED}
    assert done and pruned, "ASHA pruned nothing: the test cannot check the marks"
    return db, done, pruned


@pytest.fixture(scope="module")
def dashboard(study: tuple[str, set[int], set[int]]) -> Iterator[str]:
    """``hpo-driver dashboard`` over :func:`study` (read-only, shared by the tests
    that ask it for figures): its base URL."""
    db, _, _ = study
    server, port, _ = start_dashboard("--db", db)
    try:
        wait_for(lambda: up(f"http://127.0.0.1:{port}/"), what="dashboard up")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


def test_pruned_trials_are_marked_in_the_history(study, dashboard, tmp_path, browser):
    db, done, pruned = study
    out = tmp_path / "report.html"
    run = hpo_driver("report", "--db", db, "--study", "pr", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    browser.get(out.as_uri())
    wait_drawn(browser, "history", "slice", "parallel")

    traces = {t["name"]: t for t in drawn_traces(browser, "history")}
    assert traces["pruned"]["y"] == len(pruned) and traces["pruned"]["symbol"] == "x"
    assert traces["done"]["y"] == len(done)
    wait_for_colour(browser, "history", ORANGE)  # painted, not only in the data
    wait_for_colour(browser, "history", BLUE)
    # the slices show final losses only: one point per done trial and parameter
    (level,) = drawn_traces(browser, "slice")
    assert level["y"] == len(done)
    _title_clears_the_axis_names(browser)

    figures = get(f"{dashboard}/api/studies/pr/figures?names=history")
    (marked,) = [t for t in figures["history"]["data"] if t["name"] == "pruned"]
    assert marked["marker"]["symbol"] == "x"
    assert sorted(plotly_array(marked["customdata"])) == sorted(pruned)


def _title_clears_the_axis_names(browser):
    """The parallel-coordinates title ends above every axis name."""
    boxes = browser.execute_script(
        "const div = document.getElementById('plot-parallel');"
        "const box = (e) => { const r = e.getBoundingClientRect();"
        "  return [r.top, r.bottom]; };"
        "return [box(div.querySelector('.gtitle')),"
        "        Array.from(div.querySelectorAll('.axis-title')).map(box)];"
    )
    title, axis_names = boxes
    assert axis_names, "no axis names drawn"
    assert title[1] <= min(top for top, _ in axis_names), boxes


def test_report_images_are_written_without_kaleido_log_noise(study, tmp_path):
    """``--format png``: one image per figure of the HTML report; stderr holds the
    one summary line, not kaleido's (or its browser driver's) INFO logging."""
    from PIL import Image

    db, _, _ = study
    out = tmp_path / "r.html"
    run = hpo_driver("report", "--db", db, "--study", "pr", "--out", str(out),
                     "--format", "png")  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    written = run.stdout.split()
    assert written[0] == str(out)
    names = {p.rsplit("-", 1)[1] for p in written[1:]}
    assert {"history.png", "parallel.png", "slice.png", "intermediate.png"} <= names
    history = np.asarray(Image.open(tmp_path / "r-history.png").convert("RGB"))
    assert count_colour(history.astype(int), ORANGE) > 20  # the pruned marks
    (line,) = run.stderr.strip().splitlines()  # one line, no kaleido INFO lines
    assert line.startswith("report of study 'pr' (16 trials) written in ")


def test_labels_are_drawn_as_typed_not_as_plotly_markup(tmp_path, browser):
    """Objective names, parameter labels and choice values holding ``<i>`` or ``&amp;``
    appear literally in every plot (plotly reads its text as a subset of HTML)."""
    from hpo_service import hp
    from hpo_service.insight import StudyData, TrialRow, write_report
    from hpo_service.insight._params import params_from_space_document
    from hpo_service.space import to_document

    space = {"x": hp.uniform("lr<i>", 0, 1),
             "c": hp.choice("c&amp;", ["a<b>c", "plain"])}  # fmt: skip
    names = ["err<i>", "lat&amp;ms"]
    data = StudyData("marks", params_from_space_document(to_document(space)),
                     settings={"objective_names": names})  # fmt: skip
    rng = np.random.default_rng(0)
    data.apply(
        TrialRow(tid, "done", {"lr<i>": x, "c&amp;": tid % 2}, losses=(x, 1 - x + c),
                 status="ok", finished_at=1e9 + tid)
        for tid, (x, c) in enumerate(rng.random((12, 2)))
    )  # fmt: skip
    out = tmp_path / "marks.html"
    write_report(data, out)
    browser.get(out.as_uri())
    figures = ("history", "slice", "parallel", "pareto", "importance", "contour")
    wait_drawn(browser, *figures)
    for name in figures:
        texts = browser.execute_script(
            "return Array.from(document.querySelectorAll("
            f"'#plot-{name} svg text')).map((t) => t.textContent);"
        )
        drawn = " | ".join(texts)
        wanted = {"history": ["err<i>"], "slice": ["lr<i>", "c&amp;", "a<b>c"],
                  "parallel": ["lr<i>", "c&amp;", "err<i>", "lat&amp;ms"],
                  "pareto": ["err<i>", "lat&amp;ms"],
                  "importance": ["lr<i>", "c&amp;"]}.get(name, ["lr<i>"])  # fmt: skip
        for text in wanted:
            assert text in drawn, (name, text, texts)


def test_parallel_coordinates_of_100_parameters_keep_the_loss_axis(tmp_path, browser):
    """plotly drew 59 parameter axes of a 100-parameter study side by side, names
    unreadable: the report draws the 12 most important (its importance table's
    first 12, in that order), then the loss axis, and the title says so."""
    from hpo_service import hp
    from hpo_service.insight import write_report

    from ._support import random_study

    space = {f"p{i:03d}": hp.uniform(f"p{i:03d}", -1, 1) for i in range(100)}
    data = random_study(space, lambda c: sum(v * v for v in c.values()), 30)
    out = tmp_path / "wide.html"
    write_report(data, out)
    browser.get(out.as_uri())
    wait_drawn(browser, "parallel")
    names, ranked = browser.execute_script(
        "const texts = (q) => Array.from(document.querySelectorAll(q))"
        "  .map((t) => t.textContent);"
        "return [texts('#plot-parallel .axis-title'),"
        "        texts('#section-importance tr td:first-child')];"
    )
    assert len(ranked) == 100 and names == [*ranked[:12], "loss"], names
    title = browser.find_element("css selector", "#plot-parallel .gtitle").text
    assert title == "Parallel coordinates (the 12 most important of 100 parameters)"


@pytest.mark.parametrize("n_params", [2, 6, 12])
def test_long_parameter_names_on_parallel_axes_do_not_overlap(
    tmp_path, browser, n_params
):
    """60-character names were drawn side by side on one line, over each other
    (and the first one cut at the left edge): each wraps below its axis, whole."""
    from hpo_service import hp
    from hpo_service.insight import write_report

    from ._support import random_study

    names = [f"model.encoder.block_{i:02d}.attention.dropout_probability_x" for i in
             range(n_params)]  # fmt: skip
    names = [name + "_final" for name in names]
    assert {len(name) for name in names} == {60}
    space = {name: hp.uniform(name, 0, 1) for name in names}
    data = random_study(space, lambda c: sum(v * v for v in c.values()), 30)
    out = tmp_path / "long.html"
    write_report(data, out)
    browser.get(out.as_uri())
    wait_drawn(browser, "parallel")
    drawn = browser.execute_script(
        "const div = document.getElementById('plot-parallel');"
        "const box = (e) => { const r = e.getBoundingClientRect();"
        "  return [r.left, r.right, r.top, r.bottom]; };"
        "return [box(div), Array.from(div.querySelectorAll('.axis-title'))"
        "  .map((t) => [t.textContent, box(t)]),"
        "  Array.from(div.querySelectorAll('.tick text')).map(box)];"
    )
    figure, titles, ticks = drawn
    assert ticks  # the tick labels the names must keep clear of
    assert [text for text, _ in titles] == [*names, "loss"]  # whole, in order
    boxes = sorted(box for _, box in titles)
    for left, right in itertools.pairwise(boxes):
        assert left[1] < right[0], (left, right)  # apart, left to right
    assert all(figure[0] <= b[0] and b[1] <= figure[1] for b in boxes), boxes
    for b in boxes:  # no name over a tick label
        assert not any(
            t[0] < b[1] and b[0] < t[1] and t[2] < b[3] and b[2] < t[3] for t in ticks
        ), b


def test_every_trial_of_a_slice_is_painted_the_first_one_too(tmp_path, browser):
    """A 2-trial study: both points of each slice panel stand out from the white
    plot (its colour scale began at white, which hid the first trials of every
    study), and a conditional parameter's panel colours its trials as the others
    do (each panel scaled its colours to its own trials)."""
    from scipy import ndimage

    from hpo_service import Trials, fmin, hp, rand
    from hpo_service.insight import as_study_data, write_report

    space = hp.choice("m", [{"x": hp.uniform("x", 0, 1)}, {"y": hp.uniform("y", 0, 1)}])
    trials = Trials()
    points = [{"m": 0, "x": 0.2}, {"m": 0, "x": 0.8}, {"m": 1, "y": 0.5}]
    fmin(lambda c: sum(c.values()), space, algo=rand.suggest, max_evals=3,
         trials=trials, points_to_evaluate=points, show_progressbar=False)  # fmt: skip
    out = tmp_path / "slice.html"
    write_report(as_study_data(trials), out)
    browser.get(out.as_uri())
    wait_drawn(browser, "slice")

    def painted():  # per panel, the blobs of colour that stand out from white
        return [
            ndimage.label(np.abs(pixels - 255).sum(axis=2) > 90)[1]
            for pixels in _panel_pixels(browser, "slice")
        ]

    # m's panel: 3 points, x's: trials 0 and 1, y's: trial 2
    wait_for(lambda: sum(painted()) >= 6, what="6 points painted")
    assert painted() == [3, 2, 1]
    ranges = browser.execute_script(
        "return document.getElementById('plot-slice')._fullData"
        ".map((t) => [t.marker.cmin, t.marker.cmax]);"
    )
    assert ranges == [[0, 2], [0, 2], [0, 2]], ranges  # m, x, y


def _panel_pixels(browser, name):
    """The RGB pixels inside each subplot's axes of ``plot-NAME``, in plotly's
    order of x axes (from a screenshot)."""
    import io

    from PIL import Image

    element = browser.find_element("id", f"plot-{name}")
    browser.execute_script("arguments[0].scrollIntoView()", element)
    boxes = browser.execute_script(
        "const l = arguments[0]._fullLayout;"
        "return Object.keys(l).filter((k) => /^xaxis[0-9]*$/.test(k)).sort("
        "  (a, b) => (+a.slice(5) || 1) - (+b.slice(5) || 1)).map((k) => {"
        "  const x = l[k], y = l[x.anchor.replace('y', 'yaxis')];"
        "  return [x._offset, y._offset, x._length, y._length]"
        "    .map((v) => v * window.devicePixelRatio);});",
        element,
    )
    image = Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB")
    return [
        np.asarray(image.crop((round(x) + 2, round(y) + 2, round(x + w) - 2,
                               round(y + h) - 2))).astype(int)
        for x, y, w, h in boxes
    ]  # fmt: skip


def test_a_trial_pruned_at_its_first_report_is_marked_on_the_curves(tmp_path, browser):
    """The intermediate values put an orange cross where each trial was pruned: a
    trial pruned at its first report has no line, and its one point (3 px, faded)
    was nearly invisible."""
    from hpo_service import TrialPruned, Trials, fmin, hp, rand, report
    from hpo_service.insight import as_study_data, write_report

    def objective(config):
        for step in range(4):
            report(config["x"] + 1 / (step + 1), step)
            if config["x"] > 0.5:  # stands in for a pruner's decision
                raise TrialPruned()
        return config["x"]

    trials = Trials()
    points = [{"x": 0.1}, {"x": 0.2}, {"x": 0.9}]
    fmin(objective, {"x": hp.uniform("x", 0, 1)}, algo=rand.suggest, max_evals=3,
         trials=trials, points_to_evaluate=points, show_progressbar=False)  # fmt: skip
    out = tmp_path / "curves.html"
    write_report(as_study_data(trials), out)
    browser.get(out.as_uri())
    wait_drawn(browser, "intermediate")
    traces = {t["name"]: t for t in drawn_traces(browser, "intermediate")}
    assert traces["pruned here"]["y"] == 1 and traces["pruned here"]["symbol"] == "x"
    wait_for_colour(browser, "intermediate", ORANGE)  # painted, not only in the data


def _every_figure_study(n: int, n_objectives: int) -> StudyData:
    """A study with every figure of the report: ``n`` trials over three parameters,
    every third pruned after two reports, the others done with ``n_objectives``
    losses, a constraint broken by some and reports at 5 steps, on 4 workers."""
    space = {
        "a": hp.uniform("a", 0, 1),
        "b": hp.uniform("b", 0, 1),
        "c": hp.choice("c", ["x", "y"]),
    }
    rng = np.random.default_rng(0)
    compiled = compile_space(space)
    data = StudyData("every", params_from_space_document(to_document(space)))
    rows = [_row(tid, sample_params(compiled, rng), n_objectives) for tid in range(n)]
    data.apply(rows)
    return data


def _row(tid: int, params: dict, n_objectives: int) -> TrialRow:
    """Trial ``tid``: pruned after 2 reports when ``tid`` is a multiple of 3, else
    done with losses ``(a, b, a * b, a + b * b)[:n_objectives]`` and reports at 5
    steps."""
    curve = {step: params["a"] + 1 / step for step in range(1, 6)}
    worker = {
        "owner": f"w{tid % 4}",
        "started_at": 1e9 + tid,
        "finished_at": 1e9 + tid + 0.5,
    }
    if tid % 3 == 0:
        return TrialRow(tid, "pruned", params, status="pruned",
                        intermediate={1: curve[1], 2: curve[2]}, **worker)  # fmt: skip
    a, b = params["a"], params["b"]
    return TrialRow(tid, "done", params, losses=(a, b, a * b, a + b * b)[:n_objectives],
                    status="ok", violation=max(0.0, b - 0.8), intermediate=curve,
                    **worker)  # fmt: skip


@pytest.mark.parametrize(("n_trials", "n_objectives"), [(30, 2), (1800, 2)])
def test_no_figure_of_a_report_loses_its_webgl_context(
    n_trials, n_objectives, tmp_path, browser
):
    """Chromium keeps 16 WebGL contexts per page and drops the oldest beyond: a
    2-objective study with pruning drew 8 WebGL figures (17 contexts), so its first
    figure, the history, stayed blank. Small figures are SVG now, and a study of
    every figure large enough for WebGL stays within the 16."""
    data = _every_figure_study(n_trials, n_objectives)
    out = tmp_path / "every.html"
    write_report(data, out)
    names = ["history", "history_time", "pareto", "parallel", "slice", "contour",
             "intermediate", "timeline"]  # fmt: skip
    assert set(names) <= set(build_report(data).figures)
    browser.get(out.as_uri())
    wait_drawn(browser, *names)
    lost = [e["message"] for e in browser.get_log("browser") if "WebGL" in e["message"]]
    assert not [m for m in lost if "Too many active WebGL contexts" in m], lost
    wait_for_colour(browser, "history", BLUE)  # the first figure is painted


def test_the_dashboard_draws_a_small_study_as_svg(dashboard):
    """The dashboard's figures follow the report's rule: a study of 16 trials has
    no WebGL figure but the parallel coordinates (always WebGL in plotly)."""
    names = "history,history_time,slice,contour,intermediate,timeline"
    figures = get(f"{dashboard}/api/studies/pr/figures?names={names}")
    assert {"history", "slice", "intermediate", "timeline"} <= set(figures)
    types = {n: {t["type"] for t in f.get("data", [])} for n, f in figures.items()}
    assert not [n for n, kinds in types.items() if "scattergl" in kinds], types


#: Counts the WebGL contexts a page creates (put before its scripts): Chromium
#: keeps 16 per page and drops the oldest beyond them.
_COUNT_CONTEXTS = """<script>
window.glContexts = [];
const made = HTMLCanvasElement.prototype.getContext;
HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
  const context = made.call(this, kind, ...rest);
  if (context && /webgl/.test(kind) && !window.glContexts.includes(context)) {
    window.glContexts.push(context);
  }
  return context;
};
</script>"""


@pytest.mark.parametrize(
    ("n_trials", "n_objectives"), [(1000, 3), (1800, 3), (1800, 4)]
)
def test_a_three_objective_report_stays_under_the_webgl_context_limit(
    n_trials, n_objectives, tmp_path, browser
):
    """A 3-objective study with pruning adds the 3-D Pareto front's context to the
    WebGL figures: at 1,800 trials its page opened 16 contexts, Chromium's limit,
    with nothing to spare. The page, with every figure drawn, now opens fewer; so
    does a 4-objective study's, whose front is parallel coordinates (3 contexts)."""
    data = _every_figure_study(n_trials, n_objectives)
    out = tmp_path / "every.html"
    write_report(data, out)
    html = out.read_text()
    out.write_text(html.replace("<head>", "<head>" + _COUNT_CONTEXTS, 1))
    names = ["history", "history_time", "pareto", "parallel", "slice", "contour",
             "intermediate", "timeline"]  # fmt: skip
    browser.get(out.as_uri())
    wait_drawn(browser, *names)
    made = browser.execute_script("return window.glContexts.length")
    lost = browser.execute_script(
        "return window.glContexts.filter((c) => c.isContextLost()).length"
    )
    assert made > 0, "no WebGL figure to count"
    assert made < 16 and lost == 0, (made, lost)
    wait_for_colour(browser, "history", BLUE)  # the first figure is painted
