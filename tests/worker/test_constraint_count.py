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


def _calls(store, names: tuple[str, ...]) -> list[str]:
    """Record, in order, the calls of ``store`` (a real store) to ``names``."""
    calls: list[str] = []
    for name in names:
        real = getattr(store, name)

        def recorded(*args, _name=name, _real=real, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        setattr(store, name, recorded)
    return calls


def test_a_result_without_constraints_costs_no_read_of_the_study(store):
    """Issue 14, flat cost: while the study's constraint count is unknown (every
    trial of a study without constraints), a result without constraints is written
    on condition that no count is stored, instead of after a read of the study.
    Before, each such result read the study once more before its write."""
    make_study(store, "n", f"{OBJ}:quadratic", [{"x": float(i)} for i in range(4)])
    calls = _calls(store, ("get_study", "complete"))
    summary = run_worker(store, study="n", idle_timeout=0)
    assert (summary.done, summary.failed) == (4, 0), summary
    assert calls.count("complete") == 4
    later = calls[calls.index("complete") + 1 :]  # past the start's study check
    assert later.count("get_study") == 0, calls  # the verdict's comes with the claim
    assert store.get_study("n").settings.get("n_constraints") is None


def test_a_known_count_refuses_a_result_without_constraints(store):
    """The count recorded by the study's first result with constraints refuses a
    later result without them (the cached count, no conditional write needed)."""
    configs = [{"loss": 1.0, "constraints": [0.5]}, {"loss": 2.0}]
    make_study(store, "k", f"{OBJ}:returns_config", configs)
    summary = run_worker(store, study="k", idle_timeout=0)
    assert (summary.done, summary.failed) == (1, 1), summary
    assert store.get_trial("k", 1).error["type"] == "InvalidResultError"
    assert store.get_study("k").settings["n_constraints"] == 1
