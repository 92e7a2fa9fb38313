"""Whole studies run by real hpo-driver and hpo-worker processes on SQLite."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3

import pytest

from hpo_service.exceptions import StudyNotFoundError
from hpo_service.store import TrialState, open_store

from .conftest import QUADRATIC, wait_until

DRIVER = "hpo_service.driver.cli"
WORKER = "hpo_service.worker"


def start_args(db, study, max_evals, *extra):
    return ["start", "--db", db, "--study", study, *QUADRATIC,
            "--max-evals", str(max_evals), "--no-progress", *extra]  # fmt: skip


def counts(db, study):
    """Trials by state; all zero while the study does not exist yet."""
    with open_store(db) as store:
        try:
            return store.count_by_state(study)
        except StudyNotFoundError:
            return dict.fromkeys(TrialState, 0)


def done_count(db, study):
    return counts(db, study)[TrialState.DONE]


def test_one_command_runs_a_whole_study(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = procs.run(DRIVER, *start_args(db, "q", 25, "--workers", "2", "--seed", "3"))
    assert run.returncode == 0, run.stderr
    assert "best trial" in run.stdout
    assert counts(db, "q")[TrialState.DONE] == 25
    with open_store(db) as store:
        trials = store.get_trials("q")
    assert [t.tid for t in trials] == list(range(25))
    assert all(t.attempts == 1 and t.result["duration"] >= 0 for t in trials)
    best = min(trials, key=lambda t: t.result["loss"])
    assert f"loss {best.result['loss']:.6g}" in run.stdout


def test_killed_driver_is_resumed_to_exact_completion(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_TEST_SLEEP"] = "0.05"
    driver = procs.start(DRIVER, *start_args(db, "k", 40, "--workers", "2"))
    wait_until(lambda: done_count(db, "k") >= 8)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    rerun = procs.run(DRIVER, *start_args(db, "k", 40, "--workers", "2"))
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming study 'k'" in rerun.stderr
    final = counts(db, "k")
    assert final[TrialState.DONE] + final[TrialState.ERROR] == 40
    assert final[TrialState.NEW] == final[TrialState.RUNNING] == 0
    with open_store(db) as store:
        tids = [t.tid for t in store.get_trials("k", [TrialState.DONE])]
    assert len(tids) == len(set(tids))


def test_killed_worker_trial_is_requeued_and_run_once(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_TEST_SLEEP"] = "0.5"
    driver = procs.start(DRIVER, *start_args(db, "w", 6, "--lease-seconds", "1"))
    victim = procs.start(WORKER, "--db", db, "--study", "w", "--idle-timeout", "30")
    wait_until(lambda: counts(db, "w")[TrialState.RUNNING] == 1)
    os.killpg(victim.pid, signal.SIGKILL)
    procs.start(WORKER, "--db", db, "--study", "w", "--idle-timeout", "5")
    assert driver.wait(timeout=120) == 0, driver.stderr.read()
    with open_store(db) as store:
        trials = store.get_trials("w")
    assert [t.state for t in trials] == [TrialState.DONE] * 6
    assert sorted(t.attempts for t in trials)[-1] == 2


def test_second_live_driver_is_refused(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.start(DRIVER, *start_args(db, "d", 10))
    wait_until(lambda: counts(db, "d")[TrialState.NEW] > 0)
    second = procs.run(DRIVER, *start_args(db, "d", 10))
    assert second.returncode == 1
    assert "is driven by driver@" in second.stderr
    assert "Traceback" not in second.stderr


def test_worker_started_before_the_driver(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    worker = procs.start(WORKER, "--db", db, "--idle-timeout", "20")
    run = procs.run(DRIVER, *start_args(db, "early", 10))
    assert run.returncode == 0, run.stderr
    with open_store(db) as store:
        owners = {t.owner for t in store.get_trials("early")}
    assert len(owners) == 1 and str(worker.pid) in owners.pop()


def test_misbehaving_objectives_become_error_trials(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = procs.run(
        DRIVER, "start", "--db", db, "--study", "bad", "--algo", "rand", "--seed", "5",
        "--objective", "tests.e2e.objectives:misbehaving",
        "--space", "tests.e2e.objectives:misbehaving_space",
        "--max-evals", "25", "--trial-timeout", "1", "--workers", "2", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    with open_store(db) as store:
        trials = store.get_trials("bad")
    assert len(trials) == 25
    by_behaviour = {}
    for trial in trials:
        by_behaviour.setdefault(trial.config["do"], set()).add(trial.state)
    assert by_behaviour["ok"] == {TrialState.DONE}
    for behaviour in ("raise", "nan", "exit", "hang"):
        assert by_behaviour[behaviour] == {TrialState.ERROR}, behaviour
    errors = {t.config["do"]: t.error for t in trials if t.state == TrialState.ERROR}
    assert errors["raise"]["type"] == "ValueError"
    assert "objective failed on purpose" in errors["raise"]["traceback"]
    assert "NaN" in errors["nan"]["message"] or "nan" in errors["nan"]["message"]


def test_status_best_trials_and_cancel_commands(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    assert procs.run(DRIVER, *start_args(db, "r", 8, "--workers", "1")).returncode == 0
    status = procs.run(DRIVER, "status", "--db", db, "--study", "r", "--json")
    summary = json.loads(status.stdout)
    assert summary["counts"]["done"] == 8 and summary["driver"] is None
    best = json.loads(
        procs.run(DRIVER, "best", "--db", db, "--study", "r", "--json").stdout
    )
    as_json = procs.run(
        DRIVER, "trials", "--db", db, "--study", "r", "--format", "json"
    )
    records = json.loads(as_json.stdout)
    assert best["result"]["loss"] == min(r["result"]["loss"] for r in records)
    as_csv = procs.run(DRIVER, "trials", "--db", db, "--study", "r").stdout.splitlines()
    assert as_csv[0].startswith("tid,state,loss") and "param.x" in as_csv[0]
    assert len(as_csv) == 9
    cancel = procs.run(DRIVER, "cancel", "--db", db, "--study", "r")
    assert cancel.returncode == 0
    assert "cancelled study 'r' and 0 of its queued or running trials" in cancel.stdout


def test_a_study_where_every_trial_failed_exits_non_zero(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = procs.run(
        DRIVER, "start", "--db", db, "--study", "f", "--max-evals", "3",
        "--objective", "tests.e2e.objectives:always_fails",
        "--space", "tests.e2e.objectives:space", "--workers", "1", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 1
    assert "study 'f' finished: --max-evals 3 reached; 0 done, 0 failed" in run.stdout
    assert "Error: no trial of study 'f' succeeded" in run.stderr
    assert (run.stdout + run.stderr).count("succeeded") == 1  # said once
    # the command to paste names the store, which is not the default one
    hint = f"hpo-driver trials --db {db} --study f --state error --format json"
    why = f"3 failed with an error (see `{hint}` for their messages and tracebacks)"
    assert f": {why}" in " ".join(run.stderr.split())
    listed = procs.run(DRIVER, *hint.split()[1:])
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count('"tid"') == 3
    assert counts(db, "f")[TrialState.ERROR] == 3
    status = procs.run(DRIVER, "status", "--db", db, "--study", "f")
    assert status.returncode == 0, status.stderr
    assert " ".join(status.stdout.split("  best: ")[-1].split()) == (
        f"none: no trial of the 3 finished succeeded; {why}"  # not "none yet"
    )
    best = procs.run(DRIVER, "best", "--db", db, "--study", "f")
    assert best.returncode == 1
    assert " ".join(best.stderr.split()) == (  # not "yet" either
        "Error: study 'f' has no successful trial: none of its 3 finished trials "
        f"succeeded; {why}"
    )


def test_enqueued_points_beyond_max_evals_are_cancelled_not_run(procs, tmp_path):
    """Points queued by `hpo-driver enqueue` count toward --max-evals: a finished
    study of 3 trials, 4 points queued, resumed with --max-evals 5 runs the first 2
    points and cancels the others (it ran all 4: 7 trials for a budget of 5)."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    assert procs.run(DRIVER, *start_args(db, "e", 3, "--workers", "1")).returncode == 0
    points = [json.dumps({"x": float(i), "y": 0.0}) for i in range(4)]
    given = [arg for point in points for arg in ("--params", point)]
    queued = procs.run(DRIVER, "enqueue", "--db", db, "--study", "e", *given)
    assert queued.returncode == 0, queued.stderr
    assert "already finished its budget (3 of --max-evals 3)" in queued.stderr
    rerun = procs.run(DRIVER, *start_args(db, "e", 5, "--workers", "2"))
    assert rerun.returncode == 0, rerun.stderr
    final = counts(db, "e")
    assert final[TrialState.DONE] == 5 and final[TrialState.CANCELLED] == 2, final
    with open_store(db) as store:
        ran = [t.params["x"] for t in store.get_trials("e", [TrialState.DONE])]
    assert ran[3:] == [0.0, 1.0]
    assert "beyond --max-evals 5" in rerun.stderr


def test_a_worker_without_driver_cancels_points_queued_into_a_finished_study(
    procs, tmp_path
):
    """`enqueue` after the study finished says what will happen; a worker then
    cancels the points instead of running them (it ran them: 5 trials for a budget
    of 3), and `hpo-driver trials` says why."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    assert procs.run(DRIVER, *start_args(db, "n", 3, "--workers", "1")).returncode == 0
    one = procs.run(DRIVER, "enqueue", "--db", db, "--study", "n",
                    "--params", '{"x": 0.5, "y": 0.0}')  # fmt: skip
    assert one.returncode == 0, one.stderr
    said = " ".join(one.stderr.split())  # it said "these 1 point ... running them"
    assert "a worker cancels this point instead of running it (" in said, said
    assert "To run it, resume the study with a larger budget before a worker " in said
    assert "claims it (`hpo-driver start --db " in said
    points = ["--params", '{"x": 1.0, "y": 0.0}', "--params", '{"x": 2.0, "y": 0.0}']
    queued = procs.run(DRIVER, "enqueue", "--db", db, "--study", "n", *points)
    assert queued.returncode == 0, queued.stderr
    assert "a worker cancels these 2 points instead of running them" in (
        " ".join(queued.stderr.split())
    )
    worker = procs.run(WORKER, "--db", db, "--study", "n", "--idle-timeout", "60")
    assert worker.returncode == 0, worker.stderr
    assert "worker stopped: its study finished;" in worker.stderr
    final = counts(db, "n")
    assert (final[TrialState.DONE], final[TrialState.CANCELLED]) == (3, 3), final
    listed = procs.run(DRIVER, "trials", "--db", db, "--study", "n", "--state",
                       "cancelled", "--format", "json")  # fmt: skip
    errors = [record["error"] for record in json.loads(listed.stdout)]
    assert [e["type"] for e in errors] == ["BeyondBudget"] * 3
    assert "already finished its --max-evals 3 trials" in errors[0]["message"]
    assert "resume the study with a larger --max-evals," in errors[0]["message"]


@pytest.mark.parametrize("flag", ["--objective-output", "--no-objective-output"])
def test_local_workers_show_the_objectives_output_unless_told(procs, tmp_path, flag):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    args = ["start", "--db", db, "--study", "p", "--max-evals", "3", "--no-progress",
            "--objective", "tests.e2e.objectives:prints", "--space",
            "tests.e2e.objectives:space", "--workers", "1", flag]  # fmt: skip
    run = procs.run(DRIVER, *args)
    assert run.returncode == 0, run.stderr
    shown = [line for line in run.stderr.splitlines() if line.startswith("[trial p/")]
    with open_store(db) as store:
        outputs = [t.result["output"] for t in store.get_trials("p")]
    assert [o.startswith("evaluating x=") for o in outputs] == [True] * 3  # kept
    expected = [f"[trial p/{tid}] {o.rstrip()}" for tid, o in enumerate(outputs)]
    assert sorted(shown) == (sorted(expected) if flag == "--objective-output" else [])


def test_driver_restarted_in_its_container_waits_out_the_dead_drivers_lease(
    procs, tmp_path
):
    """A container restarted after its driver was SIGKILLed: same host name, same
    pid, a new pid namespace, and the dead driver's lease left (5 s here, 30 s by
    default). The new driver cannot tell the holder dead, so it watches the lease
    and takes the study over when it runs out unrenewed. Before, it exited 1 ("is
    driven by ...") on every restart until then: compose's `on-failure:5` spent its
    restarts within the lease and the driver stayed down."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    assert procs.run(DRIVER, *start_args(db, "c", 3, "--workers", "1")).returncode == 0
    rerun = procs.run("tests.e2e.restarted_container", db, "c", "5",
                      *start_args(db, "c", 6, "--workers", "1"))  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert "cannot tell alive or dead" in rerun.stderr, rerun.stderr
    assert "its lease ran out unrenewed" in rerun.stderr
    assert "resuming study 'c'" in rerun.stderr
    assert done_count(db, "c") == 6
    with open_store(db) as store:
        assert store.get_study("c").driver_owner is None  # released at the end


def test_a_backup_taken_while_the_study_runs_restores_and_resumes(procs, tmp_path):
    """README "Backing up a store": SQLite's online backup API copies a consistent
    snapshot (the WAL's recent writes included) while the driver and workers write;
    the copy opens, and a driver resumes the study from it to its exact budget."""
    live, copy = tmp_path / "hpo.sqlite", tmp_path / "backup.sqlite"
    db = f"sqlite:///{live}"
    procs.env["HPO_TEST_SLEEP"] = "0.05"
    driver = procs.start(DRIVER, *start_args(db, "b", 40, "--workers", "2"))
    wait_until(lambda: done_count(db, "b") >= 10)
    source, target = sqlite3.connect(live), sqlite3.connect(copy)
    with source, target:
        source.backup(target)
    source.close()
    target.close()
    assert driver.wait(timeout=120) == 0, driver.stderr.read()
    backed = counts(f"sqlite:///{copy}", "b")
    assert 10 <= backed[TrialState.DONE] < 40, backed
    restored = f"sqlite:///{tmp_path / 'restored.sqlite'}"
    shutil.copy(copy, tmp_path / "restored.sqlite")
    rerun = procs.run(DRIVER, *start_args(restored, "b", 40, "--workers", "2"))
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming study 'b'" in rerun.stderr
    final = counts(restored, "b")
    assert final[TrialState.DONE] == 40 and final[TrialState.RUNNING] == 0, final


def test_a_store_url_with_blanks_or_a_line_end_names_the_same_store(procs, tmp_path):
    """HPO_DB from a Secret or `.env` often ends with a newline (a YAML `|` block,
    `kubectl create secret --from-file`, a CRLF file). Before, `sqlite:///...\\n`
    named another file: `start` created `hpo.sqlite\\n` while workers waited for
    `hpo.sqlite`, and `status` said "no SQLite database at .../hpo.sqlite"."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    procs.env["HPO_DB"] = db + "\n"
    run = procs.run(DRIVER, "start", "--study", "n", *QUADRATIC, "--max-evals", "3",
                    "--workers", "1", "--no-progress")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["hpo.sqlite"]
    status = procs.run(DRIVER, "status", "--db", f" {db}\r\n", "--study", "n")
    assert status.returncode == 0, status.stderr
    assert "study 'n': 3/3 finished" in status.stdout


def test_start_override_with_a_new_space_says_the_best_trial_is_of_the_old_one(
    procs, tmp_path
):
    """`hpo-driver start --override` shows the study's best trial whatever space it
    ran with (its stored config: nothing is evaluated), as `best` does; when that
    trial is of the space before the override, the end says so (it did not)."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    objective = ["--objective", "tests.e2e.objectives:sum_of_squares",
                 "--workers", "1", "--no-progress", "--algo", "rand", "--db", db,
                 "--study", "o"]  # fmt: skip
    spaces = "tests.e2e.objectives:"
    first = procs.run(DRIVER, "start", *objective, "--space",
                      spaces + "narrow_x_space", "--max-evals", "2")  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "before --override" not in first.stdout
    again = procs.run(DRIVER, "start", *objective, "--space", spaces + "x_and_y_space",
                      "--max-evals", "4", "--override")  # fmt: skip
    assert again.returncode == 0, again.stderr
    with open_store(db) as store:
        old = min(store.get_trials("o")[:2], key=lambda t: t.result["loss"])
        new = min(store.get_trials("o")[2:], key=lambda t: t.result["loss"])
    assert f"best trial {old.tid}: loss" in again.stdout
    note = (
        f"(trial {old.tid} ran with the space before --override; the best trial "
        f"of the current space is trial {new.tid}: loss {new.result['loss']:.6g})"
    )
    assert again.stdout.rstrip().endswith(note)
