"""One warning pace per process while its store fails: a real ``hpo-worker``
whose claims, heartbeat and report writes all meet a failing MongoDB-wire server
(``failCommand`` fail points answering PrimarySteppedDown, which every caller rides
out) says the outage at one pace, naming what waits, and says once that the store
works again. Before, each activity, and the store's retries inside each, kept a
pace of its own: one worker logged about 11 warnings over an 82 s outage.

The SQLite side: ``tests/worker/test_unwritable_store.py`` (a worker whose file
writes fail, as on a full disk, says the outage once and its end once)."""

from __future__ import annotations

import re

import pytest

from hpo_service._common.settings import StudySettings
from hpo_service.store import NewTrial, TrialState, open_store
from hpo_service.store._doing import _DOING
from tests.conftest import mongo_lane
from tests.e2e.conftest import wait_until
from tests.helpers.mongo_wire import app_url, fail_point
from tests.helpers.pipes import PipeLines

pytestmark = pytest.mark.skipif(
    mongo_lane() is None, reason="no MongoDB-wire server (see tests/conftest.py)"
)

PACE = 2.0  # seconds between warnings (HPO_TEST_STORE_NOTE_SECONDS; 30 by default)
WARNING = re.compile(r"^\S+ \S+ \d+ WARNING \S+: \[w\] (?P<msg>.*)$", re.M)


def _waiting(warning: str) -> list[str]:
    """What a paced warning says waits for the store."""
    return re.search(r"; waiting: (.*?)\): ", warning)[1].split("; ")


def _study(url: str) -> None:
    """One queued trial of ``curve`` (a report every step), lease 3 s (a beat a
    second)."""
    settings = StudySettings(
        objective="tests.e2e.objectives:curve",
        space={},
        space_fingerprint="t",
        max_evals=1,
        lease_seconds=3.0,
    )
    with open_store(url) as store:
        store.create_study("q", settings.to_dict())
        store.insert_trials("q", [NewTrial({}, {"level": 1.0})])


def test_a_worker_says_an_outage_at_one_pace_and_its_end_once(fault_server, procs):
    url = app_url(fault_server, "hpo_pace", "pace")
    _study(url)
    procs.env.update(
        HPO_TEST_STEPS="120", HPO_TEST_STEP_SECONDS="0.05",
        HPO_TEST_STORE_NOTE_SECONDS=str(PACE),
    )  # fmt: skip
    worker = procs.start(
        "hpo_service.worker", "-v", "--db", url, "--worker-id", "w",
        "--max-trials", "1",
    )  # fmt: skip
    err = PipeLines(worker.stderr)
    wait_until(lambda: "trial q/0: heartbeat" in err.text, 120)  # reports written
    stepped = {
        "failCommands": ["update", "findAndModify", "find", "aggregate"],
        "appName": "pace",
        "errorCode": 189,  # PrimarySteppedDown: ridden out by every caller
    }

    def paced() -> list[str]:
        said = [m["msg"] for m in WARNING.finditer(err.text)]
        return [m for m in said if "; waiting: " in m]

    both = {"the heartbeat of trial q/0", "record the reports of trial q/0"}
    with fail_point(fault_server, stepped, "alwaysOn"):
        # the heartbeat and the report writes wait at once, each retried by the
        # store, then by the worker: a warning names them both, once each
        wait_until(lambda: any(both <= set(_waiting(m)) for m in paced()), 120)
    assert worker.wait(timeout=120) == 0  # its trial done, once the store answers
    text = err.finish()
    said = [m["msg"] for m in WARNING.finditer(text)]
    again = [m for m in said if "the store works again" in m]
    assert len(again) == 1, text
    seconds = int(re.search(r"works again, after (\d+) s", again[0]).group(1))
    failing = said[: said.index(again[0])]
    # the first failure, then at most one a pace: not one per activity
    assert 2 <= len(failing) <= 2 + seconds / PACE, text
    assert "waiting" not in failing[0], text  # the first says what failed
    assert all("; waiting: " in m for m in failing[1:]), text
    # each activity under one name, its caller's: the store's retries inside it
    # had a name of their own ("storing a trial's reports; record the reports of
    # trial q/0", one write twice)
    store_names = set(_DOING.values())
    for m in failing[1:]:
        names = _waiting(m)
        assert len(set(names)) == len(names), m
        assert not store_names & set(names), m
    # the outage's failed calls, as the end line counts them: not a call's own
    # attempt number ("failed (attempt 1)" 30 s into an outage)
    assert not any("(attempt" in m for m in said), text
    counts = [int(re.search(r" and (\d+) calls; waiting", m)[1]) for m in failing[1:]]
    assert counts == sorted(counts), text
    assert counts[-1] <= int(re.search(r"and (\d+) failed calls", again[0])[1])
    with open_store(url) as store:
        trial = store.get_trial("q", 0)
    assert (trial.state, trial.attempts) == (TrialState.DONE, 1), trial
