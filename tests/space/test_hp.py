"""Construction of ``hp`` expressions: argument checks, arithmetic and casts."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from hpo_service.exceptions import SpaceError
from hpo_service.pyll import scope
from hpo_service.space import hp, space_eval

BAD_ARGUMENTS = [
    (hp.uniform, (3, 1), r"`low < high` must hold, but got low=3, high=1"),
    (hp.uniform, (1, 1), r"`low < high` must hold"),
    (hp.loguniform, (0, -1), r"`low < high`"),
    (hp.loguniform, (0, 1000), r"`high <= 709.0`"),
    (hp.quniform, (5, 1, 1), r"`low < high`"),
    (hp.quniform, (0, 1, 0), r"`q > 0` must hold, but got q=0"),
    (hp.qloguniform, (0, 1, -1), r"`q > 0`"),
    (hp.uniformint, (4, 2), r"`low < high`"),
    (hp.normal, (0, 0), r"`sigma > 0` must hold, but got sigma=0"),
    (hp.lognormal, (0, -1), r"`sigma > 0`"),
    (hp.qnormal, (0, 1, 0), r"`q > 0`"),
    (hp.qlognormal, (0, 1, -0.5), r"`q > 0`"),
    (hp.randint, (0,), r"`upper > 0` must hold, but got upper=0"),
    (hp.randint, (-3,), r"`upper > 0`"),
    (hp.randint, (5, 5), r"`low < high` must hold, but got low=5, high=5"),
    (hp.randint, (2.5,), r"`upper` must be an integer"),
    (hp.randint, (0, 3.5), r"`high` must be an integer"),
    (hp.uniform, ("0", 1), r"`low` must be a finite number, but got low='0'"),
    (hp.uniform, (0, None), r"`high` must be a finite number"),
    (hp.uniform, (0, math.inf), r"`high` must be a finite number"),
    (hp.normal, (math.nan, 1), r"`mu` must be a finite number"),
    (hp.normal, (0, True), r"`sigma` must be a finite number"),
    (hp.uniform, (0, hp.uniform("other", 1, 2)), r"`high` must be a finite number"),
    (hp.choice, ([],), r"`len\(options\) > 0` must hold"),
    (hp.choice, ("abc",), r"`options` must be a list or tuple"),
    (hp.choice, ({"a": 1},), r"`options` must be a list or tuple"),
    (hp.pchoice, ([],), r"`len\(options\) > 0`"),
    (hp.pchoice, ([(0.5, "a"), (0.4, "b")],), r"`sum\(p\) == 1 \(within 1e-06\)`"),
    (hp.pchoice, ([(1.2, "a"), (-0.2, "b")],), r"`p >= 0` must hold, but got p=-0.2"),
    (hp.pchoice, ([(0.5, "a"), ("x", "b")],), r"`p` must be a finite number"),
    (hp.pchoice, (["a", "b"],), r"option 0 must be a \(p, option\) pair"),
]


@pytest.mark.parametrize(("function", "args", "message"), BAD_ARGUMENTS)
def test_bad_arguments_raise_space_error_naming_the_label(function, args, message):
    with pytest.raises(SpaceError, match=message) as info:
        function("my_label", *args)
    assert f"hp.{function.__name__}('my_label')" in str(info.value)


@pytest.mark.parametrize(
    ("function", "args"),
    [
        (hp.uniform, (0, 1)),
        (hp.loguniform, (0, 1)),
        (hp.quniform, (0, 1, 1)),
        (hp.qloguniform, (0, 1, 1)),
        (hp.uniformint, (0, 1)),
        (hp.normal, (0, 1)),
        (hp.lognormal, (0, 1)),
        (hp.qnormal, (0, 1, 1)),
        (hp.qlognormal, (0, 1, 1)),
        (hp.randint, (3,)),
        (hp.choice, ([1, 2],)),
        (hp.pchoice, ([(1.0, 1)],)),
    ],
)
@pytest.mark.parametrize("label", [3, None, b"x", ("x",)])
def test_labels_must_be_strings(function, args, label):
    with pytest.raises(SpaceError, match=r"`label` must be a str, but got label="):
        function(label, *args)


@pytest.mark.parametrize(
    "function, args",
    [
        (hp.uniform, (0, 1)),
        (hp.uniformint, (0, 1)),
        (hp.randint, (3,)),
        (hp.choice, ([1, 2],)),
        (hp.pchoice, ([(1.0, 1)],)),
    ],
)
@pytest.mark.parametrize(
    "label, fragment",
    [
        ("", "non-empty text with no leading or trailing whitespace"),
        ("   ", "non-empty text with no leading or trailing whitespace"),
        (" lr", "non-empty text with no leading or trailing whitespace"),
        ("lr\t", "non-empty text with no leading or trailing whitespace"),
        ("l\nr", "no control characters"),
        ("l\x00r", "no control characters"),
    ],
)
def test_labels_must_be_visible_text(function, args, label, fragment):
    # A label names the CSV column param.<label> and a --params key: an empty one
    # made the column "param." (hyperopt accepts it; we refuse it).
    with pytest.raises(SpaceError, match=fragment) as raised:
        function(label, *args)
    assert f"label={label!r}" in str(raised.value)


@pytest.mark.parametrize("label", ["a,b", "a.b", "layer 1", "lr/σ", 'say "hi"'])
def test_labels_may_hold_punctuation_and_inner_spaces(label):
    assert space_eval({"p": hp.uniform(label, 0, 1)}, {label: 0.5}) == {"p": 0.5}


def test_a_space_stored_with_an_odd_label_still_loads():
    # Written before labels had to be visible text: the study must stay readable.
    from hpo_service.space._serialise import from_document, to_document

    document = to_document({"a": hp.uniform("a", 0, 1), "b": hp.choice("b", [1, 2])})
    params = document["params"]
    params[""], params[" lr"] = params.pop("a"), params.pop("b")
    document["root"] = {"dict": {"a": {"param": ""}, "b": {"param": " lr"}}}
    space = from_document(document)
    assert space_eval(space, {"": 0.5, " lr": 1}) == {"a": 0.5, "b": 2}
    with pytest.raises(SpaceError, match="non-empty text"):
        hp.uniform("", 0, 1)  # only reading is lenient


def test_a_label_and_that_label_dot_value_are_refused_together():
    # A choice "opt" writes its option in the CSV column param.opt.value, and import
    # reads param.opt.value as the option whenever param.opt exists.
    from hpo_service.space._serialise import to_document

    space = {"opt": hp.choice("opt", ["a", "b"]), "v": hp.uniform("opt.value", 0, 1)}
    with pytest.raises(SpaceError, match=r"label 'opt.value' must not be another"):
        to_document(space)
    assert to_document({"v": hp.uniform("opt.value", 0, 1)})  # alone it is fine


def test_pchoice_accepts_probabilities_summing_to_one_within_tolerance():
    choice = hp.pchoice("c", [(0.3 + 5e-7, "a"), (0.7, "b")])
    assert space_eval(choice, {"c": 1}) == "b"


def test_numpy_numbers_and_arrays_are_accepted():
    x = hp.uniform("x", np.float32(0.5), np.int64(2))
    assert space_eval(x, {"x": 1.0}) == 1.0
    n = hp.choice("n", np.arange(3, 6))
    assert space_eval(n, {"n": 2}) == 5


def test_keyword_arguments_use_hyperopt_names():
    space = {
        "u": hp.uniform("u", low=0, high=1),
        "q": hp.quniform("q", low=0, high=10, q=2),
        "n": hp.normal("n", mu=0, sigma=1),
        "r": hp.randint("r", low=2, high=4),
    }
    assert space_eval(space, {"u": 0.5, "q": 4.0, "n": 0.1, "r": 3}) == {
        "u": 0.5,
        "q": 4.0,
        "n": 0.1,
        "r": 3,
    }


X = hp.uniform("x", 0, 10)
Y = hp.uniform("y", 0, 10)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (1 + X, 1 + 3.0),
        (X + 1, 3.0 + 1),
        (X - 1, 3.0 - 1),
        (1 - X, 1 - 3.0),
        (X * 2, 3.0 * 2),
        (2 * X, 2 * 3.0),
        (X / Y, 3.0 / 4.0),
        (1 / X, 1 / 3.0),
        (X // 2, 3.0 // 2),
        (7 // X, 7 // 3.0),
        (X**2, 3.0**2),
        (2**X, 2**3.0),
        (-X, -3.0),
        (+X, 3.0),
        (abs(-X), 3.0),
        (X * Y + X, 3.0 * 4.0 + 3.0),
        (1 + hp.lognormal("ln", 0, 1), 1 + 0.5),
    ],
)
def test_arithmetic_on_expressions(expression, expected):
    assert space_eval(expression, {"x": 3.0, "y": 4.0, "ln": 0.5}) == pytest.approx(
        expected
    )


@pytest.mark.parametrize("other", ["a", [1], None, {"k": 1}])
def test_arithmetic_with_non_numbers_is_a_type_error(other):
    with pytest.raises(TypeError):
        X + other
    with pytest.raises(TypeError):
        other * X


def test_scope_casts():
    n = scope.int(hp.quniform("n", 1, 10, 1))
    f = scope.float(hp.randint("r", 5))
    config = space_eval({"n": n, "f": f}, {"n": 4.0, "r": 2})
    assert config == {"n": 4, "f": 2.0}
    assert type(config["n"]) is int and type(config["f"]) is float
    assert scope.int(3.7) == 3 and scope.float(2) == 2.0


def test_repr_names_the_constructor_and_label():
    assert repr(hp.quniform("q", 0, 4, 2)) == "hp.quniform('q', 0.0, 4.0, 2.0)"
    assert repr(hp.choice("c", [1, 2])) == "hp.choice('c', <2 options>)"
    assert "hp.uniform('x'" in repr(X * 2)


@pytest.mark.parametrize(
    ("make", "meant"),
    [
        (lambda: hp.loguniform("lr", 1e-5, 1e-1), "np.log(1e-05), np.log(0.1)"),
        (lambda: hp.loguniform("lr", 1e-4, 1), "np.log(0.0001), np.log(1)"),
        (lambda: hp.qloguniform("units", 1, 100, 1), "np.log(1), np.log(100), 1"),
        (lambda: hp.loguniform("c", 1, 40), "np.log(1), np.log(40)"),
    ],
)
def test_bounds_that_look_like_the_values_range_are_warned_about(make, meant):
    """hyperopt's log bounds are log(value): (1e-5, 0.1) draws 1.00001..1.105."""
    with pytest.warns(UserWarning, match="bounds are in log space") as caught:
        param = make()
    (warning,) = caught
    assert meant in str(warning.message)
    assert warning.filename == __file__  # points at the user's line
    assert param.label in ("lr", "units", "c")  # still built, as hyperopt builds it


@pytest.mark.parametrize(
    "make",
    [
        lambda: hp.loguniform("lr", math.log(1e-5), math.log(1e-1)),
        lambda: hp.loguniform("x", 0, 1),
        lambda: hp.loguniform("x", -5, 0),
        lambda: hp.loguniform("x", 1, 5),
        lambda: hp.loguniform("x", 0.5, 3),
        lambda: hp.qloguniform("x", 0, 6, 1),
        lambda: hp.qloguniform("x", 2, 8, 1),
        lambda: hp.lognormal("x", 0.001, 0.1),  # mu, sigma: numpy's meaning
        lambda: hp.qlognormal("x", 0.5, 0.2, 1),
    ],
)
def test_log_space_bounds_are_not_warned_about(make):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make()


def test_a_stored_space_is_read_back_without_the_warning():
    from hpo_service.space._serialise import from_document, to_document

    with pytest.warns(UserWarning):
        space = {"lr": hp.loguniform("lr", 1e-5, 1e-1)}
    document = to_document(space)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert to_document(from_document(document)) == document
