"""What an operator reads: every log line of real ``hpo-driver`` and ``hpo-worker``
processes says when, which process and which module (``TIME PID LEVEL LOGGER:``),
and every line of a worker carries the worker's name, the store's retry warnings
and "works again" lines included (MongoDB-wire fail points make the store fail)."""

from __future__ import annotations

import re
import uuid

import pytest

from hpo_service._common.settings import StudySettings
from hpo_service.store import NewTrial, open_store
from tests.conftest import mongo_lane
from tests.e2e.conftest import wait_until
from tests.helpers.mongo_wire import app_url, fail_point
from tests.helpers.pipes import PipeLines

DRIVER = "hpo_service.driver.cli"
WORKER = "hpo_service.worker"
RUN = ["--objective", "tests.e2e.objectives:quadratic",
       "--space", "tests.e2e.objectives:space", "--no-progress"]  # fmt: skip
LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<pid>\d+) "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) (?P<name>[\w.]+): (?P<msg>.*)$"
)
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
needs_mongo = pytest.mark.skipif(
    mongo_lane() is None, reason="no MongoDB-wire server (see tests/conftest.py)"
)


def log_lines(text: str) -> list[re.Match[str]]:
    """The log lines of ``text`` (those starting with a time), each parsed; a line
    with a time but not the whole format fails the test."""
    stamped = [line for line in text.splitlines() if STAMP.match(line)]
    parsed = [LINE.match(line) for line in stamped]
    bad = [line for line, match in zip(stamped, parsed, strict=True) if not match]
    assert not bad, bad
    return [match for match in parsed if match]


def test_driver_and_worker_lines_name_their_process_and_logger(procs, tmp_path):
    """The driver's lines had no pid and no logger (``TIME LEVEL MESSAGE``), the
    worker's no pid: two drivers or workers on one terminal could not be told
    apart."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    driver = procs.start(
        DRIVER, "-v", "start", "--db", db, "--study", "s", *RUN, "--max-evals", "2",
        "--workers", "1",
    )  # fmt: skip
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 0, err
    lines = log_lines(err)
    ours = [m for m in lines if m["pid"] == str(driver.pid)]
    assert any(m["level"] == "DEBUG" for m in ours), err  # -v, as its help says
    assert any(m["name"] == "hpo_service.driver._local_workers" for m in ours), err
    assert all(m["name"].startswith("hpo_service.") for m in lines), err
    worker = procs.run(WORKER, "--db", db, "--study", "s", "--idle-timeout", "1")
    assert worker.returncode == 0, worker.stderr
    theirs = log_lines(worker.stderr)
    assert theirs, worker.stderr
    assert any(m["name"] == "hpo_service.worker._loop" for m in theirs)
    assert {m["pid"] for m in theirs} == {str(int(theirs[0]["pid"]))}
    assert theirs[0]["pid"] != str(driver.pid)


@needs_mongo
def test_every_line_of_a_worker_carries_its_name(fault_server, procs):
    """The worker's own lines said ``[NAME]``; the store's retry warning and its
    "works again" line, written by the store's module, did not."""
    app = f"lines-{uuid.uuid4().hex[:6]}"
    url = app_url(fault_server, "hpo_lines", app)
    settings = StudySettings(
        objective="tests.e2e.objectives:quadratic",
        space={},
        space_fingerprint="t",
        max_evals=1,
    )
    with open_store(url) as store:
        store.create_study("q", settings.to_dict())
        store.insert_trials("q", [NewTrial({}, {"x": 0.0, "y": 0.0})])
    stepped = {"failCommands": ["findAndModify"], "appName": app, "errorCode": 189}
    with fail_point(fault_server, stepped, {"times": 4}):
        run = procs.run(
            WORKER, "--db", url, "--worker-id", "ops-7", "--max-trials", "1",
            "--idle-timeout", "60", timeout=120,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = log_lines(run.stderr)
    unnamed = [m[0] for m in lines if not m["msg"].startswith("[ops-7] ")]
    assert not unnamed, run.stderr
    said = [m["msg"] for m in lines]
    assert any("claiming a trial failed, retrying in " in m for m in said), said
    assert any(
        "works again" in m and "(first through: claim trials)" in m for m in said
    ), said


@needs_mongo
def test_local_workers_are_named_on_every_line(fault_server, procs):
    """``hpo-driver start --workers 2`` while its workers' claims answer
    PrimarySteppedDown: the workers' store retry warnings carry their names,
    ``[w1]``/``[w2]``, as their other lines do (the driver's own retries, on the
    same fail point, carry its pid only)."""
    app = f"local-{uuid.uuid4().hex[:6]}"
    url = app_url(fault_server, "hpo_lines", app)
    driver = procs.start(
        DRIVER, "start", "--db", url, "--study", "s", *RUN, "--max-evals", "4",
        "--workers", "2",
    )  # fmt: skip
    err = PipeLines(driver.stderr)
    wait_until(lambda: "started 2 local workers" in err.text, 120)
    stepped = {"failCommands": ["findAndModify"], "appName": app, "errorCode": 189}
    with fail_point(fault_server, stepped, "alwaysOn"):  # until a worker's claim failed
        wait_until(lambda: "claiming a trial failed, retrying in " in err.text, 120)
    driver.wait(timeout=180)
    text = err.finish()
    assert driver.returncode == 0, text
    claims = [m for m in log_lines(text) if "claiming a trial" in m["msg"]]
    assert claims, text
    unnamed = [m[0] for m in claims if not re.match(r"\[w[12]\] ", m["msg"])]
    assert not unnamed, text


def test_the_driver_help_says_what_v_does(procs):
    """It said "-vv for debug", but one -v already logs debug lines."""
    run = procs.run(DRIVER, "--help")
    assert run.returncode == 0, run.stderr
    assert "Log debug lines too" in " ".join(run.stdout.split()), run.stdout
    assert "-vv" not in run.stdout


def test_a_local_workers_error_line_carries_its_name(procs, tmp_path):
    """``hpo-driver start --workers 1`` whose worker cannot import the objective
    (the module refuses a process whose parent is a named worker, and imports in
    the driver): the worker's final ``Error:`` line said no name, where its log
    lines say ``[w1]``."""
    (tmp_path / "driver_only.py").write_text(
        "import os\n"
        "from hpo_service import hp\n"
        "with open(f'/proc/{os.getppid()}/cmdline', 'rb') as f:\n"
        "    if b'--worker-id' in f.read():\n"
        "        raise ImportError('a local worker cannot import this module')\n"
        "space = {'x': hp.uniform('x', -1.0, 1.0)}\n"
        "def objective(config):\n"
        "    return config['x'] ** 2\n"
    )
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = procs.run_in(
        tmp_path, DRIVER, "start", "--db", db, "--study", "s",
        "--objective", "driver_only:objective", "--space", "driver_only:space",
        "--max-evals", "2", "--workers", "1", "--no-progress",
    )  # fmt: skip
    assert run.returncode != 0, run.stderr
    errors = [line for line in run.stderr.splitlines() if "Error: " in line]
    assert any(line.startswith("[w1] Error: ") for line in errors), run.stderr
    assert "a local worker cannot import this module" in run.stderr


def test_a_named_workers_error_line_carries_its_name(procs, tmp_path):
    """A click error (its study never found) of ``hpo-worker --worker-id ops-7``
    says ``[ops-7] Error:``; a worker without a name keeps ``Error:``."""
    db = f"sqlite:///{tmp_path / 'none.sqlite'}"
    common = ["--db", db, "--study", "s", "--idle-timeout", "0.2"]
    named = procs.run(WORKER, *common, "--worker-id", "ops-7")
    assert named.returncode == 1, named.stderr
    last = named.stderr.splitlines()[-1]
    assert last.startswith("[ops-7] Error: study 's' was never found"), last
    plain = procs.run(WORKER, *common)
    assert plain.returncode == 1, plain.stderr
    assert plain.stderr.splitlines()[-1].startswith("Error: study 's'"), plain.stderr


# the command line `hpo-driver start --workers K` gives its worker w1 (see
# hpo_service/driver/_local_workers.py), the store URL coming through HPO_DB
LOCAL_WORKER = ["--study", "s", "--idle-timeout", "60", "--quiet"]
NAME = "<--worker-id w1>"  # where the name goes; left out for a standalone worker


@pytest.mark.parametrize(
    ("args", "db", "said"),
    [
        (["--max-trials", "0", NAME], None, "Invalid value for '--max-trials'"),
        (["--bogus", NAME], None, "No such option '--bogus'"),
        ([NAME, "--objective"], None, "Option '--objective' requires an argument"),
        ([NAME], "redis://x", "Invalid value for '--db'"),
    ],
)
def test_every_line_of_a_named_workers_usage_error_carries_its_name(
    procs, tmp_path, args, db, said
):
    """A usage error (a bad value, an unknown option, a missing argument, a bad
    HPO_DB) in a local worker's command line: click's lines did not name the
    worker (only errors after parsing did, and then the ``Error:`` line alone), so
    on the driver's terminal they could not be told apart. A standalone worker's
    usage error prints as before."""
    procs.env["HPO_DB"] = db or f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    named = procs.run(WORKER, *LOCAL_WORKER, *_with_name(args, ["--worker-id", "w1"]))
    assert named.returncode == 2, named.stderr
    lines = [line for line in named.stderr.splitlines() if line]
    assert all(line.startswith("[w1] ") for line in lines), named.stderr
    assert f"[w1] Error: {said}" in named.stderr, named.stderr
    plain = procs.run(WORKER, *LOCAL_WORKER, *_with_name(args, []))
    assert plain.returncode == 2, plain.stderr
    assert plain.stderr == named.stderr.replace("[w1] ", ""), plain.stderr
    assert f"\nError: {said}" in f"\n{plain.stderr}", plain.stderr


def _with_name(args: list[str], name: list[str]) -> list[str]:
    """``args`` with ``name`` (the ``--worker-id`` option, or nothing) for NAME."""
    return [part for arg in args for part in (name if arg == NAME else [arg])]
