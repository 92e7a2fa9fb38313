"""Random search: independent draws from the prior, whatever the history."""

from __future__ import annotations

import numpy as np
from scipy import stats

from hpo_service.algorithms import rand, resolve
from hpo_service.algorithms._history import History
from hpo_service.space import compile_space, hp, validate_params

SPACE = compile_space(
    {
        "x": hp.uniform("x", -5, 5),
        "c": hp.choice(
            "c", [{"k": hp.randint("k", 4)}, {"lr": hp.loguniform("lr", -3, 0)}]
        ),
    }
)


def test_name_and_registry():
    assert rand.NAME == "rand"
    picks = resolve("rand")(SPACE, History(SPACE), np.random.default_rng(0), 3)
    assert len(picks) == 3


def test_suggest_returns_n_valid_points():
    picks = rand.suggest(SPACE, History(SPACE), np.random.default_rng(0), n=50)
    assert len(picks) == 50
    for params in picks:
        assert validate_params(SPACE, params) == params


def test_same_seed_same_suggestions_and_history_is_ignored():
    history = History(SPACE)
    for params in rand.suggest(SPACE, history, np.random.default_rng(9), n=20):
        history.add(params, loss=params["x"] ** 2)
    fresh = rand.suggest(SPACE, History(SPACE), np.random.default_rng(5), n=10)
    assert rand.suggest(SPACE, history, np.random.default_rng(5), n=10) == fresh


def test_unknown_settings_are_accepted():
    picks = rand.suggest(SPACE, History(SPACE), np.random.default_rng(0), 2, gamma=0.5)
    assert len(picks) == 2


def test_draws_follow_the_prior():
    picks = rand.suggest(SPACE, History(SPACE), np.random.default_rng(3), n=3000)
    xs = [p["x"] for p in picks]
    assert stats.kstest(xs, stats.uniform(-5, 10).cdf).pvalue > 1e-3
    branch = [p["c"] for p in picks]
    assert stats.binomtest(sum(branch), len(branch), 0.5).pvalue > 1e-3
