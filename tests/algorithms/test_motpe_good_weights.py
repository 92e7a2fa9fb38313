"""MOTPE's ``good_weights="copies"``: a good trial whose loss vector was given by
``c`` finished trials weighs ``1 / c`` in the good density."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.algorithms import motpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe import sampler
from hpo_service.algorithms._tpe.sampler import TPESettings
from hpo_service.space import compile_space, hp

X = compile_space({"x": hp.uniform("x", 0, 1)})


def saturated_history(copies: int) -> History:
    """Two front points: A at x=0.2 (given ``copies`` times, the same trial's
    params and losses each time) and B at x=0.8 (once); bad trials elsewhere."""
    history = History(X)
    for _ in range(copies):
        history.add({"x": 0.2}, [0.1, 0.9])
    history.add({"x": 0.8}, [0.9, 0.1])
    for x in np.linspace(0.0, 1.0, 12):
        history.add({"x": float(x)}, [1.0 + x, 2.0 - x])
    return history


def good_model(history: History, **settings):
    config = TPESettings.from_kwargs({**motpe.MULTI_OBJECTIVE_DEFAULTS, **settings})
    weights = (
        motpe.copy_weights(history.objectives)
        if config.good_weights == "copies"
        else None
    )
    ranked = history.scalarised(motpe.rank_trials(history, config), weights)
    (group,) = sampler._groups(X, config.multivariate, config.whole_end_bins)
    below, _, _ = sampler._split(group, ranked, [], np.random.default_rng(0), config)
    return below


def test_copy_weights_are_one_over_the_copies_and_one_for_failures():
    objectives = np.array(
        [[0.1, 0.9], [0.5, 0.5], [0.1, 0.9], [np.nan, np.nan], [0.1, 0.9]]
    )
    np.testing.assert_allclose(
        motpe.copy_weights(objectives), [1 / 3, 1.0, 1 / 3, 1.0, 1 / 3]
    )


def test_a_copied_front_point_weighs_a_share_of_one_in_the_good_density():
    history = saturated_history(copies=4)
    # gamma 0.3 of 17 trials: a good set of 6, the whole front (A four times, B).
    uniform = good_model(history, gamma=0.3)
    copies = good_model(history, gamma=0.3, good_weights="copies")
    x_uniform, _, w_uniform = uniform
    x_copies, _, w_copies = copies
    np.testing.assert_array_equal(x_uniform, x_copies)  # the same good trials
    at_a = np.isclose(x_copies[:, 0], 0.2)
    assert at_a.sum() == 4
    np.testing.assert_allclose(w_uniform, 1.0)
    np.testing.assert_allclose(w_copies[at_a], 0.25)
    assert w_copies[np.isclose(x_copies[:, 0], 0.8)].tolist() == [1.0]


def test_proposals_move_from_a_saturated_front_point_to_the_rest_of_the_front():
    history = saturated_history(copies=8)
    near_b = {}
    for rule in ("uniform", "copies"):
        points = motpe.suggest(
            X,
            history,
            np.random.default_rng(3),
            n=200,
            gamma=0.5,
            good_weights=rule,
        )
        xs = np.array([p["x"] for p in points])
        near_b[rule] = int(np.sum(np.abs(xs - 0.8) < 0.1))
    # Uniform: A's eight kernels outweigh B's one; with copies A and B weigh 1 each.
    assert near_b["copies"] >= 2 * near_b["uniform"], near_b


def test_without_copies_the_suggestions_are_the_defaults_bit_for_bit():
    rng = np.random.default_rng(7)
    history = History(X)
    for _ in range(40):
        x = float(rng.uniform())
        history.add({"x": x}, [x, (1 - x) ** 2 + float(rng.uniform(0, 0.1))])
    default = motpe.suggest(X, history, np.random.default_rng(0), n=8)
    copies = motpe.suggest(
        X, history, np.random.default_rng(0), n=8, good_weights="copies"
    )
    assert copies == default


def test_one_objective_is_unchanged():
    history = History(X)
    for x in (0.1, 0.1, 0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.6, 0.4, 0.8, 0.05):
        history.add({"x": x}, x)  # x=0.1 three times: copies of one loss
    default = motpe.suggest(X, history, np.random.default_rng(0), n=8)
    copies = motpe.suggest(
        X, history, np.random.default_rng(0), n=8, good_weights="copies"
    )
    assert copies == default


def test_an_unknown_choice_is_refused():
    with pytest.raises(ValueError, match="good_weights in \\('uniform', 'copies'\\)"):
        TPESettings(good_weights="contribution")


@pytest.mark.parametrize("weights", [[1.0, 0.0], [1.0, float("nan")], [1.0]])
def test_scalarised_refuses_bad_good_weights(weights):
    history = History(X)
    history.add({"x": 0.1}, [0.1, 0.2])
    history.add({"x": 0.2}, [0.2, 0.1])
    with pytest.raises(ValueError, match="`good_weights` must hold"):
        history.scalarised(np.array([0.0, 1.0]), weights)
