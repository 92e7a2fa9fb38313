"""Pruned studies run by real hpo-driver and hpo-worker processes on SQLite, and on
MongoDB through real pymongo over TCP (the session's MongoDB-wire server)."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import uuid

import pytest

from hpo_service.exceptions import StudyNotFoundError
from hpo_service.store import TrialState, open_store
from tests.conftest import mongo_lane

from .conftest import wait_until

DRIVER = "hpo_service.driver.cli"
WORKER = "hpo_service.worker"
CURVE = [
    "--objective", "tests.e2e.objectives:curve",
    "--space", "tests.e2e.objectives:curve_space",
]  # fmt: skip
COUNTED = (TrialState.DONE, TrialState.ERROR, TrialState.PRUNED)


def start_args(db, study, max_evals, *extra):
    return ["start", "--db", db, "--study", study, *CURVE,
            "--max-evals", str(max_evals), "--no-progress", *extra]  # fmt: skip


def test_asha_study_with_workers_ends_with_exactly_max_evals(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    asha = ["--pruner", "asha", "--max-resource", "9", "--seed", "4"]
    asha += ["--reduction-factor", "3"]  # the rungs 1 and 3 checked below
    run = procs.run(DRIVER, *start_args(db, "p", 24, "--workers", "2", *asha))
    assert run.returncode == 0, run.stderr
    with open_store(db) as store:
        counts = store.count_by_state("p")
        trials = store.get_trials("p")
        settings = store.get_study("p").settings
    assert sum(counts[s] for s in COUNTED) == 24 == len(trials)
    assert counts[TrialState.PRUNED] > 0 and counts[TrialState.DONE] > 0
    assert f"{counts[TrialState.PRUNED]} pruned" in run.stdout
    assert settings["pruner"] == "asha"
    assert settings["pruner_settings"]["max_resource"] == 9
    for trial in trials:
        steps = sorted(trial.intermediate)
        assert steps == list(range(len(steps)))
        if trial.state is TrialState.PRUNED:
            assert steps[-1] in (1, 3)  # a rung
            assert trial.result["loss"] == trial.intermediate[steps[-1]]
        else:
            assert steps[-1] == 8

    status = json.loads(procs.run(DRIVER, "status", "--db", db, "--study", "p",
                                  "--json").stdout)  # fmt: skip
    assert status["counts"]["pruned"] == counts[TrialState.PRUNED]
    assert status["pruner"] == {"name": "asha", "settings": settings["pruner_settings"]}
    # per rung (1 and 3): reached, went on, pruned there, from the trials' reports
    last = {t.tid: max(t.intermediate) for t in trials}
    pruned_at = [last[t.tid] for t in trials if t.state is TrialState.PRUNED]
    rungs = [
        {"step": rung, "reached": reached, "went_on": reached - pruned_at.count(rung),
         "pruned": pruned_at.count(rung)}
        for rung in (1, 3) for reached in [sum(s >= rung for s in last.values())]
    ]  # fmt: skip
    assert status["pruning"]["rungs"] == rungs
    assert rungs[0]["reached"] == 24 and rungs[0]["went_on"] == rungs[1]["reached"]
    assert status["pruning"]["rule"].startswith("ASHA keeps the best 1/3 at each rung")
    table = ["step  reached  went on  pruned"] + [
        f"{r['step']:>4}  {r['reached']:>7}  {r['went_on']:>7}  {r['pruned']:>6}"
        for r in rungs
    ]
    text = procs.run(DRIVER, "status", "--db", db, "--study", "p").stdout
    assert "24/24 finished" in text and f"pruned={counts[TrialState.PRUNED]}" in text
    lines = [line.strip() for line in text.splitlines()]
    pruner_line = next(line for line in lines if "pruner:" in line)
    assert pruner_line.startswith("pruner: asha(")
    assert "max_resource=9" in pruner_line and "reduction_factor=3" in pruner_line
    at = lines.index(pruner_line)
    assert lines[at + 1].startswith("ASHA keeps the best 1/3 at each rung")
    assert lines[at + 2 : at + 5] == [row.strip() for row in table]
    # the end of `start` shows the same table under its counts
    end = [line.strip() for line in run.stdout.splitlines()]
    assert end[end.index(table[0]) : end.index(table[0]) + 3] == [
        row.strip() for row in table
    ]
    records = json.loads(procs.run(DRIVER, "trials", "--db", db, "--study", "p",
                                   "--format", "json").stdout)  # fmt: skip
    assert {r["tid"]: r["intermediate"] for r in records} == {
        t.tid: {str(k): v for k, v in t.intermediate.items()} for t in trials
    }
    rows = list(csv.DictReader(io.StringIO(
        procs.run(DRIVER, "trials", "--db", db, "--study", "p").stdout)))  # fmt: skip
    pruned_row = next(r for r in rows if r["state"] == "pruned")
    assert pruned_row["last_step"] in ("1", "3")
    assert json.loads(pruned_row["intermediate"])["0"] > 0
    best = json.loads(procs.run(DRIVER, "best", "--db", db, "--study", "p",
                                "--json").stdout)  # fmt: skip
    assert best["state"] == "done"

    # a resume keeps the pruner; another one needs --override
    more = procs.run(DRIVER, *start_args(db, "p", 26, "--workers", "1"))
    assert more.returncode == 0, more.stderr
    with open_store(db) as store:
        assert store.get_study("p").settings["pruner"] == "asha"
    other = procs.run(DRIVER, *start_args(db, "p", 26, "--pruner", "median"))
    assert other.returncode == 2, other.stderr
    assert "different pruner" in other.stderr and "--override" in other.stderr


def test_an_objective_that_never_reports_is_named_at_the_end(procs, tmp_path):
    """Under ASHA an objective that never calls report() is never judged: the end of
    `start` and status say so, instead of a silent 0 pruned."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    quadratic = ["--objective", "tests.e2e.objectives:quadratic",
                 "--space", "tests.e2e.objectives:space"]  # fmt: skip
    run = procs.run(DRIVER, "start", "--db", db, "--study", "q", *quadratic,
                    "--max-evals", "3", "--no-progress", "--workers", "1",
                    "--pruner", "asha")  # fmt: skip
    assert run.returncode == 0, run.stderr
    said = "3 completed without a report: the pruner judges only trials that call "
    assert "0 pruned" in run.stdout and said in run.stdout
    status = json.loads(procs.run(DRIVER, "status", "--db", db, "--study", "q",
                                  "--json").stdout)  # fmt: skip
    assert status["pruning"]["unreported"] == 3 and status["pruning"]["rungs"] == []


def test_worker_killed_mid_report_is_requeued_and_reports_afresh(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    attempts = tmp_path / "attempts"
    # 600 reports 5 ms apart: the worker writes them about once a second, so the
    # kill lands while reports flow (some written, some kept, one in flight)
    procs.env.update(HPO_TEST_ATTEMPTS=str(attempts), HPO_TEST_STEPS="600",
                     HPO_TEST_STEP_SECONDS="0.005")  # fmt: skip
    driver = procs.start(DRIVER, *start_args(db, "k", 1, "--lease-seconds", "1",
                                             "--pruner", "median"))  # fmt: skip
    victim = procs.start(WORKER, "--db", db, "--study", "k", "--idle-timeout", "30")

    def reports_of_first_attempt():
        with open_store(db) as store:
            try:
                trials = store.get_trials("k")
            except StudyNotFoundError:
                return False
        return bool(trials) and len(trials[0].intermediate) >= 10

    wait_until(reports_of_first_attempt)
    os.killpg(victim.pid, signal.SIGKILL)  # reports flow every few ms: mid-report
    procs.start(WORKER, "--db", db, "--study", "k", "--idle-timeout", "30")
    assert driver.wait(timeout=120) == 0, driver.stderr.read()
    with open_store(db) as store:
        (trial,) = store.get_trials("k")
    assert trial.state is TrialState.DONE and trial.attempts == 2
    assert attempts.read_text().splitlines() == ["run", "run"]
    assert sorted(trial.intermediate) == list(range(600))
    assert all(value >= 200.0 for value in trial.intermediate.values())  # 2nd run


@pytest.mark.skipif(mongo_lane() is None, reason="no MongoDB-wire server")
def test_asha_study_on_mongodb_ends_with_exactly_max_evals(procs, mongo_url):
    import pymongo

    from tests.helpers.mongo_wire import wait_writable, with_database

    name = f"hpo_e2e_{uuid.uuid4().hex[:10]}"
    db = with_database(mongo_url, name)
    try:
        asha = ["--pruner", "asha", "--max-resource", "9", "--seed", "5"]
        asha += ["--reduction-factor", "3"]
        run = procs.run(DRIVER, *start_args(db, "m", 15, "--workers", "2", *asha))
        assert run.returncode == 0, run.stderr
        with open_store(db) as store:
            counts = store.count_by_state("m")
            trials = store.get_trials("m")
    finally:
        wait_writable(mongo_url)
        with pymongo.MongoClient(mongo_url) as client:
            client.drop_database(name)
    assert sum(counts[s] for s in COUNTED) == 15 == len(trials)
    assert counts[TrialState.PRUNED] > 0 and counts[TrialState.DONE] > 0
    for trial in trials:
        last = max(trial.intermediate)
        assert sorted(trial.intermediate) == list(range(last + 1))
        if trial.state is TrialState.PRUNED:
            assert last in (1, 3)
            assert trial.result["loss"] == trial.intermediate[last]
        else:
            assert trial.state is TrialState.DONE and last == 8


def test_the_curve_objective_runs_in_a_process_given_a_pause_point(monkeypatch):
    """``HPO_TEST_PAUSE`` names a process's pause point (``POINT:PATH``, see
    ``stop_signals.pause_point``); the curve objective read the same variable as the
    seconds between its reports, so a worker given a pause point failed every trial
    of it (ValueError: could not convert string to float)."""
    from hpo_service import Trials, fmin, rand
    from hpo_service._common.stop_signals import PAUSE_ENV
    from tests.e2e.objectives import curve, curve_space

    monkeypatch.setenv(PAUSE_ENV, "claimed:/nonexistent/marker")
    monkeypatch.setenv("HPO_TEST_STEPS", "2")
    trials = Trials()
    fmin(curve, curve_space, algo=rand.suggest, max_evals=1, trials=trials,
         show_progressbar=False, rstate=0)  # fmt: skip
    assert trials.statuses() == ["ok"]
    assert sorted(trials.trials[0]["intermediate"]) == [0, 1]
