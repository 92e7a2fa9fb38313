"""The CSV header of `hpo-driver trials` depends on the study, not on the filter."""

from __future__ import annotations

from hpo_service.driver import _output


def _record(tid: int, state: str, loss: object) -> dict[str, object]:
    result = None if loss is None else {"status": "ok", "loss": loss}
    return {
        "tid": tid,
        "state": state,
        "params": {"x": 0.5},
        "config": {"x": 0.5},
        "result": result,
        "error": None,
        "owner": None,
        "attempts": 1,
        "created_at": 0.0,
        "started_at": None,
        "finished_at": None,
        "intermediate": {},
        "code": None,
    }


def test_objective_columns_come_from_the_study_even_without_a_done_trial():
    names = ["error", "latency"]
    pruned = [_output.flat_row(_record(0, "pruned", None), names)]
    done = [_output.flat_row(_record(1, "done", [0.1, 2.0]), names)]
    wanted = ["objective.error", "objective.latency"]
    for rows in (pruned, done, pruned + done):
        header = _output.columns(rows, names)
        assert [c for c in header if c.startswith("objective.")] == wanted
    assert _output.columns(pruned, names) == _output.columns(done, names)


def test_constraint_columns_are_numbered_in_order_and_a_lone_number_is_one():
    many = _record(0, "done", 0.5)
    many["result"]["constraints"] = [float(i) - 1 for i in range(11)]
    one = _record(1, "done", 0.5)
    one["result"]["constraints"] = -2.0  # a number, as an objective may return it
    rows = [_output.flat_row(many), _output.flat_row(one)]
    header = _output.columns(rows)
    at = header.index("constraints")
    wanted = ["constraints", *(f"constraint.{i}" for i in range(11)), "feasible"]
    assert header[at : at + 13] == wanted
    assert (rows[0]["feasible"], rows[1]["feasible"]) == (False, True)
    assert (rows[1]["constraint.0"], rows[1]["constraints"]) == (-2.0, "[-2.0]")
    assert _output.columns([_output.flat_row(_record(2, "done", 0.5))]) == [
        *_output.columns([]),
        "param.x",
    ]  # no constraint, no result column
