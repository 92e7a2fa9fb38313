"""``hpo-driver trials --format csv`` -> ``hpo-driver import`` -> ``trials --format
csv`` keeps every cell that describes an evaluation (params, losses, status,
duration, constraints, ``feasible`` and each ``result.<key>``), on SQLite and on the
MongoDB-wire server, with one and with two objectives, pruned trials and
attachments, run by real workers. Pruned rows carry no ``result.step`` beside
``last_step``, and ``feasible`` holds only True or False."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from hpo_service.driver._study import open_study, space_settings
from hpo_service.store import open_store
from tests.e2e import objectives

from .conftest import Processes

DRIVER = "hpo_service.driver.cli"

#: Columns an import cannot carry over: who ran the trial and when, the code that
#: ran it, its reports (imported trials were never run here), its tid among the
#: study's trials, and where it came from (which the import adds).
BOOKKEEPING = {
    "tid", "attempts", "owner", "created_at", "started_at", "finished_at",
    "code.module", "code.sha256", "code.version", "intermediate", "last_step",
    "result.imported_from",
}  # fmt: skip


def export(procs: Processes, db: str, study: str) -> str:
    run = procs.run(DRIVER, "trials", "--db", db, "--study", study, "--format", "csv")
    assert run.returncode == 0, run.stderr
    return run.stdout


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def run_study(procs: Processes, db: str, objective: str) -> None:
    """8 trials of ``objective`` in study ``a`` with ASHA (some are pruned)."""
    args = [
        "start", "--db", db, "--study", "a",
        "--objective", f"tests.e2e.objectives:{objective}",
        "--space", "tests.e2e.objectives:space", "--max-evals", "8",
        "--pruner", "asha", "--workers", "1", "--seed", "3", "--no-progress",
    ]  # fmt: skip
    if objective.endswith("_pair"):
        args += ["--objectives", "error,size"]
    run = procs.run(DRIVER, *args)
    assert run.returncode == 0, run.stderr


def new_study(db: str, name: str, objective: str) -> None:
    """An empty study with the same space (and objective names), to import into."""
    given = {"objective": f"tests.e2e.objectives:{objective}", "max_evals": 50,
             **space_settings(objectives.space)}  # fmt: skip
    if objective.endswith("_pair"):
        given["objective_names"] = ["error", "size"]
    with open_store(db) as store:
        open_study(store, name, given)


@pytest.mark.parametrize("objective", ["rich_curve", "rich_curve_pair"])
def test_export_import_export_keeps_every_evaluated_cell(
    procs: Processes, any_db: str, objective: str, tmp_path: Path
) -> None:
    run_study(procs, any_db, objective)
    first = export(procs, any_db, "a")
    rows = rows_of(first)
    states = [row["state"] for row in rows]
    assert 0 < states.count("pruned") < states.count("done") + states.count("pruned")
    header = first.split("\n", 1)[0].split(",")
    assert "result.step" not in header and "result.attachments" not in header
    for row in rows:
        assert row["feasible"] in ("True", "False")
        if row["state"] == "pruned":
            reported = json.loads(row["intermediate"])
            assert row["last_step"] == max(reported, key=int)
            assert row["feasible"] == "False" and row["result.note"] == ""
        else:
            holds = all(float(row[f"constraint.{i}"]) <= 0 for i in (0, 1))
            assert row["feasible"] == str(holds)
    path = tmp_path / "a.csv"
    path.write_text(first)
    new_study(any_db, "b", objective)
    run = procs.run(DRIVER, "import", "--db", any_db, "--study", "b", str(path))
    assert run.returncode == 0, run.stderr
    assert f"({states.count('pruned')} pruned)" in run.stdout
    second = export(procs, any_db, "b")
    columns = second.split("\n", 1)[0].split(",")
    assert [c for c in columns if c != "result.imported_from"] == header
    done = [row for row in rows if row["state"] == "done"]
    again = rows_of(second)
    assert len(again) == len(done)
    for before, after in zip(done, again, strict=True):
        differ = {key for key in before if before[key] != after[key]}
        assert differ <= BOOKKEEPING, {k: (before[k], after[k]) for k in differ}
        assert after["result.imported_from"] == f"a.csv#{before['tid']}"
    assert any(row["result.code"] == "1e5" for row in again)  # text stays text
