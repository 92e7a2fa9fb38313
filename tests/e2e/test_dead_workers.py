"""A trial whose worker was SIGKILLed goes back to the queue at once when the death
is certain, and only when its lease ends when it is not.

Certain: the worker's id names a process of this kernel and pid namespace that is
gone (see ``hpo_service._common.processes``). Not certain: the same host name and a
free pid, but another pid namespace (a container sharing the host name), or an id
without the process identity (an older worker, or an older one's ``--worker-id``).
Real worker processes killed mid-trial, on SQLite and on MongoDB over the wire."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from hpo_service._common.processes import namespace_key
from hpo_service.driver._study import open_study, space_settings
from hpo_service.store import NewTrial, TrialState, open_store

from .conftest import wait_until
from .objectives import space
from .test_study_processes import DRIVER, QUADRATIC, WORKER, counts

LEASE = "600"  # seconds: far longer than any test, so only a certain death requeues


@pytest.fixture
def db(any_db: str) -> str:
    return any_db


def driver_args(db: str, max_evals: int, *extra: str) -> list[str]:
    return ["start", "--db", db, "--study", "s", *QUADRATIC,
            "--max-evals", str(max_evals), "--lease-seconds", LEASE,
            "--queue-depth", "1", "--no-progress", *extra]  # fmt: skip


def kill_mid_trial(procs, db: str, name: str = "") -> int:
    """A driver and one worker (``--worker-id name`` if given) run the study until
    the worker's objective runs (it sleeps for minutes); both are SIGKILLed, the
    worker with its objective's process. Returns the tid of the trial left running."""
    procs.env["HPO_TEST_SLEEP"] = "300"
    driver = procs.start(DRIVER, *driver_args(db, 3))
    named = ["--worker-id", name] if name else []
    worker = procs.start(WORKER, "--db", db, "--study", "s", *named)
    wait_until(lambda: counts(db, "s")[TrialState.RUNNING] == 1, 120)
    for proc in (worker, driver):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    procs.env["HPO_TEST_SLEEP"] = "0"
    with open_store(db) as store:
        (trial,) = store.get_trials("s", [TrialState.RUNNING])
    named_id = f"{name}/" if name else ""
    assert trial.owner.startswith(f"{named_id}{socket.gethostname()}:{worker.pid}:")
    return trial.tid


def test_a_restarted_driver_requeues_a_sigkilled_workers_trial_at_once(procs, db):
    tid = kill_mid_trial(procs, db)
    status = procs.run(DRIVER, "status", "--db", db, "--study", "s", "--json")
    assert status.returncode == 0, status.stderr
    (running,) = json.loads(status.stdout)["workers"]
    assert (running["tid"], running["alive"]) == (tid, False)
    assert json.loads(status.stdout)["driver"]["alive"] is False
    text = procs.run(DRIVER, "status", "--db", db, "--study", "s").stdout
    assert "(its process is gone: a driver or idle worker of this host requeues" in text
    resumed = procs.run(DRIVER, *driver_args(db, 3, "--workers", "1"), timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    # the driver's own words (its local worker would say "study s: trial ...")
    assert f"study 's': trial {tid} requeued at once: its worker " in resumed.stderr
    assert "lease expired" not in resumed.stderr  # its 600 s lease had not
    assert "expired" not in resumed.stderr  # nor a line of the store's own
    with open_store(db) as store:
        trials = store.get_trials("s")
    assert [t.state for t in trials] == [TrialState.DONE] * 3  # nothing lost
    assert [t.attempts for t in trials] == [2 if t.tid == tid else 1 for t in trials]


@pytest.mark.parametrize("name", ["", "slurm-77_3@node7"])
def test_a_worker_started_after_the_death_requeues_and_runs_it(procs, db, name):
    """Also when the dead worker had a name chosen by hand (``--worker-id``, as the
    systemd units and the Slurm script give): its id still proves its death."""
    tid = kill_mid_trial(procs, db, name)
    status = procs.run(DRIVER, "status", "--db", db, "--study", "s", "--json")
    (running,) = json.loads(status.stdout)["workers"]  # listed under its name
    assert running["owner"].startswith(f"{name}/" if name else socket.gethostname())
    assert (running["tid"], running["alive"]) == (tid, False)
    worker = procs.run(
        WORKER, "--db", db, "--study", "s", "--idle-timeout", "1", timeout=180
    )  # no driver: the worker alone finds the dead worker's trial, idle at once
    assert worker.returncode == 0, worker.stderr
    assert f"study s: trial {tid} requeued at once: its worker " in worker.stderr
    assert "expired" not in worker.stderr  # its 600 s lease had not
    with open_store(db) as store:
        trial = store.get_trial("s", tid)
    assert (trial.state, trial.attempts) == (TrialState.DONE, 2)


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_a_certain_death_requeues_before_the_lease_ends(procs, db):
    """Three trials run under ids whose pid is free here: this namespace's (dead
    for certain), another pid namespace's under the same host name (a container's
    worker, maybe alive), and an id without the process identity (an older worker's,
    with or without a ``--worker-id`` name). An idle worker requeues (and runs) the
    first at once; the others keep running until their lease ends."""
    pid, host, ours = dead_pid(), socket.gethostname(), namespace_key()
    assert ours is not None, "this test needs Linux's /proc"
    owners = [
        f"{host}:{pid}:aaaaaaaa/{ours}-1",
        f"{host}:{pid}:bbbbbbbb/{'0' * 12}-1",
        f"{host}:{pid}:cccccccc",
    ]
    with open_store(db) as store:
        given = {"objective": QUADRATIC[1], **space_settings(space), "max_evals": 9}
        open_study(store, "s", given)
        point = NewTrial({"x": 0.0, "y": 0.0}, {"x": 0.0, "y": 0.0})
        store.insert_trials("s", [point] * 3)
        for owner in owners:
            assert store.claim(owner, float(LEASE), study="s").owner == owner
    worker = procs.run(
        WORKER, "--db", db, "--study", "s", "--idle-timeout", "2.5", timeout=180
    )  # idle: it looks for dead workers at once, then every 2 s
    assert worker.returncode == 0, worker.stderr
    with open_store(db) as store:
        trials = store.get_trials("s")
    assert [(t.state, t.attempts) for t in trials] == [
        (TrialState.DONE, 2),
        (TrialState.RUNNING, 1),
        (TrialState.RUNNING, 1),
    ]
    assert [t.owner for t in trials[1:]] == owners[1:]


def test_a_dead_workers_trial_on_its_last_attempt_is_quarantined_not_requeued(
    procs, db
):
    """With ``max_attempts=1`` the dead worker's attempt was the trial's last: an
    idle worker fails it at once and says so, not that it requeued it."""
    owner = f"{socket.gethostname()}:{dead_pid()}:aaaaaaaa/{namespace_key()}-1"
    with open_store(db) as store:
        given = {"objective": QUADRATIC[1], **space_settings(space), "max_evals": 9,
                 "max_attempts": 1}  # fmt: skip
        open_study(store, "s", given)
        store.insert_trials("s", [NewTrial({"x": 0.0}, {"x": 0.0, "y": 0.0})])
        assert store.claim(owner, float(LEASE), study="s").owner == owner
    worker = procs.run(
        WORKER, "--db", db, "--study", "s", "--idle-timeout", "1", timeout=180
    )
    assert worker.returncode == 0, worker.stderr
    assert "trial 0 quarantined after 1 attempt: its worker " in worker.stderr
    assert "requeued at once" not in worker.stderr
    with open_store(db) as store:
        assert store.get_trial("s", 0).state is TrialState.ERROR
