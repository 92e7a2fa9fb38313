"""Annealing with hyperopt's semantics: the prior, then narrower around good trials."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import stats

from hpo_service import Trials, anneal, fmin, hp
from hpo_service.algorithms import describe, resolve
from hpo_service.algorithms._history import History
from hpo_service.space import compile_space, validate_params

SPACE = compile_space(
    {
        "x": hp.uniform("x", -5, 5),
        "lr": hp.loguniform("lr", -6, 0),
        "n": hp.normal("n", 0, 2),
        "k": hp.randint("k", 3, 13),
        "c": hp.choice("c", [{"d": hp.quniform("d", 0, 10, 2)}, {"e": 1.0}]),
    }
)


def _history(points, losses):
    history = History(SPACE)
    for params, loss in zip(points, losses, strict=True):
        history.add(params, loss)
    return history


def test_registered_and_described():
    assert anneal.NAME == "anneal"
    assert resolve("anneal").func is anneal.suggest
    tuned = functools.partial(anneal.suggest, shrink_coef=0.3)
    assert describe(tuned) == ("anneal", {"shrink_coef": 0.3})


def test_without_history_it_draws_from_the_prior():
    picks = anneal.suggest(SPACE, History(SPACE), np.random.default_rng(1), n=2000)
    xs = [p["x"] for p in picks]
    assert stats.kstest(xs, stats.uniform(-5, 10).cdf).pvalue > 1e-3
    for params in picks[:50]:
        assert validate_params(SPACE, params) == params


def test_many_observations_concentrate_samples_around_the_best_trial():
    rng = np.random.default_rng(0)
    points = [p for p in anneal.suggest(SPACE, History(SPACE), rng, n=200)]
    best = {"x": 4.0, "lr": 0.01, "n": -1.0, "k": 7, "c": 0, "d": 6.0}
    points.append(best)
    losses = [10.0 + i for i in range(200)] + [0.0]
    picks = anneal.suggest(SPACE, _history(points, losses), rng, n=400)
    # shrink = 1 / (1 + 201 * 0.1) ~ 0.047: the uniform window is 0.47 wide.
    near = [p for p in picks if 3.76 <= p["x"] <= 4.24]
    assert len(near) > 0.3 * len(picks)  # P(anchor = best) = 1/2 for avg_best_idx=2
    assert all(-5 <= p["x"] <= 5 for p in picks)
    same_k = sum(p["k"] == 7 for p in near)
    # One anchor per point: its k is kept with p ~ 0.96 (some near points anchor
    # on other trials, whose k is random).
    assert same_k > 0.7 * len(near)
    assert all(validate_params(SPACE, p) == p for p in picks)


def test_a_window_near_a_bound_is_shifted_inside():
    edge = {"x": 5.0, "lr": 0.5, "n": 0.0, "k": 3, "c": 1}
    history = _history([edge] * 40, [0.0] * 40)  # shrink 0.2: a window 2.0 wide
    picks = anneal.suggest(SPACE, history, np.random.default_rng(4), n=500)
    xs = np.asarray([p["x"] for p in picks])
    assert xs.min() >= 3.0 and xs.max() <= 5.0
    assert stats.kstest(xs, stats.uniform(3, 2).cdf).pvalue > 1e-3


def test_failed_trials_rank_last_and_pending_ones_are_ignored():
    rng = np.random.default_rng(3)
    good = {"x": -4.0, "lr": 0.5, "n": 0.0, "k": 3, "c": 1}
    failed = {"x": 4.0, "lr": 0.5, "n": 0.0, "k": 12, "c": 1}
    history = _history([good, failed, failed, failed], [1.0, None, None, None])
    history.set_pending([failed] * 20)
    picks = anneal.suggest(SPACE, history, rng, n=300, avg_best_idx=1.0)
    # avg_best_idx=1: the anchor is always the best (the only successful) trial.
    assert all(p["x"] < 0 for p in picks)


def test_settings_are_checked():
    history, rng = History(SPACE), np.random.default_rng(0)
    with pytest.raises(TypeError, match="gamma"):
        anneal.suggest(SPACE, history, rng, gamma=0.2)
    with pytest.raises(ValueError, match="avg_best_idx >= 1"):
        anneal.suggest(SPACE, history, rng, avg_best_idx=0.5)
    with pytest.raises(ValueError, match="shrink_coef >= 0"):
        anneal.suggest(SPACE, history, rng, shrink_coef=-1)
    with pytest.raises(ValueError, match="n >= 1"):
        anneal.suggest(SPACE, history, rng, n=0)


def test_fmin_with_anneal_minimises_a_quadratic():
    trials = Trials()
    best = fmin(
        lambda x: (x - 3) ** 2,
        hp.uniform("x", -5, 5),
        algo=anneal.suggest,
        max_evals=60,
        trials=trials,
        rstate=np.random.default_rng(123),
        show_progressbar=False,
    )
    assert len(trials) == 60
    assert abs(best["x"] - 3.0) < 0.25
    # Later trials sit closer to the optimum than the first ones.
    xs = np.asarray(trials.vals["x"])
    assert np.median(abs(xs[-20:] - 3)) < np.median(abs(xs[:20] - 3))


def test_a_batch_draws_independent_points_around_the_observations():
    history = _history(
        [{"x": 1.0, "lr": 0.1, "n": 0.0, "k": 5, "c": 1}], [0.0]
    )  # one observation: every point anchors on it, shrink = 1/1.1
    picks = anneal.suggest(SPACE, history, np.random.default_rng(2), n=5)
    assert len(picks) == 5 and len({p["x"] for p in picks}) == 5
    assert all(validate_params(SPACE, p) == p for p in picks)


def _feasible_above(config):
    """The loss falls towards x = 0, but only x >= 0.3 satisfies the constraint."""
    return {"loss": config["x"], "constraints": [0.3 - config["x"]]}


def test_constraints_keep_the_search_at_the_feasible_best():
    for seed in range(3):
        trials = Trials()
        fmin(_feasible_above, {"x": hp.uniform("x", 0, 1)}, algo=anneal.suggest,
             max_evals=60, trials=trials, rstate=np.random.default_rng(seed),
             show_progressbar=False)  # fmt: skip
        late = np.array([t["misc"]["vals"]["x"][0] for t in trials.trials[30:]])
        # the best feasible point is on the boundary x = 0.3: the search anneals
        # there, not towards the infeasible x = 0 of the lowest losses
        assert abs(np.median(late) - 0.3) < 0.1
        assert np.mean(late < 0.15) < 0.1
        assert trials.best_trial["result"]["loss"] < 0.32


def test_several_objectives_anneal_along_the_front():
    def two_losses(config):
        return {"loss": [config["x"], (1 - config["x"]) ** 2 + config["y"]]}

    space = {"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 1)}
    trials = Trials()
    fmin(two_losses, space, algo=anneal.suggest, max_evals=60, trials=trials,
         rstate=np.random.default_rng(0), show_progressbar=False)  # fmt: skip
    late_y = np.array([t["misc"]["vals"]["y"][0] for t in trials.trials[30:]])
    assert np.median(late_y) < 0.2  # y only hurts: the front has y near 0
    assert len(trials.best_trials) >= 3
