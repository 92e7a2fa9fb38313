"""A store error that waiting cannot fix ends a worker or driver at once, with one
line naming it; one that may pass (a stepped-down primary, a full disk) is ridden
out.

Real ``hpo-worker`` and ``hpo-driver`` processes, real pymongo over TCP to the
session's MongoDB-wire server, whose ``failCommand`` fail point (scoped by appName)
answers the server errors. Before the allow-list, every store error but a refused
user, a lost store, an unstorable document or a missing study or trial was retried
for ever, a warning every 30 s.
"""

from __future__ import annotations

import pytest

from hpo_service._common.settings import StudySettings
from hpo_service.store import NewTrial, TrialState, open_store
from tests.conftest import mongo_lane
from tests.e2e.conftest import wait_until
from tests.helpers.mongo_wire import app_url, fail_point
from tests.helpers.refused_driver import WRITES, driver_refused

pytestmark = pytest.mark.skipif(
    mongo_lane() is None, reason="no MongoDB-wire server (see tests/conftest.py)"
)


def _queued_study(url: str, trials: int) -> None:
    settings = StudySettings(
        objective="tests.e2e.objectives:quadratic",
        space={},
        space_fingerprint="t",
        max_evals=trials,
    )
    with open_store(url) as store:
        store.create_study("q", settings.to_dict())
        store.insert_trials("q", [NewTrial({}, {"x": 0.0, "y": 0.0})] * trials)


def test_a_worker_stops_at_once_on_a_validation_failure(fault_server, procs):
    url = app_url(fault_server, "hpo_pass", "invalid-worker")
    _queued_study(url, 2)
    refused = {"failCommands": WRITES, "appName": "invalid-worker", "errorCode": 121}
    with fail_point(fault_server, refused, "alwaysOn"):
        run = procs.run(
            "hpo_service.worker", "--db", url, "--idle-timeout", "60", timeout=60
        )
    assert run.returncode == 1, run.stderr
    error = run.stderr.splitlines()[-1]
    assert error.startswith("Error: MongoDB store "), error
    assert "failed: " in error, error
    assert "retrying" not in run.stderr, run.stderr


# PrimarySteppedDown, OutOfDiskSpace, WriteConflict (the chaos run's mongodb multi
# seed 32 ended two workers on 112 while the allow-list lacked it)
# and QueryPlanKilled on its reads (a stepdown kills open cursors)
@pytest.mark.parametrize(
    ("code", "commands"),
    [(189, WRITES), (14031, WRITES), (112, WRITES), (175, ["find", "aggregate"])],
)
def test_a_worker_rides_out_what_may_pass(fault_server, procs, code, commands):
    url = app_url(fault_server, "hpo_pass", f"passing-{code}")
    _queued_study(url, 2)
    passing = {
        "failCommands": commands,
        "appName": f"passing-{code}",
        "errorCode": code,
    }
    with fail_point(fault_server, passing, {"times": 4}):
        run = procs.run(
            "hpo_service.worker", "--db", url, "--max-trials", "2",
            "--idle-timeout", "60", timeout=120,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    with open_store(url) as store:
        assert store.count_by_state("q")[TrialState.DONE] == 2


def test_a_driver_stops_at_once_on_a_bad_value(fault_server, procs):
    url = app_url(fault_server, "hpo_pass", "badvalue-driver")
    code, err = driver_refused(procs, url, url, "badvalue-driver", 2)
    assert code == 1, err
    assert "failed: " in err.splitlines()[-1], err
    assert "cannot run the study" not in err, err  # no retrying line


def test_a_study_made_before_a_failure_that_passed_is_told_created(fault_server, procs):
    """The first lease write after ``start`` created the study fails with
    OutOfDiskSpace (may pass): the retried attempt found the study and said
    "resuming study" of the study it had just made."""
    url = app_url(fault_server, "hpo_pass", "made-driver")
    full = {"failCommands": ["update"], "appName": "made-driver", "errorCode": 14031}
    with fail_point(fault_server, full, {"skip": 1, "times": 1}):
        driver = procs.start(
            "hpo_service.driver", "start", "--db", url, "--study", "d",
            "--objective", "tests.e2e.objectives:quadratic",
            "--space", "tests.e2e.objectives:space", "--max-evals", "5",
            "--no-progress",
        )  # fmt: skip
        assert driver.stderr is not None
        seen = []
        for line in driver.stderr:
            seen.append(line)
            if "study 'd'" in line and line.startswith(("created", "resuming")):
                break
    driver.terminate()
    _, rest = driver.communicate(timeout=60)
    text = "".join(seen)
    assert "OutOfDiskSpace" in text or "14031" in text, text + rest  # it failed
    assert "created study 'd'" in text, text + rest
    assert "resuming study" not in text + rest, text


def _pruned_study(url: str) -> None:
    """One queued trial of ``curve`` (reports every step) under ASHA."""
    settings = StudySettings(
        objective="tests.e2e.objectives:curve",
        space={},
        space_fingerprint="t",
        max_evals=1,
        pruner="asha",
        pruner_settings={"max_resource": 400},
    )
    with open_store(url) as store:
        store.create_study("q", settings.to_dict())
        store.insert_trials("q", [NewTrial({}, {"level": 1.0})])


def test_a_worker_stops_its_trial_at_once_on_a_refused_report(fault_server, procs):
    """A report write (and a heartbeat: both ``update``) the server rejects with a
    validation failure (121) while the trial runs: the worker stops the objective,
    hands the trial back and exits 1 with one line. Before, it logged "reports not
    recorded" at every report, ran the objective to its end (400 steps here) and
    recorded it done without its reports."""
    url = app_url(fault_server, "hpo_pass", "refused-report")
    _pruned_study(url)
    refused = {
        "failCommands": ["update"],
        "appName": "refused-report",
        "errorCode": 121,
    }
    procs.env.update(HPO_TEST_STEPS="400", HPO_TEST_STEP_SECONDS="0.02")
    with fail_point(fault_server, refused, "alwaysOn"):
        run = procs.run(
            "hpo_service.worker", "--db", url, "--max-trials", "1",
            "--idle-timeout", "60", timeout=120,
        )  # fmt: skip
    assert run.returncode == 1, run.stderr
    error = run.stderr.splitlines()[-1]
    assert error.startswith("Error: MongoDB store "), error
    assert "121" in error or "DocumentValidationFailure" in error, error
    assert run.stderr.count("reports not recorded") == 0, run.stderr
    assert "handed back" in run.stderr, run.stderr
    with open_store(url) as store:
        trial = store.get_trial("q", 0)
    assert trial.state is TrialState.NEW, trial
    assert trial.attempts == 0, trial


def test_a_refused_hand_back_does_not_repeat_the_refusal(fault_server, procs):
    """The user loses its rights while a trial runs: the report write is refused
    (Unauthorized), and so is the hand-back. The "not handed back" warning
    repeated the whole refusal that the final ``Error:`` line prints; now it says
    the hand-back was refused too, and the refusal is said once."""
    url = app_url(fault_server, "hpo_pass", "revoked")
    reader = url.replace("&appName=revoked", "")  # this test's reads pass
    _pruned_study(url)
    procs.env.update(HPO_TEST_STEPS="400", HPO_TEST_STEP_SECONDS="0.05")
    worker = procs.start(
        "hpo_service.worker", "--db", url, "--max-trials", "1", "--idle-timeout", "60"
    )
    try:
        with open_store(reader) as store:
            wait_until(lambda: store.get_trial("q", 0).intermediate, 60)
        refused = {
            "failCommands": ["update", "findAndModify"],
            "appName": "revoked",
            "errorCode": 13,  # Unauthorized
        }
        with fail_point(fault_server, refused, "alwaysOn"):
            _, err = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 1, err
    error = err.splitlines()[-1]
    assert error.startswith("Error: MongoDB store ") and "refused" in error, err
    warning = next(line for line in err.splitlines() if "not handed back" in line)
    assert "(refused too, as below)" in warning, err
    refusal = error.removeprefix("Error: ")
    assert refusal.split(": ", 1)[1] not in warning, err  # said once, by Error:
