"""space_eval: flat params to the nested config an objective receives."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.exceptions import SpaceError
from hpo_service.space import hp, space_eval

SPACE = {
    "lr": hp.loguniform("lr", -5, 0),
    "model": hp.choice(
        "model",
        [
            {"kind": "svm", "C": hp.uniform("C", 0, 10), "kernel": ("rbf", 3)},
            {
                "kind": "tree",
                "depth": hp.randint("depth", 1, 10),
                "n": hp.uniformint("n", 1, 5),
            },
        ],
    ),
    "layers": [hp.quniform("l1", 8, 64, 8), 32],
}


def test_choice_selects_the_indexed_option_and_evaluates_only_it():
    config = space_eval(SPACE, {"lr": 0.1, "model": 0, "C": 2.5, "l1": 16.0})
    assert config == {
        "lr": 0.1,
        "model": {"kind": "svm", "C": 2.5, "kernel": ("rbf", 3)},
        "layers": [16.0, 32],
    }
    config = space_eval(SPACE, {"lr": 0.1, "model": 1, "depth": 4, "n": 3, "l1": 8.0})
    assert config["model"] == {"kind": "tree", "depth": 4, "n": 3}


def test_values_get_the_types_hyperopt_gives():
    config = space_eval(
        SPACE,
        {"lr": np.float64(0.1), "model": np.int64(1), "depth": 4.0, "n": 3.0, "l1": 8},
    )
    assert type(config["lr"]) is float
    assert type(config["model"]["depth"]) is int
    assert type(config["model"]["n"]) is int
    assert type(config["layers"][0]) is float


def test_containers_keep_their_types_and_non_json_constants_pass_through():
    marker = object()
    space = {1: [hp.uniform("x", 0, 1)], (2, 3): (marker, {"k": None})}
    config = space_eval(space, {"x": 0.5})
    assert config == {1: [0.5], (2, 3): (marker, {"k": None})}
    assert config[(2, 3)][0] is marker


def test_extra_and_inactive_labels_are_ignored():
    params = {"lr": 0.1, "model": 0, "C": 1.0, "depth": 3, "l1": 8.0, "unknown": 5}
    assert space_eval(SPACE, params)["model"]["C"] == 1.0


def test_missing_active_parameter_is_an_error_naming_it():
    with pytest.raises(SpaceError, match=r"'C' has none"):
        space_eval(SPACE, {"lr": 0.1, "model": 0, "l1": 8.0})


@pytest.mark.parametrize("index", [2, -1, 0.5, "0", None, True, np.nan])
def test_invalid_choice_index_is_an_error_naming_the_choice(index):
    with pytest.raises(SpaceError, match=r"model"):
        space_eval(SPACE, {"lr": 0.1, "model": index, "C": 1.0, "l1": 8.0})


def test_integral_float_choice_index_is_accepted():
    assert space_eval(hp.choice("c", ["a", "b"]), {"c": 1.0}) == "b"


def test_non_numeric_value_is_an_error_naming_the_label():
    with pytest.raises(SpaceError, match=r"params\['lr'\] must be a number"):
        space_eval({"lr": hp.uniform("lr", 0, 1)}, {"lr": "fast"})


def test_hyperopt_vals_format_is_accepted():
    vals = {"lr": [0.1], "model": [0], "C": [1.5], "depth": [], "n": [], "l1": [24.0]}
    assert space_eval(SPACE, vals) == space_eval(
        SPACE, {"lr": 0.1, "model": 0, "C": 1.5, "l1": 24.0}
    )
    with pytest.raises(SpaceError, match="'C' has none"):
        space_eval(SPACE, {**vals, "C": []})


def test_numpy_arrays_of_one_value_are_accepted():
    space = {"x": hp.uniform("x", 0, 1), "c": hp.choice("c", ["a", "b"])}
    params = {"x": np.array(0.5), "c": np.array([1])}
    assert space_eval(space, params) == {"x": 0.5, "c": "b"}


def test_shared_expression_has_one_value_everywhere():
    x = hp.uniform("x", 0, 1)
    assert space_eval({"a": x, "b": [x, x * 2]}, {"x": 0.25}) == {
        "a": 0.25,
        "b": [0.25, 0.5],
    }


def test_nested_choices():
    space = hp.choice(
        "a", [0, hp.choice("b", ["x", {"deep": hp.choice("c", [[1], [2]])}])]
    )
    assert space_eval(space, {"a": 1, "b": 1, "c": 1}) == {"deep": [2]}
    assert space_eval(space, {"a": 1, "b": 0}) == "x"
    assert space_eval(space, {"a": 0}) == 0


def test_a_list_of_points_is_refused_saying_to_evaluate_each():
    """fmin of a study of several objectives returns the Pareto front's points (a
    list): space_eval of that list said "'list' object has no attribute 'get'"."""
    from hpo_service import Trials, fmin, rand

    space = {"x": hp.uniform("x", 0, 1)}
    front = fmin(lambda c: [c["x"], 1 - c["x"]], space, algo=rand.suggest,
                 max_evals=3, trials=Trials(), show_progressbar=False)  # fmt: skip
    assert isinstance(front, list) and len(front) == 3  # every trial is on the front
    one = r"^`params` must be one point \{label: value\}, but got params=\[\{'x': "
    with pytest.raises(TypeError, match=one + r".* list of 3 points .* for point"):
        space_eval(space, front)
    assert [space_eval(space, p)["x"] for p in front] == [p["x"] for p in front]
    with pytest.raises(
        TypeError, match=r"a mapping \{label: value\}, but got params=3 \(int\)$"
    ):
        space_eval(space, 3)
    with pytest.raises(TypeError, match="one point"):
        space_eval(space, ())


def test_a_pandas_row_is_taken_as_a_point():
    pd = pytest.importorskip("pandas")
    space = {"x": hp.uniform("x", 0, 1), "k": hp.choice("k", ["a", "b"])}
    assert space_eval(space, pd.Series({"x": 0.5, "k": 1})) == {"x": 0.5, "k": "b"}


def test_the_point_is_taken_by_hyperopts_keyword_too():
    # Real hyperopt code writes space_eval(space=space, hp_assignment=best).
    point = {"lr": -1.0, "model": 1, "depth": 3, "n": 2, "l1": 16.0}
    expected = space_eval(SPACE, point)
    assert space_eval(space=SPACE, hp_assignment=point) == expected
    assert space_eval(SPACE, params=point) == expected
    with pytest.raises(TypeError, match=r"must be given one point.*but got 2"):
        space_eval(SPACE, point, params=point)
    with pytest.raises(TypeError, match="but got 0"):
        space_eval(SPACE)
    hyperopt = pytest.importorskip("hyperopt")
    theirs = {"C": hyperopt.hp.uniform("C", 0, 10)}
    hyperopt.space_eval(space=theirs, hp_assignment={"C": 1.0})  # the name is theirs
