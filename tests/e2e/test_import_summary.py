"""What ``hpo-driver import`` says, word for word, in a real process: the study it
created, the trials imported by state with their tids, those skipped as already
held, those left out, and the note that a created study has no space yet (only
when it created one)."""

from __future__ import annotations

import json

from hpo_service import hp, space_eval
from hpo_service.driver._study import open_study, space_settings
from hpo_service.store import NewTrial, open_store

from .test_study_processes import DRIVER


def _record(tid: int, state: str, x: float) -> dict[str, object]:
    record: dict[str, object] = {"tid": tid, "state": state, "params": {"x": x}}
    if state == "done":
        record["result"] = {"loss": x * x, "status": "ok"}
    if state == "error":
        record["error"] = {"type": "ValueError", "message": f"x={x} fails"}
    return record


def test_import_says_what_it_created_imported_skipped_and_left_out(procs, tmp_path):
    export = tmp_path / "export.json"
    states = ["done", "error", "new", "done", "running", "cancelled", "done"]
    records = [_record(i, s, float(i)) for i, s in enumerate(states)]
    export.write_text(json.dumps(records))
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    study = ["--db", db, "--study", "s"]

    first = procs.run(DRIVER, "import", *study, "--create", str(export))
    assert first.returncode == 0, first.stderr
    assert first.stdout == (
        "created study 's' and imported 5 finished trials (1 cancelled, 3 done, "
        "1 error) into study 's' (tids 0..4); left out 2 trials (1 new, 1 running): "
        "an import takes finished trials only\n"
    )
    assert first.stderr == (
        "study 's' has no search space yet: to run more trials, "
        f"`hpo-driver start --db {db} --study s --space module:attr --objective "
        "module:function --max-evals N` (every imported trial is checked against "
        "the space)\n"
    )

    again = procs.run(DRIVER, "import", *study, str(export))
    assert again.returncode == 0, again.stderr
    assert again.stdout == (
        "imported 0 finished trials into study 's'; skipped 5 the study already "
        "holds (same params and outcome); left out 2 trials (1 new, 1 running): an "
        "import takes finished trials only\n"
    )
    assert again.stderr == ""

    one_more = tmp_path / "one_more.json"
    one_more.write_text(json.dumps([_record(0, "done", 9.0), _record(1, "done", 0.0)]))
    last = procs.run(DRIVER, "import", *study, str(one_more))
    assert last.returncode == 0, last.stderr
    assert last.stdout == (
        "imported 1 finished trial (1 done) into study 's' (tid 5); skipped 1 the "
        "study already holds (same params and outcome)\n"
    )
    assert last.stderr == ""


def test_a_csv_export_adds_nothing_after_the_json_export_of_the_same_trials(
    procs, tmp_path
):
    """A choice's index is 1 in the JSON export and the cell "1" in the CSV, read
    back as 1.0 into a study without a space: importing both exports of one study
    doubled every trial (the identity of 1.0 was not that of 1)."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    space = {"x": hp.uniform("x", 0, 1), "m": hp.choice("m", ["a", "b", "c"])}
    with open_store(db, create=True) as store:
        given = {"objective": "tests.e2e.objectives:quadratic", "max_evals": 3}
        open_study(store, "run", {**given, **space_settings(space)})
        for x, m in ((0.25, 1), (0.5, 2), (0.75, 0)):
            params = {"x": x, "m": m}
            store.insert_trials("run", [NewTrial(params, space_eval(space, params))])
            trial = store.claim("test", 30.0, study="run")
            store.complete("run", trial.tid, trial.token, {"loss": x, "status": "ok"})
    exports = {}
    for fmt in ("json", "csv"):
        listed = procs.run(DRIVER, "trials", "--db", db, "--study", "run",
                           "--format", fmt)  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        exports[fmt] = tmp_path / f"run.{fmt}"
        exports[fmt].write_text(listed.stdout)
    study = ["--db", db, "--study", "copy"]
    first = procs.run(DRIVER, "import", *study, "--create", str(exports["json"]))
    assert first.returncode == 0, first.stderr
    again = procs.run(DRIVER, "import", *study, str(exports["csv"]))
    assert again.returncode == 0, again.stderr
    assert again.stdout == (
        "imported 0 finished trials into study 'copy'; skipped 3 the study already "
        "holds (same params and outcome)\n"
    )


def test_one_queued_point_is_one_tid(procs, tmp_path):
    """``enqueue`` names the tids it queued, "tid" for one ("tids 3" before), as
    ``import`` does."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    space = {"x": hp.uniform("x", 0, 1)}
    with open_store(db, create=True) as store:
        given = {"objective": "tests.e2e.objectives:quadratic", "max_evals": 9}
        open_study(store, "q", {**given, **space_settings(space)})
    study = ["--db", db, "--study", "q"]
    one = procs.run(DRIVER, "enqueue", *study, "--params", '{"x": 0.5}')
    assert one.returncode == 0, one.stderr
    assert one.stdout == "queued 1 trial of study 'q': tid 0\n"
    two = procs.run(DRIVER, "enqueue", *study, "--params", '{"x": 0.1}',
                    "--params", '{"x": 0.2}')  # fmt: skip
    assert two.returncode == 0, two.stderr
    assert two.stdout == "queued 2 trials of study 'q': tids 1, 2\n"
