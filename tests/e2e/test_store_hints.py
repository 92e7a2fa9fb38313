"""Every command a message tells the user to paste that reads or writes a study
names the study's store too (``--db URL``, its password masked), so it works from
another directory or shell; only the default store ./hpo.sqlite goes unnamed.

The hints are collected from real ``hpo-driver``/``hpo-worker`` processes in the
situations that print them, on a store that is not the default one.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from hpo_service._common.settings import record_objective_count
from hpo_service.driver import _output
from hpo_service.driver._study import open_study, space_settings
from hpo_service.driver._study_loop import StudyOutcome
from hpo_service.store import NewTrial, TrialState, open_store
from tests.helpers.multi_objective import space

REPO = Path(__file__).resolve().parents[2]
MODULE = "tests.helpers.multi_objective"
COMMAND = re.compile(r"`((?:hpo-driver|hpo-worker) [^`]*)`")


def run(module: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return done.stdout + done.stderr


def finished_studies(db_url: str) -> None:
    """Studies ``s`` (one objective) and ``mo`` (two), each with its one trial
    (``--max-evals 1``) done: their budget is spent."""
    with open_store(db_url) as store:
        for name, loss in (("s", 0.5), ("mo", [0.5, 1.0])):
            given = {"objective": f"{MODULE}:two_losses", "max_evals": 1}
            open_study(store, name, {**given, **space_settings(space)})
            point = {"x": 0.5, "y": 0.1}
            store.insert_trials(name, [NewTrial(point, dict(point))])
            trial = store.claim("test", 30.0, study=name)
            record_objective_count(store, name, 1 if name == "s" else 2)
            store.complete(name, trial.tid, trial.token, {"status": "ok", "loss": loss})


def test_every_hint_that_names_a_study_names_its_store(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    finished_studies(db_url)
    driver, worker = "hpo_service.driver", "hpo_service.worker"
    store = ["--db", db_url]
    new_study = ["--objective", f"{MODULE}:two_losses", "--space", f"{MODULE}:space",
                 "--max-evals", "2", "--timeout", "0.5", "--no-progress"]  # fmt: skip
    texts = {
        "cancel": run(driver, "cancel", *store, "--study", "s", "--tid", "99"),
        "enqueue": run(
            driver, "enqueue", *store, "--study", "s", "--params", '{"x": 0.2, "y": 0}'
        ),
        "several objectives": run(driver, "start", *store, "--study", "mo"),
        "no worker": run(driver, "start", *store, "--study", "t", *new_study),
        "missing study": run(
            worker, *store, "--study", "later", "--idle-timeout", "0.3"
        ),
    }
    for situation, text in texts.items():
        commands = [c for c in COMMAND.findall(text) if " --study " in c]
        assert commands, f"{situation}: no hint naming a study in {text!r}"
        for command in commands:
            assert f" --db {db_url} --study " in command, (situation, command)


def test_hints_mask_the_password(tmp_path):
    db_url = "mongodb://user:secret@db.example:27017/hpo"
    counts = dict.fromkeys(TrialState, 0)
    trial = type("T", (), {"result": {"loss": [1.0, 2.0]}})()
    texts = [
        _output.resume_hint("s", "interrupted", db_url),
        _output.outcome_text("s", StudyOutcome("max_evals", counts, trial), db_url),
        _output.no_success_text("s", StudyOutcome("cancelled", counts, None), db_url),
        _output.no_success_text("s", StudyOutcome("timeout", counts, None), db_url),
    ]
    for text in texts:
        (command,) = COMMAND.findall(text)
        assert " --db 'mongodb://user:***@db.example:27017/hpo' --study s" in command
        assert "secret" not in text
        assert text.endswith("(the command shows *** in place of the password)")


def test_a_command_to_resume_repeats_the_local_workers():
    """A hint to resume a study that ran local workers (`--workers K`) starts them
    again: pasted without them, the resumed driver waited for workers nobody
    started. Both hints of hpo-driver start that resume: interrupted and cancelled."""
    db_url = "sqlite:////data/hpo.sqlite"
    counts = dict.fromkeys(TrialState, 0)
    cancelled = StudyOutcome("cancelled", counts, None)
    for workers, show_output, flags in [
        (3, True, " --workers 3"),
        (2, False, " --workers 2 --no-objective-output"),
        (0, False, ""),  # no local workers: nothing to repeat
    ]:
        again = _output.local_worker_flags(workers, show_output)
        assert again == flags
        command = f"hpo-driver start --db {db_url} --study s{flags}"
        for text in (
            _output.resume_hint("s", "interrupted", db_url, local_flags=again),
            _output.no_success_text("s", cancelled, db_url, again),
        ):
            assert COMMAND.findall(text) == [command], text


def test_a_command_to_resume_repeats_the_stop_rules():
    """The store keeps no stop rule (they apply to the run that gives them): a hint
    to resume without them resumed a study that then ran to --max-evals. Each is
    written so that the option reads it back unchanged."""
    from hpo_service._common.settings import StudySettings

    db_url = "sqlite:////data/hpo.sqlite"
    cancelled = StudyOutcome("cancelled", dict.fromkeys(TrialState, 0), None)
    for rules, flags in [
        ({"loss_threshold": 0.125, "timeout": 600.0, "no_improvement": 20},
         " --loss-threshold 0.125 --timeout 600 --no-improvement 20"),
        ({"loss_threshold": float("-inf"), "timeout": 0.5},
         " --loss-threshold -inf --timeout 0.5"),
        ({"loss_threshold": 1e-05}, " --loss-threshold 1e-05"),
        ({}, ""),
    ]:  # fmt: skip
        settings = StudySettings("m:f", {}, "fingerprint", 50, **rules)
        again = _output.stop_rule_flags(settings)
        assert again == flags
        command = f"hpo-driver start --db {db_url} --study s --workers 2{flags}"
        again = _output.local_worker_flags(2) + again
        for text in (
            _output.resume_hint("s", "interrupted", db_url, local_flags=again),
            _output.no_success_text("s", cancelled, db_url, again),
        ):
            assert COMMAND.findall(text) == [command], text
