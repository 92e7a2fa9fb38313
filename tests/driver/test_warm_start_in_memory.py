"""From Python, hyperopt's warm start ``fmin(..., trials=old_trials)`` on a store:
``StoreTrials.import_results(old_trials, create=True)`` takes a hyperopt ``Trials``
in memory, then ``fmin(..., trials=store_trials)`` runs on from that history (with
a real worker process)."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service import StoreTrials, fmin, hp, tpe
from hpo_service.exceptions import StudyMismatchError, StudyNotFoundError
from tests.e2e.objectives import quadratic

hyperopt = pytest.importorskip("hyperopt")

SPACE = {"x": hp.uniform("x", -5.0, 5.0), "y": hp.uniform("y", -5.0, 5.0)}


def their_trials(n: int = 5) -> object:
    theirs = hyperopt.Trials()
    hyperopt.fmin(quadratic, {"x": hyperopt.hp.uniform("x", -5, 5),
                              "y": hyperopt.hp.uniform("y", -5, 5)},
                  algo=hyperopt.rand.suggest, max_evals=n, trials=theirs,
                  rstate=np.random.default_rng(7), show_progressbar=False)  # fmt: skip
    return theirs


def test_fmin_on_a_store_runs_on_from_a_hyperopt_trials_in_memory(db_url):
    theirs = their_trials()
    trials = StoreTrials(db_url, study="warm", workers=1)
    with pytest.raises(StudyNotFoundError):
        trials.import_results(theirs)  # the study must exist, unless create=True
    assert trials.import_results(theirs, create=True) == [0, 1, 2, 3, 4]
    assert [d["misc"]["vals"]["x"] for d in trials.trials] == [
        [v] for v in theirs.vals["x"]
    ]  # readable before the space is known
    narrow = {"x": hp.uniform("x", -0.1, 0.1), "y": hp.uniform("y", -5.0, 5.0)}
    with pytest.raises(StudyMismatchError, match="do not fit the given space"):
        fmin(quadratic, narrow, algo=tpe.suggest, max_evals=7, trials=trials,
             show_progressbar=False)  # fmt: skip
    best = fmin(quadratic, SPACE, algo=tpe.suggest, max_evals=7, trials=trials,
                show_progressbar=False)  # fmt: skip
    docs = trials.trials
    assert len(docs) == 7  # as hyperopt's: the old trials count toward max_evals
    losses = [d["result"]["loss"] for d in docs]
    assert losses[:5] == pytest.approx(theirs.losses())
    lowest = docs[int(np.argmin(losses))]["misc"]["vals"]
    assert best == {label: values[0] for label, values in lowest.items()}
    trials.close()
