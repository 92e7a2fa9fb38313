"""compile_space: parameter specs, order, conditions and structural checks."""

from __future__ import annotations

import pytest

from hpo_service.exceptions import SpaceError
from hpo_service.pyll import scope
from hpo_service.space import CompiledSpace, ParamSpec, compile_space, hp


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (hp.uniform("p", -1, 2), ParamSpec("p", "uniform", low=-1.0, high=2.0)),
        (
            hp.loguniform("p", -3, 0),
            ParamSpec("p", "uniform", low=-3.0, high=0.0, log=True),
        ),
        (
            hp.quniform("p", 0, 9, 3),
            ParamSpec("p", "uniform", low=0.0, high=9.0, q=3.0),
        ),
        (
            hp.qloguniform("p", 0, 2, 0.5),
            ParamSpec("p", "uniform", low=0.0, high=2.0, q=0.5, log=True),
        ),
        (
            hp.uniformint("p", 1, 8),
            ParamSpec("p", "uniform", low=1.0, high=8.0, q=1.0, is_int=True),
        ),
        (hp.normal("p", 1, 2), ParamSpec("p", "normal", mu=1.0, sigma=2.0)),
        (
            hp.lognormal("p", 0, 1),
            ParamSpec("p", "normal", mu=0.0, sigma=1.0, log=True),
        ),
        (hp.qnormal("p", 0, 1, 2), ParamSpec("p", "normal", mu=0.0, sigma=1.0, q=2.0)),
        (
            hp.qlognormal("p", 0, 1, 2),
            ParamSpec("p", "normal", mu=0.0, sigma=1.0, q=2.0, log=True),
        ),
        (hp.randint("p", 4), ParamSpec("p", "randint", low=0, high=4)),
        (hp.randint("p", -2, 3), ParamSpec("p", "randint", low=-2, high=3)),
        (
            hp.choice("p", ["a", "b", "c", "d"]),
            ParamSpec("p", "choice", weights=(0.25,) * 4),
        ),
        (
            hp.pchoice("p", [(0.2, 1), (0.8, 2)]),
            ParamSpec("p", "choice", weights=(0.2, 0.8), categorical=True),
        ),
    ],
)
def test_each_distribution_compiles_to_its_spec(expression, expected):
    assert compile_space(expression) == CompiledSpace((expected,))


def test_pchoice_weights_are_normalised():
    (spec,) = compile_space(hp.pchoice("p", [(0.3, 1), (0.7 + 9e-7, 2)]))
    assert sum(spec.weights) == pytest.approx(1.0, abs=1e-15)


def test_params_in_depth_first_order_with_conditions():
    space = {
        "a": hp.uniform("a", 0, 1),
        "model": hp.choice(
            "model",
            [
                {"kind": "svm", "C": hp.loguniform("C", -3, 3)},
                {
                    "kind": "tree",
                    "depth": hp.choice("depth", [None, hp.randint("max_depth", 1, 20)]),
                },
            ],
        ),
        "z": [hp.normal("z", 0, 1)],
    }
    compiled = compile_space(space)
    assert [p.label for p in compiled] == ["a", "model", "C", "depth", "max_depth", "z"]
    conditions = {p.label: p.conditions for p in compiled}
    assert conditions == {
        "a": (),
        "model": (),
        "C": ((("model", 0),),),
        "depth": ((("model", 1),),),
        "max_depth": ((("model", 1), ("depth", 1)),),
        "z": (),
    }


def test_reused_expression_is_one_param_active_on_any_path():
    shared = hp.uniform("lr", 0, 1)
    space = hp.choice("c", [{"lr": shared}, {"x": 1}, {"lr2": shared * 2}])
    compiled = compile_space(space)
    assert [p.label for p in compiled] == ["c", "lr"]
    assert compiled["lr"].conditions == ((("c", 0),), (("c", 2),))
    assert compiled["lr"].is_active({"c": 2}) and not compiled["lr"].is_active({"c": 1})


def test_reuse_outside_any_choice_makes_a_param_unconditional():
    shared = hp.uniform("lr", 0, 1)
    compiled = compile_space({"c": hp.choice("c", [shared, 2]), "lr": shared})
    assert compiled["lr"].conditions == ()


def test_conditions_implied_by_another_are_dropped():
    shared = hp.uniform("lr", 0, 1)
    inner = hp.choice("inner", [shared, 0])
    space = hp.choice("outer", [[shared, inner], 1])
    assert compile_space(space)["lr"].conditions == ((("outer", 0),),)


def test_choices_come_before_every_param_they_enable():
    shared = hp.uniform("x", 0, 1)
    space = [hp.choice("c", [shared, 0]), hp.choice("d", [1, shared])]
    compiled = compile_space(space)
    labels = [p.label for p in compiled]
    assert labels.index("d") < labels.index("x")
    assert compiled["x"].conditions == ((("c", 0),), (("d", 1),))


def test_params_inside_arithmetic_and_casts_are_found():
    space = hp.choice(
        "c", [1 + 2 * hp.uniform("u", 0, 1), scope.int(hp.quniform("q", 1, 5, 1))]
    )
    compiled = compile_space(space)
    assert compiled["u"].conditions == ((("c", 0),),)
    assert compiled["q"].conditions == ((("c", 1),),)


def test_same_choice_in_two_branches_conditions_its_children_on_both():
    inner = hp.choice("inner", [hp.uniform("u", 0, 1), 0])
    compiled = compile_space(hp.choice("outer", [inner, {"again": inner}]))
    assert compiled["inner"].conditions == ((("outer", 0),), (("outer", 1),))
    assert compiled["u"].conditions == (
        (("outer", 0), ("inner", 0)),
        (("outer", 1), ("inner", 0)),
    )


def test_duplicate_labels_are_rejected_naming_label_and_places():
    space = {"a": hp.uniform("x", 0, 1), "b": [hp.normal("x", 0, 1)]}
    with pytest.raises(SpaceError, match=r"label 'x' must name one expression") as info:
        compile_space(space)
    assert "space['a']" in str(info.value) and "space['b'][0]" in str(info.value)


def test_duplicate_labels_inside_choices_are_rejected():
    space = hp.choice("c", [hp.uniform("c", 0, 1), 2])
    with pytest.raises(SpaceError, match="label 'c'"):
        compile_space(space)


def test_a_space_containing_itself_is_rejected():
    inner: list = [hp.uniform("x", 0, 1)]
    inner.append({"loop": inner})
    with pytest.raises(SpaceError, match="must not contain itself"):
        compile_space(inner)


def test_constants_only_and_single_expression_spaces():
    assert len(compile_space({"a": 1, "b": [2, (3, "x")]})) == 0
    assert [p.label for p in compile_space(hp.uniform("x", 0, 1))] == ["x"]


def test_compiling_twice_gives_equal_results():
    space = {"c": hp.choice("c", [hp.uniform("x", 0, 1), hp.normal("y", 0, 1)])}
    assert compile_space(space) == compile_space(space)
