"""``scope``: deferred calls inside a space (hyperopt's pyll functions and your own)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpo_service.exceptions import SpaceError
from hpo_service.pyll import as_apply, scope
from hpo_service.space import (
    compile_space,
    from_document,
    hp,
    sample,
    space_eval,
    to_document,
)
from hpo_service.space._expr import Op
from tests.helpers.scoped import half_plus


def test_defined_function_is_called_directly_and_deferred_on_expressions():
    assert half_plus(1, 4) == 3  # the decorator returns the function itself
    space = scope.half_plus(hp.uniform("a", 0, 10), hp.normal("b", 0, 1))
    assert space_eval(space, {"a": 2.0, "b": 4.0}) == 4.0
    assert scope.half_plus(2, 2) == 3  # constants: called at once


def test_a_defined_function_is_stored_by_reference_and_rebuilt():
    space = {"v": scope.half_plus(hp.uniform("a", 0, 10), b=hp.uniform("b", 0, 1))}
    document = to_document(space)
    assert document["root"]["dict"]["v"]["ref"] == "tests.helpers.scoped:half_plus"
    rebuilt = from_document(document)
    params = {"a": 4.0, "b": 1.0}
    assert space_eval(rebuilt, params) == space_eval(space, params) == {"v": 4.5}


def test_a_function_that_cannot_be_imported_makes_the_space_in_process_only():
    @scope.define
    def local_twice(x):
        return 2 * x

    space = scope.local_twice(hp.uniform("a", 0, 1))
    assert space_eval(space, {"a": 0.25}) == 0.5
    with pytest.raises(SpaceError, match="in-process only"):
        to_document(space)


def test_redefining_a_name_with_another_function_is_refused():
    with pytest.raises(ValueError, match=r"scope\.half_plus"):

        @scope.define
        def half_plus(a):
            return a


def test_unknown_scope_function_says_how_to_define_one():
    with pytest.raises(AttributeError, match=r"@scope\.define"):
        _ = scope.no_such_function


def test_math_indexing_and_as_apply_of_hyperopt_test_domains():
    x = hp.uniform("x", -5, 5)
    pick = hp.choice("o", [(-3, hp.uniform("n", -5, 5)), (3, hp.uniform("p", -5, 5))])
    arms = as_apply([-1.0, 0.0])
    space = {
        "min": scope.min(0.1 * (x - 10) ** 2, 10),
        "sig": 1 / (1 + scope.exp(-x)),
        "trig": scope.sin(x) + scope.cos(x),
        "log": scope.float(scope.log(1e-12 + x**2)),
        "pair": (pick[0] - pick[1]) ** 2,
        "arm": arms[hp.choice("arm", [0, 1])],
        "mod": x % 2,
    }
    params = {"x": 1.5, "o": 1, "p": 2.0, "arm": 0}
    config = space_eval(space, params)
    assert config["min"] == pytest.approx(7.225)  # min(7.225, 10)
    assert config["sig"] == pytest.approx(1 / (1 + math.exp(-1.5)))
    assert config["trig"] == pytest.approx(math.sin(1.5) + math.cos(1.5))
    assert config["log"] == pytest.approx(math.log(2.25))
    assert config["pair"] == 1.0 and config["arm"] == -1.0 and config["mod"] == 1.5
    rebuilt = from_document(to_document(space))
    assert space_eval(rebuilt, params) == pytest.approx(config)


def test_an_unlabelled_random_node_draws_from_its_generator():
    rng = np.random.default_rng(123)
    noisy = {"loss": scope.normal(hp.choice("x", [-1.0, 0.0]), 1.0, rng=rng)}
    expected = np.random.default_rng(123).normal(-1.0, 1.0)
    assert space_eval(noisy, {"x": 0})["loss"] == pytest.approx(expected)
    with pytest.raises(SpaceError, match="in-process only"):
        to_document(noisy)  # the generator cannot be stored


def test_expressions_are_not_iterable():
    with pytest.raises(TypeError, match="not iterable"):
        list(hp.uniform("x", 0, 1))


def test_sample_takes_a_generator_a_random_state_or_a_seed():
    space = hp.randint("a", 5, 15)
    generator = np.random.default_rng(1)
    draws = [sample(space, rng=generator) for _ in range(200)]
    assert set(draws) == set(range(5, 15))
    assert sample(space, np.random.RandomState(0)) in range(5, 15)
    assert sample(space, 7) == sample(space, 7)
    with pytest.raises(TypeError, match="rstate"):
        sample(space, "seed")
    assert compile_space(space)["a"].kind == "randint"


def test_an_objective_given_expressions_by_hyperopts_fmin_is_told_why():
    # A half-done port: the space from hpo_service.hp, fmin still hyperopt's, which
    # hands the objective the expressions themselves as constants.
    hyperopt = pytest.importorskip("hyperopt")
    why = (
        ": an expression has no value until a search draws one; an objective gets "
        "values, never expressions: if one got this, the space went to another "
        "library's search (hyperopt's fmin?): import fmin, tpe and Trials from "
        "hpo_service too"
    )
    space = {"c": hp.loguniform("c", -3, 3), "n": hp.quniform("n", 1, 9, 1)}
    for objective, called in ((lambda cfg: float(cfg["c"]), "float()"),
                              (lambda cfg: int(cfg["n"]) * 0.5, "int()")):  # fmt: skip
        with pytest.raises(TypeError) as e:
            hyperopt.fmin(objective, space, algo=hyperopt.rand.suggest, max_evals=1,
                          show_progressbar=False)  # fmt: skip
        assert str(e.value).startswith(f"{called} of an hp expression (hp.")
        assert str(e.value).endswith(why)


def _hyperopt_and_ours_space(pyll_scope, hp_module):
    """One space written with hyperopt's scope functions, in either library."""
    x = hp_module.uniform("x", -2, 2)
    return {
        "floor": pyll_scope.maximum(x, 0.5),
        "cap": pyll_scope.minimum(hp_module.loguniform("lr", -5, 0), 0.1),
        "neg": pyll_scope.lt(x, 0),
        "big": pyll_scope.ge(hp_module.quniform("n", 0, 10, 1), 5),
        "kind": pyll_scope.switch(hp_module.randint("k", 3), "a", "b", "c"),
        "pick": pyll_scope.switch(
            hp_module.randint("m", 2),
            {"svm": hp_module.uniform("c", 0, 1)},
            {"rf": pyll_scope.int(hp_module.quniform("trees", 10, 50, 10))},
        ),
        "name": pyll_scope.str_join("-", ["lr", "sched"]),
    }


def test_hyperopts_scope_functions_draw_what_hyperopts_draw():
    hyperopt = pytest.importorskip("hyperopt")
    from hyperopt.pyll import scope as their_scope
    from hyperopt.pyll import stochastic as their_stochastic

    from hpo_service.pyll import stochastic

    theirs = _hyperopt_and_ours_space(their_scope, hyperopt.hp)
    ours = _hyperopt_and_ours_space(scope, hp)
    their_rng, our_rng = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(20):
        expected = their_stochastic.sample(theirs, rng=their_rng)
        got = stochastic.sample(ours, rng=our_rng)
        assert got == expected  # same draws in the same order


def test_a_switch_over_a_randint_is_a_choice_and_others_take_constants():
    space = _hyperopt_and_ours_space(scope, hp)
    specs = compile_space(space)
    assert specs["m"].kind == "choice" and specs["k"].kind == "choice"
    assert specs["c"].conditions == ((("m", 0),),)  # inactive when m picks rf
    params = {"x": -1.0, "lr": 0.5, "n": 7.0, "k": 2, "m": 1, "trees": 20.0}
    config = space_eval(space, params)
    assert config == {
        "floor": 0.5,
        "cap": 0.1,
        "neg": True,
        "big": True,
        "kind": "c",
        "pick": {"rf": 20},
        "name": "lr-sched",
    }
    assert space_eval(from_document(to_document(space)), params) == config
    fixed = scope.switch(hp.choice("i", [0, 1]), 10, 20)
    assert space_eval(fixed, {"i": 1}) == 20
    assert compile_space(fixed)["i"].kind == "choice"
    with pytest.raises(SpaceError, match=r"must have index=hp\.randint\(label, n\)"):
        scope.switch(hp.randint("j", 1, 2), hp.uniform("a", 0, 1), 2.0)


def test_a_randint_used_as_a_value_and_as_a_switchs_index_is_one_parameter():
    # hyperopt's choice is a switch over a randint: a ported space may use that
    # randint's value too (a layer count that also picks a width). It was refused:
    # DuplicateLabel, hp.randint('layers') and hp.choice('layers') "are different".
    layers = hp.randint("layers", 3)
    width = scope.switch(layers, 64, 128, 256)
    space = {
        "layers": layers,
        "width": width,
        "again": width,  # one switch used twice stays one choice once stored
        "arm": scope.switch(hp.randint("arm", 2), {"lr": hp.uniform("lr", 0, 1)}, 0),
    }
    specs = compile_space(space)
    assert specs["layers"].kind == "choice" and specs["layers"].values == (
        64,
        128,
        256,
    )
    params = {"layers": 2, "arm": 1}
    config = {"layers": 2, "width": 256, "again": 256, "arm": 0}
    assert space_eval(space, params) == config
    rebuilt = from_document(to_document(space))  # as a worker reads a study's space
    assert space_eval(rebuilt, params) == config
    assert compile_space(rebuilt) == specs
    assert to_document(rebuilt) == to_document(space)
    for seed in range(10):  # each draw: the value and its option agree
        drawn = sample(space, seed)
        assert drawn["width"] == (64, 128, 256)[drawn["layers"]], drawn
    hyperopt = pytest.importorskip("hyperopt")
    from hyperopt.pyll import scope as their_scope

    theirs = hyperopt.hp.randint("layers", 3)
    their_space = {"layers": theirs, "width": their_scope.switch(theirs, 64, 128, 256)}
    assert hyperopt.space_eval(their_space, {"layers": 2}) == {
        "layers": 2,
        "width": 256,
    }


@pytest.mark.parametrize(
    "other",
    [
        lambda: hp.randint("k", 4),  # another number of values
        lambda: hp.randint("k", 1, 4),  # another range
        lambda: hp.pchoice("k", [(0.5, "a"), (0.3, "b"), (0.2, "c")]),  # weighted
        lambda: hp.choice("k", ["a", "b", "c"]),  # another choice
        lambda: hp.uniform("k", 0, 3),
    ],
)
def test_a_switchs_randint_label_still_names_one_parameter(other):
    """Only ``hp.randint(label, n)`` and the choice a switch over it makes are one
    parameter (hyperopt's ``hp.choice``); any other pair sharing a label is
    refused as before."""
    space = {"a": scope.switch(hp.randint("k", 3), "x", "y", "z"), "b": other()}
    with pytest.raises(SpaceError, match="must name one expression"):
        compile_space(space)


def test_several_switches_over_one_randint_are_one_parameter():
    """hyperopt takes one randint as the index of several switches (a layer count
    picking a width and a dropout); each switch was a choice of that label, so two
    of them were refused as different expressions."""
    layers = hp.randint("layers", 2)
    space = {
        "width": scope.switch(layers, 64, 128),
        "dropout": scope.switch(layers, {"p": hp.uniform("p", 0, 0.5)}, 0.0),
    }
    specs = compile_space(space)
    assert specs["layers"].kind == "choice" and specs["layers"].values == (64, 128)
    assert specs["p"].conditions == ((("layers", 0),),)
    for params, config in [
        ({"layers": 0, "p": 0.25}, {"width": 64, "dropout": {"p": 0.25}}),
        ({"layers": 1}, {"width": 128, "dropout": 0.0}),
    ]:
        assert space_eval(space, params) == config
        assert space_eval(from_document(to_document(space)), params) == config
    assert compile_space(from_document(to_document(space))) == specs
    hyperopt = pytest.importorskip("hyperopt")
    from hyperopt.pyll import scope as their_scope

    theirs = hyperopt.hp.randint("layers", 2)
    their_space = {
        "width": their_scope.switch(theirs, 64, 128),
        "dropout": their_scope.switch(theirs, 0.5, 0.0),
    }
    assert hyperopt.space_eval(their_space, {"layers": 1}) == {
        "width": 128,
        "dropout": 0.0,
    }
    with pytest.raises(SpaceError, match="must name one expression"):
        compile_space({"a": hp.choice("k", [1, 2]), "b": hp.choice("k", [3, 4])})


def test_switches_over_one_randint_may_have_more_options_than_it_draws():
    """hyperopt takes switches over one ``hp.randint(label, n)`` with different
    numbers of options (the options past ``n`` are never drawn); one with
    parameters among more than ``n`` options was refused (``index`` must be
    ``hp.randint(label, len(options))``). It is the choice of its first ``n``."""
    layers = hp.randint("layers", 2)
    space = {
        "width": scope.switch(layers, 64, 128),
        "dropout": scope.switch(layers, {"p": hp.uniform("p", 0, 0.5)}, 0.0, 0.9),
    }
    specs = compile_space(space)
    assert [s.label for s in specs] == ["layers", "p"]
    assert specs["layers"].kind == "choice" and len(specs["layers"].weights) == 2
    assert specs["p"].conditions == ((("layers", 0),),)
    rebuilt = from_document(to_document(space))  # as a worker reads a study's space
    assert compile_space(rebuilt) == specs
    for params, config in [
        ({"layers": 0, "p": 0.25}, {"width": 64, "dropout": {"p": 0.25}}),
        ({"layers": 1}, {"width": 128, "dropout": 0.0}),
    ]:
        assert space_eval(space, params) == config
        assert space_eval(rebuilt, params) == config
    drawn = {sample(space, seed)["width"] for seed in range(20)}
    assert drawn == {64, 128}
    hyperopt = pytest.importorskip("hyperopt")
    from hyperopt.pyll import scope as their_scope

    theirs = hyperopt.hp.randint("layers", 2)
    their_space = {
        "width": their_scope.switch(theirs, 64, 128),
        "dropout": their_scope.switch(
            theirs, {"p": hyperopt.hp.uniform("p", 0, 0.5)}, 0.0, 0.9
        ),
    }
    assert hyperopt.space_eval(their_space, {"layers": 1}) == {
        "width": 128,
        "dropout": 0.0,
    }


@pytest.mark.parametrize(
    "options",
    [
        ("a", "b"),  # constants: was taken, then failed on the draw of 2
        ({"p": hp.uniform("p", 0, 1)}, "b"),
    ],
)
@pytest.mark.parametrize(
    "index", [lambda: hp.randint("k", 3), lambda: hp.randint("k", 1, 3)]
)
def test_a_switch_whose_randint_can_draw_past_its_last_option_is_refused(
    index, options
):
    """hyperopt raises IndexError when such an index draws past the last option;
    here the space is refused when built."""
    with pytest.raises(SpaceError) as raised:
        scope.switch(index(), *options)
    assert str(raised.value).startswith(
        "`scope.switch(index, *options)` must have an option for every value of "
        "index, but got index=hp.randint('k', "
    )
    assert "(up to 2) for 2 options" in str(raised.value)


def test_a_stored_switch_past_its_randints_range_still_reads_as_written():
    """A study stored before such switches were refused (one over constants was
    taken) still reads back, so its status, trials and export work; its space
    is what was stored."""
    stored = {"kind": Op("switch", (hp.randint("k", 3), "a", "b"), ())}
    document = to_document(stored)  # what the older version wrote
    rebuilt = from_document(document)
    assert to_document(rebuilt) == document
    assert space_eval(rebuilt, {"k": 1}) == {"kind": "b"}
