"""After ``hpo-driver start --override`` with a new space, ``start``'s end, ``best``
(text and ``--json``) and ``status`` (text and ``--json``) say alike when the
study's best trial ran with the space before the override, and name the best trial
of the current space: from the mark the override stores (the first tid of the new
space, and the queued trials it kept), not from the space, which read commands do
not load. Real ``hpo-driver`` and ``hpo-worker`` processes, on SQLite and on the
MongoDB-wire server."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from hpo_service.store import BaseTrialStore, Trial, TrialState, open_store
from tests.e2e.conftest import Processes, wait_until

DRIVER = "hpo_service.driver.cli"
WORKER = "hpo_service.worker.cli"
SPACES = "tests.e2e.objectives:"
NOTE = "ran with the space before --override"


def start(procs: Processes, db: str, space: str, evals: int, *extra: str) -> str:
    """``hpo-driver start`` of study ``o`` (one local worker): its output."""
    run = procs.run(DRIVER, "start", "--db", db, "--study", "o", "--objective",
                    SPACES + "gated_sum_of_squares", "--space", SPACES + space,
                    "--max-evals", str(evals), "--algo", "rand", "--workers", "1",
                    "--no-progress", *extra)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return run.stdout


def read(procs: Processes, db: str, *command: str) -> str:
    run = procs.run(DRIVER, *command, "--db", db, "--study", "o")
    assert run.returncode == 0, run.stderr
    return run.stdout


def best_of(trials: list[Trial]) -> Trial:
    return min(trials, key=lambda t: (t.result["loss"], t.tid))


def note(old: int, current: Trial) -> str:
    return (
        f"(trial {old} {NOTE}; the best trial of the current space is trial "
        f"{current.tid}: loss {current.result['loss']:.6g})"
    )


def every_view(procs: Processes, db: str) -> dict[str, str]:
    """What best and status print, as text and as JSON."""
    return {
        "best": read(procs, db, "best"),
        "status": read(procs, db, "status"),
        "best_json": read(procs, db, "best", "--json"),
        "status_json": read(procs, db, "status", "--json"),
    }


def test_every_command_says_the_best_trial_ran_with_the_space_before(procs, any_db):
    """Fails before the mark: `best` and `status` showed the old trial as the
    study's best without a word, and `best --json` had no field for it."""
    db = any_db
    first = start(procs, db, "narrow_x_space", 2)
    assert NOTE not in first
    views = every_view(procs, db)
    assert NOTE not in views["best"] + views["status"]
    assert json.loads(views["best_json"])["before_override"] is None
    assert json.loads(views["status_json"])["best"]["before_override"] is None

    again = start(procs, db, "x_and_y_space", 5, "--override")
    with open_store(db) as store:
        done = store.get_trials("o", [TrialState.DONE])
        settings = store.get_study("o").settings
    old = [t for t in done if "y" not in t.params]
    new = [t for t in done if "y" in t.params]
    assert len(old) == 2 and len(new) == 3
    assert settings["space_mark"]["first_tid"] == min(t.tid for t in new)
    line = note(best_of(old).tid, best_of(new))  # every new loss is larger
    assert again.rstrip().endswith("\n  " + line)
    views = every_view(procs, db)
    assert views["best"].startswith(f"best trial {best_of(old).tid}: loss")
    assert views["best"].rstrip().endswith("\n  " + line)
    assert f"\n    {line}\n" in views["status"] + "\n"
    field = {
        "first_tid": min(t.tid for t in new),
        "current_best": {"tid": best_of(new).tid, "loss": best_of(new).result["loss"]},
    }
    assert json.loads(views["best_json"])["before_override"] == field
    assert json.loads(views["status_json"])["best"]["before_override"] == field


def test_a_trial_of_the_old_space_finishing_after_the_override_stays_old(
    procs, tmp_path
):
    """A worker still running a trial of the old space when `start --override`
    changes it (its driver was killed) finishes it afterwards, with the study's
    best loss: that trial ran with the old space (its tid is below the mark),
    whenever it finished; the best of the current space is of the trials queued
    since."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    driver = procs.start(DRIVER, "start", "--db", db, "--study", "o", "--objective",
                         SPACES + "gated_sum_of_squares", "--space",
                         SPACES + "narrow_x_space", "--max-evals", "3", "--algo",
                         "rand", "--no-progress")  # fmt: skip
    gate = tmp_path / "gate"
    procs.env["HPO_TEST_GATE"] = str(gate)
    worker = procs.start(WORKER, "--db", db, "--study", "o", "--max-trials", "1")
    del procs.env["HPO_TEST_GATE"]
    wait_until(Path(f"{gate}.started").exists)  # it runs trial 0

    def queued_rest(store: BaseTrialStore) -> bool:  # the driver queued 1 and 2
        return [t.tid for t in store.get_trials("o", [TrialState.NEW])] == [1, 2]

    with open_store(db) as store:
        wait_until(lambda: queued_rest(store))
    os.killpg(driver.pid, signal.SIGKILL)  # trials 1 and 2 stay queued
    driver.wait()
    override = procs.start(DRIVER, "start", "--db", db, "--study", "o",
                           "--objective", SPACES + "gated_sum_of_squares",
                           "--space", SPACES + "x_and_y_space", "--max-evals", "3",
                           "--algo", "rand", "--workers", "1", "--no-progress",
                           "--override")  # fmt: skip

    def new_done(store: BaseTrialStore) -> list[Trial]:
        return [t for t in store.get_trials("o", [TrialState.DONE]) if "y" in t.params]

    with open_store(db) as store:
        wait_until(lambda: len(new_done(store)) == 2)  # the rest of the budget
        gate.write_text("")  # trial 0 ends now, after them
        out, err = override.communicate(timeout=120)
        assert override.returncode == 0, err
        assert worker.wait(timeout=60) == 0
        new = new_done(store)
        assert [t.tid for t in new] == [3, 4]  # 1 and 2 were cancelled
        assert store.get_study("o").settings["space_mark"]["first_tid"] == 3
        assert store.get_trial("o", 0).finished_at > max(t.finished_at for t in new)
    line = note(0, best_of(new))  # trial 0's loss is below every new one
    assert out.rstrip().endswith("\n  " + line)
    assert read(procs, db, "best").rstrip().endswith("\n  " + line)


def test_a_queued_trial_the_new_space_kept_is_of_the_current_space(procs, tmp_path):
    """A point queued before the override that the new space gives unchanged stays
    queued and runs with the new space: as the best, it gets no note, though its
    tid is below the first tid of the new space; the trials run before are of the
    old space (a wider range: each is a point of the new space, but ran with the
    old one)."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    start(procs, db, "narrow_x_space", 2)
    queued = procs.run(DRIVER, "enqueue", "--db", db, "--study", "o",
                       "--params", '{"x": 0.0}')  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    again = start(procs, db, "wide_x_space", 4, "--override")
    with open_store(db) as store:
        mark = store.get_study("o").settings["space_mark"]
        kept = store.get_trial("o", 2)
    assert (mark["first_tid"], mark["kept"]) == (3, [2])
    assert kept.state == TrialState.DONE and kept.result["loss"] == 0.0
    assert "best trial 2: loss 0" in again and NOTE not in again
    best = read(procs, db, "best")
    assert best.startswith("best trial 2: loss 0") and NOTE not in best
    assert json.loads(read(procs, db, "best", "--json"))["before_override"] is None


def test_no_mark_or_a_mark_of_another_space_gives_no_note(procs, tmp_path):
    """A study whose space an older version changed holds no mark, or one of an
    earlier space (the older version changed it again): `best` and `status` read
    it as before, without a note."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    start(procs, db, "narrow_x_space", 2)
    start(procs, db, "x_and_y_space", 4, "--override")
    assert NOTE in read(procs, db, "best")
    with open_store(db) as store:
        mark = store.get_study("o").settings["space_mark"]
        store.patch_study_settings("o", {"space_mark": None})
    assert NOTE not in read(procs, db, "best") + read(procs, db, "status")
    assert json.loads(read(procs, db, "best", "--json"))["before_override"] is None
    with open_store(db) as store:
        store.patch_study_settings("o", {"space_mark": {**mark, "fingerprint": "f"}})
    assert NOTE not in read(procs, db, "best") + read(procs, db, "status")
