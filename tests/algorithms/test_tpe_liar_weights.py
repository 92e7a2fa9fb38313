"""Per-point liar weights: a pending point can count as a fraction of a liar."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.parzen_estimator import Candidates
from hpo_service.algorithms._tpe.sampler import TPESettings, _groups, _models, _split
from hpo_service.space import compile_space, hp

SPACE = compile_space({"x": hp.uniform("x", -10, 10), "y": hp.uniform("y", -10, 10)})
BEST = {"x": 3.0, "y": -1.0}
FAR = {"x": -8.0, "y": 8.0}  # far from the trials, where `g` is low


def _history(seed=0, n=40):
    history = History(SPACE)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        params = tpe.suggest(SPACE, history, rng, n_startup_jobs=10)[0]
        history.add(params, (params["x"] - 3) ** 2 + (params["y"] + 1) ** 2)
    return history


def test_weights_of_one_suggest_exactly_what_no_weights_do():
    pending = [BEST, {"x": 0.0, "y": 0.0}, {"x": -5.0, "y": 4.0}]
    for seed in range(3):
        history = _history(seed)
        picks = []
        for weights in (None, [1.0, 1.0, 1.0]):
            history.set_pending(pending, weights)
            rng = np.random.default_rng(seed)
            picks.append(tpe.suggest(SPACE, history, rng, n=3))
        assert picks[0] == picks[1]


def test_a_lighter_liar_repels_less_than_a_full_one_but_still_repels():
    """A pending point far from the trials raises ``g`` there, less when lighter."""
    history = _history()
    group = _groups(SPACE, True)[0]
    raw = group.layout.normalise(np.array([[FAR["x"], FAR["y"]]]))
    point = Candidates(
        raw=raw, values=group.layout.to_values(raw), options=np.empty((1, 0), int)
    )

    def bad_at_far(pending, weights=None):
        rng = np.random.default_rng(0)
        _, bad = _models(group, history, pending, rng, TPESettings(), weights)
        return bad.log_pdf(point)[0]

    full, light, none = (
        bad_at_far([FAR]),
        bad_at_far([FAR], [0.25]),
        bad_at_far([]),
    )
    assert full > light + 0.1
    assert light > none + 0.1


def test_weights_follow_the_points_that_activate_a_conditional_group():
    space = compile_space(
        {
            "c": hp.choice(
                "c", [{"a": hp.uniform("a", 0, 1)}, {"b": hp.uniform("b", 0, 1)}]
            )
        }
    )
    history = History(space)
    for i in range(12):
        params = {"c": i % 2, "a" if i % 2 == 0 else "b": i / 12}
        history.add(params, float(i))
    pending = [{"c": 0, "a": 0.5}, {"c": 1, "b": 0.2}, {"c": 1, "b": 0.7}]
    weights = [0.1, 0.5, 0.25]
    by_label = {g.labels: g for g in _groups(space, True)}
    rng = np.random.default_rng(0)
    _, _, liars = _split(
        by_label[("b",)], history, pending, rng, TPESettings(), weights
    )
    np.testing.assert_allclose(liars[2], [0.5, 0.25])
    _, _, liars = _split(
        by_label[("a",)], history, pending, rng, TPESettings(), weights
    )
    np.testing.assert_allclose(liars[2], [0.1])


def test_weights_must_match_the_pending_points():
    with pytest.raises(
        ValueError, match=r"`len\(weights\) == len\(pending\)` must hold"
    ):
        History(SPACE).set_pending([BEST, BEST], [0.5])


@pytest.mark.parametrize("weight", [0.0, -0.25, float("nan"), float("inf")])
def test_a_weight_that_is_not_finite_and_positive_is_refused_by_name(weight):
    # Weight 0 used to fail in the sampler with a bare "math domain error".
    with pytest.raises(ValueError, match=r"`0 < weight < inf` must hold.*got"):
        History(SPACE).set_pending([BEST, BEST], [1.0, weight])
