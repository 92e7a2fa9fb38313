"""hyperopt's MongoDB tutorial, run with only the imports changed, over real pymongo.

``MongoTrials("mongo://host:port/db/jobs", exp_key=...)`` drives the study; an
``hpo-worker`` process started with hyperopt-mongo-worker's options runs the trials.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hpo_service import MongoTrials, StoreTrials, fmin, hp, tpe, trials_from_docs
from hpo_service.mongoexp import MongoTrials as FromModulePath

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def hyperopt_db(mongo_url: str) -> Iterator[tuple[str, str]]:
    """``(host:port, database)`` of a fresh database on the test server."""
    import pymongo

    host = urlsplit(mongo_url).netloc
    database = f"foo_db_{uuid.uuid4().hex[:8]}"
    yield host, database
    with pymongo.MongoClient(mongo_url) as client:
        client.drop_database(database)


@pytest.fixture
def worker_process() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def test_hyperopts_mongodb_tutorial_runs_unchanged(hyperopt_db, worker_process):
    host, database = hyperopt_db
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HPO_DB", None)
    worker_process.append(
        subprocess.Popen(
            [
                *(sys.executable, "-m", "hpo_service.worker"),
                f"--mongo={host}/{database}",
                *("--exp-key", "exp1", "--poll-interval=0.1", "--reserve-timeout=60"),
                "--max-jobs=10",
                "--allow-module=math",  # math.sin: workers refuse the stdlib unasked
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    )
    assert MongoTrials is FromModulePath
    trials = MongoTrials(f"mongo://{host}/{database}/jobs", exp_key="exp1")
    space = hp.uniform("x", -2, 2)
    best = fmin(
        math.sin, space, trials=trials, algo=tpe.suggest, max_evals=10, verbose=False
    )
    assert len(trials) == 10
    assert trials.exp_key == "exp1" and trials.study == "exp1"
    assert {doc["exp_key"] for doc in trials.trials} == {"exp1"}  # as hyperopt's
    assert math.sin(best["x"]) == min(trials.losses())
    code = worker_process[0].wait(timeout=60)  # --max-jobs=10: it exits
    assert code == 0, worker_process[0].stderr.read()

    # "MongoTrials is a persistent object": a second run returns at once.
    again = fmin(math.sin, space, trials=trials, algo=tpe.suggest, max_evals=10)
    assert again == best and len(trials) == 10
    # Another process can analyse the results without calling fmin.
    reader = MongoTrials(f"mongo://{host}/{database}/jobs", exp_key="exp1")
    assert sorted(reader.losses()) == sorted(trials.losses())
    assert reader.best_trial["result"]["loss"] == math.sin(best["x"])


def test_an_exp_key_worker_serves_later_fmin_calls_until_its_reserve_timeout(
    hyperopt_db, worker_process
):
    """As hyperopt's worker: one worker started with --exp-key serves two fmin calls
    on the same exp_key (it does not exit when the first study run finishes), then
    exits after --reserve-timeout seconds without a trial."""
    host, database = hyperopt_db
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HPO_DB", None)
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "hpo_service.worker"),
            f"--mongo={host}/{database}",
            *("--exp-key", "exp2", "--poll-interval=0.1", "--reserve-timeout=8"),
            "--allow-module=math",
        ],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    worker_process.append(worker)
    trials = MongoTrials(f"mongo://{host}/{database}/jobs", exp_key="exp2")
    space = hp.uniform("x", -2, 2)
    fmin(math.sin, space, trials=trials, algo=tpe.suggest, max_evals=4, verbose=False)
    assert len(trials) == 4
    assert worker.poll() is None  # still serving exp2
    fmin(math.sin, space, trials=trials, algo=tpe.suggest, max_evals=8, verbose=False)
    assert len(trials) == 8
    assert {t["owner"] for t in trials.trials} == {trials.trials[0]["owner"]}
    code = worker.wait(timeout=120)  # idle for --reserve-timeout=8 s: it exits
    assert code == 0
    assert "waiting for more of its trials" in worker.stderr.read()


def test_mongotrials_without_exp_key_names_the_experiments_it_does_not_read(
    hyperopt_db,
):
    """hyperopt's MongoTrials(url) reads every experiment of the database; here it is
    the study "default": a database without one but with others says which."""
    import warnings

    from hpo_service.store import open_store

    host, database = hyperopt_db
    url = f"mongo://{host}/{database}/jobs"
    with open_store(url) as store:
        for name in ("exp1", "exp2"):
            store.create_study(name, {"max_evals": 3})
    with pytest.warns(UserWarning, match=r"'exp1', 'exp2'.*exp_key='exp1'"):
        everything = MongoTrials(url)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = MongoTrials(url, exp_key="exp1")
    for trials in (everything, one):
        assert len(trials) == 0
        trials.close()


def test_the_command_line_takes_hyperopts_mongo_urls(hyperopt_db):
    """Every place that takes a store URL takes ``mongo://host:port/db[/jobs]``."""
    import json

    host, database = hyperopt_db
    trials = MongoTrials(f"mongo://{host}/{database}/jobs", exp_key="cli", workers=1)
    fmin(_square, hp.uniform("x", -2, 2), trials=trials, max_evals=3, verbose=False)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HPO_DB", None)
    for url in (f"mongo://{host}/{database}/jobs", f"mongo://{host}/{database}"):
        out = subprocess.run(
            [sys.executable, "-m", "hpo_service.driver", "trials", "--db", url,
             "--study", "cli", "--format", "json"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert len(json.loads(out.stdout)) == 3


def _square(config):
    return config**2


def test_a_driver_without_workers_names_a_hyperopt_worker_command_that_works(
    hyperopt_db, worker_process, monkeypatch, caplog
):
    """The "waiting for workers" hint of a MongoTrials study is hyperopt's worker
    command, in backticks, and pasting it (into a shell) serves the study."""
    import logging
    import shlex
    import threading

    from hpo_service.driver import _store_trials

    quick = functools.partial(_store_trials.DriverOptions, idle_warning=0.2)
    monkeypatch.setattr(_store_trials, "DriverOptions", quick)
    host, database = hyperopt_db
    trials = MongoTrials(f"mongo://{host}/{database}/jobs", exp_key="exp 3")
    space = hp.uniform("x", -2, 2)
    run = threading.Thread(
        target=fmin, args=(_square, space), daemon=True,
        kwargs={"trials": trials, "max_evals": 3, "show_progressbar": False},
    )  # fmt: skip
    with caplog.at_level(logging.WARNING):
        run.start()
        hint = _wait_for_log(caplog, "waiting for workers")
        expected = f"`hpo-worker --mongo={host}/{database} --exp-key='exp 3'`"
        assert f"start one with {expected}, or pass MongoTrials(" in hint, hint
        command = shlex.split(hint.split("`")[1])
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("HPO_DB", None)
        worker = subprocess.Popen(
            [sys.executable, "-m", "hpo_service.worker", *command[1:],
             "--max-jobs=3", "--poll-interval=0.1"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )  # fmt: skip
        worker_process.append(worker)
        run.join(timeout=120)
    assert not run.is_alive(), "the pasted worker command did not serve the study"
    assert len(trials.trials) == 3 and min(trials.losses()) >= 0
    assert worker_process[0].wait(timeout=60) == 0


def _always_fails(config):
    raise RuntimeError("CUDA out of memory")


def test_waiting_for_workers_after_errors_in_a_row_says_why_they_stopped(
    hyperopt_db, monkeypatch, caplog
):
    """Workers in hyperopt's form stop after 4 errors in a row (as hyperopt's); the
    driver then said only "no worker has taken one ... start one with", as if none
    had run. It names the errors now, and the command that lists them works."""
    import logging
    import shlex

    from hpo_service.driver import _store_trials
    from hpo_service.exceptions import AllTrialsFailed

    host, database = hyperopt_db
    url = f"mongo://{host}/{database}/jobs"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HPO_DB", None)
    space = {"x": hp.uniform("x", -2, 2)}
    trials = MongoTrials(url, exp_key="broken")
    worker = subprocess.Popen(
        [sys.executable, "-m", "hpo_service.worker", f"--mongo={host}/{database}",
         "--poll-interval=0.05", "--reserve-timeout=60"],
        cwd=REPO, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        with pytest.raises(AllTrialsFailed):
            fmin(_always_fails, space, trials=trials, max_evals=4, verbose=False)
        _, err = worker.communicate(timeout=120)  # 4 errors in a row: it stops
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 1 and "4 in a row" in err, err
    quick = functools.partial(_store_trials.DriverOptions, idle_warning=0.2)
    monkeypatch.setattr(_store_trials, "DriverOptions", quick)
    again = MongoTrials(url, exp_key="broken")
    raised = []

    def resume():
        try:
            fmin(_always_fails, space, trials=again, max_evals=8, verbose=False)
        except AllTrialsFailed as e:
            raised.append(e)

    # the first run's own idle warning (its worker slower than 10 s to start on a
    # loaded machine) is not the resumed run's: only the resume's lines count
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run = threading.Thread(target=resume, daemon=True)
        run.start()  # resumed: its last 4 finished trials ended in error
        line = _wait_for_log(caplog, "waiting for workers")
    assert (
        ". The last 4 finished trials ended in error (the last: RuntimeError: CUDA "
        "out of memory); workers stop after such errors in a row"
    ) in line, line
    command = shlex.split(line.rsplit("`", 2)[1])
    assert command[:2] == ["hpo-driver", "trials"], line
    listed = subprocess.run(
        [sys.executable, "-m", "hpo_service.driver", *command[1:], "--format", "csv"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 1 + 4  # the header and the 4 errors
    # A worker ends the resumed run (its queued trials fail as well).
    worker = subprocess.run(
        [sys.executable, "-m", "hpo_service.worker", f"--mongo={host}/{database}",
         "--exp-key=broken", "--poll-interval=0.05", "--max-jobs=4",
         "--max-consecutive-failures=10"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    run.join(timeout=120)
    assert not run.is_alive(), worker.stderr
    assert len(raised) == 1  # all 8 failed: no best trial, as in hyperopt
    trials.close()
    again.close()


def _wait_for_log(caplog: pytest.LogCaptureFixture, text: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for record in caplog.records:
            if text in record.getMessage():
                return record.getMessage()
        time.sleep(0.05)
    raise AssertionError(f"no log line with {text!r}")


def test_view_reads_another_experiment_and_handle_says_what_replaces_it(hyperopt_db):
    host, database = hyperopt_db
    url = f"mongo://{host}/{database}/jobs"
    for key, evals in (("va", 2), ("vb", 3)):
        trials = MongoTrials(url, exp_key=key, workers=1)
        fmin(_square, hp.uniform("x", -2, 2), trials=trials, max_evals=evals,
             verbose=False)  # fmt: skip
    va = MongoTrials(url, exp_key="va")
    other = va.view(exp_key="vb")
    assert isinstance(other, MongoTrials) and other.exp_key == "vb"
    assert len(other) == 3 and {d["exp_key"] for d in other.trials} == {"vb"}
    assert len(va.view()) == 2 and va.view().exp_key == "va"
    with pytest.raises(AttributeError, match=r"^MongoTrials has no `handle` \("):
        va.handle  # noqa: B018
    with pytest.raises(AttributeError, match="'MongoTrials' object has no attribute"):
        va.no_such_attribute  # noqa: B018
    assert not hasattr(va, "handle")
    with pytest.raises(NotImplementedError, match=r"^MongoTrials does not delete"):
        va.delete_all()


def test_pickling_a_store_s_trials_says_how_to_reopen_or_copy_them(
    hyperopt_db, tmp_path
):
    # A script ported from Trials() that still ends with pickle.dump(trials, f):
    # the trials live in the store (hyperopt's MongoTrials cannot be pickled
    # either), so the error names the study to reopen and the copy to pickle.
    host, database = hyperopt_db
    mongo = MongoTrials(f"mongo://{host}/{database}/jobs", exp_key="pk", workers=1)
    fmin(_square, hp.uniform("x", -2, 2), trials=mongo, max_evals=3, verbose=False)
    sqlite = StoreTrials(f"sqlite:///{tmp_path / 'hpo.sqlite'}", study="pk", workers=1)
    fmin(_square, hp.uniform("x", -2, 2), trials=sqlite, max_evals=2, verbose=False)
    for trials, name in ((mongo, "MongoTrials"), (sqlite, "StoreTrials")):
        with pytest.raises(TypeError, match=rf"^`{name}` must not be pickled: .*'pk'"):
            pickle.dumps(trials)
        copy = pickle.loads(pickle.dumps(trials_from_docs(trials._dynamic_trials)))
        assert copy.best_trial["tid"] == trials.best_trial["tid"]
        assert copy.losses() == trials.losses()
    mongo.close()
    sqlite.close()


def test_hyperopts_remaining_mongotrials_calls(hyperopt_db):
    """refresh_tids, new_trial_ids(last_id=...), _insert_trial_docs and
    delete_all(cond) as hyperopt's scripts call them; a finished doc (from
    source_trial_docs) is pointed at import_results."""
    host, database = hyperopt_db
    url = f"mongo://{host}/{database}/jobs"
    trials = MongoTrials(url, exp_key="calls", workers=1)
    fmin(_square, hp.uniform("x", -2, 2), trials=trials, max_evals=2, verbose=False)
    trials.refresh_tids(None)
    trials.refresh_tids([0])
    assert trials.tids == [0, 1]
    [tid] = trials.new_trial_ids(last_id=1)
    misc = {"tid": tid, "cmd": None, "idxs": {"x": [tid]}, "vals": {"x": [0.5]}}
    docs = trials.new_trial_docs([tid], [None], [{"status": "new"}], [misc])
    with pytest.warns(UserWarning, match="already finished its budget") as caught:
        assert trials._insert_trial_docs(docs) == [2]
    assert caught[0].filename == __file__  # points at the call
    assert trials.count_by_state_unsynced(arg=0) == 1
    source = trials.trials[0]
    copied = trials.source_trial_docs(
        [7], [None], [source["result"]],
        [{"idxs": {"x": [7]}, "vals": source["misc"]["vals"]}], [source],
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"come in with import_results\(path\)"):
        trials.insert_trial_docs(copied)
    with pytest.raises(NotImplementedError, match=r"^MongoTrials does not delete"):
        trials.delete_all(cond={"state": 2})
    trials.close()


def test_hyperopts_cmd_and_workdir_are_taken_in_its_order_and_said_unused(
    hyperopt_db,
):
    host, database = hyperopt_db
    url = f"mongo://{host}/{database}/jobs"
    default_cmd = ("domain_attachment", "FMinIter_Domain")
    with pytest.warns(UserWarning) as caught:
        # hyperopt's positional order: arg, exp_key, cmd, workdir, refresh
        trials = MongoTrials(url, "wd", default_cmd, "/scratch/wd", True)
        other = MongoTrials(url, exp_key="wd", cmd=("my", "domain"))
    trials.close()
    other.close()
    assert trials.exp_key == "wd"
    said = [w for w in caught if w.category is UserWarning]
    assert [str(w.message) for w in said] == [
        "MongoTrials(workdir='/scratch/wd') is not used: the workers choose where "
        "trials run; start them with `hpo-worker --workdir /scratch/wd` (each trial "
        "then runs in WORKDIR/STUDY/TID)",
        "MongoTrials(cmd=('my', 'domain')) is not used: workers import the objective "
        "by reference (module:function), never from the database",
    ]
    assert {w.filename for w in said} == {__file__}
