"""Three objectives in the report and the dashboard: a 3-D front (issue 15 asks for
fronts of two and three objectives), read from a real SQLite study."""

from __future__ import annotations

import base64
import json

import numpy as np

from hpo_service.insight import StudyData, build_report, write_report
from hpo_service.insight._live import LiveStore
from hpo_service.objective._result import pareto_front
from hpo_service.store import NewTrial, open_store

from ._support import (
    dump_dom,
    plot_area_pixels,
    start_dashboard,
    stop,
    up,
    wait_drawn,
    wait_for,
    wait_for_colour,
)
from ._support import plotly_array as _values

NAMES = ["error", "latency", "size"]


def fill(store, study: str, results: list[dict]) -> None:
    """Complete one trial per result through the store's claim/complete path."""
    for i, result in enumerate(results):
        (tid,) = store.insert_trials(study, [NewTrial({"x": i}, {"x": i})])
        trial = store.claim("w", 60.0, study=study)
        store.complete(study, tid, trial.token, result)


def three_losses(rng: np.random.Generator) -> list[dict]:
    points = rng.random((12, 3)).tolist()
    results = [{"loss": p} for p in points]
    results.append({"loss": [0.0, 0.0, 0.0], "constraints": [0.3]})  # infeasible
    results.append({"loss": [2.0, 2.0, 2.0]})  # dominated by every other
    return [{**r, "status": "ok"} for r in results]


def test_three_objectives_draw_a_3d_front_in_report_and_dashboard(tmp_path):
    results = three_losses(np.random.default_rng(4))
    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        store.create_study("mo3", {"n_objectives": 3, "objective_names": NAMES})
        fill(store, "mo3", results)
        data = StudyData.from_store(store, "mo3")
        served = json.loads(LiveStore(store).figures("mo3", ["pareto"]))["pareto"]
    expected = sorted(int(i) for i in pareto_front(results))  # tid == position
    losses = [r["loss"] for r in results]
    assert 12 not in expected and 13 not in expected and expected

    figures = build_report(data, importances=False).figures
    fig = figures["pareto"]
    traces = {t.name: t for t in fig.data}
    assert {t.type for t in fig.data} == {"scatter3d"}
    assert sorted(traces["Pareto front"].customdata) == expected
    assert list(traces["infeasible"].customdata) == [12]
    assert 13 in traces["trials"].customdata
    on_front = np.column_stack([traces["Pareto front"][a] for a in "xyz"])
    np.testing.assert_allclose(on_front, [results[t]["loss"] for t in expected])
    scene = fig.layout.scene
    titles = [scene.xaxis.title.text, scene.yaxis.title.text, scene.zaxis.title.text]
    assert titles == NAMES
    assert fig.layout.title.text == f"Pareto front ({len(expected)} trials)"

    # parallel coordinates: an axis per objective, every trial with its losses
    (lines,) = figures["parallel"].data
    axes = {d.label: list(d.values) for d in lines.dimensions}
    assert list(axes)[-3:] == NAMES
    assert [axes[n] for n in NAMES] == [list(x) for x in zip(*losses, strict=True)]
    assert lines.line.colorbar.title.text == "error"
    assert figures["slice"].layout.title.text == "Slice: error against each parameter"

    assert {t["type"] for t in served["data"]} == {"scatter3d"}
    assert served["layout"]["scene"]["zaxis"]["title"]["text"] == "size"
    (served_front,) = [t for t in served["data"] if t["name"] == "Pareto front"]
    assert sorted(_values(served_front["customdata"])) == expected


def test_four_objectives_draw_their_front_as_parallel_coordinates(tmp_path):
    """One line per front trial, one axis per objective, in the report and as the
    dashboard serves it (before: a note in the plot's place)."""
    losses = [[1.0, 2.0, 3.0, float(i)] for i in range(3)]
    losses += [[0.5, 2.5, 3.0, 2.0], [2.0, 2.0, 1.0, 9.0]]  # on the front too
    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        store.create_study("mo4", {"n_objectives": 4})
        fill(store, "mo4", [{"loss": x, "status": "ok"} for x in losses])
        data = StudyData.from_store(store, "mo4")
        served = json.loads(LiveStore(store).figures("mo4", ["pareto", "history"]))
    front = [losses[0], losses[3], losses[4]]  # 1 and 2 are dominated by 0
    report = build_report(data, importances=False)
    assert not any("Pareto" in note for note in report.notes)
    (lines,) = report.figures["pareto"].data
    assert lines.type == "parcoords"
    names = ["loss.0", "loss.1", "loss.2", "loss.3"]
    assert [d.label for d in lines.dimensions] == names
    columns = [list(c) for c in zip(*front, strict=True)]
    assert [list(d.values) for d in lines.dimensions] == columns
    assert all(d.tickvals is None for d in lines.dimensions)  # plotly's own ticks
    (trace,) = served["pareto"]["data"]
    assert trace["type"] == "parcoords" and "note" not in served["pareto"]
    assert [_floats(d["values"]) for d in trace["dimensions"]] == columns


def test_four_objectives_without_a_feasible_trial_say_why_there_is_no_front(
    tmp_path,
):
    """Every done trial breaks a constraint: the front is empty, and its parallel
    coordinates draw front trials only. The report and the dashboard say why in
    the figure's place (before, the figure was left out without a word, where a
    2- or 3-objective study's scatter draws such trials grey)."""
    losses = [[1.0, 2.0, 3.0, float(i)] for i in range(3)]
    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        store.create_study("mo4", {"n_objectives": 4})
        fill(store, "mo4", [{"loss": x, "constraints": [0.5], "status": "ok"}
                            for x in losses])  # fmt: skip
        data = StudyData.from_store(store, "mo4")
        served = json.loads(LiveStore(store).figures("mo4", ["pareto", "history"]))
    why = (
        "No Pareto front plot yet: the front holds feasible trials only, and each "
        "of its 3 done trials breaks a constraint (a positive value)."
    )
    report = build_report(data, importances=False)
    assert "pareto" not in report.figures and why in report.notes
    assert served["pareto"] == {"note": why} and "data" in served["history"]


def _floats(array) -> list[float]:
    """The numbers of a plotly JSON array: a list, or a typed array (base64)."""
    if isinstance(array, list):
        return [float(v) for v in array]
    raw = base64.b64decode(array["bdata"])
    return np.frombuffer(raw, dtype=array["dtype"]).tolist()


def test_the_dashboard_header_says_how_many_done_trials_are_infeasible(
    tmp_path, browser
):
    """As the report's header and ``hpo-driver status``."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    with open_store(db) as store:
        store.create_study("mo3", {"n_objectives": 3, "objective_names": NAMES})
        fill(store, "mo3", three_losses(np.random.default_rng(4)))
    server, port, _ = start_dashboard("--db", db)
    try:
        wait_for(lambda: up(f"http://127.0.0.1:{port}/"), what="dashboard up")
        dom = dump_dom(browser, f"http://127.0.0.1:{port}/")
    finally:
        stop(server)
    assert "(done=14 (1 infeasible))" in dom


def test_the_3d_front_is_drawn_whole_not_cut_at_the_scene_edge(tmp_path, browser):
    """The 3-D Pareto front fits its scene whatever the objectives' units: plotly's
    "auto" aspect drew each axis as long as its range (when none is over 4 times
    another), so objectives ranging 8, 25 and 7 (error, latency in ms, size) drew
    the latency axis 2.2 times as long, the box ran out of the scene at its bottom
    and the first objective's axis, ticks and name were not drawn at all. Nothing
    (not even a grid line) may cross the scene's bottom or top edge."""
    results = three_losses(np.random.default_rng(4))
    scales = (8, 25, 7)
    for result in results:
        result["loss"] = [v * k for v, k in zip(result["loss"], scales, strict=True)]
    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        store.create_study("mo3", {"n_objectives": 3, "objective_names": NAMES})
        fill(store, "mo3", results)
        data = StudyData.from_store(store, "mo3")
    out = tmp_path / "report.html"
    write_report(data, out)
    browser.get(out.as_uri())
    wait_drawn(browser, "pareto")
    wait_for_colour(browser, "pareto", (214, 39, 40))  # the front's markers
    pixels = plot_area_pixels(browser, "pareto")
    drawn = (pixels < 245).any(axis=2)  # anything but the white background
    edges = {"top": int(drawn[:2].sum()), "bottom": int(drawn[-2:].sum())}
    assert edges == {"top": 0, "bottom": 0}, edges
