"""``marginal_draws`` and ``ei_per_parameter``: hyperopt's way of drawing candidates.

hyperopt's ``tpe.suggest`` draws ``n_EI_candidates`` values for every parameter from
that parameter's own 1-D good mixture; ours draws a whole candidate of a group from one
component. ``marginal_draws`` picks each parameter's component independently (the
candidates are still scored jointly); ``ei_per_parameter`` draws ``n_ei_candidates``
per parameter of a group.
"""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.parzen_estimator import GroupLayout, ParzenEstimator
from hpo_service.algorithms._tpe.sampler import TPESettings, suggest_batch
from hpo_service.space import compile_space, hp

SPACE = compile_space(
    {
        "x": hp.uniform("x", 0, 1),
        "y": hp.uniform("y", 0, 1),
        "c": hp.choice("c", ["a", "b"]),
    }
)


def _two_corners() -> ParzenEstimator:
    """Two narrow kernels, at (0.1, 0.1, a) and (0.9, 0.9, b), and a light prior."""
    layout = GroupLayout(list(SPACE))
    numeric = np.array([[0.1, 0.1], [0.9, 0.9]])
    options = np.array([[0], [1]])
    return ParzenEstimator(
        layout,
        numeric,
        options,
        np.ones(2),
        prior_weight=1e-6,
        bandwidth="scott",
        bandwidth_floor=0.01,
        sigmas=np.full((2, 2), 0.01),
    )


def test_joint_draws_keep_each_kernels_coordinates_together():
    got = _two_corners().sample(np.random.default_rng(0), 4000)
    low_x, low_y = got.raw[:, 0] < 0.5, got.raw[:, 1] < 0.5
    assert np.array_equal(low_x, low_y)
    assert np.array_equal(low_x, got.options[:, 0] == 0)


def test_marginal_draws_mix_the_coordinates_of_different_kernels():
    got = _two_corners().sample(np.random.default_rng(0), 4000, marginal=True)
    low_x, low_y = got.raw[:, 0] < 0.5, got.raw[:, 1] < 0.5
    low_c = got.options[:, 0] == 0
    # Independent picks of two equal kernels: each mixed pattern about a quarter.
    for pattern in (low_x & ~low_y, ~low_x & low_y, low_x & ~low_c):
        assert 0.2 < pattern.mean() < 0.3
    # Each parameter alone still follows its own mixture (half at each corner).
    assert 0.45 < low_x.mean() < 0.55 and 0.45 < low_c.mean() < 0.55
    assert np.all(np.minimum(abs(got.raw - 0.1), abs(got.raw - 0.9)) < 0.06)


def test_marginal_draws_leave_the_prior_out_when_asked():
    layout = GroupLayout(list(SPACE))
    good = ParzenEstimator(
        layout,
        np.array([[0.2, 0.2]]),
        np.array([[0]]),
        np.ones(1),
        prior_weight=5.0,
        bandwidth_floor=0.01,
        sigmas=np.full((1, 2), 0.02),
    )
    kept = good.sample(np.random.default_rng(1), 2000, with_prior=False, marginal=True)
    assert np.all(abs(kept.raw - 0.2) < 0.1)
    spread = good.sample(np.random.default_rng(1), 2000, marginal=True)
    assert np.any(abs(spread.raw - 0.2) > 0.6)  # the prior's draws reach the far end


def _history(n: int) -> History:
    rng = np.random.default_rng(3)
    history = History(SPACE)
    for _ in range(n):
        x, y, c = float(rng.uniform()), float(rng.uniform()), int(rng.integers(2))
        history.add({"x": x, "y": y, "c": c}, (x - 0.3) ** 2 + (y - 0.6) ** 2 + c)
    return history


def test_ei_per_parameter_draws_n_ei_candidates_per_parameter_of_the_group():
    history = _history(40)
    # The one group (x, y, c) has 3 parameters: 24 per parameter is 72 per group.
    for seed in range(5):
        per_parameter = suggest_batch(
            SPACE,
            history,
            [],
            np.random.default_rng(seed),
            TPESettings(ei_per_parameter=True),
        )
        total = suggest_batch(
            SPACE,
            history,
            [],
            np.random.default_rng(seed),
            TPESettings(n_ei_candidates=72),
        )
        assert per_parameter == total


def test_the_defaults_draw_per_group_and_jointly():
    settings = TPESettings()
    assert settings.ei_per_parameter is False and settings.marginal_draws is False
    history = _history(40)
    default = suggest_batch(SPACE, history, [], np.random.default_rng(0), settings)
    marginal = suggest_batch(
        SPACE,
        history,
        [],
        np.random.default_rng(0),
        TPESettings(marginal_draws=True),
    )
    assert default != marginal


@pytest.mark.parametrize("name", ["marginal_draws", "ei_per_parameter"])
def test_switches_refuse_non_bools(name):
    with pytest.raises(ValueError, match=f"`{name} in \\(True, False\\)` must hold"):
        TPESettings(**{name: "yes"})
