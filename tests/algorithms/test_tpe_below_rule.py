"""``below_rule``: how many trials form the good set, and of which trials.

``"share"`` (the default) takes the best ``ceil(gamma * m)`` of a group's ``m`` trials;
``"sqrt"`` is hyperopt's ``ap_split_trials``: the best ``ceil(gamma * sqrt(n))`` of
the study's ``n`` trials, and of those the ones in which the group is active.
"""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe._rows import study_best_rows
from hpo_service.algorithms._tpe.sampler import TPESettings, _groups, _models, _split
from hpo_service.space import compile_space, hp

# Branch 0 holds the study's best trials; branch 1's best trials sit at y = 0.9.
BRANCHES = compile_space(
    {
        "x": hp.uniform("x", 0, 1),
        "kernel": hp.choice(
            "kernel", [{"u": hp.uniform("u", 0, 1)}, {"y": hp.uniform("y", 0, 1)}]
        ),
    }
)


def _history(n: int, seed: int = 0) -> History:
    """Alternating branches; branch 0 always beats branch 1; in branch 1 the loss
    grows with the distance of y from 0.9, and failed trials are never best."""
    rng = np.random.default_rng(seed)
    history = History(BRANCHES)
    for i in range(n):
        x = float(rng.uniform())
        if i % 2 == 0:
            history.add({"x": x, "kernel": 0, "u": float(rng.uniform())}, x)
        else:
            y = float(rng.uniform())
            history.add({"x": x, "kernel": 1, "y": y}, 10.0 + abs(y - 0.9))
    return history


def _below_count(history: History, labels: tuple[str, ...], **settings) -> int:
    group = next(g for g in _groups(BRANCHES, True) if g.labels == labels)
    config = TPESettings(**settings)
    below, _, _ = _split(group, history, [], np.random.default_rng(0), config)
    return below[0].shape[0]


@pytest.mark.parametrize(("n", "want"), [(16, 1), (64, 2), (100, 3), (400, 5)])
def test_sqrt_rule_takes_hyperopts_count_of_the_study(n, want):
    history = _history(n)
    # All of the study's best trials are in branch 0, whose group is x's (kernel)
    # for every trial, and u's (branch 0 only).
    assert _below_count(history, ("x", "kernel"), below_rule="sqrt", gamma=0.25) == want
    assert _below_count(history, ("u",), below_rule="sqrt", gamma=0.25) == want
    # The default: 7% of the group's own trials.
    assert _below_count(history, ("x", "kernel")) == min(int(np.ceil(0.07 * n)), 25)


def test_sqrt_rule_is_capped_by_max_below():
    history = _history(400)
    got = _below_count(history, ("u",), below_rule="sqrt", gamma=1.0, max_below=7)
    assert got == 7


def test_a_branch_without_a_study_best_trial_has_no_good_observations():
    history = _history(100)
    # Branch 1's trials are all worse than branch 0's: none is among the study's 3
    # best, so its group's good density is its prior; the default takes branch 1's
    # own best 7% (4 of its 50 trials).
    assert _below_count(history, ("y",), below_rule="sqrt", gamma=0.25) == 0
    assert _below_count(history, ("y",)) == 4


def test_an_empty_good_set_draws_the_branch_parameter_from_its_prior():
    history = _history(100)
    group = next(g for g in _groups(BRANCHES, True) if g.labels == ("y",))

    def good_draws(**settings) -> np.ndarray:
        config = TPESettings(**settings)
        good, _ = _models(group, history, [], np.random.default_rng(0), config)
        draws = good.sample(np.random.default_rng(1), 2000)
        return group.layout.to_values(draws.raw)[:, 0]

    # Default: branch 1's good trials sit near y = 0.9 and the good density too.
    near = good_draws()
    assert np.median(np.abs(near - 0.9)) < 0.1
    # sqrt rule: no good trial in branch 1, its good density is the prior (uniform
    # on [0, 1]: the median distance from 0.9 is 0.4).
    spread = good_draws(below_rule="sqrt", gamma=0.25)
    assert 0.3 < np.median(np.abs(spread - 0.9)) < 0.5
    assert 0.4 < np.mean(spread) < 0.6


def _mostly_failed() -> History:
    """16 trials in branch 0, ``u = row / 16``; rows 0-13 failed (NaN loss), rows 14
    and 15 finished: fewer finished trials than the sqrt rule's 4 best."""
    history = History(BRANCHES)
    for i in range(16):
        loss = float("nan") if i < 14 else 20.0 - i
        history.add({"x": 0.5, "kernel": 0, "u": i / 16}, loss)
    return history


def _u_rows(**settings) -> tuple[list[int], list[int]]:
    """Rows (``16 * u``) of the below and above observations of u's group."""
    history = _mostly_failed()
    group = next(g for g in _groups(BRANCHES, True) if g.labels == ("u",))
    config = TPESettings(below_rule="sqrt", gamma=1.0, **settings)
    below, above, _ = _split(group, history, [], np.random.default_rng(0), config)

    def rows(observed: np.ndarray) -> list[int]:
        values = group.layout.to_values(observed)[:, 0]
        return sorted(np.rint(16 * values).astype(int).tolist())

    return rows(below[0]), rows(above[0])


def test_failed_trials_are_never_among_the_best_when_ignored():
    # ceil(sqrt(16)) = 4 best of the study, but only rows 14 and 15 finished.
    # hyperopt's rule (failures kept): a failure counts as +inf, ties to the earlier
    # row, so the two earliest failures fill the good set.
    below, above = _u_rows()
    assert below == [0, 1, 14, 15]
    assert above == list(range(2, 14))
    # Ignored, failures are in neither density: the good set is the finished rows.
    below, above = _u_rows(ignore_failures=True)
    assert below == [14, 15]
    assert above == []


def test_study_best_rows_never_counts_an_ignored_failure():
    # study_best_rows on its own (the group's active rows are not there to filter).
    history = _mostly_failed()
    assert study_best_rows(history, 4, ignore_failures=False).tolist() == [0, 1, 14, 15]
    assert study_best_rows(history, 4, ignore_failures=True).tolist() == [14, 15]
    assert study_best_rows(history, 1, ignore_failures=True).tolist() == [15]


@pytest.mark.parametrize("value", ["hyperopt", "", 1])
def test_below_rule_is_checked(value):
    with pytest.raises(ValueError, match="below_rule"):
        TPESettings(below_rule=value)


def test_the_setting_passes_through_suggest():
    history = _history(40)
    got = tpe.suggest(
        BRANCHES, history, np.random.default_rng(0), below_rule="sqrt", gamma=0.25
    )
    assert len(got) == 1 and "x" in got[0]
