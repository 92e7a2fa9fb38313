"""Resuming a study with a new space (--override): trials queued from the old space
are cancelled, not run; queued trials the new space gives unchanged are kept."""

from __future__ import annotations

import logging

import pytest

from hpo_service import StoreTrials, fmin, hp, rand
from hpo_service.driver._study import open_study, space_settings
from hpo_service.driver._warm_start import enqueue
from hpo_service.store import TrialState
from tests.e2e.objectives import quadratic

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
