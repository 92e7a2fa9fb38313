"""A worker that cannot write its result keeps it and retries until the store answers.

While the store cannot be written nobody can requeue the trial, so the worker retries
past the trial's lease; the store takes the outcome then. If a process that could
still write the store requeued the trial meanwhile, the worker takes it back unless
another attempt claimed it, and the store refuses the outcome as stale if one did.

A real ``hpo-worker`` process runs a trial against a SQLite file; while the trial
runs, the process's file-size limit is cut to zero with ``prlimit``, so every write
of the database (its WAL) fails as on a full disk ("disk I/O error"), while its log
(a pipe) still flows. The limit is lifted later, as when space is freed.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hpo_service._common.stop_signals import PAUSE_ENV
from hpo_service.store import TrialState
from tests.helpers.pipes import PipeLines

from .conftest import OBJ, REPO, lines, make_study, wait_until

pytestmark = pytest.mark.skipif(
    not hasattr(resource, "prlimit"), reason="needs prlimit (Linux)"
)


def _limit_file_size(pid: int, limit: int) -> None:
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


def _worker(db_url: str, *args: str, **extra_env: str) -> subprocess.Popen[str]:
    """A worker logging debug lines too (what it retries while the store fails is
    a debug line once the process warned of the outage)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **extra_env}
    env.pop("HPO_DB", None)
    return subprocess.Popen(
        [sys.executable, "-m", "hpo_service.worker", "-v", "--db", db_url, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def _cut_off_worker(
    store,
    db_url: str,
    tmp_path: Path,
    config: dict,
    *,
    lease_seconds: float,
    idle_timeout: float | None = None,
) -> Iterator[tuple[subprocess.Popen[str], PipeLines, Path]]:
    """A worker (with ``--idle-timeout`` if given) running study d's one trial, the
    ``sleeps`` objective with ``config``, that cannot write the store from the moment
    the trial started until the test lifts its limit; yields it once it said so, with
    its standard error's lines and the objective's log, and kills it at the end if it
    still runs.
    """
    log = tmp_path / "ran.log"
    point = {**config, "log": str(log), "tag": "t0"}
    make_study(store, "d", f"{OBJ}:sleeps", [point], lease_seconds=lease_seconds)
    idle = () if idle_timeout is None else ("--idle-timeout", str(idle_timeout))
    worker = _worker(db_url, "--study", "d", *idle)
    err = PipeLines(worker.stderr)
    try:
        wait_until(lambda: lines(log) == ["start t0"], 60)
        _limit_file_size(worker.pid, 0)  # nobody can write the store now
        wait_until(lambda: "cannot record trial d/0, retrying in " in err.text, 60)
        yield worker, err, log
        err.finish()  # all of its log: the test reads it once the worker ended
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_a_result_survives_a_full_disk_and_is_written_once_it_clears(
    store, db_url, tmp_path: Path
):
    with _cut_off_worker(
        store,
        db_url,
        tmp_path,
        {"seconds": 1.0, "loss": 7.0},
        lease_seconds=120,
        idle_timeout=1,
    ) as (worker, err, log):
        # the worker failed to write the result (it said so) and holds it: the
        # space comes back during its backoff, and its next try writes it (a
        # longer outage: test_a_result_is_written_after_an_outage_longer_...)
        assert store.get_trial("d", 0).state == TrialState.RUNNING  # nothing lost yet
        assert worker.poll() is None, err.text
        _limit_file_size(worker.pid, resource.RLIM_INFINITY)  # space is back
        assert worker.wait(timeout=120) == 0, err.text
    trial = store.get_trial("d", 0)
    assert (trial.state, trial.attempts, trial.result["loss"]) == (
        TrialState.DONE,
        1,
        7.0,
    )
    assert lines(log) == ["start t0", "end t0"]  # it ran once: the result was kept


def _lease_ended(store, seconds: float) -> bool:
    """Whether trial d/0's lease ended more than ``seconds`` ago (by the store)."""
    expires = store.get_trial("d", 0).lease_expires_at
    return expires is not None and store.now() > expires + seconds


def test_a_result_is_written_after_an_outage_longer_than_the_lease(
    store, db_url, tmp_path: Path
):
    with _cut_off_worker(
        store,
        db_url,
        tmp_path,
        {"seconds": 0.5, "loss": 3.0},
        lease_seconds=2,
        idle_timeout=1,
    ) as (worker, err, log):
        worker.send_signal(signal.SIGTERM)  # a warm stop waits for the store too
        wait_until(lambda: _lease_ended(store, 3.0), 60)
        assert worker.poll() is None, err.text  # still retrying, past the lease
        assert store.get_trial("d", 0).state == TrialState.RUNNING
        _limit_file_size(worker.pid, resource.RLIM_INFINITY)  # the store is back
        assert worker.wait(timeout=120) == 0, err.text
    assert (
        "worker stopped: a stop signal; 1 done, 0 failed (status fail), 0 error, "
        "0 released, 0 abandoned" in (err.text)
    )
    assert "gave up" not in err.text
    # a quiet log: one warning for the outage (the heartbeat's, the result's or
    # the store's retries', whichever failed first; each said one of its own),
    # and one when the store works again
    warned = [line for line in err.text.splitlines() if " WARNING " in line]
    assert len(warned) == 2, err.text
    assert "the store works again, after" in warned[1], err.text
    trial = store.get_trial("d", 0)
    assert (trial.state, trial.attempts, trial.result["loss"]) == (
        TrialState.DONE,
        1,
        3.0,
    )
    assert lines(log) == ["start t0", "end t0"]  # it ran once: the result was kept


@contextmanager
def _requeued_while_cut_off(
    store, db_url: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], PipeLines, Path]]:
    """:func:`_cut_off_worker` (lease 2 s) whose trial this test's process, which can
    still write the store, requeues once the lease ran out."""
    with _cut_off_worker(
        store,
        db_url,
        tmp_path,
        {"seconds": 0.5, "loss": 3.0},
        lease_seconds=2,
        idle_timeout=1,
    ) as (worker, err, log):
        wait_until(lambda: store.requeue_expired(max_attempts=3, study="d").requeued)
        yield worker, err, log


def test_a_late_result_of_a_trial_requeued_but_not_claimed_meanwhile_counts_once(
    store, db_url, tmp_path: Path
):
    """No other attempt claimed the requeued trial: the worker takes it back, and
    its result counts; the trial does not run again."""
    with _requeued_while_cut_off(store, db_url, tmp_path) as (worker, err, log):
        _limit_file_size(worker.pid, resource.RLIM_INFINITY)
        assert worker.wait(timeout=120) == 0, err.text
    assert "trial d/0: its lease had run out and it was requeued" in err.text
    assert (
        "1 done, 0 failed (status fail), 0 error, 0 released, 0 abandoned" in err.text
    )
    trial = store.get_trial("d", 0)
    assert (trial.state, trial.attempts, trial.result["loss"]) == (
        TrialState.DONE, 1, 3.0
    )  # fmt: skip
    counts = {state: n for state, n in store.count_by_state("d").items() if n}
    assert counts == {TrialState.DONE: 1}  # counted once
    assert lines(log) == ["start t0", "end t0"]  # it ran once


def test_a_late_result_of_a_trial_claimed_again_meanwhile_is_refused(
    store, db_url, tmp_path: Path
):
    """Another attempt claimed the requeued trial: the late result is dropped (in
    the log) and counted as abandoned; the other attempt's result counts, once."""
    with _requeued_while_cut_off(store, db_url, tmp_path) as (worker, err, log):
        other = store.claim("other", 600.0, study="d")
        assert (other.tid, other.attempts) == (0, 2)
        _limit_file_size(worker.pid, resource.RLIM_INFINITY)
        assert worker.wait(timeout=120) == 0, err.text
    assert (
        "trial d/0 was requeued meanwhile (its lease ran out, or its worker was taken "
        "for dead) and runs again: dropped its outcome" in err.text
    )
    assert "'loss': 3.0" in err.text  # the dropped result is in the log
    assert (
        "0 done, 0 failed (status fail), 0 error, 0 released, 1 abandoned" in err.text
    )  # and counted
    assert store.complete("d", 0, other.token, {"loss": 2.0, "status": "ok"})
    trial = store.get_trial("d", 0)
    assert (trial.state, trial.attempts, trial.result["loss"]) == (
        TrialState.DONE, 2, 2.0
    )  # fmt: skip
    assert lines(log) == ["start t0", "end t0"]


def test_a_second_signal_ends_the_retries_and_logs_the_result(
    store, db_url, tmp_path: Path
):
    with _cut_off_worker(
        store, db_url, tmp_path, {"seconds": 0.5, "loss": 3.0}, lease_seconds=2
    ) as (worker, err, _):
        worker.send_signal(signal.SIGTERM)
        wait_until(lambda: "warm stop" in err.text, 60)
        worker.send_signal(signal.SIGTERM)  # cold: stop waiting for the store
        worker.wait(timeout=60)
    assert "gave up trying to record trial d/0 (cold stop)" in err.text
    assert "'loss': 3.0" in err.text  # the result is in the log
    assert (
        "0 done, 0 failed (status fail), 0 error, 0 released, 1 abandoned" in err.text
    )
    assert store.get_trial("d", 0).state == TrialState.RUNNING  # requeued later


def test_reports_made_while_the_disk_is_full_are_kept_and_written_once_it_clears(
    store, db_url, tmp_path: Path
):
    """Reports belong to the outcome: a report write that fails as on a full disk
    keeps them (the objective runs on), and they are written before the result once
    the store takes writes again. Before, they were dropped (the trial ended done
    without its steps 1 and 2)."""
    log, gate = tmp_path / "ran.log", tmp_path / "gate"
    config = {"log": str(log), "gate": str(gate)}
    make_study(store, "r", f"{OBJ}:reports_at_gate", [config], lease_seconds=120)
    worker = _worker(db_url, "--study", "r", "--idle-timeout", "1")
    err = PipeLines(worker.stderr)
    try:
        wait_until(lambda: lines(log) == ["start"], 60)
        assert store.get_trial("r", 0).intermediate == {0: 1.0}  # the first, at once
        _limit_file_size(worker.pid, 0)  # nobody can write the store now
        gate.touch()  # steps 1 and 2 are reported, then the result
        wait_until(lambda: "cannot record the reports of trial r/0" in err.text, 60)
        _limit_file_size(worker.pid, resource.RLIM_INFINITY)  # space is back
        assert worker.wait(timeout=120) == 0, err.text
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    err.finish()  # all of its log, not only what was read so far
    trial = store.get_trial("r", 0)
    assert (trial.state, trial.attempts, trial.result["loss"]) == (
        TrialState.DONE, 1, 0.25
    )  # fmt: skip
    assert trial.intermediate == {0: 1.0, 1: 0.5, 2: 0.25}, err.text
    assert "reports not recorded" not in err.text
    assert (
        "1 done, 0 failed (status fail), 0 error, 0 released, 0 abandoned" in err.text
    )


@contextmanager
def _full_disk_after_claim(
    db_url: str, tmp_path: Path, *args: str
) -> Iterator[tuple[subprocess.Popen[str], PipeLines]]:
    """A worker (``--study``, ``args``) that cannot write the store from just after
    its first claim (it waits at the test pause point ``claimed`` meanwhile) until
    the test calls :func:`_space_back`; kills it at the end if it still runs."""
    marker = tmp_path / "paused"
    worker = _worker(db_url, *args, **{PAUSE_ENV: f"claimed:{marker}"})
    err = PipeLines(worker.stderr)
    try:
        wait_until(lambda: marker.exists() or worker.poll() is not None, 60)
        assert worker.poll() is None, err.text
        _limit_file_size(worker.pid, 0)  # nobody can write the store now
        marker.unlink()
        yield worker, err
        err.finish()  # all of its log: the test reads it once the worker ended
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def _space_back(worker: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):  # the old code's worker died
        _limit_file_size(worker.pid, resource.RLIM_INFINITY)


def test_a_full_disk_as_a_worker_sets_its_first_trials_lease_is_ridden_out(
    store, db_url, tmp_path: Path
):
    """A worker's first trial of a study whose lease is not the claim's (30 s) gets
    its lease set by one heartbeat before it runs. That beat failing in a way that
    may pass (a full disk) ended the worker with exit 1, its claimed trial left
    running until its lease ran out; now it says so and runs the trial (the
    heartbeat thread sets the lease once the store takes writes again)."""
    log = tmp_path / "ran.log"
    point = {"seconds": 0.5, "loss": 4.0, "log": str(log), "tag": "t0"}
    make_study(store, "h", f"{OBJ}:sleeps", [point], lease_seconds=60)
    args = ("--study", "h", "--idle-timeout", "1")
    with _full_disk_after_claim(db_url, tmp_path, *args) as (worker, err):
        wait_until(lambda: lines(log) == ["start t0"] or worker.poll() is not None)
        _space_back(worker)
        assert worker.wait(timeout=120) == 0, err.text
    assert (
        "1 done, 0 failed (status fail), 0 error, 0 released, 0 abandoned" in err.text
    ), err.text
    trial = store.get_trial("h", 0)
    assert (trial.state, trial.attempts, trial.result["loss"]) == (
        TrialState.DONE, 1, 4.0
    )  # fmt: skip


def test_a_full_disk_as_a_worker_hands_back_a_trial_beyond_the_budget_is_ridden_out(
    store, db_url, tmp_path: Path
):
    """A trial claimed while the running ones take the budget is handed back. That
    write (like the other writes and reads about a claimed trial: its cancel beyond
    the budget, its study's settings) failing in a way that may pass ended the
    worker with exit 1; now it retries until the store answers, as for an outcome."""
    make_study(store, "b", f"{OBJ}:quadratic", [{"x": 1.0}, {"x": 2.0}], max_evals=1)
    store.claim("other", 600.0, study="b")  # running: it takes the budget
    with _full_disk_after_claim(db_url, tmp_path, "--study", "b") as (worker, err):
        wait_until(lambda: "cannot hand back trial b/1" in err.text or
                   worker.poll() is not None, 60)  # fmt: skip
        _space_back(worker)
        wait_until(lambda: "the store works again" in err.text or
                   worker.poll() is not None, 60)  # fmt: skip
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=120) == 0, err.text
    trial = store.get_trial("b", 1)
    assert (trial.state, trial.attempts) == (TrialState.NEW, 0), err.text
