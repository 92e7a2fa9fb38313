"""A stop signal is handled whenever it comes, from a command's first line on: not only
while the store opens or the study runs, but also while the command imports its
modules and between opening the store and driving or claiming.

Before, SIGUSR1 (or SIGTERM) sent to ``hpo-worker`` between opening its store and
starting its loop ended it by the default action (killed, no word), and so did
SIGTERM or SIGHUP sent to ``hpo-driver start`` while it imported its modules or
created its study. Each test stops the real process exactly there: with
``HPO_TEST_PAUSE=POINT:PATH`` it creates PATH at that point and waits until the test,
having sent the signal, removes it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hpo_service._common.stop_signals import PAUSE_ENV
from hpo_service.exceptions import StudyNotFoundError
from hpo_service.store import TrialState, open_store
from tests.helpers.objectives import __name__ as OBJECTIVES
from tests.helpers.terminal_signals import as_from_a_terminal
from tests.worker.conftest import make_study

from .conftest import QUADRATIC, REPO, wait_until


def stopped_at(
    point: str, signum: int, command: list[str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m COMMAND``, send it ``signum`` while it waits at ``point``,
    let it go on and return how it ended."""
    marker = tmp_path / "paused"
    env = dict(os.environ, PYTHONPATH=str(REPO), **{PAUSE_ENV: f"{point}:{marker}"})
    with as_from_a_terminal():  # SIGINT and SIGHUP not ignored, even under `&`
        process = subprocess.Popen(
            [sys.executable, "-m", *command],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
    try:
        wait_until(lambda: marker.exists() or process.poll() is not None)
        assert process.poll() is None, f"it never paused at {point}"
        process.send_signal(signum)
        marker.unlink()
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
        process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


WORKER_CLI = "hpo_service.worker.cli"
WORKER_CASES = [
    ("started", "SIGUSR1"),
    ("started", "SIGTERM"),
    *(("store-opened", name) for name in ("SIGUSR1", "SIGTERM", "SIGHUP", "SIGINT")),
]


@pytest.mark.parametrize(("point", "name"), WORKER_CASES)
def test_a_worker_stopped_before_its_loop_claims_nothing_and_exits_0(
    point: str, name: str, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    with open_store(db) as store:
        make_study(store, "s", f"{OBJECTIVES}:quadratic", [{"x": 1.0}])
    command = ["hpo_service.worker", "--db", db, "--study", "s", "--idle-timeout", "30"]
    run = stopped_at(point, signal.Signals[name], command, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    # a normal stop (a driver stops its local workers so at its end): no warning
    assert "WARNING" not in run.stderr, run.stderr
    if point == "started":  # handed to _stop_requests: noted, as in the loop, at INFO
        said = f"INFO {WORKER_CLI}: [{socket.gethostname()}:"  # its id, as every line
        assert said in run.stderr, run.stderr
        assert f"] stopped by {name} before claiming" in run.stderr
    with open_store(db) as store:  # stopped before claiming: the trial waits
        assert store.count_by_state("s")[TrialState.NEW] == 1, run.stderr


def driver_start(tmp_path: Path) -> list[str]:
    """``hpo-driver start`` of a new study 's' of 3 trials in ``tmp_path``."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    return [
        "hpo_service.driver", "start", "--db", db, "--study", "s", *QUADRATIC,
        "--max-evals", "3", "--no-progress",
    ]  # fmt: skip


def study_made(tmp_path: Path) -> bool:
    """Whether :func:`driver_start`'s study exists (its database may not)."""
    path = tmp_path / "hpo.sqlite"
    if not path.exists():
        return False
    with open_store(f"sqlite:///{path}", create=False) as store:
        try:
            store.count_by_state("s")
        except StudyNotFoundError:
            return False
    return True


@pytest.mark.parametrize("point", ["started", "store-opened"])
@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_a_driver_stopped_before_it_drives_says_so(
    point: str, name: str, tmp_path: Path
) -> None:
    signum = signal.Signals[name]
    run = stopped_at(point, signum, driver_start(tmp_path), tmp_path)
    assert run.returncode == 128 + signum, run.stderr
    # handed to the block after the pause: opening the store, or reading the study
    doing = "opening" if point == "started" else "reading"
    assert f"stopped by {name} while {doing} the store for study 's'" in run.stderr
    assert "Traceback" not in run.stderr
    assert not study_made(tmp_path), run.stderr  # stopped before it made the study


@pytest.mark.parametrize("point", ["started", "store-opened"])
def test_ctrl_c_before_the_driver_drives_says_so(point: str, tmp_path: Path) -> None:
    """Ctrl-C while ``start`` imports its modules, or between opening the store and
    driving, ends it as Ctrl-C while it opens the store does (exit 130, saying how
    to go on), not with a KeyboardInterrupt traceback."""
    run = stopped_at(point, signal.SIGINT, driver_start(tmp_path), tmp_path)
    assert run.returncode == 128 + signal.SIGINT, run.stderr
    assert "hpo-driver interrupted (Ctrl-C) while starting study 's'" in run.stderr
    assert "Traceback" not in run.stderr
    assert not study_made(tmp_path), run.stderr


@pytest.mark.parametrize("command", [["status"], ["trials", "--format", "csv"]])
def test_ctrl_c_while_a_read_command_imports_says_so(
    command: list[str], tmp_path: Path
) -> None:
    """Ctrl-C while `status` (any command but `start`, which notes it) imports its
    modules, the first second or two on a loaded machine, ends it as one while it
    runs does: exit 130 and one line naming the command. Before, a
    KeyboardInterrupt traceback (and death by SIGINT)."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    args = ["hpo_service.driver", *command, "--db", db, "--study", "s"]
    run = stopped_at("started", signal.SIGINT, args, tmp_path)
    assert run.returncode == 128 + signal.SIGINT, run.stderr
    assert run.stderr.splitlines() == [f"hpo-driver {command[0]} interrupted (Ctrl-C)"]


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_driver_stopped_just_after_its_study_opened_gives_its_lease_back(
    name: str, tmp_path: Path
) -> None:
    """The signal came once the study was made and leased, before the driver ran
    (which gives its lease back however it ends): ``start`` exited 128+signal
    holding the lease, which a start on another host then waited out (300 s)."""
    signum = signal.Signals[name]
    run = stopped_at("study-opened", signum, driver_start(tmp_path), tmp_path)
    assert run.returncode == 128 + signum, run.stderr
    assert "Traceback" not in run.stderr
    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        study = store.get_study("s")
    assert study.driver_owner is None, (study.driver_owner, run.stderr)


def test_ctrl_c_as_fmin_opens_its_study_gives_its_lease_back(tmp_path: Path) -> None:
    """``fmin`` on a StoreTrials interrupted (KeyboardInterrupt) once its study is
    opened and leased, before its driver runs, as ``hpo-driver start`` above: the
    lease stayed held. A notebook that catches the interrupt and runs the cell
    again was then refused for the lease's 30 s, as the holder (its own process)
    lives."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    command = ["tests.helpers.fmin_on_store", db]
    run = stopped_at("study-opened", signal.SIGINT, command, tmp_path)
    assert "KeyboardInterrupt" in run.stderr, run.stderr
    with open_store(db) as store:
        study = store.get_study("s")
        assert sum(store.count_by_state("s").values()) == 0  # stopped before driving
    assert study.driver_owner is None, (study.driver_owner, run.stderr)


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_an_import_stopped_while_it_holds_the_lease_gives_it_back(
    name: str, tmp_path: Path
) -> None:
    """``hpo-driver import --create`` stopped while it fills its new study, holding
    the study's driver lease (300 s): SIGTERM and SIGHUP killed it with the lease
    held, which a start on another host then waited out, and Ctrl-C said click's
    "Aborted!" (exit 1). Now it gives the lease back and exits 128+signal saying
    so; the same command then imports."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    open_store(db).close()
    export = tmp_path / "export.json"
    record = {"tid": 0, "state": "done", "params": {"x": 1.0, "y": 2.0},
              "result": {"loss": 1.0, "status": "ok"}}  # fmt: skip
    export.write_text(json.dumps([record]))
    command = ["hpo_service.driver", "import", "--db", db, "--study", "s", "--create",
               str(export)]  # fmt: skip
    signum = signal.Signals[name]
    run = stopped_at("import-filling", signum, command, tmp_path)
    assert run.returncode == 128 + signum, run.stderr
    said = f"hpo-driver import stopped by {name} while importing into study 's'"
    assert said in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    with open_store(db) as store:
        study = store.get_study("s")
        assert store.get_trials("s") == []  # stopped before its trials went in
    assert study.driver_owner is None, (study.driver_owner, run.stderr)
    again = subprocess.run(
        [sys.executable, "-m", *command], cwd=REPO, capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "imported 1 finished trial" in again.stdout, again.stdout
