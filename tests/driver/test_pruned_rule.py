"""What TPE learns from a pruned trial (``Suggester``'s pruned rule)."""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from typing import ClassVar

import numpy as np
import pytest

from hpo_service import TrialPruned, Trials, fmin, hp, rand, report
from hpo_service.algorithms import resolve
from hpo_service.driver._study import open_study, space_settings
from hpo_service.driver._study_loop import Driver, DriverOptions
from hpo_service.driver._suggest import PRUNED_RULES, Suggester
from hpo_service.store import TrialState, open_store

SPACE = {"x": hp.uniform("x", 0.0, 1.0)}
PRUNED = {"status": "pruned", "loss": 0.75, "step": 2}


def observed(rule: str, *results) -> Suggester:
    suggester = Suggester(SPACE, resolve("tpe"), pruned_rule=rule)
    for i, result in enumerate(results):
        suggester.observe({"x": i / 10}, result)
    return suggester


def losses(suggester: Suggester) -> list[float]:
    return [None if math.isnan(v) else float(v) for v in suggester.history.losses]


def test_the_default_learns_the_last_reported_value():
    suggester = observed("last", {"status": "ok", "loss": 0.5}, PRUNED)
    assert losses(suggester) == [0.5, 0.75]
    assert list(suggester.history.values("x")) == [0.0, 0.1]
    assert Suggester(SPACE, resolve("tpe"))._pruned_rule == "last" == PRUNED_RULES[0]


def test_failure_and_ignore():
    assert losses(observed("failure", {"status": "ok", "loss": 0.5}, PRUNED)) == [
        0.5,
        None,
    ]
    assert losses(observed("ignore", {"status": "ok", "loss": 0.5}, PRUNED)) == [0.5]


def test_pruned_before_any_report_counts_as_a_failure():
    no_report = {"status": "pruned", "loss": None, "step": None}
    assert losses(observed("last", no_report)) == [None]


def test_with_several_objectives_a_pruned_trial_is_a_failure():
    suggester = observed("last", {"status": "ok", "loss": [0.5, 2.0]}, PRUNED)
    assert suggester.history.n_objectives == 2
    assert np.isnan(suggester.history.objectives[1]).all()
    assert not np.isnan(suggester.history.objectives[0]).any()


def test_unknown_rule_names_the_value():
    with pytest.raises(ValueError, match="pruned_rule='median'"):
        Suggester(SPACE, resolve("tpe"), pruned_rule="median")


class Recording(Suggester):
    """The driver's or fmin's Suggester, kept so a test can read its history."""

    made: ClassVar[list[Suggester]] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        Recording.made.append(self)


def pruned_below_half(config):
    """Pruned at step 3 with value 10 + x when x < 0.5; else done with loss x."""
    if config["x"] < 0.5:
        report(10.0 + config["x"], 3)
        raise TrialPruned()
    return config["x"]


def learned(suggester: Suggester) -> dict[float, float | None]:
    xs = suggester.history.values("x")
    return dict(zip(map(float, xs), losses(suggester), strict=True))


def test_fmin_feeds_pruned_trials_with_their_last_value(monkeypatch):
    monkeypatch.setattr(sys.modules["hpo_service.fmin"], "Suggester", Recording)
    Recording.made.clear()
    trials = Trials()
    fmin(pruned_below_half, SPACE, algo=rand.suggest, max_evals=12, trials=trials,
         rstate=3, show_progressbar=False)  # fmt: skip
    (suggester,) = Recording.made
    expected = {d["misc"]["vals"]["x"][0]: d["result"]["loss"] for d in trials.trials}
    assert learned(suggester) == expected
    assert min(expected.values()) < 1.0 < 10.0 < max(expected.values())  # both kinds


def test_the_driver_feeds_pruned_trials_with_their_last_value(
    monkeypatch, db_url, caplog
):
    """Trials a worker pruned reach the study loop's TPE history as losses (and
    the progress line's count)."""
    caplog.set_level(logging.INFO, logger="hpo_service.driver._progress")
    monkeypatch.setattr("hpo_service.driver._study_loop.Suggester", Recording)
    Recording.made.clear()
    with open_store(db_url) as store:
        settings = open_study(store, "p", {"objective": "m:f", **space_settings(SPACE),
                                           "max_evals": 8, "seed": 2})[0]  # fmt: skip
        worker = threading.Thread(target=_prune_or_complete, args=(db_url, 8))
        worker.start()
        options = DriverOptions(progress=True, min_poll=0.005, max_poll=0.05)
        outcome = Driver(store, "p", settings, SPACE, options=options).run()
        worker.join(timeout=60)
        trials = store.get_trials("p")
    assert outcome.reason == "max_evals"
    pruned = [t for t in trials if t.state is TrialState.PRUNED]
    assert pruned and len(pruned) < 8
    (suggester,) = Recording.made
    expected = {t.params["x"]: t.result["loss"] for t in trials}
    assert learned(suggester) == expected
    last = [r.getMessage() for r in caplog.records][-1]
    done = 8 - len(pruned)
    assert last.startswith(f"8/8 trials finished ({done} done, {len(pruned)} pruned)")
    assert ", best loss: " in last


def _prune_or_complete(db_url: str, n: int) -> None:
    """A stand-in worker: x < 0.5 reports 10 + x at step 3 and is pruned."""
    with open_store(db_url) as store:
        finished = 0
        while finished < n:
            trial = store.claim("w", 30.0, study="p")
            if trial is None:
                time.sleep(0.005)
                continue
            x = trial.config["x"]
            if x < 0.5:
                assert store.report("p", trial.tid, trial.token, 3, 10.0 + x)
                result = {"status": "pruned", "loss": 10.0 + x, "step": 3}
                assert store.prune("p", trial.tid, trial.token, result)
            else:
                result = {"status": "ok", "loss": x}
                assert store.complete("p", trial.tid, trial.token, result)
            finished += 1


def test_a_pruned_trial_before_the_first_loss_vector_does_not_fix_one_objective(
    caplog,
):
    # The count of objectives is unknown until a trial succeeds: a pruned trial's
    # one reported value must not make the study single-objective, or every loss
    # vector after it would count as a failure.
    suggester = observed("last", PRUNED, {"status": "ok", "loss": [0.5, 2.0]})
    assert suggester.history.n_objectives == 2
    assert np.isnan(suggester.history.objectives[0]).all()
    assert list(suggester.history.objectives[1]) == [0.5, 2.0]
    assert np.isnan(suggester.history.losses).all()
    assert "counts as failed" not in caplog.text


def test_a_pruned_trial_before_the_first_loss_counts_with_one_objective():
    suggester = observed("last", PRUNED, {"status": "ok", "loss": 0.5})
    assert suggester.history.n_objectives == 1
    assert losses(suggester) == [0.75, 0.5]
    # Until a trial succeeds, pruned trials count with their values (one objective).
    alone = observed("last", PRUNED, PRUNED)
    assert losses(alone) == [0.75, 0.75] and alone.history.n_objectives == 0
