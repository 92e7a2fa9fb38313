"""The example studies that the README's quick start runs."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service import fmin, sample, space_eval, tpe
from hpo_service.space import fingerprint, from_document, to_document


def test_quadratic_example_is_solved_by_tpe():
    from examples import quadratic

    best = fmin(quadratic.objective, quadratic.space, algo=tpe.suggest, max_evals=60,
                rstate=np.random.default_rng(0), show_progressbar=False)  # fmt: skip
    assert quadratic.objective(space_eval(quadratic.space, best)) < 0.5


@pytest.mark.parametrize("name", ["quadratic", "sklearn_svc", "sgd_epochs"])
def test_example_spaces_can_be_stored_with_a_study(name):
    module = pytest.importorskip(f"examples.{name}")
    restored = from_document(to_document(module.space))
    assert fingerprint(restored) == fingerprint(module.space)


def test_sklearn_example_scores_a_config():
    pytest.importorskip("sklearn")
    from examples import sklearn_svc

    config = sample(sklearn_svc.space, np.random.default_rng(0))
    result = sklearn_svc.objective(config)
    assert result["status"] == "ok"
    assert 0.0 <= result["loss"] <= 1.0
    assert result["loss"] == pytest.approx(1.0 - result["accuracy"])


def test_sgd_example_reports_every_epoch_and_is_pruned_by_asha():
    pytest.importorskip("sklearn")
    from examples import sgd_epochs
    from hpo_service import Trials, pruners

    trials = Trials()
    pruner = pruners.ASHAPruner(max_resource=sgd_epochs.EPOCHS)
    fmin(sgd_epochs.objective, sgd_epochs.space, max_evals=12, trials=trials,
         pruner=pruner,
         rstate=np.random.default_rng(0), show_progressbar=False)  # fmt: skip
    statuses = trials.statuses()
    assert "pruned" in statuses and "ok" in statuses
    for doc in trials.trials:
        steps = sorted(doc["intermediate"])
        assert steps == list(range(1, len(steps) + 1))
        assert all(0.0 <= v <= 1.0 for v in doc["intermediate"].values())
        if doc["result"]["status"] == "ok":
            assert steps[-1] == sgd_epochs.EPOCHS
            assert doc["result"]["loss"] == doc["intermediate"][steps[-1]]
        else:
            assert steps[-1] in pruner.rung_steps()
