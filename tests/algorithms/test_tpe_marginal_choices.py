"""``marginal_choices``: a group's categorical values are picked by their own
good/bad ratio, then its numeric values by the whole ratio among those candidates."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.sampler import TPESettings, _choices_first
from hpo_service.space import compile_space, hp

# x is shared; branch 0 (with y) is good near x = 0.8, branch 1 (no parameters) is
# worse everywhere, and has only been tried at small x.
BRANCHES = compile_space(
    {
        "x": hp.uniform("x", 0, 1),
        "k": hp.choice("k", [{"y": hp.uniform("y", 0, 1)}, None]),
    }
)
BOX = compile_space({"a": hp.uniform("a", -1, 1), "b": hp.uniform("b", 0, 2)})


def _history() -> History:
    history = History(BRANCHES)
    rng = np.random.default_rng(0)
    for i in range(60):
        if i % 2 == 0:
            x, y = float(rng.uniform(0.5, 1.0)), float(rng.uniform())
            history.add({"x": x, "k": 0, "y": y}, abs(x - 0.8) + 0.1 * abs(y - 0.5))
        else:
            x = float(rng.uniform(0.0, 0.3))
            history.add({"x": x, "k": 1}, 0.5 + x)
    return history


def _suggestions(branch_joint: bool, marginal: bool) -> list[dict]:
    history = _history()
    return [
        tpe.suggest(
            BRANCHES,
            history,
            np.random.default_rng(seed),
            branch_joint=branch_joint,
            marginal_choices=marginal,
        )[0]
        for seed in range(100)
    ]


@pytest.mark.parametrize("branch_joint", [False, True])
def test_the_better_branch_is_chosen_by_its_own_ratio(branch_joint):
    # Scored jointly with x, branch 1 at x near 0.8 looks best: its bad trials all
    # lie at small x, so the bad density is thin there (when a branch's own group
    # re-draws x, as branch_joint does for branch 0, that combination is never even
    # tried and the pull never ends). By the ratio of the branches alone, branch 0
    # (all the good trials, half the bad ones) wins.
    joint = _suggestions(branch_joint, marginal=False)
    marginal = _suggestions(branch_joint, marginal=True)
    assert np.mean([p["k"] == 1 for p in joint]) > 0.8
    assert np.mean([p["k"] == 0 for p in marginal]) > 0.9
    # The numeric values are still chosen by the whole ratio: near the good x.
    xs = [p["x"] for p in marginal if p["k"] == 0]
    assert np.median(np.abs(np.array(xs) - 0.8)) < 0.1


def test_choices_first_ranks_by_choice_then_by_score():
    choice = np.array([[0.5, 1.0, 1.0, -0.2], [2.0, 2.0, 2.0, 2.0]])
    score = np.array([[9.0, 1.0, 3.0, 8.0], [0.1, 0.3, 0.2, -1.0]])
    ranked = _choices_first(choice, score)
    assert np.argmax(ranked, axis=1).tolist() == [2, 1]


def test_groups_without_choices_are_unchanged():
    history = History(BOX)
    rng = np.random.default_rng(0)
    for _ in range(30):
        params = tpe.suggest(BOX, history, rng)[0]
        history.add(params, params["a"] ** 2 + params["b"])
    on = tpe.suggest(BOX, history, np.random.default_rng(3), n=3, marginal_choices=True)
    off = tpe.suggest(BOX, history, np.random.default_rng(3), n=3)
    assert on == off


def test_default_is_off():
    assert TPESettings().marginal_choices is False
