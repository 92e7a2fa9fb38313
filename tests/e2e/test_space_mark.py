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
        "earlier_runs": [],
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


def enqueue(procs: Processes, db: str, params: str) -> None:
    queued = procs.run(DRIVER, "enqueue", "--db", db, "--study", "o",
                       "--params", params)  # fmt: skip
    assert queued.returncode == 0, queued.stderr


def first_run(procs: Processes, db: str, space: str, point: str) -> None:
    """Trials 0 and 1 suggested from ``space``, then trial 2 at ``point``."""
    start(procs, db, space, 2)
    enqueue(procs, db, point)
    start(procs, db, space, 3)


def marked(db: str) -> tuple[list[Trial], dict]:
    with open_store(db) as store:
        done = store.get_trials("o", [TrialState.DONE])
        return done, store.get_study("o").settings["space_mark"]


def test_back_to_an_earlier_space_its_first_run_is_of_the_current_space(procs, any_db):
    """Space A, `--override` with B, then with A again: the best trial, of the
    first run of A (loss 0), is of the current space, so no command adds a line,
    though its tid is below the mark's first tid. Fails before segments: the mark
    held only the last change, and every view said trial 2 ran with the space
    before --override."""
    db = any_db
    first_run(procs, db, "narrow_x_space", '{"x": 0.0}')  # trial 2: loss 0
    start(procs, db, "x_and_y_space", 5, "--override")
    assert f"(trial 2 {NOTE}" in read(procs, db, "best")  # B is not A
    again = start(procs, db, "narrow_x_space", 7, "--override")
    done, mark = marked(db)
    a, b, again_a = mark["segments"]
    assert a["fingerprint"] == again_a["fingerprint"] == mark["fingerprint"]
    assert b["fingerprint"] != mark["fingerprint"]
    b_run = [t for t in done if "y" in t.params]
    assert [a["first_tid"], b["first_tid"]] == [0, min(t.tid for t in b_run)]
    assert again_a["first_tid"] == mark["first_tid"] > max(t.tid for t in b_run)
    assert len([t for t in done if t.tid >= mark["first_tid"]]) == 2
    assert "best trial 2: loss 0" in again and NOTE not in again
    views = every_view(procs, db)
    assert views["best"].startswith("best trial 2: loss 0")
    assert NOTE not in views["best"] + views["status"]
    assert json.loads(views["best_json"])["before_override"] is None
    assert json.loads(views["status_json"])["best"]["before_override"] is None


def test_back_to_an_earlier_space_its_best_is_of_either_run(procs, tmp_path):
    """Space A, `--override` with B, then with A again, B's trials the best: they
    ran with a space before, and the best trial of the current space is of the
    first run of A (its lowest loss, 1.0), which `--json` names in
    `earlier_runs`. Fails before segments: the best of the current space was
    read from the mark's first tid on, so the second run's trials only."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    first_run(procs, db, "x_and_y_space", '{"x": 0.0, "y": 1.0}')  # 2: loss 1
    start(procs, db, "narrow_x_space", 5, "--override")
    again = start(procs, db, "x_and_y_space", 7, "--override")
    done, mark = marked(db)
    b_run = [t for t in done if "y" not in t.params]
    assert len(b_run) == 2
    second, b_first = mark["first_tid"], min(t.tid for t in b_run)
    assert [s["first_tid"] for s in mark["segments"]] == [0, b_first, second]
    assert len([t for t in done if t.tid >= second]) == 2
    current = store_trial(db, 2)
    assert current.result["loss"] == 1.0
    line = note(best_of(b_run).tid, current)
    assert again.rstrip().endswith("\n  " + line)
    views = every_view(procs, db)
    assert views["best"].startswith(f"best trial {best_of(b_run).tid}: loss")
    assert views["best"].rstrip().endswith("\n  " + line)
    assert f"\n    {line}\n" in views["status"] + "\n"
    field = {
        "first_tid": second,
        "current_best": {"tid": 2, "loss": 1.0},
        "earlier_runs": [[0, b_first]],
    }
    assert json.loads(views["best_json"])["before_override"] == field
    assert json.loads(views["status_json"])["best"]["before_override"] == field


def test_three_spaces_the_first_two_are_old(procs, tmp_path):
    """Space A, `--override` with B, then with C: the best trial, of A, ran with
    a space before, and so did B's; the best trial of the current space is of C."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    first_run(procs, db, "narrow_x_space", '{"x": 0.0}')  # trial 2: loss 0
    start(procs, db, "x_and_y_space", 5, "--override")
    again = start(procs, db, "wide_x_space", 7, "--override")
    done, mark = marked(db)
    fingerprints = [s["fingerprint"] for s in mark["segments"]]
    assert len(set(fingerprints)) == 3 and fingerprints[-1] == mark["fingerprint"]
    c_run = [t for t in done if t.tid >= mark["first_tid"]]
    assert len(c_run) == 2 and all("y" not in t.params for t in c_run)
    line = note(2, best_of(c_run))
    assert again.rstrip().endswith("\n  " + line)
    views = every_view(procs, db)
    assert views["best"].rstrip().endswith("\n  " + line)
    best = best_of(c_run)
    field = {
        "first_tid": mark["first_tid"],
        "current_best": {"tid": best.tid, "loss": best.result["loss"]},
        "earlier_runs": [],
    }
    assert json.loads(views["best_json"])["before_override"] == field


def test_a_mark_stored_before_segments_is_read_as_before(procs, tmp_path):
    """A mark without ``segments`` (``fingerprint``, ``first_tid``, ``kept``, as
    stored before them) counts the tids from its first tid on, and those kept, as
    of the current space, the lower ones as of no known space; a later
    `--override` keeps that reading and adds its own segment."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    first_run(procs, db, "narrow_x_space", '{"x": 0.0}')  # trial 2: loss 0
    start(procs, db, "x_and_y_space", 5, "--override")
    with open_store(db) as store:
        mark = store.get_study("o").settings["space_mark"]
        old = {key: mark[key] for key in ("fingerprint", "first_tid", "kept")}
        store.patch_study_settings("o", {"space_mark": old})
    done, _ = marked(db)
    b_run = [t for t in done if "y" in t.params]
    line = note(2, best_of(b_run))
    assert read(procs, db, "best").rstrip().endswith("\n  " + line)
    start(procs, db, "narrow_x_space", 7, "--override")
    done, mark = marked(db)
    assert mark["segments"][0] == {"fingerprint": None, "first_tid": 0, "kept": []}
    assert mark["segments"][1] == {**old}
    a_run = [t for t in done if t.tid >= mark["first_tid"]]
    line = note(2, best_of(a_run))  # the first run of A: of no known space
    assert read(procs, db, "best").rstrip().endswith("\n  " + line)


def store_trial(db: str, tid: int) -> Trial:
    with open_store(db) as store:
        return store.get_trial("o", tid)
