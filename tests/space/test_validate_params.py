"""validate_params: exactly the active labels, each with an in-range value."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpo_service.exceptions import SpaceError
from hpo_service.space import compile_space, hp, sample_params, validate_params

SPACE = {
    "u": hp.uniform("u", -1, 1),
    "lu": hp.loguniform("lu", -2, 1),
    "qu": hp.quniform("qu", 0.5, 9.6, 1),
    "qlu": hp.qloguniform("qlu", 0, 2, 2),
    "ui": hp.uniformint("ui", 1, 5),
    "n": hp.normal("n", 0, 1),
    "ln": hp.lognormal("ln", 0, 1),
    "qn": hp.qnormal("qn", 0, 1, 0.5),
    "qln": hp.qlognormal("qln", 0, 1, 1),
    "r": hp.randint("r", 3, 6),
    "c": hp.choice("c", [0, {"inner": hp.uniform("inner", 0, 1)}]),
}
COMPILED = compile_space(SPACE)
VALID = {
    "u": 0.5,
    "lu": 1.0,
    "qu": 3.0,
    "qlu": 4.0,
    "ui": 2,
    "n": -30.0,
    "ln": 1e-9,
    "qn": 1.5,
    "qln": 0.0,
    "r": 5,
    "c": 1,
    "inner": 0.5,
}


def test_sampled_params_are_valid_and_returned_normalised():
    rng = np.random.default_rng(0)
    for _ in range(300):
        params = sample_params(COMPILED, rng)
        assert validate_params(COMPILED, params) == params


def test_values_are_normalised_to_python_types():
    params = {**VALID, "ui": np.float64(2.0), "r": [np.int64(5)], "u": np.float32(0.5)}
    checked = validate_params(COMPILED, params)
    assert type(checked["ui"]) is int and checked["ui"] == 2
    assert type(checked["r"]) is int and type(checked["u"]) is float


def test_multiples_of_q_pass_despite_float_error():
    space = compile_space({"t": hp.quniform("t", 0, 1, 0.1)})
    assert validate_params(space, {"t": 0.1 + 0.2})["t"] == 0.1 + 0.2  # 0.300...04
    assert validate_params(space, {"t": 0.7})["t"] == 0.7


def test_quantised_bounds_are_the_rounded_bounds():
    assert validate_params(COMPILED, {**VALID, "qu": 0.0, "qlu": 8.0})["qu"] == 0.0
    assert validate_params(COMPILED, {**VALID, "qu": 10.0})["qu"] == 10.0
    with pytest.raises(SpaceError, match="qu"):
        validate_params(COMPILED, {**VALID, "qu": 11.0})


CHOICE_INDEX = (
    r"^params\['c'\] must be the index of an option of choice 'c', an integer from "
    r"0 to 1, but got {}$"
)


@pytest.mark.parametrize(
    ("label", "value", "message"),
    [
        ("u", 1.5, r"`-1.0 <= u <= 1.0` must hold, but got u=1.5"),
        ("lu", 0.1, r"lu"),
        ("lu", 3.0, r"lu"),
        ("qlu", 10.0, r"qlu"),
        ("ui", 6, r"ui"),
        ("ui", 2.5, r"params\['ui'\] must be an integer"),
        ("ln", -1.0, r"ln"),
        ("qln", -1.0, r"qln"),
        ("r", 6, r"`3.0 <= r <= 5.0`"),
        ("r", 2, r"r"),
        ("r", 4.5, r"params\['r'\] must be an integer"),
        ("c", 2, r"c"),
        ("n", math.nan, r"params\['n'\] must be a finite number"),
        ("n", math.inf, r"params\['n'\] must be a finite number"),
        ("n", "1.0", r"params\['n'\] must be a finite number"),
        (
            "qu",
            3.5,
            r"^params\['qu'\] must be a multiple of q=1, the only values the "
            r"space gives 'qu', but got qu=3.5$",
        ),
        ("qlu", 3.0, r"must be a multiple of q=2, .* but got qlu=3.0$"),
        ("qn", 1.2, r"must be a multiple of q=0.5, .* but got qn=1.2$"),
        ("c", True, CHOICE_INDEX.format("True")),
        ("c", "inner", CHOICE_INDEX.format("'inner'")),  # an option, not its index
        ("c", 0.5, CHOICE_INDEX.format("0.5")),
        ("c", -1, CHOICE_INDEX.format("-1")),
        ("c", math.nan, CHOICE_INDEX.format("nan")),
        ("u", [0.1, 0.2], r"params\['u'\] must be a finite number"),
    ],
)
def test_bad_values_are_errors_naming_the_label(label, value, message):
    with pytest.raises(SpaceError, match=message):
        validate_params(COMPILED, {**VALID, label: value})


PLAIN = compile_space(
    {
        "loss": hp.choice("loss", ["log", "hinge", None, True]),
        "width": hp.choice("width", [16, 32.0, 64]),
    }
)


@pytest.mark.parametrize(
    ("label", "value", "hint"),
    [
        ("loss", "hinge", "; 'hinge' is option 1 of loss: give 1"),
        ("width", 32, "; 32 is option 1 of width: give 1"),  # 32 == 32.0
        ("width", 64, "; 64 is option 2 of width: give 2"),
        ("loss", "squared", ""),  # no option
        ("width", True, ""),  # True is no option 1
    ],
)
def test_a_choice_given_one_of_its_plain_options_names_its_index(label, value, hint):
    params = {"loss": 0, "width": 0, label: value}
    message = f"an integer from 0 to {PLAIN[label].n_options - 1}, but got {value!r}"
    with pytest.raises(SpaceError) as raised:
        validate_params(PLAIN, params)
    assert str(raised.value).endswith(message + hint)


def test_missing_active_label_is_an_error():
    params = {k: v for k, v in VALID.items() if k != "inner"}
    with pytest.raises(SpaceError, match="must hold active parameter 'inner'"):
        validate_params(COMPILED, params)


def test_inactive_label_present_is_an_error():
    with pytest.raises(SpaceError, match="must not hold inactive parameter 'inner'"):
        validate_params(COMPILED, {**VALID, "c": 0})


def test_inactive_labels_may_be_empty_lists_or_none():
    checked = validate_params(COMPILED, {**VALID, "c": 0, "inner": []})
    assert "inner" not in checked
    assert "inner" not in validate_params(COMPILED, {**VALID, "c": 0, "inner": None})


def test_unknown_label_is_an_error():
    with pytest.raises(
        SpaceError, match=r"only hold labels of the space, but got \['zz'\]"
    ):
        validate_params(COMPILED, {**VALID, "zz": 1})
