"""A result holding an integer beyond 64 bits ends as one error trial on every
backend, naming the field and its value: before, SQLite stored the trial as done
while MongoDB made it an error trial ("integers stored in MongoDB must fit in 64
bits", naming no field). Real ``hpo-driver`` and ``hpo-worker`` processes, on
SQLite and on the MongoDB-wire server."""

from __future__ import annotations

from hpo_service.store import TrialState, open_store

DRIVER = "hpo_service.driver.cli"


def test_a_result_beyond_64_bit_integers_is_an_error_trial_naming_it(procs, any_db):
    run = procs.run(DRIVER, "start", "--db", any_db, "--study", "b", "--objective",
                    "tests.e2e.objectives:big_int_result", "--space",
                    "tests.e2e.objectives:space", "--max-evals", "1", "--workers",
                    "1", "--no-progress")  # fmt: skip
    assert run.returncode == 1, run.stderr  # no trial succeeded
    with open_store(any_db) as store:
        [trial] = store.get_trials("b")
    assert trial.state == TrialState.ERROR, trial
    assert (trial.error or {})["type"] == "UnstorableResult"
    assert trial.error["message"] == (
        "the store cannot hold the trial's result: `result['count']` must be an "
        "integer from -2**63 to 2**63 - 1 (64 bits: what every store holds), but "
        "got result['count']=1180591620717411303424"
    )
