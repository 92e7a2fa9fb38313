"""hpo-driver trials --format json lists each trial's attachments (names, sizes)."""

from __future__ import annotations

import json
import pickle

from hpo_service.store import open_store

DRIVER = "hpo_service.driver.cli"


def _run_and_export(procs, db: str, study: str, objective: str, max_evals: int):
    """Run ``study`` with one local worker, then its records as exported in JSON."""
    run = procs.run(
        DRIVER, "start", "--db", db, "--study", study, "--algo", "rand",
        "--objective", objective, "--space", "tests.e2e.objectives:space",
        "--max-evals", str(max_evals), "--workers", "1", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    listed = procs.run(DRIVER, "trials", "--db", db, "--study", study,
                       "--format", "json")  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def test_json_export_lists_attachment_names_and_sizes(procs, tmp_path):
    """Attachments were invisible from the CLI: the export did not name them."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    objective = "tests.helpers.objectives:with_attachments"
    records = _run_and_export(procs, db, "att", objective, 3)
    assert len(records) == 3
    for record in records:
        x = record["config"]["x"]
        assert record["attachments"] == {  # names and sizes in bytes, no contents
            "log": len(f"x={x}\n".encode()),
            "model": len(pickle.dumps({"x": x})),
        }
    with open_store(db) as store:  # the sizes are the stored blobs' sizes
        for record in records:
            blobs = store.get_attachments("att", record["tid"])
            assert {k: len(v) for k, v in blobs.items()} == record["attachments"]
    helped = procs.run(DRIVER, "trials", "--help")
    assert "attachment" in " ".join(helped.stdout.split())


def test_trials_without_attachments_list_none(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    objective = "tests.e2e.objectives:quadratic"
    records = _run_and_export(procs, db, "plain", objective, 2)
    assert [r["attachments"] for r in records] == [{}, {}]
