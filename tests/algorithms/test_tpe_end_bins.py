"""TPE's ``whole_end_bins``: the end values of quantised parameters get whole bins."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.parzen_estimator import (
    Candidates,
    GroupLayout,
    ParzenEstimator,
)
from hpo_service.space import compile_space, hp

DEPTH = hp.uniformint("depth", 1, 20)
LEAF = hp.qloguniform("leaf", 0.0, math.log(64), 1)  # values 1..64
STEP = hp.quniform("step", 0.0, 10.0, 2.5)  # values 0, 2.5, ..., 10


def prior_masses(node, values, whole: bool) -> np.ndarray:
    """Probability of each value under the prior component of a one-parameter TPE
    density (the mixture of no observation)."""
    layout = GroupLayout(list(compile_space({"p": node})), whole_end_bins=whole)
    density = ParzenEstimator(
        layout, np.zeros((0, 1)), np.zeros((0, 0), np.intp), np.zeros(0)
    )
    column = np.asarray(values, dtype=float)[:, None]
    candidates = Candidates(
        raw=layout.normalise(column),
        values=column,
        options=np.zeros((column.shape[0], 0), np.intp),
    )
    return np.exp(density.log_pdf(candidates))


def prior_bin_ratio(a: tuple, b: tuple, support: tuple) -> float:
    """Mass ratio of two bins under the prior component: a normal centred on the
    support with its width as sigma, truncated to it (edges in base units)."""
    lo, hi = support

    def mass(edges: tuple) -> float:
        z = [(e - lo) / (hi - lo) - 0.5 for e in edges]
        return special.ndtr(z[1]) - special.ndtr(z[0])

    return mass(a) / mass(b)


@pytest.mark.parametrize(
    ("node", "q", "low", "high"), [(DEPTH, 1.0, 1.0, 20.0), (STEP, 2.5, 0.0, 10.0)]
)
def test_linear_end_values_get_a_whole_bin_only_with_whole_bins(node, q, low, high):
    values = [low, low + q, high]
    clipped = prior_masses(node, values, whole=False)
    whole = prior_masses(node, values, whole=True)
    second = (low + q / 2, low + 3 * q / 2)
    # hyperopt's definition: the end bins are clipped to the bounds (half a bin).
    bounds = (low, high)
    for got, end in [
        (clipped[0], (low, low + q / 2)),
        (clipped[2], (high - q / 2, high)),
    ]:
        assert got / clipped[1] == pytest.approx(
            prior_bin_ratio(end, second, bounds), rel=1e-6
        )
    # Whole bins: the support is widened by half a step at each end.
    wide = (low - q / 2, high + q / 2)
    for got, end in [
        (whole[0], (low - q / 2, low + q / 2)),
        (whole[2], (high - q / 2, high + q / 2)),
    ]:
        assert got / whole[1] == pytest.approx(
            prior_bin_ratio(end, second, wide), rel=1e-6
        )
    assert whole[0] / whole[1] > 0.9 > 0.6 > clipped[0] / clipped[1]
    every = np.arange(low, high + q / 2, q)
    for w in (False, True):
        assert np.sum(prior_masses(node, every, w)) == pytest.approx(1.0)


def test_log_end_value_gets_its_whole_bin():
    # Bins in log space: 1 -> [log 0.5, log 1.5] whole, [0, log 1.5] clipped;
    # 2 -> [log 1.5, log 2.5] either way; the support ends at log 64 or log 64.5.
    clipped, whole = (prior_masses(LEAF, [1.0, 2.0], w) for w in (False, True))
    log = math.log
    second = (log(1.5), log(2.5))
    assert clipped[0] / clipped[1] == pytest.approx(
        prior_bin_ratio((0.0, log(1.5)), second, (0.0, log(64))), rel=1e-6
    )
    assert whole[0] / whole[1] == pytest.approx(
        prior_bin_ratio((log(0.5), log(1.5)), second, (log(0.5), log(64.5))), rel=1e-6
    )
    assert np.sum(prior_masses(LEAF, np.arange(1.0, 65.0), True)) == pytest.approx(1)


@pytest.mark.parametrize("node", [DEPTH, LEAF, STEP])
def test_proposals_stay_on_the_space_values_and_reach_both_ends(node):
    space = compile_space({"p": node})
    layout = GroupLayout(list(space), whole_end_bins=True)
    observed = layout.normalise(np.array([[1.0], [20.0]]))  # near both ends
    density = ParzenEstimator(layout, observed, np.zeros((2, 0), np.intp), np.ones(2))
    values = density.sample(np.random.default_rng(0), 20_000).values[:, 0]
    expected = {
        "depth": np.arange(1.0, 21.0),
        "leaf": np.arange(1.0, 65.0),
        "step": np.arange(0.0, 10.1, 2.5),
    }[node.label]
    assert set(np.unique(values)) <= set(expected)
    assert values.min() == expected[0] and values.max() == expected[-1]


def history_of(space, losses, trials: int = 60) -> History:
    """``trials`` random trials of ``depth`` and ``x`` with ``losses(depth, x)`` (the
    same first ones whatever their number)."""
    rng = np.random.default_rng(0)
    history = History(space)
    for _ in range(trials):
        params = {"depth": int(rng.integers(1, 21)), "x": float(rng.random())}
        history.add(params, losses(params["depth"], params["x"]))
    return history


def suggestions(space, history, **settings) -> list[dict]:
    return [
        tpe.suggest(space, history, np.random.default_rng(s), **settings)[0]
        for s in range(200)
    ]


SPACE = compile_space({"depth": DEPTH, "x": hp.uniform("x", 0, 1)})


def test_tpe_proposes_an_end_value_more_often_when_it_gets_a_whole_bin():
    history = history_of(SPACE, lambda depth, x: depth + x)  # best at depth = 1
    clipped = np.array([p["depth"] for p in suggestions(SPACE, history)])
    whole = [p["depth"] for p in suggestions(SPACE, history, whole_end_bins=True)]
    assert np.mean(np.equal(whole, 1)) > np.mean(clipped == 1) + 0.05
    assert set(whole) <= set(range(1, 21))


def test_multi_objective_tpe_uses_whole_end_bins_by_default():
    # depth = 1 is on the front (lowest first loss), so MOTPE's good density sits at
    # the lower end, where a whole end bin gives it about twice the mass. 40 trials
    # hold the case (3 at depth 1) at less than half the cost of MOTPE's ranking of
    # 60, done for each of the 600 suggestions.
    history = history_of(SPACE, lambda depth, x: [depth + x, 1 - x], trials=40)
    default = suggestions(SPACE, history)
    assert default == suggestions(SPACE, history, whole_end_bins=True)
    clipped = suggestions(SPACE, history, whole_end_bins=False)
    share = {
        name: np.mean([p["depth"] == 1 for p in points])
        for name, points in [("default", default), ("clipped", clipped)]
    }
    assert share["default"] > share["clipped"] + 0.04
    assert {p["depth"] for p in default + clipped} <= set(range(1, 21))


def test_single_objective_tpe_keeps_half_end_bins_by_default():
    history = history_of(SPACE, lambda depth, x: depth + x)
    default = suggestions(SPACE, history)
    assert default == suggestions(SPACE, history, whole_end_bins=False)
    assert default != suggestions(SPACE, history, whole_end_bins=True)


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        # Bounds on half steps (hyperopt's idiom for equal end bins): values 1..10,
        # 2..11 and 1..4; rounding half to even must not add 0, 12 or 0.
        (hp.quniform("p", 0.5, 10.5, 1), np.arange(1.0, 11.0)),
        (hp.quniform("p", 1.5, 11.5, 1), np.arange(2.0, 12.0)),
        (hp.quniform("p", -1.25, 3.75, 2.5), np.array([0.0, 2.5])),
        (hp.qloguniform("p", math.log(0.5), math.log(4.5), 1), np.arange(1.0, 5.0)),
    ],
)
def test_bounds_on_half_steps_add_no_value_the_space_never_gives(node, expected):
    space = compile_space({"p": node})
    layout = GroupLayout(list(space), whole_end_bins=True)
    ends = layout.normalise(expected[[0, -1], None])
    density = ParzenEstimator(layout, ends, np.zeros((2, 0), np.intp), np.ones(2))
    values = density.sample(np.random.default_rng(0), 20_000).values[:, 0]
    assert set(np.unique(values)) == set(expected)
