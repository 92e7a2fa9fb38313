"""Results with several losses and constraints: normalising, reading, the front."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from hpo_service.exceptions import InvalidResultError
from hpo_service.objective._result import (
    best_key,
    best_position,
    check_objective_count,
    loss_of,
    losses_of,
    normalise_result,
    objective_count,
    pareto_front,
    violation_of,
)


@pytest.mark.parametrize(
    "value",
    [
        [0.5, 3],
        (0.5, 3),
        np.array([0.5, 3.0]),
        {"loss": [0.5, np.int64(3)], "status": "ok"},
        {"loss": (0.5, 3.0)},
    ],
)
def test_several_losses_become_a_list_of_floats(value):
    result = normalise_result(value)
    assert result["loss"] == [0.5, 3.0] and result["status"] == "ok"
    assert all(type(v) is float for v in result["loss"])
    assert losses_of(result) == [0.5, 3.0]
    assert loss_of(result) is None  # no single loss


def test_one_element_list_is_the_plain_loss():
    assert normalise_result([2]) == {"loss": 2.0, "status": "ok"}
    assert normalise_result({"loss": [2.0], "status": "ok"})["loss"] == 2.0
    assert losses_of({"loss": 2.0, "status": "ok"}) == [2.0]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], r"non-empty list"),
        ([0.1, float("nan")], r"'loss' must not be NaN, but got loss=\[0.1, nan\]"),
        ([0.1, float("inf")], r"finite numbers .* several objectives, .*\[0.1, inf\]"),
        ({"loss": [-float("inf"), 1]}, r"must hold finite numbers"),
        ([0.1, "fast"], r"'loss' must be a number, but got loss=\[0.1, 'fast'\]"),
        ({"loss": [0.1, None]}, r"'loss' must be a number"),
        # named losses: a dict without 'loss' (with or without a status), or in it
        (
            {"error": 0.1, "size": 3.0, "status": "ok"},
            r"^a result must have a 'loss' \(a number, or a list of numbers: one per "
            r"objective\), but it has only 'error', 'size', 'status'$",
        ),
        ({"error": 0.1, "size": 3.0}, r"but it has only 'error', 'size'$"),
        (
            {"loss": {"error": 0.1, "size": 3.0}},
            r"^result 'loss' must be a number or a list of numbers \(one per "
            r"objective, in the study's order\), but got loss=\{'error': 0.1, ",
        ),
        ({"loss": 1.0, "constraints": [0.1, "x"]}, r"'constraints' must be numbers"),
        ({"loss": 1.0, "constraints": float("nan")}, r"'constraints' must be numbers"),
    ],
)
def test_invalid_losses_and_constraints_are_refused(value, message):
    with pytest.raises(InvalidResultError, match=message):
        normalise_result(value)


def test_constraints_are_kept_as_a_list_and_summed_as_violation():
    result = normalise_result({"loss": [1, 2], "constraints": [-1, 0.5, 2]})
    assert result["constraints"] == [-1.0, 0.5, 2.0]
    assert violation_of(result) == 2.5
    assert violation_of(normalise_result({"loss": 1, "constraints": -3})) == 0.0
    assert violation_of({"loss": 1}) == 0.0


def test_objective_count_and_its_check_name_both_counts():
    results = [{"status": "fail"}, {"loss": [1.0, 2.0], "status": "ok"}]
    assert objective_count(results) == 2
    assert objective_count([{"status": "fail"}]) is None
    check_objective_count({"loss": [1.0, 2.0], "status": "ok"}, 2)
    check_objective_count({"status": "fail"}, 2)  # a failure has no losses to count
    with pytest.raises(InvalidResultError, match=r"2 objectives \(error, ms\).*got 3"):
        check_objective_count({"loss": [1, 2, 3], "status": "ok"}, 2, ["error", "ms"])
    with pytest.raises(InvalidResultError, match=r"has 2 objective.*got 1"):
        check_objective_count({"loss": 1.0, "status": "ok"}, 2)


def test_front_is_every_feasible_non_dominated_success():
    results = [
        {"loss": [1.0, 5.0], "status": "ok"},  # front
        {"loss": [2.0, 2.0], "status": "ok"},  # front
        {"loss": [2.0, 2.0], "status": "ok"},  # front (a tie dominates nothing)
        {"loss": [3.0, 3.0], "status": "ok"},  # dominated by [2, 2]
        {"loss": [0.0, 0.0], "status": "ok", "constraints": [0.1]},  # infeasible
        {"status": "fail"},
        None,
        {"loss": [1.5, 1.0, 0.0], "status": "ok"},  # wrong count: left out
        {"loss": [5.0, 1.0], "status": "ok", "constraints": [0.0, -1.0]},  # front
    ]
    assert pareto_front(results) == [0, 1, 2, 8]
    assert pareto_front([{"status": "fail"}]) == []


def test_single_objective_front_is_every_trial_with_the_lowest_loss():
    results = [{"loss": v, "status": "ok"} for v in (3.0, 1.0, 2.0, 1.0)]
    assert pareto_front(results) == [1, 3]


def test_best_position_prefers_feasible_results_then_the_least_violation():
    ok = "ok"
    results = [
        {"loss": 0.1, "status": ok, "constraints": [0.5]},  # lowest loss, infeasible
        {"loss": 0.9, "status": ok, "constraints": [-1.0, 0.0]},  # feasible
        {"loss": 0.5, "status": ok},  # feasible, no constraints: the best
        {"status": "fail"},
        None,
        {"loss": [0.0, 0.0], "status": ok},  # several losses: not a single loss
        {"loss": 0.5, "status": ok},  # a tie: the earliest stays the best
    ]
    assert best_position(results) == 2
    assert best_key(results[0]) == (0.5, 0.1) and best_key(results[3]) is None
    infeasible = [
        {"loss": 0.1, "status": ok, "constraints": [2.0]},
        {"loss": 0.9, "status": ok, "constraints": [0.5, -3.0]},  # least violation
        {"loss": 0.2, "status": ok, "constraints": [1.0]},
    ]
    assert best_position(infeasible) == 1
    assert best_position([{"status": "fail"}, None]) is None


def test_one_infinite_loss_is_allowed():
    """hyperopt's "worst possible" loss; only among several losses is it refused."""
    assert normalise_result(float("inf")) == {"loss": float("inf"), "status": "ok"}
    assert normalise_result([float("inf")])["loss"] == float("inf")


def test_date_times_are_stored_as_iso_8601_strings():
    """hyperopt's docs allow date-times in a result (MongoDB stores them); a store
    here keeps JSON, so they become ISO 8601 text, wherever they are nested."""
    when = datetime.datetime(2026, 11, 30, 3, 7, 17, 124942)
    value = {
        "loss": 0.5,
        "when": when,
        "history": [{"day": datetime.date(2026, 11, 29)}, datetime.time(8, 30)],
        "utc": when.replace(tzinfo=datetime.timezone.utc),
    }
    result = normalise_result(value)
    assert result["when"] == "2026-11-30T03:07:17.124942"
    assert result["history"] == [{"day": "2026-11-29"}, "08:30:00"]
    assert result["utc"] == "2026-11-30T03:07:17.124942+00:00"
    assert normalise_result(value, storable=False)["when"] is when  # in process
