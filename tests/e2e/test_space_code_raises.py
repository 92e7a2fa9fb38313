"""A search space whose own code raises (a ``scope`` function dividing by zero)
for the driver's own suggestion: ``hpo-driver start`` refuses, naming the space's
import path, the sampled point and the error, gives the study's lease back and
queues nothing. Before, it ended in a traceback (the ZeroDivisionError out of
the space's evaluation). A resumed start without ``--space`` names the code the
stored space imported and says to pass ``--space``. Real ``hpo-driver``
processes, SQLite and MongoDB."""

from __future__ import annotations

from hpo_service.store import open_store
from tests.e2e import objectives

DRIVER = "hpo_service.driver.cli"
SPACE = "tests.e2e.objectives:inverse_space"


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
    assert error.endswith(f": float division by zero{where}"), error
    with open_store(any_db) as store:
        assert store.get_study("z").driver_owner is None
        assert sum(store.count_by_state("z").values()) == 0
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
        "differs from the stored one)"
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
    assert error.endswith(f" (in cholesky_of at {objectives.__file__}:{line})"), error
