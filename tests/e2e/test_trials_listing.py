"""``hpo-driver trials`` streams a study a window of tids at a time (its memory must
not grow with the study) and still prints what one read of every trial gives: the
same rows, the same header (a param column only the last trials have included)."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

from hpo_service._common import trial_rows
from hpo_service.store import FinishedTrial, NewTrial, TrialState, open_store
from tests.e2e.conftest import Processes

DRIVER = "hpo_service.driver.cli"
N = 2 * trial_rows.WINDOW + 150  # three windows


@pytest.fixture
def db(tmp_path) -> str:
    """SQLite (each window is one ``get_trials`` call, which the store contract
    checks on every backend; a MongoDB-wire run of this file takes 17 s)."""
    return f"sqlite:///{tmp_path / 'trials.sqlite'}"


def a_long_study(db: str) -> None:
    """Study ``s``: N done trials (some failed, one late one with a param, a result
    key and a second constraint of its own, NaN in every result, constraints from
    the second window on), then one running and one queued trial."""
    finished = []
    for i in range(N):
        params = {"x": i / 3, "n": i % 7} | ({"late": "yes"} if i == N - 2 else {})
        status = "fail" if i % 5 == 0 else "ok"
        result = {"loss": float(i % 11), "status": status, "spread": math.nan}
        if i >= trial_rows.WINDOW:
            result["constraints"] = [i % 3 - 1.0] + ([2.0] if i == N - 2 else [])
        if i == N - 3:
            result["curve"] = [0.5, {"at": 1}]
        finished.append(FinishedTrial(params, {"tag": f"t{i}"}, result))
    with open_store(db) as store:
        store.create_study("s", {"max_evals": N + 2})
        store.insert_finished("s", finished)
        store.insert_trials("s", [NewTrial({"x": -1.0}, {}), NewTrial({"x": -2.0}, {})])
        assert store.claim("host:1:w", 60.0, study="s") is not None


def one_read(db: str, states: list[TrialState] | None, status: str | None) -> str:
    """The CSV of every trial read at once, as the command wrote it until now; its
    header that of every trial, whichever are shown."""
    with open_store(db) as store:
        every = store.get_trials("s")
    rows = [trial_rows.flat_row(trial_rows.trial_record(t)) for t in every]
    header = trial_rows.columns(rows)
    rows = [
        row
        for row, t in zip(rows, every, strict=True)
        if (states is None or t.state in states)
        and (status is None or t.result["status"] == status)
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, header, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_trials_lists_a_study_of_several_windows_as_one_read_would(
    procs: Processes, db: str
) -> None:
    a_long_study(db)
    run = procs.run(DRIVER, "trials", "--db", db, "--study", "s")
    assert run.returncode == 0, run.stderr
    assert run.stdout == one_read(db, None, None)
    header = run.stdout.split("\n", 1)[0].split(",")
    assert "param.late" in header and len(run.stdout.splitlines()) == N + 3
    late = {"constraint.0", "constraint.1", "feasible", "result.curve"}
    assert late | {"result.spread"} <= set(header)
    row = list(csv.DictReader(io.StringIO(run.stdout)))[N - 2]
    assert (row["constraint.0"], row["constraint.1"], row["feasible"]) == (
        str(float((N - 2) % 3 - 1)),
        "2.0",
        "False",
    )
    args = ["--state", "done", "--status", "fail"]
    run = procs.run(DRIVER, "trials", "--db", db, "--study", "s", *args)
    assert run.returncode == 0, run.stderr
    assert run.stdout == one_read(db, [TrialState.DONE], "fail")
    assert len(run.stdout.splitlines()) == 1 + len(range(0, N, 5))
    # no failed trial has "late", "curve" or a second constraint: same columns
    assert run.stdout.split("\n", 1)[0].split(",") == header
    run = procs.run(DRIVER, "trials", "--db", db, "--study", "s", "--state", "new")
    assert run.returncode == 0, run.stderr  # a row without a result: same columns
    assert run.stdout == one_read(db, [TrialState.NEW], None)
    assert run.stdout.split("\n", 1)[0].split(",") == header
    run = procs.run(DRIVER, "trials", "--db", db, "--study", "s", "--format", "json")
    assert run.returncode == 0, run.stderr
    records = json.loads(run.stdout)
    assert [r["tid"] for r in records] == list(range(N + 2))
    assert records[0]["result"]["spread"] == "NaN"  # standard JSON
    assert records[-1]["state"] == "new" and records[-2]["state"] == "running"
    assert run.stdout == json.dumps(records, indent=2) + "\n"  # one list, as before
    json_args = ["--format", "json", "--state", "new"]
    run = procs.run(DRIVER, "trials", "--db", db, "--study", "s", *json_args)
    assert run.returncode == 0, run.stderr  # JSON: each record has every key
    assert [sorted(r) for r in json.loads(run.stdout)] == [sorted(records[-1])]


def test_an_empty_listing_is_a_header_or_an_empty_list(
    procs: Processes, db: str
) -> None:
    with open_store(db) as store:
        store.create_study("s", {})
    run = procs.run(DRIVER, "trials", "--db", db, "--study", "s")
    assert run.returncode == 0, run.stderr
    assert run.stdout == one_read(db, None, None)
    run = procs.run(DRIVER, "trials", "--db", db, "--study", "s", "--format", "json")
    assert (run.returncode, run.stdout) == (0, "[]\n")
