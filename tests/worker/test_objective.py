"""Importing objectives by reference and judging one call, in-process."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.exceptions import ObjectiveImportError
from hpo_service.worker._objective import describe_exception, evaluate, load_objective
from tests.helpers import objectives

OBJ = "tests.helpers.objectives"


def test_load_objective_resolves_dotted_attributes_and_caches():
    fn = load_objective(f"{OBJ}:Namespace.quadratic")
    assert fn is objectives.Namespace.quadratic
    assert load_objective(f"{OBJ}:Namespace.quadratic") is fn


@pytest.mark.parametrize(
    ("ref", "cause"),
    [
        ("no_such_package_xyz:fn", ModuleNotFoundError),
        (f"{OBJ}:nope", AttributeError),
        ("no colon here", ValueError),
    ],
)
def test_load_objective_failures_name_the_reference(ref, cause):
    expected = r"cannot import|must look like"
    with pytest.raises(ObjectiveImportError, match=expected) as e:
        load_objective(ref)
    assert isinstance(e.value.__cause__, cause)


def test_load_objective_rejects_non_callables():
    with pytest.raises(ObjectiveImportError) as e:
        load_objective(f"{OBJ}:NOT_CALLABLE")
    assert str(e.value) == (  # it said "... but '...:NOT_CALLABLE' is a int"
        f"objective '{OBJ}:NOT_CALLABLE' must be callable (a function of the "
        "config), but got an object of type int"
    )


def test_evaluate_number_and_numpy_values():
    kind, result = evaluate(lambda c: np.float32(c["x"]), {"x": 0.5})
    assert kind == "result"
    assert result["loss"] == 0.5 and type(result["loss"]) is float
    assert result["status"] == "ok" and result["duration"] >= 0
    kind, result = evaluate(
        lambda c: {"loss": 1, "status": "ok", "curve": np.arange(3)}, {}
    )
    assert (kind, result["curve"]) == ("result", [0, 1, 2])


def test_evaluate_catches_system_exit_as_the_trials_error():
    def exits(config):
        raise SystemExit(4)

    kind, error = evaluate(exits, {})
    assert (kind, error["type"], error["message"]) == ("error", "SystemExit", "4")
    assert "raise SystemExit(4)" in error["traceback"]
    assert "evaluate" not in error["traceback"]  # the worker's own frame is left out


def test_describe_exception_survives_a_broken_str():
    class Weird(Exception):
        def __str__(self):
            raise RuntimeError("no")

    error = describe_exception(Weird())
    assert error["type"] == "Weird"
    assert "str() failed" in error["message"]
