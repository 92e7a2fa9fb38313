"""A worker's ``--idle-timeout`` counts only time it could ask the store for a
trial: an outage longer than it does not stop the worker (a real ``hpo-worker``
against the MongoDB-wire server, its claims failing at a fail point).

Before, the clock ran on while every claim failed: a worker with ``--idle-timeout
1`` (``hpo-driver start --workers K`` gives its local workers 60 s) ended "worker
stopped: no trial to claim for 1 s (--idle-timeout)" within the outage, with a
trial queued, against README's "a running driver or worker outlives a longer
outage"; the driver's own "no worker has taken one" clock had the same fault
(f3204733).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import pymongo
import pytest

from hpo_service.store import TrialState, open_store
from tests.helpers.mongo_wire import app_url, fail_point, fail_points_enabled
from tests.helpers.pipes import PipeLines

from .conftest import OBJ, REPO, make_study, wait_until

#: A paced outage line, with the outage's length in whole seconds.
_FAILING_FOR = re.compile(r"the store has failed for (\d+) s")
#: The pause a failed claim or housekeeping says the worker waits, in seconds.
_RETRY_IN = re.compile(
    r"worker: cannot (?:claim trials|requeue dead workers' trials), retrying in (\S+) s"
)


def _failing_for(text: str) -> int:
    """The longest outage a paced line of ``text`` reports, in seconds (0: none)."""
    return max((int(s) for s in _FAILING_FOR.findall(text)), default=0)


def test_an_outage_longer_than_the_idle_timeout_does_not_stop_the_worker(mongo_url):
    if not fail_points_enabled(mongo_url):
        pytest.skip("the MongoDB server runs without test commands (fail points)")
    app = f"hpo-idle-{uuid.uuid4().hex[:8]}"
    url = app_url(mongo_url, "hpo_idle", app)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HPO_TEST_STORE_NOTE_SECONDS": "0.2"}
    env.pop("HPO_DB", None)
    every_call_fails = {
        "failCommands": ["findAndModify", "find", "update", "aggregate", "insert",
                         "delete", "getMore", "count"],
        "appName": app,  # the worker's calls only
        "errorCode": 14031,  # OutOfDiskSpace: ridden out
    }  # fmt: skip
    try:
        with open_store(url) as store:
            make_study(store, "s", f"{OBJ}:quadratic", [{"x": 2.0}])
            with fail_point(mongo_url, every_call_fails, "alwaysOn"):
                worker = subprocess.Popen(
                    [sys.executable, "-m", "hpo_service.worker", "--db", url,
                     "--study", "s", "--idle-timeout", "1"],
                    cwd=REPO, env=env, stderr=subprocess.PIPE, text=True,
                )  # fmt: skip
                err = PipeLines(worker.stderr)
                try:  # the outage outlasts the idle timeout threefold
                    wait_until(
                        lambda: (
                            _failing_for(err.text) >= 3 or worker.poll() is not None
                        ),
                        120,
                    )
                    assert worker.poll() is None, err.finish()
                except BaseException:
                    worker.kill()
                    worker.wait()
                    raise
            code = worker.wait(timeout=120)  # the store works again: it runs the trial
            text = err.finish()
            trial = store.get_trial("s", 0)
    finally:
        with pymongo.MongoClient(mongo_url) as client:
            client.drop_database(url.rsplit("/", 1)[1].split("?")[0])
    assert code == 0, text
    assert trial.state == TrialState.DONE, text
    assert "the store works again" in text, text
    # it stopped after running the trial (its study finished, or 1 s idle after it
    # on a loaded machine), not within the outage
    assert text.index("trial s/0 ok") < text.index("worker stopped: "), text
    # each failed claim or housekeeping says the pause the worker waits: its poll
    # pace cut to the idle timeout, which the outage does not use up (before: "next
    # in 0.5 s", then 1, 2, 4 ... 30 s, while it polled every second at most)
    delays = [float(s) for s in _RETRY_IN.findall(text)]
    assert delays and all(0 < d <= 1.0 for d in delays), text
