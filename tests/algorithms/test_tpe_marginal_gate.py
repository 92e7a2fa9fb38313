"""``marginal_gate``: per-parameter candidate draws while many points are pending
("count": at least ``n_startup_jobs`` of them, their weights summed)."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.space import compile_space, hp

SPACE = compile_space({"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 1)})
#: One candidate per suggestion (no scoring picks among draws); a good set of the 20
#: trials in two tight clusters, at (0.2, 0.2) and (0.8, 0.8): a whole-point draw
#: lands near one of them, a per-parameter draw can take x from one and y from the
#: other.
SETTINGS = {
    "gamma": 1.0,
    "max_below": 20,
    "n_ei_candidates": 1,
    "bandwidth_floor": 0.01,
}
PENDING = {"x": 0.5, "y": 0.5}


def _history() -> History:
    history = History(SPACE)
    for i in range(20):
        corner = 0.2 if i % 2 else 0.8
        history.add({"x": corner + 1e-4 * i, "y": corner - 1e-4 * i}, float(i))
    for i in range(10):
        history.add({"x": 0.5 + 1e-3 * i, "y": 0.05}, 100.0 + i)
    return history


def _draws(gate, n_pending, weights=None, **settings):
    """200 single suggestions as (x, y) rows with ``n_pending`` points pending."""
    history = _history()
    history.set_pending([PENDING] * n_pending, weights)
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(200):
        (point,) = tpe.suggest(
            SPACE, history, rng, marginal_gate=gate, **{**SETTINGS, **settings}
        )
        rows.append((point["x"], point["y"]))
    return np.array(rows)


def _mixed(draws):
    """Draws with x near one cluster and y near the other (within 0.15 of each:
    the clusters' kernels are ~0.12 wide, so a whole-point draw gets there 5
    bandwidths off in one coordinate)."""
    near = np.abs(draws[:, :, None] - np.array([0.2, 0.8])) < 0.15  # (n, 2, 2)
    return int(
        np.sum((near[:, 0, 0] & near[:, 1, 1]) | (near[:, 0, 1] & near[:, 1, 0]))
    )


def test_count_recombines_the_good_trials_with_ten_pending_where_none_does_not():
    assert _mixed(_draws("none", 10)) == 0
    gated = _draws("count", 10)
    assert _mixed(gated) > 40  # a good share of the draws mix the two clusters
    # the same draws as per-parameter draws asked for outright
    assert gated.tolist() == _draws("none", 10, marginal_draws=True).tolist()


@pytest.mark.parametrize("n_pending", [0, 1, 9])
def test_count_with_fewer_than_ten_pending_draws_as_none_does(n_pending):
    assert _draws("count", n_pending).tolist() == _draws("none", n_pending).tolist()


def test_count_sums_the_pending_weights():
    assert _mixed(_draws("count", 20, [0.5] * 20)) > 40  # weighs 10
    light = _draws("count", 20, [0.45] * 20)  # weighs 9: the gate stays shut
    assert light.tolist() == _draws("none", 20, [0.45] * 20).tolist()


def test_count_follows_n_startup_jobs():
    assert _mixed(_draws("count", 5, n_startup_jobs=5)) > 40
    assert _draws("count", 5).tolist() == _draws("none", 5).tolist()


def test_a_sequential_study_is_unchanged():
    def study(gate):
        history = History(SPACE)
        rng = np.random.default_rng(1)
        points = []
        for _ in range(40):
            (point,) = tpe.suggest(SPACE, history, rng, marginal_gate=gate)
            history.add(point, (point["x"] - 0.3) ** 2 + (point["y"] - 0.6) ** 2)
            points.append((point["x"], point["y"]))
        return points

    assert study("count") == study("none")
