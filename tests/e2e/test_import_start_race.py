"""Two processes making one new study, with real hpo-driver processes on SQLite:
``import --create`` against ``start --space``, and two starts. Each is paused at
a test hook (``HPO_TEST_PAUSE``) inside its window while the other one acts; the
outcome must be one study whose every trial fits its space, driven by one driver,
and the process that loses says so or joins."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import time
from pathlib import Path

from hpo_service._common.stop_signals import PAUSE_ENV
from hpo_service.exceptions import HPOServiceError
from hpo_service.space import compile_space, validate_params
from hpo_service.store import open_store
from tests.e2e.objectives import space
from tests.helpers.pipes import PipeLines

from .conftest import Processes, wait_until

DRIVER = "hpo_service.driver.cli"
RUN = ["--space", "tests.e2e.objectives:space",
       "--objective", "tests.e2e.objectives:quadratic", "--no-progress"]  # fmt: skip


def misfit_export(tmp_path: Path) -> Path:
    """An export of two done trials whose x (50) is outside the space's [-5, 5]."""
    path = tmp_path / "export.json"
    records = [
        {
            "tid": i,
            "state": "done",
            "params": {"x": 50.0, "y": float(i)},
            "result": {"loss": 1.0 + i, "status": "ok"},
        }
        for i in range(2)
    ]
    path.write_text(json.dumps(records))
    return path


def paused(
    procs: Processes, point: str, marker: Path, *args: str
) -> tuple[object, PipeLines]:
    """Start ``hpo-driver ARGS`` paused at ``point``; return once it waits there."""
    procs.env[PAUSE_ENV] = f"{point}:{marker}"
    try:
        proc = procs.start(DRIVER, *args)
    finally:
        del procs.env[PAUSE_ENV]
    err = PipeLines(proc.stderr)
    wait_until(lambda: marker.exists() or proc.poll() is not None, 120)
    assert proc.poll() is None, err.finish()
    return proc, err


def misfits(db: str, study: str) -> list[int]:
    """The tids of the study's trials that its own space would not give."""
    compiled = compile_space(space)
    bad = []
    with open_store(db) as store:
        for trial in store.get_trials(study):
            try:
                validate_params(compiled, trial.params)
            except HPOServiceError:
                bad.append(trial.tid)
    return bad


def new_database(tmp_path: Path) -> str:
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    open_store(db).close()  # made here: an import rehearses into a missing one
    return db


def paused_import(
    procs: Processes, tmp_path: Path, point: str, lease_seconds: float | None = None
) -> tuple[str, Path, object, PipeLines]:
    """A new database, and ``hpo-driver import --create`` of :func:`misfit_export`
    into its study ``s`` paused at ``point``, its driver lease ``lease_seconds`` long
    (``HPO_TEST_IMPORT_LEASE_SECONDS``; None: the import's own). Returns the
    database URL, the marker whose removal resumes the import, the import's process
    and its stderr."""
    db, marker = new_database(tmp_path), tmp_path / "paused"
    export = str(misfit_export(tmp_path))
    if lease_seconds is not None:
        procs.env["HPO_TEST_IMPORT_LEASE_SECONDS"] = f"{lease_seconds:g}"
    try:
        importing, import_err = paused(
            procs, point, marker, "import", "--db", db, "--study", "s", "--create",
            export,
        )  # fmt: skip
    finally:
        if lease_seconds is not None:
            del procs.env["HPO_TEST_IMPORT_LEASE_SECONDS"]
    return db, marker, importing, import_err


def start_one_worker(procs: Processes, db: str) -> subprocess.CompletedProcess[str]:
    """``hpo-driver start`` of study ``s`` with a space, 2 trials and 1 worker."""
    return procs.run(DRIVER, "start", "--db", db, "--study", "s", *RUN,
                     "--max-evals", "2", "--workers", "1")  # fmt: skip


def test_a_start_waits_for_no_import_it_is_refused_while_one_fills_the_study(
    procs, tmp_path
):
    """The import holds the new study (made, its trials not in yet) when a start
    gives it a space: the start checked zero imported trials, wrote the space and
    ran, and the import then put in trials the space does not give. Now the start
    is refused naming the import, and the next start checks the imported trials."""
    db, marker, importing, import_err = paused_import(procs, tmp_path, "import-filling")
    start = start_one_worker(procs, db)
    assert start.returncode == 1, start.stderr
    assert "study 's' is being filled by `hpo-driver import` (import@" in start.stderr
    assert "run the command again once the import ends" in start.stderr
    marker.unlink()
    assert importing.wait(timeout=120) == 0, import_err.finish()
    assert "created study 's' and imported 2 finished trials" in importing.stdout.read()

    again = procs.run(DRIVER, "start", "--db", db, "--study", "s", *RUN,
                      "--max-evals", "2")  # fmt: skip
    assert again.returncode == 2, again.stderr
    fit = "every imported trial of study 's' must fit the given space (`--space`)"
    assert f"{fit}, but got misfits=2" in again.stderr
    with open_store(db) as store:
        assert store.get_study("s").settings["space"] is None


def test_an_import_that_comes_second_checks_its_trials_against_the_space(
    procs, tmp_path
):
    """The import made the study, and a start gave it a space and ran before the
    import put its trials in: they went in unchecked, outside the space. Now the
    import finds the space and refuses them, as into any study with a space."""
    db, marker, importing, import_err = paused_import(procs, tmp_path, "import-created")
    start = start_one_worker(procs, db)
    assert start.returncode == 0, start.stderr
    assert "resuming study 's'" in start.stderr  # the import's study, given a space
    marker.unlink()
    assert importing.wait(timeout=120) == 1, import_err.finish()
    text = import_err.finish()
    assert "export.json#0" in text and "x" in text, text
    assert misfits(db, "s") == []
    with open_store(db) as store:
        assert len(store.get_trials("s")) == 2  # the start's own two


def test_a_start_that_finds_the_study_made_meanwhile_takes_its_lease_first(
    procs, tmp_path
):
    """Two starts of one new study: the second found no study, then failed to
    create it (the first had) and resumed it without the driver lease, so two
    drivers ran one study. Now it takes the lease first, and is refused."""
    db, marker = new_database(tmp_path), tmp_path / "paused"
    study = ["--db", db, "--study", "s"]
    second, second_err = paused(
        procs, "study-missing", marker, "start", *study, *RUN, "--max-evals", "4"
    )
    first = procs.start(DRIVER, "start", *study, *RUN, "--max-evals", "4")
    first_err = PipeLines(first.stderr)
    wait_until(lambda: "created study" in first_err.text or first.poll() is not None)
    assert first.poll() is None, first_err.finish()  # it drives, waiting for workers
    marker.unlink()
    assert second.wait(timeout=120) == 1, second_err.finish()
    text = second_err.finish()
    assert "study 's' is driven by driver@" in text, text
    assert "resuming study 's'" not in text


def test_an_import_outlasting_its_lease_keeps_it(procs, tmp_path):
    """The import's lease was taken once and never renewed: an import filling the
    study longer than the lease let a start take it mid-import, write the space
    after checking none of the trials, and the import's insert then landed trials
    never checked. Now the import renews it as a driver does (here a 2 s lease,
    the import paused for more than two lease lengths before its insert; 2 s, not
    1 s: a renewal returning after its lease ran out now ends the import, and a
    loaded machine can be that late by a second)."""
    db, marker, importing, import_err = paused_import(
        procs, tmp_path, "import-filling", lease_seconds=2
    )
    leased_until = []
    with open_store(db) as store:
        first = store.get_study("s").driver_lease_expires_at
        wait_until(
            lambda: (
                leased_until.append(store.get_study("s").driver_lease_expires_at)
                or (leased_until[-1] or 0.0) > first + 4
            ),
            60,
        )
    start = procs.run(DRIVER, "start", "--db", db, "--study", "s", *RUN,
                      "--max-evals", "2")  # fmt: skip
    assert start.returncode == 1, start.stderr
    assert "study 's' is being filled by `hpo-driver import` (import@" in start.stderr
    marker.unlink()
    assert importing.wait(timeout=120) == 0, import_err.finish()
    assert misfits(db, "s") == [0, 1]  # in, unchecked by any start: no space yet
    with open_store(db) as store:
        assert store.get_study("s").settings["space"] is None


def test_an_import_that_lost_its_lease_in_an_outage_imports_nothing(procs, tmp_path):
    """The store was unreachable (here its database locked) for longer than the
    import's lease while the import filled its study: the renewals failed, the
    import ignored it and put its trials in once the store came back, though a
    start could have taken the lapsed lease and given the study a space meanwhile.
    Now it imports nothing and says why."""
    db, marker, importing, import_err = paused_import(
        procs, tmp_path, "import-filling", lease_seconds=1
    )
    path = tmp_path / "hpo.sqlite"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as outage:
        outage.execute("BEGIN EXCLUSIVE")  # no renewal lands from now on
        (expires,) = outage.execute(
            "SELECT driver_lease_expires_at FROM studies WHERE name = 's'"
        ).fetchone()
        wait_until(lambda: time.time() > expires, 60)  # the lease has lapsed
        outage.execute("ROLLBACK")
    marker.unlink()
    assert importing.wait(timeout=120) == 1, import_err.finish()
    text = import_err.finish()
    lost = "must hold study 's''s driver lease until its trials are in, but it lost"
    assert lost in text, text
    with open_store(db) as store:
        assert store.get_trials("s") == []
        assert store.get_study("s").driver_owner is None
