"""How long a store call stalls after MongoDB answers "not primary", and how many
``hello`` checks the client's server monitor sends meanwhile and while idle.

    python -m benchmarks.not_primary_stall                 # starts its own server
    python -m benchmarks.not_primary_stall --url mongodb://127.0.0.1:27017/

For each pymongo ``serverMonitoringMode`` (``stream``, ``poll``) and the store's
default (no option given), ``--repeats`` times: a claim whose first ``--times``
``findAndModify`` commands answer NotWritablePrimary (10107, labelled
RetryableWriteError) through the ``failCommand`` fail point (the wire server runs
with test commands). Printed: the claim's seconds (median, min, max), and the
monitor's ``hello`` checks per minute while the store sits idle for ``--idle``
seconds (a ``ServerHeartbeatListener``; the RTT monitor's pings of streaming mode
are not heartbeats and not counted).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any

import pymongo
from pymongo import monitoring

from benchmarks.mongo_wire import server
from hpo_service.store import NewTrial, open_store
from tests.helpers.mongo_wire import fail_point

APP = "hpo-stall-bench"
NOT_PRIMARY = {"errorCode": 10107, "errorLabels": ["RetryableWriteError"]}


class _Beats(monitoring.ServerHeartbeatListener):
    """Counts the monitor's ``hello`` checks."""

    def __init__(self) -> None:
        """No check counted yet."""
        self.count = 0

    def started(self, event: Any) -> None:
        """Count one check as it starts."""
        self.count += 1

    def succeeded(self, event: Any) -> None:
        """Nothing: a check is counted when it starts."""
        pass

    def failed(self, event: Any) -> None:
        """Nothing: a check is counted when it starts."""
        pass


def _one(url: str, mode: str | None, times: int, idle: float) -> tuple[float, float]:
    """One store: the stalled claim's seconds, and idle checks per minute."""
    beats = _Beats()
    options: dict[str, Any] = {"appname": APP, "event_listeners": [beats]}
    if mode is not None:
        options["serverMonitoringMode"] = mode
    database = f"bench_stall_{uuid.uuid4().hex[:8]}"
    with open_store(url, database=database, **options) as store:
        store.create_study("s", {})
        store.insert_trials("s", [NewTrial({}, {})])
        data = {"failCommands": ["findAndModify"], "appName": APP, **NOT_PRIMARY}
        with fail_point(url, data, {"times": times}):
            started = time.monotonic()
            assert store.claim("bench", 60.0, study="s") is not None
            stall = time.monotonic() - started
        before = beats.count
        time.sleep(idle)
        per_minute = (beats.count - before) * 60.0 / idle
    with pymongo.MongoClient(url) as client:
        client.drop_database(database)
    return stall, per_minute


def main() -> None:
    """For each server monitoring mode (stream, poll, pymongo's default), time
    a claim stalled by ``--times`` not-primary answers and count the idle
    ``hello`` checks per minute (``--repeats`` stores); print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a wire server with test commands")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--times", type=int, default=1, help="failing answers")
    parser.add_argument("--idle", type=float, default=20.0, help="idle seconds")
    args = parser.parse_args()
    with server(args.url, test_commands=True) as url:
        for mode in ("stream", "poll", None):
            runs = [_one(url, mode, args.times, args.idle) for _ in range(args.repeats)]
            stalls = [s for s, _ in runs]
            checks = statistics.median(c for _, c in runs)
            middle = statistics.median(stalls)
            print(
                f"{mode or 'default':8s} stall median {middle:6.2f} s"
                f" (min {min(stalls):.2f}, max {max(stalls):.2f}, n={len(stalls)});"
                f" idle hello checks {checks:.1f}/min",
                flush=True,
            )


if __name__ == "__main__":
    main()
