"""The pieces of the report on hand-made studies: Pareto front, worker usage,
failures, parameters from a space, hyperopt ``Trials`` and pruned trials."""

from __future__ import annotations

import datetime as dt
import math
import sys

import numpy as np
import pytest

from hpo_service import STATUS_OK, Trials, fmin, hp, rand
from hpo_service.insight import (
    StudyData,
    TrialRow,
    build_report,
    failure_groups,
    history_figure,
    pareto_front,
    timeline_figure,
    worker_usage,
)
from hpo_service.insight._live import LiveStore, summary_of
from hpo_service.insight._params import params_from_space_document
from hpo_service.insight._report import summary_html, workers_table
from hpo_service.space import to_document
from hpo_service.store import NewTrial, open_store
from tests.helpers.pruned_search import pruned_search


def brute_force_front(points):
    return [
        i
        for i, p in enumerate(points)
        if not any(np.all(q <= p) and np.any(q < p) for q in points)
    ]


@pytest.mark.parametrize("m", [2, 3])
def test_pareto_front_matches_the_definition(m):
    rng = np.random.default_rng(m)
    points = rng.integers(0, 6, size=(300, m)).astype(float)  # ties and duplicates
    assert pareto_front(points).tolist() == brute_force_front(points)


def row(tid, owner, start, end, state="done", **kw):
    return TrialRow(
        tid, state, {}, owner=owner, started_at=start, finished_at=end, **kw
    )


def test_worker_usage_counts_busy_time_gaps_and_overlaps_once():
    data = StudyData("s")
    data.apply([
        row(0, "w1", 0.0, 10.0), row(1, "w1", 15.0, 20.0), row(2, "w1", 18.0, 30.0),
        row(3, "w2", 5.0, 6.0), row(4, None, 0.0, 1.0), row(5, "w2", 6.0, None, "new"),
    ])  # fmt: skip
    usage = {u.owner: u for u in worker_usage(data)}
    assert set(usage) == {"w1", "w2"}
    w1 = usage["w1"]
    assert (w1.trials, w1.busy, w1.span, w1.idle, w1.longest_gap) == (3, 25, 30, 5, 5)
    assert w1.utilisation == pytest.approx(25 / 30)
    assert usage["w2"].utilisation == pytest.approx(1.0)
    data.apply([row(6, "w2", 10.0, None, "running")])
    w2 = {u.owner: u for u in worker_usage(data, now=14.0)}["w2"]
    assert (w2.busy, w2.span, w2.longest_gap) == (5.0, 9.0, 4.0)


def test_a_stretch_with_no_trial_running_is_not_a_workers_idle_time():
    """A study stopped for a day and resumed: the day is cut from the timeline,
    and neither worker was idle in it (before, both read 1% utilisation)."""
    day = 86_400.0
    data = StudyData("s")
    data.apply([
        row(0, "w1", 0.0, 100.0), row(1, "w1", 110.0, 200.0),
        row(2, "w2", 0.0, 200.0), row(3, "w2", day, day + 200.0),
        row(4, "w1", day + 20.0, day + 200.0),
    ])  # fmt: skip
    usage = {u.owner: u for u in worker_usage(data)}
    w1, w2 = usage["w1"], usage["w2"]
    assert (w1.quiet, w2.quiet) == (day - 200.0, day - 200.0)
    assert (w1.busy, w1.idle, w1.longest_gap) == (370.0, 30.0, 20.0)
    assert w1.utilisation == pytest.approx(370 / 400)
    assert (w2.idle, w2.longest_gap, w2.utilisation) == (0.0, 0.0, 1.0)
    labels = timeline_figure(data).layout.yaxis.ticktext
    assert labels == ("w1 (92%)", "w2 (100%)")
    table = workers_table(list(usage.values()))
    assert "23.9 h in which no trial of the study ran" in table


def test_the_timeline_draws_each_trial_and_each_gap_on_its_workers_row():
    data = StudyData("s")
    data.apply([
        row(0, "w1", 0.0, 10.0), row(1, "w1", 15.0, 20.0, "error"),
        row(2, "w1", 18.0, 30.0), row(3, "w2", 5.0, 6.0),
        row(4, "w2", 6.0, None, "new"),
    ])  # fmt: skip
    fig = timeline_figure(data)
    rows = dict(zip(fig.layout.yaxis.ticktext, fig.layout.yaxis.tickvals, strict=True))
    assert set(rows) == {"w1 (83%)", "w2 (100%)"}  # busy 25 of 30 s; 1 of 1 s
    w1, w2 = rows["w1 (83%)"], rows["w2 (100%)"]
    assert w1 > w2  # the first worker on top

    def bars(name):
        (trace,) = [t for t in fig.data if t.name == name]
        x, y = np.asarray(trace.x) / 1000, np.asarray(trace.y)
        return sorted(zip(y[0::3], x[0::3], x[1::3], strict=True))

    assert bars("done") == [(w2, 5.0, 6.0), (w1, 0.0, 10.0), (w1, 18.0, 30.0)]
    assert bars("error") == [(w1, 15.0, 20.0)]
    assert bars("idle") == [(w1, 10.0, 15.0)]  # 20 -> 18 overlaps: no gap
    assert fig.layout.xaxis.type == "date"


def test_failures_are_grouped_by_type_with_the_first_example():
    data = StudyData("s")
    data.apply([
        TrialRow(0, "error", {}, error_type="ValueError", error_message="bad x"),
        TrialRow(1, "done", {}, loss=1.0),
        TrialRow(2, "error", {}, error_type="Timeout", error_message="killed"),
        TrialRow(3, "error", {}, error_type="ValueError", error_message="bad y"),
    ])  # fmt: skip
    groups = failure_groups(data)
    assert [(g.type, g.count, g.example_tid, g.example_message) for g in groups] == [
        ("ValueError", 2, 0, "bad x"),
        ("Timeout", 1, 2, "killed"),
    ]


def test_params_from_a_space_know_scales_bounds_choices_and_conditions():
    space = {
        "lr": hp.loguniform("lr", np.log(1e-3), np.log(1.0)),
        "n": hp.uniformint("n", 1, 9),
        "opt": hp.choice("opt", ["adam", {"name": "sgd", "m": hp.uniform("m", 0, 1)}]),
    }
    infos = {p.label: p for p in params_from_space_document(to_document(space))}
    assert infos["lr"].log and infos["lr"].low == pytest.approx(1e-3)
    assert infos["n"].type == "int" and not infos["n"].log
    assert infos["opt"].type == "choice"
    assert infos["opt"].choices == ("adam", "#1 name=sgd,m")
    assert infos["opt"].display(0) == "adam"
    assert infos["m"].conditional and not infos["lr"].conditional


def test_hyperopt_trials_convert_with_losses_errors_and_times():
    trials = Trials()
    space = {"x": hp.uniform("x", -1, 1), "c": hp.choice("c", ["a", "b"])}

    def objective(config):
        if config["x"] > 0.8:
            raise ValueError("too big")
        return {"loss": config["x"] ** 2, "status": STATUS_OK}

    fmin(objective, space, algo=rand.suggest, max_evals=40, trials=trials,
         rstate=np.random.default_rng(0), catch_eval_exceptions=True,
         show_progressbar=False)  # fmt: skip
    data = StudyData.from_trials(trials)
    # Every trial, error ones too (Trials keeps them in _dynamic_trials, outside
    # trials.trials), as the same study read from a store shows them.
    assert len(data.rows) == len(trials._dynamic_trials) > len(trials.trials)
    losses = [r.loss for r in data.sorted_rows()]
    assert losses == [loss_or_none(t) for t in trials._dynamic_trials]
    assert {p.label for p in data.params} == {"x", "c"}
    assert data.best_row().loss == pytest.approx(min(filter(None, losses)))
    assert all(isinstance(r.started_at, float) for r in data.sorted_rows())
    errors = [r for r in data.sorted_rows() if r.state == "error"]
    assert len(errors) == len(trials._dynamic_trials) - len(trials.trials)
    assert all(r.error_type == "ValueError" for r in errors)  # where Trials keeps them
    assert [g.type for g in failure_groups(data)] == ["ValueError"]


def loss_or_none(doc):
    result = doc["result"]
    return result.get("loss") if result.get("status") == STATUS_OK else None


def test_pruned_trials_and_intermediate_values_reach_the_report():
    """Written against the pruning feature's names (``pruned``, ``intermediate``)."""
    now = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    data = StudyData("s", params_from_space_document(to_document(
        {"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 1)})))  # fmt: skip
    rows = []
    for tid in range(12):
        curve = {step: 1.0 / (step + 1) + tid for step in range(5)}
        state = "pruned" if tid % 3 == 0 else "done"
        rows.append(TrialRow(
            tid, state, {"x": tid / 12, "y": (tid * 7 % 12) / 12},
            loss=curve[4] if state == "done" else curve[1], status="ok", owner="w",
            started_at=now + tid, finished_at=now + tid + 0.5,
            intermediate=curve if state == "done" else {0: curve[0], 1: curve[1]},
        ))  # fmt: skip
    data.apply(rows)
    report = build_report(data)
    fig = report.figures["intermediate"]
    assert {t.name for t in fig.data} == {"done", "pruned", "pruned here"}
    (where,) = [t for t in fig.data if t.name == "pruned here"]
    assert list(where.x) == [1, 1, 1, 1]  # each at its last report
    assert list(where.customdata) == [0, 3, 6, 9]
    pruned = next(t for t in fig.data if t.name == "pruned")
    assert pruned.line.dash == "dash"
    names = {t.name for t in report.figures["history"].data}
    assert {"done", "pruned", "best so far"} <= names
    assert data.best_row().state == "done"


def test_a_stored_trial_keeps_the_values_its_attempt_reported(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        store.create_study("s", {})
        (tid,) = store.insert_trials("s", [NewTrial({"x": 1.0}, {"x": 1.0})])
        trial = store.claim("w", 60.0, study="s")
        assert store.report("s", tid, trial.token, 0, 5.0)
        assert store.report("s", tid, trial.token, 2, 3.0)
        store.complete("s", tid, trial.token, {"loss": 2.0, "status": "ok"})
        data = StudyData.from_store(store, "s")
    assert data.rows[tid].intermediate == {0: 5.0, 2: 3.0}
    assert data.rows[tid].loss == 2.0


def test_multi_objective_results_get_a_pareto_figure_of_feasible_trials():
    data = StudyData("mo", settings={"objective_names": ["error", "latency"]})
    data.apply(
        [
            TrialRow(t, "done", {"x": t}, losses=(t / 10, 1 - t / 10), status="ok")
            for t in range(10)
        ]
        + [TrialRow(10, "done", {"x": 10}, losses=(0.9, 0.9), status="ok")]
        + [TrialRow(11, "done", {"x": 11}, losses=(0, 0), violation=0.5)]
    )
    assert [r.tid for r in data.pareto_rows()] == list(range(10))
    fig = build_report(data, importances=False).figures["pareto"]
    traces = {t.name: t for t in fig.data}
    assert len(traces["Pareto front"].x) == 10
    assert list(traces["infeasible"].customdata) == [11]  # dominates all, infeasible
    assert fig.layout.xaxis.title.text == "error"
    assert fig.layout.yaxis.title.text == "latency"


def test_the_report_says_how_many_infinite_losses_it_left_out():
    """A study stored before results had to be finite may hold inf losses, which
    the plots and importances cannot place: the report counts them."""
    data = StudyData("s")
    data.apply(
        [TrialRow(t, "done", {"x": t / 10}, loss=t / 10, status="ok") for t in range(6)]
        + [TrialRow(6, "done", {"x": 0.6}, loss=math.inf, status="ok")]
        + [TrialRow(7, "done", {"x": 0.7}, loss=-math.inf, status="ok")]
        + [TrialRow(8, "error", {"x": 0.8})]
    )
    assert data.infinite_count() == 2
    note = (
        "2 done trials with an infinite loss are left out of the plots and the "
        "parameter importance (no place on a loss axis)."
    )
    assert note in build_report(data).notes
    data.apply([TrialRow(7, "done", {"x": 0.5}, loss=0.5, status="ok")])
    assert (
        "1 done trial with an infinite loss is left out" in build_report(data).notes[-1]
    )
    data.apply([TrialRow(6, "done", {"x": 0.5}, loss=0.5, status="ok")])
    assert not any("infinite" in n for n in build_report(data).notes)


def test_the_report_header_says_how_many_done_trials_are_infeasible():
    """As ``hpo-driver status``: done trials that break a constraint are counted."""
    data = StudyData("c")
    data.apply(
        [TrialRow(t, "done", {"x": t}, loss=t, status="ok") for t in range(3)]
        + [TrialRow(t, "done", {"x": t}, loss=t, violation=0.5) for t in (3, 4)]
        + [TrialRow(5, "error", {"x": 5})]
    )
    assert "(done=5 (2 infeasible) error=1)" in summary_html(data)
    data.apply([TrialRow(t, "done", {"x": t}, loss=t) for t in (3, 4)])
    assert "(done=5 error=1)" in summary_html(data)


@pytest.mark.parametrize("over", ["number", "time"])
def test_history_of_a_study_whose_trials_all_failed_says_so(over):
    """No empty date axis (plotly's default starts in January 2000): a text."""
    data = StudyData("failed")
    data.apply(
        TrialRow(t, "error", {"x": t}, started_at=1.7e9 + t, finished_at=1.7e9 + t + 1)
        for t in range(3)
    )
    layout = history_figure(data, over=over).layout
    assert [a.text for a in layout.annotations] == [
        "No trial has a loss to plot (error=3)"
    ]
    assert layout.xaxis.visible is False and layout.yaxis.visible is False
    data.apply([TrialRow(3, "done", {"x": 3}, loss=1.0, finished_at=1.7e9 + 9)])
    layout = history_figure(data, over=over).layout
    assert not layout.annotations and layout.xaxis.visible is not False


def test_a_stored_infinite_loss_leaves_the_pareto_figure_drawn():
    """Results had to be finite only from 2026-11-29; older studies may hold inf."""
    data = StudyData("mo", settings={"n_objectives": 2})
    data.apply(
        [
            TrialRow(0, "done", {"x": 0.2}, losses=(0.2, math.inf), status="ok"),
            TrialRow(1, "done", {"x": 0.4}, losses=(0.4, 0.6), status="ok"),
        ]
    )
    fig = build_report(data, importances=False).figures["pareto"]
    points = [(x, y) for t in fig.data for x, y in zip(t.x, t.y, strict=True)]
    assert points == [(0.4, 0.6)]
    assert fig.layout.title.text == "Pareto front (1 trial)"


def test_objective_names_and_count_come_from_the_study_settings():
    data = StudyData("mo", settings={"objective_names": ["a", "b"], "n_objectives": 2})
    assert (data.n_objectives, data.objective_names) == (2, ["a", "b"])
    unnamed = StudyData("mo", settings={"n_objectives": 3})
    assert unnamed.objective_names == ["loss.0", "loss.1", "loss.2"]
    seen = StudyData("mo")
    seen.apply([TrialRow(0, "done", {}, losses=(1.0, 2.0), status="ok")])
    assert (seen.n_objectives, seen.objective_names) == (2, ["loss.0", "loss.1"])
    assert StudyData("so").objective_names == ["loss"]


def test_constraints_in_the_best_row_and_the_pareto_figure(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'c.sqlite'}") as store:
        store.create_study("c", {})
        results = [
            {"loss": 0.1, "constraints": [0.5]},  # lowest loss, infeasible
            {"loss": 0.4, "constraints": [-0.5]},
            {"loss": 0.3},
        ]
        for result in results:
            (tid,) = store.insert_trials("c", [NewTrial({"x": 1.0}, {"x": 1.0})])
            trial = store.claim("w", 60.0, study="c")
            store.complete("c", tid, trial.token, {**result, "status": "ok"})
        data = StudyData.from_store(store, "c")
    assert [data.rows[t].violation for t in range(3)] == [0.5, 0.0, 0.0]
    assert data.best_row().tid == 2
    history = {t.name: t for t in history_figure(data).data}
    assert list(history["infeasible"].customdata) == [0]
    assert list(history["done"].customdata) == [1, 2]
    best = list(history["best so far"].y)  # feasible trials only, as best_row
    assert math.isnan(best[0]) and best[1:] == [0.4, 0.3]
    mo = StudyData("mo", settings={"objective_names": ["error", "latency"]})
    mo.apply(
        [
            TrialRow(0, "done", {}, losses=(0.0, 0.0), status="ok", violation=1.0),
            TrialRow(1, "done", {}, losses=(0.5, 0.5), status="ok"),
            TrialRow(2, "done", {}, losses=(0.6, 0.6), status="ok"),
        ]
    )
    fig = build_report(mo, importances=False).figures["pareto"]
    traces = {t.name: list(t.customdata) for t in fig.data}
    assert traces == {"infeasible": [0], "trials": [2], "Pareto front": [1]}


def test_a_study_without_max_evals_shows_no_budget(tmp_path):
    """``fmin(max_evals=None)`` beside another stop rule stores ``sys.maxsize``:
    the report and the dashboard show no "of 9223372036854775807"."""
    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        store.create_study("open", {"max_evals": sys.maxsize})
        store.create_study("capped", {"max_evals": 30})
        budgets = {s["name"]: s["max_evals"] for s in LiveStore(store).studies()}
        assert budgets == {"open": None, "capped": 30}
        for name, shown in [("open", "finished <span"), ("capped", "finished of 30")]:
            data = StudyData.from_store(store, name)
            assert summary_of(data)["max_evals"] == budgets[name]
            assert shown in summary_html(data)


def test_pruned_trials_of_an_in_memory_trials_reach_the_report_as_pruned():
    """A pruner's search in process: its pruned trials were rows in state "done"
    with no loss and no reports, so the report drew no orange crosses and no
    intermediate curves for them; now they read as a store's pruned trials do."""
    trials = pruned_search(rand.suggest, max_evals=10, steps=5)
    data = StudyData.from_trials(trials)
    pruned = [r for r in data.sorted_rows() if r.state == "pruned"]
    assert len(pruned) == trials.statuses().count("pruned") > 0
    for row in pruned:
        assert sorted(row.intermediate) == [1, 2]
        assert row.loss == row.intermediate[2]
    figures = build_report(data).figures
    curves = {t.name: t for t in figures["intermediate"].data}
    assert set(curves) == {"done", "pruned", "pruned here"}
    assert list(curves["pruned here"].y) == [row.loss for row in pruned]
    assert "pruned" in {t.name for t in figures["history"].data}
    assert data.best_row().state == "done"
