"""The CSV header of `hpo-driver trials` depends on the study, not on the filter."""

from __future__ import annotations

from hpo_service._common import trial_rows
from hpo_service.store._common import KeysGatherer


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
    pruned = [trial_rows.flat_row(_record(0, "pruned", None), names)]
    done = [trial_rows.flat_row(_record(1, "done", [0.1, 2.0]), names)]
    wanted = ["objective.error", "objective.latency"]
    for rows in (pruned, done, pruned + done):
        header = trial_rows.columns(rows, names)
        assert [c for c in header if c.startswith("objective.")] == wanted
    assert trial_rows.columns(pruned, names) == trial_rows.columns(done, names)


def test_constraint_columns_are_numbered_in_order_and_a_lone_number_is_one():
    many = _record(0, "done", 0.5)
    many["result"]["constraints"] = [float(i) - 1 for i in range(11)]
    one = _record(1, "done", 0.5)
    one["result"]["constraints"] = -2.0  # a number, as an objective may return it
    rows = [trial_rows.flat_row(many), trial_rows.flat_row(one)]
    header = trial_rows.columns(rows)
    at = header.index("constraints")
    wanted = ["constraints", *(f"constraint.{i}" for i in range(11)), "feasible"]
    assert header[at : at + 13] == wanted
    assert (rows[0]["feasible"], rows[1]["feasible"]) == (False, True)
    assert (rows[1]["constraint.0"], rows[1]["constraints"]) == (-2.0, "[-2.0]")
    assert trial_rows.columns([trial_rows.flat_row(_record(2, "done", 0.5))]) == [
        *trial_rows.columns([]),
        "param.x",
    ]  # no constraint, no result column


def test_feasible_is_true_or_false_in_every_row_of_a_study_with_constraints():
    """pandas reads a column of only True and False as bool; an empty cell made it
    an object column. Feasible: succeeded and every constraint <= 0, as best and
    the Pareto front count it."""
    ok = _record(0, "done", 0.5)
    ok["result"]["constraints"] = [-1.0, 0.0]
    violated = _record(1, "done", 0.5)
    violated["result"]["constraints"] = [0.5]
    unconstrained = _record(2, "done", 0.5)
    failed = _record(3, "done", None)
    failed["result"] = {"status": "fail", "constraints": [-1.0]}
    pruned = _record(4, "pruned", None)
    pruned["result"] = {"status": "pruned", "loss": 0.7, "step": 3, "duration": 0.1}
    running = _record(5, "running", None)
    rows = [trial_rows.flat_row(r) for r in (ok, violated, unconstrained, failed,
                                          pruned, running)]  # fmt: skip
    assert [row["feasible"] for row in rows] == [True, False, True, False, False, False]
    assert "feasible" in trial_rows.columns(rows)
    assert "feasible" not in trial_rows.columns(rows[2:3])  # no constraint anywhere


def test_a_pruned_trials_step_is_its_last_step_not_a_result_column():
    pruned = _record(0, "pruned", None)
    pruned["result"] = {"status": "pruned", "loss": 0.7, "step": 3, "duration": 0.1}
    pruned["intermediate"] = {"0": 0.9, "3": 0.7}
    own = _record(1, "done", 0.5)
    own["result"]["step"] = 40  # a key the objective returned: kept
    rows = [trial_rows.flat_row(pruned), trial_rows.flat_row(own)]
    assert rows[0]["last_step"] == 3 and "result.step" not in rows[0]
    assert rows[1]["result.step"] == 40 and "result.step" in trial_rows.columns(rows)


def test_the_columns_of_gathered_keys_are_those_of_the_rows():
    """A filtered listing's header comes from the keys the store gathered over
    every trial (study_row_columns), not from their rows: the same header as the
    rows give, for every kind of trial (objectives named or not, constraints,
    pruned, error, choices, extra result keys)."""
    records = []
    for tid, (state, loss) in enumerate(
        [("done", 0.5), ("done", [0.1, 2.0]), ("pruned", None), ("new", None)]
    ):
        records.append(_record(tid, state, loss))
    constrained = _record(4, "done", 0.5)
    constrained["result"].update(constraints=[0.5, -1.0], output="x", step=3)
    lone = _record(5, "done", [1.0, 2.0, 3.0])
    lone["result"]["constraints"] = -2.0
    pruned = _record(6, "pruned", None)
    pruned["result"] = {"status": "pruned", "loss": 0.7, "step": 3, "note": [1]}
    failed = _record(7, "error", None)
    failed["error"] = {"type": "ValueError", "message": "m", "duration": 0.1}
    chosen = _record(8, "done", 0.5)
    chosen["params"] = {"kind": 1, "x": 0.5}
    records += [constrained, lone, pruned, failed, chosen]
    choices = {"kind": (trial_rows.Switch(("a", {"b": 1})),)}
    gathered = KeysGatherer()
    for record in records:
        gathered.params.update(record["params"])
        gathered.add_result(record["tid"], record["result"])
    keys = gathered.keys()
    for names in (None, ["error", "latency"]):
        rows = [trial_rows.flat_row(record, names, choices) for record in records]
        header = trial_rows.study_row_columns(keys, names, choices)
        assert trial_rows.columns([dict.fromkeys(header)], names) == (
            trial_rows.columns(rows, names)
        )
    assert "param.kind.value" in trial_rows.study_row_columns(keys, None, choices)
