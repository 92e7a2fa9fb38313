"""In-process fmin with several objectives: the front, counts, stop rules."""

from __future__ import annotations

import itertools
from functools import partial

import numpy as np
import pytest

from hpo_service import (
    JOB_STATE_ERROR,
    STATUS_OK,
    TrialPruned,
    Trials,
    fmin,
    grid,
    hp,
    rand,
    report,
    tpe,
)
from hpo_service.early_stop import no_progress_loss
from hpo_service.exceptions import InvalidResultError, MultiObjectiveError
from tests.helpers.multi_objective import pruned_or_two_losses, pruned_space

SPACE = {"x": hp.uniform("x", 0, 1), "kind": hp.choice("kind", ["a", "b"])}


def two_losses(config):
    x = config["x"]
    return {"loss": [x, (1 - x) ** 2], "status": STATUS_OK}


def run(fn, algo=tpe.suggest, evals=30, trials=None, **kwargs):
    trials = Trials() if trials is None else trials
    best = fmin(
        fn,
        SPACE,
        algo=algo,
        max_evals=evals,
        trials=trials,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
        **kwargs,
    )
    return best, trials


@pytest.mark.parametrize("algo", [tpe.suggest, rand.suggest])
def test_fmin_returns_the_pareto_front(algo):
    best, trials = run(two_losses, algo)
    front = trials.best_trials
    # Every trial is on the front of this problem: x and (1-x)^2 trade off exactly.
    assert len(front) == len(trials) == 30
    assert best == [{k: v[0] for k, v in t["misc"]["vals"].items() if v} for t in front]
    assert trials.n_objectives == 2
    assert all(len(loss) == 2 for loss in trials.losses())
    with pytest.raises(MultiObjectiveError, match="use best_trials"):
        _ = trials.best_trial
    configs, _ = run(two_losses, algo, return_argmin=False)
    assert {c["kind"] for c in configs} <= {"a", "b"}


def test_front_leaves_out_dominated_and_infeasible_trials():
    def fn(config):
        x, penalty = config["x"], 1.0 if config["kind"] == "b" else 0.0
        return {"loss": [x, 1 - x + penalty], "constraints": [x - 0.7]}

    _, trials = run(fn, rand.suggest, evals=40)
    front = trials.best_trials
    assert front
    for trial in front:
        x = trial["misc"]["vals"]["x"][0]
        assert x <= 0.7 and trial["misc"]["vals"]["kind"][0] == 0
    dominated = [t for t in trials if t["misc"]["vals"]["kind"][0] == 1]
    assert dominated and not any(t in front for t in dominated)


def test_without_a_feasible_trial_the_front_is_empty_and_fmin_says_so(caplog):
    def fn(config):
        return {"loss": [config["x"], 1 - config["x"]], "constraints": [1.0]}

    with caplog.at_level("WARNING", logger="hpo_service.fmin"):
        best, trials = run(fn, evals=6)
    assert best == [] and trials.best_trials == [] and len(trials) == 6
    assert (
        "the Pareto front is empty: none of the 6 trials is a success with every "
        "constraint <= 0 (6 violate their constraints)"
    ) in caplog.text


def test_an_empty_front_of_pruned_and_failed_trials_says_what_they_were(caplog):
    """A study whose trials were all pruned (or failed) was told only that none
    satisfied its constraints, though it had none."""

    def fn(config):
        if config["x"] < 0.5:
            report(config["x"], 1)
            raise TrialPruned()
        return {"loss": [config["x"], 1.0], "status": "fail"}

    points = [{"x": 0.1}, {"x": 0.2}, {"x": 0.9}]
    trials = Trials(objectives=["error", "size"])
    space = {"x": hp.uniform("x", 0, 1)}
    with caplog.at_level("WARNING", logger="hpo_service.fmin"):
        best = fmin(fn, space, algo=rand.suggest, max_evals=3, trials=trials,
                    points_to_evaluate=points, show_progressbar=False)  # fmt: skip
    assert best == []
    assert (
        "none of the 3 trials is a success with every constraint <= 0 "
        "(2 pruned, 1 returned status 'fail')"
    ) in caplog.text


def test_a_changed_number_of_losses_is_an_error_naming_both_counts():
    counter = itertools.count()

    def fn(config):
        return [config["x"], 1.0] if next(counter) < 3 else [config["x"], 1.0, 2.0]

    with pytest.raises(InvalidResultError, match=r"2 objective.*got 3"):
        run(fn, evals=5)
    counter = itertools.count()
    _, trials = run(fn, evals=6, catch_eval_exceptions=True)
    docs = trials._dynamic_trials  # error trials included
    assert [t["state"] for t in docs] == [2, 2, 2, 3, 3, 3]  # done x3, then errors
    assert "got 3" in docs[3]["misc"]["error"][1]


@pytest.mark.parametrize(
    ("counts", "said"),
    [
        ([None, 2, 2, 1, 2, 3], ["got 1: constraints=", "got 3: constraints="]),
        ([2, None, 2, 2, 2, 2], ["but got none"]),
    ],
)
def test_a_changed_number_of_constraints_is_an_error_naming_both_counts(counts, said):
    """The count is fixed by the first result carrying constraints (a result
    without any before it stays feasible); another count, or none, after it is an
    error trial, as a changed number of losses is."""
    counter = itertools.count()

    def fn(config):
        n = counts[next(counter)]
        return {
            "loss": [config["x"], 1.0],
            "constraints": None if n is None else [-1.0] * n,
        }

    _, trials = run(fn, evals=len(counts), catch_eval_exceptions=True)
    docs = trials._dynamic_trials
    bad = [i for i, n in enumerate(counts) if n != 2 and i > counts.index(2)]
    assert [t["state"] == JOB_STATE_ERROR for t in docs] == [
        i in bad for i in range(len(counts))
    ]
    messages = [docs[i]["misc"]["error"][1] for i in bad]
    for message, part in zip(messages, said, strict=True):
        assert "the study has 2 constraints" in message and part in message
    assert trials.n_constraints == 2
    counter = itertools.count()
    with pytest.raises(InvalidResultError, match=r"has 2 constraints.*but got"):
        run(fn, evals=len(counts))


def test_the_constraint_count_is_read_once_per_result_not_rescanned(monkeypatch):
    """In process, each result's constraints are counted a bounded number of
    times: before, every trial counted those of every earlier result
    (Trials.n_constraints scanned them all while no result carried any, the
    common case: 300 trials made 45,000 counts, and 4,000 trials took twice the
    CPU). A resumed search still takes the count of the results it holds."""
    from hpo_service.driver import _serial
    from hpo_service.objective import _result

    calls = itertools.count()
    count = _result.constraints_count

    def counting(result):
        next(calls)
        return count(result)

    monkeypatch.setattr(_result, "constraints_count", counting)
    monkeypatch.setattr(_serial, "constraints_count", counting, raising=False)
    n = 300
    run(lambda c: [c["x"], 1.0], algo=rand.suggest, evals=n)
    assert next(calls) <= 3 * n
    constrained = Trials()
    run(lambda c: {"loss": [c["x"], 1.0], "constraints": [-1.0, -1.0]},
        algo=rand.suggest, evals=2, trials=constrained)  # fmt: skip
    with pytest.raises(InvalidResultError, match=r"has 2 constraints.*but got 1"):
        run(lambda c: {"loss": [c["x"], 1.0], "constraints": [-1.0]},
            algo=rand.suggest, evals=3, trials=constrained)  # fmt: skip


def test_named_objectives_fix_the_count_from_the_first_trial():
    trials = Trials(objectives=["error", "latency"])
    with pytest.raises(InvalidResultError, match=r"\(error, latency\).*got 3"):
        run(lambda c: [1.0, 2.0, 3.0], trials=trials, evals=2)
    assert Trials(objectives="error, latency").objective_names == ["error", "latency"]
    for bad in ([], ["a", "a"], ["a", ""]):
        with pytest.raises(ValueError, match="`objectives` must be"):
            Trials(objectives=bad)


def test_loss_threshold_is_refused_for_several_objectives():
    with pytest.raises(MultiObjectiveError, match="`loss_threshold` needs a single"):
        run(two_losses, loss_threshold=0.1)
    trials = Trials()
    with pytest.raises(MultiObjectiveError):
        run(two_losses, trials=trials, loss_threshold=0.1)
    assert len(trials) == 1  # the trial that showed two losses is kept
    with pytest.raises(MultiObjectiveError):  # resuming knows at once
        run(two_losses, trials=trials, loss_threshold=0.1, evals=5)
    assert len(trials) == 1


def test_no_progress_loss_counts_trials_that_do_not_join_the_front():
    losses = iter([[3, 3], [2, 2], [1, 1]] + [[5, 5]] * 20)
    _, trials = run(lambda c: next(losses), evals=20, early_stop_fn=no_progress_loss(4))
    assert len(trials) == 3 + 4
    losses = iter([[3, 1], [1, 3]] + [[2, 2]] + [[9, 9]] * 20)
    _, trials = run(lambda c: next(losses), evals=20, early_stop_fn=no_progress_loss(2))
    assert len(trials) == 3 + 2  # [2, 2] is not dominated: it joined the front
    with pytest.raises(MultiObjectiveError, match="percent_increase"):
        run(two_losses, early_stop_fn=no_progress_loss(3, percent_increase=1.0))


def constrained(config):
    """The loss falls with x, but only x <= 0.5 satisfies the constraint."""
    x = config["x"]
    return {"loss": 1 - x, "constraints": [x - 0.5], "status": STATUS_OK}


def test_one_objective_best_is_the_best_feasible_trial():
    best, trials = run(constrained, rand.suggest, evals=40)
    feasible = [t for t in trials if t["misc"]["vals"]["x"][0] <= 0.5]
    assert feasible and len(feasible) < len(trials)  # an infeasible trial has less loss
    lowest = min(feasible, key=lambda t: t["result"]["loss"])
    assert trials.best_trial is lowest and trials.best_trials == [lowest]
    assert best == trials.argmin and best["x"] == lowest["misc"]["vals"]["x"][0]
    assert trials.average_best_error() == lowest["result"]["loss"]


def test_one_objective_without_a_feasible_trial_picks_the_least_violation():
    def never_feasible(config):
        return {"loss": -config["x"], "constraints": [config["x"] + 1.0]}

    best, trials = run(never_feasible, rand.suggest, evals=10)
    assert best["x"] == min(t["misc"]["vals"]["x"][0] for t in trials)
    assert trials.best_trials == []  # the front holds feasible trials only


def test_loss_threshold_and_no_progress_loss_count_feasible_trials_only():
    # x near 1: loss near 0 but infeasible; the threshold needs a feasible loss
    points = iter([0.9, 0.95, 0.99, 0.4, 0.45, 0.1, 0.2, 0.3] + [0.0] * 10)
    fn = lambda c: constrained({"x": next(points)})  # noqa: E731
    _, trials = run(fn, evals=12, loss_threshold=0.56)
    assert len(trials) == 5  # stopped at x=0.45, the first feasible loss <= 0.56
    points = iter([0.4, 0.99, 0.98, 0.97, 0.45, 0.1] + [0.0] * 10)
    _, trials = run(fn, evals=12, early_stop_fn=no_progress_loss(4))
    # x=0.4 sets the bar and counts as stale (as in hyperopt); the three infeasible
    # trials have lower losses but never improve: stale 4 after 4 trials
    assert len(trials) == 4


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_an_infinite_or_nan_loss_among_several_is_an_error_trial(bad):
    def sometimes_bad(config):
        x = config["x"]
        return {"loss": [x, bad if x < 0.5 else 1 - x], "status": STATUS_OK}

    _, trials = run(sometimes_bad, rand.suggest, evals=12)
    errors = [t for t in trials._dynamic_trials if t["state"] == JOB_STATE_ERROR]
    assert 0 < len(errors) < 12
    assert {e["misc"]["error"][0] for e in errors} == {"InvalidLoss"}
    word = "finite numbers" if bad == float("inf") else "NaN"
    assert all(word in e["misc"]["error"][1] for e in errors)
    assert all(np.isfinite(loss).all() for loss in trials.losses() if loss)


def _pruned_first_search(trials, algo=grid.suggest, fn=pruned_or_two_losses, **kw):
    fmin(fn, pruned_space, algo=algo, max_evals=6, trials=trials,
         show_progressbar=False, **kw)  # fmt: skip
    return trials


@pytest.mark.parametrize("names", [None, ["a", "b"]])
def test_a_pruned_trial_has_no_loss_in_a_multi_objective_study(names, caplog):
    # Grid order: trials 0-2 are pruned (one reported value each), 3-5 return two
    # losses. losses() has one shape: a list per trial, or None.
    trials = _pruned_first_search(Trials(objectives=names))
    assert trials.losses() == [None, None, None, [0.0, 2.0], [1.0, 1.0], [2.0, 0.0]]
    assert [r["loss"] for r in trials.results] == trials.losses()
    assert trials.statuses() == ["pruned"] * 3 + ["ok"] * 3
    # The value it reported stays in its intermediate values.
    assert [t["intermediate"] for t in trials.trials[:3]] == [
        {1: 10.0}, {1: 11.0}, {1: 12.0}
    ]  # fmt: skip
    assert [t["tid"] for t in trials.best_trials] == [3, 4, 5]
    assert "counts as failed" not in caplog.text


def test_with_tpe_pruned_trials_first_do_not_make_loss_vectors_failures(caplog):
    trials = Trials()
    points = [{"kind": 0, "x": 0.0}, {"kind": 0, "x": 1.0}, {"kind": 1, "x": 1.0}]
    algo = partial(tpe.suggest, n_startup_jobs=2)
    rstate = np.random.default_rng(0)
    _pruned_first_search(trials, algo, points_to_evaluate=points, rstate=rstate)
    assert "counts as failed" not in caplog.text
    assert trials.losses()[:3] == [None, None, [1.0, 1.0]]
    assert all(loss is None or len(loss) == 2 for loss in trials.losses())


def _one_loss(config):
    report(config["x"] + 10.0, step=1)
    if config["kind"] == "pruned":
        raise TrialPruned()
    return config["x"]


def test_a_pruned_trial_keeps_its_value_as_loss_with_one_objective():
    trials = _pruned_first_search(Trials(), fn=_one_loss)
    assert trials.losses() == [10.0, 11.0, 12.0, 0.0, 1.0, 2.0]
    assert [r["loss"] for r in trials.results] == trials.losses()


def test_the_end_line_counts_every_trial_of_a_front_with_ties(caplog):
    """Equal loss vectors dominate none of each other: all are on the front, and
    the end line counts them as `best_trials` (and `hpo-driver best`) list them."""
    with caplog.at_level("INFO", logger="hpo_service.driver._progress"):
        trials = Trials()
        fmin(lambda config: [1.0, 1.0], SPACE, max_evals=4, trials=trials)
    assert len(trials.best_trials) == 4
    assert "4/4 trials finished (4 done), Pareto front: 4 trials" in caplog.text


@pytest.mark.parametrize("ragged", [[[0.5], 1.0], [[0.5, 1.0], [2.0]], [0.5, [1.0]]])
def test_a_ragged_loss_is_an_invalid_loss_naming_it(ragged):
    # numpy cannot make an array of these: fmin raised its ValueError ("setting an
    # array element with a sequence") instead of the InvalidLoss a worker records
    def sometimes_ragged(config):
        x = config["x"]
        return {"loss": ragged if x < 0.5 else [x, 1 - x], "status": STATUS_OK}

    with pytest.raises(InvalidResultError, match=r"result 'loss' must be a number"):
        run(sometimes_ragged, rand.suggest, evals=12)
    _, trials = run(
        sometimes_ragged, rand.suggest, evals=12, catch_eval_exceptions=True
    )
    errors = [t for t in trials._dynamic_trials if t["state"] == JOB_STATE_ERROR]
    assert 0 < len(errors) < 12
    assert all(str(ragged) in e["misc"]["error"][1] for e in errors)


_JUDGED = "pruner median: each trial is judged by the one value its objective reports"


@pytest.mark.parametrize(
    ("trials", "fn", "said"),
    [
        (Trials(objectives=["a", "b"]), pruned_or_two_losses, 1),  # known at start
        (Trials(), pruned_or_two_losses, 1),  # known from the first result
        (Trials(), _one_loss, 0),
    ],
)
def test_pruning_several_objectives_says_what_the_pruner_judges(
    trials, fn, said, caplog
):
    # hpo-driver start says it; fmin said nothing, in process or on a store
    _pruned_first_search(trials, fn=fn, pruner="median")
    assert caplog.text.count(_JUDGED) == said


def _counting_results(monkeypatch):
    """Count the results ``Trials.results`` builds (each access builds them all)."""
    built = itertools.count()
    plain = Trials.results.fget

    def counting(self):
        results = plain(self)
        for _ in results:
            next(built)
        return results

    monkeypatch.setattr(Trials, "results", property(counting))
    return built


def test_the_objective_count_is_not_rebuilt_from_every_result_per_trial(monkeypatch):
    """In process, the search reads the objective count once and then keeps it
    from the first success, and Trials.n_objectives reads results only up to the
    first success: before, each trial read the count six times (four in the
    search, two in Trials.refresh), each building the list of every result (300
    trials built about 270,000 results)."""
    built = _counting_results(monkeypatch)
    n = 300
    run(two_losses, algo=rand.suggest, evals=n)
    assert next(built) <= 3 * n


def test_the_objective_count_is_fixed_by_the_first_success_after_failures():
    """Failed trials leave the count unknown; the first success fixes it (two
    losses), a later single loss is refused, and loss_threshold is refused as
    soon as the count is known, not before."""
    calls = itertools.count()

    def fails_then_two_then_one(config):
        i = next(calls)
        if i < 3:
            raise RuntimeError("not yet")
        return [config["x"], 1.0] if i < 5 else config["x"]

    trials = Trials()
    run(fails_then_two_then_one, algo=rand.suggest, evals=7, trials=trials,
        catch_eval_exceptions=True)  # fmt: skip
    errors = [t["misc"].get("error") for t in trials._dynamic_trials]
    assert [e and e[0] for e in errors] == [
        "RuntimeError", "RuntimeError", "RuntimeError", None, None,
        "InvalidLoss", "InvalidLoss",
    ]  # fmt: skip
    assert "has 2 objectives" in errors[-1][1]
    calls, late = itertools.count(), Trials()
    with pytest.raises(MultiObjectiveError, match="`loss_threshold` needs a single"):
        run(fails_then_two_then_one, algo=rand.suggest, evals=7, trials=late,
            catch_eval_exceptions=True, loss_threshold=-1.0)  # fmt: skip
    assert len(late._dynamic_trials) == 4  # three failures, then the first success
