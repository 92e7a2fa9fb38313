"""Multi-objective studies through the store: workers, driver, StoreTrials, CLI."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hpo_service import StoreTrials, fmin, hp, rand, tpe
from hpo_service._common.words import counted
from hpo_service.driver._study import open_study, space_settings
from hpo_service.driver._study_loop import Driver, DriverOptions
from hpo_service.driver._suggest import Suggester
from hpo_service.exceptions import (
    AllTrialsFailed,
    MultiObjectiveError,
    StudyMismatchError,
)
from hpo_service.objective._result import pareto_front
from hpo_service.store import TrialState
from tests.helpers.multi_objective import (
    constant_losses,
    pruned_or_two_losses,
    pruned_space,
    three_losses,
    two_losses,
    varying_constraints,
)

REPO = Path(__file__).resolve().parents[2]
SPACE = {"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 0.5)}
FAST = DriverOptions(progress=False, min_poll=0.005, max_poll=0.05)


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo_service.driver", *args, "--db", db_url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_store_trials_with_workers_returns_the_front(db_url):
    trials = StoreTrials(db_url, "mo", workers=2, objectives=["error", "cost"])
    try:
        rng = np.random.default_rng(0)
        best = fmin(two_losses, SPACE, algo=tpe.suggest, max_evals=16, trials=trials,
                    rstate=rng, show_progressbar=False)  # fmt: skip
        front = trials.best_trials
        assert len(trials) == 16 and trials.n_objectives == 2
        assert front and best == [
            {k: v[0] for k, v in t["misc"]["vals"].items() if v} for t in front
        ]
        losses = np.array([t["result"]["loss"] for t in trials.trials])
        for trial in front:  # nothing dominates a front trial
            mine = np.array(trial["result"]["loss"])
            assert not np.any(np.all(losses <= mine, 1) & np.any(losses < mine, 1))
        settings = trials.store.get_study("mo").settings
        assert settings["n_objectives"] == 2
        assert settings["objective_names"] == ["error", "cost"]
    finally:
        trials.close()
    again = StoreTrials(db_url, "mo")
    with pytest.raises(MultiObjectiveError, match="`loss_threshold` needs a single"):
        fmin(two_losses, SPACE, max_evals=20, trials=again, loss_threshold=0.1,
             show_progressbar=False)  # fmt: skip
    assert again.objective_names == ["error", "cost"]
    again.close()
    three = StoreTrials(db_url, "mo", objectives=["a", "b", "c"])
    with pytest.raises(StudyMismatchError) as refused:  # named as fmin's caller wrote
        fmin(two_losses, SPACE, max_evals=20, trials=three, show_progressbar=False)
    three.close()
    assert str(refused.value) == (
        "`objectives` must name each objective of study 'mo', which has 2 "
        "objectives, but got 3 names: objectives=['a', 'b', 'c']"
    )

    shown = cli(db_url, "best", "--study", "mo")
    assert shown.returncode == 0, shown.stderr
    assert f"Pareto front: {counted(len(front), 'trial')}" in shown.stdout
    assert "error=" in shown.stdout and "cost=" in shown.stdout
    as_json = json.loads(cli(db_url, "best", "--study", "mo", "--json").stdout)
    assert sorted(r["tid"] for r in as_json) == sorted(t["tid"] for t in front)
    exported = cli(db_url, "trials", "--study", "mo", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert len(rows) == 16
    for row in rows:
        assert json.loads(row["loss"]) == [
            float(row["objective.error"]),
            float(row["objective.cost"]),
        ]
    status = cli(db_url, "status", "--study", "mo").stdout
    assert f"Pareto front: {counted(len(front), 'trial')}" in status


def test_workers_turn_a_wrong_number_of_losses_into_error_trials(db_url):
    trials = StoreTrials(db_url, "wrong", workers=1, objectives="a,b")
    try:
        with pytest.raises(AllTrialsFailed):
            fmin(three_losses, SPACE, max_evals=3, trials=trials,
                 show_progressbar=False)  # fmt: skip
        errors = trials.store.get_trials("wrong", [TrialState.ERROR])
    finally:
        trials.close()
    assert len(errors) == 3
    for trial in errors:
        assert trial.error["type"] == "InvalidLoss"
        assert "has 2 objectives (a, b)" in trial.error["message"]
        assert "got 3" in trial.error["message"]


def test_workers_turn_a_changed_number_of_constraints_into_error_trials(db_url):
    """A real hpo-worker fixes the study's constraint count at the first result
    carrying constraints (recorded with the study) and turns a result with another
    count, or with none after it, into an error trial naming both counts."""
    trials = StoreTrials(db_url, "varying", workers=1, objectives="a,b")
    try:
        fmin(varying_constraints, SPACE, algo=rand.suggest, max_evals=12,
             trials=trials, rstate=np.random.default_rng(3),
             show_progressbar=False)  # fmt: skip
        count = trials.store.get_study("varying").settings["n_constraints"]
        done = trials.store.get_trials("varying", [TrialState.DONE])
        errors = trials.store.get_trials("varying", [TrialState.ERROR])
    finally:
        trials.close()
    carried = [len(t.result.get("constraints") or []) for t in done]
    assert count in (1, 2) and set(carried) <= {0, count}
    assert errors, "seed 3 gives both counts: some results must be refused"
    for trial in errors:
        message = trial.error["message"]
        assert trial.error["type"] == "InvalidResultError"
        assert f"the study has {counted(count, 'constraint')}" in message
        assert ("but got none" in message) or (f"but got {3 - count}:" in message)


def new_study(store, name, objective, **given):
    settings = {
        "objective": objective,
        **space_settings(SPACE),
        "max_evals": 30,
        "seed": 1,
        **given,
    }
    return open_study(store, name, settings)[0]


def test_driver_records_the_objective_count_and_stops_without_front_progress(
    store, db_url, thread_workers
):
    ref = "tests.helpers.multi_objective:constant_losses"
    settings = new_study(store, "flat", ref, no_improvement=5)
    with thread_workers(db_url, constant_losses):
        outcome = Driver(store, "flat", settings, SPACE, options=FAST).run()
    assert outcome.reason == "no_improvement"
    counts = outcome.counts
    # the first trial joined the front; five more without progress stop the study
    assert 6 <= counts[TrialState.DONE] <= 6 + 2  # + what was running meanwhile
    assert store.get_study("flat").settings["n_objectives"] == 2


def test_loss_threshold_is_refused_once_the_study_shows_several_objectives(
    store, db_url, thread_workers
):
    ref = "tests.helpers.multi_objective:two_losses"
    settings = new_study(store, "thr", ref, loss_threshold=0.5)
    with thread_workers(db_url, lambda c: two_losses(c)["loss"]):  # noqa: SIM117
        with pytest.raises(MultiObjectiveError, match="`loss_threshold`"):
            Driver(store, "thr", settings, SPACE, options=FAST).run()
    with pytest.raises(StudyMismatchError, match="has 2 objective"):
        new_study(store, "thr", ref, objective_names=["a", "b", "c"])


def test_renaming_or_reordering_the_objectives_needs_override(store):
    ref = "tests.helpers.multi_objective:two_losses"
    new_study(store, "named", ref)  # unnamed: naming it later is no change
    assert new_study(store, "named", ref, objective_names=["error", "latency"])
    for names in (["latency", "error"], ["a", "b"]):
        stored = "objective names: stored ['error', 'latency']"
        with pytest.raises(
            StudyMismatchError, match=re.escape(f"{stored}, given {names}")
        ) as refused:
            new_study(store, "named", ref, objective_names=names)
        message = str(refused.value)
        assert "exists with different objective names (" in message
        # the Python API names its own argument, not hpo-driver's flag
        assert "pass override=True to continue" in message
        assert "--override" not in message
    given = {
        "objective": ref,
        **space_settings(SPACE),
        "max_evals": 30,
        "objective_names": ["latency", "error"],
    }
    settings, _ = open_study(store, "named", given, override=True)
    assert settings.objective_names == ["latency", "error"]


def constrained(config):
    """The loss falls with x, but only x <= 0.5 satisfies the constraint."""
    x = config["x"]
    return {"loss": 1 - x, "constraints": [x - 0.5]}


def never_feasible(config):
    return {"loss": -config["x"], "constraints": [config["x"] + 1.0]}


def test_one_objective_best_prefers_feasible_trials_everywhere(
    store, db_url, thread_workers
):
    ref = "tests.helpers.multi_objective:two_losses"
    settings = new_study(store, "c", ref, algorithm="rand", max_evals=40)
    with thread_workers(db_url, constrained):
        outcome = Driver(store, "c", settings, SPACE, options=FAST).run()
    done = store.get_trials("c", [TrialState.DONE])
    feasible = [t for t in done if t.config["x"] <= 0.5]
    assert feasible and len(feasible) < len(done)  # an infeasible one has less loss
    lowest = min(feasible, key=lambda t: t.result["loss"])
    assert outcome.best.tid == lowest.tid
    shown = cli(db_url, "best", "--study", "c")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"best trial {lowest.tid}: loss ")
    assert "violates" not in shown.stdout
    as_json = json.loads(cli(db_url, "best", "--study", "c", "--json").stdout)
    assert as_json["tid"] == lowest.tid
    status = json.loads(cli(db_url, "status", "--study", "c", "--json").stdout)
    best = {
        "tid": lowest.tid,
        "loss": lowest.result["loss"],
        "violation": 0.0,
        "before_override": None,
    }
    assert status["best"] == best


def test_without_a_feasible_trial_the_least_violation_is_shown_as_such(
    store, db_url, thread_workers
):
    ref = "tests.helpers.multi_objective:two_losses"
    settings = new_study(
        store, "v", ref, algorithm="rand", max_evals=8, loss_threshold=-0.5
    )
    with thread_workers(db_url, never_feasible):
        outcome = Driver(store, "v", settings, SPACE, options=FAST).run()
    # losses below the threshold, all infeasible: the threshold never stopped it
    assert outcome.reason == "max_evals"
    done = store.get_trials("v", [TrialState.DONE])
    least = min(done, key=lambda t: t.config["x"])
    assert outcome.best.tid == least.tid
    shown = cli(db_url, "best", "--study", "v").stdout
    assert f"best trial {least.tid}" in shown
    assert "violates its constraints by" in shown and "no trial is feasible" in shown
    status = cli(db_url, "status", "--study", "v").stdout
    assert f"(trial {least.tid}), violates its constraints by" in status


def test_progress_shows_the_front_size_with_several_objectives(
    store, db_url, thread_workers, caplog
):
    ref = "tests.helpers.multi_objective:two_losses"
    settings = new_study(store, "p", ref, max_evals=12)
    options = DriverOptions(progress=True, min_poll=0.005, max_poll=0.05)
    workers = thread_workers(db_url, lambda c: two_losses(c)["loss"])
    with caplog.at_level("INFO", logger="hpo_service.driver._progress"), workers:
        Driver(store, "p", settings, SPACE, options=options).run()
    lines = [r.getMessage() for r in caplog.records if "trials finished" in r.message]
    front = json.loads(cli(db_url, "best", "--study", "p", "--json").stdout)
    assert lines[-1] == (
        f"12/12 trials finished (12 done), Pareto front: {counted(len(front), 'trial')}"
    )


def test_progress_counts_every_trial_of_a_front_with_ties(
    store, db_url, thread_workers, caplog
):
    # equal loss vectors: each trial is on the front, as `hpo-driver best` lists
    ref = "tests.helpers.multi_objective:constant_losses"
    settings = new_study(store, "ties", ref, max_evals=5)
    options = DriverOptions(progress=True, min_poll=0.005, max_poll=0.05)
    workers = thread_workers(db_url, constant_losses)
    with caplog.at_level("INFO", logger="hpo_service.driver._progress"), workers:
        Driver(store, "ties", settings, SPACE, options=options).run()
    lines = [r.getMessage() for r in caplog.records if "trials finished" in r.message]
    front = json.loads(cli(db_url, "best", "--study", "ties", "--json").stdout)
    assert len(front) == 5
    assert lines[-1] == "5/5 trials finished (5 done), Pareto front: 5 trials"


def slow_constrained_losses(config):
    """Two losses trading off along x, feasible for x <= 0.7; slow enough that
    several trials are in flight whenever the driver suggests."""
    time.sleep(0.02)
    x, y = config["x"], config["y"]
    return {"loss": [x + y, (1 - x) ** 2 + y], "constraints": [x - 0.7]}


@pytest.mark.parametrize("algorithm", ["tpe", "rand"])
def test_search_gets_the_trials_in_flight_and_the_front_stays_feasible(
    store, db_url, thread_workers, monkeypatch, algorithm
):
    """MOTPE (``tpe``) and random search in a study run by the driver and four
    workers: pending trials reach the algorithm, the front is feasible."""
    calls = []
    original = Suggester.suggest_params

    def spy(self, rng, n=1, pending=(), weights=None):
        calls.append((self.history.n_objectives, len(self.history), list(pending)))
        return original(self, rng, n, pending, weights)

    monkeypatch.setattr(Suggester, "suggest_params", spy)
    ref = "tests.helpers.multi_objective:two_losses"
    settings = new_study(store, "fly", ref, max_evals=40, algorithm=algorithm)
    with thread_workers(db_url, slow_constrained_losses, n=4):
        outcome = Driver(store, "fly", settings, SPACE, options=FAST).run()
    assert outcome.reason == "max_evals"
    trials = store.get_trials("fly")
    assert [t.state for t in trials] == [TrialState.DONE] * 40
    # suggestions made after the first results saw two objectives and, with four
    # workers busy, the params of unfinished trials as pending
    learned = [(n_done, pending) for m, n_done, pending in calls if m == 2]
    assert learned and any(pending for _, pending in learned)
    stored = [t.params for t in trials]
    for n_done, pending in learned:
        assert all(p in stored for p in pending)
        assert n_done + len(pending) <= 40
    results = [t.result for t in trials]
    front = pareto_front(results)
    assert front and all(results[i]["constraints"][0] <= 0 for i in front)
    assert any(r["constraints"][0] > 0 for r in results)  # some were infeasible
    shown = json.loads(cli(db_url, "best", "--study", "fly", "--json").stdout)
    assert sorted(r["tid"] for r in shown) == sorted(trials[i].tid for i in front)


def test_store_trials_with_a_pruner_says_what_it_judges(db_url, caplog):
    # hpo-driver start says it; StoreTrials' fmin said nothing
    trials = StoreTrials(db_url, "judged", workers=1, objectives=["a", "b"])
    try:
        fmin(pruned_or_two_losses, pruned_space, max_evals=3, trials=trials,
             pruner="median", show_progressbar=False)  # fmt: skip
    finally:
        trials.close()
    judged = "pruner median: each trial is judged by the one value its objective"
    assert caplog.text.count(judged) == 1


def test_an_import_keeps_the_study_constraint_count(store):
    """Imported results follow the rule of a search: the first one carrying
    constraints fixes the count (one without any before it is kept), a later one
    with another count, or none, refuses the import, naming its origin."""
    from hpo_service.driver._warm_start import Evaluated, import_results

    def record(tid, constraints):
        result = {"loss": [1.0 + tid, 2.0 - tid], "status": "ok"}
        if constraints is not None:
            result["constraints"] = constraints
        return Evaluated({"x": tid / 10}, result, f"file#{tid}")

    report = import_results(
        store, "c", [record(0, None), record(1, [-1.0, 0.5])], create=True
    )
    assert report.imported == [0, 1]
    assert store.get_study("c").settings["n_constraints"] == 2
    for constraints, got in (([0.1], "1: constraints=[0.1]"), (None, "none")):
        with pytest.raises(ValueError) as refused:
            import_results(store, "c", [record(2, constraints)])
        assert str(refused.value) == (
            "file#2: the study has 2 constraints (from its first result that carries "
            f"constraints), so a result must have 2 constraints, but got {got}"
        )
    with pytest.raises(ValueError, match=r"file#3: .*has 1 constraint .*got 2"):
        import_results(
            store, "new", [record(2, [0.0]), record(3, [0.0, 1.0])], create=True
        )
    assert "new" not in [s.name for s in store.list_studies()]
