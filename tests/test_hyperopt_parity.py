"""hyperopt code runs with only the imports changed: fmin's arguments, module paths,
warm starts, checkpoints, results and errors behave as hyperopt's do (or better, where
noted). Cases compare with hyperopt itself when it is installed.
"""

from __future__ import annotations

import contextlib
import importlib
import pickle

import numpy as np
import pytest

from hpo_service import (
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    STATUS_OK,
    Trials,
    anneal,
    base,
    early_stop,
    exceptions,
    fmin,
    hp,
    rand,
    space_eval,
    tpe,
)
from hpo_service.fmin import generate_trials_to_calculate
from tests.helpers.hyperopt_side_by_side import LIBRARIES
from tests.helpers.progress import RecordedProgress

QUIET = {"show_progressbar": False}


def _square(x):
    return x**2


# ---- stop rules --------------------------------------------------------------------


def test_loss_threshold_alone_runs_until_the_threshold():
    trials = Trials()
    fmin(
        _square,
        hp.uniform("x", -10, 10),
        algo=rand.suggest,
        loss_threshold=0.001,
        trials=trials,
        rstate=np.random.default_rng(0),
        **QUIET,
    )
    assert trials.best_trial["result"]["loss"] <= 0.001
    losses = trials.losses()
    assert all(loss > 0.001 for loss in losses[:-1])  # stopped at the first hit


def test_early_stop_fn_alone_runs_until_it_says_stop():
    trials = Trials()
    fmin(
        _square,
        hp.uniform("x", -10, 10),
        algo=tpe.suggest,
        early_stop_fn=lambda t, n=0: (n + 1 >= 7, [n + 1]),
        trials=trials,
        rstate=np.random.default_rng(0),
        **QUIET,
    )
    assert len(trials) == 7


@pytest.mark.parametrize("max_evals", [4.0, np.float64(4), 4])
def test_a_whole_float_max_evals_is_that_many_trials(max_evals):
    trials = Trials()  # hyperopt compares, so max_evals=1e3 or n / 2 run
    fmin(_square, hp.uniform("x", -1, 1), max_evals=max_evals, trials=trials, **QUIET)
    assert len(trials) == 4


@pytest.mark.parametrize("infinite", [float("inf"), np.inf])
def test_an_infinite_max_evals_is_no_limit_as_none_is(infinite):
    trials = Trials()  # hyperopt users write max_evals=np.inf beside a stop rule
    fmin(
        _square,
        hp.uniform("x", -10, 10),
        algo=rand.suggest,
        max_evals=infinite,
        loss_threshold=0.01,
        trials=trials,
        rstate=np.random.default_rng(0),
        **QUIET,
    )
    assert trials.best_trial["result"]["loss"] <= 0.01
    with pytest.raises(ValueError, match="give `max_evals`, or a stop rule"):
        fmin(_square, hp.uniform("x", -1, 1), max_evals=infinite)


@pytest.mark.parametrize("max_evals", [3.5, float("nan"), "4", True])
def test_a_max_evals_that_is_no_whole_number_is_refused(max_evals):
    with pytest.raises(TypeError, match="`max_evals` must be an int"):
        fmin(_square, hp.uniform("x", -1, 1), max_evals=max_evals)


def test_no_stop_rule_at_all_is_a_clear_error():
    with pytest.raises(ValueError, match="give `max_evals`, or a stop rule"):
        fmin(_square, hp.uniform("x", -1, 1))


@pytest.mark.parametrize("timeout", [-1, 0, True, "5", float("nan")])
def test_bad_timeout_names_the_argument(timeout):
    with pytest.raises(ValueError) as info:
        fmin(_square, hp.uniform("x", -1, 1), max_evals=3, timeout=timeout)
    assert str(info.value) == (
        "The timeout argument should be None or a positive value. "
        f"Given value: {timeout}"
    )


@pytest.mark.parametrize("threshold", ["a", True, None.__class__, float("nan")])
def test_bad_loss_threshold_names_the_argument(threshold):
    with pytest.raises(ValueError) as info:
        fmin(_square, hp.uniform("x", -1, 1), max_evals=3, loss_threshold=threshold)
    assert str(info.value) == (
        "The loss_threshold argument should be None or a numeric value. "
        f"Given value: {threshold}"
    )


def test_hyperopts_progress_callbacks_by_their_module_path(capfd):
    from hpo_service import progress

    assert progress.default_callback is progress.tqdm_progress_callback
    fmin(_square, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=3,
         show_progressbar=progress.tqdm_progress_callback)  # fmt: skip
    shown = capfd.readouterr().err
    assert "3/3" in shown and "best loss: " in shown
    fmin(_square, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=3,
         show_progressbar=progress.no_progress_callback)  # fmt: skip
    assert capfd.readouterr().err == ""


def test_show_progressbar_takes_hyperopts_progress_callback():
    recorded = RecordedProgress()
    trials = Trials()
    fmin(_square, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=4,
         trials=trials, show_progressbar=recorded)  # fmt: skip
    assert recorded.calls[0] == ("enter", 0, 4)
    assert recorded.calls[-1] == ("exit",)
    assert recorded.finished == 4
    assert recorded.postfix.startswith("best loss: ")
    resumed = RecordedProgress()
    fmin(_square, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=6,
         trials=trials, show_progressbar=resumed)  # fmt: skip
    assert resumed.calls[0] == ("enter", 4, 6)
    assert resumed.finished == 2
    quiet = RecordedProgress()
    fmin(_square, hp.uniform("x", -1, 1), max_evals=1, show_progressbar=quiet,
         verbose=False)  # fmt: skip
    assert quiet.calls == []  # verbose=False shows nothing, as in hyperopt


@LIBRARIES
def test_each_progress_update_shows_the_best_loss_with_that_trial(lib):
    # hyperopt sets the callback's postfix before its update(n), so a bar drawn at
    # the update shows the best loss including the trial just finished.
    recorded, trials = RecordedProgress(), lib.Trials()
    lib.fmin(_square, lib.hp.uniform("x", -1, 1), algo=lib.rand.suggest,
             max_evals=5, trials=trials, rstate=np.random.default_rng(4),
             show_progressbar=recorded)  # fmt: skip
    shown = [float(text.removeprefix("best loss: ")) for text in recorded.shown]
    assert shown == pytest.approx(np.minimum.accumulate(trials.losses()), rel=1e-5)


# ---- failures --------------------------------------------------------------------


def _raises(config):
    raise RuntimeError("no")


def test_every_trial_raising_with_return_argmin_false_returns_none():
    trials = Trials()
    best = fmin(
        _raises,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=2,
        trials=trials,
        catch_eval_exceptions=True,
        return_argmin=False,
        **QUIET,
    )
    assert best is None
    assert len(trials) == 0 and len(trials._dynamic_trials) == 2
    assert all(t["state"] == JOB_STATE_ERROR for t in trials._dynamic_trials)
    assert all(t["misc"]["error"] is not None for t in trials._dynamic_trials)


def test_error_trials_are_counted_as_hyperopt_counts_them():
    hyperopt = pytest.importorskip("hyperopt")

    def half_fail(x):
        if x > 0.5:
            raise ValueError("high")
        return x

    counts = []
    for lib in (hyperopt, importlib.import_module("hpo_service")):
        trials = lib.Trials()
        lib.fmin(
            half_fail,
            lib.hp.uniform("x", 0, 1),
            algo=lib.rand.suggest,
            max_evals=20,
            trials=trials,
            catch_eval_exceptions=True,
            rstate=np.random.default_rng(5),
            show_progressbar=False,
        )
        errors = trials.count_by_state_unsynced(JOB_STATE_ERROR)
        counts.append((len(trials), len(trials.trials), errors, trials.losses()))
    assert counts[0] == counts[1]


def test_a_caught_objective_error_is_logged_with_its_trial(caplog):
    """hyperopt logs each caught exception ("job exception: ..."), so a broken
    objective does not fail silently."""

    def half_fail(x):
        if x > 0:
            raise ValueError(f"high x={x}")
        return x

    trials = Trials()
    with caplog.at_level("WARNING", logger="hpo_service"):
        fmin(half_fail, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=8,
             trials=trials, catch_eval_exceptions=True,
             rstate=np.random.default_rng(5), **QUIET)  # fmt: skip
    errors = [d for d in trials._dynamic_trials if d["state"] == JOB_STATE_ERROR]
    logged = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert errors and len(logged) == len(errors)
    for doc, message in zip(errors, logged, strict=True):
        x = doc["misc"]["vals"]["x"][0]
        assert f"trial {doc['tid']}:" in message
        assert f"ValueError: high x={x}" in message


def test_nan_loss_is_an_error_trial_with_the_reason_and_the_search_goes_on():
    calls = []

    def diverges(x):
        calls.append(x)
        return {"loss": float("nan") if len(calls) == 2 else x, "status": STATUS_OK}

    trials = Trials()
    fmin(diverges, hp.uniform("x", 0, 1), algo=tpe.suggest, max_evals=6, trials=trials)
    (error,) = [t for t in trials._dynamic_trials if t["state"] == JOB_STATE_ERROR]
    assert error["tid"] == 1
    assert error["misc"]["error"][0] == "InvalidLoss"
    assert len(calls) == 6 and len(trials) == 5


def test_duplicate_label_is_hyperopts_exception():
    with pytest.raises(exceptions.DuplicateLabel, match="'x'"):
        fmin(
            _square,
            [hp.uniform("x", -5, 5), hp.uniform("x", -5, 5)],
            algo=rand.suggest,
            max_evals=5,
        )
    assert issubclass(exceptions.DuplicateLabel, exceptions.BadSearchSpace)


def test_a_space_built_with_hyperopts_hp_says_which_hp_to_use():
    hyperopt = pytest.importorskip("hyperopt")
    with pytest.raises(exceptions.SpaceError, match=r"use `hpo_service\.hp`") as info:
        fmin(_square, {"x": hyperopt.hp.uniform("x", 0, 1)}, max_evals=2)
    assert "space['x']" in str(info.value)


@pytest.mark.parametrize("allow_trials_fmin", [True, False])
def test_hyperopts_own_trials_say_which_trials_to_use(allow_trials_fmin):
    """A hyperopt Trials (a leftover import, or one unpickled from a hyperopt run)
    is refused by name, with the way to carry its trials over, and left as it was."""
    hyperopt = pytest.importorskip("hyperopt")
    theirs = hyperopt.Trials()
    hyperopt.fmin(_square, hyperopt.hp.uniform("x", -1, 1), algo=hyperopt.rand.suggest,
                  max_evals=2, trials=theirs, show_progressbar=False)  # fmt: skip
    with pytest.raises(TypeError, match=r"from hpo_service import Trials") as info:
        fmin(_square, hp.uniform("x", -1, 1), max_evals=4, trials=theirs,
             allow_trials_fmin=allow_trials_fmin, **QUIET)  # fmt: skip
    assert "hyperopt.base.Trials" in str(info.value)
    assert len(theirs) == 2
    carried = base.trials_from_docs(theirs._dynamic_trials)  # what the message says
    fmin(_square, hp.uniform("x", -1, 1), max_evals=4, trials=carried, **QUIET)
    assert len(carried) == 4 and carried.losses()[:2] == theirs.losses()


# ---- results ---------------------------------------------------------------------


class _Model:
    def __init__(self, x):
        self.x = x


def _generalises(x):
    return {"loss": (x - 0.3) ** 2, "true_loss": x, "status": STATUS_OK}


def _noisy(x):
    return {**_generalises(x), "loss_variance": 0.004, "true_loss_variance": 0.1}


@pytest.mark.parametrize("objective", [_square, _generalises, _noisy])
def test_average_best_error_is_hyperopts(objective):
    """The best trial's true_loss (the generalisation error hyperopt's docs name),
    averaged over the likely best when losses carry a variance: hyperopt's value."""
    hyperopt = pytest.importorskip("hyperopt")
    errors = []
    for lib in (hyperopt, importlib.import_module("hpo_service")):
        trials = lib.Trials()
        lib.fmin(objective, lib.hp.uniform("x", 0, 1), algo=lib.rand.suggest,
                 max_evals=30, trials=trials, rstate=np.random.default_rng(3),
                 show_progressbar=False)  # fmt: skip
        errors.append(trials.average_best_error())
    assert errors[1] == pytest.approx(errors[0], rel=1e-12)
    assert type(errors[1]) is float


def test_in_process_results_keep_arbitrary_objects_and_attachments():
    trials = Trials()
    fmin(
        lambda x: {
            "loss": x**2,
            "status": STATUS_OK,
            "model": _Model(x),
            "curve": np.arange(3) * x,
            "attachments": {"blob": pickle.dumps(x)},
        },
        hp.uniform("x", -1, 1),
        algo=rand.suggest,
        max_evals=4,
        trials=trials,
        **QUIET,
    )
    for trial in trials.trials:
        x = trial["misc"]["vals"]["x"][0]
        assert isinstance(trial["result"]["model"], _Model)
        assert trial["result"]["model"].x == x
        assert isinstance(trial["result"]["curve"], np.ndarray)
        assert "attachments" not in trial["result"]
        assert pickle.loads(trials.trial_attachments(trial)["blob"]) == x
        assert trials.attachments[f"ATTACH::{trial['tid']}::blob"] is not None
    view = trials.trial_attachments(trials.trials[0])
    view["note"] = b"set later"
    assert "note" in view and set(view) == {"blob", "note"}
    del view["note"]
    assert "note" not in view


def test_a_0d_array_loss_is_a_number():
    best = fmin(
        lambda x: np.asarray((x - 0.5) ** 2),
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=5,
        **QUIET,
    )
    assert 0 <= best["x"] <= 1


# ---- warm starts -------------------------------------------------------------------


def test_generate_trials_to_calculate_runs_the_points_first():
    points = [{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 1.0}]
    trials = generate_trials_to_calculate(points)
    assert [t["state"] for t in trials.trials] == [JOB_STATE_NEW] * 2
    seen = []

    def fn(space):
        seen.append((space["x"], space["y"]))
        return space["x"] ** 2 + space["y"] ** 2

    best = fmin(
        fn,
        {"x": hp.uniform("x", -10, 10), "y": hp.uniform("y", -10, 10)},
        algo=tpe.suggest,
        max_evals=10,
        trials=trials,
        **QUIET,
    )
    assert seen[:2] == [(0.0, 0.0), (1.0, 1.0)]
    assert best == {"x": 0.0, "y": 0.0}
    assert len(trials) == 10


def test_a_point_outside_the_space_is_evaluated_as_given_but_not_learnt_from():
    trials = generate_trials_to_calculate([{"x": -100}])
    fmin(
        lambda x: x,
        hp.uniform("x", -5, 5),
        algo=rand.suggest,
        max_evals=500,
        trials=trials,
        early_stop_fn=early_stop.no_progress_loss(10),
        **QUIET,
    )
    assert len(trials) == 10  # hyperopt's own test: the -100 point is best
    assert trials.best_trial["misc"]["vals"]["x"] == [-100]


def test_points_to_evaluate_take_numpy_values():
    trials = Trials()
    fmin(
        lambda c: c["n"] + c["c"],
        {"n": hp.randint("n", 10), "c": hp.choice("c", np.arange(1, 4))},
        algo=tpe.suggest,
        max_evals=3,
        trials=trials,
        points_to_evaluate=[{"n": np.int64(3), "c": np.int32(2)}],
        **QUIET,
    )
    first = trials.trials[0]
    assert first["misc"]["vals"] == {"n": [3], "c": [2]}
    assert first["result"]["loss"] == 6


# ---- seeds and resumes ------------------------------------------------------------


@pytest.mark.parametrize("algo", [rand.suggest, anneal.suggest, tpe.suggest])
def test_a_resumed_search_never_replays_and_a_fresh_one_repeats(algo):
    space = {"x": hp.uniform("x", -5, 5), "k": hp.randint("k", 1000)}

    def run(trials, max_evals):
        fmin(
            lambda c: c["x"] ** 2,
            space,
            algo=algo,
            max_evals=max_evals,
            trials=trials,
            rstate=np.random.default_rng(42),
            **QUIET,
        )
        return [(t["misc"]["vals"]["x"][0], t["misc"]["vals"]["k"][0]) for t in trials]

    resumed = Trials()
    first = run(resumed, 5)
    both = run(resumed, 10)  # same seed again, on the same trials
    assert both[:5] == first
    assert not set(both[5:]) & set(first)
    assert run(Trials(), 5) == first  # the same seed on fresh trials


@pytest.mark.parametrize("keep", ["in memory", "in a checkpoint"])
def test_a_trial_interrupted_by_ctrl_c_runs_again_on_resume(tmp_path, keep):
    """hyperopt leaves it running for good (counted, never run); here it is queued
    again, also from a checkpoint saved while it ran."""
    seen = []

    def interrupted_at_third(x):
        seen.append(x)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return x**2

    where = (
        {"trials": Trials()}
        if keep == "in memory"
        else {"trials_save_file": str(tmp_path / "trials.pkl")}
    )
    space = hp.uniform("x", -1, 1)
    for _ in range(2):  # interrupted, then resumed
        with contextlib.suppress(KeyboardInterrupt):
            fmin(interrupted_at_third, space, algo=rand.suggest, max_evals=5,
                 catch_eval_exceptions=True, **where, **QUIET)  # fmt: skip
    trials = where.get("trials") or pickle.load(open(where["trials_save_file"], "rb"))  # noqa: SIM115
    assert len(trials) == 5 and len(seen) == 6
    assert [d["state"] for d in trials._dynamic_trials] == [JOB_STATE_DONE] * 5
    assert seen[3] == seen[2]  # the interrupted point runs first
    assert trials.trials[2]["result"]["loss"] == seen[2] ** 2


def test_trials_save_file_checkpoints_every_trial_and_resumes(tmp_path):
    path = tmp_path / "trials.pkl"
    space = hp.uniform("x", -5, 5)
    calls = []

    def stops_after_three(x):
        calls.append(x)
        if len(calls) == 4:
            raise KeyboardInterrupt  # the run is killed mid-way
        return x**2

    with pytest.raises(KeyboardInterrupt):
        fmin(stops_after_three, space, max_evals=8, trials_save_file=str(path))
    saved = pickle.loads(path.read_bytes())
    assert [t["state"] for t in saved._dynamic_trials][:3] == [JOB_STATE_DONE] * 3
    resumed_calls = []
    fmin(
        lambda x: resumed_calls.append(x) or x**2,
        space,
        max_evals=8,
        trials_save_file=str(path),
        **QUIET,
    )
    final = pickle.loads(path.read_bytes())
    assert final.count_by_state_unsynced(JOB_STATE_DONE) == 8
    assert calls[:3] == [t["misc"]["vals"]["x"][0] for t in final.trials[:3]]
    assert len(resumed_calls) == 5


def test_a_hyperopt_checkpoint_resumes_here(tmp_path):
    hyperopt = pytest.importorskip("hyperopt")
    path = str(tmp_path / "hyperopt.pkl")
    hyperopt.fmin(
        _square,
        hyperopt.hp.uniform("x", -5, 5),
        algo=hyperopt.rand.suggest,
        max_evals=4,
        trials_save_file=path,
        show_progressbar=False,
    )
    fmin(_square, hp.uniform("x", -5, 5), max_evals=7, trials_save_file=path, **QUIET)
    final = pickle.load(open(path, "rb"))  # noqa: SIM115
    assert isinstance(final, Trials) and len(final) == 7


def test_trials_of_two_searches_merge_with_trials_from_docs():
    """hyperopt's recipe (hyperopt issue 495): ``trials_from_docs(list(t1) +
    list(t2))``; both searches numbered their trials from 0."""
    space = hp.uniform("x", -5, 5)
    first, second = Trials(), Trials()
    for trials, seed in [(first, 1), (second, 2)]:
        fmin(_square, space, algo=rand.suggest, max_evals=5, trials=trials,
             rstate=np.random.default_rng(seed), **QUIET)  # fmt: skip
    merged = base.trials_from_docs(list(first) + list(second))
    assert len(merged) == 10
    assert sorted(d["tid"] for d in merged) == list(range(10))
    for doc in merged:
        assert doc["misc"]["tid"] == doc["tid"]
        assert doc["misc"]["idxs"]["x"] == [doc["tid"]]
    assert sorted(merged.losses()) == sorted(first.losses() + second.losses())
    best = min([first, second], key=lambda t: t.best_trial["result"]["loss"])
    assert merged.argmin == best.argmin
    assert [d["tid"] for d in second] == list(range(5))  # the sources are untouched
    fmin(_square, space, algo=tpe.suggest, max_evals=15, trials=merged, **QUIET)
    assert len(merged) == 15
    assert len({d["tid"] for d in merged}) == 15


# ---- spaces ------------------------------------------------------------------------


def test_annotated_space():
    def objective(x: hp.uniform("x", -10, 10), y: hp.uniform("y", -10, 10)):
        return (x * y) ** 2

    trials = Trials()
    fmin(objective, space="annotated", algo=tpe.suggest, max_evals=10, trials=trials)
    assert len(trials) == 10
    assert set(trials.vals) == {"x", "y"}

    def bad(x: hp.uniform("x", -10, 10), y: float):
        return x * y

    with pytest.raises(exceptions.InvalidAnnotatedParameter, match="'y'"):
        fmin(bad, space="annotated", algo=tpe.suggest, max_evals=10)


def test_uniformint_honours_q():
    space = hp.uniformint("a", 1, 10, q=2)
    trials = Trials()
    fmin(lambda a: a, space, algo=rand.suggest, max_evals=40, trials=trials, **QUIET)
    values = trials.vals["a"]
    assert {type(v) for v in values} == {int}
    assert set(values) <= {0, 2, 4, 6, 8, 10} and len(set(values)) >= 4
    with pytest.raises(exceptions.SpaceError, match="q is a whole number"):
        hp.uniformint("a", 1, 10, q=0.5)


def test_space_eval_and_module_paths_of_hyperopt_examples():
    from hpo_service.base import JOB_STATE_ERROR as base_error
    from hpo_service.pyll import scope
    from hpo_service.pyll.stochastic import sample

    assert base_error == JOB_STATE_ERROR
    space = hp.choice(
        "a",
        [
            ("case 1", 1 + hp.lognormal("c1", 0, 1)),
            ("case 2", hp.uniform("c2", -10, 10)),
        ],
    )
    assert space_eval(space, {"a": 0, "c1": 1.0}) == ("case 1", 2.0)
    assert sample(space, rng=np.random.default_rng(0))[0] in ("case 1", "case 2")
    assert sample(scope.int(hp.quniform("q", 0, 10, 1))) in range(11)
