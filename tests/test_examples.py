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


@pytest.mark.parametrize("name", ["quadratic", "sklearn_svc"])
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
