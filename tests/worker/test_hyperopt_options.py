"""`hpo-worker` takes hyperopt-mongo-worker's options, with the same meanings."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hpo_service.store import TrialState, open_store
from hpo_service.worker.cli import main
from tests.helpers.mongo_wire import with_database

from .conftest import OBJ, REPO, lines, make_study, wait_until


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_exp_key_max_jobs_and_reserve_timeout_are_hyperopts_names(store, db_url):
    make_study(store, "exp1", f"{OBJ}:quadratic", [{"x": float(x)} for x in range(5)])
    make_study(store, "other", f"{OBJ}:quadratic", [{"x": 1.0}])
    code, out = _run(
        "--db", db_url, "--exp-key", "exp1", "--max-jobs", "3",
        "--reserve-timeout", "0.5", "--poll-interval", "0.05",
    )  # fmt: skip
    assert code == 0, out
    counts = store.count_by_state("exp1")
    assert counts[TrialState.DONE] == 3 and counts[TrialState.NEW] == 2
    assert store.count_by_state("other")[TrialState.NEW] == 1  # only exp1's trials
    code, out = _run("--db", db_url, "--exp-key", "exp1", "--reserve-timeout", "0.3")
    assert code == 0, out  # no --max-jobs: runs the rest, then times out idle
    assert store.count_by_state("exp1")[TrialState.DONE] == 5


def test_max_consecutive_failures_stops_a_worker_that_only_fails(store, db_url):
    configs = [{"call": "quadratic", "x": 1.0}] + [{"call": "raises"}] * 6
    make_study(store, "bad", f"{OBJ}:dispatch", configs)
    code, out = _run(
        "--db", db_url, "--max-consecutive-failures", "3", "--reserve-timeout", "1",
    )  # fmt: skip
    assert code == 1
    assert "--max-consecutive-failures" in out and "3 in a row" in out
    counts = store.count_by_state("bad")
    assert (counts[TrialState.DONE], counts[TrialState.ERROR]) == (1, 3)
    assert counts[TrialState.NEW] == 3  # left for a healthier worker


def test_an_exp_key_worker_stops_after_hyperopts_four_failures_in_a_row(store, db_url):
    """hyperopt-mongo-worker's --max-consecutive-failures defaults to 4: a broken
    objective stops its workers. An --exp-key worker keeps that default; a --study
    worker keeps hpo-worker's (never)."""
    configs = [{"call": "quadratic", "x": 1.0}] + [{"call": "raises"}] * 6
    make_study(store, "bad", f"{OBJ}:dispatch", configs)
    code, out = _run("--db", db_url, "--exp-key", "bad", "--reserve-timeout", "1")
    assert code == 1
    assert "--max-consecutive-failures" in out and "4 in a row" in out
    counts = store.count_by_state("bad")
    assert (counts[TrialState.DONE], counts[TrialState.ERROR]) == (1, 4)
    code, out = _run("--db", db_url, "--study", "bad", "--idle-timeout", "1")
    assert code == 0, out  # the last 2 fail too: it ran them and went on
    assert store.count_by_state("bad")[TrialState.ERROR] == 6


def test_workdir_gives_each_trial_its_own_directory(store, db_url, tmp_path):
    tids = make_study(store, "w", f"{OBJ}:works_in_cwd", [{"x": 1}, {"x": 2}])
    root = tmp_path / "scratch"
    before = os.getcwd()
    code, out = _run("--db", db_url, "--workdir", str(root), "--reserve-timeout", "0.5")
    assert code == 0, out
    assert os.getcwd() == before
    for tid, x in zip(tids, (1, 2), strict=True):
        trial = store.get_trial("w", tid)
        expected = root / "w" / str(tid)
        assert Path(trial.result["cwd"]) == expected
        assert (expected / "output.txt").read_text() == str(x)


def test_workdir_keeps_every_study_in_a_directory_of_its_own(store, db_url, tmp_path):
    """A study named ".." ran its trials in WORKDIR/../TID (outside the workdir),
    "." in WORKDIR/TID, and "a b" shared "a_b"'s directories."""
    names = ["..", ".", "a b", "a_b"]
    for name in names:
        make_study(store, name, f"{OBJ}:works_in_cwd", [{"x": 1}])
    root = tmp_path / "scratch"
    code, out = _run("--db", db_url, "--workdir", str(root), "--reserve-timeout", "0.5")
    assert code == 0, out
    dirs = [Path(store.get_trial(name, 0).result["cwd"]) for name in names]
    assert len(set(dirs)) == len(names), dirs
    for found in dirs:
        assert found.parent.parent == root and found.name == "0", found


def test_last_job_timeout_stops_reserving(store, db_url):
    make_study(store, "slow", f"{OBJ}:quadratic", [{"x": 1.0}] * 3)
    code, out = _run("--db", db_url, "--last-job-timeout", "0")
    assert code == 0, out
    assert store.count_by_state("slow")[TrialState.NEW] == 3


def test_mongo_takes_hyperopts_host_port_db_form(monkeypatch):
    opened = []

    def fake_open(url, **options):
        opened.append(url)
        raise SystemExit(0)

    monkeypatch.setattr("hpo_service.store._cli_option.open_store_for_cli", fake_open)
    code, _ = _run("--mongo", "user:pw@db.example:1234/foo_db")
    assert code == 0
    assert opened == ["mongodb://user:pw@db.example:1234/foo_db"]


@pytest.mark.parametrize(
    ("args", "flags"),
    [
        (["--study", "a", "--exp-key", "b"], "`--exp-key` and `--study`"),
        (["--max-trials", "2", "--max-jobs", "3"], "`--max-jobs` and `--max-trials`"),
        (["--db", "sqlite:///x.db", "--mongo", "h/db"], "`--mongo` and `--db`"),
    ],
)
def test_both_names_of_one_setting_is_a_usage_error(args, flags):
    code, out = _run(*args)
    assert code == 2
    assert flags in out


def test_a_mongo_value_without_a_database_is_a_bad_parameter():
    code, out = _run("--mongo", "db.example:1234")
    assert code == 2
    assert "'--mongo'" in out and "database" in out


@pytest.mark.parametrize(
    ("args", "idle_timeout", "serve_finished"),
    [
        (["--exp-key", "e"], 120.0, True),  # hyperopt's default --reserve-timeout
        (["--exp-key", "e", "--reserve-timeout", "5"], 5.0, True),
        (["--exp-key", "e", "--reserve-timeout", "0"], None, True),  # no limit
        (["--exp-key", "e", "--reserve-timeout=inf"], None, True),  # as in hyperopt
        (["--exp-key", "e", "--idle-timeout", "7"], 7.0, True),
        (["--study", "e"], None, False),  # hpo-worker's own rule: stop when finished
        (["--reserve-timeout", "0"], None, False),
    ],
)
def test_an_exp_key_worker_waits_as_hyperopts_does(
    monkeypatch, db_url, store, args, idle_timeout, serve_finished
):
    seen = {}

    def fake_run_worker(store, **kwargs):
        seen.update(kwargs)
        raise SystemExit(0)

    monkeypatch.setattr("hpo_service.worker.cli.run_worker", fake_run_worker)
    code, out = _run("--db", db_url, *args)
    assert code == 0, out
    assert seen["idle_timeout"] == idle_timeout
    assert seen["serve_finished"] is serve_finished


@pytest.mark.parametrize("flag", ["--reserve-timeout", "--idle-timeout"])
def test_an_exp_key_worker_outlives_its_finished_study(store, db_url, caplog, flag):
    """Both its lines name the limit by the flag given: the waiting line said
    "(--reserve-timeout)" after ``--idle-timeout 1`` too."""
    make_study(store, "exp1", f"{OBJ}:quadratic", [{"x": 1.0}])
    with caplog.at_level(logging.INFO):
        code, out = _run("--db", db_url, "--exp-key", "exp1", flag, "1",
                         "--poll-interval", "0.05")  # fmt: skip
    assert code == 0, out
    assert store.count_by_state("exp1")[TrialState.DONE] == 1
    assert (
        "study exp1 finished; waiting for more of its trials (--exp-key) for up to "
        f"1 s without one ({flag})"
    ) in caplog.text
    assert f"worker stopped: no trial to claim for 1 s ({flag});" in caplog.text


def _without_hpo_db() -> dict[str, str]:
    """This process's environment without HPO_DB (so no store is named by it)."""
    return {k: v for k, v in os.environ.items() if k != "HPO_DB"}


def _worker_process(cwd: Path, env: dict[str, str], *args: str):
    env = {**env, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "hpo_service.worker", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_an_exp_key_worker_without_a_store_uses_hyperopts_default_mongo(tmp_path):
    """hyperopt-mongo-worker's --mongo defaults to localhost/hyperopt; an --exp-key
    worker given no --mongo, --db or HPO_DB looked for ./hpo.sqlite instead."""
    with socket.socket() as probe:
        if probe.connect_ex(("localhost", 27017)) == 0:
            pytest.skip("a server listens on localhost:27017")
    env = _without_hpo_db()
    run = _worker_process(tmp_path, env, "--exp-key", "e", "--wait-for-store", "0")
    assert run.returncode == 1, run.stderr
    assert "mongodb://localhost/hyperopt" in run.stderr
    assert "tried localhost:27017" in run.stderr
    # A store named by HPO_DB (or --db) still wins over hyperopt's default.
    env["HPO_DB"] = f"sqlite:///{tmp_path / 'given.sqlite'}"
    run = _worker_process(tmp_path, env, "--exp-key", "e", "--reserve-timeout", "0.5")
    assert run.returncode == 1, run.stderr  # the experiment never existed
    assert "study 'e' was never found: no SQLite database at" in run.stderr
    assert "given.sqlite" in run.stderr
    helped = _worker_process(tmp_path, env, "--help")
    text = " ".join(helped.stdout.split())  # help lines wrap
    assert "HPO_DB: localhost/hyperopt, hyperopt's default]" in text


def test_hyperopts_infinite_timeouts_mean_no_limit(tmp_path, store, db_url):
    """hyperopt-mongo-worker takes ``--reserve-timeout=inf`` (scripts use it to wait
    for ever) and ``--last-job-timeout=inf``; they were refused as not finite."""
    make_study(store, "exp1", f"{OBJ}:quadratic", [{"x": 1.0}])
    run = _worker_process(
        tmp_path, dict(os.environ), "--db", db_url, "--exp-key", "exp1",
        "--reserve-timeout=inf", "--last-job-timeout=inf", "--max-jobs=1",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert store.count_by_state("exp1")[TrialState.DONE] == 1


def _mongo_worker(mongo: str, exp_key: str, exit_code: int, *args: str):
    """A worker given ``--mongo=MONGO --exp-key EXP_KEY ARGS`` (no HPO_DB) that
    exits with ``exit_code``: the finished run."""
    run = _worker_process(
        REPO, _without_hpo_db(), f"--mongo={mongo}", "--exp-key", exp_key, *args
    )
    assert run.returncode == exit_code, run.stderr
    return run


@pytest.mark.parametrize(
    ("mongo", "reason"),
    [
        ("user:pa@ss@127.0.0.1:1/db", "Username and password must be escaped"),
        ("127.0.0.1:99999/db", "Port must be an integer between 0 and 65535"),
    ],
)
def test_a_mongo_value_pymongo_refuses_names_mongo_as_typed(mongo, reason):
    run = _mongo_worker(mongo, "x", 2, "--wait-for-store", "0")
    assert (
        "Error: Invalid value for '--mongo': `--mongo` must be a valid MongoDB "
        f"address: {reason}"
    ) in run.stderr
    assert "'--db'" not in run.stderr and "pa@ss" not in run.stderr


def test_an_exp_key_that_never_existed_names_mongo_as_typed(mongo_url):
    from urllib.parse import urlsplit

    host = urlsplit(mongo_url).netloc
    run = _mongo_worker(f"{host}/never_db", "nope", 1, "--reserve-timeout", "0.5")
    assert (
        "Error: study 'nope' was never found in MongoDB database 'never_db' at "
        f"mongodb://{host}/never_db (it holds no study); pass --mongo (or set "
        "HPO_DB) to use another store"
    ) in run.stderr


def _wire_study(mongo_url: str, name: str, configs: list[Any], objective: str):
    """A study ``name`` in a database of its own on the wire server; its ``--mongo``
    value (HOST:PORT/DB) and a store open on it (close it)."""
    from urllib.parse import urlsplit

    database = f"hyperopt_form_{uuid.uuid4().hex[:12]}"
    store = open_store(with_database(mongo_url, database))
    make_study(store, name, objective, configs)
    return f"{urlsplit(mongo_url).netloc}/{database}", store


def test_a_mongo_worker_without_exp_key_keeps_hyperopts_failure_limit(mongo_url):
    """hyperopt's docs start workers as ``hyperopt-mongo-worker --mongo=HOST/DB
    --poll-interval=0.1`` (no ``--exp-key``): such a worker stops after 4 trials in
    a row end in error, and after 120 s without a trial. hpo-worker kept hyperopt's
    defaults for ``--exp-key`` only, so this form ran every broken trial and then
    waited for ever."""
    configs = [{"call": "quadratic", "x": 1.0}] + [{"call": "raises"}] * 6
    mongo, store = _wire_study(mongo_url, "bad", configs, f"{OBJ}:dispatch")
    try:
        run = _worker_process(
            REPO, _without_hpo_db(), f"--mongo={mongo}", "--poll-interval=0.05",
            "--idle-timeout", "60",
        )  # fmt: skip
        assert run.returncode == 1, run.stderr
        assert "4 in a row (--max-consecutive-failures)" in run.stderr
        # A worker of any study names the study its errors came from.
        assert "--study bad --state error --format json`" in run.stderr, run.stderr
        assert "NAME" not in run.stderr
        counts = store.count_by_state("bad")
        assert (counts[TrialState.DONE], counts[TrialState.ERROR]) == (1, 4)
        assert counts[TrialState.NEW] == 2  # left for a healthier worker
    finally:
        store.close()


def test_a_mongo_worker_without_exp_key_waits_hyperopts_reserve_timeout(
    monkeypatch, mongo_url
):
    seen = {}

    def fake_run_worker(store, **kwargs):
        seen.update(kwargs)
        raise SystemExit(0)

    monkeypatch.setattr("hpo_service.worker.cli.run_worker", fake_run_worker)
    mongo, store = _wire_study(mongo_url, "s", [{"x": 1.0}], f"{OBJ}:quadratic")
    store.close()
    code, out = _run(f"--mongo={mongo}")
    assert code == 0, out
    assert seen["idle_timeout"] == 120.0 and seen["serve_finished"] is False
    code, out = _run(f"--mongo={mongo}", "--reserve-timeout", "0")
    assert code == 0, out
    assert seen["idle_timeout"] is None  # hyperopt's "no limit"


def test_no_subprocesses_is_accepted_and_max_jobs_in_db_is_refused_saying_why(
    tmp_path, store, db_url
):
    """Scripts pass hyperopt-mongo-worker's ``--no-subprocesses`` to keep a loaded
    data set in memory (our objective's process is reused across trials anyway);
    both options were "No such option", the second with "Did you mean
    '--max-jobs'?", which means something else."""
    make_study(store, "exp1", f"{OBJ}:quadratic", [{"x": 1.0}])
    run = _worker_process(
        tmp_path, dict(os.environ), "--db", db_url, "--exp-key", "exp1",
        "--no-subprocesses", "--max-jobs=1",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert store.count_by_state("exp1")[TrialState.DONE] == 1
    run = _worker_process(tmp_path, dict(os.environ), "--max-jobs-in-db", "10")
    assert run.returncode == 2
    assert "`--max-jobs-in-db` (hyperopt-mongo-worker's) is not supported" in run.stderr
    assert "Did you mean" not in run.stderr


def test_sigusr1_finishes_the_running_trial_then_stops_as_hyperopts_worker(
    tmp_path, store, db_url
):
    """hyperopt-mongo-worker takes SIGUSR1 as "finish the current job, then quit";
    SIGUSR1's default action killed hpo-worker mid-trial. However often it comes,
    it never aborts the trial."""
    log, gate = tmp_path / "log", tmp_path / "gate"
    config = {"seconds": 120, "log": str(log), "gate": str(gate)}
    make_study(store, "s", f"{OBJ}:sleeps", [config, {"seconds": 0}])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    stderr = tmp_path / "stderr"
    with stderr.open("w") as out:
        command = [sys.executable, "-m", "hpo_service.worker", "--db", db_url]
        worker = subprocess.Popen(
            [*command, "--study", "s"], cwd=tmp_path, env=env, stderr=out
        )
    try:
        wait_until(lambda: "start" in "".join(lines(log)), 120)
        worker.send_signal(signal.SIGUSR1)
        worker.send_signal(signal.SIGUSR1)
        wait_until(lambda: "warm stop" in stderr.read_text(), 60)
        gate.touch()  # the objective returns
        worker.wait(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    err = stderr.read_text()
    assert worker.returncode == 0, err
    assert "warm stop: finishing the current trial" in err
    # a drain's log line must not tell the operator to send it again to abort
    assert "stop again to abort it" not in err
    assert "SIGUSR1 drains: sending it again changes nothing; SIGTERM aborts it" in err
    assert "worker stopped: a stop signal; 1 done" in err
    counts = store.count_by_state("s")
    assert (counts[TrialState.DONE], counts[TrialState.NEW]) == (1, 1)
