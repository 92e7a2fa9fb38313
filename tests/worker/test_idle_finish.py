"""An idle worker's housekeeping decides whether its study is finished (budget spent,
or the study cancelled) without counting the study's trials while the budget cannot
be spent: a count scans the whole study (O(study size)), and idle workers of a large
study did it about every second (issue 14, flat cost)."""

from __future__ import annotations

from hpo_service.store import NewTrial, TrialState
from hpo_service.worker import run_worker

from .conftest import OBJ, make_study


def _counting(store) -> list[str]:
    """Record every ``count_by_state`` call of ``store`` (a real store)."""
    calls: list[str] = []
    real = store.count_by_state

    def count_by_state(study: str) -> dict[TrialState, int]:
        calls.append(study)
        return real(study)

    store.count_by_state = count_by_state
    return calls


def test_an_idle_worker_does_not_count_a_study_short_of_its_budget(store):
    make_study(store, "s", f"{OBJ}:quadratic", [{"x": 1.0}] * 2, max_evals=5)
    calls = _counting(store)
    summary = run_worker(store, study="s", idle_timeout=0.5, poll_interval=0.02)
    assert (summary.done, summary.stop_reason) == (2, "idle_timeout")
    assert calls == []  # 2 trials made of 5: the budget cannot be spent


def test_an_idle_worker_stops_once_the_budget_is_spent(store):
    make_study(store, "f", f"{OBJ}:quadratic", [{"x": 1.0}] * 2, max_evals=3)
    assert run_worker(store, study="f", idle_timeout=0.3).stop_reason == "idle_timeout"
    store.insert_trials("f", [NewTrial({}, {"x": 2.0})])  # the third trial
    calls = _counting(store)
    summary = run_worker(store, study="f", idle_timeout=30, poll_interval=0.02)
    assert (summary.done, summary.stop_reason) == (1, "study_finished")
    assert calls  # all 3 trials made: only a count tells whether they finished


def test_an_idle_worker_of_a_cancelled_study_stops(store):
    make_study(store, "c", f"{OBJ}:quadratic", [{"x": 1.0}] * 2, max_evals=10)
    assert run_worker(store, study="c", idle_timeout=0.3).done == 2
    store.patch_study_settings("c", {"cancelled": True})  # `hpo-driver cancel`
    summary = run_worker(store, study="c", idle_timeout=30, poll_interval=0.02)
    assert (summary.done, summary.stop_reason) == (0, "study_finished")


def test_a_cancelled_study_with_a_running_trial_is_not_finished(store):
    make_study(store, "r", f"{OBJ}:quadratic", [{"x": 1.0}], max_evals=10)
    elsewhere = store.claim("elsewhere", 60.0, study="r")
    store.patch_study_settings("r", {"cancelled": True})
    summary = run_worker(store, study="r", idle_timeout=0.5, poll_interval=0.02)
    assert (summary.done, summary.stop_reason) == (0, "idle_timeout")
    assert store.get_trial("r", elsewhere.tid).state is TrialState.RUNNING
