"""hpo-driver start --objectives with real worker processes, and its errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pymongo
import pytest

from hpo_service._common.words import counted
from hpo_service.driver._study import open_study, space_settings
from hpo_service.objective._result import pareto_front
from hpo_service.store import NewTrial, TrialState, open_store
from tests.conftest import mongo_lane
from tests.helpers.mongo_wire import with_database
from tests.helpers.multi_objective import space

REPO = Path(__file__).resolve().parents[2]
MODULE = "tests.helpers.multi_objective"


def driver(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo_service.driver", *args, "--db", db_url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def start(db_url: str, study: str, objective: str, *extra: str):
    return driver(
        db_url, "start", "--study", study, "--objective", f"{MODULE}:{objective}",
        "--space", f"{MODULE}:space", "--max-evals", "6", "--no-progress", *extra,
    )  # fmt: skip


def test_start_runs_a_named_multi_objective_study(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'mo.sqlite'}"
    done = start(db_url, "mo", "two_losses", "--workers", "2", "--objectives", "e,c")
    assert done.returncode == 0, done.stderr
    assert f"`hpo-driver best --db {db_url} --study mo`" in done.stdout
    best = driver(db_url, "best", "--study", "mo")
    assert best.returncode == 0 and "Pareto front" in best.stdout
    assert " e=" in best.stdout and " c=" in best.stdout
    records = json.loads(driver(db_url, "best", "--study", "mo", "--json").stdout)
    lines = best.stdout.splitlines()
    for record in records:  # each trial's losses, params and config
        at = lines.index(next(x for x in lines if f"trial {record['tid']}:" in x))
        assert lines[at + 1] == "    params: " + json.dumps(record["params"],
                                                            sort_keys=True)  # fmt: skip
        assert lines[at + 2] == "    config: " + json.dumps(record["config"],
                                                            sort_keys=True)  # fmt: skip
    wrong = start(db_url, "mo", "two_losses", "--objectives", "a,b,c")
    assert wrong.returncode == 2
    assert (
        "`--objectives` must name each objective of study 'mo', which has 2 "
        "objectives, but got 3 names: --objectives=a,b,c"
    ) in wrong.stderr
    threshold = start(db_url, "mo", "two_losses", "--loss-threshold", "0.1")
    assert threshold.returncode == 2  # a usage error, before the driver starts
    assert "`--loss-threshold` needs a single objective, but the study has 2" in (
        threshold.stderr
    )


def test_a_threshold_found_to_need_one_loss_does_not_stick_to_the_study(tmp_path):
    """The objective count is learnt from the first result: the run given
    --loss-threshold stops, and a resume without the threshold finishes."""
    db_url = f"sqlite:///{tmp_path / 'late.sqlite'}"
    first = driver(
        db_url,
        "start",
        "--study",
        "late",
        "--objective",
        f"{MODULE}:two_losses",
        "--space",
        f"{MODULE}:space",
        "--max-evals",
        "6",
        "--workers",
        "1",
        "--loss-threshold",
        "0.1",
    )  # fmt: skip  (with progress lines: the error must not follow a stale one)
    assert first.returncode == 1
    assert (  # the flag as typed, and the CLI's stop options
        "`--loss-threshold` needs a single objective, but the study has 2 "
        "objectives; leave it out (stop on --max-evals, --timeout or "
        "--no-improvement)"
    ) in first.stderr
    # No end line ("N/6 trials finished (...)") after the error: its counts may not
    # include the result that caused it (it said "0/6"). A periodic line ("0/6 trials
    # finished, ...", every 5 s) is no such line: it comes when no result came for
    # 5 s, as on a loaded machine, and holds the counts of its time.
    assert "trials finished (" not in first.stderr
    resumed = start(db_url, "late", "two_losses", "--workers", "1")
    assert resumed.returncode == 0, resumed.stderr
    with open_store(db_url) as store:
        assert store.count_by_state("late")[TrialState.DONE] == 6


def test_one_named_objective_makes_a_single_objective_study(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'one.sqlite'}"
    done = driver(
        db_url, "start", "--study", "one",
        "--objective", "tests.e2e.objectives:quadratic",
        "--space", "tests.e2e.objectives:space", "--max-evals", "2", "--workers", "1",
        "--no-progress", "--objectives", "error",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown, as_json = (driver(db_url, "best", "--study", "one", *json_flag)
                      for json_flag in ([], ["--json"]))  # fmt: skip
    assert shown.returncode == 0 and as_json.returncode == 0, shown.stderr
    record = json.loads(as_json.stdout)
    assert shown.stdout.startswith(f"best trial {record['tid']}: loss ")
    assert isinstance(record["result"]["loss"], float)


def test_bad_objective_names_are_a_usage_error(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'bad.sqlite'}"
    bad = start(db_url, "bad", "two_losses", "--objectives", "a,a")
    assert bad.returncode == 2
    assert "'--objectives'" in bad.stderr and "distinct" in bad.stderr


def test_a_study_without_a_feasible_trial_says_so(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'infeasible.sqlite'}"
    done = start(db_url, "inf", "never_feasible_losses", "--workers", "1")
    assert done.returncode == 1
    assert "6 done, 0 failed" in done.stdout
    assert "no trial of study 'inf' succeeded with its constraints satisfied" in (
        done.stderr
    )
    assert "feasible" not in done.stdout  # said once, in the error
    assert "6 succeeded but violate their constraints" in done.stderr
    status = driver(db_url, "status", "--study", "inf")
    assert "Pareto front: empty (no feasible trial of the 6 finished)" in status.stdout
    best = driver(db_url, "best", "--study", "inf")
    assert best.returncode == 1
    assert "has no feasible trial: none of its 6 finished trials is feasible" in (
        best.stderr  # the study is over: no "yet"
    )


def test_a_study_whose_trials_all_errored_says_none_succeeded(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'errors.sqlite'}"
    done = start(db_url, "err", "three_losses", "--workers", "1", "--objectives",
                 "a,b", "--max-evals", "2")  # fmt: skip
    assert done.returncode == 1
    assert "no trial of study 'err' succeeded: 2 failed with an error" in done.stderr
    status = driver(db_url, "status", "--study", "err")
    assert "Pareto front: empty (no successful trial of the 2 finished)" in (
        status.stdout  # the study is over: no "yet"
    )
    best = driver(db_url, "best", "--study", "err")
    assert best.returncode == 1
    assert (  # the study is over: no "yet"
        "study 'err' has no successful trial: none of its 2 finished trials succeeded"
    ) in best.stderr


def test_first_results_racing_with_different_counts_keep_one(tmp_path, procs):
    """Two worker processes finish a 2-loss and a 3-loss trial together, before any
    driver ran: one count is recorded and the other trial becomes an error."""
    db_url = f"sqlite:///{tmp_path / 'race.sqlite'}"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    with open_store(db_url) as store:
        given = {"objective": f"{MODULE}:losses_after_barrier",
                 **space_settings(space), "max_evals": 2}  # fmt: skip
        open_study(store, "race", given)
        configs = [{"n": n, "barrier": str(barrier), "parties": 2} for n in (2, 3)]
        store.insert_trials("race", [NewTrial({"x": 0.5}, c) for c in configs])
    limits = ["--max-trials", "1", "--idle-timeout", "30"]
    args = ["--db", db_url, "--study", "race", *limits]
    workers = [procs.start("hpo_service.worker", *args) for _ in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    with open_store(db_url) as store:
        count = store.get_study("race").settings["n_objectives"]
        trials = {t.state: t for t in store.get_trials("race")}
    assert count in (2, 3)
    assert set(trials) == {TrialState.DONE, TrialState.ERROR}
    assert len(trials[TrialState.DONE].result["loss"]) == count
    message = trials[TrialState.ERROR].error["message"]
    other = 5 - count
    assert f"has {counted(count, 'objective')}" in message and f"got {other}" in message


@pytest.mark.skipif(mongo_lane() is None, reason="no MongoDB-wire server")
def test_a_constrained_multi_objective_study_on_mongodb(mongo_url):
    """hpo-driver and two hpo-worker processes on MongoDB (real pymongo over TCP):
    the count and names are stored, best shows the feasible front, trials exports
    every loss."""
    db_url = with_database(mongo_url, f"hpo_mo_{uuid.uuid4().hex[:10]}")
    try:
        done = start(db_url, "mo", "constrained_losses", "--workers", "2",
                     "--objectives", "e,c", "--seed", "5")  # fmt: skip
        assert done.returncode == 0, done.stderr
        with open_store(db_url) as store:
            settings = store.get_study("mo").settings
            results = [t.result for t in store.get_trials("mo")]
        assert settings["n_objectives"] == 2
        assert settings["objective_names"] == ["e", "c"]
        front = pareto_front(results)
        assert front and all(results[i]["constraints"][0] <= 0 for i in front)
        assert any(r["constraints"][0] > 0 for r in results)  # seed 5 has some
        shown = json.loads(driver(db_url, "best", "--study", "mo", "--json").stdout)
        assert sorted(r["tid"] for r in shown) == front  # tid == position here
        table = driver(db_url, "trials", "--study", "mo", "--format", "csv").stdout
        rows = list(csv.DictReader(io.StringIO(table)))
        assert [[float(r["objective.e"]), float(r["objective.c"])] for r in rows] == [
            r["loss"] for r in results
        ]
    finally:
        with pymongo.MongoClient(mongo_url) as client:
            client.drop_database(urlsplit(db_url).path.strip("/"))
