"""TPE's caches (rows kept per history, per-layout tables, per-candidate bins) change
no suggestion: a long run with warm caches suggests exactly what a cold start does."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe import _observed
from hpo_service.algorithms._tpe._scoring import _distinct_per_row
from hpo_service.algorithms._tpe.sampler import _groups
from hpo_service.space import compile_space, hp

SPACE = {
    "u": hp.uniform("u", -2, 3),
    "lu": hp.loguniform("lu", math.log(1e-4), 0.0),
    "q": hp.quniform("q", 0, 40, 1),
    "qlu": hp.qloguniform("qlu", 0.0, math.log(500), 1),
    "ui": hp.uniformint("ui", 1, 12),
    "n": hp.normal("n", 1.0, 2.0),
    "ri": hp.randint("ri", 5),
    "c": hp.choice(
        "c", [{"a": hp.uniform("a", 0, 1), "b": hp.choice("b", [0, 1, 2])}, None]
    ),
}


def _loss(params):
    value = (params["u"] - 1) ** 2 + abs(math.log(params["lu"]) + 4) + params["q"] / 9
    value += abs(params["ui"] - 4) + params["ri"] + params.get("a", 1.5)
    return value + math.log(params["qlu"] + 1) / 3 + abs(params["n"])


def _cold_copy(rows):
    """A new compiled space and a history holding ``rows``: every cache is empty."""
    space = compile_space(SPACE)
    history = History(space)
    for params, loss in rows:
        history.add(params, loss)
    return space, history


@pytest.mark.parametrize("settings", [{}, {"multivariate": False}])
def test_warm_caches_suggest_what_a_cold_start_suggests(settings):
    space = compile_space(SPACE)
    history = History(space)
    rng = np.random.default_rng(5)
    rows, pending = [], []
    for step in range(330):  # beyond max_above_kernels: the bad set is subsampled
        history.set_pending(pending)
        pending += tpe.suggest(space, history, rng, **settings)
        if len(pending) > 3:  # finish one out of order; some fail
            params = pending.pop(int(rng.integers(len(pending))))
            loss = None if step % 17 == 0 else _loss(params)
            history.add(params, loss)
            rows.append((params, loss))
        if step % 110 == 109:
            cold_space, cold = _cold_copy(rows)
            cold.set_pending(pending)
            warm = tpe.suggest(space, history, np.random.default_rng(step), 3)
            fresh = tpe.suggest(cold_space, cold, np.random.default_rng(step), 3)
            assert warm == fresh


def test_observed_rows_are_the_layouts_observations_of_the_active_rows():
    space = compile_space(SPACE)
    history = History(space)
    rng = np.random.default_rng(2)
    for chunk in (3, 1, 70, 200):
        for params in tpe.suggest(space, history, rng, chunk, n_startup_jobs=10**6):
            history.add(params, 1.0)
        for group in _groups(space, multivariate=True):
            numeric, options = _observed.observed(history, group.layout)
            columns = [history.values(label) for label in group.labels]
            active = np.flatnonzero(~np.isnan(columns[0]))
            want = group.layout.observations([c[active] for c in columns])
            np.testing.assert_array_equal(numeric[active], want[0])
            np.testing.assert_array_equal(options[active], want[1])


def test_a_copy_of_a_history_keeps_its_own_observed_rows():
    space = compile_space(SPACE)
    history = History(space)
    rng = np.random.default_rng(3)
    for params in tpe.suggest(space, history, rng, 20, n_startup_jobs=10**6):
        history.add(params, 1.0)
    layout = _groups(space, multivariate=True)[0].layout
    before = _observed.observed(history, layout)[0][:20].copy()
    other = copy.deepcopy(history)
    other.add(tpe.suggest(space, other, rng, n_startup_jobs=10**6)[0], 2.0)
    assert _observed.observed(other, layout)[0].shape[0] >= 21
    np.testing.assert_array_equal(_observed.observed(history, layout)[0][:20], before)


def test_distinct_values_per_row_are_numpys_unique_row_by_row():
    rng = np.random.default_rng(4)
    for _ in range(100):
        shape = (int(rng.integers(1, 5)), int(rng.integers(1, 60)))
        values = np.round(rng.normal(size=shape) * 3) / 2
        if rng.random() < 0.3:
            values[-1, rng.integers(shape[1])] = np.inf
        got = _distinct_per_row(values)
        np.testing.assert_array_equal(got.count, [np.unique(r).size for r in values])
        for r, row in enumerate(values):
            _, first, inverse = np.unique(row, return_index=True, return_inverse=True)
            np.testing.assert_array_equal(got.first[got.row == r], first)
            np.testing.assert_array_equal(got.number[r], inverse)


def test_distinct_pairs_per_row_number_every_entry_by_an_equal_pair():
    rng = np.random.default_rng(6)
    for _ in range(100):
        shape = (int(rng.integers(1, 5)), int(rng.integers(1, 60)))
        means = rng.integers(0, 6, size=shape) / 5
        widths = rng.choice([0.1, 0.2, 1.0], size=shape)
        got = _distinct_per_row(means, widths)
        for r in range(shape[0]):
            first = got.first[got.row == r]
            assert np.all(np.diff(means[r, first]) >= 0)  # ascending means
            at = first[got.number[r]]  # the listed pair of every entry
            np.testing.assert_array_equal(means[r, at], means[r])
            np.testing.assert_array_equal(widths[r, at], widths[r])
