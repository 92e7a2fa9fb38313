"""``hpo-driver best`` of a study without a successful trial says what its finished
trials were and names the command that lists them (``hpo-driver trials --state
error``, ``--state pruned``). Before, it said only "none of its 3 finished trials
succeeded", with nothing to run next, and nothing of a study whose trials were all
pruned. Real ``hpo-driver`` processes on SQLite."""

from __future__ import annotations

import json

import pytest

DRIVER = "hpo_service.driver.cli"


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'hpo.sqlite'}"


def start(procs, db, objective, *args):
    """``hpo-driver start --study s`` of ``objective`` to its end."""
    return procs.run(
        DRIVER, "start", "--db", db, "--study", "s",
        "--objective", f"tests.e2e.objectives:{objective}",
        "--space", "tests.e2e.objectives:space", *args, "--no-progress",
    )  # fmt: skip


def best_error(procs, db) -> str:
    """``hpo-driver best``'s error, on one line; it must exit 1."""
    best = procs.run(DRIVER, "best", "--db", db, "--study", "s")
    assert best.returncode == 1, best.stdout
    return " ".join(best.stderr.split())


def why_no_best(procs, db) -> list:
    """``hpo-driver status --json``'s ``why_no_best``."""
    status = procs.run(DRIVER, "status", "--db", db, "--study", "s", "--json")
    assert status.returncode == 0, status.stderr
    return json.loads(status.stdout)["why_no_best"]


def status_best(procs, db) -> str:
    """``hpo-driver status``'s best line, on one line."""
    status = procs.run(DRIVER, "status", "--db", db, "--study", "s")
    assert status.returncode == 0, status.stderr
    line = status.stdout.split("  best: ", 1)[1].split("\n  ")[0]
    return "best: " + " ".join(line.split())


def test_best_of_a_study_whose_trials_all_failed_points_to_them(procs, db):
    run = start(procs, db, "always_fails", "--max-evals", "2", "--workers", "1")
    assert run.returncode == 1, run.stderr
    listing = f"hpo-driver trials --db {db} --study s --state error --format json"
    errors = (
        f"2 failed with an error (see `{listing}` for their messages and tracebacks)"
    )
    assert best_error(procs, db) == (
        "Error: study 's' has no successful trial: none of its 2 finished trials "
        f"succeeded; {errors}"
    )
    assert status_best(procs, db) == (
        f"best: none: no trial of the 2 finished succeeded; {errors}"
    )
    # --json: the same pointer (before, the JSON had no word of it)
    assert why_no_best(procs, db) == [
        {"kind": "error", "trials": 2, "command": listing}
    ]
    listed = procs.run(DRIVER, *listing.split()[1:])
    assert listed.stdout.count('"tid"') == 2, listed.stderr
    assert listed.stdout.count("Traceback (most recent call last)") == 2, listed.stdout
    # a larger budget: the study may still get a success ("yet"), so far none
    run = start(procs, db, "always_fails", "--max-evals", "4", "--timeout", "0.5")
    assert run.returncode == 1, run.stderr
    assert best_error(procs, db) == (
        f"Error: study 's' has no successful trial yet; so far {errors}"
    )
    assert status_best(procs, db) == f"best: none yet; so far {errors}"


def test_best_of_a_study_whose_trials_were_all_pruned_says_so(procs, db):
    run = start(procs, db, "prunes_itself", "--max-evals", "2", "--workers", "1")
    assert run.returncode == 1, run.stderr
    listing = f"hpo-driver trials --db {db} --study s --state pruned"
    assert best_error(procs, db) == (
        "Error: study 's' has no successful trial: none of its 2 finished trials "
        "succeeded; 2 were pruned, and a pruned trial is never the best (see "
        f"`{listing}` for their last reported values)"
    )
    assert status_best(procs, db) == (
        "best: none: no trial of the 2 finished succeeded; 2 were pruned, and a "
        f"pruned trial is never the best (see `{listing}` for their last reported "
        "values)"
    )
    assert why_no_best(procs, db) == [
        {"kind": "pruned", "trials": 2, "command": listing}
    ]
    listed = procs.run(DRIVER, *listing.split()[1:], "--format", "json")
    assert listed.stdout.count('"tid"') == 2, listed.stderr
