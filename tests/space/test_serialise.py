"""to_document / from_document round trips and fingerprints."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from hpo_service.exceptions import SpaceError
from hpo_service.pyll import scope
from hpo_service.space import (
    compile_space,
    fingerprint,
    from_document,
    hp,
    sample_params,
    space_eval,
    to_document,
)

BUILD_SPACE = """
def build_space():
    shared = hp.uniform("shared", 0, 1)
    svm = {"kind": "svm", "C": hp.qloguniform("C", -2, 4, 0.5), "s": shared}
    tree = ("tree", hp.choice("depth", [None, hp.randint("d", 2, 9)]), shared * 3)
    integer = scope.int(hp.qnormal("i", 0, 3, 1))
    return {
        "lr": hp.loguniform("lr", -7, 0),
        "model": hp.pchoice("model", [(0.25, svm), (0.75, tree)]),
        "misc": [
            hp.normal("n", 0, 2),
            hp.lognormal("ln", 0, 1),
            hp.qnormal("qn", 0, 4, 2),
            hp.qlognormal("qln", 1, 1, 3),
            hp.quniform("qu", 0, 10, 2.5),
            hp.uniformint("ui", 1, 4),
            hp.randint("r", 5),
        ],
        "expr": 1 + -hp.uniform("u", 1, 2) ** 2 / 4 // 1 - integer,
        7: {"inf": math.inf, "finite": 1.5, "flag": True, "none": None},
    }
"""
namespace: dict = {"hp": hp, "scope": scope, "math": math}
exec(BUILD_SPACE, namespace)
build_space = namespace["build_space"]


def only_json_types(value) -> bool:
    if isinstance(value, dict):
        return all(type(k) is str and only_json_types(v) for k, v in value.items())
    if isinstance(value, list):
        return all(only_json_types(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


def test_document_holds_json_types_only():
    document = to_document(build_space())
    assert only_json_types(document)
    json.dumps(document, allow_nan=False)


def test_round_trip_through_json_keeps_compile_and_space_eval():
    space = build_space()
    text = json.dumps(to_document(space), allow_nan=False)
    rebuilt = from_document(json.loads(text))
    compiled = compile_space(space)
    assert compile_space(rebuilt) == compiled
    rng = np.random.default_rng(0)
    for _ in range(200):
        params = sample_params(compiled, rng)
        assert space_eval(rebuilt, params) == space_eval(space, params)
    assert to_document(rebuilt) == to_document(space)


def test_round_trip_keeps_sharing_and_container_types():
    x = hp.uniform("x", 0, 1)
    rebuilt = from_document(to_document({"a": x, "b": [x, (x, 2)], 3: {None: "v"}}))
    assert rebuilt["a"] is rebuilt["b"][0] is rebuilt["b"][1][0]
    assert isinstance(rebuilt["b"], list) and isinstance(rebuilt["b"][1], tuple)
    assert rebuilt[3] == {None: "v"}


def test_numpy_arrays_and_choices_are_stored_as_plain_values():
    space = {
        "d": hp.choice("d", np.arange(1, 4)),
        "w": np.array([[1.5, 2.0]]),
        "flag": np.bool_(True),
    }
    rebuilt = from_document(to_document(space))
    assert space_eval(rebuilt, {"d": 2}) == {"d": 3, "w": [[1.5, 2.0]], "flag": True}
    assert type(space_eval(rebuilt, {"d": 2})["d"]) is int


def test_non_finite_and_numpy_constants():
    rebuilt = from_document(
        to_document([math.inf, -math.inf, np.float64(2.5), np.int32(3)])
    )
    assert rebuilt == [math.inf, -math.inf, 2.5, 3]
    assert [type(v) for v in rebuilt] == [float, float, float, int]
    assert math.isnan(from_document(to_document(math.nan)))


@pytest.mark.parametrize(
    ("space", "where"),
    [
        ({"clf": hp.choice("clf", [np.dtype("f8"), "b"])}, "space['clf']<clf=0>"),
        ({"f": [1, len]}, "space['f'][1]"),
        ({"o": object()}, "space['o']"),
        ({(1, 2): 3}, "space key (1, 2)"),
        ({"s": {1, 2}}, "space['s']"),
    ],
)
def test_non_json_constants_are_errors_naming_where(space, where):
    with pytest.raises(SpaceError, match="works in-process only") as info:
        to_document(space)
    assert where in str(info.value)
    compiled = compile_space(space)  # in-process use still works
    space_eval(space, sample_params(compiled, np.random.default_rng(0)))


def test_invalid_spaces_cannot_be_serialised():
    with pytest.raises(SpaceError, match="label 'x'"):
        to_document([hp.uniform("x", 0, 1), hp.uniform("x", 0, 1)])


def test_fingerprint_is_equal_for_equal_spaces():
    assert fingerprint(build_space()) == fingerprint(build_space())
    assert fingerprint(build_space()) == fingerprint(
        from_document(to_document(build_space()))
    )
    assert len(fingerprint(build_space())) == 64


def test_fingerprint_changes_with_any_change():
    variants = [
        {"x": hp.uniform("x", 0, 1)},
        {"x": hp.uniform("x", 0, 2)},
        {"x": hp.uniform("x", -1, 1)},
        {"x": hp.uniform("y", 0, 1)},
        {"x": hp.loguniform("x", 0, 1)},
        {"x": hp.quniform("x", 0, 1, 0.5)},
        {"x": hp.quniform("x", 0, 1, 0.25)},
        {"x": hp.uniformint("x", 0, 1)},
        {"y": hp.uniform("x", 0, 1)},
        [hp.uniform("x", 0, 1)],
        (hp.uniform("x", 0, 1),),
        {"x": hp.uniform("x", 0, 1), "extra": 1},
        {"x": hp.uniform("x", 0, 1) + 1},
        {"x": hp.uniform("x", 0, 1) * 1},
        {"x": scope.int(hp.uniform("x", 0, 1))},
        {"x": hp.choice("x", [0, 1])},
        {"x": hp.choice("x", [0, 2])},
        {"x": hp.choice("x", [0, 1.0])},
        {"x": hp.choice("x", [0, "1"])},
        {"x": hp.choice("x", [1, 0])},
        {"x": hp.pchoice("x", [(0.5, 0), (0.5, 1)])},
        {"x": hp.pchoice("x", [(0.4, 0), (0.6, 1)])},
        {"x": hp.randint("x", 3)},
        {"x": hp.randint("x", 1, 3)},
    ]
    fingerprints = [fingerprint(v) for v in variants]
    assert len(set(fingerprints)) == len(variants)


def test_fingerprint_ignores_dict_order_like_dict_equality():
    first = {"a": hp.uniform("a", 0, 1), "b": hp.normal("b", 0, 1)}
    second = {"b": hp.normal("b", 0, 1), "a": hp.uniform("a", 0, 1)}
    assert fingerprint(first) == fingerprint(second)


def test_fingerprint_is_stable_across_processes():
    script = (
        "from hpo_service.pyll import scope\n"
        "from hpo_service.space import fingerprint, hp\n"
        "import math\n" + BUILD_SPACE + "print(fingerprint(build_space()))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert result.stdout.strip() == fingerprint(build_space())


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"format": "other", "version": 1}, "format"),
        ({"format": "hpo-service/space", "version": 99}, "version"),
        (
            {
                "format": "hpo-service/space",
                "version": 1,
                "params": {},
                "root": {"param": "x"},
            },
            "'x' is undefined",
        ),
        (
            {
                "format": "hpo-service/space",
                "version": 1,
                "params": {"x": {"hp": "beta", "a": 1}},
                "root": {"param": "x"},
            },
            "unknown distribution 'beta'",
        ),
        (
            {
                "format": "hpo-service/space",
                "version": 1,
                "params": {"x": {"hp": "uniform", "low": 2.0, "high": 1.0}},
                "root": {"param": "x"},
            },
            r"hp.uniform\('x'\): `low < high`",
        ),
        (
            {
                "format": "hpo-service/space",
                "version": 1,
                "params": {"c": {"hp": "choice", "options": [{"param": "c"}]}},
                "root": {"param": "c"},
            },
            "contains itself",
        ),
        ({"format": "hpo-service/space", "version": 1, "root": 1}, "malformed"),
        (
            {
                "format": "hpo-service/space",
                "version": 1,
                "params": {},
                "root": {"?": 1},
            },
            "unknown",
        ),
        (
            {
                "format": "hpo-service/space",
                "version": 1,
                "params": {},
                "root": {"op": "exec", "args": []},
            },
            "unknown operation",
        ),
    ],
)
def test_bad_documents_are_space_errors(document, message):
    with pytest.raises(SpaceError, match=message):
        from_document(document)


def test_code_references_name_each_stored_scope_function_once():
    from hpo_service.space._serialise import code_references
    from tests.e2e import objectives

    inverse = objectives.inverse_space["v"]
    space = {"a": inverse, "b": [inverse, hp.uniform("u", 0, 1) * 2]}
    assert code_references(to_document(space)) == ["tests.e2e.objectives:inverse_of"]
    assert code_references(to_document({"u": hp.uniform("u", 0, 1) + 1})) == []
