"""``hpo-driver trials --format csv`` gives a result's extra keys and its constraints
flat columns (``result.<key>``, ``constraint.<i>``, ``feasible``), holding what the
JSON export holds, on SQLite and on the MongoDB-wire server, with real workers."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator

import pymongo
import pytest

from tests.conftest import mongo_lane
from tests.helpers.mongo_wire import with_database

from .conftest import Processes

DRIVER = "hpo_service.driver.cli"
STUDY = [
    "--objective", "tests.e2e.objectives:with_extra_keys",
    "--space", "tests.e2e.objectives:space",
]  # fmt: skip
EXTRA = ["result.accuracy", "result.history", "result.late", "result.note"]


@pytest.fixture(params=["sqlite", "mongodb"])
def db(request, tmp_path) -> Iterator[str]:
    """A fresh SQLite file, or a fresh database on the session's MongoDB-wire server
    (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'trials.sqlite'}"
        return
    if mongo_lane() is None:
        pytest.skip("no MongoDB-wire server (see tests/conftest.py)")
    mongo_url = request.getfixturevalue("mongo_url")
    name = f"hpo_csv_{uuid.uuid4().hex[:10]}"
    yield with_database(mongo_url, name)
    with pymongo.MongoClient(mongo_url) as client:
        client.drop_database(name)


def listing(procs: Processes, db: str, fmt: str) -> str:
    run = procs.run(DRIVER, "trials", "--db", db, "--study", "e", "--format", fmt)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_extra_keys_and_constraints_have_columns_of_their_own(
    procs: Processes, db: str
) -> None:
    args = ["start", "--db", db, "--study", "e", *STUDY, "--max-evals", "12"]
    # Seed 2's first two trials, drawn before any result, are (x, y) = (-2.38, -2.02)
    # (feasible, no "late") and (3.14, -4.08) (infeasible, "late"): the later draws
    # depend on when results come in (seed 4's first two were both x > 0).
    run = procs.run(DRIVER, *args, "--workers", "2", "--seed", "2", "--no-progress")
    assert run.returncode == 0, run.stderr
    text = listing(procs, db, "csv")
    records = json.loads(listing(procs, db, "json"))
    rows = list(csv.DictReader(io.StringIO(text)))
    header = text.split("\n", 1)[0].split(",")
    assert [r["tid"] for r in rows] == [str(r["tid"]) for r in records]
    at = header.index("constraints")
    assert header[at : at + 4] == ["constraints", "constraint.0", "constraint.1",
                                   "feasible"]  # fmt: skip
    assert header[at + 4 : at + 9] == sorted([*EXTRA, "result.sizes"])
    assert header[at + 9 :] == ["param.x", "param.y"]
    assert any(r["result"].get("late") for r in records)  # a key only some have
    assert not all(r["result"].get("late") for r in records)
    assert {row["feasible"] for row in rows} == {"True", "False"}
    for row, record in zip(rows, records, strict=True):
        result = record["result"]
        x, y = record["params"]["x"], record["params"]["y"]
        assert float(row["result.accuracy"]) == result["accuracy"]
        assert row["result.note"] == result["note"]  # a comma stays in its cell
        assert json.loads(row["result.history"]) == [x, y]
        assert json.loads(row["result.sizes"]) == {"in": 2}
        assert row["result.late"] == ("True" if x > 0 else "")
        assert [float(row["constraint.0"]), float(row["constraint.1"])] == [x, y]
        assert json.loads(row["constraints"]) == [x, y]  # the list, as before
        assert row["feasible"] == str(x <= 0 and y <= 0)
        assert "result.loss" not in row and "result.constraints" not in row
        assert float(row["loss"]) == result["loss"] and row["status"] == "ok"
