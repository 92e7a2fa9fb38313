"""A worker whose settings, read at its claim, have no constraint count yet still
refuses a result without constraints when another worker recorded a count while
the trial ran: it reads the stored count again before recording such a result."""

from __future__ import annotations

from hpo_service.store import TrialState
from hpo_service.worker import run_worker

from .conftest import OBJ, make_study


def test_a_count_recorded_by_another_worker_meanwhile_refuses_a_result(store, db_url):
    """The objective records 2 constraints for the study through its own store
    handle (another worker's first result), then returns none. Before, the worker
    kept the count it read at the claim (none yet) and recorded the result as done
    and feasible."""
    config = {"db": db_url, "study": "c", "count": 2}
    make_study(store, "c", f"{OBJ}:constraints_recorded_meanwhile", [config])
    summary = run_worker(store, study="c", idle_timeout=0)
    trial = store.get_trial("c", 0)
    assert (summary.done, summary.failed) == (0, 1), summary
    assert trial.state is TrialState.ERROR, trial.result
    assert trial.error["type"] == "InvalidResultError", trial.error
    assert "2" in trial.error["message"], trial.error
    assert store.get_study("c").settings["n_constraints"] == 2
