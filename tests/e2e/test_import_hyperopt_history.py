"""A hyperopt user's history into a new study, with real hpo-driver processes:
a hyperopt-made pickled ``Trials`` or a MongoTrials jobs collection (MongoDB-wire
server), ``import --create`` without a space, the read commands on it, the refusals
of what needs a space, and the space given later (checked against every trial)."""

from __future__ import annotations

import json
import pickle
import socket
import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from hpo_service.store import TrialState, open_store
from tests.conftest import mongo_lane
from tests.e2e.objectives import quadratic
from tests.insight._support import get, serving, start_dashboard, stop, wait_for

from .test_cli_errors import run_together
from .test_import_start_race import paused
from .test_study_processes import DRIVER

hyperopt = pytest.importorskip("hyperopt")

SPACE_REF = "tests.e2e.objectives:space"  # x, y uniform in [-5, 5], as below
OBJECTIVE_REF = "tests.e2e.objectives:quadratic"


def hyperopt_trials(seed: int, n: int = 6, exp_key: str | None = None) -> object:
    """A hyperopt ``Trials`` filled by hyperopt's own fmin: ``n`` random points of
    the space of ``SPACE_REF``, the second call raising (an error trial) by
    construction."""
    calls = []

    def objective(config):
        calls.append(config)
        if len(calls) == 2:
            raise ValueError("the second call fails")
        return quadratic(config)

    space = {"x": hyperopt.hp.uniform("x", -5, 5), "y": hyperopt.hp.uniform("y", -5, 5)}
    trials = hyperopt.Trials(exp_key=exp_key)
    hyperopt.fmin(objective, space, algo=hyperopt.rand.suggest, max_evals=n,
                  trials=trials, rstate=np.random.default_rng(seed),
                  catch_eval_exceptions=True, show_progressbar=False)  # fmt: skip
    return trials


def best_loss(trials: object) -> float:
    return min(loss for loss in trials.losses() if loss is not None)


def test_a_pickled_hyperopt_trials_becomes_a_study_that_gets_its_space_later(
    procs, tmp_path
):
    theirs = hyperopt_trials(seed=3, n=4)  # 3 done: the report skips fANOVA
    path = tmp_path / "trials.pkl"
    path.write_bytes(pickle.dumps(theirs))
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"  # no database yet: --create makes it
    study = ["--db", db, "--study", "old"]

    run = procs.run(DRIVER, "import", *study, "--create", str(path))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(
        "created study 'old' and imported 4 finished trials (3 done, 1 error)"
    ), run.stdout
    assert f"`hpo-driver start --db {db} --study old --space" in run.stderr

    # the read commands show it as any study; enqueue refuses, saying how to go on
    status, best, listed, report, enqueue = run_together(procs, [
        (DRIVER, "status", *study),
        (DRIVER, "best", *study, "--json"),
        (DRIVER, "trials", *study, "--format", "json"),
        (DRIVER, "report", *study, "--out", str(tmp_path / "r.html")),
        (DRIVER, "enqueue", *study, "--params", '{"x": 0, "y": 0}'),
    ])  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert "4 finished (imported; no space or budget yet)" in status.stdout
    assert best.returncode == 0, best.stderr
    record = json.loads(best.stdout)
    assert record["result"]["loss"] == pytest.approx(best_loss(theirs))
    assert record["config"] is None  # hyperopt keeps no config; none without a space
    assert [r["state"] for r in json.loads(listed.stdout)] == [
        "done", "error", "done", "done"]  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "r.html").stat().st_size > 0
    assert enqueue.returncode == 1
    assert "study 'old' has no search space yet" in enqueue.stderr
    assert "give --space:" in enqueue.stderr

    server, port, _ = start_dashboard("--db", db, "--study", "old")
    try:
        base = f"http://127.0.0.1:{port}/api/studies"
        wait_for(lambda: serving(server, base), what="dashboard up")
        assert len(get(f"{base}/old/changes?cursor=0")["rows"]) == 4
    finally:
        stop(server)

    start = procs.run(DRIVER, "start", *study, "--max-evals", "6")
    assert start.returncode == 2
    assert "study 'old' has no search space yet" in start.stderr
    assert "give --objective, --space:" in start.stderr
    assert f"`hpo-driver start --db {db} --study old --space" in start.stderr

    # a space the imported trials do not fit changes nothing
    other_space = "tests.e2e.objectives:curve_space"  # one label: level
    wrong = procs.run(DRIVER, "start", *study, "--space", other_space, "--objective",
                      OBJECTIVE_REF, "--max-evals", "6")  # fmt: skip
    assert wrong.returncode == 2
    fit = "every imported trial of study 'old' must fit the given space (`--space`)"
    assert f"{fit}, but got misfits=4" in wrong.stderr
    assert "trial 0 (trials.pkl#0)" in wrong.stderr
    with open_store(db) as store:
        assert store.get_study("old").settings["space"] is None

    # the right space: checked, then the study runs on from the imported history
    run = procs.run(DRIVER, "start", *study, "--space", SPACE_REF, "--objective",
                    OBJECTIVE_REF, "--max-evals", "6", "--workers", "1",
                    "--no-progress")  # fmt: skip
    assert run.returncode == 0, run.stderr
    with open_store(db) as store:
        trials = store.get_trials("old")
        settings = store.get_study("old").settings
    assert settings["objective"] == OBJECTIVE_REF and settings["max_evals"] == 6
    assert [t.state for t in trials] == [TrialState.DONE, TrialState.ERROR] + [
        TrialState.DONE] * 4  # fmt: skip
    assert not settings["configs_pending"]
    imported = [
        {label: values[0] for label, values in doc["misc"]["vals"].items()}
        for doc in theirs._dynamic_trials
    ]
    assert [t.config for t in trials[:4]] == imported  # given by the space: x, y
    for trial in trials:  # imported or run here: each with its config
        assert trial.config == trial.params
        if trial.state is TrialState.DONE:
            assert trial.result["loss"] == pytest.approx(quadratic(trial.config))

    # what read the imported trials' config before shows it now
    best, listed = run_together(procs, [
        (DRIVER, "best", *study, "--json"),
        (DRIVER, "trials", *study, "--format", "json"),
    ])  # fmt: skip
    assert best.returncode == 0 and listed.returncode == 0, best.stderr + listed.stderr
    record = json.loads(best.stdout)
    assert record["config"] == record["params"] is not None
    assert [r["config"] for r in json.loads(listed.stdout)][:4] == imported


def test_a_start_killed_while_giving_imported_trials_their_config_is_resumed(
    procs, tmp_path
):
    """The start that gives an imported study its space writes the imported
    trials' configs a window of 500 tids at a time; SIGKILLed after the first
    window, it leaves the rest without config and the study marked, and the next
    start writes the rest before it drives the study."""
    theirs = hyperopt_trials(seed=6, n=700)  # two windows
    path = tmp_path / "trials.pkl"
    path.write_bytes(pickle.dumps(theirs))
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    study = ["--db", db, "--study", "old"]
    run = procs.run(DRIVER, "import", *study, "--create", str(path))
    assert run.returncode == 0, run.stderr
    start = ["start", *study, "--space", SPACE_REF, "--objective", OBJECTIVE_REF,
             "--max-evals", "702", "--workers", "1", "--no-progress"]  # fmt: skip

    marker = tmp_path / "paused"
    killed, err = paused(procs, "configs-filling", marker, *start)
    killed.kill()  # SIGKILL: no cleanup of any kind
    assert killed.wait(timeout=60) == -9, err.finish()
    with open_store(db) as store:
        settings = store.get_study("old").settings
        configs = [t.config for t in store.get_trials("old")]
    assert settings["space"] is not None and settings["configs_pending"]
    assert len(configs) == 700
    assert None not in configs[:500] and set(map(type, configs[500:])) == {type(None)}

    run = procs.run(DRIVER, *start)
    assert run.returncode == 0, run.stderr
    with open_store(db) as store:
        settings = store.get_study("old").settings
        trials = store.get_trials("old")
    assert not settings["configs_pending"]
    assert len(trials) == 702
    assert all(t.config == t.params for t in trials)
    assert trials[600].config == {
        label: values[0] for label, values in theirs._dynamic_trials[600]["misc"][
            "vals"].items()}  # fmt: skip


@pytest.fixture
def jobs_db(mongo_url: str) -> Iterator[tuple[str, str]]:
    """``(database, mongodb:// URL of it)`` on the session's MongoDB-wire server,
    dropped after."""
    import pymongo

    from tests.helpers.mongo_wire import wait_writable, with_database

    name = f"hpo_hyperopt_{uuid.uuid4().hex[:10]}"
    yield name, with_database(mongo_url, name)
    wait_writable(mongo_url)
    with pymongo.MongoClient(mongo_url) as client:
        client.drop_database(name)


def as_mongo_trials(url: str) -> str:
    """hyperopt's ``mongo://host:port/db/jobs`` form of ``mongodb://host:port/db?o``."""
    head, _, query = url.partition("?")
    return f"mongo://{head.removeprefix('mongodb://')}/jobs?{query}"


def store_as_mongo_trials(url: str, trials: object) -> None:
    """Write hyperopt's trial dicts into ``jobs`` as MongoTrials and its worker
    keep them: SONified, with the exp_key, a failed call's error as ``error``.
    (hyperopt's MongoTrials writes with pymongo 3's ``insert``, which pymongo 4
    no longer has, so the documents are written here.)"""
    import pymongo
    from hyperopt.base import SONify

    with pymongo.MongoClient(url) as client:
        jobs = client.get_default_database()["jobs"]
        for doc in trials._dynamic_trials:
            doc = SONify(dict(doc))
            error = doc["misc"].pop("error", None)
            if error is not None:
                doc["error"] = list(error)
            jobs.insert_one(doc)


@pytest.mark.skipif(mongo_lane() is None, reason="no MongoDB-wire server")
def test_a_mongo_trials_experiment_imports_from_its_jobs_collection(procs, jobs_db):
    import pymongo

    _, url = jobs_db
    mine, other = hyperopt_trials(seed=4, exp_key="mine"), hyperopt_trials(
        seed=5, n=3, exp_key="other")  # fmt: skip
    store_as_mongo_trials(url, mine)
    store_as_mongo_trials(url, other)
    source = as_mongo_trials(url)
    study = ["--db", source, "--study", "mine"]  # hyperopt's URL as the store too

    mixed = procs.run(DRIVER, "import", *study, "--create", source)
    assert mixed.returncode == 1
    assert (
        "holds several, but got no --exp-key and experiments='mine', 'other'"
        in mixed.stderr
    )
    assert "--exp-key" in mixed.stderr

    run = procs.run(DRIVER, "import", *study, "--create", source, "--exp-key", "mine")
    assert run.returncode == 0, run.stderr
    assert "imported 6 finished trials (5 done, 1 error)" in run.stdout
    again = procs.run(DRIVER, "import", *study, "--create", source, "--exp-key", "mine")
    assert "imported 0 finished trials" in again.stdout
    assert "skipped 6 the study already holds" in again.stdout

    best = procs.run(DRIVER, "best", *study, "--json")
    assert best.returncode == 0, best.stderr
    assert json.loads(best.stdout)["result"]["loss"] == pytest.approx(best_loss(mine))
    with pymongo.MongoClient(url) as client:  # hyperopt's jobs: only read
        assert client.get_default_database()["jobs"].count_documents({}) == 9
    with open_store(url) as store:
        error = store.get_trials("mine", [TrialState.ERROR])[0].error
    assert error["message"] == "the second call fails"
    assert "ValueError" in error["type"]
    assert error["imported_from"].endswith("[mine]#1")

    # the space given later makes the imported trials' configs, on MongoDB too
    run = procs.run(DRIVER, "start", *study, "--space", SPACE_REF, "--objective",
                    OBJECTIVE_REF, "--max-evals", "7", "--workers", "1",
                    "--no-progress")  # fmt: skip
    assert run.returncode == 0, run.stderr
    with open_store(url) as store:
        trials = store.get_trials("mine")
        assert not store.get_study("mine").settings["configs_pending"]
    assert len(trials) == 7
    assert [t.config for t in trials[:6]] == [
        {label: values[0] for label, values in doc["misc"]["vals"].items()}
        for doc in mine._dynamic_trials
    ]
    assert all(t.config == t.params for t in trials)


def test_import_refuses_bad_input_before_creating_the_database(procs, tmp_path):
    db_path = tmp_path / "hpo.sqlite"
    db = f"sqlite:///{db_path}"
    text_param = tmp_path / "export.json"  # a param no space has: a string
    record = {"tid": 0, "state": "done", "params": {"x": "a"},
              "result": {"loss": 1.0, "status": "ok"}}  # fmt: skip
    text_param.write_text(json.dumps([record]))
    with socket.socket() as free:  # a port nobody listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    unreachable = f"mongo://127.0.0.1:{port}/db/jobs?serverSelectionTimeoutMS=300"
    queued_only = tmp_path / "queued.json"
    queued_only.write_text(json.dumps([{"tid": 0, "state": "new", "params": {"x": 1}}]))
    runs = run_together(procs, [
        (DRIVER, "import", "--db", db, "--study", "s", "--create",
         "--exp-key", "e", str(text_param)),
        (DRIVER, "import", "--db", db, "--study", "s", "--create",
         str(tmp_path / "missing.pkl")),
        (DRIVER, "import", "--db", db, "--study", " a", "--create", str(queued_only)),
        (DRIVER, "import", "--db", db, "--study", "s", "--create", str(text_param)),
        (DRIVER, "import", "--db", db, "--study", "s", "--create", unreachable),
    ])  # fmt: skip
    codes = [run.returncode for run in runs]
    assert codes == [2, 2, 2, 1, 1], [run.stderr for run in runs]
    assert (
        "`--exp-key` must name an experiment of a mongo:// source, but got --exp-key="
        in runs[0].stderr
    )
    assert "must be a file or a mongo://host:port/db/jobs URL" in runs[1].stderr
    assert "`--study` must be 1 to 200 printable characters" in runs[2].stderr
    assert (
        "does not fit any space: params['x'] must be a finite number, but got 'a'"
        in " ".join(runs[3].stderr.split())
    )
    assert (
        f"MongoDB at {unreachable} must be reachable, but every address refused "
        "the connection"
    ) in runs[4].stderr
    nothing = procs.run(DRIVER, "import", "--db", db, "--study", "s", "--create",
                        str(queued_only))  # fmt: skip
    assert nothing.returncode == 1
    assert "no finished trial to import, so study 's' was not created" in (
        nothing.stderr
    )
    assert not db_path.exists()  # each import failed before creating the database
