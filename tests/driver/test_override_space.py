"""Resuming a study with a new space (--override): trials queued from the old space
are cancelled, not run; queued trials the new space gives unchanged are kept."""

from __future__ import annotations

import logging

import pytest

from hpo_service import StoreTrials, fmin, hp, rand
from hpo_service.driver._study import open_study, space_settings
from hpo_service.driver._warm_start import enqueue
from hpo_service.exceptions import AllTrialsFailed, StudyMismatchError
from hpo_service.store import TrialState
from tests.e2e.objectives import (
    always_fails,
    quadratic,
    squares_and_sizes,
    sum_of_squares,
)

OLD = {"x": hp.uniform("x", -5.0, 5.0), "y": hp.choice("y", [-2.0, 3.0])}
NEW = {"x": hp.uniform("x", 0.0, 5.0), "y": hp.choice("y", [-2.0, 4.0])}


def _given(space):
    return {"objective": "tests.e2e.objectives:quadratic", "max_evals": 20,
            **space_settings(space)}  # fmt: skip


def test_queued_trials_of_the_old_space_are_cancelled(store, caplog):
    open_study(store, "s", _given(OLD))
    kept, outside, changed = enqueue(
        store, "s", [{"x": 1.0, "y": 0}, {"x": -1.0, "y": 0}, {"x": 2.0, "y": 1}]
    )
    with caplog.at_level(logging.WARNING):
        open_study(store, "s", _given(NEW), override=True)
    states = {t.tid: t.state for t in store.get_trials("s")}
    assert states == {
        kept: TrialState.NEW,  # x=1 and y=-2.0 mean the same in the new space
        outside: TrialState.CANCELLED,  # x=-1 is outside the new space
        changed: TrialState.CANCELLED,  # y=1 now means 4.0, not 3.0
    }
    said = "cancelled 2 queued trials suggested from the old space"
    assert f"{said} (tids {outside}, {changed})" in caplog.text


def test_a_stale_trial_claimed_before_the_cancel_lands_runs_and_is_not_named(
    store, caplog
):
    """A worker claims a stale trial between the driver's read of the queue and its
    cancel: that trial runs on (its result counts), and the warning says so
    instead of counting it among the cancelled."""
    open_study(store, "s", _given(OLD))
    outside, changed = enqueue(store, "s", [{"x": -1.0, "y": 0}, {"x": 2.0, "y": 1}])
    cancel = store.cancel

    def claimed_first(*args, **kwargs):
        assert store.claim("w", 60.0, study="s").tid == outside
        return cancel(*args, **kwargs)

    store.cancel = claimed_first
    with caplog.at_level(logging.WARNING):
        open_study(store, "s", _given(NEW), override=True)
    states = {t.tid: t.state for t in store.get_trials("s")}
    assert states == {outside: TrialState.RUNNING, changed: TrialState.CANCELLED}
    said = "cancelled 1 queued trial suggested from the old space"
    assert f"{said} (tids {outside}, {changed}, of which a worker claimed 1 first)" in (
        caplog.text
    )


def test_resuming_without_a_space_change_keeps_the_queue(store):
    open_study(store, "s", _given(OLD))
    enqueue(store, "s", [{"x": -1.0, "y": 1}])
    open_study(store, "s", {**_given(OLD), "objective": "tests.e2e.objectives:curve"},
               override=True)  # fmt: skip
    assert [t.state for t in store.get_trials("s")] == [TrialState.NEW]


def test_only_new_space_configs_run_after_an_override(db_url):
    trials = StoreTrials(db_url, study="o", workers=1)
    fmin(quadratic, OLD, algo=rand.suggest, max_evals=2, trials=trials,
         show_progressbar=False)  # fmt: skip
    with pytest.warns(UserWarning, match="finished its budget"):  # fmin: more budget
        trials.enqueue([{"x": -4.0, "y": 1}, {"x": -3.0, "y": 0}])
    trials.close()
    resumed = StoreTrials(db_url, study="o", workers=1, override=True)
    fmin(quadratic, NEW, algo=rand.suggest, max_evals=5, trials=resumed,
         show_progressbar=False)  # fmt: skip
    after = [t for t in resumed.store.get_trials("o") if t.tid >= 2]
    ran = [t for t in after if t.state == TrialState.DONE]
    assert len(ran) == 3
    assert all(
        0.0 <= t.config["x"] <= 5.0 and t.config["y"] in (-2.0, 4.0) for t in ran
    )
    assert [t.state for t in after[:2]] == [TrialState.CANCELLED] * 2
    resumed.close()


def _uniforms(**bounds):
    return {label: hp.uniform(label, *bounds[label]) for label in bounds}


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [  # a label added (the old trials lack it), a label removed (they hold it)
        ({"x": (-5, 5)}, {"x": (-5, 5), "y": (1, 2)}, "lack label 'y'"),
        ({"x": (-5, 5), "z": (-1, 1)}, {"x": (1, 2)}, "hold label 'z'"),
    ],
)
def test_fmin_after_an_override_returns_the_best_trial_the_new_space_evaluates(
    any_db, caplog, old, new, said
):
    """Before, the best trial (x=0, of the old space) was returned whatever the
    space: return_argmin=False raised SpaceError after every trial had run, and
    return_argmin=True gave params the new space cannot evaluate."""
    first = StoreTrials(any_db, study="o", workers=1)
    point = {label: 0.0 for label in old}  # loss 0: no trial of the new space ties
    fmin(sum_of_squares, _uniforms(**old), algo=rand.suggest, max_evals=2,
         trials=first, points_to_evaluate=[point], show_progressbar=False)  # fmt: skip
    first.close()
    resumed = StoreTrials(any_db, study="o", workers=1, override=True)
    with caplog.at_level(logging.WARNING, logger="hpo_service"):
        config = fmin(sum_of_squares, _uniforms(**new), algo=rand.suggest,
                      max_evals=5, trials=resumed, return_argmin=False,
                      show_progressbar=False)  # fmt: skip
    losses = [t.result["loss"] for t in resumed.store.get_trials("o") if t.tid >= 2]
    assert len(losses) == 3
    assert set(config) == set(new) and sum_of_squares(config) == min(losses)
    warned = f"2 of the 5 finished trials {said}"
    assert f"{warned}, which this space" in caplog.text
    assert "the best is the best of the 3 that this space can evaluate" in caplog.text
    best = fmin(sum_of_squares, _uniforms(**new), algo=rand.suggest, max_evals=5,
                trials=resumed, show_progressbar=False)  # fmt: skip
    assert best == {label: config[label] for label in new}
    resumed.close()


def test_fmin_after_an_override_with_no_trial_of_the_new_space_says_why(db_url):
    first = StoreTrials(db_url, study="o", workers=1)
    fmin(sum_of_squares, _uniforms(x=(-5, 5)), algo=rand.suggest, max_evals=2,
         trials=first, show_progressbar=False)  # fmt: skip
    first.close()
    resumed = StoreTrials(db_url, study="o", workers=1, override=True)
    with pytest.raises(AllTrialsFailed) as e:
        fmin(sum_of_squares, _uniforms(x=(-5, 5), y=(1, 2)), algo=rand.suggest,
             max_evals=2, trials=resumed, show_progressbar=False)  # fmt: skip
    said = "none of the 2 finished trials is a point of this space (they lack label"
    assert f"{said} 'y', which this space adds)" in str(e.value)
    resumed.close()


def test_store_trials_without_override_refuses_a_changed_space_before_any_trial(
    db_url,
):
    first = StoreTrials(db_url, study="o", workers=1)
    fmin(sum_of_squares, _uniforms(x=(-5, 5)), algo=rand.suggest, max_evals=2,
         trials=first, show_progressbar=False)  # fmt: skip
    first.close()
    again = StoreTrials(db_url, study="o", workers=1)
    with pytest.raises(StudyMismatchError, match="pass override=True to continue"):
        fmin(sum_of_squares, _uniforms(x=(-5, 5), y=(1, 2)), algo=rand.suggest,
             max_evals=5, trials=again, show_progressbar=False)  # fmt: skip
    assert len(again.store.get_trials("o")) == 2
    again.close()


def test_the_pareto_front_after_an_override_holds_trials_of_the_new_space(db_url):
    """With several objectives the front is that of the trials that fit: before, it
    was the old trial at (0, 0), which dominates every trial of the new space."""
    first = StoreTrials(db_url, study="mo", workers=1, objectives="sq,size")
    fmin(squares_and_sizes, _uniforms(x=(-5, 5)), algo=rand.suggest,
         max_evals=1, trials=first, points_to_evaluate=[{"x": 0.0}],
         show_progressbar=False)  # fmt: skip
    first.close()
    resumed = StoreTrials(db_url, study="mo", workers=1, override=True)
    front = fmin(squares_and_sizes, _uniforms(x=(-5, 5), y=(1, 2)),
                 algo=rand.suggest, max_evals=5, trials=resumed,
                 show_progressbar=False)  # fmt: skip
    new = [t for t in resumed.store.get_trials("mo") if t.tid >= 1]
    assert len(new) == 4

    def dominates(a, b):
        return all(u <= v for u, v in zip(a, b, strict=True)) and a != b

    losses = [t.result["loss"] for t in new]
    undominated = [t.params for t, mine in zip(new, losses, strict=True)
                   if not any(dominates(other, mine) for other in losses)]  # fmt: skip
    assert front == undominated  # the whole front of the new trials, in tid order
    assert all(set(point) == {"x", "y"} for point in front)
    resumed.close()


def test_fmin_after_an_override_whose_new_trials_all_failed_says_so(db_url):
    """The trials of the new space ran and raised: the message says so, with the
    last error. Before, error trials were left out of those that fit, so it said
    that no finished trial is a point of this space and to give a larger
    max_evals."""
    first = StoreTrials(db_url, study="o", workers=1)
    fmin(sum_of_squares, _uniforms(x=(-5, 5)), algo=rand.suggest, max_evals=2,
         trials=first, show_progressbar=False)  # fmt: skip
    first.close()
    resumed = StoreTrials(db_url, study="o", workers=1, override=True)
    for return_argmin in (True, False):
        with pytest.raises(AllTrialsFailed) as e:
            fmin(always_fails, _uniforms(x=(-5, 5), y=(1, 2)), algo=rand.suggest,
                 max_evals=4, trials=resumed, return_argmin=return_argmin,
                 show_progressbar=False)  # fmt: skip
        message = str(e.value)
        assert "no trial that this space can evaluate has status 'ok'" in message
        assert "(2 ended in error, the last: RuntimeError: this objective always " \
            "fails)" in message  # fmt: skip
    states = [t.state for t in resumed.store.get_trials("o")]
    assert states == [TrialState.DONE] * 2 + [TrialState.ERROR] * 2
    resumed.close()


def test_an_empty_pareto_front_after_an_override_says_what_the_trials_were(
    db_url, caplog
):
    """With several objectives and no trial of the new space on the front (here
    they all raised), fmin returns an empty front with the warning it gives
    without an override, counting finished trials only (the point queued before
    the override, cancelled by it, is not one). Before, it returned [] without a
    word."""
    first = StoreTrials(db_url, study="mo", workers=1, objectives="sq,size")
    fmin(squares_and_sizes, _uniforms(x=(-5, 5)), algo=rand.suggest,
         max_evals=2, trials=first, show_progressbar=False)  # fmt: skip
    with pytest.warns(UserWarning, match="already finished its budget"):
        first.enqueue([{"x": 1.0}])  # of the old space: the override cancels it
    first.close()
    resumed = StoreTrials(db_url, study="mo", workers=1, override=True)
    with caplog.at_level(logging.WARNING, logger="hpo_service"):
        front = fmin(always_fails, _uniforms(x=(-5, 5), y=(1, 2)),
                     algo=rand.suggest, max_evals=4, trials=resumed,
                     show_progressbar=False)  # fmt: skip
    assert front == []
    assert resumed.store.get_trial("mo", 2).state == TrialState.CANCELLED
    assert (
        "the Pareto front is empty: none of the 2 trials is a success with every "
        "constraint <= 0 (2 ended in error)"
    ) in caplog.text
    resumed.close()
