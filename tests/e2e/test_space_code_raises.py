"""A search space whose own code raises (a ``scope`` function dividing by zero)
for the driver's own suggestion: ``hpo-driver start`` records that trial as an
error trial (as in-process ``fmin`` does) and refuses, naming the space's import
path, the sampled point and the error, and gives the study's lease back. Before,
it ended in a traceback (the ZeroDivisionError out of the space's evaluation). A
resumed start without ``--space`` names the code the stored space imported and
says to pass ``--space``. With ``--catch-space-errors`` (``fmin``'s
``catch_eval_exceptions`` on a ``StoreTrials``) the search goes on past such
points, as in-process ``fmin`` does. Real ``hpo-driver`` processes, SQLite and
MongoDB."""

from __future__ import annotations

import re

import pytest

from hpo_service import StoreTrials, fmin, rand
from hpo_service.exceptions import AllTrialsFailed, SpaceCodeError
from hpo_service.store import TrialState, open_store
from tests.e2e import objectives

DRIVER = "hpo_service.driver.cli"
SPACE = "tests.e2e.objectives:inverse_space"
#: how ``start`` ends the message: the trial recorded, and the flag to search on
RECORDED = (
    "The point is recorded as an error trial; --catch-space-errors records such "
    "points and searches on"
)


def space_errors(db: str, study: str) -> list[str]:
    """The messages of the study's error trials, each checked to be the space's."""
    with open_store(db) as store:
        trials = store.get_trials(study, [TrialState.ERROR])
    for trial in trials:
        assert trial.config is None and (trial.error or {})["type"] == "SpaceCodeError"
        assert "ZeroDivisionError" in trial.error["traceback"]
    return [t.error["message"] for t in trials]


def test_start_refuses_a_space_that_raises_for_its_sampled_point(procs, any_db):
    run = procs.run(DRIVER, "start", "--db", any_db, "--study", "z", "--objective",
                    "tests.e2e.objectives:sum_of_squares", "--space", SPACE,
                    "--max-evals", "4", "--workers", "1", "--no-progress")  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    error = " ".join(run.stderr.split()).split("Error: ", 1)[1]
    assert error.startswith(
        f"the space {SPACE} raised ZeroDivisionError for the sampled point {{'d': "
    ), error
    line = objectives.inverse_of.__code__.co_firstlineno + 3  # its `return 1 / d`
    where = f" (in inverse_of at {objectives.__file__}:{line})"
    assert error.endswith(f": float division by zero{where}. {RECORDED}"), error
    with open_store(any_db) as store:
        assert store.get_study("z").driver_owner is None
        assert sum(store.count_by_state("z").values()) == 1
    [message] = space_errors(any_db, "z")  # as fmin's error trial says it
    assert message.startswith("the space raised ZeroDivisionError for the sampled ")
    at_line = r" \(in inverse_of at " + re.escape(objectives.__file__) + r":\d+\)$"
    assert re.search(": float division by zero" + at_line, message), message
    # the lease was given back: the next start takes it (and refuses the same way)
    again = procs.run(DRIVER, "start", "--db", any_db, "--study", "z",
                      "--no-progress")  # fmt: skip
    assert again.returncode == 1, again.stderr
    said = " ".join(again.stderr.split()).split("Error: ", 1)[1]
    # without --space: which code the stored space imported, and what to pass
    # (before, only "the space raised ZeroDivisionError ...": which space?)
    assert said.startswith(
        "the space stored with study 'z' (its code imported from "
        "tests.e2e.objectives:inverse_of) raised ZeroDivisionError for the sampled "
        "point {'d': "
    ), said
    assert said.endswith(
        f": float division by zero{where}. Without --space a resumed start runs "
        "the space stored at the study's first start; fix that code, or pass --space "
        "module:attr to give the space from your code (with --override if it "
        f"differs from the stored one). {RECORDED}"
    ), said


def test_start_names_the_users_line_when_a_library_raises(procs, tmp_path):
    """The space's code calls numpy, which raises inside numpy: the message names
    the space's function and line, not numpy's (before: a line of numpy's
    linalg, the innermost frame)."""
    space = "tests.e2e.objectives:cholesky_space"
    run = procs.run(DRIVER, "start", "--db", f"sqlite:///{tmp_path / 'h.sqlite'}",
                    "--study", "c", "--objective",
                    "tests.e2e.objectives:sum_of_squares", "--space", space,
                    "--max-evals", "2", "--workers", "1", "--no-progress")  # fmt: skip
    assert run.returncode == 1, run.stderr
    error = " ".join(run.stderr.split()).split("Error: ", 1)[1]
    assert error.startswith(f"the space {space} raised LinAlgError for the "), error
    line = objectives.cholesky_of.__code__.co_firstlineno + 4  # its return
    where = f" (in cholesky_of at {objectives.__file__}:{line})"
    assert error.endswith(f"{where}. {RECORDED}"), error


def test_catch_space_errors_goes_on_past_the_points_the_space_raises_for(procs, any_db):
    """Before, ``start`` stopped at the first such point whatever it was told."""
    run = procs.run(DRIVER, "start", "--db", any_db, "--study", "c", "--objective",
                    "tests.e2e.objectives:sum_of_squares", "--space",
                    "tests.e2e.objectives:sometimes_inverse_space", "--max-evals",
                    "12", "--seed", "5", "--workers", "1", "--no-progress",
                    "--catch-space-errors")  # fmt: skip
    assert run.returncode == 0, run.stderr
    with open_store(any_db) as store:
        counts = store.count_by_state("c")
    errors = space_errors(any_db, "c")
    assert counts[TrialState.ERROR] == len(errors) > 0, counts
    assert counts[TrialState.DONE] + len(errors) == 12, counts
    assert "SpaceCodeError: the space raised ZeroDivisionError" in run.stderr


@pytest.mark.parametrize("catch", [True, False])
def test_store_trials_fmin_records_the_point_and_catches_as_fmin(tmp_path, catch):
    """``fmin`` on a StoreTrials: each sampled point ends as an error trial;
    ``catch_eval_exceptions=True`` goes on to ``max_evals`` (then: no trial
    succeeded), False raises SpaceCodeError at the first. Before, SpaceCodeError
    was raised either way, and nothing was recorded. No worker is needed: no
    point of ``inverse_space`` reaches one."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    trials = StoreTrials(db, study="s")
    expected = AllTrialsFailed if catch else SpaceCodeError
    try:
        with pytest.raises(expected):
            fmin(objectives.sum_of_squares, objectives.inverse_space,
                 algo=rand.suggest, max_evals=3, trials=trials, rstate=1,
                 catch_eval_exceptions=catch, show_progressbar=False)  # fmt: skip
    finally:
        trials.close()
    assert len(space_errors(db, "s")) == (3 if catch else 1)


def test_a_driver_waiting_for_workers_does_not_blame_space_errors_on_them(
    procs, tmp_path
):
    """With --catch-space-errors the driver records the points the space raises for
    as error trials itself. While it then waits for workers (none started), its
    warning said "The last 1 finished trial ended in error (the last:
    SpaceCodeError: ...); workers stop after such errors in a row", which no worker
    did: only errors of trials workers ran count there now. Seed 6's first point
    raises (d = 0)."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_TEST_IDLE_WARNING_SECONDS"] = "0.5"
    driver = procs.start(DRIVER, "start", "--db", db, "--study", "w", "--objective",
                         "tests.e2e.objectives:sum_of_squares", "--space",
                         "tests.e2e.objectives:sometimes_inverse_space",
                         "--max-evals", "40", "--seed", "6", "--no-progress",
                         "--catch-space-errors")  # fmt: skip
    line = ""
    while "waiting for workers" not in line:
        line = driver.stderr.readline()
        assert line, "the driver ended without saying it waits for workers"
    driver.terminate()
    driver.communicate(timeout=120)
    assert space_errors(db, "w"), "seed 6's first point no longer raises"
    assert "ended in error" not in line and "workers stop" not in line, line
