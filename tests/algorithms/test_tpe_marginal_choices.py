"""``marginal_choices``: with ``branch_joint``, the choices that open branches are
picked by their own good/bad ratio, then the rest by the whole ratio among the
candidates with those choices."""

from __future__ import annotations

import numpy as np

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.sampler import TPESettings, _choices_first, _groups
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


def test_the_better_branch_is_chosen_by_its_own_ratio():
    # Scored jointly with x, branch 1 at x near 0.8 looks best: its bad trials all
    # lie at small x, so the bad density is thin there. With branch_joint, branch
    # 0's group re-draws x, so (branch 1, x near 0.8) is never even tried and the
    # pull never ends. By the ratio of the branch choice alone, branch 0 (all the
    # good trials, half the bad ones) wins.
    joint = _suggestions(branch_joint=True, marginal=False)
    marginal = _suggestions(branch_joint=True, marginal=True)
    assert np.mean([p["k"] == 1 for p in joint]) > 0.8
    assert np.mean([p["k"] == 0 for p in marginal]) > 0.9
    # The other values are still chosen by the whole ratio: near the good x.
    xs = [p["x"] for p in marginal if p["k"] == 0]
    assert np.median(np.abs(np.array(xs) - 0.8)) < 0.1


def test_without_branch_joint_nothing_changes():
    assert _suggestions(False, marginal=True) == _suggestions(False, marginal=False)


def test_only_choices_that_open_branches_are_scored_alone():
    space = compile_space(
        {
            "x": hp.uniform("x", 0, 1),
            "act": hp.choice("act", ["relu", "tanh"]),
            "k": hp.choice("k", [{"y": hp.uniform("y", 0, 1)}, None]),
        }
    )
    groups = _groups(space, True, joint=True)
    top = groups[0]
    assert top.labels == ("x", "act", "k")
    assert [top.layout.categorical[j].label for j in top.branch_choices] == ["k"]
    assert all(g.branch_choices == () for g in groups[1:])
    # Without branch_joint, or without shared numeric parameters, no group has any.
    assert all(g.branch_choices == () for g in _groups(space, True, joint=False))
    no_shared = compile_space(
        {"k": hp.choice("k", [{"y": hp.uniform("y", 0, 1)}, None])}
    )
    assert all(g.branch_choices == () for g in _groups(no_shared, True, joint=True))


def test_choices_first_ranks_by_choice_then_by_score():
    choice = np.array([[0.5, 1.0, 1.0, -0.2], [2.0, 2.0, 2.0, 2.0]])
    score = np.array([[9.0, 1.0, 3.0, 8.0], [0.1, 0.3, 0.2, -1.0]])
    ranked = _choices_first(choice, score)
    assert np.argmax(ranked, axis=1).tolist() == [2, 1]


def test_spaces_without_branches_are_unchanged():
    history = History(BOX)
    rng = np.random.default_rng(0)
    for _ in range(30):
        params = tpe.suggest(BOX, history, rng)[0]
        history.add(params, params["a"] ** 2 + params["b"])
    settings = {"branch_joint": True, "marginal_choices": True}
    on = tpe.suggest(BOX, history, np.random.default_rng(3), n=3, **settings)
    off = tpe.suggest(BOX, history, np.random.default_rng(3), n=3)
    assert on == off


def test_default_is_off():
    assert TPESettings().marginal_choices is False
