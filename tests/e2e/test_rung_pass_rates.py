"""``hpo-driver status`` of a study under ASHA says, per rung, how many of the
trials judged there passed it, in all and in the first and last half of them by
trial number: the rule's "1 in eta" holds for trials of one quality, and a study
whose suggestions improve passes more of its later trials (README, "What to
expect"). Real ``hpo-driver status`` processes, on SQLite and MongoDB-wire; the
trials are written through the store calls a worker makes."""

from __future__ import annotations

import json

from hpo_service._common.settings import StudySettings
from hpo_service.space._serialise import fingerprint, to_document
from hpo_service.store import NewTrial, open_store
from tests.e2e.objectives import curve_space

DRIVER = "hpo_service.driver.cli"
#: tid -> (last reported step, end): rungs at steps 1 and 3 (max_resource 9).
TRIALS = [(1, "pruned"), (1, "pruned"), (3, "pruned"), (9, "done"),
          (3, "pruned"), (9, "done"), (9, "done"), (3, "running")]  # fmt: skip


def _study(db: str) -> None:
    settings = StudySettings(
        objective="tests.e2e.objectives:curve", space=to_document(curve_space),
        space_fingerprint=fingerprint(curve_space), max_evals=20, pruner="asha",
        pruner_settings={"max_resource": 9, "reduction_factor": 3},
    )  # fmt: skip
    with open_store(db) as store:
        store.create_study("s", settings.to_dict())
        store.insert_trials(
            "s", [NewTrial({"level": 1.0}, {"level": 1.0}) for _ in TRIALS]
        )
        for last, end in TRIALS:
            trial = store.claim("w", 600.0, study="s")
            reports = [(step, 1.0 / step) for step in range(1, last + 1)]
            store.report_many("s", trial.tid, trial.token, reports)
            if end == "pruned":
                result = {"status": "pruned", "loss": 1.0 / last, "step": last}
                store.prune("s", trial.tid, trial.token, result)
            elif end == "done":
                store.complete(
                    "s", trial.tid, trial.token, {"status": "ok", "loss": 0.1}
                )


def test_status_says_how_many_passed_each_rung_early_and_late(any_db, procs):
    """Rung 1: 6 of 8 passed (reached step 3), 2 of the first 4 and all of the
    last 4. Rung 3: 3 of 5 judged (the running trial 7 is neither passed nor
    pruned there yet), 1 of the first 2, 2 of the last 2. Before, status showed
    reached / went on / pruned only, which cannot tell early from late."""
    _study(any_db)
    run = procs.run(DRIVER, "status", "--db", any_db, "--study", "s")
    assert run.returncode == 0, run.stderr
    lines = [line.strip() for line in run.stdout.splitlines()]
    at = next(i for i, line in enumerate(lines) if line.startswith("passed, "))
    assert lines[at + 1 : at + 4] == [
        "step  judged  passed  first half  last half",
        "1       8       6         2/4        4/4",
        "3       5       3         1/2        2/2",
    ], run.stdout
    run = procs.run(DRIVER, "status", "--db", any_db, "--study", "s", "--json")
    assert run.returncode == 0, run.stderr
    passed = json.loads(run.stdout)["pruning"]["passed"]
    assert passed == [
        {"step": 1, "passed": 6, "judged": 8, "first_half": [2, 4],
         "last_half": [4, 4]},
        {"step": 3, "passed": 3, "judged": 5, "first_half": [1, 2],
         "last_half": [2, 2]},
    ]  # fmt: skip
