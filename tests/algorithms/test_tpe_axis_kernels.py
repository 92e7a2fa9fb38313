"""``axis_kernels``: part of each good kernel's weight goes to copies of it that take
one numeric parameter from the prior, so a joint density still explores each
parameter on its own."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.parzen_estimator import GroupLayout, ParzenEstimator
from hpo_service.algorithms._tpe.sampler import TPESettings
from hpo_service.space import compile_space, hp

# The loss depends on x only; e is flat. Every trial so far has a tiny e (as when a
# joint density has settled on one end of a parameter that does not matter there).
FLAT = compile_space(
    {"x": hp.uniform("x", 0, 1), "e": hp.loguniform("e", math.log(1e-3), 0.0)}
)


def _flat_history(n: int, seed: int) -> History:
    history = History(FLAT)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x = float(rng.uniform())
        e = float(math.exp(rng.uniform(math.log(1e-3), math.log(3e-3))))
        history.add({"x": x, "e": e}, abs(x - 0.3))
    return history


def _density(share: float) -> ParzenEstimator:
    layout = GroupLayout(tuple(FLAT))
    numeric = np.array([[0.30, 0.05], [0.32, 0.06], [0.28, 0.04]])
    options = np.empty((3, 0), dtype=np.intp)
    good = ParzenEstimator(
        layout, numeric, options, np.ones(3), prior_weight=1.5, bandwidth="scott"
    )
    return good.with_axis_kernels(share)


def test_copies_take_one_parameter_from_the_prior_each():
    plain, smoothed = _density(0.0), _density(0.4)
    assert smoothed is not plain and _density(0.0) is not None
    k = 3
    # Observations, then the prior (unchanged), then one copy per observation and
    # parameter.
    assert smoothed.n_components == plain.n_components + 2 * k
    np.testing.assert_allclose(smoothed.weights.sum(), 1.0)
    np.testing.assert_allclose(smoothed.weights[:k], 0.6 * plain.weights[:k])
    np.testing.assert_allclose(smoothed.weights[k], plain.weights[k])
    np.testing.assert_allclose(
        smoothed.weights[k + 1 :], 0.2 * np.tile(plain.weights[:k], 2)
    )
    copies_mu, copies_sigma = smoothed.mus[k + 1 :], smoothed.sigmas[k + 1 :]
    for j in range(2):
        rows = slice(j * k, (j + 1) * k)
        other = 1 - j
        np.testing.assert_array_equal(copies_mu[rows, j], plain.mus[k, j])
        np.testing.assert_array_equal(copies_sigma[rows, j], plain.sigmas[k, j])
        np.testing.assert_array_equal(copies_mu[rows, other], plain.mus[:k, other])
        np.testing.assert_array_equal(
            copies_sigma[rows, other], plain.sigmas[:k, other]
        )


def test_nothing_changes_without_a_share_or_with_one_numeric_parameter():
    plain = _density(0.0)
    assert plain.with_axis_kernels(0.0) is plain
    one = compile_space({"x": hp.uniform("x", 0, 1)})
    alone = ParzenEstimator(
        GroupLayout(tuple(one)),
        np.array([[0.3], [0.4]]),
        np.empty((2, 0), dtype=np.intp),
        np.ones(2),
    )
    assert alone.with_axis_kernels(0.5) is alone


def test_suggestions_explore_a_flat_parameter_while_keeping_the_good_one():
    history = _flat_history(60, seed=3)

    def draws(share: float) -> tuple[np.ndarray, np.ndarray]:
        xs, es = [], []
        for seed in range(100):
            params = tpe.suggest(
                FLAT, history, np.random.default_rng(seed), axis_kernels=share
            )[0]
            xs.append(params["x"])
            es.append(params["e"])
        return np.array(xs), np.array(es)

    x_plain, e_plain = draws(0.0)
    x_axis, e_axis = draws(0.4)
    # Without copies every suggestion stays at the tiny e of the good trials; with
    # them a good share tries e far away (here where no trial has been, so the bad
    # density is thin there), while x stays near the good value 0.3.
    assert np.mean(e_plain > 0.01) < 0.02
    assert np.mean(e_axis > 0.01) > 0.1
    assert np.median(np.abs(x_axis - 0.3)) < 0.1
    assert np.median(np.abs(x_plain - 0.3)) < 0.1


def test_default_is_off_and_suggestions_are_unchanged():
    assert TPESettings().axis_kernels == 0.0
    history = _flat_history(30, seed=4)
    plain = tpe.suggest(FLAT, history, np.random.default_rng(1), n=3)
    off = tpe.suggest(FLAT, history, np.random.default_rng(1), n=3, axis_kernels=0.0)
    assert plain == off


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5])
def test_the_share_is_checked(value):
    with pytest.raises(ValueError, match="0 <= axis_kernels < 1"):
        TPESettings(axis_kernels=value)
