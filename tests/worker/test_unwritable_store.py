"""A worker that cannot write its result keeps it and retries until the lease ends.

A real ``hpo-worker`` process runs a trial against a SQLite file; while the trial
runs, the process's file-size limit is cut to zero with ``prlimit``, so every write
of the database (its WAL) fails as on a full disk ("disk I/O error"), while its log
(a pipe) still flows. The limit is lifted later, as when space is freed.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hpo_service.store import TrialState

from .conftest import OBJ, REPO, lines, make_study, wait_until

pytestmark = pytest.mark.skipif(
    not hasattr(resource, "prlimit"), reason="needs prlimit (Linux)"
)


def _limit_file_size(pid: int, limit: int) -> None:
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


class _Lines:
    """Collects a pipe's lines from a thread, so that the test can wait for one."""

    def __init__(self, pipe) -> None:
        self.text = ""
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe) -> None:
        for line in pipe:
            self.text += line


def _worker(db_url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HPO_DB", None)
    return subprocess.Popen(
        [sys.executable, "-m", "hpo_service.worker", "--db", db_url, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_result_survives_a_full_disk_and_is_written_once_it_clears(
    store, db_url, tmp_path: Path
):
    log = tmp_path / "ran.log"
    config = {"seconds": 1.0, "loss": 7.0, "log": str(log), "tag": "t0"}
    make_study(store, "d", f"{OBJ}:sleeps", [config], lease_seconds=120)
    worker = _worker(db_url, "--study", "d", "--idle-timeout", "1")
    err = _Lines(worker.stderr)
    try:
        wait_until(lambda: lines(log) == ["start t0"], 60)
        _limit_file_size(worker.pid, 0)  # the disk is full from now on
        wait_until(lambda: "cannot record trial d/0, retrying" in err.text, 60)
        assert store.get_trial("d", 0).state == TrialState.RUNNING  # nothing lost yet
        wait_until(lambda: err.text.count("cannot record trial d/0") >= 3, 60)
        _limit_file_size(worker.pid, resource.RLIM_INFINITY)  # space is back
        assert worker.wait(timeout=120) == 0, err.text
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    trial = store.get_trial("d", 0)
    assert (trial.state, trial.attempts, trial.result["loss"]) == (
        TrialState.DONE,
        1,
        7.0,
    )
    assert lines(log) == ["start t0", "end t0"]  # it ran once: the result was kept


def test_a_result_that_cannot_be_written_before_the_lease_ends_is_run_again(
    store, db_url, tmp_path: Path
):
    log = tmp_path / "ran.log"
    config = {"seconds": 0.5, "loss": 3.0, "log": str(log), "tag": "t0"}
    # With the objective count known, the outcome is one write, so "its lease ended"
    # is the worker's last try at it: lifting the limit then cannot let a retry of a
    # second write land the first attempt's result after all.
    make_study(store, "d", f"{OBJ}:sleeps", [config], lease_seconds=3, n_objectives=1)
    worker = _worker(db_url, "--study", "d", "--idle-timeout", "8")
    err = _Lines(worker.stderr)
    try:
        wait_until(lambda: lines(log) == ["start t0"], 60)
        _limit_file_size(worker.pid, 0)
        wait_until(lambda: "its lease ended" in err.text, 60)
        _limit_file_size(worker.pid, resource.RLIM_INFINITY)
        assert worker.wait(timeout=120) == 0, err.text
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert "'loss': 3.0" in err.text  # the lost result is in the log
    assert "1 done, 0 failed, 0 released, 1 abandoned" in err.text  # and counted
    trial = store.get_trial("d", 0)
    assert (trial.state, trial.attempts) == (TrialState.DONE, 2), err.text
    assert lines(log) == ["start t0", "end t0", "start t0", "end t0"]
