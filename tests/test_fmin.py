"""fmin in process: hyperopt's arguments, Trials shape, stop rules, determinism."""

from __future__ import annotations

import functools
import math
import statistics

import numpy as np
import pytest

from hpo_service import (
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    STATUS_FAIL,
    STATUS_OK,
    AllTrialsFailed,
    Trials,
    early_stop,
    fmin,
    hp,
    rand,
    space_eval,
    tpe,
)
from hpo_service.exceptions import SpaceCodeError, SpaceError
from hpo_service.pyll import scope

SPACE = {
    "x": hp.uniform("x", -5, 5),
    "branch": hp.choice("branch", [{"k": 0.0}, {"k": hp.uniform("k", 1, 2)}]),
}


def bowl(config):
    return (config["x"] - 1.0) ** 2 + config["branch"]["k"]


def run(algo=rand.suggest, max_evals=30, seed=0, **kwargs):
    trials = kwargs.pop("trials", Trials())
    best = fmin(
        bowl,
        SPACE,
        algo=algo,
        max_evals=max_evals,
        trials=trials,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
        **kwargs,
    )
    return best, trials


@pytest.mark.parametrize("algo", [rand.suggest, tpe.suggest])
def test_fmin_returns_argmin_of_the_best_trial(algo):
    best, trials = run(algo, max_evals=40)
    assert len(trials) == 40
    losses = trials.losses()
    assert trials.best_trial["result"]["loss"] == min(losses)
    assert best == trials.argmin
    # Choices come back as indices; the config follows from space_eval.
    assert best["branch"] in (0, 1)
    config = space_eval(SPACE, best)
    assert math.isclose(bowl(config), min(losses))


def test_return_argmin_false_returns_the_best_config():
    config = fmin(
        bowl,
        SPACE,
        algo=rand.suggest,
        max_evals=20,
        rstate=np.random.default_rng(1),
        return_argmin=False,
        show_progressbar=False,
    )
    assert set(config) == {"x", "branch"}
    assert isinstance(config["branch"], dict)


@pytest.mark.parametrize("algo", [rand.suggest, tpe.suggest])
def test_same_seed_gives_same_sequence(algo):
    _, first = run(algo, max_evals=25, seed=7)
    _, second = run(algo, max_evals=25, seed=7)
    _, other = run(algo, max_evals=25, seed=8)
    assert first.vals == second.vals
    assert first.vals != other.vals


def test_trial_dicts_have_hyperopts_shape():
    _, trials = run(max_evals=10)
    for doc in trials.trials:
        assert doc["state"] == JOB_STATE_DONE
        assert doc["result"]["status"] == STATUS_OK
        vals = doc["misc"]["vals"]
        assert set(vals) == {"x", "branch", "k"}
        assert all(isinstance(v, list) and len(v) <= 1 for v in vals.values())
        assert (vals["k"] == []) == (vals["branch"] == [0])
        assert doc["misc"]["idxs"]["x"] == [doc["tid"]]
    assert trials.tids == list(range(10))
    assert len(trials.vals["x"]) == 10
    assert trials.statuses() == [STATUS_OK] * 10
    assert trials.count_by_state_unsynced(JOB_STATE_DONE) == 10
    assert trials.count_by_state_unsynced([JOB_STATE_ERROR]) == 0
    assert trials.idxs_vals == (trials.idxs, trials.vals)


def test_trial_dicts_match_hyperopts_keys():
    hyperopt = pytest.importorskip("hyperopt")
    theirs = hyperopt.Trials()
    hyperopt.fmin(
        lambda c: c["x"] ** 2,
        {"x": hyperopt.hp.uniform("x", 0, 1)},
        algo=hyperopt.rand.suggest,
        max_evals=2,
        trials=theirs,
        show_progressbar=False,
        rstate=np.random.default_rng(0),
    )
    ours = Trials()
    fmin(
        lambda c: c["x"] ** 2,
        {"x": hp.uniform("x", 0, 1)},
        algo=rand.suggest,
        max_evals=2,
        trials=ours,
        show_progressbar=False,
    )
    # hyperopt's keys, plus the objective's reports (pruning)
    assert set(ours.trials[0]) == set(theirs.trials[0]) | {"intermediate"}
    assert set(ours.trials[0]["misc"]) >= {"tid", "idxs", "vals"}
    assert ours.trials[0]["state"] == theirs.trials[0]["state"]


def test_max_evals_counts_trials_already_in_the_trials_object():
    _, trials = run(max_evals=10)
    run(max_evals=15, trials=trials)
    assert len(trials) == 15
    assert trials.tids == list(range(15))


def test_dict_results_keep_extra_keys():
    def objective(config):
        return {"loss": config["x"] ** 2, "status": STATUS_OK, "note": "hi"}

    trials = Trials()
    fmin(
        objective,
        {"x": hp.uniform("x", -1, 1)},
        algo=rand.suggest,
        max_evals=3,
        trials=trials,
        show_progressbar=False,
    )
    assert all(r["note"] == "hi" for r in trials.results)


def test_exception_propagates_unless_caught():
    def explode(config):
        raise RuntimeError("boom")

    raised = Trials()
    with pytest.raises(RuntimeError, match="boom"):
        fmin(
            explode,
            SPACE,
            algo=rand.suggest,
            max_evals=3,
            trials=raised,
            show_progressbar=False,
        )
    # As hyperopt: the trial is recorded as an error before the exception leaves.
    assert [t["state"] for t in raised._dynamic_trials] == [JOB_STATE_ERROR]
    assert len(raised) == 0
    trials = Trials()
    # the error says what the trials ended with (it said "every one raised")
    failed = r"no trial finished \(3 ended in error, the last: RuntimeError: boom\)"
    with pytest.raises(AllTrialsFailed, match=failed):
        fmin(
            explode,
            SPACE,
            algo=rand.suggest,
            max_evals=3,
            trials=trials,
            catch_eval_exceptions=True,
            show_progressbar=False,
        )
    # Error trials are in _dynamic_trials and count towards max_evals; as in
    # hyperopt, trials.trials and len() leave them out.
    errors = trials._dynamic_trials
    assert [t["state"] for t in errors] == [JOB_STATE_ERROR] * 3
    assert errors[0]["misc"]["error"] == ("RuntimeError", "boom")
    assert [t["result"]["status"] for t in errors] == [STATUS_FAIL] * 3
    assert len(trials) == 0 and trials.trials == []
    assert trials.count_by_state_unsynced(JOB_STATE_ERROR) == 3


@pytest.mark.parametrize("catch", [True, False])
def test_nan_loss_is_an_error_trial_and_never_stops_the_search(catch, caplog):
    calls = []

    def sometimes_nan(config):
        calls.append(config)
        return float("nan") if len(calls) % 2 else config["x"] ** 2

    trials = Trials()
    fmin(
        sometimes_nan,
        {"x": hp.uniform("x", -1, 1)},
        algo=tpe.suggest,
        max_evals=10,
        trials=trials,
        catch_eval_exceptions=catch,
        show_progressbar=False,
    )
    states = [t["state"] for t in trials._dynamic_trials]
    assert states.count(JOB_STATE_ERROR) == 5 and len(states) == 10
    errors = [t for t in trials._dynamic_trials if t["state"] == JOB_STATE_ERROR]
    assert errors[0]["misc"]["error"][0] == "InvalidLoss"
    assert "NaN" in errors[0]["misc"]["error"][1]
    assert trials.best_trial["state"] == JOB_STATE_DONE
    # Said with the recorded error type, as other invalid results and workers say it.
    said = [r.getMessage() for r in caplog.records if "recorded as an error" in r.msg]
    assert len(said) == 5
    assert all(m.startswith(f"trial {t['tid']}: InvalidLoss: result 'loss' must")
               for m, t in zip(said, errors, strict=True))  # fmt: skip


def test_status_fail_results_are_never_best():
    def fails_low(config):
        if config["x"] < 0:
            return {"status": STATUS_FAIL, "loss": -100.0}
        return config["x"]

    trials = Trials()
    fmin(
        fails_low,
        {"x": hp.uniform("x", -1, 1)},
        algo=rand.suggest,
        max_evals=20,
        trials=trials,
        rstate=np.random.default_rng(3),
        show_progressbar=False,
    )
    assert trials.best_trial["result"]["loss"] >= 0


def test_loss_threshold_stops_early():
    _, trials = run(max_evals=500, loss_threshold=0.5)
    assert len(trials) < 500
    assert min(trials.losses()) <= 0.5
    assert all(loss > 0.5 for loss in trials.losses()[:-1])


def test_timeout_stops_early():
    _, trials = run(max_evals=10**6, timeout=0.3)
    assert 0 < len(trials) < 10**6


def test_max_evals_or_timeout_is_required():
    with pytest.raises(ValueError, match="max_evals"):
        fmin(bowl, SPACE, algo=rand.suggest)


def test_early_stop_no_progress_loss():
    flat_calls = []

    def flat(config):
        flat_calls.append(1)
        return 1.0

    fmin(
        flat,
        SPACE,
        algo=rand.suggest,
        max_evals=100,
        show_progressbar=False,
        early_stop_fn=early_stop.no_progress_loss(5),
    )
    # As in hyperopt, the first trial counts as one without progress.
    assert len(flat_calls) == 5


def test_no_progress_loss_stops_where_hyperopts_does():
    hyperopt = pytest.importorskip("hyperopt")
    hyperopt_early_stop = pytest.importorskip("hyperopt.early_stop")

    def losses_seen(fmin_fn, hp_module, stop_fn):
        seen = []

        def objective(config):
            seen.append(config["x"])
            n = len(seen)
            return 0.5 - n / 100 if n % 7 == 0 and n < 30 else 1.0

        fmin_fn(objective, {"x": hp_module.uniform("x", 0, 1)}, max_evals=200,
                show_progressbar=False, early_stop_fn=stop_fn(10))  # fmt: skip
        return len(seen)

    ours = losses_seen(fmin, hp, early_stop.no_progress_loss)
    theirs = losses_seen(hyperopt.fmin, hyperopt.hp,
                         hyperopt_early_stop.no_progress_loss)  # fmt: skip
    assert ours == theirs < 200


def test_points_to_evaluate_come_first():
    points = [{"x": 1.0, "branch": 0}, {"x": -2.0, "branch": 1, "k": 1.5}]
    best, trials = run(max_evals=5, points_to_evaluate=points)
    assert trials.trials[0]["misc"]["vals"]["x"] == [1.0]
    assert trials.trials[1]["misc"]["vals"]["k"] == [1.5]
    assert best["x"] == 1.0 and trials.best_trial["result"]["loss"] == 0.0


def test_a_point_giving_a_plain_option_is_told_its_index():
    space = {"loss": hp.choice("loss", ["log", "hinge"])}
    message = r"but got 'hinge'; 'hinge' is option 1 of loss: give 1$"
    with pytest.raises(SpaceError, match=message):
        fmin(
            lambda config: 0.0,
            space,
            algo=rand.suggest,
            max_evals=1,
            points_to_evaluate=[{"loss": "hinge"}],
            show_progressbar=False,
        )


def test_points_to_evaluate_are_not_repeated_when_resuming():
    points = [{"x": 1.0, "branch": 0}]
    _, trials = run(max_evals=3, points_to_evaluate=points)
    run(max_evals=6, seed=1, points_to_evaluate=points, trials=trials)
    assert len(trials) == 6
    assert trials.vals["x"].count(1.0) == 1


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [  # a label added, a label removed
        (["x"], ["x", "y"], "lack label 'y', which this space adds"),
        (["x", "z"], ["x"], "hold label 'z', which this space has not"),
    ],
)
def test_resuming_trials_with_a_changed_space_is_refused_before_any_trial(
    old, new, said
):
    # hyperopt refuses such a resume at once (KeyError on the new label); before,
    # every new trial ran, then return_argmin=False raised SpaceError at the end
    # (the best trial had no 'y'), or return_argmin=True gave a point of the old
    # space.
    def space(labels):
        return {label: hp.uniform(label, -5, 5) for label in labels}

    calls = []

    def objective(config):
        calls.append(config)
        return sum(v**2 for v in config.values())

    trials = Trials()
    fmin(objective, space(old), algo=rand.suggest, max_evals=4, trials=trials,
         rstate=1, show_progressbar=False)  # fmt: skip
    calls.clear()
    for return_argmin in (True, False):
        with pytest.raises(SpaceError) as e:
            fmin(objective, space(new), algo=rand.suggest, max_evals=6,
                 trials=trials, rstate=1, show_progressbar=False,
                 return_argmin=return_argmin)  # fmt: skip
        assert calls == [] and len(trials) == 4
        message = str(e.value)
        assert f"4 of its 4 finished trials {said} (trial 0 first)" in message
        assert "new Trials()" in message and "override=True" in message


def test_resuming_trials_after_a_choice_lost_options_is_refused_before_any_trial():
    # before, the old trial (index 2) was skipped as if out of range, every new
    # trial ran, then return_argmin=False raised SpaceError on index 2 at the end
    trials = Trials()
    fmin(lambda c: c["c"], {"c": hp.choice("c", [5, 6, -9])}, algo=rand.suggest,
         max_evals=1, trials=trials, points_to_evaluate=[{"c": 2}],
         show_progressbar=False)  # fmt: skip
    with pytest.raises(SpaceError) as e:
        fmin(lambda c: c["c"], {"c": hp.choice("c", [5, 6])}, algo=rand.suggest,
             max_evals=3, trials=trials, return_argmin=False,
             show_progressbar=False)  # fmt: skip
    assert len(trials) == 1
    said = "1 of its 1 finished trials hold an option index that choice 'c' of "
    assert f"{said}this space has not (trial 0 first)" in str(e.value)


def test_a_same_space_resume_and_points_out_of_range_are_not_refused(caplog):
    space = {
        "x": hp.uniform("x", -5, 5),
        "c": hp.choice("c", [0, {"y": hp.uniform("y", 0, 1)}]),
    }
    trials = Trials()
    with caplog.at_level("WARNING", logger="hpo_service"):
        for evals in (3, 6):  # the first point is outside x's range: run as given
            fmin(lambda c: c["x"] ** 2, space, algo=rand.suggest, max_evals=evals,
                 trials=trials, rstate=1, show_progressbar=False,
                 points_to_evaluate=[{"x": 9.0, "c": 1, "y": 0.5}])  # fmt: skip
    assert len(trials) == 6 and trials.trials[0]["misc"]["vals"]["x"] == [9.0]
    [said] = [r.getMessage() for r in caplog.records if "not points of" in r.msg]
    assert said.startswith("1 of the 3 trials already in `trials` are not points")


def test_bad_point_to_evaluate_names_the_label():
    with pytest.raises(ValueError, match="x"):
        run(max_evals=5, points_to_evaluate=[{"branch": 0}])


def test_partial_settings_reach_the_algorithm():
    _, trials = run(functools.partial(tpe.suggest, n_startup_jobs=3), max_evals=12)
    assert len(trials) == 12


def test_rstate_accepts_int_and_randomstate():
    a = fmin(
        bowl, SPACE, algo=rand.suggest, max_evals=5, rstate=11, show_progressbar=False
    )
    b = fmin(
        bowl, SPACE, algo=rand.suggest, max_evals=5, rstate=11, show_progressbar=False
    )
    assert a == b
    fmin(
        bowl,
        SPACE,
        algo=rand.suggest,
        max_evals=2,
        rstate=np.random.RandomState(0),
        show_progressbar=False,
    )


def test_unsupported_arguments_are_refused():
    with pytest.raises(ValueError, match="pass_expr_memo_ctrl"):
        fmin(bowl, SPACE, max_evals=1, pass_expr_memo_ctrl=True)


@pytest.mark.parametrize("allow_trials_fmin", [True, False])
def test_trials_of_another_kind_are_refused_naming_the_kinds_taken(allow_trials_fmin):
    with pytest.raises(TypeError) as raised:
        fmin(bowl, SPACE, max_evals=1, trials=[], allow_trials_fmin=allow_trials_fmin)
    assert str(raised.value) == (
        "`trials` must be a Trials, a StoreTrials or a MongoTrials, but got list"
    )


@pytest.mark.parametrize(
    ("rules", "said"),
    [
        ({"max_evals": 3}, "max_evals=3 reached"),
        ({"max_evals": 30, "loss_threshold": 1e9}, "loss_threshold=1000000000 reached"),
        (
            {"max_evals": 30, "early_stop_fn": lambda trials, *state: (True, [])},
            "early_stop_fn asked to stop",
        ),
    ],
)
def test_the_end_line_says_what_stopped_the_search(capsys, caplog, rules, said):
    """In the words of ``fmin``'s argument (the stop_words table the driver
    uses): on the end line, and logged when no progress is shown."""
    fmin(bowl, SPACE, algo=rand.suggest, trials=Trials(), rstate=0, **rules)
    end = capsys.readouterr().err.strip().splitlines()[-1]
    assert end.endswith(f"; stopped: {said}"), end
    with caplog.at_level("INFO", logger="hpo_service"):
        fmin(bowl, SPACE, algo=rand.suggest, trials=Trials(), rstate=0,
             show_progressbar=False, **rules)  # fmt: skip
    assert f"stopped: {said}" in [r.getMessage() for r in caplog.records]


def test_a_timeout_before_any_trial_finished_is_named(caplog):
    """A timeout out before the first trial: the error names it (before: "every
    one raised or none ran") and so does the log (before: "timeout of 1e-09 s
    reached")."""
    logged = caplog.at_level("INFO", logger="hpo_service")
    with logged, pytest.raises(AllTrialsFailed) as raised:
        fmin(bowl, SPACE, algo=rand.suggest, trials=Trials(), rstate=0,
             max_evals=5, timeout=1e-9, show_progressbar=False)  # fmt: skip
    assert str(raised.value) == (
        "no trial finished (timeout=1e-09 s ran out before any trial finished), so "
        "there is no best trial to return"
    )
    said = [r.getMessage() for r in caplog.records]
    assert "stopped: timeout=1e-09 s ran out" in said


@scope.define
def _reciprocal_for_fmin_test(d):
    return 1 / d


_reciprocal_for_fmin_test_line = _reciprocal_for_fmin_test.__code__.co_firstlineno


def test_a_space_whose_own_code_raises_ends_as_an_error_trial_not_queued():
    """A ``scope`` function of the space divides by zero for the sampled point.
    As hyperopt (its Domain.evaluate makes the config inside the trial): without
    catch_eval_exceptions fmin raises SpaceCodeError naming the point, from the
    original error, and the trial ends as an error trial, so a resumed Trials goes
    on to the next point; with it, the trial is an error trial saying where the
    space raised and the search goes on. Before, the SpaceCodeError was raised
    either way and the trial was left queued: every resume hit the same point."""
    space = {"v": scope._reciprocal_for_fmin_test(hp.quniform("d", -0.4, 0.4, 1))}
    trials = Trials()
    with pytest.raises(SpaceCodeError) as raised:
        fmin(lambda c: c["v"], space, algo=rand.suggest, max_evals=3,
             trials=trials, rstate=0, show_progressbar=False)  # fmt: skip
    assert str(raised.value).startswith(
        "the space raised ZeroDivisionError for the sampled point {'d': "
    ), raised.value
    assert str(raised.value).endswith(": float division by zero")
    assert isinstance(raised.value.__cause__, ZeroDivisionError)
    assert [t["state"] for t in trials._dynamic_trials] == [JOB_STATE_ERROR]
    # resumed with catch_eval_exceptions: the error trial stays, none is queued,
    # and each later point of the space ends as an error trial too
    with pytest.raises(AllTrialsFailed):
        fmin(lambda c: c["v"], space, algo=rand.suggest, max_evals=3,
             trials=trials, rstate=0, catch_eval_exceptions=True,
             show_progressbar=False)  # fmt: skip
    states = [t["state"] for t in trials._dynamic_trials]
    assert states == [JOB_STATE_ERROR] * 3, states
    for trial in trials._dynamic_trials:
        kind, message = trial["misc"]["error"]
        assert kind == "SpaceCodeError"
        assert message.startswith("the space raised ZeroDivisionError for the ")
        assert message.endswith(
            ": float division by zero (in _reciprocal_for_fmin_test at "
            f"{__file__}:{_reciprocal_for_fmin_test_line + 2})"  # below the decorator
        ), message
        assert trial["book_time"] is not None


@scope.define
def _cholesky_for_fmin_test(d):
    return float(np.linalg.cholesky(np.array([[d]]))[0, 0])  # raises at d == 0


@scope.define
def _stdev_for_fmin_test(d):
    return statistics.stdev([d])  # raises: one data point


@pytest.mark.parametrize(
    ("function", "kind"),
    [("_cholesky_for_fmin_test", "LinAlgError"),
     ("_stdev_for_fmin_test", "StatisticsError")],
)  # fmt: skip
def test_a_space_raising_inside_a_library_is_placed_in_the_users_code(
    function, kind, caplog
):
    """The space's own code calls a library (numpy: site-packages; statistics:
    the standard library) which raises: the error trial and the warning name the
    user's function and line, not the library's (before: the innermost frame, a
    line of numpy's linalg or of statistics.py)."""
    code = globals()[function].__code__
    space = {"v": getattr(scope, function)(hp.quniform("d", -0.4, 0.4, 1))}
    trials = Trials()
    with pytest.raises(AllTrialsFailed):
        fmin(lambda c: c["v"], space, algo=rand.suggest, max_evals=2, trials=trials,
             rstate=0, catch_eval_exceptions=True, show_progressbar=False)  # fmt: skip
    where = f" (in {function} at {__file__}:{code.co_firstlineno + 2})"
    for trial in trials._dynamic_trials:
        name, message = trial["misc"]["error"]
        assert (name, message.split(" for the ")[0]) == (
            "SpaceCodeError",
            f"the space raised {kind}",
        ), message
        assert message.endswith(where), message
    said = [r.getMessage() for r in caplog.records]
    warned = [line for line in said if "SpaceCodeError" in line]
    assert warned and all(where in line for line in warned), said


def test_a_point_the_space_cannot_evaluate_is_refused_and_stays_queued():
    """A point to evaluate without a value for an active label (``y``, under the
    chosen option) cannot be evaluated: fmin raises SpaceError and the trial is
    left queued, as it was before the space-raises change (which marked it running
    first, so a Trials inspected after the error held a trial running for ever)."""
    space = {"c": hp.choice("c", [0, {"y": hp.uniform("y", 0, 1)}])}
    trials = Trials()
    with pytest.raises(SpaceError, match="'y' has none"):
        fmin(lambda c: 0.0, space, algo=rand.suggest, max_evals=3, trials=trials,
             points_to_evaluate=[{"c": 1}], show_progressbar=False)  # fmt: skip
    assert [(t["state"], t["book_time"]) for t in trials._dynamic_trials] == [
        (JOB_STATE_NEW, None)
    ]
