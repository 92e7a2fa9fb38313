"""``branch_joint``: a conditional group is modelled jointly with the unconditional
numeric parameters, fit on the trials of its branch only."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.sampler import _groups
from hpo_service.space import compile_space, hp, validate_params

# x is shared by both branches; y lives in branch 0 only. In branch 0 the loss is low
# along the diagonal y = x (like log C and log gamma of an rbf SVM); branch 1 is flat.
DIAGONAL = compile_space(
    {
        "x": hp.uniform("x", 0, 1),
        "e": hp.loguniform("e", math.log(1e-3), 0.0),
        "kernel": hp.choice("kernel", [{"y": hp.uniform("y", 0, 1)}, None]),
    }
)
BOX = compile_space({"a": hp.uniform("a", -1, 1), "b": hp.loguniform("b", -3, 0)})


def _diagonal_history(n: int, seed: int) -> History:
    """Branch-0 trials spread over the square, good ones on the diagonal."""
    history = History(DIAGONAL)
    rng = np.random.default_rng(seed)
    for i in range(n):
        x = float(rng.uniform())
        if i % 4 == 3:
            history.add({"x": x, "e": 0.01, "kernel": 1}, 0.9)
            continue
        y = float(rng.uniform())
        history.add({"x": x, "e": 0.01, "kernel": 0, "y": y}, abs(x - y))
    return history


def test_a_conditional_group_holds_the_unconditional_numeric_parameters():
    plain = [g.labels for g in _groups(DIAGONAL, True, joint=False)]
    joint = [g.labels for g in _groups(DIAGONAL, True, joint=True)]
    assert plain == [("x", "e", "kernel"), ("y",)]
    # Own parameters first (their first one says where the group is active).
    assert joint == [("x", "e", "kernel"), ("y", "x", "e")]
    # Every parameter on its own: nothing to join.
    alone = [g.labels for g in _groups(DIAGONAL, False, joint=True)]
    assert alone == [("x",), ("e",), ("kernel",), ("y",)]


def test_joint_branch_model_follows_a_diagonal_the_separate_one_cannot():
    history = _diagonal_history(80, seed=1)

    def off_diagonal(branch_joint: bool) -> float:
        gaps = []
        for seed in range(20):
            points = tpe.suggest(
                DIAGONAL,
                history,
                np.random.default_rng(seed),
                n=4,
                branch_joint=branch_joint,
            )
            gaps += [abs(p["x"] - p["y"]) for p in points if p["kernel"] == 0]
        assert len(gaps) >= 20
        return float(np.median(gaps))

    # The separate model draws y near good y's whatever x was drawn: gaps like those
    # of random pairs (median 0.29). The joint one draws (x, y) near good pairs.
    assert off_diagonal(False) > 0.2
    assert off_diagonal(True) < 0.4 * off_diagonal(False)


def test_suggestions_stay_valid_with_pending_points_of_both_branches():
    history = _diagonal_history(40, seed=2)
    history.set_pending(
        [{"x": 0.5, "e": 0.1, "kernel": 0, "y": 0.5}, {"x": 0.2, "e": 0.1, "kernel": 1}]
    )
    points = tpe.suggest(
        DIAGONAL, history, np.random.default_rng(0), n=6, branch_joint=True
    )
    again = tpe.suggest(
        DIAGONAL, history, np.random.default_rng(0), n=6, branch_joint=True
    )
    assert len(points) == 6 and points == again
    for params in points:
        assert validate_params(DIAGONAL, params) == params


@pytest.mark.parametrize("n", [1, 3])
def test_spaces_without_conditions_are_unchanged(n):
    history = History(BOX)
    rng = np.random.default_rng(0)
    for _ in range(30):
        params = tpe.suggest(BOX, history, rng)[0]
        history.add(params, params["a"] ** 2 + math.log(params["b"]) ** 2)
    joint = tpe.suggest(BOX, history, np.random.default_rng(5), n=n, branch_joint=True)
    plain = tpe.suggest(BOX, history, np.random.default_rng(5), n=n, branch_joint=False)
    assert joint == plain
