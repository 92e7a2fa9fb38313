"""A running worker runs each trial it claims with the study's settings as they are at
the claim: a change (``hpo-driver start --override``) applies from its next claim,
not after a cache expires."""

from __future__ import annotations

import threading

from hpo_service._common.settings import StudySettings
from hpo_service.store import NewTrial, TrialState
from hpo_service.worker import Worker

from .conftest import OBJ, make_study, wait_until


def test_an_overridden_objective_runs_from_the_next_claim(store, db_url):
    make_study(store, "o", f"{OBJ}:quadratic", [{"x": 1.0}], max_evals=2)
    worker = Worker(store, study="o", idle_timeout=60, poll_interval=0.05)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: store.count_by_state("o")[TrialState.DONE] == 1)
        settings = StudySettings.from_dict(store.get_study("o").settings)
        changed = settings.to_dict() | {"objective": f"{OBJ}:returns_dict"}
        store.update_study_settings("o", changed)
        store.insert_trials("o", [NewTrial({}, {"status": "ok", "loss": 7.0})])
        wait_until(lambda: store.count_by_state("o")[TrialState.NEW] == 0)
        wait_until(lambda: store.get_trial("o", 1).state.is_finished())
    finally:
        worker.request_stop()
        thread.join(timeout=60)
    second = store.get_trial("o", 1)
    assert second.state is TrialState.DONE, second.error
    assert second.result["loss"] == 7.0 and second.result["note"] == "hi"
