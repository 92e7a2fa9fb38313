"""A new space that makes, of a stored trial's params, a config the store cannot
hold (``x ** 0.5`` at a negative ``x``: a complex number) does not give that trial:
``start --override`` cancels such a queued trial as stale, and the start that gives
a study made by an import its space refuses such an imported trial, naming it (the
rule of ``driver._study.config_made``). Before, both ended in "Error: `config` must
be JSON-serialisable", a usage error naming neither the trial nor the space. A
driver whose own suggestion gets such a config stops saying so (before: a
traceback on SQLite). Real ``hpo-driver`` and ``hpo-worker`` processes."""

from __future__ import annotations

from pathlib import Path

from hpo_service.store import TrialState, open_store
from tests.e2e.conftest import Processes

DRIVER = "hpo_service.driver.cli"
SPACES = "tests.e2e.objectives:"


def start(procs: Processes, db: str, space: str, *extra: str):
    return procs.run(DRIVER, "start", "--db", db, "--study", "o", "--objective",
                     SPACES + "sum_of_squares", "--space", SPACES + space,
                     "--max-evals", "1", "--algo", "rand", "--no-progress",
                     *extra)  # fmt: skip


def test_override_cancels_a_queued_trial_the_new_space_cannot_store(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    first = start(procs, db, "signed_x_space", "--workers", "1")
    assert first.returncode == 0, first.stderr
    queued = procs.run(DRIVER, "enqueue", "--db", db, "--study", "o",
                       "--params", '{"x": -0.25}')  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    again = start(procs, db, "root_x_space", "--override")
    assert again.returncode == 0, again.stderr
    assert "cancelled 1 queued trial suggested from the old space (tid 1)" in (
        again.stderr
    )
    with open_store(db) as store:
        assert store.get_trial("o", 1).state == TrialState.CANCELLED
        assert store.get_study("o").settings["space_mark"]["kept"] == []


def test_a_start_refuses_an_imported_trial_the_space_cannot_store(
    procs, tmp_path: Path
):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    export = tmp_path / "old.csv"
    export.write_text("tid,state,loss,status,param.x\n0,done,0.0625,ok,-0.25\n")
    made = procs.run(DRIVER, "import", "--db", db, "--study", "o", "--create",
                     str(export))  # fmt: skip
    assert made.returncode == 0, made.stderr
    given = start(procs, db, "root_x_space")
    assert given.returncode == 2, given.stderr  # the misfits refusal
    assert "trial 0 (old.csv#0)" in given.stderr
    assert (
        "the space must make a config every store can hold (JSON values, integers "
        "within 64 bits) of params {'x': -0.25}"
    ) in given.stderr
    assert "Traceback" not in given.stderr


def test_a_driver_stops_at_a_suggestion_the_space_cannot_store(procs, any_db):
    """Seed 3's first suggestion has a negative ``x``: the driver stops before
    queueing it, with the space's fault named, and gives its lease back."""
    run = procs.run(DRIVER, "start", "--db", any_db, "--study", "o", "--objective",
                    SPACES + "sum_of_squares", "--space", SPACES + "root_x_space",
                    "--max-evals", "6", "--algo", "rand", "--seed", "3",
                    "--workers", "1", "--no-progress")  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert (
        "Error: the space must make a config every store can hold (JSON values, "
        "integers within 64 bits) of every point it gives "
        "(the study stores each one), but of params {'x': -0."
    ) in run.stderr
    with open_store(any_db) as store:
        assert store.get_study("o").driver_owner is None
        assert store.get_trials("o", [TrialState.NEW]) == []
