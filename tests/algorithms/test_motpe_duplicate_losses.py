"""MOTPE's ``duplicate_losses``: copies of a loss vector in the good set or after it."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.algorithms import motpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.sampler import TPESettings
from hpo_service.space import compile_space, hp

X = compile_space({"x": hp.uniform("x", 0, 1)})

# A front of three points, the middle one given three times (trials 1, 4, 5), and a
# second front whose points (6, 7) each dominate nothing of the first.
LOSSES = [
    [0.1, 9.0],
    [0.3, 5.0],
    [0.6, 1.0],
    [0.7, 8.0],
    [0.3, 5.0],
    [0.3, 5.0],
    [0.4, 7.0],
    [0.8, 3.0],
]


def history_of(losses, violations=None) -> History:
    history = History(X)
    for i, row in enumerate(losses):
        v = 0.0 if violations is None else violations[i]
        history.add({"x": i / 10}, row, violation=v)
    return history


def good_set(history: History, n_below: int, duplicate_losses: str) -> set[int]:
    settings = TPESettings(
        gamma=1.0, max_below=n_below, duplicate_losses=duplicate_losses
    )
    places = motpe.rank_trials(history, settings)
    return {int(i) for i in np.flatnonzero(places < n_below)}


def test_keep_puts_every_copy_of_a_front_point_in_the_good_set():
    # The front with its copies is 5 trials: it fits the good set whole.
    assert good_set(history_of(LOSSES), 5, "keep") == {0, 1, 2, 4, 5}


def test_last_counts_a_loss_vector_once_and_gives_copies_places_last():
    history = history_of(LOSSES)
    # The 3 distinct front points, then the next front (6, 7), not the copies.
    assert good_set(history, 5, "last") == {0, 1, 2, 6, 7}
    places = motpe.rank_trials(
        history, TPESettings(gamma=1.0, max_below=5, duplicate_losses="last")
    )
    # Every first arrival (3, the worst, too) ranks before the two copies.
    assert set(np.argsort(places)[-2:]) == {4, 5}


def test_copies_fill_the_good_set_when_too_few_distinct_losses_exist():
    losses = [[0.3, 5.0]] * 4 + [[0.2, 6.0]]
    # Two distinct vectors for a good set of 3: the first copy of (0.3, 5) fills it.
    assert good_set(history_of(losses), 3, "last") == {0, 1, 4}


def test_infeasible_trials_still_rank_after_every_feasible_copy():
    violations = [0.0] * 6 + [1.0, 2.0]
    history = history_of(LOSSES, violations)
    places = motpe.rank_trials(
        history, TPESettings(gamma=1.0, max_below=8, duplicate_losses="last")
    )
    assert list(np.argsort(places)[-2:]) == [6, 7]
    assert set(np.argsort(places)[4:6]) == {4, 5}


def test_one_objective_is_unchanged():
    history = history_of([[0.5], [0.5], [0.2], [0.5], [0.9]], [0.0, 0.0, 0.0, 1.0, 0.0])
    keep = motpe.rank_trials(history, TPESettings(gamma=1.0, max_below=3))
    last = motpe.rank_trials(
        history, TPESettings(gamma=1.0, max_below=3, duplicate_losses="last")
    )
    np.testing.assert_array_equal(keep, last)


def test_suggestions_differ_only_when_copies_change_the_good_set():
    history = history_of(LOSSES * 3)
    rng_args = dict(n=4, gamma=0.25, n_startup_jobs=5)
    keep = motpe.suggest(X, history, np.random.default_rng(0), **rng_args)
    same = motpe.suggest(
        X, history, np.random.default_rng(0), duplicate_losses="keep", **rng_args
    )
    last = motpe.suggest(
        X, history, np.random.default_rng(0), duplicate_losses="last", **rng_args
    )
    assert keep == same
    assert keep != last


def test_an_unknown_choice_is_refused():
    with pytest.raises(ValueError, match="duplicate_losses in \\('keep', 'last'\\)"):
        TPESettings(duplicate_losses="first")
