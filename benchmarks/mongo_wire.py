"""MongoDB backend over TCP (the MongoDB-wire server ``secantusd-py``) beside SQLite.

    python -m benchmarks.mongo_wire                       # starts its own server
    python -m benchmarks.mongo_wire --url mongodb://127.0.0.1:27017/   # another one

Three parts, each with 1 and 4 workers where it applies:

1. claim + complete (trivial objective, no driver), ``--trials`` queued trials drained
   by worker processes: trials/s from the store's own timestamps;
2. a whole study, ``hpo-driver start --workers K`` with TPE: trials/s;
3. round trips: the commands pymongo sends for each store call (counted by a command
   listener), and the commands per trial the server saw during the studies of part 2
   (its ``serverStatus`` opcounters, so every process and every monitor check is in).

``--parts queued`` (not in the default): the read of a worker that cancels a spent
study's ``--queued`` queued trials, whole (``get_trials``) beside tids only
(``get_tids``), both stores: seconds and the largest reply.

The wire server is written in Python: its speed is not MongoDB's. The point is the
store's own cost per trial on a real network protocol: its round trips.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bson
import pymongo
from pymongo import monitoring

from benchmarks.e2e_throughput import rates, run_study
from benchmarks.store_throughput import fill, measure, run_processes
from hpo_service.store import NewTrial, TrialState, open_store
from tests.helpers.mongo_wire import WireServer, with_database


@contextlib.contextmanager
def server(url: str | None, *, test_commands: bool = False) -> Iterator[str]:
    """``url``, or else a MongoDB-wire server started in a temporary directory
    (with its test commands, e.g. fail points, if ``test_commands``)."""
    if url:
        yield url
        return
    with (
        tempfile.TemporaryDirectory() as directory,
        WireServer.start(Path(directory), test_commands=test_commands) as started,
    ):
        yield started.url


@contextlib.contextmanager
def fresh_database(url: str) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        yield with_database(url, name)
    finally:
        with pymongo.MongoClient(url) as client:
            client.drop_database(name)


def claim_complete(db: str, trials: int, processes: int) -> float:
    with open_store(db) as store:
        fill(store, trials)
        return measure(store, trials, run_processes(db, processes))["rate"]


def opcounters(url: str) -> int:
    with pymongo.MongoClient(url) as client:
        counts = client.admin.command("serverStatus")["opcounters"]
    return sum(int(v) for v in counts.values())


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


class Replies(monitoring.CommandListener):
    """The largest reply (bytes of BSON) received since ``size`` was reset."""

    def __init__(self) -> None:
        self.size = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: Any) -> None:
        self.size = max(self.size, len(bson.encode(event.reply)))

    def failed(self, event: Any) -> None:
        pass


def round_trips(url: str) -> list[tuple[str, list[str]]]:
    """The commands of each store call, in a study of 10 queued trials."""
    commands = Commands()
    rows: list[tuple[str, list[str]]] = []

    def record(what: str, call: Any) -> Any:
        commands.names.clear()
        value = call()
        rows.append((what, list(commands.names)))
        return value

    with fresh_database(url) as db, open_store(db, event_listeners=[commands]) as s:
        s.create_study("rt", {})
        batch = [NewTrial({"i": i}, {"i": i}) for i in range(10)]
        record("insert_trials (batch of 10)", lambda: s.insert_trials("rt", batch))
        trial = record("claim", lambda: s.claim("w", 60.0, study="rt"))
        record("heartbeat", lambda: s.heartbeat("rt", trial.tid, trial.token, 60.0))
        record(
            "complete",
            lambda: s.complete("rt", trial.tid, trial.token, {"loss": 0.0}),
        )
        record("changes_since (11 pending writes)", lambda: s.changes_since("rt"))
        record("changes_since (nothing new)", lambda: s.changes_since("rt", 10**9))
        record("summarise (status)", lambda: s.summarise("rt"))
        record("best_trial (best)", lambda: s.best_trial("rt"))
        record("done_results (a Pareto front)", lambda: s.done_results("rt"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--study-trials", type=int, default=500)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["claim", "study", "trips"],
        choices=["claim", "study", "trips", "queued"],
    )
    parser.add_argument(
        "--queued", type=int, default=5000, help="queued trials for --parts queued"
    )
    args = parser.parse_args()
    with server(args.url) as url, tempfile.TemporaryDirectory() as tmp:
        if "claim" in args.parts:
            bench_claims(url, tmp, args.trials, args.workers)
        if "study" in args.parts:
            bench_studies(url, tmp, args.study_trials, args.workers)
        if "queued" in args.parts:
            bench_queued_read(url, tmp, args.queued)
        if "trips" in args.parts:
            print("round trips per store call (commands pymongo sent)")
            for what, names in round_trips(url):
                print(f"  {what:<36} {len(names)}: {', '.join(names)}")


def bench_claims(url: str, tmp: str, trials: int, workers: list[int]) -> None:
    print("claim + complete, trials/s (no driver)")
    for k in workers:
        sqlite = claim_complete(f"sqlite:///{tmp}/cc-{k}.sqlite", trials, k)
        with fresh_database(url) as db:
            wire = claim_complete(db, trials, k)
        print(f"  {k} workers: sqlite {sqlite:8.0f}   mongodb-wire {wire:8.1f}")


def bench_queued_read(url: str, tmp: str, queued: int, width: int = 100) -> None:
    """The read of a worker that finds a study's budget spent and cancels its queued
    trials: every queued trial whole (``get_trials``, before) or their tids only
    (``get_tids``): median seconds of 5 and, on MongoDB, the largest reply."""
    print(f"budget-cancel read of {queued} queued trials ({width} params each)")
    params = {f"layer_{i:03d}_lr": i / 7 for i in range(width)}
    batch = [NewTrial(params, dict(params))] * 500
    replies = Replies()
    with fresh_database(url) as db:
        for name, where in ((f"sqlite:///{tmp}/queued.sqlite", {}), (db, replies)):
            listeners = {"event_listeners": [where]} if where else {}
            with open_store(name, **listeners) as store:
                store.create_study("q", {})
                for _ in range(0, queued, len(batch)):
                    store.insert_trials("q", batch)
                for what, call in (
                    (
                        "get_trials (whole)",
                        lambda: store.get_trials("q", [TrialState.NEW]),
                    ),
                    (
                        "get_tids (tids only)",
                        lambda: store.get_tids("q", [TrialState.NEW]),
                    ),
                ):
                    seconds, largest = _timed(call, replies)
                    kind = "mongodb-wire" if where else "sqlite"
                    shown = f", largest reply {largest / 1e3:,.0f} kB" if where else ""
                    print(f"  {kind:<13} {what:<22} {seconds:7.3f} s{shown}")


def _timed(call: Any, replies: Replies) -> tuple[float, int]:
    times = []
    for _ in range(5):
        replies.size = 0
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times), replies.size


def bench_studies(url: str, tmp: str, trials: int, workers: list[int]) -> None:
    print("whole study (hpo-driver start --workers K, TPE), trials/s")
    for k in workers:
        sqlite_db = f"sqlite:///{tmp}/study-{k}.sqlite"
        run_study(sqlite_db, trials, k, "tpe")
        with fresh_database(url) as db:
            before = opcounters(url)
            run_study(db, trials, k, "tpe")
            per_trial = (opcounters(url) - before) / trials
            wire = rates(db)["trials_per_s"]
        sqlite = rates(sqlite_db)["trials_per_s"]
        print(
            f"  {k} workers: sqlite {sqlite:8.0f}   mongodb-wire {wire:8.1f}"
            f"   (server commands per trial, all processes: {per_trial:.2f})"
        )


if __name__ == "__main__":
    main()
