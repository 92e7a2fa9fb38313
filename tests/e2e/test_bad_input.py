"""Bad input is refused before anything is stored, and commands say what they did.

Real ``hpo-driver``/``hpo-worker`` processes on SQLite, as an operator runs them.
"""

from __future__ import annotations

import pytest

from hpo_service.store import FinishedTrial, NewTrial, TrialState, open_store

from .conftest import QUADRATIC
from .test_signals import counts

DRIVER = "hpo_service.driver.cli"
WORKER = "hpo_service.worker"


@pytest.mark.parametrize(
    ("study", "seed", "message"),
    [
        ("s", "-1", "'--seed': -1 is not in the range 0<=x<=4294967295"),
        (" a", "1", "leading or trailing blanks"),  # the others: tests/driver
    ],
)
def test_a_bad_seed_or_study_name_is_refused_before_anything_is_stored(
    procs, tmp_path, study, seed, message
):
    path = tmp_path / "hpo.sqlite"
    run = procs.run(
        DRIVER, "start", "--db", f"sqlite:///{path}", "--study", study, *QUADRATIC,
        "--max-evals", "2", "--seed", seed, "--workers", "1", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert not path.exists()  # no database, so no study that every start trips on


@pytest.mark.parametrize(
    ("objective", "space", "message"),
    [
        ("nosuch.mod:objective", "nosuch.mod:space",
         "No module named 'nosuch' (modules are found from the working directory"),
        ("tests.e2e.objectives:nosuch", "tests.e2e.objectives:space",
         "must be an attribute of module 'tests.e2e.objectives', but got 'nosuch'"),
        ("tests.e2e.objectives:quadratic", "tests.e2e.objectives:nospace",
         "must be an attribute of module 'tests.e2e.objectives', but got 'nospace'"),
        # importable but not a valid space: it left an empty ./hpo.sqlite behind
        ("tests.e2e.objectives:quadratic", "tests.e2e.objectives:duplicate_label_space",
         "invalid space 'tests.e2e.objectives:duplicate_label_space'"),
        # the objective given as the space: before, "constants must be None, bool,
        # int, float or str to store a space, but space is function <function
        # quadratic at 0x...> (such a space works in-process only)"
        ("tests.e2e.objectives:quadratic", "tests.e2e.objectives:quadratic",
         "Error: space 'tests.e2e.objectives:quadratic' must be a search space (hp "
         "expressions in a dict, list or tuple), but got a function"),
    ],
)  # fmt: skip
def test_an_objective_or_space_that_cannot_be_imported_creates_no_database(
    procs, tmp_path, objective, space, message
):
    run = procs.run_in(
        tmp_path, DRIVER, "start", "--study", "s", "--objective", objective,
        "--space", space, "--max-evals", "2", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert message in " ".join(run.stderr.split())
    assert "PYTHONPATH" in run.stderr or "nosuch.mod" not in objective
    assert list(tmp_path.iterdir()) == []  # no ./hpo.sqlite left behind


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--algo-settings", '{"gamma": 7}'], "`0 < gamma <= 1` must hold"),
        (["--algo-setting", "nosuch=1"], "got unknown=['nosuch']"),
        (["--objectives", "a,a"], "`objectives` must be distinct names"),
        (["--pruner", "asha", "--min-resource", "5", "--max-resource", "2"],
         "`--min-resource <= --max-resource` must hold"),
        (["--pruner", "hyperband"], "`--max-resource` must be given with --pruner"),
        (["--objectives", "a,b", "--loss-threshold", "0.1"],
         "`--loss-threshold` needs a single objective"),
    ],
)  # fmt: skip
def test_bad_options_of_a_new_study_create_no_database(
    procs, tmp_path, options, message
):
    """Every option check of ``start`` runs before a missing database is created
    (they ran after it, leaving an empty ./hpo.sqlite behind)."""
    run = procs.run_in(
        tmp_path, DRIVER, "start", "--study", "s", *QUADRATIC, "--max-evals", "2",
        "--no-progress", *options,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert list(tmp_path.iterdir()) == []  # no ./hpo.sqlite left behind


def test_a_seed_stored_by_an_older_version_no_longer_breaks_the_study(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    created = procs.run(
        DRIVER, "start", "--db", db, "--study", "s", *QUADRATIC, "--max-evals", "2",
        "--workers", "1", "--no-progress",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    with open_store(db) as store:  # what `--seed -1` used to leave behind
        store.patch_study_settings("s", {"seed": -1})
    resumed = procs.run(
        DRIVER, "start", "--db", db, "--study", "s", "--max-evals", "4",
        "--workers", "1", "--no-progress",
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "its stored seed -1 cannot seed a generator" in resumed.stderr
    assert counts(db, "s")[TrialState.DONE] == 4
    with open_store(db) as store:
        assert 0 <= store.get_study("s").settings["seed"] < 2**32


def test_cancelling_unknown_or_finished_trials_says_so(procs, tmp_path):
    """A stored study of two done trials and a queued one (cancel reads only the
    trials' states: a real run would add nothing here)."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    point = {"x": 0.0, "y": 0.0}
    with open_store(db, create=True) as store:
        store.create_study("s", {"max_evals": 3})
        done = FinishedTrial(point, point, {"loss": 0.0, "status": "ok"})
        first, _ = store.insert_finished("s", [done, done])
        (queued,) = store.insert_trials("s", [NewTrial(point, point)])
    unknown = procs.run(DRIVER, "cancel", "--db", db, "--study", "s",
                        "--tid", str(queued), "--tid", "99")  # fmt: skip
    assert unknown.returncode == 1
    assert "study 's' has no trial 99 (it has 3;" in unknown.stderr
    assert "nothing was cancelled" in unknown.stderr
    assert counts(db, "s")[TrialState.NEW] == 1  # the known one was not cancelled
    mixed = procs.run(DRIVER, "cancel", "--db", db, "--study", "s",
                      "--tid", str(first), "--tid", str(queued))  # fmt: skip
    assert mixed.returncode == 0, mixed.stderr
    assert "cancelled 1 trial of study 's'" in mixed.stdout
    assert f"trial {first} was already done: left as it is" in mixed.stderr
    assert counts(db, "s")[TrialState.CANCELLED] == 1


def test_a_timeout_before_any_trial_finished_says_so(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = procs.run(
        DRIVER, "start", "--db", db, "--study", "s", *QUADRATIC, "--max-evals", "3",
        "--timeout", "0.5", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "succeeded" not in run.stdout + run.stderr
    assert "no trial finished" not in run.stdout + run.stderr  # said once, below
    assert (
        "Error: no trial of study 's' finished: --timeout 0.5 s ran out before the "
        "first one did"
    ) in " ".join(run.stderr.split())
    assert f"`hpo-worker --db {db} --study s`" in run.stderr
    cancelled = counts(db, "s")[TrialState.CANCELLED]
    assert cancelled >= 1 and f"{cancelled} cancelled" in run.stdout


def test_the_worker_has_a_version(procs):
    run = procs.run(WORKER, "--version")
    assert run.returncode == 0, run.stderr
    assert "version" in run.stdout


def test_a_loss_threshold_with_several_objectives_is_refused_before_the_study(
    procs, tmp_path
):
    """README: --loss-threshold is refused for several objectives. It was, but only
    once the study had been created and its local workers started. (In a missing
    database: see test_bad_options_of_a_new_study_create_no_database.)"""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    open_store(db, create=True).close()  # a database that holds no study yet
    run = procs.run(
        DRIVER, "start", "--db", db, "--study", "s", *QUADRATIC, "--max-evals", "2",
        "--objectives", "a,b", "--loss-threshold", "0.1", "--workers", "1",
        "--no-progress",
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "`--loss-threshold` needs a single objective, but the study has 2" in (
        run.stderr
    )
    assert "local workers" not in run.stderr and "created study" not in run.stderr
    studies = procs.run(DRIVER, "studies", "--db", db)
    assert studies.returncode == 0 and studies.stdout == "", studies.stderr


def test_a_space_without_hp_expressions_is_run_with_a_warning(procs, tmp_path):
    """`--space` naming a dict of defaults: hyperopt takes a constant space too, so
    the study runs, but every trial gets the same config. Before, nothing said so."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = procs.run(
        DRIVER, "start", "--db", db, "--study", "c", "--max-evals", "1",
        "--objective", "tests.e2e.objectives:quadratic",
        "--space", "tests.e2e.objectives:defaults", "--workers", "1", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    warned = [line for line in run.stderr.splitlines() if "no hp expression" in line]
    assert len(warned) == 1, run.stderr
    assert " WARNING " in warned[0]
    assert warned[0].split(": ", 1)[1] == (
        "space 'tests.e2e.objectives:defaults' holds "
        "no hp expression: every trial gets the same config, {'x': 1.0, 'y': -2.0}; "
        "name a space of hp.* parameters to search"
    )
