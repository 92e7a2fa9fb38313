"""A lost or missing SQLite database, with real hpo-driver and hpo-worker processes.

A database file deleted or replaced in the middle of a study must stop the driver and
the workers with a clear error (never "study finished"), and commands run from the
wrong directory must say where they looked instead of creating an empty database.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
from pathlib import Path

import pytest

from hpo_service._common.stop_signals import PAUSE_ENV
from hpo_service.exceptions import StoreNotFoundError, StudyNotFoundError
from hpo_service.store import TrialState, open_store
from tests.helpers.pipes import PipeLines

from .conftest import QUADRATIC, children, wait_until

DRIVER = "hpo_service.driver.cli"
WORKER = "hpo_service.worker"


def done_count(path: Path, study: str) -> int:
    """Done trials; 0 while the driver has not created the database or study yet."""
    try:
        with open_store(f"sqlite:///{path}", create=False) as store:
            return store.count_by_state(study)[TrialState.DONE]
    except (StoreNotFoundError, StudyNotFoundError):
        return 0


@pytest.mark.parametrize("fault", ["deleted", "replaced"])
def test_a_database_lost_mid_study_stops_the_driver_and_its_workers(
    procs, tmp_path, fault
):
    path = tmp_path / "hpo.sqlite"
    procs.env["HPO_TEST_SLEEP"] = "0.1"
    driver = procs.start(
        DRIVER, "start", "--db", f"sqlite:///{path}", "--study", "s", *QUADRATIC,
        "--max-evals", "300", "--workers", "2", "--no-progress",
    )  # fmt: skip
    wait_until(lambda: done_count(path, "s") >= 4, 120)
    workers = children(driver.pid)
    assert len(workers) == 2
    if fault == "deleted":
        path.unlink()
    else:  # a copy put in its place: same content, another file
        shutil.copy(path, tmp_path / "copy.sqlite")
        os.replace(tmp_path / "copy.sqlite", path)
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == 1, err
    assert "finished" not in out
    assert f"the SQLite database {path} was {fault}" in err
    assert "Traceback" not in err
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 60)


def test_a_database_lost_under_an_idle_worker_stops_it(procs, tmp_path):
    path = tmp_path / "hpo.sqlite"
    open_store(f"sqlite:///{path}").close()
    worker = procs.start(WORKER, "--db", f"sqlite:///{path}", "--poll-interval", "0.05")
    wait_until(lambda: "worker started" in (worker.stderr.readline() or ""), 60)
    path.unlink()
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 1, err
    assert f"the SQLite database {path} was deleted" in err


@pytest.mark.parametrize(
    "command",
    [
        ["status", "--study", "s"],
        ["best", "--study", "s"],
        ["trials", "--study", "s"],
        ["cancel", "--study", "s"],
        ["studies"],
        ["start", "--study", "s", "--max-evals", "5"],  # a resume creates nothing
    ],
)
def test_read_commands_in_the_wrong_directory_create_no_database(
    procs, tmp_path, command
):
    run = procs.run_in(tmp_path, DRIVER, *command)
    usage_error = command[0] == "start"  # no --objective: nothing to create from
    assert run.returncode == (2 if usage_error else 1), run.stderr
    assert f"no SQLite database at {tmp_path / 'hpo.sqlite'}" in run.stderr
    assert "Traceback" not in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_worker_in_the_wrong_directory_creates_no_database(procs, tmp_path):
    run = procs.run_in(tmp_path, WORKER, "--idle-timeout", "1.5")
    # A database that never existed while the worker ran is a failed worker (exit 1),
    # so a script or Slurm tells it from one that finished its work (cde1180).
    assert run.returncode == 1, run.stderr
    assert f"no SQLite database at {tmp_path / 'hpo.sqlite'}" in run.stderr
    assert "waiting for it to be created" in run.stderr
    assert "no study was ever found" in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_worker_started_before_the_database_waits_for_it(procs, tmp_path):
    path = tmp_path / "hpo.sqlite"
    worker = procs.start(WORKER, "--db", f"sqlite:///{path}", "--study", "s")
    wait_until(lambda: "waiting for it" in (worker.stderr.readline() or ""), 60)
    assert not path.exists()
    run = procs.run(
        DRIVER, "start", "--db", f"sqlite:///{path}", "--study", "s", *QUADRATIC,
        "--max-evals", "3", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=60)
    with open_store(f"sqlite:///{path}", create=False) as store:
        assert {t.owner.split(":")[1] for t in store.get_trials("s")} == {
            str(worker.pid)
        }


def test_study_not_found_names_the_database_and_its_studies(procs, tmp_path):
    path = tmp_path / "hpo.sqlite"
    with open_store(f"sqlite:///{path}") as store:
        store.create_study("alpha", {})
        store.create_study("beta", {})
    for command in ("status", "best", "trials", "cancel"):
        run = procs.run_in(tmp_path, DRIVER, command, "--study", "gamma")
        assert run.returncode == 1, run.stderr
        assert (
            f"study 'gamma' not found in SQLite database {path} (it holds: alpha, "
            "beta)" in run.stderr
        )


def _limit_file_size(pids: list[int], limit: int) -> None:
    """A full disk for these processes: writes past ``limit`` bytes fail (EFBIG)."""
    for pid in pids:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs prlimit (Linux)")
def test_a_full_disk_stops_neither_the_driver_nor_its_workers(procs, tmp_path):
    path = tmp_path / "hpo.sqlite"
    procs.env["HPO_TEST_SLEEP"] = "2"
    procs.env["HPO_TEST_STORE_NOTE_SECONDS"] = "0.5"  # paced lines soon
    driver = procs.start(
        DRIVER, "start", "--db", f"sqlite:///{path}", "--study", "s", *QUADRATIC,
        "--max-evals", "4", "--workers", "2", "--no-progress",
    )  # fmt: skip
    err = PipeLines(driver.stderr)
    wait_until(lambda: running_count(path, "s") == 2, 120)
    writers = [driver.pid, *children(driver.pid)]
    assert len(writers) == 3
    _limit_file_size(writers, 0)  # the disk is full from now on
    try:
        wait_until(lambda: "study 's': cannot run the study" in err.text, 60)
        wait_until(lambda: re.search(WORKER_FAILED, err.text), 60)
        # the driver's and a worker's paced lines count the outage alike: its
        # seconds and failed calls (a retry line said "attempt 1" 31 s in)
        wait_until(
            lambda: {"[w" in line for line in _paced(err.text)} == {True, False}, 60
        )
    finally:
        _limit_file_size(writers, resource.RLIM_INFINITY)  # space is back
    driver.wait(timeout=180)
    out, text = driver.stdout.read(), err.finish()
    assert driver.returncode == 0, text
    assert "study 's' finished: --max-evals 4 reached; 4 done" in out
    again = [line for line in text.splitlines() if "the store works again" in line]
    assert any("[w" not in line for line in again), text  # the driver's
    with open_store(f"sqlite:///{path}") as store:
        trials = store.get_trials("s")
    assert [(t.state, t.attempts) for t in trials] == [(TrialState.DONE, 1)] * 4


def _paced(text: str) -> list[str]:
    """The warnings said at the outage's pace, with its seconds, calls and what
    waits (see store/_outage.py)."""
    note = re.compile(r"\(.*the store has failed for \d+ s and \d+ calls; waiting: ")
    return [line for line in text.splitlines() if note.search(line)]


# A local worker's first warning of the outage: its result's or its heartbeat's,
# whichever failed first (each process says one outage once, see store/_outage.py).
WORKER_FAILED = (
    r"\[w\d\] (worker: cannot record trial s/|heartbeat of trial s/\d+ fail)"
)


def running_count(path: Path, study: str) -> int:
    try:
        with open_store(f"sqlite:///{path}", create=False) as store:
            return store.count_by_state(study)[TrialState.RUNNING]
    except (StoreNotFoundError, StudyNotFoundError):
        return 0


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs prlimit (Linux)")
def test_a_full_disk_as_the_driver_starts_driving_is_ridden_out(procs, tmp_path):
    """The driver's first housekeeping (taking its lease, requeueing dead leases)
    ran outside the loop's retries: a failure that may pass there (a full disk, a
    MongoDB write error) ended the driver with exit 1, where the same failure a
    poll later is waited out. The driver waits just before it drives while the
    test fills its disk."""
    path, marker = tmp_path / "hpo.sqlite", tmp_path / "paused"
    procs.env[PAUSE_ENV] = f"driving:{marker}"
    driver = procs.start(
        DRIVER, "start", "--db", f"sqlite:///{path}", "--study", "s", *QUADRATIC,
        "--max-evals", "3", "--workers", "1", "--no-progress",
    )  # fmt: skip
    err = PipeLines(driver.stderr)
    wait_until(lambda: marker.exists() or driver.poll() is not None, 120)
    assert driver.poll() is None, err.finish()
    _limit_file_size([driver.pid], 0)  # the driver's disk is full from now on
    marker.unlink()
    try:
        wait_until(
            lambda: (
                "study 's': cannot run the study" in err.text
                or driver.poll() is not None
            ),
            60,
        )
    finally:
        with contextlib.suppress(ProcessLookupError):  # space is back
            _limit_file_size([driver.pid], resource.RLIM_INFINITY)
    driver.wait(timeout=180)
    out, text = driver.stdout.read(), err.finish()
    assert driver.returncode == 0, text
    assert "study 's': cannot run the study" in text
    assert "study 's' finished: --max-evals 3 reached; 3 done" in out
