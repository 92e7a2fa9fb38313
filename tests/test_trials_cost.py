"""In-process fmin reads each trial a bounded number of times: the cost per trial
stays flat as the study grows (counted reads, no clock)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hpo_service import (
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    STATUS_OK,
    TrialPruned,
    Trials,
    fmin,
    hp,
    rand,
    report,
)
from hpo_service.driver import _serial
from hpo_service.objective import _result

SPACE = {"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 1)}


class CountingDoc(dict):
    """A trial dict that counts reads of its keys (``doc[k]`` and ``doc.get``)."""

    reads = itertools.count()

    def __getitem__(self, key):
        next(CountingDoc.reads)
        return super().__getitem__(key)

    def get(self, key, default=None):
        next(CountingDoc.reads)
        return super().get(key, default)


def mixed(config):
    """Two losses; about one trial in eight fails and one in eight is pruned."""
    x, y = config["x"], config["y"]
    if y > 0.875:
        raise RuntimeError("this region fails")
    if y < 0.125:
        report(x, step=1)
        raise TrialPruned()
    return {"loss": [x + y, (1 - x) ** 2 + y], "status": STATUS_OK}


def search(n, trials=None, seed=0):
    trials = Trials() if trials is None else trials
    fmin(mixed, SPACE, algo=rand.suggest, max_evals=n, trials=trials,
         rstate=np.random.default_rng(seed), catch_eval_exceptions=True,
         show_progressbar=False)  # fmt: skip
    return trials


def reads_per_trial(monkeypatch, n):
    """Reads of trial dicts per trial over an fmin of ``n`` trials."""
    make = _serial.make_trial_doc
    monkeypatch.setattr(
        _serial, "make_trial_doc", lambda *a, **k: CountingDoc(make(*a, **k))
    )
    before = next(CountingDoc.reads)
    trials = search(n)
    assert trials.count_by_state_unsynced(JOB_STATE_ERROR) > 0  # every path ran
    assert "pruned" in trials.statuses()
    return (next(CountingDoc.reads) - before) / n


def test_fmin_reads_each_trial_a_bounded_number_of_times(monkeypatch):
    """Four times the trials cost four times the reads, not sixteen times: before,
    every refresh (two per trial) showed the pruned losses of every trial of a
    multi-objective study, and the loop scanned every trial to find the queued
    ones and to count the finished and failed ones (O(n^2) in all)."""
    small, large = reads_per_trial(monkeypatch, 60), reads_per_trial(monkeypatch, 240)
    assert large <= 1.2 * small, (small, large)


def test_the_constraint_count_is_kept_not_rescanned(monkeypatch):
    """``Trials.n_constraints`` read again does not count every result's
    constraints again (a study without constraints scanned them all per call)."""
    trials = search(100)
    calls = itertools.count()
    count = _result.constraints_count

    def counting(result):
        next(calls)
        return count(result)

    monkeypatch.setattr(_result, "constraints_count", counting)
    for _ in range(50):
        assert trials.n_constraints is None and trials.n_objectives == 2
    assert next(calls) == 0


def test_kept_counts_match_a_full_recount():
    """What refresh keeps between calls (the trials shown, counts by state, the
    objective and constraint counts, the shown pruned losses) equals what a
    recount of every trial gives, after a search and after resuming it."""
    trials = search(80)
    search(120, trials=trials, seed=1)
    docs = trials._dynamic_trials
    assert trials.trials == [d for d in docs if d["state"] != JOB_STATE_ERROR]
    for state in (JOB_STATE_DONE, JOB_STATE_ERROR, [JOB_STATE_DONE, JOB_STATE_ERROR]):
        states = {state} if isinstance(state, int) else set(state)
        expected = sum(d["state"] in states for d in docs)
        assert trials.count_by_state_unsynced(state) == expected > 0
    pruned = [t for t in trials if t["result"]["status"] == "pruned"]
    assert pruned and all(t["result"]["loss"] is None for t in pruned)
    assert all(len(loss) == 2 for loss in trials.losses() if loss is not None)
    front = [t["tid"] for t in trials.best_trials]
    losses, statuses = trials.losses(), trials.statuses()
    fresh = Trials()
    fresh.insert_trial_docs([dict(d) for d in docs])
    assert fresh.losses() == losses and fresh.statuses() == statuses
    assert [t["tid"] for t in fresh.best_trials] == front
    assert fresh.n_objectives == trials.n_objectives == 2


def test_a_finished_trial_changed_by_hand_is_seen_by_refresh_as_in_hyperopt():
    """hyperopt's refresh recomputes ``trials`` from every trial's state, so a
    done trial set to an error by hand leaves ``trials`` at the next refresh;
    fmin's own loop reads only the trials that can have changed (the test above)."""
    trials = search(20)
    first = trials.trials[0]
    first["state"] = JOB_STATE_ERROR
    trials.refresh()
    assert first not in trials.trials
    assert trials.count_by_state_unsynced(JOB_STATE_ERROR) == sum(
        d["state"] == JOB_STATE_ERROR for d in trials._dynamic_trials
    )
    first["state"] = JOB_STATE_DONE  # and back, through a search that goes on
    search(25, trials)
    assert first in trials.trials and len(trials.trials) == sum(
        d["state"] == JOB_STATE_DONE for d in trials._dynamic_trials
    )


def test_constraints_fixed_by_the_first_constrained_success():
    """The constraint count is that of the first done trial carrying constraints,
    also when it comes after trials without them, and a view of another experiment
    keeps its own."""
    trials = Trials()
    results = iter([{"loss": [1.0, 2.0]}, {"loss": [1.0, 1.0], "constraints": [0.5]}])

    def objective(config):
        return {**next(results, {"loss": [0.0, 0.0], "constraints": [-1.0]}),
                "status": STATUS_OK}  # fmt: skip

    fmin(objective, SPACE, algo=rand.suggest, max_evals=1, trials=trials,
         show_progressbar=False)  # fmt: skip
    assert trials.n_constraints is None
    fmin(objective, SPACE, algo=rand.suggest, max_evals=4, trials=trials,
         show_progressbar=False)  # fmt: skip
    assert trials.n_constraints == 1
    assert trials.view(exp_key="other").n_constraints is None


@pytest.mark.parametrize("pickled", [False, True])
def test_tids_stay_distinct_across_views_and_pickles(pickled):
    import pickle

    trials = Trials()
    first, second = trials.view(exp_key="a"), trials.view(exp_key="b")
    search(5, trials=first)
    search(4, trials=second)
    if pickled:
        trials = pickle.loads(pickle.dumps(trials))
    assert trials.new_trial_ids(2) == [9, 10]
    search(12, trials=trials)
    assert sorted(trials.tids) == sorted(set(trials.tids))


def test_a_trial_removed_by_hand_and_another_inserted_are_both_seen():
    """A trial popped from ``_dynamic_trials`` by hand and another inserted before
    any refresh leave the list as long as before: the kept reading must notice
    that its last trial moved, or the new trial never shows (as hyperopt's
    refresh, which rereads everything, shows it)."""
    trials = search(10)
    done = [
        i for i, d in enumerate(trials._dynamic_trials) if d["state"] == JOB_STATE_DONE
    ]
    popped = trials._dynamic_trials.pop(done[1])
    doc = {**popped, "tid": 100, "misc": {**popped["misc"], "tid": 100}}
    doc["misc"]["idxs"] = {k: [100] for k in popped["misc"]["idxs"]}
    trials.insert_trial_docs([doc])
    assert popped not in trials.trials
    assert doc in trials.trials
    assert trials.trials == [
        d for d in trials._dynamic_trials if d["state"] != JOB_STATE_ERROR
    ]
