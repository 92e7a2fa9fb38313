"""Signals stop everything they should: real hpo-driver, local workers and fmin.

The driver and its local workers are real processes; the tests send them SIGTERM,
SIGHUP, SIGINT or SIGKILL as an operator (or an orchestrator) would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pymongo
import pytest

from hpo_service.exceptions import StoreNotFoundError, StudyNotFoundError
from hpo_service.store import TrialState, open_store
from tests.conftest import AUTH_ADMIN
from tests.helpers.mongo_wire import as_user, executable
from tests.helpers.terminal_signals import as_from_a_terminal

from .conftest import QUADRATIC, REPO, children, wait_until

DRIVER = "hpo_service.driver.cli"
WORKER = "hpo_service.worker"


@pytest.fixture(autouse=True)
def signals_as_from_a_terminal():
    """Children start with SIGINT and SIGHUP at their defaults (see
    :mod:`tests.helpers.terminal_signals`)."""
    with as_from_a_terminal():
        yield


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def counts(db: str, study: str) -> dict[TrialState, int]:
    try:
        with open_store(db, create=False) as store:
            return store.count_by_state(study)
    except (StoreNotFoundError, StudyNotFoundError):
        return dict.fromkeys(TrialState, 0)


def start_driver(procs, db, study, max_evals, *extra):
    return procs.start(
        DRIVER, "start", "--db", db, "--study", study, *QUADRATIC,
        "--max-evals", str(max_evals), "--no-progress", *extra,
    )  # fmt: skip


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_stops_the_driver_its_workers_and_frees_the_lease(
    procs, tmp_path, signum
):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_TEST_SLEEP"] = "0.5"
    driver = start_driver(
        procs, db, "s", 200, "--workers", "2", "--no-objective-output"
    )
    wait_until(lambda: counts(db, "s")[TrialState.RUNNING] == 2, 120)
    workers = children(driver.pid)
    assert len(workers) == 2
    os.kill(driver.pid, signum)  # the driver only, as `kill` or systemd would
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 128 + signum, err
    # the command to paste starts the local workers again (without --workers the
    # resumed driver waited for workers nobody started)
    again = f"hpo-driver start --db {db} --study s --workers 2 --no-objective-output"
    assert f"run `{again}` again" in err
    assert "Traceback" not in err
    assert not any(alive(pid) for pid in workers)
    with open_store(db) as store:
        study = store.get_study("s")
        assert study.driver_owner is None  # the lease is free: a restart needs no wait
        found = store.count_by_state("s")
    assert found[TrialState.RUNNING] == 0  # finished or handed back
    assert found[TrialState.CANCELLED] == 0  # the queue is kept for the resume
    assert found[TrialState.DONE] >= 2


def test_the_command_to_resume_repeats_the_runs_stop_rules(procs, tmp_path):
    """The store keeps no stop rule (each applies to the run that gives it), so the
    command a stopped driver gives to resume repeats them: without them the resumed
    study ran on to --max-evals, past the rules it was started with."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    rules = ["--loss-threshold", "-5", "--timeout", "3600", "--no-improvement", "40"]
    driver = start_driver(procs, db, "s", 200, *rules)  # no worker: trials wait
    wait_until(lambda: counts(db, "s")[TrialState.NEW] > 0, 120)
    os.kill(driver.pid, signal.SIGTERM)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 128 + signal.SIGTERM, err
    again = f"hpo-driver start --db {db} --study s {' '.join(rules)}"
    assert f"run `{again}` again to resume it" in err, err


def test_the_command_to_resume_repeats_catch_space_errors(procs, tmp_path):
    """The store does not keep --catch-space-errors either: without it in the
    command, the resumed start stopped at the first point the space raised for."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    driver = start_driver(procs, db, "s", 200, "--catch-space-errors")  # no worker
    wait_until(lambda: counts(db, "s")[TrialState.NEW] > 0, 120)
    os.kill(driver.pid, signal.SIGTERM)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 128 + signal.SIGTERM, err
    again = f"hpo-driver start --db {db} --study s --catch-space-errors"
    assert f"run `{again}` again to resume it" in err, err


def running_trials(db: str, study: str) -> list[int]:
    with open_store(db) as store:
        return [t.tid for t in store.get_trials(study, [TrialState.RUNNING])]


def test_ctrl_c_in_a_terminal_lets_the_local_workers_finish_their_trials(
    procs, tmp_path
):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_TEST_SLEEP"] = "2"
    given = ["--study", "s", *QUADRATIC, "--max-evals", "50", "--workers", "2"]
    driver = procs.start(DRIVER, "start", "--db", db, *given)  # progress shown
    wait_until(lambda: counts(db, "s")[TrialState.RUNNING] == 2, 120)
    running = running_trials(db, "s")
    os.killpg(driver.pid, signal.SIGINT)  # a terminal sends it to the whole group
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err
    assert "cold stop" not in err and "hand their running trials back" not in err
    with open_store(db) as store:
        ended = [store.get_trial("s", tid) for tid in running]
        done = store.count_by_state("s")[TrialState.DONE]
    assert [(t.state, t.attempts) for t in ended] == [(TrialState.DONE, 1)] * 2
    # the counts shown are those after the running trials finished
    assert f"study 's' is not finished: {done}/50 trials finished ({done} done)" in err
    assert "trials finished (" not in err.replace(f"{done}/50 trials finished (", "")


def test_a_signal_while_the_last_trials_run_says_the_study_finished(procs, tmp_path):
    """The local workers finish the budget's last trials after the signal: the
    driver said "study 's' is not finished: 2/2 trials finished" and gave a command
    to resume a study with nothing left to run."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    gate = tmp_path / "gate"  # the trials run until the test opens it
    procs.env["HPO_TEST_GATE"] = str(gate)
    driver = procs.start(
        DRIVER, "start", "--db", db, "--study", "s", "--objective",
        "tests.e2e.objectives:gated_sum_of_squares", "--space",
        "tests.e2e.objectives:space", "--max-evals", "2", "--no-progress",
        "--workers", "2", "--stop-grace", "300",
    )  # fmt: skip
    wait_until(lambda: counts(db, "s")[TrialState.RUNNING] == 2, 120)
    os.kill(driver.pid, signal.SIGTERM)  # pending on the driver before the gate opens
    gate.write_text("")
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 128 + signal.SIGTERM, err
    assert counts(db, "s")[TrialState.DONE] == 2
    assert "not finished" not in err and "to resume it" not in err
    assert (
        "hpo-driver stopped by SIGTERM: study 's' finished meanwhile: 2/2 trials "
        f"finished (2 done); `hpo-driver best --db {db} --study s` shows its best "
        "trial"
    ) in err


def test_ctrl_c_while_the_driver_imports_the_objective_exits_130_and_says_so(
    procs, tmp_path
):
    # a slow import (torch, data loaded at import): the user presses Ctrl-C meanwhile
    marker = tmp_path / "importing"
    (tmp_path / "slow_objective.py").write_text(
        f"import pathlib, time\npathlib.Path({str(marker)!r}).touch()\n"
        "time.sleep(120)\ndef objective(config):\n    return 0.0\n"
    )
    procs.env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{procs.env['PYTHONPATH']}"
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    driver = procs.start(
        DRIVER, "start", "--db", db, "--study", "s", "--objective",
        "slow_objective:objective", "--space", "tests.e2e.objectives:space",
        "--max-evals", "3",
    )  # fmt: skip
    wait_until(marker.exists, 120)
    os.kill(driver.pid, signal.SIGINT)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err
    assert "Traceback" not in err and "Aborted!" not in err
    assert err.strip().splitlines()[-1] == (
        "hpo-driver interrupted (Ctrl-C) while starting study 's'; run the same "
        "command again to start it"
    )


@pytest.mark.parametrize(
    ("command", "point"),
    [(["status"], "store-opened"), (["trials", "--format", "json"], "store-opened"),
     (["report", "--out", "r.html"], "study-read")],
)  # fmt: skip
def test_ctrl_c_in_a_read_command_exits_130_and_says_so(
    procs, tmp_path, command, point
):
    """Ctrl-C in `status`, `trials` or a long `report` ends it as in `start` and
    `dashboard`: exit 130 and one line naming the command. Before, click said
    "Aborted!" and exited 1, which a script cannot tell from an error."""
    from hpo_service._common.stop_signals import PAUSE_ENV
    from hpo_service.store import FinishedTrial

    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    with open_store(db, create=True) as store:
        store.create_study("s", {"max_evals": 1})
        point_ = {"x": 0.5, "y": 0.0}
        store.insert_finished(
            "s", [FinishedTrial(point_, point_, {"loss": 0.25, "status": "ok"})]
        )
    marker = tmp_path / "paused"
    procs.env[PAUSE_ENV] = f"{point}:{marker}"
    run = procs.start(DRIVER, *command, "--db", db, "--study", "s", cwd=tmp_path)
    wait_until(marker.exists, 120)  # the command is inside, between two steps
    os.kill(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert "Traceback" not in err and "Aborted!" not in err
    assert err.strip().splitlines() == [f"hpo-driver {command[0]} interrupted (Ctrl-C)"]


def test_a_trial_longer_than_the_stop_grace_is_handed_back_and_the_driver_says_so(
    procs, tmp_path
):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_TEST_SLEEP"] = "120"
    driver = start_driver(procs, db, "s", 5, "--workers", "1", "--stop-grace", "1")
    wait_until(lambda: counts(db, "s")[TrialState.RUNNING] == 1, 120)
    (tid,) = running_trials(db, "s")
    os.kill(driver.pid, signal.SIGTERM)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 128 + signal.SIGTERM, err
    # it said "started 1 local workers"
    assert "hpo_service.driver._local_workers: started 1 local worker\n" in err
    assert "hand their running trials back (they did not finish within " in err
    assert "--stop-grace 1 s): those trials run again when the study resumes" in err
    with open_store(db) as store:
        trial = store.get_trial("s", tid)
    assert (trial.state, trial.attempts) == (TrialState.NEW, 0)  # nothing lost


def test_a_second_sigterm_stops_at_once_and_the_exit_code_names_it(procs, tmp_path):
    """README: the driver "exits 128+signal"; a second SIGTERM (a supervisor that
    loses patience) exited 130 as if Ctrl-C had been pressed, saying "interrupted"."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_TEST_SLEEP"] = "120"
    driver = start_driver(procs, db, "s", 5, "--workers", "1")
    wait_until(lambda: counts(db, "s")[TrialState.RUNNING] == 1, 120)
    (tid,) = running_trials(db, "s")
    os.kill(driver.pid, signal.SIGTERM)
    seen = ""
    while "got SIGTERM" not in seen:  # the first one is handled: send the second
        line = driver.stderr.readline()
        assert line, seen
        seen += line
    os.kill(driver.pid, signal.SIGTERM)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 128 + signal.SIGTERM, err
    assert "hpo-driver stopped at once by a second SIGTERM: study 's' is not " in err
    assert "Traceback" not in err
    with open_store(db) as store:
        trial = store.get_trial("s", tid)
    assert (trial.state, trial.attempts) == (TrialState.NEW, 0)  # handed back


def test_a_sigkilled_driver_takes_its_workers_along_and_shows_as_dead(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_TEST_SLEEP"] = "0.3"
    driver = start_driver(procs, db, "s", 200, "--workers", "2")
    wait_until(lambda: counts(db, "s")[TrialState.RUNNING] == 2, 120)
    workers = children(driver.pid)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    wait_until(lambda: not any(alive(pid) for pid in workers), 60)
    after = counts(db, "s")
    assert after[TrialState.RUNNING] == 0 and after[TrialState.DONE] >= 2  # finished
    status = procs.run(DRIVER, "status", "--db", db, "--study", "s")
    assert status.returncode == 0, status.stderr
    assert f":{driver.pid}:" in status.stdout
    assert "is dead (its process is gone" in status.stdout
    assert "`hpo-driver start`, or `fmin` on its StoreTrials or MongoTrials)" in (
        " ".join(status.stdout.split())
    )  # a MongoTrials script is resumed by running it again
    resumed = procs.run(
        DRIVER, "start", "--db", db, "--study", "s", "--max-evals", "2",
        "--no-progress",
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr  # no waiting out the old lease
    with open_store(db) as store:
        assert store.count_by_state("s")[TrialState.NEW] == 0
        assert store.get_study("s").settings["max_evals"] >= 2


def test_a_sigkilled_local_worker_is_replaced_and_its_trial_requeued_at_once(
    procs, tmp_path
):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_TEST_SLEEP"] = "1.0"
    driver = start_driver(
        procs, db, "s", 8, "--workers", "2", "--lease-seconds", "600"
    )  # a lease far longer than the test: only a known-dead pid requeues at once
    wait_until(lambda: counts(db, "s")[TrialState.RUNNING] == 2, 120)
    victim = children(driver.pid)[0]
    with open_store(db) as store:
        (trial,) = [
            t
            for t in store.get_trials("s", [TrialState.RUNNING])
            if t.owner.split("/")[1].startswith(f"{socket.gethostname()}:{victim}:")
        ]
    assert trial.owner.startswith(("w1/", "w2/")), trial.owner  # local: named
    os.kill(victim, signal.SIGKILL)
    _, err = driver.communicate(timeout=180)
    assert driver.returncode == 0, err
    assert f"local worker {victim} was killed by SIGKILL" in err
    assert (
        f"study 's': trial {trial.tid} requeued at once: its worker (local worker "
        f"{victim}) died"
    ) in err
    assert "lease expired" not in err  # its 600 s lease had not
    with open_store(db) as store:
        again = store.get_trial("s", trial.tid)
        assert store.count_by_state("s")[TrialState.DONE] == 8
    assert (again.state, again.attempts) == (TrialState.DONE, 2)


def test_local_workers_get_the_store_url_from_the_environment_not_argv(procs, tmp_path):
    secret = "s3cr3t-part-of-the-path"
    db = f"sqlite:///{tmp_path / secret / 'hpo.sqlite'}"
    (tmp_path / secret).mkdir()
    procs.env["HPO_TEST_SLEEP"] = "0.5"
    driver = start_driver(procs, db, "s", 50, "--workers", "2")
    wait_until(lambda: counts(db, "s")[TrialState.RUNNING] == 2, 120)
    workers = children(driver.pid)
    objectives = [child for pid in workers for child in children(pid)]
    assert len(workers) == 2 and len(objectives) == 2
    for pid in workers + objectives:
        assert secret not in Path(f"/proc/{pid}/cmdline").read_text()
    for pid in objectives:  # the objective's process has no use for the URL
        assert secret not in Path(f"/proc/{pid}/environ").read_text()
    driver.send_signal(signal.SIGTERM)
    driver.communicate(timeout=120)


@pytest.mark.skipif(shutil.which("nohup") is None, reason="needs nohup")
def test_under_nohup_a_hangup_stops_neither_the_driver_nor_a_worker(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_TEST_SLEEP"] = "0.3"
    nohup = [shutil.which("nohup"), sys.executable, "-m"]
    # The worker first (it waits for the study): started after the driver, on a
    # loaded machine it came up after the driver's own worker had run all 8 trials,
    # and two trials never ran at once.
    worker = procs.start(WORKER, "--db", db, "--study", "s")  # no nohup
    driver = subprocess.Popen(
        [*nohup, DRIVER, "start", "--db", db, "--study", "s", *QUADRATIC,
         "--max-evals", "8", "--workers", "1", "--no-progress"],
        cwd=REPO, env=procs.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: counts(db, "s")[TrialState.RUNNING] == 2, 120)
        os.kill(driver.pid, signal.SIGHUP)  # the terminal went away
        os.kill(worker.pid, signal.SIGHUP)
        _, worker_err = worker.communicate(timeout=120)
        _, err = driver.communicate(timeout=180)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.communicate()
    assert worker.returncode == 0, worker_err  # a warm stop: its trial finished
    assert "warm stop" in worker_err
    assert driver.returncode == 0, err  # nohup: it ran the study to its end
    with open_store(db) as store:
        trials = store.get_trials("s")
    assert [(t.state, t.attempts) for t in trials] == [(TrialState.DONE, 1)] * 8


@pytest.mark.skipif(executable() is None, reason="secantusdb is not installed")
def test_no_mongodb_password_shows_in_the_process_list(procs, auth_mongo_url):
    secret = "Pw-" + uuid.uuid4().hex
    admin = as_user(auth_mongo_url, *AUTH_ADMIN, "h2", "admin")
    with pymongo.MongoClient(admin) as client:
        client.admin.command("createUser", "op", pwd=secret, roles=["root"])
    db = as_user(auth_mongo_url, "op", secret, "h2", "admin")
    procs.env["HPO_DB"] = db  # the operator keeps it out of the driver's argv
    procs.env["HPO_TEST_SLEEP"] = "0.5"
    driver = procs.start(
        DRIVER, "start", "--study", "s", *QUADRATIC, "--max-evals", "50",
        "--workers", "2", "--no-progress",
    )  # fmt: skip
    wait_until(lambda: counts(db, "s")[TrialState.RUNNING] == 2, 120)
    listing = subprocess.run(
        ["ps", "-ww", "-eo", "pid,args"],  # -ww: whole lines, however wide
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    workers = children(driver.pid)
    objectives = [child for pid in workers for child in children(pid)]
    driver.send_signal(signal.SIGTERM)
    out, err = driver.communicate(timeout=120)
    assert len(workers) == 2 and len(objectives) == 2
    assert f"{workers[0]} " in listing  # the listing holds the workers...
    assert secret not in listing  # ...but not the password
    assert secret not in out + err
    assert driver.returncode == 128 + signal.SIGTERM, err


FMIN_SCRIPT = textwrap.dedent(
    """
    import sys
    from hpo_service import StoreTrials, fmin, tpe
    from tests.e2e.objectives import quadratic, space

    trials = StoreTrials(sys.argv[1], study="py", workers=2)
    print("ready", flush=True)
    fmin(quadratic, space, algo=tpe.suggest, max_evals=500, trials=trials,
         show_progressbar=False)
    """
)


def test_terminating_a_store_trials_fmin_stops_its_workers_and_frees_the_lease(
    tmp_path,
):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    script = tmp_path / "run.py"
    script.write_text(FMIN_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HPO_TEST_SLEEP": "0.5"}
    proc = subprocess.Popen(
        [sys.executable, str(script), db],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until(lambda: counts(db, "py")[TrialState.RUNNING] == 2, 120)
        workers = children(proc.pid)
        assert len(workers) == 2
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == -signal.SIGTERM, err  # it still ends by the signal
    assert not any(alive(pid) for pid in workers)
    with open_store(db) as store:
        assert store.get_study("py").driver_owner is None
        assert store.count_by_state("py")[TrialState.RUNNING] == 0
