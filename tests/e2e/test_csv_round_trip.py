"""``hpo-driver trials --format csv`` -> ``hpo-driver import`` into another study ->
``trials --format csv`` gives the same study back: every finished trial in its state
(done ok and fail, pruned with its intermediate values and last step, error with
its type and message, cancelled), its params, losses, objective names, status,
duration, constraints, ``feasible`` and each ``result.<key>``; on SQLite and on the
MongoDB-wire server, with one and with two objectives. Queued and running trials
have no outcome: they are left out and counted.

The source study is written through the store calls a worker makes (claim,
report, complete / prune / fail, the driver's cancel; tests/helpers/
finished_states.py), not by running workers: the
cells of trials that real workers ran are tested by test_trials_csv_columns.py,
test_trials_export_attachments.py and test_multi_objective_pruned.py, and a study
built here holds each state by construction (a study run by workers holds an error
or a pruned trial only when its draws make one)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from hpo_service.store import open_store
from tests.helpers.finished_states import STATES, new_study, stored_study

from .conftest import Processes

DRIVER = "hpo_service.driver.cli"

#: Columns an import cannot carry over: who ran the trial and when, the code that
#: ran it, its tid among the study's trials, and where it came from (which the
#: import adds).
BOOKKEEPING = {
    "tid", "attempts", "owner", "created_at", "started_at", "finished_at",
    "code.module", "code.sha256", "code.version", "result.imported_from",
}  # fmt: skip


def export(procs: Processes, db: str, study: str) -> str:
    run = procs.run(DRIVER, "trials", "--db", db, "--study", study, "--format", "csv")
    assert run.returncode == 0, run.stderr
    return run.stdout


def export_here(db: str, study: str) -> str:
    """The same command in this process (the file to import: a subprocess costs
    seconds of a loaded CI; the import and the export after it are subprocesses)."""
    from click.testing import CliRunner

    from hpo_service.driver.cli import main

    args = ["trials", "--db", db, "--study", study, "--format", "csv"]
    run = CliRunner().invoke(main, args, catch_exceptions=False)
    assert run.exit_code == 0, run.output
    return run.output


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("pair", [False, True], ids=["one", "two_objectives"])
def test_export_import_export_gives_the_same_study(
    procs: Processes, any_db: str, pair: bool, tmp_path: Path
) -> None:
    stored_study(any_db, pair)
    first = export_here(any_db, "a")
    rows = rows_of(first)
    header = first.split("\n", 1)[0].split(",")
    states = [row["state"] for row in rows]
    assert states == STATES
    assert "result.step" not in header
    assert ("objective.error" in header) is pair
    assert rows[6]["duration"] == "0.3"  # an error trial's, kept in its error
    for row in rows:
        assert row["feasible"] in ("True", "False")
        if row["state"] == "pruned" and row["intermediate"]:
            assert row["last_step"] == max(json.loads(row["intermediate"]), key=int)
    path = tmp_path / "a.csv"
    path.write_text(first)
    with open_store(any_db) as store:
        new_study(store, "b", None)  # it takes the objectives' names of the file
    run = procs.run(DRIVER, "import", "--db", any_db, "--study", "b", str(path))
    assert run.returncode == 0, run.stderr
    assert (
        "imported 8 finished trials (1 cancelled, 3 done, 1 failed (status fail), "
        "1 error, 2 pruned)" in run.stdout
    )
    assert "left out 2 trials (1 new, 1 running)" in run.stdout
    second = export(procs, any_db, "b")
    assert [c for c in second.split("\n", 1)[0].split(",")
            if c != "result.imported_from"] == header  # fmt: skip
    finished = rows[:8]
    again = rows_of(second)
    assert len(again) == len(finished)
    for before, after in zip(finished, again, strict=True):
        differ = {key for key in before if before[key] != after[key]}
        assert differ <= BOOKKEEPING, {k: (before[k], after[k]) for k in differ}
        if after["state"] in ("done", "pruned"):
            assert after["result.imported_from"] == f"a.csv#{before['tid']}"
    assert any(row["result.code"] == "1e5" for row in again)  # text stays text
