"""What the operator sees: real hpo-driver and hpo-worker processes on SQLite."""

from __future__ import annotations

import csv
import io
import re
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from hpo_service.store import NewTrial, TrialState, open_store

from .conftest import wait_until
from .test_signals import QUADRATIC, counts, start_driver

DRIVER = "hpo_service.driver.cli"
WORKER = "hpo_service.worker"
STUDY_MODULE = textwrap.dedent(
    """
    from hpo_service import STATUS_FAIL, STATUS_OK, hp

    space = {"x": hp.uniform("x", -5, 5), "kind": hp.choice("kind", ["sgd", "adam"])}
    wider = {"x": hp.quniform("x", -9, 9, 1),
             "kind": hp.choice("kind", ["sgd", "adam"]), "z": hp.normal("z", 0, 1)}

    def fails(config):
        return {"status": STATUS_FAIL, "failure": "diverged"}

    def ok(config):
        return config["x"] ** 2

    def left_edge(config):
        # seed 3's first trial, drawn before any result, has x = -4.14: it fails
        # (and each later one one time in ten at most: some finish)
        if config["x"] < -4:
            raise ValueError(f"negative x={config['x']:.3f} not supported")
        return {"loss": config["x"] ** 2, "status": STATUS_OK}
    """
)


def _study_dir(tmp_path: Path) -> Path:
    (tmp_path / "mystudy.py").write_text(STUDY_MODULE)
    return tmp_path


def test_status_fail_trials_are_counted_as_failed_and_the_hint_lists_them(
    procs, tmp_path
):
    where = _study_dir(tmp_path)
    run = procs.run_in(
        where, DRIVER, "start", "--study", "f", "--objective", "mystudy:fails",
        "--space", "mystudy:space", "--max-evals", "4", "--workers", "1",
        "--no-progress",
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "0 done, 4 failed (status fail)" in run.stdout
    hint = "see `hpo-driver trials --study f --status fail`"
    assert f"4 returned status 'fail' ({hint})" in run.stderr
    listed = procs.run_in(where, DRIVER, *hint[5:-1].split()[1:], "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert '"failure": "diverged"' in listed.stdout
    assert listed.stdout.count('"tid"') == 4
    status = procs.run_in(where, DRIVER, "status", "--study", "f")
    assert "  done=0  failed=4 (status fail)  " in status.stdout


def test_trials_csv_has_messages_iso_times_choice_values_and_lf_lines(procs, tmp_path):
    where = _study_dir(tmp_path)
    run = procs.run_in(
        where, DRIVER, "start", "--study", "c", "--objective", "mystudy:left_edge",
        "--space", "mystudy:space", "--max-evals", "12", "--workers", "1",
        "--no-progress", "--seed", "3",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    raw = subprocess.run(
        [*procs_cmd(DRIVER), "trials", "--study", "c"],
        cwd=where, env=procs.env, capture_output=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert b"\r" not in raw
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    assert len(rows) == 12
    iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")
    for row in rows:
        assert all(iso.fullmatch(row[k]) for k in ("created_at", "finished_at"))
        assert row["param.kind.value"] == ["sgd", "adam"][int(row["param.kind"])]
        if row["state"] == "error":
            assert row["error_type"] == "ValueError"
            assert re.fullmatch(
                r"negative x=-\d\.\d{3} not supported", row["error_message"]
            )
    assert {row["state"] for row in rows} == {"done", "error"}


def procs_cmd(module: str) -> list[str]:
    import sys

    return [sys.executable, "-m", module]


def test_a_cancelled_study_says_so(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_TEST_SLEEP"] = "0.5"
    driver = start_driver(procs, db, "s", 100, "--workers", "1")
    wait_until(lambda: counts(db, "s")[TrialState.RUNNING] == 1, 120)
    cancel = procs.run(DRIVER, "cancel", "--db", db, "--study", "s")
    assert cancel.returncode == 0, cancel.stderr
    out, err = driver.communicate(timeout=120)
    assert "study 's' was cancelled (`hpo-driver cancel`)" in out
    assert "no trial of study" not in err


def test_a_worker_of_a_cancelled_study_stops_with_it(procs, tmp_path):
    """`hpo-driver cancel`: a worker of the study stops as finished once its queue is
    empty. Before, it kept the study's settings (cancel flag included) for 30 s and
    idled on: here it ran into its --idle-timeout instead (a Slurm task held its
    node that long)."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_TEST_SLEEP"] = "0.2"
    start_driver(procs, db, "s", 100)
    worker = procs.start(WORKER, "--db", db, "--study", "s", "--idle-timeout", "20")
    wait_until(lambda: counts(db, "s")[TrialState.DONE] >= 2, 120)
    assert procs.run(DRIVER, "cancel", "--db", db, "--study", "s").returncode == 0
    _, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    assert "worker stopped: its study finished;" in err, err


def test_a_typo_in_the_objective_function_is_refused_before_the_study_exists(
    procs, tmp_path
):
    where, run = _start_refused(procs, tmp_path, "mystudy:fial")
    assert (
        "Error: cannot import 'mystudy:fial': the name after ':' must be an "
        "attribute of module 'mystudy', but got 'fial'; did you mean "
        "'mystudy:fails'?" in run.stderr
    )
    with open_store(f"sqlite:///{where / 'hpo.sqlite'}") as store:
        assert store.list_studies() == []


def test_a_typo_in_the_objective_module_names_the_close_module(procs, tmp_path):
    where, run = _start_refused(procs, tmp_path, "mystudi:fails")
    assert "no module named 'mystudi'; did you mean 'mystudy:fails'?" in run.stderr
    assert not (where / "hpo.sqlite").exists()


def test_a_standard_library_objective_is_refused(procs, tmp_path):
    _, run = _start_refused(procs, tmp_path, "builtins:exec")
    assert "is in the standard library" in run.stderr


def _start_refused(procs, tmp_path, objective):
    """``hpo-driver start --objective OBJECTIVE`` of study 't' in a new study
    folder, which must exit 1: the folder and the finished run."""
    where = _study_dir(tmp_path)
    run = procs.run_in(
        where, DRIVER, "start", "--study", "t", "--objective", objective,
        "--space", "mystudy:space", "--max-evals", "4",
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    return where, run


def test_a_second_driver_is_refused_before_it_resumes_or_starts_workers(
    procs, tmp_path
):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_TEST_SLEEP"] = "0.3"
    first = start_driver(procs, db, "s", 100, "--workers", "1")
    wait_until(lambda: counts(db, "s")[TrialState.RUNNING] == 1, 120)
    second = procs.start(
        DRIVER, "start", "--db", db, "--study", "s", "--max-evals", "7",
        "--workers", "2", "--no-progress",
    )  # fmt: skip
    _, err = second.communicate(timeout=120)
    assert second.returncode == 1, err
    assert "is driven by driver@" in err
    assert "resuming" not in err and "started" not in err
    with open_store(db) as store:
        assert store.get_study("s").settings["max_evals"] == 100  # untouched
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=120)


def test_a_changed_space_names_the_labels_that_changed(procs, tmp_path):
    where = _study_dir(tmp_path)
    common = ["start", "--study", "sp", "--objective", "mystudy:ok",
              "--max-evals", "2", "--workers", "1", "--no-progress"]  # fmt: skip
    first = procs.run_in(where, DRIVER, *common, "--space", "mystudy:space")
    assert first.returncode == 0, first.stderr
    second = procs.run_in(where, DRIVER, *common, "--space", "mystudy:wider")
    assert second.returncode == 2, second.stderr  # a usage error, as before
    assert "labels added: z" in second.stderr
    assert (
        "x changed from hp.uniform('x', -5.0, 5.0) to hp.quniform('x', -9.0, 9.0, 1.0)"
        in second.stderr  # as the space says it (not "uniform(..., q=1.0)")
    )
    assert "space_fingerprint" not in second.stderr


def test_a_driver_without_workers_says_how_to_start_one(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_TEST_IDLE_WARNING_SECONDS"] = "1"  # the warning, 10 s by default
    driver = start_driver(procs, db, "w", 3)
    objective = "tests.e2e.objectives:quadratic"  # README: workers name it
    command = f"hpo-worker --db {db} --study w --objective {objective}"
    line = _waiting_for_workers(procs, db, driver)
    assert f"start one with `{command}`, or pass --workers K" in line


def test_a_resumed_driver_without_workers_names_the_stored_objective(procs, tmp_path):
    """A resume given no --objective: the hint names the objective the study
    stored (README: cluster workers name it), not none."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    study = ["--db", db, "--study", "w"]
    first = procs.run(DRIVER, "start", *study, *QUADRATIC, "--max-evals", "1",
                      "--workers", "1", "--no-progress")  # fmt: skip
    assert first.returncode == 0, first.stderr
    procs.env["HPO_TEST_IDLE_WARNING_SECONDS"] = "1"
    driver = procs.start(DRIVER, "start", *study, "--max-evals", "2", "--no-progress")
    objective = "tests.e2e.objectives:quadratic"
    command = f"hpo-worker --db {db} --study w --objective {objective}"
    line = _waiting_for_workers(procs, db, driver)
    assert f"start one with `{command}`, or pass --workers K" in line


def _waiting_for_workers(procs, db: str, driver: subprocess.Popen[str]) -> str:
    """The line in which ``driver`` (of study w) says it waits for workers; then a
    worker runs the study out and the driver ends with exit code 0."""
    line = ""
    while "waiting for workers" not in line:
        line = driver.stderr.readline()
        assert line, "the driver ended without saying it waits for workers"
    worker = procs.start(WORKER, "--db", db, "--study", "w", "--idle-timeout", "2")
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 0, err
    worker.communicate(timeout=60)
    return line


def test_a_read_only_database_says_what_to_do(procs, tmp_path):
    path = tmp_path / "hpo.sqlite"
    db = f"sqlite:///{path}"
    run = procs.run(
        DRIVER, "start", "--db", db, "--study", "r", "--objective",
        "tests.e2e.objectives:quadratic", "--space", "tests.e2e.objectives:space",
        "--max-evals", "1", "--workers", "1", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    # Root ignores file modes: an immutable file is read-only even for root.
    if subprocess.run(["chattr", "+i", str(path)], check=False).returncode:
        pytest.skip("chattr +i is not possible here")
    try:
        resumed = procs.run(
            DRIVER, "start", "--db", db, "--study", "r", "--max-evals", "2",
            "--no-progress",
        )  # fmt: skip
        status = procs.run(DRIVER, "status", "--db", db, "--study", "r")
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    assert resumed.returncode == 1, resumed.stderr
    assert "attempt to write a readonly database" in resumed.stderr
    assert "run as the file's owner, make the file and its directory writable" in (
        resumed.stderr
    )
    assert "Traceback" not in resumed.stderr
    assert status.returncode == 0, status.stderr  # reading needs no writing


def test_status_says_when_a_running_trials_lease_ended(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    with open_store(db) as store:  # a worker elsewhere, out of reach of the store
        store.create_study("e", {"max_evals": 2})
        store.insert_trials("e", [NewTrial({"x": 1.0}, {"x": 1.0})])
        assert store.claim("far-away-host:1:abc", 1.0, study="e") is not None
    wait_until(lambda: _status_text(procs, db).count("lease ended") == 1, 30)
    text = _status_text(procs, db)
    assert "s left" not in text and " -" not in text, text
    assert "requeues the trial" in text, text


def _status_text(procs, db: str) -> str:
    run = procs.run(DRIVER, "status", "--db", db, "--study", "e")
    assert run.returncode == 0, run.stderr
    return run.stdout
