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
