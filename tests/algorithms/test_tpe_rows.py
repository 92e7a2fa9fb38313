"""TPE's incremental good/bad row bookkeeping matches a from-scratch computation."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe import _rows
from hpo_service.space import compile_space, hp

SPACE = compile_space(
    {"x": hp.uniform("x", 0, 1), "c": hp.choice("c", [{"k": hp.uniform("k", 0, 1)}, 0])}
)


def _add(history, rng, n, ties=False):
    for _ in range(n):
        branch = int(rng.integers(2))
        params = {"x": float(rng.random()), "c": branch}
        if branch == 0:
            params["k"] = float(rng.random())
        loss = float(rng.integers(5)) if ties else float(rng.normal())
        history.add(params, None if rng.random() < 0.1 else loss)


def _reference_below(history, label, n_below):
    rows = np.flatnonzero(~np.isnan(history.values(label)))
    losses = np.nan_to_num(history.losses[rows], nan=np.inf)
    order = np.argsort(losses, kind="stable")[:n_below]
    return np.sort(rows[order])


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("label", ["x", "k"])
def test_incremental_good_rows_equal_a_full_sort(label, ties):
    rng = np.random.default_rng(3)
    history = History(SPACE)
    for chunk in [5, 1, 40, 3, 300, 1, 1, 250]:
        _add(history, rng, chunk, ties=ties)
        state = _rows.group_rows(history, (label,), ignore_failures=False)
        n_below = min(int(np.ceil(0.1 * state.count)), 25)
        below = _rows.below_rows(history, state, n_below)
        np.testing.assert_array_equal(below, _reference_below(history, label, n_below))
        active = np.flatnonzero(~np.isnan(history.values(label)))
        np.testing.assert_array_equal(state.active, active)


def test_failures_left_out_when_ignored():
    rng = np.random.default_rng(4)
    history = History(SPACE)
    _add(history, rng, 200)
    state = _rows.group_rows(history, ("x",), ignore_failures=True)
    np.testing.assert_array_equal(
        state.active, np.flatnonzero(~np.isnan(history.losses))
    )


def test_copies_of_a_history_keep_their_own_rows():
    rng = np.random.default_rng(5)
    history = History(SPACE)
    _add(history, rng, 50)
    _rows.below_rows(history, _rows.group_rows(history, ("x",), False), 5)
    view = copy.copy(history)
    view._losses = -history._losses  # a re-ranked view (as a multi-objective sampler)
    state = _rows.group_rows(view, ("x",), False)
    np.testing.assert_array_equal(
        _rows.below_rows(view, state, 5), _reference_below(view, "x", 5)
    )


def test_above_rows_are_the_rest_with_forgetting_weights_below_the_cap():
    rng = np.random.default_rng(6)
    history = History(SPACE)
    _add(history, rng, 120)
    state = _rows.group_rows(history, ("x",), False)
    below = _rows.below_rows(history, state, 10)
    rows, weights = _rows.above_rows(state, below, 25, 256, rng)
    np.testing.assert_array_equal(rows, np.setdiff1d(np.arange(120), below))
    assert np.all(weights[-25:] == 1.0)
    assert np.all(np.diff(weights) >= 0) and weights[0] == pytest.approx(1 / 110)


def test_above_subsample_follows_the_forgetting_weights():
    history = History(SPACE)
    _add(history, np.random.default_rng(7), 5000)
    state = _rows.group_rows(history, ("x",), False)
    below = _rows.below_rows(history, state, 25)
    rng = np.random.default_rng(8)
    counts = np.zeros(len(history))
    for _ in range(200):
        rows, weights = _rows.above_rows(state, below, 25, 256, rng)
        assert weights.sum() == 256 and np.all(np.diff(rows) > 0)
        assert not np.isin(rows, below).any()
        counts[rows] += weights
    # Expected share of each row: its forgetting weight over the total.
    above = np.setdiff1d(np.arange(len(history)), below)
    expected = _rows._forgetting_weights(above.size, 25)
    expected *= 200 * 256 / expected.sum()
    deciles = np.array_split(np.arange(above.size), 10)
    got = [counts[above[d]].sum() for d in deciles]
    want = [expected[d].sum() for d in deciles]
    np.testing.assert_allclose(got, want, rtol=0.03)
