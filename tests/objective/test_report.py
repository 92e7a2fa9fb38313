"""``report`` / ``should_prune`` / ``TrialPruned`` with in-process ``fmin``."""

from __future__ import annotations

import contextlib
import logging
import math
import threading

import numpy as np
import pytest

from hpo_service import (
    STATUS_PRUNED,
    TrialPruned,
    Trials,
    fmin,
    hp,
    pruners,
    rand,
    report,
    should_prune,
)
from hpo_service.base import Ctrl, Domain, spec_from_misc
from hpo_service.exceptions import AllTrialsFailed, NoActiveTrialError

SPACE = {"x": hp.uniform("x", 0.0, 1.0)}


def curve_objective(config):
    """A learning curve whose level is set by x: loss(t) = x + 1 / (t + 1)."""
    for step in range(10):
        report(config["x"] + 1.0 / (step + 1), step)
        if should_prune():
            raise TrialPruned()
    return config["x"] + 0.1


def run(objective, max_evals=30, **kwargs):
    trials = Trials()
    fmin(
        objective,
        SPACE,
        algo=rand.suggest,
        max_evals=max_evals,
        trials=trials,
        show_progressbar=False,
        rstate=7,
        **kwargs,
    )
    return trials


def test_report_outside_an_objective_names_the_call():
    with pytest.raises(NoActiveTrialError, match=r"report\(0.5, step=3\)"):
        report(0.5, 3)
    with pytest.raises(NoActiveTrialError, match=r"should_prune\(\)"):
        should_prune()
    assert isinstance(NoActiveTrialError("x"), RuntimeError)
    with pytest.raises(NoActiveTrialError, match=r"Domain\(fn, space\)\.evaluate"):
        curve_objective({"x": 0.5})  # says how to run it outside a search


def test_domain_evaluate_runs_a_reporting_objective_to_its_end():
    # hyperopt's way to run the best trial again (for its model) in this process:
    # the objective's reports must neither fail nor prune it there.
    trials = run(curve_objective, pruner=pruners.MedianPruner(n_startup_trials=2))
    assert "pruned" in trials.statuses()
    best = trials.best_trial
    domain = Domain(curve_objective, SPACE)
    again = domain.evaluate(spec_from_misc(best["misc"]), Ctrl(trials, best))
    assert again == {"loss": best["result"]["loss"], "status": "ok"}
    worst = max(trials._dynamic_trials, key=lambda t: t["misc"]["vals"]["x"][0])
    assert worst["result"]["status"] == STATUS_PRUNED  # pruned in the search ...
    point = spec_from_misc(worst["misc"])
    assert domain.evaluate(point, None)["loss"] == point["x"] + 0.1  # ... not here

    def bad_report(config):
        report(math.nan, 0)
        return 0.0

    with pytest.raises(ValueError, match="value=nan"):
        Domain(bad_report, SPACE).evaluate({"x": 0.5}, None)


@pytest.mark.parametrize(
    ("value", "step", "match"),
    [
        (math.nan, 0, "value=nan"),
        (math.inf, 1, r"must be a finite number, but got value=inf \(step=1\)"),
        (-math.inf, 2, r"value=-inf \(step=2\)"),
        ("0.5", 0, "value='0.5'"),
        (True, 0, "value=True"),
        (0.5, -1, "step=-1"),
        (0.5, 1.5, "step=1.5"),
        (0.5, 2**63, "step=9223372036854775808"),
    ],
)
def test_bad_reports_name_the_value(value, step, match):
    def objective(config):
        report(value, step)
        return 0.0

    with pytest.raises(ValueError, match=match):
        run(objective, max_evals=1)


def test_zero_dimensional_arrays_are_reported_as_their_number():
    def objective(config):
        report(np.array(0.5), np.int64(1))
        report(np.float32(0.25), 2)
        return 0.0

    trials = run(objective, max_evals=1)
    assert trials.trials[0]["intermediate"] == {1: 0.5, 2: 0.25}
    with pytest.raises(ValueError, match=r"value=array\(\[0.5\]\)"):
        run(lambda config: report(np.array([0.5]), 0), max_evals=1)


@pytest.mark.parametrize("value", [[0.2, 3.5], (0.2, 3.5), np.array([0.2, 3.5])])
def test_a_report_of_several_values_says_to_report_the_one_to_prune_on(value):
    """A multi-objective study's objective reporting its loss vector was told only
    "`value` must be a number"."""
    match = (
        r"must be a number, but got value=.*0\.2.*3\.5.*\(step=1\): the pruner "
        r"compares one value per step .* report the one to prune on"
    )
    with pytest.raises(ValueError, match=match):
        run(lambda config: report(value, 1), max_evals=1)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_report_of_nan_says_how_to_stop_a_diverged_trial(value):
    with pytest.raises(ValueError, match=r"raise TrialPruned\(\) .* 'fail'"):
        run(lambda config: report(value, 1), max_evals=1)


@pytest.mark.parametrize("steps", [(3, 2), (3, 3)])
def test_steps_must_grow(steps):
    def objective(config):
        for step in steps:
            report(1.0, step)
        return 0.0

    with pytest.raises(ValueError, match=f"step={steps[1]} after step=3"):
        run(objective, max_evals=1)


def test_without_pruner_reports_are_kept_and_nothing_is_pruned():
    trials = run(curve_objective, max_evals=5)
    assert len(trials) == 5
    for doc in trials.trials:
        x = doc["misc"]["vals"]["x"][0]
        expected = {s: x + 1.0 / (s + 1) for s in range(10)}
        assert doc["intermediate"] == pytest.approx(expected)
        assert doc["result"]["status"] == "ok"


def test_an_objective_that_never_reports_is_unchanged():
    trials = run(lambda c: c["x"], max_evals=3, pruner="median")
    assert [doc["intermediate"] for doc in trials.trials] == [{}, {}, {}]
    assert trials.statuses() == ["ok"] * 3


def test_median_pruner_stops_bad_trials_and_they_count():
    pruner = pruners.MedianPruner(n_startup_trials=3)
    trials = run(curve_objective, max_evals=30, pruner=pruner)
    assert len(trials) == 30
    pruned = [d for d in trials.trials if d["result"]["status"] == STATUS_PRUNED]
    done = [d for d in trials.trials if d["result"]["status"] == "ok"]
    assert pruned and len(done) >= 3
    for doc in pruned:
        result, reports = doc["result"], doc["intermediate"]
        assert doc["state"] == 2  # JOB_STATE_DONE: finished, used budget
        assert result["step"] == max(reports) < 9
        assert result["loss"] == reports[result["step"]]
    best_x = trials.argmin["x"]
    assert best_x == min(d["misc"]["vals"]["x"][0] for d in done)
    assert trials.best_trial["result"]["status"] == "ok"


def test_trial_pruned_without_a_report():
    def objective(config):
        raise TrialPruned()

    trials = Trials()
    with pytest.raises(AllTrialsFailed):  # no trial completed: there is no best
        fmin(objective, SPACE, max_evals=2, trials=trials, show_progressbar=False)
    assert [d["result"]["status"] for d in trials.trials] == ["pruned"] * 2
    assert trials.trials[0]["result"]["loss"] is None


def test_report_from_a_thread_the_objective_started():
    def objective(config):
        worker = threading.Thread(target=report, args=(config["x"], 0))
        worker.start()
        worker.join()
        return config["x"]

    trials = run(objective, max_evals=2)
    assert [list(d["intermediate"]) for d in trials.trials] == [[0], [0]]


def test_resumed_trials_teach_the_pruner():
    pruner = pruners.MedianPruner(n_startup_trials=3)
    trials = run(curve_objective, max_evals=3, pruner=pruner)
    assert trials.statuses() == ["ok"] * 3
    worst = max(trials.losses())

    def terrible(config):
        report(worst + 10.0, 0)
        if should_prune():
            raise TrialPruned()
        return 0.0

    fmin(terrible, SPACE, algo=rand.suggest, max_evals=4, trials=trials,
         show_progressbar=False, pruner=pruner)  # fmt: skip
    assert trials.statuses()[-1] == "pruned"


def test_the_progress_line_counts_pruned_trials_and_says_the_rule(caplog, capsys):
    caplog.set_level(logging.INFO, logger="hpo_service.driver._progress")
    trials = Trials()
    fmin(curve_objective, SPACE, algo=rand.suggest, max_evals=12, trials=trials,
         rstate=7, pruner=pruners.MedianPruner(n_startup_trials=3))  # fmt: skip
    pruned = trials.statuses().count(STATUS_PRUNED)
    assert pruned > 0
    last = [r.getMessage() for r in caplog.records][-1]
    assert last.startswith(
        f"12/12 trials finished ({12 - pruned} done, {pruned} pruned: the median "
        "pruner stops trials behind the median)"
    )
    assert ", best loss: " in last
    # then where the trials were pruned, on standard error
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("the median pruner stops a trial whose best value")
    where = [int(max(d["intermediate"])) for d in trials.trials
             if d["result"]["status"] == STATUS_PRUNED]  # fmt: skip
    shown = ", ".join(f"step {s}: {where.count(s)}" for s in sorted(set(where)))
    assert err[1] == f"pruned at {shown}"


def test_fmin_without_progress_shows_no_pruning_counts(capsys):
    median = pruners.MedianPruner(n_startup_trials=3)
    trials = run(curve_objective, max_evals=12, pruner=median)
    assert STATUS_PRUNED in trials.statuses()
    assert capsys.readouterr().err == ""


def test_an_objective_that_never_checks_the_pruner_is_warned_once(caplog):
    def reports_only(config):
        for step in range(10):
            report(config["x"] + 1.0 / (step + 1), step)
        return config["x"]

    caplog.set_level(logging.WARNING, logger="hpo_service.driver._serial")
    median = pruners.MedianPruner(n_startup_trials=3)
    trials = run(reports_only, max_evals=12, pruner=median)
    assert trials.statuses() == ["ok"] * 12  # nothing stops it
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert warnings[0].endswith(
        "the study's pruner said stop at step 0, but the objective never calls "
        "hpo_service.should_prune(), so the trial ran to the end: no trial stops "
        "early unless the objective checks after report(value, step): "
        "`if should_prune(): raise TrialPruned()` (shown once)"
    )
    assert warnings[0].startswith("trial ")


def test_checking_the_pruner_or_having_none_is_not_warned(caplog):
    def checks_and_goes_on(config):
        for step in range(10):
            report(config["x"] + 1.0 / (step + 1), step)
            should_prune()  # asked; going on is the objective's choice
        return config["x"]

    caplog.set_level(logging.WARNING, logger="hpo_service.driver._serial")
    median = pruners.MedianPruner(n_startup_trials=3)
    run(checks_and_goes_on, max_evals=12, pruner=median)
    run(curve_objective, max_evals=12)  # reports, no pruner
    assert caplog.records == []


def test_the_progress_bar_says_the_rule_beside_the_pruned_count():
    """hyperopt's progress callback gets the postfix the bar shows while it runs."""
    shown = []

    class Bar:
        def update(self, n):
            pass

        @property
        def postfix(self):
            return shown[-1] if shown else None

        @postfix.setter
        def postfix(self, text):
            shown.append(text)

    @contextlib.contextmanager
    def callback(initial, total):
        yield Bar()

    trials = Trials()
    fmin(curve_objective, SPACE, algo=rand.suggest, max_evals=12, trials=trials,
         rstate=7, pruner=pruners.MedianPruner(n_startup_trials=3),
         show_progressbar=callback)  # fmt: skip
    pruned = trials.statuses().count(STATUS_PRUNED)
    assert pruned > 0
    assert shown[-1].endswith(
        f", pruned: {pruned} (the median pruner stops trials behind the median)"
    )
    assert shown[0].startswith("best loss: ") and "pruned" not in shown[0]
